/* SPDX-License-Identifier: MIT */
/*
 * interop.c - a producer and consumers of two architectures share one pool.
 *
 * A board may run a 32-bit consumer beside a 64-bit producer (an armhf
 * program on an aarch64 kernel), or the other way round. That is sound
 * only because every shared layout (pool/wire.h) is the same on every
 * architecture: fixed-width fields, explicit padding, 8-byte aligned
 * 64-bit fields, sizes pinned by unit_wire. This test shows it end to end.
 *
 * In a cross build the test program is the target's (run under qemu-user)
 * and PEER is the same source built for the build machine (meson.build:
 * interop_native). Both ways:
 *
 *   1. the peer produces, this process consumes: a block consumer and a
 *      group member each read every frame, descriptor and bytes, and the
 *      pool's and consumers' stats as the other side wrote them;
 *   2. this process produces, the peer consumes, checking the same.
 *
 * Usage: interop PEER           run both directions against PEER
 *        interop produce NAME   (the peer's roles)
 *        interop consume NAME
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#include "pattern.h"
#include "test.h"

#define FRAMES 120u
#define SLOTS  12u
#define WIDTH  64u
#define HEIGHT 48u
#define SEC    1000000000ll

static const char *arch(void)
{
	return sizeof(void *) == 8 ? "64-bit" : "32-bit";
}

/* Frame @seq: NV12 at WIDTH x HEIGHT with rows padded to 16 bytes, and
 * every other field a function of seq. */
static void make_frame(struct rkv_frame *f, uint64_t seq)
{
	CHECK(rkv_frame_layout(f, RKV_FMT_NV12, WIDTH, HEIGHT + 2 * (uint32_t)(seq % 3), 16) > 0);
	f->seq = seq;
	f->timestamp_ns = (int64_t)(mix64(seq) >> 2) + 1;
	f->flags = seq % 4 == 0 ? RKV_FRAME_KEYFRAME : 0;
	f->user = mix64(seq ^ 0xabcdef);
}

static void check_view(const char *who, const struct rkv_view *v, uint64_t seq)
{
	struct rkv_frame e;
	make_frame(&e, seq);
	if (memcmp(&v->frame, &e, sizeof e) != 0)
		FAIL("%s (%s): frame %" PRIu64 "'s descriptor differs: seq %" PRIu64
		     " ts %" PRId64 "/%" PRId64 " %ux%u/%ux%u planes %u/%u bytes %" PRIu64 "/%" PRIu64
		     " user %016" PRIx64 "/%016" PRIx64, who, arch(), seq, v->frame.seq,
		     v->frame.timestamp_ns, e.timestamp_ns, v->frame.width, v->frame.height, e.width,
		     e.height, v->frame.num_planes, e.num_planes, v->frame.bytes_used, e.bytes_used,
		     v->frame.user, e.user);
	int64_t bad = check_frame(v->data, v->frame.bytes_used, seq);
	if (bad >= 0)
		FAIL("%s (%s): frame %" PRIu64 " wrong at byte %" PRId64, who, arch(), seq, bad);
}

/* Create @name, wait for the two consumers, publish FRAMES frames, wait
 * until both have gone. */
static void produce(const char *name)
{
	struct rkv_pool_opts o = {
		.slot_count = SLOTS,
		.slot_capacity = 2 * WIDTH * (HEIGHT + 4) * 3 / 2,
		.max_consumers = 4,
		.block_timeout_ns = 60 * SEC, /* nothing may be dropped */
		.access_gid = -1,
	};
	rkv_producer *p = NULL;
	CHECK_OK(rkv_producer_create(name, &o, &p));
	CHECK_OK(rkv_producer_wait_consumers(p, 2, 60 * SEC));
	for (uint64_t seq = 1; seq <= FRAMES; seq++) {
		struct rkv_loan l;
		struct rkv_frame f;
		CHECK_OK(rkv_producer_loan(p, &l, 60 * SEC));
		make_frame(&f, seq);
		fill_frame(l.data, f.bytes_used, seq);
		int r = rkv_producer_publish(p, &l, &f);
		if (r != 2)
			FAIL("producer (%s): publish %" PRIu64 " = %d, expected 2 receivers", arch(),
			     seq, r);
	}
	struct rkv_pool_stats st;
	for (int i = 0;; i++) {
		CHECK_OK(rkv_producer_stats(p, &st, sizeof st));
		if (st.consumers == 0)
			break;
		if (i == 6000)
			FAIL("producer (%s): consumers still attached after 60 s", arch());
		usleep(10000);
	}
	CHECK_UINT(st.published, ==, FRAMES);
	CHECK_UINT(st.block_timeouts, ==, 0);
	CHECK_UINT(st.slots_free, ==, SLOTS);
	rkv_producer_destroy(p);
}

