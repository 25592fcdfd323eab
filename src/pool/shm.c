/* SPDX-License-Identifier: MIT */
/*
 * shm.c - sealed memfds and the process's map of their mappings.
 *
 * Pool memory lives in memfds, never in /dev/shm: a memfd has no name, so a
 * crash cannot leave one behind, and its seals stop a consumer from
 * shrinking it under the producer (which would turn the producer's next
 * access into SIGBUS) or from mapping the frame data writable.
 *
 * A process maps each memfd once. When a consumer attaches in the process
 * that runs the producer (threads, tests), it gets the producer's mapping
 * back. That saves address space, and it lets ThreadSanitizer see the
 * producer's writes and the consumer's reads at the same addresses, where
 * two mappings would hide every race from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool/internal.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

int rkv__memfd_create(const char *what, uint64_t size, int more_seals_later)
{
	int seals = F_SEAL_SHRINK | F_SEAL_GROW | (more_seals_later ? 0 : F_SEAL_SEAL);
	int fd;

	if (size == 0 || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	fd = memfd_create(what, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, seals) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int rkv__memfd_seal_readonly(int fd)
{
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		int e = errno;
		fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL);
		return -e;
	}
	return 0;
}

int64_t rkv__fd_size(int fd)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > 0)
		return st.st_size;
	/* DMA-BUFs report their size through lseek (older kernels leave
	 * st_size at 0). */
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	lseek(fd, 0, SEEK_SET);
	return end;
}

int rkv__map_plain(int fd, uint64_t size, int writable, void **out)
{
	void *base;

	if (size == 0 || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	/* 32-bit: mmap's length is a size_t, and a larger size would be
	 * truncated into a mapping shorter than what the caller then uses */
	if (size > SIZE_MAX)
		return -ENOMEM;
	base = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	*out = base;
	return 0;
}

int rkv__reopen_readonly(int fd)
{
	char path[64];
	int ro;

	/* A new open file description of the same memfd, read-only: mmap()
	 * with PROT_WRITE and MAP_SHARED fails on it with EACCES. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro >= 0)
		return ro;
	/* No /proc: the seal (if the kernel has it) must do alone. */
	ro = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return ro >= 0 ? ro : -errno;
}

struct mapping {
	struct mapping *next;
	dev_t dev;
	ino_t ino;
	void *base;
	uint64_t size;
	int writable;
	uint32_t fork_gen;       /* rkv__fork_gen when mapped: inherited if it differs */
	unsigned refs;
};

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *maps;

/*
 * fork(): a thread of the parent may hold maps_lock at the moment of the
 * fork (the producer's service thread maps and unmaps chans); the child
 * would find it locked forever. The handlers hold it across the fork.
 * Mappings the child inherits stay listed (their users free them), but a
 * new request in the child never shares one: a consumer attaching in a
 * child of its producer gets a read-only mapping of its own.
 */
uint32_t rkv__fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void maps_prepare(void) { pthread_mutex_lock(&maps_lock); }
static void maps_parent(void) { pthread_mutex_unlock(&maps_lock); }
static void maps_child(void)
{
	/* In the child, before it has other threads: a single value, read alone and relaxed
	 * by the handles (forked()). */
	__atomic_store_n(&rkv__fork_gen, rkv__fork_gen + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&maps_lock);
}

static void fork_register(void)
{
	pthread_atfork(maps_prepare, maps_parent, maps_child);
}

void rkv__fork_init(void)
{
	pthread_once(&fork_once, fork_register);
}

int rkv__map(int fd, uint64_t size, int writable, void **out)
{
	struct stat st;
	struct mapping *m;
	void *base;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (size == 0 || (uint64_t)st.st_size != size)
		return -EPROTO;
	if (size > SIZE_MAX) /* as in rkv__map_plain */
		return -ENOMEM;

	rkv__fork_init();
	pthread_mutex_lock(&maps_lock);
	for (m = maps; m; m = m->next) {
		if (m->dev == st.st_dev && m->ino == st.st_ino && m->size == size &&
		    m->fork_gen == rkv__fork_gen && (m->writable || !writable)) {
			m->refs++;
			*out = m->base;
			goto out;
		}
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	base = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		r = -errno;
		free(m);
		goto out;
	}
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->base = base;
	m->size = size;
	m->writable = writable;
	m->fork_gen = rkv__fork_gen;
	m->refs = 1;
	m->next = maps;
	maps = m;
	*out = base;
out:
	pthread_mutex_unlock(&maps_lock);
	return r;
}

void rkv__unmap(void *base, uint64_t size)
{
	struct mapping **pp, *m;

	if (!base)
		return;
	pthread_mutex_lock(&maps_lock);
	for (pp = &maps; (m = *pp); pp = &m->next) {
		if (m->base == base) {
			if (--m->refs == 0) {
				*pp = m->next;
				munmap(m->base, m->size);
				free(m);
			}
			pthread_mutex_unlock(&maps_lock);
			return;
		}
	}
	pthread_mutex_unlock(&maps_lock);
	munmap(base, size);
}

int rkv__dmabuf_sync(int fd, int start, int write)
{
	struct dma_buf_sync sync = {
		.flags = (start ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END) |
			 (write ? DMA_BUF_SYNC_WRITE : DMA_BUF_SYNC_READ),
	};
	int r;

	do
		r = ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r < 0 ? -errno : 0;
}
