/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the pool's source files share with each other and with
 * the tests and fuzz targets (rkv__ symbols are not part of the public API).
 */
#ifndef RKV_POOL_INTERNAL_H
#define RKV_POOL_INTERNAL_H

#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
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
/* The consumer-sleep handshake's two fences (docs/pool.md, M6). A build for
 * the litmus test only (-Dlitmus=no_wake_fence, tests/litmus.c) makes them
 * compiler barriers, to show that the test catches the wake-ups lost then. */
#ifdef RKV_LITMUS_NO_WAKE_FENCE
#define WAKE_FENCE()    __atomic_signal_fence(__ATOMIC_SEQ_CST)
#else
#define WAKE_FENCE()    FENCE()
#endif

/* Copy @n bytes of shared memory that another process may write meanwhile
 * (a table entry being reused, a hostile peer's descriptor): every byte is
 * read once, by relaxed atomic loads of 32-bit words where @src and @n allow
 * (plain loads on every target, no lock), so that there is no data race and
 * the caller checks the copy, never the original. */
static inline void rkv__load_bytes(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (((uintptr_t)s & 3) == 0 && (n & 3) == 0) {
		for (size_t i = 0; i < n; i += 4) {
			uint32_t w = __atomic_load_n((const uint32_t *)(const void *)(s + i),
						     __ATOMIC_RELAXED);
			memcpy(d + i, &w, 4);
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		d[i] = __atomic_load_n(s + i, __ATOMIC_RELAXED);
}

/* Write @n bytes (from @src, or zeros if @src is NULL) to shared memory that
 * another process may read meanwhile, the counterpart of rkv__load_bytes:
 * relaxed atomic stores of 32-bit words where @dst and @n allow. */
static inline void rkv__store_bytes(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (((uintptr_t)d & 3) == 0 && (n & 3) == 0) {
		for (size_t i = 0; i < n; i += 4) {
			uint32_t w = 0;
			if (s)
				memcpy(&w, s + i, 4);
			__atomic_store_n((uint32_t *)(void *)(d + i), w, __ATOMIC_RELAXED);
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(d + i, s ? s[i] : 0, __ATOMIC_RELAXED);
}

/* Shared memory holds 64-bit counters and positions that both sides access
 * atomically; where that would take a lock (some 32-bit targets), a process
 * dying inside it would wedge the other. ARMv7 has LDREXD/STREXD. */
static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "64-bit atomics must be lock-free");

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

/* Wake whoever sleeps on eventfd @fd (one private to this process); errors
 * are ignored on purpose: a full counter already means "wake up". */
void rkv__efd_signal(int fd);

/* Empty eventfd @fd's counter without blocking. */
void rkv__efd_drain(int fd);

/* Wake the peer on wake socket @fd: one byte, never blocking whatever the
 * peer did to its end (a full buffer already means "wake up", a closed peer
 * no longer cares). */
void rkv__wake_send(int fd);

/* Wake the consumer on the write end @fd of its wake pipe: one byte, never
 * blocking (the write end is ours alone, O_NONBLOCK; a full pipe already
 * means "wake up"). The producer keeps a read end open, so this never
 * raises SIGPIPE. A pipe wakes faster than a socket (no buffer to allocate
 * per byte): this is on every frame's way to a sleeping consumer. */
void rkv__wake_pipe(int fd);

/* Read every pending wake byte from @fd, without blocking. */
void rkv__wake_drain(int fd);

/* epoll_wait until @deadline (CLOCK_MONOTONIC ns; INT64_MAX: forever; a
 * deadline already past: do not wait). Nanosecond timeouts through
 * epoll_pwait2 where the kernel has it (5.11), else milliseconds rounded
 * up. Returns the event count, or -EINTR, or another -errno. */
int rkv__epoll_wait(int ep, void *events, int max, int64_t deadline);

/* now + @timeout_ns, saturating: RKV_WAIT_FOREVER and anything that would
 * overflow give INT64_MAX (forever). */
int64_t rkv__deadline(int64_t timeout_ns);

/* ---- fork ------------------------------------------------------------------
 *
 * Bumped in every child made with fork(): a handle that remembers another
 * value was made by an ancestor and is inert in this process. Reading it is
 * one load, cheaper than getpid() (a syscall since glibc 2.25).
 */
extern uint32_t rkv__fork_gen;

/* Register the library's fork handlers (once per process). */
void rkv__fork_init(void);

/* ---- shm.c: memfds and a per-process map of mappings ------------------- */

/* Create a memfd of @size bytes, sealed against shrinking and growing, and
 * unless @more_seals_later also against further sealing (F_SEAL_SEAL), so
 * a peer cannot add a seal that makes the next process's mapping fail.
 * Returns the fd or -errno. */
int rkv__memfd_create(const char *what, uint64_t size, int more_seals_later);

/* Seal @fd against new writable mappings (its existing ones keep working)
 * and against further sealing. -EINVAL where the kernel lacks
 * F_SEAL_FUTURE_WRITE (before 5.1): then only F_SEAL_SEAL is added. */
int rkv__memfd_seal_readonly(int fd);

/* The size of @fd (a memfd, a DMA-BUF: whatever lseek(SEEK_END) says), or
 * -errno. */
int64_t rkv__fd_size(int fd);

/* Map @size bytes of @fd from offset 0, not shared with any other mapping
 * (external slots). Returns 0 and *@out, or -errno. */
int rkv__map_plain(int fd, uint64_t size, int writable, void **out);

/* A read-only descriptor of the same file, for other processes; or -errno. */
int rkv__reopen_readonly(int fd);

/*
 * Map @fd (@size bytes; must equal its st_size) shared, read-write or
 * read-only. A process maps one memfd once: a second map of the same file
 * in the same process (e.g. a consumer thread beside its producer) returns
 * the first mapping and counts a reference, so thread-sanitizer builds see
 * both sides of every access. A read-only request never gets a writable
 * mapping inherited from a parent process. Returns 0 and *@out, or -errno.
 */
int rkv__map(int fd, uint64_t size, int writable, void **out);
void rkv__unmap(void *base, uint64_t size);

/* DMA_BUF_IOCTL_SYNC start or end of a CPU read or write of @fd: 0, or
 * -errno (-ENOTTY: @fd is not a DMA-BUF and needs no sync). */
int rkv__dmabuf_sync(int fd, int start, int write);

/* ---- sock.c: the attach socket -------------------------------------------- */

/* The abstract socket address of pool @name; returns its length or -EINVAL. */
int rkv__sock_addr(const char *name, struct sockaddr_un *sun, uint32_t *len);

/* Is @name a valid pool name? 0 or -EINVAL. */
int rkv__name_check(const char *name);

/* Send one message with up to @nfds (at most RKV_SLOTFDS_MAX) fds; 0 or
 * -errno. @flags are added to MSG_NOSIGNAL (e.g. MSG_DONTWAIT). */
int rkv__send_msg(int sock, const void *buf, size_t len, const int *fds, int nfds, int flags);

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
 * and its fds (*@nfds of them into @fds, owned by the caller), waiting up to
 * @timeout_ns for the answer. Returns the socket, or -errno with @why set. */
int rkv__pool_connect(const char *name, const struct rkv_wire_hello *hello, int any_owner,
		      int64_t timeout_ns, struct rkv_wire_welcome *w, int *fds, int *nfds,
		      char *why, size_t why_len);

/* Copy the pool counters out of pool header @hdr. */
void rkv__pool_stats_read(const struct rkv_wire_pool *hdr, struct rkv_pool_stats *st);

/* Copy @src (@len bytes) into the caller's struct @dst of @size bytes: what
 * fits, the rest zeroed. -EINVAL when @size is below @min. */
int rkv__copy_out(void *dst, size_t size, const void *src, size_t len, size_t min);

/* Read a caller's versioned input struct: @in begins with a uint32_t size
 * (0 = @known). Copies it into @out (@known bytes; what the caller did not
 * pass stays zero). -EINVAL for a size below @min, -E2BIG for unknown
 * non-zero bytes past @known. */
int rkv__copy_in(void *out, size_t known, const void *in, size_t min);

/* ---- validation of what another process wrote ----------------------------- */

/* Check a pool area mapped at @base, @size bytes long (the memfd's size).
 * 0, or -EPROTO with the reason in @why. */
int rkv__pool_check(const struct rkv_wire_pool *pool, uint64_t size, char *why, size_t why_len);

/* Check a chan area; @id is the consumer id the welcome named. */
int rkv__chan_check(const struct rkv_wire_chan *chan, uint64_t size, uint32_t id,
		    uint32_t slot_count, char *why, size_t why_len);

/* Check a group area; @ring is the cell count the welcome named. */
int rkv__group_check(const struct rkv_wire_group *g, uint64_t size, uint32_t ring,
		     char *why, size_t why_len);

/*
 * The second half of rkv_consumer_attach(): given the connected socket and the
 * producer's welcome with its fds, check everything and build the consumer.
 * Takes ownership of @sock and of the @nfds fds in @fds (closes them on
 * failure). Fuzz targets call it with made-up welcomes and memfds.
 */
int rkv__consumer_adopt(int sock, const struct rkv_wire_welcome *w, size_t wlen,
			int *fds, int nfds, const struct rkv_consumer_opts *opts,
			rkv_consumer **out);

/* rkv__consumer_adopt() with the external slot fds that followed the
 * welcome (@n_ext of them, taken over: closed on failure). */
int rkv__consumer_adopt_ext(int sock, const struct rkv_wire_welcome *w, size_t wlen,
			    int *fds, int nfds, int *ext_fds, uint32_t n_ext,
			    const struct rkv_consumer_opts *opts, rkv_consumer **out);

/* Receive @n external slot fds after a welcome (rkv_wire_slotfds messages)
 * into @fds (closed on failure). 0 or -errno. */
int rkv__recv_slot_fds(int sock, uint32_t n, int *fds, int64_t deadline);

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
