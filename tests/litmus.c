/* SPDX-License-Identifier: MIT */
/*
 * litmus.c - the consumer-sleep handshake loses no wake-up.
 *
 * docs/pool.md, "Memory ordering", M6: a consumer about to sleep stores
 * consumer_waiting = 1, fences, and looks at its ring once more; the
 * producer stores the ring's tail, fences, and loads consumer_waiting. Each
 * side is a store followed by a load of the other's variable, the one
 * reordering even x86 performs (through its store buffer): without both
 * fences each side can miss the other's store, the consumer sleeps on a
 * queued frame and the producer sends no wake-up.
 *
 * A producer (this process) and a block consumer (a forked child) play
 * ping-pong: the producer publishes frame k as soon as the consumer gave
 * frame k - 1 back (one slot free, the consumer's queue one deep), so the
 * consumer announces its sleep just as the next frame comes. A lost
 * wake-up does not end in an error: the consumer sleeps on the queued
 * frame until its wait times out, finds it then and returns it. So the
 * consumer waits for each frame with a timeout of T = 5 s and fails when a
 * wait ended at its timeout (the clock past the deadline on return) with a
 * frame published (its capture time, stamped at publish) within the first
 * second of that wait: the frame was queued for more than T - 1 s while the
 * consumer slept, which only a lost wake-up explains. The 4 s of margin
 * make it no speed check: an honest wake-up takes microseconds.
 *
 * The normal build must pass. A build with -Dlitmus=no_wake_fence, which
 * turns the two fences into compiler barriers (src/pool/internal.h), is
 * expected to fail: tests/meson.build registers the test there with
 * should_fail, which shows the test can see the fences missing.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#include "test.h"

#define SEC 1000000000ll
#define T_NS (5 * SEC)

static int consume(const char *name, uint64_t rounds)
{
	struct rkv_consumer_opts o = {
		.policy = RKV_POLICY_BLOCK,
		.queue_depth = 1,
		.max_held = 1,
		.attach_timeout_ns = 60 * SEC,
	};
	rkv_consumer *c = NULL;
	int r;
	for (int i = 0; (r = rkv_consumer_attach(name, &o, &c)) == -ENOENT && i < 6000; i++)
		usleep(10000);
	if (r)
		FAIL("consumer: attach = %d (%s)", r, strerror(-r));
	for (uint64_t k = 1; k <= rounds; k++) {
		struct rkv_view v;
		int64_t start = test_now_ns();
		r = rkv_consumer_acquire(c, &v, T_NS);
		if (r)
			FAIL("round %" PRIu64 ": acquire = %d (%s)", k, r, strerror(-r));
		int64_t end = test_now_ns();
		if (end - start >= T_NS && v.frame.timestamp_ns - start < SEC)
			FAIL("round %" PRIu64 " of %" PRIu64 ": frame %" PRIu64 ", published %.3f s into "
			     "the wait, was taken only when the %.0f s wait timed out: a lost wake-up",
			     k, rounds, v.frame.seq, (double)(v.frame.timestamp_ns - start) / SEC,
			     (double)T_NS / SEC);
		if (v.frame.seq != k)
			FAIL("round %" PRIu64 ": frame %" PRIu64, k, v.frame.seq);
		CHECK_OK(rkv_consumer_release(c, &v));
	}
	rkv_consumer_detach(c);
	return 0;
}

int main(void)
{
	test_watchdog(600);
	uint64_t rounds = test_scaled(200000);
	char name[64];
	test_pool_name(name, sizeof name, "litmus");
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(consume(name, rounds));
	}
	/* Three slots: the consumer's one queued and one held, and our loan;
	 * the next loan waits for the consumer's release of the last frame. */
	struct rkv_pool_opts po = {
		.slot_count = 3,
		.slot_capacity = 64,
		.block_timeout_ns = 60 * SEC,
		.access_gid = -1,
	};
	rkv_producer *p = NULL;
	CHECK_OK(rkv_producer_create(name, &po, &p));
	CHECK_OK(rkv_producer_wait_consumers(p, 1, 60 * SEC));
	for (uint64_t k = 1; k <= rounds; k++) {
		struct rkv_loan l;
		struct rkv_frame f;
		CHECK_OK(rkv_producer_loan(p, &l, 60 * SEC));
		memset(&f, 0, sizeof f);
		f.seq = k;
		f.fourcc = RKV_FMT_BYTES;
		f.bytes_used = 8;
		memcpy(l.data, &k, 8);
		int r = rkv_producer_publish(p, &l, &f);
		if (r != 1)
			FAIL("publish %" PRIu64 " = %d", k, r);
	}
	int status = test_reap(pid, "consumer");
	rkv_producer_destroy(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("the consumer failed (its message is above)");
	printf("litmus: %" PRIu64 " rounds, no wake-up lost\n", rounds);
	return 0;
}
