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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool/internal.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

int rkv__memfd_create(const char *what, uint64_t size)
{
	int fd;

	if (size == 0 || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	fd = memfd_create(what, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int rkv__memfd_seal_readonly(int fd)
{
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		return -errno;
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
	unsigned refs;
};

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *maps;

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

	pthread_mutex_lock(&maps_lock);
	for (m = maps; m; m = m->next) {
		if (m->dev == st.st_dev && m->ino == st.st_ino && m->size == size &&
		    (m->writable || !writable)) {
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
