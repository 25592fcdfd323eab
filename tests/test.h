/* SPDX-License-Identifier: MIT */
/*
 * test.h - tiny typed asserts for test programs.
 *
 * Each test is its own program: it exits 0 when everything held, 1 at the
 * first failed check (after printing both values and where), and 77 when
 * what it needs is not available here. A watchdog alarm ends a hung test.
 */
#ifndef RKV_TEST_H
#define RKV_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_SKIP 77

#define FAIL(...)                                                          \
	do {                                                               \
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);      \
		fprintf(stderr, __VA_ARGS__);                              \
		fputc('\n', stderr);                                       \
		fflush(stderr);                                            \
		_exit(1);                                                  \
	} while (0)

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond))                                               \
			FAIL("%s", #cond);                                 \
	} while (0)

#define CHECK_OP_(a, op, b, T, fmt)                                        \
	do {                                                               \
		T a_ = (T)(a), b_ = (T)(b);                                \
		if (!(a_ op b_))                                           \
			FAIL("%s %s %s: " fmt " vs " fmt, #a, #op, #b, a_, b_); \
	} while (0)

#define CHECK_INT(a, op, b)  CHECK_OP_(a, op, b, int64_t, "%" PRId64)
#define CHECK_UINT(a, op, b) CHECK_OP_(a, op, b, uint64_t, "%" PRIu64)
#define CHECK_EQ(a, b)       CHECK_INT(a, ==, b)

/* A call returning 0 or -errno: fail with the error's name if it is not 0. */
#define CHECK_OK(call)                                                     \
	do {                                                               \
		int64_t r_ = (int64_t)(call);                              \
		if (r_ < 0)                                                \
			FAIL("%s = %" PRId64 " (%s)", #call, r_, strerror((int)-r_)); \
	} while (0)

/* A call that must fail with -err. */
#define CHECK_ERR(call, err)                                               \
	do {                                                               \
		int64_t r_ = (int64_t)(call);                              \
		if (r_ != -(int64_t)(err))                                 \
			FAIL("%s = %" PRId64 " (%s), expected -%s", #call, r_, \
			     r_ < 0 ? strerror((int)-r_) : "success", #err); \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		if (strcmp(a_, b_) != 0)                                   \
			FAIL("%s == %s: \"%s\" vs \"%s\"", #a, #b, a_, b_); \
	} while (0)

static inline int64_t test_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* RKV_TEST_SCALE (default 1) shrinks or grows stress sizes; never below 1. */
static inline uint64_t test_scaled(uint64_t n)
{
	const char *s = getenv("RKV_TEST_SCALE");
	double k = s ? strtod(s, NULL) : 1.0;
	if (!(k > 0))
		k = 1.0;
	double v = (double)n * k;
	return v < 1 ? 1 : (uint64_t)v;
}

/* A unique pool name per test run, so parallel tests never collide. */
static inline const char *test_pool_name(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "t.%s.%d.%" PRId64, what, (int)getpid(), test_now_ns() % 1000000);
	return buf;
}

static void test_watchdog_fire_(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: watchdog: test hung\n";
	if (write(2, msg, sizeof msg - 1) < 0) {
	}
	_exit(1);
}

/* End the process with a failure if it is still running after @seconds. */
static inline void test_watchdog(unsigned seconds)
{
	signal(SIGALRM, test_watchdog_fire_);
	alarm(seconds);
}

/* Wait for child @pid (@what names it in a failure) and return its status
 * as waitpid() gives it. */
static inline int test_reap(pid_t pid, const char *what)
{
	int status;
	pid_t r;
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid)
		FAIL("waitpid(%s): %s", what, strerror(errno));
	return status;
}

#endif /* RKV_TEST_H */
