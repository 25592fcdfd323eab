/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the pool's source files share with each other and with
 * the tests and fuzz targets (rkv__ symbols are not part of the public API).
 */
#ifndef RKV_POOL_INTERNAL_H
#define RKV_POOL_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include <rkv/pool.h>

#include "pool/wire.h"

/* ---- atomics on shared memory --------------------------------------------- */

#define LOAD_ACQ(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RLX(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#if defined(__SANITIZE_THREAD__)
/* GCC's ThreadSanitizer cannot instrument fences. A sequentially consistent
 * read-modify-write is a full barrier on x86, where the sanitizer builds
 * run, and TSan understands it. */
static inline void rkv__tsan_fence(void)
{
	static _Thread_local uint64_t x;
	__atomic_fetch_add(&x, 0, __ATOMIC_SEQ_CST);
}
#define FENCE()         rkv__tsan_fence()
#else
#define FENCE()         __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

static inline void rkv__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline uint32_t rkv__pow2_at_least(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

/* Wake whoever sleeps on eventfd @fd; errors are ignored on purpose: a full
 * counter already means "wake up", a closed peer no longer cares. */
void rkv__efd_signal(int fd);

/* Empty eventfd @fd's counter without blocking. */
void rkv__efd_drain(int fd);

/* ---- shm.c: memfds and a per-process map of mappings ------------------- */

/* Create a memfd of @size bytes, sealed against shrinking and growing.
 * Returns the fd or -errno. */
int rkv__memfd_create(const char *what, uint64_t size);

/* Seal @fd against new writable mappings (its existing ones keep working).
 * -EINVAL where the kernel lacks F_SEAL_FUTURE_WRITE (before 5.1). */
int rkv__memfd_seal_readonly(int fd);

/* A read-only descriptor of the same file, for other processes; or -errno. */
int rkv__reopen_readonly(int fd);

/*
 * Map @fd (@size bytes; must equal its st_size) shared, read-write or
 * read-only. A process maps one memfd once: a second map of the same file
 * (in the same process, e.g. a consumer thread beside its producer) returns
 * the first mapping and counts a reference, so thread-sanitizer builds see
 * both sides of every access. Returns 0 and *@out, or -errno.
 */
int rkv__map(int fd, uint64_t size, int writable, void **out);
void rkv__unmap(void *base, uint64_t size);

/* ---- sock.c: the attach socket -------------------------------------------- */

/* The abstract socket address of pool @name; returns its length or -EINVAL. */
int rkv__sock_addr(const char *name, struct sockaddr_un *sun, uint32_t *len);

/* Is @name a valid pool name? 0 or -EINVAL. */
int rkv__name_check(const char *name);

/* Send one message with up to @nfds fds; 0 or -errno. */
int rkv__send_msg(int sock, const void *buf, size_t len, const int *fds, int nfds);

/* Receive one message and up to @maxfds fds (*@nfds set; extra fds closed).
 * Returns the byte count or -errno; 0 means the peer closed. */
ssize_t rkv__recv_msg(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);

/* Copy at most @len - 1 bytes and a NUL; tolerates NULL/0 destinations. */
void rkv__set_reason(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int64_t rkv__now_ns(void);

/* A pidfd for process @pid (readable once it has exited), or -errno. The
 * lease is the socket, but a socket outlives its process when a forked child
 * inherited it; a pidfd does not. */
int rkv__pidfd_open(pid_t pid);

/* ---- consumer.c / observer.c --------------------------------------------- */

/* Connect to pool @name, check who answers, send @hello, read the welcome
 * and its fds (*@nfds of them into @fds, owned by the caller). Returns the
 * socket, or -errno with @why set. */
int rkv__pool_connect(const char *name, const struct rkv_wire_hello *hello, int any_owner,
		      struct rkv_wire_welcome *w, int *fds, int *nfds, char *why, size_t why_len);

/* Copy the pool counters out of pool header @hdr. */
void rkv__pool_stats_read(const struct rkv_wire_pool *hdr, struct rkv_pool_stats *st);

/* ---- validation of what another process wrote ----------------------------- */

/* Check a pool area mapped at @base, @size bytes long (the memfd's size).
 * 0, or -EPROTO with the reason in @why. */
int rkv__pool_check(const struct rkv_wire_pool *pool, uint64_t size, char *why, size_t why_len);

/* Check a chan area; @id is the consumer id the welcome named. */
int rkv__chan_check(const struct rkv_wire_chan *chan, uint64_t size, uint32_t id,
		    uint32_t slot_count, char *why, size_t why_len);

/* Check a group area. */
int rkv__group_check(const struct rkv_wire_group *g, uint64_t size, char *why, size_t why_len);

/*
 * The second half of rkv_consumer_attach(): given the connected socket and the
 * producer's welcome with its fds, check everything and build the consumer.
 * Takes ownership of @sock and of the @nfds fds in @fds (closes them on
 * failure). Fuzz targets call it with made-up welcomes and memfds.
 */
int rkv__consumer_adopt(int sock, const struct rkv_wire_welcome *w, size_t wlen,
			int *fds, int nfds, const struct rkv_consumer_opts *opts,
			rkv_consumer **out);

/* ---- hooks for tests: raw shared areas ----------------------------------- */

/* The producer's read-write mapping of its pool area. */
int rkv__producer_pool_area(rkv_producer *p, void **base, uint64_t *size);

/* This consumer's mapping of its chan area (read-write), and of its group
 * area (-ENOENT if it is not in a group). */
int rkv__consumer_chan_area(rkv_consumer *c, void **base, uint64_t *size);
int rkv__consumer_group_area(rkv_consumer *c, void **base, uint64_t *size);

/* Slots the producer's private books say are free (not loaned, queued or
 * held). Used by tests to check that every slot is accounted for. */
int rkv__producer_free_slots(rkv_producer *p);

#endif /* RKV_POOL_INTERNAL_H */
