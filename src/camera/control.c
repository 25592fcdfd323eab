/* SPDX-License-Identifier: MIT */
/*
 * control.c - the client side of a camera's control channel: one request,
 * one answer (rkv/control.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rkv/control.h>
#include <rkv/pool.h>

#include "camera/camera_private.h"

int rkv__control_addr(const char *camera, struct sockaddr_un *sun, socklen_t *len)
{
	size_t n;

	if (!camera)
		return -EINVAL;
	n = strnlen(camera, RKV_NAME_MAX + 1);
	if (n == 0 || n > RKV_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char ch = camera[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return -EINVAL;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	int k = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "%s%s", RKV_CONTROL_PREFIX, camera);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)k);
	return 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

ssize_t rkv_control_call(const char *camera, const char *request, char *reply,
			 size_t reply_len, int64_t timeout_ns)
{
	struct sockaddr_un sun;
	socklen_t len;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	size_t rlen;
	int64_t deadline;
	ssize_t n;
	int fd, r;

	if (!request || !reply || reply_len == 0 || rkv__control_addr(camera, &sun, &len))
		return -EINVAL;
	rlen = strlen(request);
	if (rlen == 0 || rlen > RKV_CONTROL_REQUEST_MAX)
		return -EMSGSIZE;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, len) < 0) {
		r = errno == ECONNREFUSED || errno == ENOENT ? -ENOENT : -errno;
		close(fd);
		return r;
	}
	/* Believe only a camera of our own user (or root). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 ||
	    (cr.uid != geteuid() && cr.uid != 0)) {
		close(fd);
		return -EACCES;
	}
	if (send(fd, request, rlen, MSG_NOSIGNAL) != (ssize_t)rlen) {
		r = -errno;
		close(fd);
		return r == -EPIPE || r == -ECONNRESET ? -EPROTO : r;
	}
	deadline = timeout_ns < 0 ? INT64_MAX : mono_ns() + timeout_ns;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline == INT64_MAX ? -1 : (deadline - mono_ns()) / 1000000;
		if (deadline != INT64_MAX && left < 0)
			left = 0;
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (r == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		break;
	}
	/* The answer is one message; MSG_TRUNC says how long it really was,
	 * so an answer longer than @reply is refused, not cut. */
	n = recv(fd, reply, reply_len - 1, MSG_TRUNC);
	r = errno;
	close(fd);
	if (n <= 0)
		return n == 0 ? -EPROTO : -r;
	if ((size_t)n >= reply_len)
		return -EMSGSIZE;
	reply[n] = '\0';
	return n;
}
