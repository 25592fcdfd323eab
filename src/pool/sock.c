/* SPDX-License-Identifier: MIT */
/*
 * sock.c - the attach socket: names, messages with file descriptors.
 *
 * A pool's name is an abstract Unix socket address, "\0rkvision/<name>".
 * Abstract addresses vanish with the last socket bound to them, so a crashed
 * producer never leaves a name behind, and a second producer of a live name
 * gets EADDRINUSE from bind() with no race to arbitrate.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pool/internal.h"

#define NAME_PREFIX "rkvision/"

int rkv__name_check(const char *name)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strnlen(name, RKV_NAME_MAX + 1);
	if (n == 0 || n > RKV_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int rkv__sock_addr(const char *name, struct sockaddr_un *sun, uint32_t *len)
{
	int r = rkv__name_check(name);
	int n;

	if (r)
		return r;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* sun_path[0] stays NUL: the abstract namespace. The name is short
	 * enough (rkv__name_check) for the prefix and it to fit. */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, NAME_PREFIX "%s", name);
	*len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	return (int)*len;
}

int rkv__send_msg(int sock, const void *buf, size_t len, const int *fds, int nfds, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * RKV_SLOTFDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds < 0 || nfds > RKV_SLOTFDS_MAX)
		return -EINVAL;
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

ssize_t rkv__recv_msg(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * (RKV_SLOTFDS_MAX + 16))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Take every fd that arrived, keep what fits, close the rest: a peer
	 * must not be able to leak descriptors into us. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		return -EMSGSIZE;
	}
	return n;
}

void rkv__set_reason(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

int64_t rkv__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void rkv__efd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

void rkv__wake_send(int fd)
{
	char b = 1;
	ssize_t n;

	do
		n = send(fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
}

void rkv__wake_pipe(int fd)
{
	char b = 1;
	ssize_t n;

	do
		n = write(fd, &b, 1);
	while (n < 0 && errno == EINTR);
}

void rkv__wake_drain(int fd)
{
	char buf[64];
	ssize_t n;

	/* Bounded: a peer that keeps sending cannot keep us here. The
	 * descriptions read here are O_NONBLOCK and this side's own (the
	 * producer's socket end; the consumer's pipe end, which only the
	 * consumer reads). */
	for (int i = 0; i < 8; i++) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < (ssize_t)sizeof(buf))
			return;
	}
}

int64_t rkv__deadline(int64_t timeout_ns)
{
	int64_t now, d;

	if (timeout_ns < 0)
		return INT64_MAX;
	now = rkv__now_ns();
	if (__builtin_add_overflow(now, timeout_ns, &d))
		return INT64_MAX;
	return d;
}

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

int rkv__epoll_wait(int ep, void *events, int max, int64_t deadline)
{
	/* epoll_pwait2 (ns timeouts) came in Linux 5.11; the RK3588 vendor
	 * kernel is 5.10, and valgrind 3.19 does not know it either. Called
	 * through syscall(): its glibc wrapper needs glibc 2.35, and vendor
	 * images are older. Without it, wait in whole milliseconds, rounded
	 * up so a wait never ends early. */
	static int no_pwait2;
	struct timespec ts, *tsp = NULL;
	int64_t left = 0;
	long n;

	if (deadline != INT64_MAX) {
		left = deadline - rkv__now_ns();
		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	/* A flag set once (ENOSYS) and read alone: relaxed; a thread that misses it tries
	 * epoll_pwait2 once more. */
	if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		n = syscall(SYS_epoll_pwait2, ep, events, max, tsp, NULL, (size_t)8);
		if (n >= 0)
			return (int)n;
		if (errno != ENOSYS)
			return -errno;
		__atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
	}
	{
		int ms = -1;
		if (tsp)
			ms = left > (int64_t)INT32_MAX * 1000000 ? INT32_MAX : (int)((left + 999999) / 1000000);
		n = epoll_wait(ep, events, max, ms);
		return n < 0 ? -errno : (int)n;
	}
}

int rkv__copy_out(void *dst, size_t size, const void *src, size_t len, size_t min)
{
	if (!dst || size < min)
		return -EINVAL;
	if (size <= len) {
		memcpy(dst, src, size);
	} else {
		memcpy(dst, src, len);
		memset((char *)dst + len, 0, size - len);
	}
	return 0;
}

int rkv__copy_in(void *out, size_t known, const void *in, size_t min)
{
	uint32_t size;

	memcpy(&size, in, sizeof(size));
	if (size == 0)
		size = (uint32_t)known;
	if (size < min)
		return -EINVAL;
	memset(out, 0, known);
	if (size <= known) {
		memcpy(out, in, size);
	} else {
		for (size_t i = known; i < size; i++)
			if (((const unsigned char *)in)[i])
				return -E2BIG;
		memcpy(out, in, known);
	}
	return 0;
}

void rkv__efd_drain(int fd)
{
	uint64_t v;
	ssize_t n;

	do
		n = read(fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int rkv__pidfd_open(pid_t pid)
{
	long fd;

	if (pid <= 0)
		return -ESRCH;
	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	/* pidfds are close-on-exec from birth. */
	return (int)fd;
}