static rkv_consumer *attach(const char *name, uint32_t policy, const char *label)
{
	char err[256] = "";
	struct rkv_consumer_opts o = {
		.policy = policy,
		.queue_depth = 4,
		.max_held = 1,
		.flags = policy == RKV_POLICY_GROUP ? RKV_GROUP_BLOCK : 0,
		.group = policy == RKV_POLICY_GROUP ? "g" : NULL,
		.label = label,
		.attach_timeout_ns = 60 * SEC,
		.errbuf = err,
		.errbuf_len = sizeof err,
	};
	rkv_consumer *c = NULL;
	int r;
	/* the peer producer may not have made the pool yet (60 s at most) */
	for (int i = 0; (r = rkv_consumer_attach(name, &o, &c)) == -ENOENT && i < 6000; i++)
		usleep(10000);
	if (r)
		FAIL("consumer (%s): attach %s = %d (%s): %s", arch(), label, r, strerror(-r), err);
	return c;
}

/* Attach a block consumer and a group member to @name, read every frame
 * with both, check what the producer's side wrote, detach. */
static void consume(const char *name)
{
	rkv_consumer *b = attach(name, RKV_POLICY_BLOCK, "b");
	rkv_consumer *g = attach(name, RKV_POLICY_GROUP, "m");
	for (uint64_t seq = 1; seq <= FRAMES; seq++) {
		rkv_consumer *both[2] = { b, g };
		for (int k = 0; k < 2; k++) {
			struct rkv_view v;
			int r = rkv_consumer_acquire(both[k], &v, 60 * SEC);
			if (r)
				FAIL("consumer (%s): acquire %" PRIu64 " = %d (%s)", arch(), seq, r,
				     strerror(-r));
			check_view(k ? "group member" : "block consumer", &v, seq);
			CHECK_OK(rkv_consumer_release(both[k], &v));
		}
	}
	/* the pool's header and the consumer table, as the producer wrote them */
	struct rkv_pool_stats ps;
	/* the producer counts a frame once it is delivered: the last count
	 * may come just after the last frame */
	for (int i = 0;; i++) {
		CHECK_OK(rkv_consumer_pool_stats(b, &ps, sizeof ps));
		if (ps.published == FRAMES || i == 6000)
			break;
		usleep(10000);
	}
	CHECK_UINT(ps.published, ==, FRAMES);
	CHECK_UINT(ps.slot_count, ==, SLOTS);
	CHECK_UINT(ps.slot_capacity, ==, 2 * WIDTH * (HEIGHT + 4) * 3 / 2);
	CHECK_UINT(ps.max_consumers, ==, 4);
	CHECK_UINT(ps.consumers, ==, 2);
	CHECK_UINT(ps.groups, ==, 1);
	struct rkv_consumer_stats cs[4];
	int n = rkv_pool_stats(name, &ps, sizeof ps, cs, 4, sizeof cs[0]);
	CHECK_EQ(n, 2);
	for (int i = 0; i < n; i++) {
		int grp = strcmp(cs[i].label, "m") == 0;
		if (!grp && strcmp(cs[i].label, "b") != 0)
			FAIL("consumer (%s): stats entry %d has label \"%s\"", arch(), i, cs[i].label);
		CHECK_UINT(cs[i].policy, ==, grp ? RKV_POLICY_GROUP : RKV_POLICY_BLOCK);
		CHECK_EQ(cs[i].pid, getpid());
		CHECK_UINT(cs[i].delivered, ==, FRAMES);
		CHECK_UINT(cs[i].dropped, ==, 0);
		CHECK_UINT(cs[i].last_seq, ==, FRAMES);
		CHECK(strcmp(cs[i].group, grp ? "g" : "") == 0);
	}
	rkv_consumer_detach(g);
	rkv_consumer_detach(b);
}

static pid_t spawn(char *const args[])
{
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(args[0], args);
		_exit(127);
	}
	return pid;
}

static void reap(pid_t pid, const char *what)
{
	int status = test_reap(pid, what);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("the peer %s ended with %s %d (its message is above)", what,
		     WIFEXITED(status) ? "exit status" : "signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int main(int argc, char **argv)
{
	test_watchdog(300);
	if (argc == 3 && strcmp(argv[1], "produce") == 0) {
		produce(argv[2]);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "consume") == 0) {
		consume(argv[2]);
		return 0;
	}
	if (argc != 2)
		FAIL("usage: interop PEER | produce NAME | consume NAME");

	char name[64];
	test_pool_name(name, sizeof name, "interop1");
	char *prod[] = { argv[1], "produce", name, NULL };
	pid_t pid = spawn(prod);
	consume(name);
	reap(pid, "producer");
	printf("interop: a %s consumer read the peer's pool\n", arch());

	test_pool_name(name, sizeof name, "interop2");
	char *cons[] = { argv[1], "consume", name, NULL };
	pid = spawn(cons);
	produce(name);
	reap(pid, "consumer");
	printf("interop: the peer read a %s producer's pool\n", arch());
	return 0;
}
