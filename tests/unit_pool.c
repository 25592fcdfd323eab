/* SPDX-License-Identifier: MIT */
/*
 * unit_pool.c - every public call of rkv/pool.h and every error its header
 * names, each policy's semantics, and the counters after known sequences.
 *
 * Producer and consumers live in this one process (threads where a call must
 * block while another side acts). Every pool has a name of its own, so this
 * test can run beside any other.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#include "pool/internal.h"
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "test.h"

#define CAP      4096u
#define PAYLOAD  64u
#define MS       1000000ll
#define NAMELEN  64

/* ---- helpers ------------------------------------------------------------ */

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static struct rkv_pool_opts pool_opts(uint32_t slots, uint32_t max_loans)
{
	struct rkv_pool_opts o;
	memset(&o, 0, sizeof o);
	o.slot_count = slots;
	o.slot_capacity = CAP;
	o.max_loans = max_loans;
	o.access_gid = -1;
	return o;
}

static rkv_producer *mkpool_opts(const char *name, const struct rkv_pool_opts *o)
{
	rkv_producer *p = NULL;
	int r = rkv_producer_create(name, o, &p);
	if (r < 0)
		FAIL("rkv_producer_create(%s) = %d (%s)", name, r, strerror(-r));
	CHECK(p != NULL);
	return p;
}

static rkv_producer *mkpool(const char *name, uint32_t slots, uint32_t max_loans)
{
	struct rkv_pool_opts o = pool_opts(slots, max_loans);
	return mkpool_opts(name, &o);
}

static struct rkv_consumer_opts cons_opts(uint32_t policy, uint32_t depth, uint32_t held)
{
	struct rkv_consumer_opts o;
	memset(&o, 0, sizeof o);
	o.policy = policy;
	o.queue_depth = depth;
	o.max_held = held;
	return o;
}

static rkv_consumer *attach(const char *name, struct rkv_consumer_opts o)
{
	char err[256] = "";
	rkv_consumer *c = NULL;
	o.errbuf = err;
	o.errbuf_len = sizeof err;
	int r = rkv_consumer_attach(name, &o, &c);
	if (r < 0)
		FAIL("rkv_consumer_attach(%s, %s) = %d (%s): %s", name, rkv_policy_name(o.policy),
		     r, strerror(-r), err);
	CHECK(c != NULL);
	return c;
}

static rkv_consumer *attach_label(const char *name, uint32_t policy, uint32_t depth,
				  uint32_t held, const char *label)
{
	struct rkv_consumer_opts o = cons_opts(policy, depth, held);
	o.label = label;
	return attach(name, o);
}

/* Attach that must fail with -@err and say why in errbuf. */
static void attach_fails(const char *name, struct rkv_consumer_opts o, int err, int line)
{
	char buf[256];
	rkv_consumer *c = NULL;
	memset(buf, 0, sizeof buf);
	o.errbuf = buf;
	o.errbuf_len = sizeof buf;
	int r = rkv_consumer_attach(name, &o, &c);
	if (r != -err)
		FAIL("line %d: rkv_consumer_attach(%s) = %d (%s), expected -%d (%s); errbuf \"%s\"",
		     line, name, r, r < 0 ? strerror(-r) : "success", err, strerror(err), buf);
	if (buf[0] == '\0')
		FAIL("line %d: attach failed with %s but errbuf says nothing", line, strerror(err));
	if (memchr(buf, '\0', sizeof buf) == NULL)
		FAIL("line %d: errbuf not NUL-terminated", line);
}
#define ATTACH_FAILS(name, o, err) attach_fails(name, o, err, __LINE__)

static struct rkv_frame bytes_frame(uint64_t seq, uint64_t n)
{
	struct rkv_frame f;
	memset(&f, 0, sizeof f);
	f.seq = seq;
	f.fourcc = RKV_FMT_BYTES;
	f.bytes_used = n;
	f.user = seq * 10;
	return f;
}

static void fill(void *data, uint64_t seq)
{
	memset(data, (int)(seq & 0xff), PAYLOAD);
}

/* Loan without waiting, fill PAYLOAD bytes with seq's byte, publish. */
static int publish_seq(rkv_producer *p, uint64_t seq)
{
	struct rkv_loan l;
	int r = rkv_producer_loan(p, &l, 0);
	if (r < 0)
		FAIL("loan for seq %" PRIu64 " = %d (%s)", seq, r, strerror(-r));
	fill(l.data, seq);
	struct rkv_frame f = bytes_frame(seq, PAYLOAD);
	r = rkv_producer_publish(p, &l, &f);
	if (r < 0)
		FAIL("publish seq %" PRIu64 " = %d (%s)", seq, r, strerror(-r));
	return r;
}

/* A view is frame @seq, whole and as published. */
static void check_view(const struct rkv_view *v, uint64_t seq)
{
	CHECK_UINT(v->frame.seq, ==, seq);
	CHECK_UINT(v->frame.fourcc, ==, RKV_FMT_BYTES);
	CHECK_UINT(v->frame.bytes_used, ==, PAYLOAD);
	CHECK_UINT(v->frame.user, ==, seq * 10);
	CHECK_UINT(v->capacity, ==, CAP);
	CHECK(v->data != NULL);
	const uint8_t *d = v->data;
	for (uint32_t i = 0; i < PAYLOAD; i++)
		if (d[i] != (uint8_t)(seq & 0xff))
			FAIL("frame %" PRIu64 " byte %u is %u, expected %u", seq, i, d[i],
			     (unsigned)(seq & 0xff));
}

/* Acquire without waiting: must be frame @seq; then release it. */
static void take(rkv_consumer *c, uint64_t seq)
{
	struct rkv_view v;
	int r = rkv_consumer_acquire(c, &v, 0);
	if (r < 0)
		FAIL("acquire (expecting seq %" PRIu64 ") = %d (%s)", seq, r, strerror(-r));
	check_view(&v, seq);
	CHECK_OK(rkv_consumer_release(c, &v));
}

static void check_empty(rkv_consumer *c)
{
	struct rkv_view v;
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
}

static struct rkv_pool_stats pstats(rkv_producer *p)
{
	struct rkv_pool_stats st;
	memset(&st, 0xff, sizeof st);
	CHECK_OK(rkv_producer_stats(p, &st, sizeof(*(&st))));
	return st;
}

static struct rkv_consumer_stats cstats(rkv_consumer *c)
{
	struct rkv_consumer_stats st;
	memset(&st, 0xff, sizeof st);
	CHECK_OK(rkv_consumer_stats(c, &st, sizeof(*(&st))));
	return st;
}

/* Detach is seen by the producer's service thread a moment later. */
static void wait_consumer_count(rkv_producer *p, uint32_t n)
{
	int64_t end = test_now_ns() + 5000 * MS;
	for (;;) {
		struct rkv_pool_stats st = pstats(p);
		if (st.consumers == n)
			return;
		if (test_now_ns() > end)
			FAIL("pool still has %u consumers, expected %u", st.consumers, n);
		sleep_ns(2 * MS);
	}
}

/* Attach until it succeeds (the budget is freed once a detach is seen). */
static rkv_consumer *attach_retry(const char *name, struct rkv_consumer_opts o)
{
	int64_t end = test_now_ns() + 5000 * MS;
	for (;;) {
		rkv_consumer *c = NULL;
		int r = rkv_consumer_attach(name, &o, &c);
		if (r == 0)
			return c;
		if (r != -ENOSPC || test_now_ns() > end)
			FAIL("attach retry: %d (%s)", r, strerror(-r));
		sleep_ns(2 * MS);
	}
}

/* ---- plain functions ---------------------------------------------------- */

static void test_misc(void)
{
	const char *v = rkv_version();
	unsigned a, b, c;
	char tail;
	CHECK(v != NULL);
	CHECK_EQ(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &tail), 3);
	CHECK(v[0] >= '0' && v[0] <= '9');

	CHECK_STR(rkv_policy_name(RKV_POLICY_BLOCK), "block");
	CHECK_STR(rkv_policy_name(RKV_POLICY_DROP), "drop");
	CHECK_STR(rkv_policy_name(RKV_POLICY_LATEST), "latest");
	CHECK_STR(rkv_policy_name(RKV_POLICY_GROUP), "group");
	CHECK_STR(rkv_policy_name(0), "?");
	CHECK_STR(rkv_policy_name(5), "?");
	CHECK_STR(rkv_policy_name(UINT32_MAX), "?");

	CHECK_EQ(rkv_policy_parse("block"), RKV_POLICY_BLOCK);
	CHECK_EQ(rkv_policy_parse("drop"), RKV_POLICY_DROP);
	CHECK_EQ(rkv_policy_parse("latest"), RKV_POLICY_LATEST);
	CHECK_EQ(rkv_policy_parse("group"), RKV_POLICY_GROUP);
	CHECK_ERR(rkv_policy_parse(""), EINVAL);
	CHECK_ERR(rkv_policy_parse("?"), EINVAL);
	CHECK_ERR(rkv_policy_parse("blocks"), EINVAL);
	CHECK_ERR(rkv_policy_parse("lates"), EINVAL);
	CHECK_ERR(rkv_policy_parse("nope"), EINVAL);
	/* name and parse agree */
	for (uint32_t pol = RKV_POLICY_BLOCK; pol <= RKV_POLICY_GROUP; pol++)
		CHECK_EQ(rkv_policy_parse(rkv_policy_name(pol)), pol);

	/* destructors take NULL */
	rkv_producer_destroy(NULL);
	rkv_consumer_detach(NULL);
}

/* ---- create ------------------------------------------------------------- */

static void test_create(void)
{
	char name[NAMELEN], longest[RKV_NAME_MAX + 2];
	rkv_producer *p = NULL, *p2 = NULL;
	struct rkv_pool_opts o = pool_opts(4, 1);

	/* bad names */
	CHECK_ERR(rkv_producer_create(NULL, &o, &p), EINVAL);
	CHECK_ERR(rkv_producer_create("", &o, &p), EINVAL);
	static const char *const bad[] = { "a/b", "a b", "a\\b", "a:b", "a\nb", "caf\xc3\xa9",
					   "a*", "/", "a\x7f" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = rkv_producer_create(bad[i], &o, &p);
		if (r != -EINVAL)
			FAIL("create(\"%s\") = %d, expected -EINVAL", bad[i], r);
	}
	/* RKV_NAME_MAX bytes is fine, one more is not */
	test_pool_name(name, sizeof name, "max");
	memset(longest, 'x', sizeof longest);
	memcpy(longest, name, strlen(name));
	longest[RKV_NAME_MAX + 1] = '\0';
	CHECK_ERR(rkv_producer_create(longest, &o, &p), EINVAL);
	longest[RKV_NAME_MAX] = '\0';
	CHECK_OK(rkv_producer_create(longest, &o, &p));
	CHECK(p != NULL);
	rkv_consumer *c = attach(longest, cons_opts(RKV_POLICY_DROP, 1, 1));
	CHECK_EQ(publish_seq(p, 1), 1);
	take(c, 1);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
	p = NULL;
	/* every allowed character */
	char all[NAMELEN];
	snprintf(all, sizeof all, "%s.AZaz09._-", test_pool_name(name, sizeof name, "ch"));
	CHECK_OK(rkv_producer_create(all, &o, &p));
	rkv_producer_destroy(p);
	p = NULL;

	/* bad opts */
	test_pool_name(name, sizeof name, "opts");
	CHECK_ERR(rkv_producer_create(name, NULL, &p), EINVAL);
	o = pool_opts(0, 1);
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	o = pool_opts(RKV_MAX_SLOTS + 1, 1);
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	o = pool_opts(UINT32_MAX, 1);
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	o = pool_opts(4, 1);
	o.slot_capacity = 0;
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	o = pool_opts(4, 1);
	o.max_consumers = RKV_MAX_CONSUMERS + 1;
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	o.max_consumers = UINT32_MAX;
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	/* the name was never taken by the failures */
	o = pool_opts(4, 1);
	CHECK_OK(rkv_producer_create(name, &o, &p));
	rkv_producer_destroy(p);
	p = NULL;

	/* limits themselves are fine */
	o = pool_opts(RKV_MAX_SLOTS, 1);
	o.slot_capacity = 1;
	o.max_consumers = RKV_MAX_CONSUMERS;
	test_pool_name(name, sizeof name, "limits");
	CHECK_OK(rkv_producer_create(name, &o, &p));
	struct rkv_pool_stats st = pstats(p);
	CHECK_UINT(st.slot_count, ==, RKV_MAX_SLOTS);
	CHECK_UINT(st.slots_free, ==, RKV_MAX_SLOTS);
	CHECK_UINT(st.slot_capacity, ==, 1);
	CHECK_UINT(st.max_consumers, ==, RKV_MAX_CONSUMERS);
	rkv_producer_destroy(p);
	p = NULL;

	/* A pool larger than a 32-bit address space (5 slots of 1 GiB): there
	 * it is refused with -ENOMEM, where it was once mapped short (mmap's
	 * length is a size_t) and the last slots' bytes lay outside the
	 * mapping; with 64-bit pointers it works to the last byte of the last
	 * slot (a page of it is touched: the memfd's pages come on use). */
	o = pool_opts(5, 5);
	o.slot_capacity = 1ull << 30;
	test_pool_name(name, sizeof name, "huge");
	int hr = rkv_producer_create(name, &o, &p);
	if (sizeof(void *) < 8) {
		CHECK_EQ(hr, -ENOMEM);
		CHECK(p == NULL);
	} else {
		CHECK_OK(hr);
		struct rkv_loan hl[5];
		for (int i = 0; i < 5; i++) {
			CHECK_OK(rkv_producer_loan(p, &hl[i], 0));
			CHECK_UINT(hl[i].capacity, ==, 1ull << 30);
			((volatile uint8_t *)hl[i].data)[hl[i].capacity - 1] = (uint8_t)i;
		}
		for (int i = 0; i < 5; i++) {
			CHECK_EQ(((volatile uint8_t *)hl[i].data)[hl[i].capacity - 1], i);
			CHECK_OK(rkv_producer_cancel(p, &hl[i]));
		}
		rkv_producer_destroy(p);
	}
	p = NULL;

	/* one live producer per name; the loser leaves the winner intact */
	test_pool_name(name, sizeof name, "twice");
	o = pool_opts(4, 1);
	CHECK_OK(rkv_producer_create(name, &o, &p));
	CHECK_ERR(rkv_producer_create(name, &o, &p2), EADDRINUSE);
	c = attach(name, cons_opts(RKV_POLICY_DROP, 1, 1));
	CHECK_EQ(publish_seq(p, 7), 1);
	take(c, 7);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
	/* gone with its producer, free again after */
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_DROP, 1, 1), ENOENT);
	CHECK_OK(rkv_producer_create(name, &o, &p2));
	c = attach(name, cons_opts(RKV_POLICY_DROP, 1, 1));
	CHECK_EQ(publish_seq(p2, 8), 1);
	take(c, 8);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p2);
}

/* ---- loan, cancel ------------------------------------------------------- */

static void test_loan(void)
{
	char name[NAMELEN];
	struct rkv_loan a, b, x;

	/* max_loans 0 means 1 */
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "loan1"), 4, 0);
	CHECK_OK(rkv_producer_loan(p, &a, 0));
	CHECK(a.data != NULL);
	CHECK_UINT(a.capacity, ==, CAP);
	memset(a.data, 0x5a, CAP); /* writable, all of it */
	CHECK_ERR(rkv_producer_loan(p, &b, 0), EBUSY);
	CHECK_ERR(rkv_producer_loan(p, &b, 10 * MS), EBUSY);
	CHECK_OK(rkv_producer_cancel(p, &a));
	CHECK_OK(rkv_producer_loan(p, &b, 0));
	CHECK_OK(rkv_producer_cancel(p, &b));
	rkv_producer_destroy(p);

	/* max_loans 2 of 4 slots */
	p = mkpool(test_pool_name(name, sizeof name, "loan2"), 4, 2);
	CHECK_UINT(pstats(p).slots_free, ==, 4);
	CHECK_OK(rkv_producer_loan(p, &a, 0));
	CHECK_OK(rkv_producer_loan(p, &b, RKV_WAIT_FOREVER));
	CHECK(a.data != b.data);
	CHECK(a.slot != b.slot);
	/* the two loans are distinct memory */
	memset(a.data, 1, CAP);
	memset(b.data, 2, CAP);
	CHECK_UINT(((uint8_t *)a.data)[CAP - 1], ==, 1);
	CHECK_UINT(((uint8_t *)b.data)[0], ==, 2);
	CHECK_ERR(rkv_producer_loan(p, &x, 0), EBUSY);
	CHECK_UINT(pstats(p).slots_free, ==, 2);
	CHECK_EQ(rkv__producer_free_slots(p), 2);

	/* cancel: once; a made-up loan is refused */
	struct rkv_loan copy = a;
	CHECK_OK(rkv_producer_cancel(p, &a));
	CHECK_ERR(rkv_producer_cancel(p, &copy), EINVAL);
	struct rkv_loan bogus;
	memset(&bogus, 0, sizeof bogus);
	CHECK_ERR(rkv_producer_cancel(p, &bogus), EINVAL);
	bogus = b;
	bogus.slot = 4;
	CHECK_ERR(rkv_producer_cancel(p, &bogus), EINVAL);
	bogus = b;
	bogus.slot = UINT32_MAX;
	CHECK_ERR(rkv_producer_cancel(p, &bogus), EINVAL);
	bogus = b;
	bogus.token ^= 0x10000;
	CHECK_ERR(rkv_producer_cancel(p, &bogus), EINVAL);
	CHECK_UINT(pstats(p).slots_free, ==, 3);
	CHECK_OK(rkv_producer_cancel(p, &b));
	CHECK_UINT(pstats(p).slots_free, ==, 4);
	CHECK_EQ(rkv__producer_free_slots(p), 4);
	CHECK_UINT(pstats(p).refused, ==, 0);
	CHECK_UINT(pstats(p).published, ==, 0);
	rkv_producer_destroy(p);

	/* Every slot loaned (max_loans = slot_count): the loan limit answers.
	 * No free slot with max_loans not reached (-EAGAIN, -ETIMEDOUT) cannot
	 * happen through the public API: the attach budget keeps max_loans
	 * slots out of the consumers' reach (see test_loan_budget). */
	p = mkpool(test_pool_name(name, sizeof name, "loan3"), 2, 2);
	CHECK_OK(rkv_producer_loan(p, &a, 0));
	CHECK_OK(rkv_producer_loan(p, &b, 0));
	CHECK_UINT(pstats(p).slots_free, ==, 0);
	CHECK_ERR(rkv_producer_loan(p, &x, 0), EBUSY);
	CHECK_OK(rkv_producer_cancel(p, &b));
	rkv_producer_destroy(p);
}

/*
 * The budget keeps the producer's max_loans slots out of the consumers'
 * reach: a latest consumer holding one frame with another in its mailbox
 * still leaves the producer its loan, and a newer frame frees the replaced
 * one at once.
 */
static void test_loan_budget(void)
{
	char name[NAMELEN];
	struct rkv_loan a, b;
	struct rkv_view v1;
	/* 3 slots: producer max_loans 1 + latest consumer (1 + 1 held) */
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "lbudget"), 3, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_LATEST, 0, 1));
	CHECK_EQ(publish_seq(p, 1), 1);
	CHECK_OK(rkv_consumer_acquire(c, &v1, 0)); /* held: 1 */
	CHECK_EQ(publish_seq(p, 2), 1);            /* in the mailbox: 2 */
	CHECK_OK(rkv_producer_loan(p, &a, 0));     /* the third slot */
	CHECK_UINT(pstats(p).slots_free, ==, 0);
	CHECK_ERR(rkv_producer_loan(p, &b, 0), EBUSY);
	/* publishing 3 replaces 2 in the mailbox: 2's slot is free at once */
	fill(a.data, 3);
	struct rkv_frame f = bytes_frame(3, PAYLOAD);
	CHECK_EQ(rkv_producer_publish(p, &a, &f), 1);
	CHECK_UINT(pstats(p).slots_free, ==, 1);
	CHECK_UINT(pstats(p).refused, ==, 0);
	check_view(&v1, 1); /* untouched while held */
	CHECK_OK(rkv_consumer_release(c, &v1));
	take(c, 3);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

/* ---- publish ------------------------------------------------------------ */

static void test_publish(void)
{
	char name[NAMELEN];
	struct rkv_loan l;
	struct rkv_frame f;
	/* 2 drop (3 each) + latest (2) + group of 2 (2 + 1 + 1) + loan 1 = 13 */
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "pub"), 16, 1);

	/* nobody there: published all the same, to 0 consumers */
	CHECK_EQ(publish_seq(p, 1), 0);
	CHECK_UINT(pstats(p).published, ==, 1);
	CHECK_UINT(pstats(p).slots_free, ==, 16);

	/* bad descriptors: -EINVAL, and the loan stays good */
	CHECK_OK(rkv_producer_loan(p, &l, 0));
	f = bytes_frame(2, CAP + 1);
	CHECK_ERR(rkv_producer_publish(p, &l, &f), EINVAL);
	f = bytes_frame(2, PAYLOAD);
	f.num_planes = RKV_MAX_PLANES + 1;
	CHECK_ERR(rkv_producer_publish(p, &l, &f), EINVAL);
	f = bytes_frame(2, PAYLOAD);
	f.num_planes = 1;
	f.planes[0].offset = 32;
	f.planes[0].size = 33;
	f.planes[0].stride = 1;
	CHECK_ERR(rkv_producer_publish(p, &l, &f), EINVAL);
	/* an encoded format with planes */
	f = bytes_frame(2, PAYLOAD);
	f.num_planes = 1;
	f.planes[0].size = 8;
	f.planes[0].stride = 8;
	CHECK_ERR(rkv_producer_publish(p, &l, &f), EINVAL);
	CHECK_UINT(pstats(p).published, ==, 1);
	CHECK_UINT(pstats(p).slots_free, ==, 15);

	/* bad loans */
	struct rkv_loan bogus;
	memset(&bogus, 0, sizeof bogus);
	f = bytes_frame(2, PAYLOAD);
	CHECK_ERR(rkv_producer_publish(p, &bogus, &f), EINVAL);
	bogus = l;
	bogus.slot = (l.slot + 1) % 16;
	CHECK_ERR(rkv_producer_publish(p, &bogus, &f), EINVAL);
	bogus = l;
	bogus.token += 1;
	CHECK_ERR(rkv_producer_publish(p, &bogus, &f), EINVAL);
	bogus = l;
	bogus.slot = 16;
	CHECK_ERR(rkv_producer_publish(p, &bogus, &f), EINVAL);

	/* the loan survived all that */
	struct rkv_loan copy = l;
	fill(l.data, 2);
	CHECK_EQ(rkv_producer_publish(p, &l, &f), 0);
	CHECK_UINT(pstats(p).published, ==, 2);
	/* consumed: neither publish nor cancel takes it again */
	CHECK_ERR(rkv_producer_publish(p, &copy, &f), EINVAL);
	CHECK_ERR(rkv_producer_cancel(p, &copy), EINVAL);
	CHECK_UINT(pstats(p).published, ==, 2);
	CHECK_UINT(pstats(p).slots_free, ==, 16);

	/* the count of consumers that got it; a group counts once */
	rkv_consumer *d1 = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));
	rkv_consumer *d2 = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));
	rkv_consumer *lt = attach(name, cons_opts(RKV_POLICY_LATEST, 0, 1));
	struct rkv_consumer_opts go = cons_opts(RKV_POLICY_GROUP, 2, 1);
	go.group = "g";
	rkv_consumer *g1 = attach(name, go);
	rkv_consumer *g2 = attach(name, go);
	CHECK_EQ(publish_seq(p, 3), 4);
	take(d1, 3);
	take(d2, 3);
	take(lt, 3);
	struct rkv_view v;
	int r1 = rkv_consumer_acquire(g1, &v, 0);
	if (r1 == 0) {
		check_view(&v, 3);
		check_empty(g2);
		CHECK_OK(rkv_consumer_release(g1, &v));
	} else {
		CHECK_EQ(r1, -EAGAIN);
		take(g2, 3);
		check_empty(g1);
	}
	check_empty(d1);
	check_empty(d2);
	check_empty(lt);

	/* descriptor fields pass through; a zero timestamp becomes "now" */
	int64_t before = test_now_ns();
	CHECK_OK(rkv_producer_loan(p, &l, 0));
	CHECK_EQ(rkv_frame_layout(&f, RKV_FMT_NV12, 64, 32, 16), 3072);
	f.seq = 1234567890123ull;
	f.user = 0xdeadbeefcafeull;
	f.flags = RKV_FRAME_KEYFRAME | RKV_FRAME_ERROR;
	memset(l.data, 0x11, 2048);
	memset((uint8_t *)l.data + 2048, 0x22, 1024);
	CHECK_EQ(rkv_producer_publish(p, &l, &f), 4);
	int64_t after = test_now_ns();
	CHECK_OK(rkv_consumer_acquire(d1, &v, 0));
	CHECK_UINT(v.frame.seq, ==, 1234567890123ull);
	CHECK_UINT(v.frame.user, ==, 0xdeadbeefcafeull);
	CHECK_UINT(v.frame.flags, ==, RKV_FRAME_KEYFRAME | RKV_FRAME_ERROR);
	CHECK_UINT(v.frame.fourcc, ==, RKV_FMT_NV12);
	CHECK_UINT(v.frame.width, ==, 64);
	CHECK_UINT(v.frame.height, ==, 32);
	CHECK_UINT(v.frame.bytes_used, ==, 3072);
	CHECK_UINT(v.frame.num_planes, ==, 2);
	CHECK_UINT(v.frame.planes[1].offset, ==, 2048);
	CHECK_UINT(v.frame.planes[1].stride, ==, 64);
	CHECK_UINT(v.frame.planes[1].size, ==, 1024);
	CHECK_INT(v.frame.timestamp_ns, >=, before);
	CHECK_INT(v.frame.timestamp_ns, <=, after);
	CHECK_UINT(((const uint8_t *)v.data)[2047], ==, 0x11);
	CHECK_UINT(((const uint8_t *)v.data)[2048], ==, 0x22);
	CHECK_OK(rkv_consumer_release(d1, &v));
	/* a given timestamp is kept */
	CHECK_OK(rkv_producer_loan(p, &l, 0));
	f = bytes_frame(5, PAYLOAD);
	f.timestamp_ns = 42;
	fill(l.data, 5);
	CHECK_EQ(rkv_producer_publish(p, &l, &f), 4);
	/* d1 has 5; d2 has the NV12 frame and 5 */
	CHECK_OK(rkv_consumer_acquire(d1, &v, 0));
	CHECK_INT(v.frame.timestamp_ns, ==, 42);
	check_view(&v, 5);
	CHECK_OK(rkv_consumer_release(d1, &v));
	CHECK_OK(rkv_consumer_acquire(d2, &v, 0));
	CHECK_UINT(v.frame.fourcc, ==, RKV_FMT_NV12);
	CHECK_OK(rkv_consumer_release(d2, &v));
	take(d2, 5);
	take(lt, 5); /* latest: the NV12 frame was replaced */
	CHECK_UINT(pstats(p).published, ==, 5);

	rkv_consumer_detach(g1);
	rkv_consumer_detach(g2);
	rkv_consumer_detach(lt);
	rkv_consumer_detach(d2);
	rkv_consumer_detach(d1);
	wait_consumer_count(p, 0);
	CHECK_EQ(rkv__producer_free_slots(p), 16);
	rkv_producer_destroy(p);
}

static void test_publish_copy(void)
{
	char name[NAMELEN];
	static uint8_t buf[CAP + 1];
	struct rkv_frame f;
	struct rkv_view v;
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "copy"), 4, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));

	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	f = bytes_frame(1, 0);
	CHECK_ERR(rkv_producer_publish_copy(p, buf, CAP + 1, &f, 0), EMSGSIZE);
	CHECK_ERR(rkv_producer_publish_copy(p, buf, SIZE_MAX, &f, 0), EMSGSIZE);
	CHECK_UINT(pstats(p).published, ==, 0);
	CHECK_UINT(pstats(p).slots_free, ==, 4); /* no loan left behind */

	/* bytes_used 0: becomes len */
	CHECK_EQ(rkv_producer_publish_copy(p, buf, CAP, &f, 0), 1);
	CHECK_OK(rkv_consumer_acquire(c, &v, 0));
	CHECK_UINT(v.frame.seq, ==, 1);
	CHECK_UINT(v.frame.bytes_used, ==, CAP);
	CHECK(memcmp(v.data, buf, CAP) == 0);
	CHECK_OK(rkv_consumer_release(c, &v));

	/* bytes_used given: kept */
	f = bytes_frame(2, 10);
	CHECK_EQ(rkv_producer_publish_copy(p, buf + 1, 100, &f, 0), 1);
	CHECK_OK(rkv_consumer_acquire(c, &v, 0));
	CHECK_UINT(v.frame.seq, ==, 2);
	CHECK_UINT(v.frame.bytes_used, ==, 10);
	CHECK(memcmp(v.data, buf + 1, 10) == 0);
	CHECK_OK(rkv_consumer_release(c, &v));

	/* a bad descriptor: publish's -EINVAL, and no loan left behind */
	f = bytes_frame(3, 10);
	f.num_planes = RKV_MAX_PLANES + 1;
	CHECK_ERR(rkv_producer_publish_copy(p, buf, 10, &f, 0), EINVAL);
	CHECK_EQ(rkv__producer_free_slots(p), 4);

	/* what loan returns: the one loan is out */
	struct rkv_loan l;
	CHECK_OK(rkv_producer_loan(p, &l, 0));
	f = bytes_frame(4, 0);
	CHECK_ERR(rkv_producer_publish_copy(p, buf, 10, &f, 0), EBUSY);
	CHECK_OK(rkv_producer_cancel(p, &l));
	CHECK_UINT(pstats(p).published, ==, 2);
	check_empty(c);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

/* ---- wait_consumers ----------------------------------------------------- */

struct late_attach {
	const char *name;
	int64_t delay_ns;
	rkv_consumer *c;
};

static void *attach_later(void *arg)
{
	struct late_attach *la = arg;
	sleep_ns(la->delay_ns);
	la->c = attach(la->name, cons_opts(RKV_POLICY_DROP, 1, 1));
	return NULL;
}

static void test_wait_consumers(void)
{
	char name[NAMELEN];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "waitc"), 8, 1);

	CHECK_OK(rkv_producer_wait_consumers(p, 0, 0));
	CHECK_ERR(rkv_producer_wait_consumers(p, 1, 0), EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_ERR(rkv_producer_wait_consumers(p, 1, 30 * MS), ETIMEDOUT);
	CHECK_INT(test_now_ns() - t0, >=, 25 * MS);

	struct late_attach la = { .name = name, .delay_ns = 50 * MS };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, attach_later, &la), 0);
	CHECK_OK(rkv_producer_wait_consumers(p, 1, RKV_WAIT_FOREVER));
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_OK(rkv_producer_wait_consumers(p, 1, 0));
	CHECK_ERR(rkv_producer_wait_consumers(p, 2, 0), EAGAIN);

	struct late_attach la2 = { .name = name, .delay_ns = 20 * MS };
	CHECK_EQ(pthread_create(&t, NULL, attach_later, &la2), 0);
	CHECK_OK(rkv_producer_wait_consumers(p, 2, 5000 * MS));
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_UINT(pstats(p).consumers, ==, 2);
	rkv_producer_destroy(p);
	/* consumers outlive their producer and detach after it */
	rkv_consumer_detach(la.c);
	rkv_consumer_detach(la2.c);
}

/* ---- attach ------------------------------------------------------------- */

static void test_attach_errors(void)
{
	char name[NAMELEN], other[NAMELEN];
	rkv_consumer *c = NULL;

	/* no such pool */
	ATTACH_FAILS(test_pool_name(other, sizeof other, "nobody"),
		     cons_opts(RKV_POLICY_DROP, 0, 0), ENOENT);
	/* errbuf is optional */
	struct rkv_consumer_opts o = cons_opts(RKV_POLICY_DROP, 0, 0);
	CHECK_ERR(rkv_consumer_attach(other, &o, &c), ENOENT);

	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "attach"), 16, 1);
	CHECK_ERR(rkv_consumer_attach(name, NULL, &c), EINVAL);
	ATTACH_FAILS(name, cons_opts(0, 0, 0), EINVAL);
	ATTACH_FAILS(name, cons_opts(5, 0, 0), EINVAL);
	ATTACH_FAILS(name, cons_opts(UINT32_MAX, 0, 0), EINVAL);
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_DROP, RKV_MAX_DEPTH + 1, 1), EINVAL);
	/* a group consumer without a group name */
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_GROUP, 2, 1), EINVAL);
	o = cons_opts(RKV_POLICY_GROUP, 2, 1);
	o.group = "";
	ATTACH_FAILS(name, o, EINVAL);
	/* labels and group names shorter than RKV_LABEL_MAX */
	char lbl[RKV_LABEL_MAX + 1];
	memset(lbl, 'l', sizeof lbl);
	lbl[RKV_LABEL_MAX] = '\0';
	o = cons_opts(RKV_POLICY_GROUP, 2, 1);
	o.group = lbl;
	ATTACH_FAILS(name, o, EINVAL);
	o = cons_opts(RKV_POLICY_DROP, 2, 1);
	o.label = lbl;
	ATTACH_FAILS(name, o, EINVAL);
	/* the longest label is fine */
	lbl[RKV_LABEL_MAX - 1] = '\0';
	o.label = lbl;
	c = attach(name, o);
	CHECK_STR(cstats(c).label, lbl);
	/* none of the refused ones was counted */
	CHECK_UINT(pstats(p).consumers, ==, 1);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);

	/* -EUSERS beyond max_consumers; observers are not consumers */
	struct rkv_pool_opts po = pool_opts(16, 1);
	po.max_consumers = 2;
	p = mkpool_opts(test_pool_name(name, sizeof name, "users"), &po);
	rkv_consumer *c1 = attach(name, cons_opts(RKV_POLICY_DROP, 1, 1));
	rkv_consumer *c2 = attach(name, cons_opts(RKV_POLICY_LATEST, 0, 1));
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_DROP, 1, 1), EUSERS);
	struct rkv_pool_stats ps;
	CHECK_EQ(rkv_pool_stats(name, &ps, sizeof(*(&ps)), NULL, 0, 0), 2);
	CHECK_UINT(ps.consumers, ==, 2);
	CHECK_UINT(ps.max_consumers, ==, 2);
	rkv_consumer_detach(c1);
	wait_consumer_count(p, 1);
	c1 = attach(name, cons_opts(RKV_POLICY_DROP, 1, 1));
	rkv_consumer_detach(c1);
	rkv_consumer_detach(c2);
	rkv_producer_destroy(p);

	/* default max_consumers is 16 */
	p = mkpool(test_pool_name(name, sizeof name, "users16"), 64, 1);
	CHECK_UINT(pstats(p).max_consumers, ==, 16);
	rkv_consumer *many[16];
	for (int i = 0; i < 16; i++)
		many[i] = attach(name, cons_opts(RKV_POLICY_DROP, 1, 1));
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_DROP, 1, 1), EUSERS);
	for (int i = 0; i < 16; i++)
		rkv_consumer_detach(many[i]);
	rkv_producer_destroy(p);
}

/* The slot budget: loans + what every consumer may pin <= slot_count. */
static void test_budget(void)
{
	char name[NAMELEN];

	/* 4 slots, 1 loan: drop 2 + 1 fits exactly; latest (1 + 1) does not */
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "budget"), 4, 1);
	rkv_consumer *d = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_LATEST, 0, 1), ENOSPC);
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_DROP, 1, 1), ENOSPC);
	rkv_consumer_detach(d);
	/* freed: a latest consumer fits (its queue depth is ignored), a second
	 * does not: 1 + 2 + 2 > 4 */
	rkv_consumer *l1 = attach_retry(name, cons_opts(RKV_POLICY_LATEST, 5, 1));
	CHECK_UINT(cstats(l1).queue_depth, ==, 1);
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_LATEST, 0, 1), ENOSPC);
	rkv_consumer_detach(l1);
	rkv_producer_destroy(p);

	/* defaults: depth 2, held 1 = 3; the producer's max_loans counts too */
	p = mkpool(test_pool_name(name, sizeof name, "budget2"), 5, 2);
	rkv_consumer *b = attach(name, cons_opts(RKV_POLICY_BLOCK, 0, 0));
	struct rkv_consumer_stats cs = cstats(b);
	CHECK_UINT(cs.queue_depth, ==, 2);
	CHECK_UINT(cs.max_held, ==, 1);
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_LATEST, 0, 0), ENOSPC);
	rkv_consumer_detach(b);
	/* block depth 2 held 1 + 2 loans = 5: exactly full */
	b = attach_retry(name, cons_opts(RKV_POLICY_BLOCK, 2, 1));
	rkv_consumer_detach(b);
	/* 4 + 1 + 2 > 5 */
	wait_consumer_count(p, 0);
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_DROP, 3, 2), ENOSPC);
	rkv_producer_destroy(p);

	/* a group: its queue depth once, plus each member's max_held */
	p = mkpool(test_pool_name(name, sizeof name, "budget3"), 6, 1);
	struct rkv_consumer_opts go = cons_opts(RKV_POLICY_GROUP, 2, 1);
	go.group = "w";
	rkv_consumer *m1 = attach(name, go); /* 1 + 2 + 1 = 4 */
	rkv_consumer *m2 = attach(name, go); /* 5 */
	rkv_consumer *m3 = attach(name, go); /* 6 */
	ATTACH_FAILS(name, go, ENOSPC);      /* 7 */
	rkv_consumer_detach(m3);
	rkv_consumer_detach(m2);
	rkv_consumer_detach(m1);
	rkv_producer_destroy(p);

	/* a group queue depth that is no power of two is rounded up (pool.h) */
	p = mkpool(test_pool_name(name, sizeof name, "budget4"), 5, 1);
	go = cons_opts(RKV_POLICY_GROUP, 3, 1);
	go.group = "odd";
	ATTACH_FAILS(name, go, ENOSPC); /* 1 + 4 + 1 = 6 > 5 */
	rkv_producer_destroy(p);
	p = mkpool(test_pool_name(name, sizeof name, "budget4"), 6, 1);
	m1 = attach(name, go); /* 1 + 4 + 1 = 6 */
	rkv_consumer_detach(m1);
	rkv_producer_destroy(p);
}

/* ---- acquire, release --------------------------------------------------- */

static void test_acquire_release(void)
{
	char name[NAMELEN];
	struct rkv_view v, w, x;
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "acq"), 8, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_DROP, 3, 2));

	/* nothing there */
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_ERR(rkv_consumer_acquire(c, &v, 30 * MS), ETIMEDOUT);
	CHECK_INT(test_now_ns() - t0, >=, 25 * MS);

	/* max_held 2: a third is -EBUSY while frames are ready */
	CHECK_EQ(publish_seq(p, 1), 1);
	CHECK_EQ(publish_seq(p, 2), 1);
	CHECK_EQ(publish_seq(p, 3), 1);
	CHECK_OK(rkv_consumer_acquire(c, &v, 0));
	check_view(&v, 1);
	CHECK_OK(rkv_consumer_acquire(c, &w, RKV_WAIT_FOREVER));
	check_view(&w, 2);
	CHECK(v.data != w.data);
	CHECK_ERR(rkv_consumer_acquire(c, &x, 0), EBUSY);
	CHECK_ERR(rkv_consumer_acquire(c, &x, 10 * MS), EBUSY);
	struct rkv_consumer_stats cs = cstats(c);
	CHECK_UINT(cs.outstanding, ==, 3);
	CHECK_UINT(cs.received, ==, 2);

	/* release: a made-up view, another consumer's, twice */
	struct rkv_view bogus;
	memset(&bogus, 0, sizeof bogus);
	CHECK_ERR(rkv_consumer_release(c, &bogus), EINVAL);
	bogus = v;
	bogus.slot = 8;
	CHECK_ERR(rkv_consumer_release(c, &bogus), EINVAL);
	bogus = v;
	bogus.slot = UINT32_MAX;
	CHECK_ERR(rkv_consumer_release(c, &bogus), EINVAL);
	bogus = v;
	bogus.token ^= 0x8000;
	CHECK_ERR(rkv_consumer_release(c, &bogus), EINVAL);
	bogus = v;
	bogus.slot = (v.slot + 1) % 8;
	if (bogus.slot == w.slot)
		bogus.slot = (bogus.slot + 1) % 8;
	CHECK_ERR(rkv_consumer_release(c, &bogus), EINVAL);
	rkv_consumer *other = attach(name, cons_opts(RKV_POLICY_DROP, 1, 1)); /* holds nothing */
	CHECK_ERR(rkv_consumer_release(other, &v), EINVAL);
	rkv_consumer_detach(other);

	struct rkv_view again = v;
	CHECK_OK(rkv_consumer_release(c, &v));
	CHECK_ERR(rkv_consumer_release(c, &again), EINVAL);
	check_view(&w, 2); /* the other one held is still whole */
	CHECK_OK(rkv_consumer_acquire(c, &x, 0));
	check_view(&x, 3);
	CHECK_OK(rkv_consumer_release(c, &w));
	CHECK_OK(rkv_consumer_release(c, &x));
	CHECK_ERR(rkv_consumer_release(c, &x), EINVAL);
	check_empty(c);
	cs = cstats(c);
	CHECK_UINT(cs.outstanding, ==, 0);
	CHECK_UINT(cs.received, ==, 3);
	CHECK_EQ(rkv__producer_free_slots(p), 8);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

/* A thread blocked in acquire, and what it got. */
struct waiter {
	rkv_consumer *c;
	int64_t timeout_ns;
	struct rkv_view v;
	int r;
};

static void *acquire_thread(void *arg)
{
	struct waiter *w = arg;
	w->r = rkv_consumer_acquire(w->c, &w->v, w->timeout_ns);
	return NULL;
}

static void test_acquire_wakes(void)
{
	char name[NAMELEN];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "wake"), 8, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));
	struct waiter w = { .c = c, .timeout_ns = RKV_WAIT_FOREVER, .r = 1 };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, acquire_thread, &w), 0);
	sleep_ns(50 * MS);
	CHECK_EQ(publish_seq(p, 9), 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_OK(w.r);
	check_view(&w.v, 9);
	CHECK_OK(rkv_consumer_release(c, &w.v));
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

/* ---- the producer goes away --------------------------------------------- */

static void test_producer_gone(void)
{
	char name[NAMELEN];
	struct rkv_view v1, v2, v3, x;
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "gone"), 9, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_DROP, 4, 2));
	rkv_consumer *idle = attach(name, cons_opts(RKV_POLICY_LATEST, 0, 1));

	CHECK_EQ(publish_seq(p, 1), 2);
	CHECK_EQ(publish_seq(p, 2), 2);
	CHECK_EQ(publish_seq(p, 3), 2);
	take(idle, 3);
	CHECK_OK(rkv_consumer_acquire(c, &v1, 0));

	/* a thread waiting forever on the idle consumer wakes with -EPIPE */
	struct waiter w = { .c = idle, .timeout_ns = RKV_WAIT_FOREVER, .r = 1 };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, acquire_thread, &w), 0);
	sleep_ns(50 * MS);
	rkv_producer_destroy(p);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_ERR(w.r, EPIPE);

	/* the fd says so too */
	struct pollfd pfd = { .fd = rkv_consumer_fd(idle), .events = POLLIN };
	CHECK_INT(pfd.fd, >=, 0);
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	CHECK(pfd.revents & (POLLIN | POLLHUP));
	CHECK_ERR(rkv_consumer_acquire(idle, &x, 0), EPIPE);
	CHECK_ERR(rkv_consumer_acquire(idle, &x, RKV_WAIT_FOREVER), EPIPE);

	/* the held frame is still there and whole */
	check_view(&v1, 1);
	/* what was queued before destroy is still delivered */
	CHECK_OK(rkv_consumer_acquire(c, &v2, 0));
	check_view(&v2, 2);
	CHECK_OK(rkv_consumer_release(c, &v1));
	CHECK_OK(rkv_consumer_acquire(c, &v3, RKV_WAIT_FOREVER));
	check_view(&v3, 3);
	/* drained: -EPIPE, never a hang */
	CHECK_ERR(rkv_consumer_release(c, &v1), EINVAL);
	CHECK_OK(rkv_consumer_release(c, &v2));
	CHECK_ERR(rkv_consumer_acquire(c, &x, 0), EPIPE);
	CHECK_ERR(rkv_consumer_acquire(c, &x, 100 * MS), EPIPE);
	CHECK_ERR(rkv_consumer_acquire(c, &x, RKV_WAIT_FOREVER), EPIPE);
	check_view(&v3, 3);
	struct rkv_pool_stats ps;
	CHECK_OK(rkv_consumer_pool_stats(c, &ps, sizeof(*(&ps))));
	CHECK_UINT(ps.closed, ==, 1);
	CHECK_UINT(ps.published, ==, 3);
	CHECK_OK(rkv_consumer_release(c, &v3));
	CHECK_ERR(rkv_consumer_acquire(c, &x, 0), EPIPE);

	/* the name is free for a new producer while the old consumers linger */
	ATTACH_FAILS(name, cons_opts(RKV_POLICY_DROP, 1, 1), ENOENT);
	CHECK_ERR(rkv_pool_stats(name, &ps, sizeof(*(&ps)), NULL, 0, 0), ENOENT);
	p = mkpool(name, 4, 1);
	rkv_consumer *fresh = attach(name, cons_opts(RKV_POLICY_DROP, 1, 1));
	CHECK_EQ(publish_seq(p, 11), 1);
	take(fresh, 11);
	/* the old attachments are not the new pool's */
	CHECK_ERR(rkv_consumer_acquire(c, &x, 0), EPIPE);
	CHECK_ERR(rkv_consumer_acquire(idle, &x, 0), EPIPE);
	rkv_consumer_detach(c);
	rkv_consumer_detach(idle);
	rkv_consumer_detach(fresh);
	rkv_producer_destroy(p);
}

/* ---- the poll descriptor ------------------------------------------------ */

static int readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n = poll(&pfd, 1, timeout_ms);
	CHECK_INT(n, >=, 0);
	return n > 0 && (pfd.revents & POLLIN);
}

struct poller {
	int fd;
	int got;
};

static void *poll_thread(void *arg)
{
	struct poller *pl = arg;
	pl->got = readable(pl->fd, 5000);
	return NULL;
}

static void test_fd(void)
{
	char name[NAMELEN];
	struct rkv_view v;
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "fd"), 8, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));
	int fd = rkv_consumer_fd(c);
	CHECK_INT(fd, >=, 0);
	CHECK_EQ(rkv_consumer_fd(c), fd);

	/* drained and re-armed: not readable */
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	CHECK(!readable(fd, 0));
	/* a frame makes it readable */
	CHECK_EQ(publish_seq(p, 1), 1);
	CHECK(readable(fd, 2000));
	CHECK_OK(rkv_consumer_acquire(c, &v, 0));
	CHECK_OK(rkv_consumer_release(c, &v));
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	CHECK(!readable(fd, 0));
	CHECK(!readable(fd, 20));

	/* two frames, one wake-up: both are there to take */
	CHECK_EQ(publish_seq(p, 2), 1);
	CHECK_EQ(publish_seq(p, 3), 1);
	CHECK(readable(fd, 2000));
	take(c, 2);
	take(c, 3);
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	CHECK(!readable(fd, 0));

	/* a poller sleeping in another thread is woken by a publish */
	struct poller pl = { .fd = fd, .got = -1 };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, poll_thread, &pl), 0);
	sleep_ns(50 * MS);
	CHECK_EQ(publish_seq(p, 4), 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pl.got, 1);
	take(c, 4);
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	CHECK(!readable(fd, 0));

	/* a latest consumer's descriptor too */
	rkv_consumer *l = attach(name, cons_opts(RKV_POLICY_LATEST, 0, 1));
	int lfd = rkv_consumer_fd(l);
	CHECK_INT(lfd, >=, 0);
	CHECK_INT(lfd, !=, fd);
	CHECK_ERR(rkv_consumer_acquire(l, &v, 0), EAGAIN);
	CHECK(!readable(lfd, 0));
	CHECK_EQ(publish_seq(p, 5), 2);
	CHECK(readable(lfd, 2000));
	take(l, 5);
	CHECK_ERR(rkv_consumer_acquire(l, &v, 0), EAGAIN);
	CHECK(!readable(lfd, 0));
	take(c, 5);

	rkv_consumer_detach(l);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

/* ---- policies ----------------------------------------------------------- */

/* Acquire @n frames (waiting), release each, note their seqs. */
struct reader {
	rkv_consumer *c;
	int64_t start_delay_ns;
	int n;
	uint64_t seqs[64];
	int got;
	int r;
};

static void *reader_thread(void *arg)
{
	struct reader *rd = arg;
	sleep_ns(rd->start_delay_ns);
	rd->r = 0;
	for (rd->got = 0; rd->got < rd->n; rd->got++) {
		struct rkv_view v;
		int r = rkv_consumer_acquire(rd->c, &v, 5000 * MS);
		if (r < 0) {
			rd->r = r;
			break;
		}
		rd->seqs[rd->got] = v.frame.seq;
		sleep_ns(2 * MS); /* a slow reader */
		r = rkv_consumer_release(rd->c, &v);
		if (r < 0) {
			rd->r = r;
			break;
		}
	}
	return NULL;
}

/*
 * The fd before any acquire: a frame already queued makes it readable at
 * once, and a poll started right after taking the fd is woken by the next
 * publish. Polling with acquire(0) and no fd never asks the producer to
 * signal (consumer_waiting stays clear), so it costs the producer no syscall.
 */
static void test_fd_first(void)
{
	char name[NAMELEN];
	struct rkv_view v;
	void *base;
	uint64_t size;
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "fd1"), 8, 1);
	rkv_consumer *a = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));
	rkv_consumer *b = attach(name, cons_opts(RKV_POLICY_LATEST, 0, 1));

	CHECK_ERR(rkv_consumer_acquire(a, &v, 0), EAGAIN);
	CHECK_OK(rkv__consumer_chan_area(a, &base, &size));
	CHECK_EQ(__atomic_load_n(&((struct rkv_wire_chan *)base)->consumer_waiting, __ATOMIC_RELAXED), 0);

	CHECK_EQ(publish_seq(p, 1), 2);
	int fa = rkv_consumer_fd(a);
	CHECK_INT(fa, >=, 0);
	CHECK(readable(fa, 0));
	take(a, 1);

	int fb = rkv_consumer_fd(b);
	CHECK_INT(fb, >=, 0);
	CHECK(readable(fb, 0)); /* frame 1 waits in its mailbox */
	take(b, 1);
	CHECK_ERR(rkv_consumer_acquire(b, &v, 0), EAGAIN);
	CHECK(!readable(fb, 0));

	struct poller pl = { .fd = fa, .got = -1 };
	pthread_t t;
	CHECK_ERR(rkv_consumer_acquire(a, &v, 0), EAGAIN);
	CHECK_EQ(pthread_create(&t, NULL, poll_thread, &pl), 0);
	sleep_ns(50 * MS);
	CHECK_EQ(publish_seq(p, 2), 2);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pl.got, 1);
	CHECK(readable(fb, 2000));
	take(a, 2);
	take(b, 2);
	rkv_consumer_detach(a);
	rkv_consumer_detach(b);
	rkv_producer_destroy(p);
}

static void test_block(void)
{
	char name[NAMELEN];
	struct rkv_pool_opts o = pool_opts(4, 1);
	o.block_timeout_ns = RKV_WAIT_FOREVER;
	rkv_producer *p = mkpool_opts(test_pool_name(name, sizeof name, "block"), &o);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_BLOCK, 2, 1));

	CHECK_EQ(publish_seq(p, 1), 1);
	CHECK_EQ(publish_seq(p, 2), 1);
	CHECK_UINT(pstats(p).producer_waits, ==, 0);
	/* full: the next publish waits for the reader, which starts late */
	struct reader rd = { .c = c, .start_delay_ns = 100 * MS, .n = 10 };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, reader_thread, &rd), 0);
	int64_t t0 = test_now_ns();
	CHECK_EQ(publish_seq(p, 3), 1);
	CHECK_INT(test_now_ns() - t0, >=, 50 * MS);
	CHECK_UINT(pstats(p).producer_waits, >=, 1);
	/* and every frame arrives, in order */
	for (uint64_t s = 4; s <= 10; s++)
		CHECK_EQ(publish_seq(p, s), 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_OK(rd.r);
	CHECK_EQ(rd.got, 10);
	for (int i = 0; i < 10; i++)
		CHECK_UINT(rd.seqs[i], ==, (uint64_t)i + 1);
	struct rkv_consumer_stats cs = cstats(c);
	CHECK_UINT(cs.delivered, ==, 10);
	CHECK_UINT(cs.received, ==, 10);
	CHECK_UINT(cs.dropped, ==, 0);
	CHECK_UINT(cs.policy, ==, RKV_POLICY_BLOCK);
	struct rkv_pool_stats ps = pstats(p);
	CHECK_UINT(ps.block_timeouts, ==, 0);
	CHECK_UINT(ps.published, ==, 10);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);

	/* the block timeout: the frame is missed, and counted */
	o = pool_opts(3, 1);
	o.block_timeout_ns = 40 * MS;
	p = mkpool_opts(test_pool_name(name, sizeof name, "blockto"), &o);
	c = attach(name, cons_opts(RKV_POLICY_BLOCK, 1, 1));
	CHECK_EQ(publish_seq(p, 1), 1);
	t0 = test_now_ns();
	CHECK_EQ(publish_seq(p, 2), 0);
	CHECK_INT(test_now_ns() - t0, >=, 30 * MS);
	ps = pstats(p);
	CHECK_UINT(ps.block_timeouts, ==, 1);
	CHECK_UINT(ps.published, ==, 2);
	cs = cstats(c);
	CHECK_UINT(cs.dropped, ==, 1);
	CHECK_UINT(cs.delivered, ==, 1);
	take(c, 1);
	check_empty(c);
	CHECK_EQ(publish_seq(p, 3), 1);
	take(c, 3);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

static void test_drop(void)
{
	char name[NAMELEN];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "drop"), 4, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));

	CHECK_EQ(publish_seq(p, 1), 1);
	CHECK_EQ(publish_seq(p, 2), 1);
	CHECK_EQ(publish_seq(p, 3), 0);
	CHECK_EQ(publish_seq(p, 4), 0);
	CHECK_EQ(publish_seq(p, 5), 0);
	struct rkv_pool_stats ps = pstats(p);
	CHECK_UINT(ps.producer_waits, ==, 0);
	CHECK_UINT(ps.block_timeouts, ==, 0);
	CHECK_UINT(ps.published, ==, 5);
	CHECK_UINT(ps.slots_free, ==, 2);
	struct rkv_consumer_stats cs = cstats(c);
	CHECK_UINT(cs.delivered, ==, 2);
	CHECK_UINT(cs.dropped, ==, 3);
	CHECK_UINT(cs.received, ==, 0);
	CHECK_UINT(cs.outstanding, ==, 2);
	/* the queued ones are the oldest; the newer ones were missed */
	take(c, 1);
	take(c, 2);
	check_empty(c);
	CHECK_EQ(publish_seq(p, 6), 1);
	take(c, 6);
	cs = cstats(c);
	CHECK_UINT(cs.received, ==, 3);
	CHECK_UINT(cs.dropped, ==, 3);
	CHECK_UINT(cs.delivered, ==, 3);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

static void test_latest(void)
{
	char name[NAMELEN];
	struct rkv_view v;
	/* 1 loan + 1 mailbox + 1 held */
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "latest"), 3, 1);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_LATEST, 0, 1));

	for (uint64_t s = 1; s <= 5; s++)
		CHECK_EQ(publish_seq(p, s), 1);
	struct rkv_consumer_stats cs = cstats(c);
	CHECK_UINT(cs.replaced, ==, 4);
	CHECK_UINT(cs.delivered, ==, 5);
	CHECK_UINT(cs.dropped, ==, 0);
	CHECK_UINT(cs.outstanding, ==, 1);
	CHECK_UINT(cs.queue_depth, ==, 1);
	CHECK_UINT(pstats(p).slots_free, ==, 2); /* replaced ones came straight back */
	CHECK_UINT(pstats(p).producer_waits, ==, 0);
	CHECK_OK(rkv_consumer_acquire(c, &v, 0));
	check_view(&v, 5);

	/* while 5 is held: 6 then 7 arrive, 7 replaces 6 */
	CHECK_EQ(publish_seq(p, 6), 1);
	CHECK_EQ(publish_seq(p, 7), 1);
	CHECK_UINT(cstats(c).replaced, ==, 5);
	check_view(&v, 5); /* not overwritten */
	struct rkv_view w;
	CHECK_ERR(rkv_consumer_acquire(c, &w, 0), EBUSY);
	CHECK_OK(rkv_consumer_release(c, &v));
	take(c, 7);
	check_empty(c);
	cs = cstats(c);
	CHECK_UINT(cs.received, ==, 2);
	CHECK_UINT(cs.delivered, ==, 7);
	CHECK_UINT(cs.outstanding, ==, 0);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

static void test_group(void)
{
	char name[NAMELEN];
	struct rkv_view va, vb;
	/* group depth 4 + 2 members held 1 + loan 1 = 7 */
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "group"), 7, 1);
	struct rkv_consumer_opts go = cons_opts(RKV_POLICY_GROUP, 4, 1);
	go.group = "workers";
	go.label = "a";
	rkv_consumer *a = attach(name, go);
	go.label = "b";
	rkv_consumer *b = attach(name, go);

	for (uint64_t s = 1; s <= 4; s++)
		CHECK_EQ(publish_seq(p, s), 1);
	/* a and b take turns; each frame goes to exactly one of them */
	int seen[5] = { 0 };
	for (int round = 0; round < 2; round++) {
		CHECK_OK(rkv_consumer_acquire(a, &va, 0));
		CHECK_OK(rkv_consumer_acquire(b, &vb, 0));
		CHECK_UINT(va.frame.seq, !=, vb.frame.seq);
		CHECK(va.frame.seq >= 1 && va.frame.seq <= 4);
		CHECK(vb.frame.seq >= 1 && vb.frame.seq <= 4);
		check_view(&va, va.frame.seq);
		check_view(&vb, vb.frame.seq);
		seen[va.frame.seq]++;
		seen[vb.frame.seq]++;
		CHECK_OK(rkv_consumer_release(a, &va));
		CHECK_OK(rkv_consumer_release(b, &vb));
	}
	for (int s = 1; s <= 4; s++)
		CHECK_EQ(seen[s], 1);
	check_empty(a);
	check_empty(b);
	struct rkv_consumer_stats sa = cstats(a), sb = cstats(b);
	CHECK_UINT(sa.received, ==, 2);
	CHECK_UINT(sb.received, ==, 2);
	CHECK_UINT(sa.delivered, ==, 2);
	CHECK_UINT(sb.delivered, ==, 2);
	CHECK_UINT(sa.outstanding, ==, 0);
	CHECK_UINT(sb.outstanding, ==, 0);
	CHECK_UINT(sa.policy, ==, RKV_POLICY_GROUP);
	CHECK_STR(sa.group, "workers");
	CHECK_STR(sb.group, "workers");
	CHECK_STR(sa.label, "a");
	CHECK_STR(sb.label, "b");
	CHECK_UINT(sa.id, !=, sb.id);
	CHECK_EQ(rkv__producer_free_slots(p), 7);

	/* one member alone takes everything */
	for (uint64_t s = 5; s <= 8; s++)
		CHECK_EQ(publish_seq(p, s), 1);
	for (uint64_t s = 5; s <= 8; s++)
		take(b, s);
	check_empty(a);
	rkv_consumer_detach(a);
	rkv_consumer_detach(b);
	rkv_producer_destroy(p);

	/* two threads, GROUP_BLOCK: every frame exactly once between them */
	p = mkpool(test_pool_name(name, sizeof name, "groupt"), 7, 1);
	go = cons_opts(RKV_POLICY_GROUP, 4, 1);
	go.group = "pair";
	go.flags = RKV_GROUP_BLOCK;
	a = attach(name, go);
	b = attach(name, go);
	enum { N = 60 };
	struct reader ra = { .c = a, .n = N / 2 }, rb = { .c = b, .n = N / 2 };
	pthread_t ta, tb;
	CHECK_EQ(pthread_create(&ta, NULL, reader_thread, &ra), 0);
	CHECK_EQ(pthread_create(&tb, NULL, reader_thread, &rb), 0);
	for (uint64_t s = 1; s <= N; s++)
		CHECK_EQ(publish_seq(p, s), 1);
	/* each reader stops after N/2 or a 5 s drought; the shares may differ */
	CHECK_EQ(pthread_join(ta, NULL), 0);
	CHECK_EQ(pthread_join(tb, NULL), 0);
	CHECK_EQ(ra.got + rb.got, N);
	int once[N + 1] = { 0 };
	for (int i = 0; i < ra.got; i++)
		once[ra.seqs[i]]++;
	for (int i = 0; i < rb.got; i++)
		once[rb.seqs[i]]++;
	for (int s = 1; s <= N; s++)
		CHECK_EQ(once[s], 1);
	CHECK_UINT(pstats(p).block_timeouts, ==, 0);
	rkv_consumer_detach(a);
	rkv_consumer_detach(b);
	rkv_producer_destroy(p);
}

static void test_spin(void)
{
	char name[NAMELEN];
	struct rkv_view v;
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "spin"), 8, 1);
	struct rkv_consumer_opts o = cons_opts(RKV_POLICY_DROP, 2, 1);
	o.spin_ns = 2 * MS;
	rkv_consumer *c = attach(name, o);
	o = cons_opts(RKV_POLICY_LATEST, 0, 1);
	o.spin_ns = 100 * MS; /* longer than the timeouts below */
	rkv_consumer *l = attach(name, o);

	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	CHECK_ERR(rkv_consumer_acquire(l, &v, 0), EAGAIN);
	int64_t t0 = test_now_ns();
	CHECK_ERR(rkv_consumer_acquire(c, &v, 20 * MS), ETIMEDOUT);
	CHECK_INT(test_now_ns() - t0, >=, 15 * MS);
	CHECK_ERR(rkv_consumer_acquire(l, &v, 20 * MS), ETIMEDOUT);
	CHECK_EQ(publish_seq(p, 1), 2);
	take(c, 1);
	take(l, 1);

	/* sleeping past the spin, then woken */
	struct waiter w = { .c = c, .timeout_ns = 5000 * MS, .r = 1 };
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, acquire_thread, &w), 0);
	sleep_ns(50 * MS);
	CHECK_EQ(publish_seq(p, 2), 2);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_OK(w.r);
	check_view(&w.v, 2);
	CHECK_OK(rkv_consumer_release(c, &w.v));
	/* caught while spinning */
	w = (struct waiter){ .c = l, .timeout_ns = 5000 * MS, .r = 1 };
	take(l, 2);
	CHECK_EQ(pthread_create(&t, NULL, acquire_thread, &w), 0);
	sleep_ns(10 * MS);
	CHECK_EQ(publish_seq(p, 3), 2);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_OK(w.r);
	check_view(&w.v, 3);
	CHECK_OK(rkv_consumer_release(l, &w.v));
	take(c, 3);
	rkv_consumer_detach(c);
	rkv_consumer_detach(l);
	rkv_producer_destroy(p);
}

/* ---- counters after a known sequence ------------------------------------ */

static const struct rkv_consumer_stats *find_label(const struct rkv_consumer_stats *cs, int n,
						   const char *label)
{
	for (int i = 0; i < n; i++)
		if (strcmp(cs[i].label, label) == 0)
			return &cs[i];
	FAIL("no consumer labelled \"%s\" in the observer's list", label);
}

static void same_consumer_stats(const struct rkv_consumer_stats *a,
				const struct rkv_consumer_stats *b)
{
	CHECK_UINT(a->id, ==, b->id);
	CHECK_UINT(a->policy, ==, b->policy);
	CHECK_INT(a->pid, ==, b->pid);
	CHECK_UINT(a->queue_depth, ==, b->queue_depth);
	CHECK_UINT(a->max_held, ==, b->max_held);
	CHECK_UINT(a->outstanding, ==, b->outstanding);
	CHECK_UINT(a->delivered, ==, b->delivered);
	CHECK_UINT(a->received, ==, b->received);
	CHECK_UINT(a->dropped, ==, b->dropped);
	CHECK_UINT(a->replaced, ==, b->replaced);
	CHECK_STR(a->label, b->label);
	CHECK_STR(a->group, b->group);
	CHECK_UINT(a->lag, ==, b->lag);
	CHECK_UINT(a->last_seq, ==, b->last_seq);
	CHECK((a->queued_age_ns > 0) == (b->queued_age_ns > 0));
}

static void same_pool_stats(const struct rkv_pool_stats *a, const struct rkv_pool_stats *b)
{
	CHECK_UINT(a->published, ==, b->published);
	CHECK_UINT(a->producer_waits, ==, b->producer_waits);
	CHECK_UINT(a->refused, ==, b->refused);
	CHECK_UINT(a->block_timeouts, ==, b->block_timeouts);
	CHECK_UINT(a->evictions, ==, b->evictions);
	CHECK_UINT(a->slot_capacity, ==, b->slot_capacity);
	CHECK_UINT(a->slot_count, ==, b->slot_count);
	CHECK_UINT(a->slots_free, ==, b->slots_free);
	CHECK_UINT(a->consumers, ==, b->consumers);
	CHECK_UINT(a->max_consumers, ==, b->max_consumers);
	CHECK_INT(a->producer_pid, ==, b->producer_pid);
	CHECK_UINT(a->closed, ==, b->closed);
}

static void test_stats(void)
{
	char name[NAMELEN];
	struct rkv_view a1, a2, b1;
	struct rkv_pool_opts o = pool_opts(8, 1);
	o.max_consumers = 4;
	rkv_producer *p = mkpool_opts(test_pool_name(name, sizeof name, "stats"), &o);

	struct rkv_pool_stats ps = pstats(p);
	CHECK_UINT(ps.published, ==, 0);
	CHECK_UINT(ps.slot_count, ==, 8);
	CHECK_UINT(ps.slot_capacity, ==, CAP);
	CHECK_UINT(ps.slots_free, ==, 8);
	CHECK_UINT(ps.consumers, ==, 0);
	CHECK_UINT(ps.max_consumers, ==, 4);
	CHECK_INT(ps.producer_pid, ==, getpid());
	CHECK_UINT(ps.closed, ==, 0);
	CHECK_EQ(rkv_pool_stats(name, NULL, 0, NULL, 0, 0), 0);

	/* drop 3 + 2 held = 5, latest 2, loan 1: 8 */
	struct rkv_consumer_opts co = cons_opts(RKV_POLICY_DROP, 3, 2);
	co.label = "alpha";
	rkv_consumer *a = attach(name, co);
	co = cons_opts(RKV_POLICY_LATEST, 0, 0);
	co.label = "beta";
	rkv_consumer *b = attach(name, co);

	/* a gets 1..3 and misses 4; b's mailbox ends with 4 */
	CHECK_EQ(publish_seq(p, 1), 2);
	CHECK_EQ(publish_seq(p, 2), 2);
	CHECK_EQ(publish_seq(p, 3), 2);
	CHECK_EQ(publish_seq(p, 4), 1);
	CHECK_OK(rkv_consumer_acquire(a, &a1, 0));
	CHECK_OK(rkv_consumer_acquire(a, &a2, 0));
	CHECK_OK(rkv_consumer_acquire(b, &b1, 0));
	check_view(&a1, 1);
	check_view(&a2, 2);
	check_view(&b1, 4);

	struct rkv_consumer_stats sa = cstats(a), sb = cstats(b);
	CHECK_UINT(sa.policy, ==, RKV_POLICY_DROP);
	CHECK_INT(sa.pid, ==, getpid());
	CHECK_UINT(sa.queue_depth, ==, 3);
	CHECK_UINT(sa.max_held, ==, 2);
	CHECK_UINT(sa.outstanding, ==, 3);
	CHECK_UINT(sa.delivered, ==, 3);
	CHECK_UINT(sa.received, ==, 2);
	CHECK_UINT(sa.dropped, ==, 1);
	CHECK_UINT(sa.replaced, ==, 0);
	CHECK_STR(sa.label, "alpha");
	CHECK_STR(sa.group, "");
	CHECK_UINT(sb.policy, ==, RKV_POLICY_LATEST);
	CHECK_INT(sb.pid, ==, getpid());
	CHECK_UINT(sb.queue_depth, ==, 1);
	CHECK_UINT(sb.max_held, ==, 1);
	CHECK_UINT(sb.outstanding, ==, 1);
	CHECK_UINT(sb.delivered, ==, 4);
	CHECK_UINT(sb.received, ==, 1);
	CHECK_UINT(sb.dropped, ==, 0);
	CHECK_UINT(sb.replaced, ==, 3);
	CHECK_STR(sb.label, "beta");
	CHECK_STR(sb.group, "");
	CHECK_UINT(sa.id, !=, sb.id);
	/* a has 2 (3 waits, 4 missed); b has the newest */
	CHECK_UINT(sa.lag, ==, 2);
	CHECK_UINT(sa.last_seq, ==, 2);
	CHECK_INT(sa.queued_age_ns, >, 0);
	CHECK_UINT(sb.lag, ==, 0);
	CHECK_UINT(sb.last_seq, ==, 4);
	CHECK_INT(sb.queued_age_ns, ==, 0);

	ps = pstats(p);
	CHECK_UINT(ps.published, ==, 4);
	CHECK_UINT(ps.producer_waits, ==, 0);
	CHECK_UINT(ps.refused, ==, 0);
	CHECK_UINT(ps.block_timeouts, ==, 0);
	CHECK_UINT(ps.evictions, ==, 0);
	CHECK_UINT(ps.slots_free, ==, 4); /* 1, 2 held; 3 queued; 4 held by b */
	CHECK_UINT(ps.consumers, ==, 2);
	CHECK_EQ(rkv__producer_free_slots(p), 4);

	/* the same numbers seen from a consumer and from an observer */
	struct rkv_pool_stats cps, ops;
	CHECK_OK(rkv_consumer_pool_stats(a, &cps, sizeof(*(&cps))));
	same_pool_stats(&cps, &ps);
	CHECK_OK(rkv_consumer_pool_stats(b, &cps, sizeof(*(&cps))));
	same_pool_stats(&cps, &ps);
	struct rkv_consumer_stats list[4];
	memset(list, 0xff, sizeof list);
	CHECK_EQ(rkv_pool_stats(name, &ops, sizeof(*(&ops)), list, 4, sizeof(*(list))), 2);
	same_pool_stats(&ops, &ps);
	same_consumer_stats(find_label(list, 2, "alpha"), &sa);
	same_consumer_stats(find_label(list, 2, "beta"), &sb);
	/* fewer entries than consumers: still the whole count */
	memset(list, 0, sizeof list);
	CHECK_EQ(rkv_pool_stats(name, NULL, 0, list, 1, sizeof(*(list))), 2);
	CHECK(strcmp(list[0].label, "alpha") == 0 || strcmp(list[0].label, "beta") == 0);
	CHECK_UINT(list[1].id, ==, 0);
	CHECK_STR(list[1].label, "");
	CHECK_EQ(rkv_pool_stats(name, NULL, 0, NULL, 0, 0), 2);

	/* releases show in the counters */
	CHECK_OK(rkv_consumer_release(a, &a1));
	CHECK_OK(rkv_consumer_release(b, &b1));
	sa = cstats(a);
	CHECK_UINT(sa.outstanding, ==, 2);
	ps = pstats(p);
	CHECK_UINT(ps.slots_free, ==, 6);
	CHECK_EQ(rkv_pool_stats(name, &ops, sizeof(*(&ops)), list, 4, sizeof(*(list))), 2);
	CHECK_UINT(ops.slots_free, ==, 6);
	same_consumer_stats(find_label(list, 2, "alpha"), &sa);

	/* a detach returns what it pinned (frame 2 held, 3 queued); b gave 4 back */
	rkv_consumer_detach(a);
	wait_consumer_count(p, 1);
	ps = pstats(p);
	CHECK_UINT(ps.slots_free, ==, 8);
	CHECK_UINT(ps.consumers, ==, 1);
	CHECK_EQ(rkv_pool_stats(name, NULL, 0, list, 4, sizeof(*(list))), 1);
	CHECK_STR(list[0].label, "beta");
	rkv_consumer_detach(b);
	wait_consumer_count(p, 0);
	CHECK_EQ(rkv_pool_stats(name, NULL, 0, NULL, 0, 0), 0);
	rkv_producer_destroy(p);
	CHECK_ERR(rkv_pool_stats(name, NULL, 0, NULL, 0, 0), ENOENT);
}

/* The observer's entry for the consumer labelled @label. */
static struct rkv_consumer_stats observed(const char *name, const char *label)
{
	struct rkv_consumer_stats list[8];
	memset(list, 0xff, sizeof list);
	int n = rkv_pool_stats(name, NULL, 0, list, 8, sizeof(*(list)));
	CHECK(n > 0 && n <= 8);
	return *find_label(list, n, label);
}

static void same_as_observed(const struct rkv_consumer_stats *s, const char *name,
			     const char *label)
{
	struct rkv_consumer_stats o = observed(name, label);
	same_consumer_stats(s, &o);
}

/*
 * Lag: frames published after the newest frame a consumer acquired. It rises
 * by one a frame while a consumer takes nothing (queued, replaced in its
 * mailbox or dropped alike), is 0 once it has the newest frame, and reads
 * the same from the consumer and from an observer. A group member's is its
 * group's frames not taken yet.
 */
static void test_lag(void)
{
	char name[NAMELEN];
	struct rkv_view v;
	struct rkv_pool_opts o = pool_opts(24, 1);
	rkv_producer *p = mkpool_opts(test_pool_name(name, sizeof name, "lag"), &o);

	/* frames before they attach do not count */
	CHECK_EQ(publish_seq(p, 100), 0);
	rkv_consumer *d = attach_label(name, RKV_POLICY_DROP, 4, 1, "drop");
	rkv_consumer *b = attach_label(name, RKV_POLICY_BLOCK, 8, 1, "block");
	rkv_consumer *l = attach_label(name, RKV_POLICY_LATEST, 0, 1, "latest");
	rkv_consumer *all[3] = { d, b, l };
	const char *labels[3] = { "drop", "block", "latest" };

	for (int k = 0; k < 3; k++) {
		struct rkv_consumer_stats s = cstats(all[k]);
		CHECK_UINT(s.lag, ==, 0);
		CHECK_UINT(s.last_seq, ==, 0);
		CHECK_INT(s.queued_age_ns, ==, 0);
		same_as_observed(&s, name, labels[k]);
	}
	/* nobody takes anything: lag rises with every frame, for the drop
	 * consumer also past its queue's depth */
	for (uint64_t i = 1; i <= 6; i++) {
		publish_seq(p, i);
		for (int k = 0; k < 3; k++) {
			struct rkv_consumer_stats s = cstats(all[k]);
			if (s.lag != i)
				FAIL("%s consumer: lag %" PRIu64 " after %" PRIu64 " frames it did not take",
				     labels[k], s.lag, i);
			CHECK_INT(s.queued_age_ns, >, 0);
			same_as_observed(&s, name, labels[k]);
		}
	}
	CHECK_UINT(cstats(d).dropped, ==, 2);

	/* block takes everything: lag 0, the newest frame's seq */
	for (uint64_t i = 1; i <= 6; i++)
		take(b, i);
	struct rkv_consumer_stats s = cstats(b);
	CHECK_UINT(s.lag, ==, 0);
	CHECK_UINT(s.last_seq, ==, 6);
	CHECK_INT(s.queued_age_ns, ==, 0);
	same_as_observed(&s, name, "block");
	/* latest takes the one in its mailbox, the newest */
	take(l, 6);
	s = cstats(l);
	CHECK_UINT(s.lag, ==, 0);
	CHECK_UINT(s.last_seq, ==, 6);
	CHECK_INT(s.queued_age_ns, ==, 0);
	same_as_observed(&s, name, "latest");
	/* drop takes its queue, 1..4; 5 and 6 passed it by */
	for (uint64_t i = 1; i <= 4; i++)
		take(d, i);
	s = cstats(d);
	CHECK_UINT(s.lag, ==, 2);
	CHECK_UINT(s.last_seq, ==, 4);
	CHECK_INT(s.queued_age_ns, ==, 0);
	same_as_observed(&s, name, "drop");
	/* one more frame, taken by all: everyone caught up */
	publish_seq(p, 7);
	for (int k = 0; k < 3; k++) {
		take(all[k], 7);
		s = cstats(all[k]);
		CHECK_UINT(s.lag, ==, 0);
		CHECK_UINT(s.last_seq, ==, 7);
		same_as_observed(&s, name, labels[k]);
	}
	/* holding a frame is not lagging: lag counts what came after it */
	publish_seq(p, 8);
	CHECK_OK(rkv_consumer_acquire(b, &v, 0));
	CHECK_UINT(cstats(b).lag, ==, 0);
	publish_seq(p, 9);
	CHECK_UINT(cstats(b).lag, ==, 1);
	CHECK_UINT(observed(name, "block").lag, ==, 1);
	CHECK_OK(rkv_consumer_release(b, &v));

	for (int k = 0; k < 3; k++)
		rkv_consumer_detach(all[k]);
	wait_consumer_count(p, 0);

	/* a group: the frames in its queue that no member took yet */
	struct rkv_consumer_opts co = cons_opts(RKV_POLICY_GROUP, 4, 1);
	co.group = "g";
	co.label = "m1";
	rkv_consumer *m1 = attach(name, co);
	co.label = "m2";
	rkv_consumer *m2 = attach(name, co);
	for (uint64_t i = 10; i < 13; i++)
		publish_seq(p, i);
	CHECK_UINT(cstats(m1).lag, ==, 3);
	CHECK_INT(cstats(m1).queued_age_ns, >, 0);
	CHECK_UINT(observed(name, "m2").lag, ==, 3);
	take(m1, 10);
	CHECK_UINT(cstats(m1).lag, ==, 2);
	CHECK_UINT(cstats(m1).last_seq, ==, 10);
	s = observed(name, "m1");
	CHECK_UINT(s.lag, ==, 2);
	CHECK_UINT(s.last_seq, ==, 10);
	CHECK_INT(s.queued_age_ns, >, 0);
	CHECK_UINT(observed(name, "m2").lag, ==, 2);
	take(m2, 11);
	take(m1, 12);
	CHECK_UINT(cstats(m2).lag, ==, 0);
	s = observed(name, "m2");
	CHECK_UINT(s.lag, ==, 0);
	CHECK_UINT(s.last_seq, ==, 11);
	CHECK_INT(s.queued_age_ns, ==, 0);
	rkv_consumer_detach(m1);
	rkv_consumer_detach(m2);
	rkv_producer_destroy(p);
}

/*
 * A consumer writes what it likes into its chan: a ready_head far from
 * anything the producer queued, a mailbox naming no slot it got. The
 * producer's lag for it stays within the frames published since it
 * attached, and nothing breaks (the next publish evicts the scribbler).
 */
static void test_lag_hostile(void)
{
	static const uint64_t heads[] = { UINT64_MAX, UINT64_MAX - 3, 1ull << 40, 3, 5 };
	char name[NAMELEN];
	struct rkv_pool_opts o = pool_opts(16, 1);
	rkv_producer *p = mkpool_opts(test_pool_name(name, sizeof name, "laghostile"), &o);
	rkv_consumer *r = attach_label(name, RKV_POLICY_DROP, 4, 1, "ring");
	rkv_consumer *m = attach_label(name, RKV_POLICY_LATEST, 0, 1, "mailbox");
	struct rkv_wire_chan *rc, *mc;
	uint64_t size;
	void *base;

	CHECK_OK(rkv__consumer_chan_area(r, &base, &size));
	rc = base;
	CHECK_OK(rkv__consumer_chan_area(m, &base, &size));
	mc = base;
	for (uint64_t i = 1; i <= 3; i++)
		publish_seq(p, i);
	take(r, 1); /* its head is 1 of 3 now */

	for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
		STORE_REL(&rc->ready_head, heads[k]);
		struct rkv_consumer_stats s = observed(name, "ring");
		if (s.lag > 3)
			FAIL("ready_head %#" PRIx64 ": lag %" PRIu64 ", more than the 3 frames published",
			     heads[k], s.lag);
		CHECK_UINT(s.last_seq, <=, 3);
		CHECK_INT(s.queued_age_ns, >=, 0);
	}
	static const uint64_t boxes[] = { RKV_ENTRY(2, 9999), RKV_ENTRY(UINT32_MAX, 0), 0 };
	for (size_t k = 0; k < sizeof boxes / sizeof boxes[0]; k++) {
		STORE_REL(&mc->mailbox, boxes[k]);
		struct rkv_consumer_stats s = observed(name, "mailbox");
		CHECK_UINT(s.lag, <=, 3);
		CHECK_UINT(s.last_seq, <=, 3);
		/* its own figures, read by itself, do not trip over the slot
		 * number either */
		s = cstats(m);
		CHECK_UINT(s.lag, <=, 3);
	}
	/* publishing goes on; the scribblers are evicted, the pool is fine */
	publish_seq(p, 4);
	publish_seq(p, 5);
	CHECK_UINT(pstats(p).evictions, ==, 2);
	CHECK_EQ(rkv__producer_free_slots(p), 16);
	rkv_consumer_detach(r);
	rkv_consumer_detach(m);
	rkv_producer_destroy(p);
}

struct lag_reader {
	rkv_consumer *c;
	int stop; /* atomic */
	uint64_t reads; /* atomic */
};

/* Read a consumer's stats in a loop, from a thread that is not its
 * acquirer's: what pool.h allows. */
static void *lag_reader_thread(void *arg)
{
	struct lag_reader *lr = arg;
	while (!__atomic_load_n(&lr->stop, __ATOMIC_ACQUIRE)) {
		struct rkv_consumer_stats s;
		CHECK_OK(rkv_consumer_stats(lr->c, &s, sizeof s));
		CHECK_INT(s.queued_age_ns, >=, 0);
		__atomic_store_n(&lr->reads, lr->reads + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * The consumer's figures are read while its acquiring thread takes frames
 * and gives them back, and the producer rewrites those slots: the age comes
 * from the descriptor of a slot the reader does not hold (a mailbox's, the
 * head of a queue). ThreadSanitizer saw that as a race with the producer's
 * plain write of the descriptor until its capture time was stored alone,
 * atomically.
 */
static void test_lag_threads(void)
{
	char name[NAMELEN];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "lagthr"), 8, 1);
	static const uint32_t pol[2] = { RKV_POLICY_LATEST, RKV_POLICY_DROP };

	for (int k = 0; k < 2; k++) {
		struct lag_reader lr = { .c = attach(name, cons_opts(pol[k], 2, 1)) };
		pthread_t t;
		CHECK_EQ(pthread_create(&t, NULL, lag_reader_thread, &lr), 0);
		/* 4000 frames, and on until the reader has read 200 times */
		for (uint64_t i = 1; i <= 4000 || __atomic_load_n(&lr.reads, __ATOMIC_RELAXED) < 200;
		     i++) {
			struct rkv_view v;
			publish_seq(p, i);
			if (rkv_consumer_acquire(lr.c, &v, 0) == 0)
				CHECK_OK(rkv_consumer_release(lr.c, &v));
		}
		__atomic_store_n(&lr.stop, 1, __ATOMIC_RELEASE);
		CHECK_EQ(pthread_join(t, NULL), 0);
		CHECK_UINT(lr.reads, >, 0);
		rkv_consumer_detach(lr.c);
		wait_consumer_count(p, 0);
	}
	rkv_producer_destroy(p);
}

/*
 * A program built before lag was appended passes the older struct size:
 * both stats calls take it, fill what it knows and write nothing past it.
 */
static void test_stats_old_size(void)
{
	char name[NAMELEN];
	const size_t old = offsetof(struct rkv_consumer_stats, lag);
	struct rkv_pool_opts o = pool_opts(8, 1);
	rkv_producer *p = mkpool_opts(test_pool_name(name, sizeof name, "oldsize"), &o);
	rkv_consumer *c = attach_label(name, RKV_POLICY_BLOCK, 2, 1, "old");
	unsigned char buf[3 * sizeof(struct rkv_consumer_stats)];

	publish_seq(p, 1);
	memset(buf, 0xa5, sizeof buf);
	CHECK_OK(rkv_consumer_stats(c, (struct rkv_consumer_stats *)(void *)buf, old));
	for (size_t i = old; i < sizeof buf; i++)
		if (buf[i] != 0xa5)
			FAIL("rkv_consumer_stats with the older size wrote byte %zu", i);
	struct rkv_consumer_stats s;
	memcpy(&s, buf, old);
	CHECK_UINT(s.delivered, ==, 1);
	CHECK_STR(s.label, "old");
	CHECK_ERR(rkv_consumer_stats(c, &s, old - 1), EINVAL);

	/* entries of the older size: one consumer, one entry, nothing after */
	memset(buf, 0xa5, sizeof buf);
	CHECK_EQ(rkv_pool_stats(name, NULL, 0, (struct rkv_consumer_stats *)(void *)buf, 2, old), 1);
	for (size_t i = old; i < sizeof buf; i++)
		if (buf[i] != 0xa5)
			FAIL("rkv_pool_stats with the older size: byte %zu is %#x", i, buf[i]);
	memcpy(&s, buf, old);
	CHECK_STR(s.label, "old");
	CHECK_UINT(s.delivered, ==, 1);
	CHECK_ERR(rkv_pool_stats(name, NULL, 0, &s, 1, old - 1), EINVAL);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

/*
 * Frame data is read-only for a consumer in another process: the mapping
 * is read-only and the memfd is sealed against new writable mappings, so
 * not even mprotect() can make it writable.
 */
static void test_readonly(void)
{
	char name[NAMELEN];
	int go[2];
	test_pool_name(name, sizeof name, "ro");
	CHECK_OK(pipe(go));
	/* Fork first: a child of the producer's process would inherit the
	 * producer's own writable mapping. */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rkv_consumer_opts o = cons_opts(RKV_POLICY_BLOCK, 1, 1);
		rkv_consumer *c = NULL;
		struct rkv_view v;
		char byte;
		if (read(go[0], &byte, 1) != 1)
			_exit(6);
		if (rkv_consumer_attach(name, &o, &c) < 0)
			_exit(2);
		if (rkv_consumer_acquire(c, &v, 5000000000LL) != 0)
			_exit(3);
		long pg = sysconf(_SC_PAGESIZE);
		void *page = (void *)((uintptr_t)v.data & ~((uintptr_t)pg - 1));
		if (mprotect(page, (size_t)pg, PROT_READ | PROT_WRITE) == 0)
			_exit(4); /* writable: the seal did not hold */
		if (errno != EACCES)
			_exit(5);
		rkv_consumer_release(c, &v);
		rkv_consumer_detach(c);
		_exit(0);
	}
	rkv_producer *p = mkpool(name, 4, 1);
	CHECK_EQ(write(go[1], "x", 1), 1);
	CHECK_OK(rkv_producer_wait_consumers(p, 1, 5000000000LL));
	struct rkv_frame f = { .seq = 1, .fourcc = RKV_FMT_BYTES };
	CHECK_EQ(rkv_producer_publish_copy(p, "ro", 2, &f, 1000000000LL), 1);
	int status = -1;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	rkv_producer_destroy(p);
	close(go[0]);
	close(go[1]);
}

/*
 * Access: only the producer's user may attach, unless the pool admits a
 * group. Needs root to become another user; skipped (with a note) if not.
 */
static int attach_as(const char *name, uid_t uid, gid_t gid)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1000;
	if (pid == 0) {
		gid_t groups[1] = { gid };
		struct rkv_consumer_opts o = cons_opts(RKV_POLICY_DROP, 1, 1);
		rkv_consumer *c = NULL;
		if (setgroups(1, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(100);
		int r = rkv_consumer_attach(name, &o, &c);
		if (r == 0)
			rkv_consumer_detach(c);
		_exit(r == 0 ? 0 : r == -EACCES ? 13 : 101);
	}
	int status = -1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1001;
	return WEXITSTATUS(status);
}

static void test_access(void)
{
	char a[NAMELEN], b[NAMELEN];
	if (geteuid() != 0) {
		printf("unit_pool: access test skipped (needs root to switch users)\n");
		return;
	}
	rkv_producer *pa = mkpool(test_pool_name(a, sizeof a, "acc"), 4, 1);
	struct rkv_pool_opts o = pool_opts(4, 1);
	o.flags = RKV_POOL_GROUP_ACCESS;
	o.access_gid = 4242;
	rkv_producer *pb = mkpool_opts(test_pool_name(b, sizeof b, "accg"), &o);

	CHECK_EQ(attach_as(a, 65534, 4242), 13); /* owner-only: refused */
	CHECK_EQ(attach_as(b, 65534, 4242), 0);  /* in the admitted group */
	CHECK_EQ(attach_as(b, 65534, 4343), 13); /* another group: refused */
	CHECK_EQ(attach_as(a, 0, 0), 0);         /* the owner itself */

	rkv_producer_destroy(pa);
	rkv_producer_destroy(pb);
}

/* ---- fork ----------------------------------------------------------------- */

/*
 * A child forked from the producer's process is not the producer: its copy
 * of the handle refuses work (-ECHILD) and the attach socket is closed in
 * it, so the pool's name does not outlive the producer while the child
 * lives. Before the fork handling, re-creating the name here failed with
 * -EADDRINUSE for as long as the child ran.
 */
static void test_fork(void)
{
	char name[NAMELEN];
	int pipefd[2];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "fork"), 4, 1);

	CHECK_OK(pipe(pipefd));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rkv_loan l;
		struct rkv_consumer_opts o = cons_opts(RKV_POLICY_BLOCK, 1, 1);
		rkv_consumer *c = NULL;
		struct rkv_view v;
		char byte;
		if (rkv_producer_loan(p, &l, 0) != -ECHILD)
			_exit(2);
		if (rkv_consumer_attach(name, &o, &c) < 0)
			_exit(3);
		if (rkv_consumer_acquire(c, &v, 5000000000LL) != 0 || v.frame.seq != 7)
			_exit(4);
		rkv_consumer_release(c, &v);
		/* stay alive until the parent has re-created the name */
		if (read(pipefd[0], &byte, 1) != 1)
			_exit(5);
		rkv_consumer_detach(c);
		rkv_producer_destroy(p); /* the child's copy: frees, touches nothing shared */
		_exit(0);
	}
	CHECK_OK(rkv_producer_wait_consumers(p, 1, 5000000000LL));
	struct rkv_frame f = { .seq = 7, .fourcc = RKV_FMT_BYTES };
	CHECK_EQ(rkv_producer_publish_copy(p, "x", 1, &f, 1000000000LL), 1);
	rkv_producer_destroy(p);

	rkv_producer *again = NULL;
	CHECK_OK(rkv_producer_create(name, &(struct rkv_pool_opts){ .slot_count = 2, .slot_capacity = 64 }, &again));
	CHECK_EQ(write(pipefd[1], "x", 1), 1);
	int status = -1;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	rkv_producer_destroy(again);
	close(pipefd[0]);
	close(pipefd[1]);
}


/* ---- growing structs ---------------------------------------------------- */

/*
 * Options structs begin with their size: 0 and sizeof are this version; a
 * larger struct from a newer header is accepted when the bytes this library
 * does not know are zero, refused with -E2BIG otherwise; a smaller one than
 * the first version is refused. Stats calls fill what fits.
 */
static void test_opts_size(void)
{
	char name[NAMELEN];
	struct {
		struct rkv_pool_opts o;
		uint64_t future[2];
	} big;
	rkv_producer *p = NULL;

	test_pool_name(name, sizeof name, "osz");
	memset(&big, 0, sizeof big);
	big.o = pool_opts(4, 1);
	big.o.size = sizeof big;
	CHECK_OK(rkv_producer_create(name, &big.o, &p));
	rkv_producer_destroy(p);
	big.future[1] = 1;
	CHECK_ERR(rkv_producer_create(name, &big.o, &p), E2BIG);
	big.o.size = 8;
	CHECK_ERR(rkv_producer_create(name, &big.o, &p), EINVAL);
	big.o.size = sizeof(struct rkv_pool_opts);
	p = mkpool_opts(name, &big.o);

	struct {
		struct rkv_consumer_opts o;
		uint32_t future;
	} cbig;
	memset(&cbig, 0, sizeof cbig);
	cbig.o = cons_opts(RKV_POLICY_DROP, 1, 1);
	cbig.o.size = sizeof cbig;
	cbig.future = 7;
	rkv_consumer *c = NULL;
	CHECK_ERR(rkv_consumer_attach(name, &cbig.o, &c), E2BIG);
	cbig.future = 0;
	CHECK_OK(rkv_consumer_attach(name, &cbig.o, &c));

	/* stats: a bigger struct gets zeros past what this library knows */
	struct {
		struct rkv_consumer_stats st;
		uint8_t more[16];
	} sbig;
	memset(&sbig, 0xa5, sizeof sbig);
	CHECK_OK(rkv_consumer_stats(c, &sbig.st, sizeof sbig));
	for (size_t i = 0; i < sizeof sbig.more; i++)
		CHECK_UINT(sbig.more[i], ==, 0);
	/* smaller than the struct before lag was appended (test_stats_old_size) */
	CHECK_ERR(rkv_consumer_stats(c, &sbig.st, offsetof(struct rkv_consumer_stats, lag) - 1),
		  EINVAL);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
}

/* ---- external (DMA-BUF) slots ------------------------------------------- */

/*
 * Slots the producer supplies as fds (DMA-BUFs on boards; memfds here,
 * which this host can make): views carry the fd and offset, consumers map
 * them read-only, rkv_producer_loan_slot() takes a given slot, and
 * rkv_producer_fd() becomes readable when a consumer gives a slot back.
 */
static void test_external(void)
{
	char name[NAMELEN];
	int fds[8];
	uint64_t offs[8] = { 0, 4096, 8192, 0, 0, 0, 0, 0 };
	struct rkv_pool_opts o = pool_opts(8, 4);
	rkv_producer *p = NULL;

	test_pool_name(name, sizeof name, "ext");
	for (int i = 0; i < 8; i++) {
		fds[i] = memfd_create("ext", MFD_CLOEXEC);
		CHECK(fds[i] >= 0);
		CHECK_OK(ftruncate(fds[i], (off_t)(offs[i] + CAP)));
	}
	o.slot_fds = fds;
	o.slot_offsets = offs;
	/* an fd too small for its offset + capacity, a closed fd */
	offs[3] = 1;
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	offs[3] = 0;
	int keep = fds[2];
	fds[2] = 999;
	CHECK_ERR(rkv_producer_create(name, &o, &p), EINVAL);
	fds[2] = keep;
	/* without CPU_WRITE the producer does not map: no data pointer */
	p = mkpool_opts(name, &o);
	struct rkv_loan l;
	CHECK_OK(rkv_producer_loan(p, &l, 0));
	CHECK(l.data == NULL);
	CHECK_EQ(l.fd >= 0, 1);
	CHECK_ERR(rkv_producer_publish_copy(p, "x", 1, &(struct rkv_frame){ .fourcc = RKV_FMT_BYTES }, 0),
		  ENOTSUP);
	CHECK_OK(rkv_producer_cancel(p, &l));
	rkv_producer_destroy(p);

	o.flags = RKV_POOL_CPU_WRITE;
	p = mkpool_opts(name, &o);
	for (int i = 0; i < 8; i++)
		close(fds[i]); /* the pool keeps its own */
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_BLOCK, 1, 1));
	struct rkv_consumer_opts nm = cons_opts(RKV_POLICY_LATEST, 0, 1);
	nm.flags = RKV_CONSUMER_NO_MAP;
	rkv_consumer *hw = attach(name, nm);

	/* loan slot 2 by index; it is busy while loaned */
	CHECK_OK(rkv_producer_loan_slot(p, 2, &l));
	CHECK_EQ(l.slot, 2);
	CHECK_UINT(l.fd_offset, ==, 8192);
	struct rkv_loan l2;
	CHECK_ERR(rkv_producer_loan_slot(p, 2, &l2), EBUSY);
	CHECK_ERR(rkv_producer_loan_slot(p, 8, &l2), EINVAL);
	memcpy(l.data, "frame-2", 8);
	struct rkv_frame f = bytes_frame(1, 8);
	CHECK_EQ(rkv_producer_publish(p, &l, &f), 2);

	struct rkv_view v, hv;
	CHECK_OK(rkv_consumer_acquire(c, &v, 1000 * MS));
	CHECK_EQ(v.slot, 2);
	CHECK(v.fd >= 0);
	CHECK_UINT(v.fd_offset, ==, 8192);
	CHECK_STR((const char *)v.data, "frame-2");
	char buf[8];
	CHECK_EQ(pread(v.fd, buf, 8, (off_t)v.fd_offset), 8);
	CHECK_STR(buf, "frame-2");
	CHECK_OK(rkv_consumer_acquire(hw, &hv, 1000 * MS));
	CHECK(hv.data == NULL);
	CHECK(hv.fd >= 0);
	CHECK_UINT(hv.fd_offset, ==, 8192);
	CHECK_OK(rkv_consumer_release(hw, &hv));

	/* the consumer's mapping is read-only, and cannot be made writable
	 * (its fd is a read-only reopen of the memfd) */
	{
		long pg = sysconf(_SC_PAGESIZE);
		void *page = (void *)((uintptr_t)v.data & ~(uintptr_t)(pg - 1));
		CHECK_EQ(mprotect(page, (size_t)pg, PROT_READ | PROT_WRITE), -1);
		CHECK_EQ(errno, EACCES);
	}

	/* slot 2 is held: not loanable until its last holder gives it back
	 * (a camera re-queues the driver's buffer exactly then) */
	int pfd = rkv_producer_fd(p);
	CHECK(pfd >= 0);
	CHECK_ERR(rkv_producer_loan_slot(p, 2, &l2), EBUSY);
	CHECK_EQ(readable(pfd, 0), 0);
	CHECK_OK(rkv_consumer_release(c, &v));
	CHECK_EQ(readable(pfd, 2000), 1);
	CHECK_OK(rkv_producer_loan_slot(p, 2, &l2));
	CHECK_ERR(rkv_producer_loan_slot(p, 2, &l2), EBUSY); /* loaned */
	CHECK_OK(rkv_producer_cancel(p, &l2));
	struct rkv_pool_stats ps = pstats(p);
	CHECK_EQ(ps.external, 1);
	rkv_consumer_detach(c);
	rkv_consumer_detach(hw);
	rkv_producer_destroy(p);
}

/* ---- reclaim: which of the slots a driver waits for are free ------------ */

/* Publish slot @s (loaned by number) with sequence number @seq. */
static void publish_slot(rkv_producer *p, uint32_t s, uint64_t seq)
{
	struct rkv_loan l;
	struct rkv_frame f = bytes_frame(seq, 8);

	CHECK_OK(rkv_producer_loan_slot(p, s, &l));
	CHECK_EQ(rkv_producer_publish(p, &l, &f), 1);
}

/*
 * A camera whose slots are driver buffers keeps several published slots
 * out of the driver at once and re-queues each when its consumers are done.
 * Asking slot by slot with rkv_producer_loan_slot() loses a release: the
 * call for the second slot takes back the wake-up the first one armed, so
 * a slot freed between the two calls goes unnoticed (the fd stays quiet
 * while a buffer the driver needs sits free). rkv_producer_reclaim() looks
 * at all of them and arms once.
 */
static void test_reclaim(void)
{
	char name[NAMELEN];
	struct rkv_pool_opts o = pool_opts(8, 3);
	rkv_producer *p = mkpool_opts(test_pool_name(name, sizeof name, "reclaim"), &o);
	rkv_consumer *c = attach(name, cons_opts(RKV_POLICY_BLOCK, 2, 2));
	int pfd = rkv_producer_fd(p);
	struct rkv_view v1, v2;
	struct rkv_loan l;
	uint32_t want[3] = { 1, 4, 6 }, got[3];

	CHECK(pfd >= 0);
	publish_slot(p, 1, 1);
	publish_slot(p, 4, 2);
	CHECK_OK(rkv_consumer_acquire(c, &v1, 1000 * MS));
	CHECK_OK(rkv_consumer_acquire(c, &v2, 1000 * MS));
	CHECK_EQ(v1.slot, 1);
	CHECK_EQ(v2.slot, 4);

	/* The loss, with loan_slot: slot 1 armed, slot 1 released, slot 4
	 * asked about (busy, re-armed for itself): the fd is quiet though
	 * slot 1 is free. */
	CHECK_ERR(rkv_producer_loan_slot(p, 1, &l), EBUSY);
	CHECK_OK(rkv_consumer_release(c, &v1));
	CHECK_ERR(rkv_producer_loan_slot(p, 4, &l), EBUSY);
	CHECK_EQ(readable(pfd, 50), 0);
	CHECK_OK(rkv_producer_loan_slot(p, 1, &l)); /* free all along */
	CHECK_OK(rkv_producer_cancel(p, &l));
	publish_slot(p, 1, 3);
	CHECK_OK(rkv_consumer_acquire(c, &v1, 1000 * MS));

	/* reclaim: slot 6 was never published (free), 1 and 4 are held */
	CHECK_EQ(rkv_producer_reclaim(p, want, 3, got), 1);
	CHECK_EQ(got[0], 6);
	CHECK_EQ(readable(pfd, 0), 0);
	/* one release wakes it, whichever slot */
	CHECK_OK(rkv_consumer_release(c, &v1));
	CHECK_EQ(readable(pfd, 2000), 1);
	CHECK_EQ(rkv_producer_reclaim(p, want, 2, got), 1);
	CHECK_EQ(got[0], 1);
	/* armed again for slot 4 alone; the previous wake-up is taken back */
	CHECK_EQ(readable(pfd, 0), 0);
	CHECK_OK(rkv_consumer_release(c, &v2));
	CHECK_EQ(readable(pfd, 2000), 1);
	CHECK_EQ(rkv_producer_reclaim(p, want, 3, got), 3);
	CHECK(got[0] == 1 && got[1] == 4 && got[2] == 6); /* the order asked */
	/* nothing left in consumers' hands: not armed */
	CHECK_EQ(readable(pfd, 0), 0);

	/* a loaned slot is not free; a slot queued to a consumer is not */
	CHECK_OK(rkv_producer_loan_slot(p, 6, &l));
	CHECK_EQ(rkv_producer_reclaim(p, want, 3, got), 2);
	CHECK(got[0] == 1 && got[1] == 4);
	CHECK_OK(rkv_producer_cancel(p, &l));
	publish_slot(p, 6, 4);
	CHECK_EQ(rkv_producer_reclaim(p, &want[2], 1, got), 0);
	/* a consumer that leaves gives it back, and that wakes the fd too
	 * (its wake socket closing may wake it first, before the service
	 * thread has forgotten it: readiness only says "look again") */
	rkv_consumer_detach(c);
	int n = 0;
	for (int i = 0; i < 200 && n == 0; i++) {
		CHECK_EQ(readable(pfd, 2000), 1);
		n = rkv_producer_reclaim(p, &want[2], 1, got);
		CHECK_INT(n, >=, 0);
		if (n == 0)
			sleep_ns(10 * MS);
	}
	CHECK_EQ(n, 1);
	CHECK_EQ(got[0], 6);

	/* A wake-up left by a publish that waited for a block consumer (it
	 * woke on the consumer's signal without reading it) must not keep
	 * the fd readable past a reclaim, armed or not: an event loop that
	 * reclaims on every turn would spin. */
	rkv_consumer *b = attach(name, cons_opts(RKV_POLICY_BLOCK, 1, 1));
	struct reader rd = { .c = b, .n = 2, .start_delay_ns = 50 * MS };
	pthread_t t;
	publish_slot(p, 2, 10); /* b's queue is full */
	CHECK_EQ(pthread_create(&t, NULL, reader_thread, &rd), 0);
	publish_slot(p, 3, 11); /* waits for b to take frame 10 */
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_OK(rd.r);
	CHECK_EQ(rkv_producer_reclaim(p, want, 0, got), 0);
	CHECK_EQ(readable(pfd, 0), 0);
	rkv_consumer_detach(b);

	/* arguments */
	uint32_t bad = 8;
	CHECK_EQ(rkv_producer_reclaim(p, NULL, 0, NULL), 0);
	CHECK_ERR(rkv_producer_reclaim(p, &bad, 1, got), EINVAL);
	CHECK_ERR(rkv_producer_reclaim(p, NULL, 1, got), EINVAL);
	CHECK_ERR(rkv_producer_reclaim(p, want, 1, NULL), EINVAL);
	CHECK_ERR(rkv_producer_reclaim(p, want, 9, got), EINVAL);
	CHECK_ERR(rkv_producer_reclaim(NULL, want, 1, got), EINVAL);
	rkv_producer_destroy(p);
}

/* ---- groups: a member's late claim after it left ------------------------- */

/*
 * A group member that is gone may still claim a cell (an evicted member
 * whose claim raced its eviction, a forked copy). Its claim carries the
 * token of its attachment, so a newcomer that gets the same consumer id
 * never has that frame settled into its books: the slot comes back.
 * Before tokens, cells carried the id alone and the newcomer's books
 * gained a slot it never took, pinned until it left.
 */
static void test_group_stale_claim(void)
{
	char name[NAMELEN];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "gstale"), 8, 1);
	struct rkv_consumer_opts go = cons_opts(RKV_POLICY_GROUP, 2, 1);
	go.group = "g";
	rkv_consumer *keep = attach(name, go); /* keeps the group alive */
	rkv_consumer *x = attach(name, go);
	struct rkv_consumer_stats sx;
	CHECK_OK(rkv_consumer_stats(x, &sx, sizeof sx));

	/* x takes a frame: its cell shows x's token */
	CHECK_EQ(publish_seq(p, 1), 1);
	struct rkv_view v;
	CHECK_OK(rkv_consumer_acquire(x, &v, 1000 * MS));
	void *gbase;
	uint64_t gsize;
	CHECK_OK(rkv__consumer_group_area(x, &gbase, &gsize));
	uint64_t *cells = (uint64_t *)((uint8_t *)gbase + sizeof(struct rkv_wire_group));
	uint32_t ring = ((struct rkv_wire_group *)gbase)->ring_size;
	uint32_t x_token = RKV_CELL_OWNER(__atomic_load_n(&cells[0], __ATOMIC_ACQUIRE));
	CHECK_UINT(x_token & 63u, ==, sx.id);
	CHECK_OK(rkv_consumer_release(x, &v));
	rkv_consumer_detach(x);
	CHECK_OK(rkv_producer_wait_consumers(p, 1, 1000 * MS));

	/* a newcomer gets x's id */
	rkv_consumer *y = attach(name, go);
	struct rkv_consumer_stats sy;
	CHECK_OK(rkv_consumer_stats(y, &sy, sizeof sy));
	CHECK_EQ(sy.id, sx.id);
	/* a frame is queued; x's late claim lands on it */
	CHECK_EQ(publish_seq(p, 2), 1);
	uint64_t pos = 1;
	uint64_t cell = __atomic_load_n(&cells[pos & (ring - 1)], __ATOMIC_ACQUIRE);
	CHECK_UINT(RKV_CELL_OWNER(cell), ==, 0);
	__atomic_store_n(&cells[pos & (ring - 1)], RKV_CELL(RKV_CELL_TAG(cell), x_token, RKV_CELL_SLOT(cell)),
			 __ATOMIC_RELEASE);
	__atomic_store_n((uint64_t *)((uint8_t *)gbase + offsetof(struct rkv_wire_group, head)), pos + 1,
			 __ATOMIC_RELEASE);
	/* the producer laps the queue; every slot must come back */
	for (uint64_t s = 3; s < 3 + ring; s++) {
		CHECK_EQ(publish_seq(p, s), 1);
		CHECK_OK(rkv_consumer_acquire(y, &v, 1000 * MS));
		CHECK_OK(rkv_consumer_release(y, &v));
	}
	struct rkv_view kv;
	while (rkv_consumer_acquire(keep, &kv, 0) == 0)
		CHECK_OK(rkv_consumer_release(keep, &kv));
	while (rkv_consumer_acquire(y, &v, 0) == 0)
		CHECK_OK(rkv_consumer_release(y, &v));
	CHECK_EQ(rkv__producer_free_slots(p), 8);
	CHECK_UINT(pstats(p).evictions, ==, 0);
	rkv_consumer_detach(y);
	rkv_consumer_detach(keep);
	rkv_producer_destroy(p);
}

/* ---- group counters ------------------------------------------------------ */

/*
 * A group has counters of its own: every frame published since the group
 * was made is delivered to it or dropped by it, and the frames its members
 * took are claimed; a member's delivered counts what it took, its dropped
 * nothing (before, a group's drops were counted on one member and
 * delivered + dropped added up for no one). Block and drop consumers:
 * delivered + dropped = published since they attached.
 */
static void test_group_stats(void)
{
	char name[NAMELEN];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "gstat"), 12, 1);
	struct rkv_consumer_opts go = cons_opts(RKV_POLICY_GROUP, 2, 1);
	go.group = "workers";
	rkv_consumer *m1 = attach(name, go);
	rkv_consumer *m2 = attach(name, go);
	rkv_consumer *d = attach(name, cons_opts(RKV_POLICY_DROP, 2, 1));
	struct rkv_view v;

	/* 2 frames fill the group queue and d's; 3 more are dropped by both */
	for (uint64_t s = 1; s <= 5; s++)
		CHECK_INT(publish_seq(p, s), >=, 0);
	CHECK_OK(rkv_consumer_acquire(m1, &v, 0));
	CHECK_OK(rkv_consumer_release(m1, &v));
	CHECK_OK(rkv_consumer_acquire(m2, &v, 0));
	CHECK_OK(rkv_consumer_release(m2, &v));
	CHECK_EQ(publish_seq(p, 6), 1); /* to the group; d is still full */

	struct rkv_group_stats g[2];
	CHECK_EQ(rkv_pool_group_stats(name, g, 2, sizeof g[0]), 1);
	CHECK_STR(g[0].name, "workers");
	CHECK_UINT(g[0].members, ==, 2);
	CHECK_UINT(g[0].queue_depth, ==, 2);
	CHECK_UINT(g[0].delivered + g[0].dropped, ==, 6);
	CHECK_UINT(g[0].dropped, ==, 3);
	CHECK_UINT(g[0].claimed, ==, 2);
	CHECK_UINT(g[0].queued, ==, 1);
	struct rkv_consumer_stats s1 = cstats(m1), s2 = cstats(m2), sd = cstats(d);
	CHECK_UINT(s1.delivered + s2.delivered, ==, 2);
	CHECK_UINT(s1.dropped + s2.dropped, ==, 0);
	CHECK_UINT(sd.delivered + sd.dropped, ==, 6);
	CHECK_UINT(pstats(p).groups, ==, 1);
	rkv_consumer_detach(m1);
	rkv_consumer_detach(m2);
	rkv_consumer_detach(d);
	for (int i = 0; i < 200 && pstats(p).groups != 0; i++)
		sleep_ns(5 * MS);
	CHECK_UINT(pstats(p).groups, ==, 0);
	CHECK_EQ(rkv_pool_group_stats(name, g, 2, sizeof g[0]), 0);
	rkv_producer_destroy(p);
}

/* ---- releases from another thread ---------------------------------------- */

/*
 * pool.h lets any thread release (a garbage collector's finalizer) while one
 * thread acquires, and read the consumer's counters meanwhile. One thread
 * acquires every frame and hands the views over; another releases them and
 * reads stats. Under TSan this is the check that acquire and release share
 * no unsynchronised state.
 */
#define HANDOFF 64
struct handoff {
	rkv_consumer *c;
	struct rkv_view v[HANDOFF];
	uint64_t put, got; /* atomics */
	uint64_t total;
};

static void *releaser_thread(void *arg)
{
	struct handoff *h = arg;
	uint64_t n = 0;

	while (n < h->total) {
		if (n == __atomic_load_n(&h->put, __ATOMIC_ACQUIRE)) {
			sleep_ns(20000);
			continue;
		}
		struct rkv_view *v = &h->v[n % HANDOFF];
		CHECK_OK(rkv_consumer_release(h->c, v));
		struct rkv_consumer_stats st;
		CHECK_OK(rkv_consumer_stats(h->c, &st, sizeof st));
		n++;
		__atomic_store_n(&h->got, n, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_release_threads(void)
{
	char name[NAMELEN];
	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "relthr"), 16, 1);
	static struct handoff h;
	pthread_t t;

	memset(&h, 0, sizeof h);
	h.c = attach(name, cons_opts(RKV_POLICY_BLOCK, 4, 8));
	h.total = 3000;
	CHECK_EQ(pthread_create(&t, NULL, releaser_thread, &h), 0);
	for (uint64_t s = 0; s < h.total; s++) {
		struct rkv_view v;
		CHECK_EQ(publish_seq(p, s + 1), 1);
		for (;;) {
			int r = rkv_consumer_acquire(h.c, &v, 1000 * MS);
			if (r == -EBUSY) { /* the releaser is behind: 8 held */
				sleep_ns(20000);
				continue;
			}
			CHECK_OK(r);
			break;
		}
		check_view(&v, s + 1);
		while (s - __atomic_load_n(&h.got, __ATOMIC_ACQUIRE) >= HANDOFF)
			sleep_ns(20000);
		h.v[s % HANDOFF] = v;
		__atomic_store_n(&h.put, s + 1, __ATOMIC_RELEASE);
	}
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(rkv__producer_free_slots(p), 16);
	rkv_consumer_detach(h.c);
	rkv_producer_destroy(p);
}

/* ---- the attach timeout --------------------------------------------------- */

/*
 * attach_timeout_ns bounds attach's wait for an answer: here "the pool" is
 * a bare socket bound to the pool's name that accepts nothing and never
 * answers (a producer stuck, or an impostor).
 */
static void test_attach_timeout(void)
{
	char name[NAMELEN];
	struct sockaddr_un sun;
	uint32_t len;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	test_pool_name(name, sizeof name, "mute");
	CHECK(fd >= 0);
	CHECK(rkv__sock_addr(name, &sun, &len) > 0);
	CHECK_OK(bind(fd, (struct sockaddr *)&sun, len));
	CHECK_OK(listen(fd, 4));
	struct rkv_consumer_opts o = cons_opts(RKV_POLICY_DROP, 1, 1);
	o.attach_timeout_ns = 200 * MS;
	int64_t t0 = test_now_ns();
	ATTACH_FAILS(name, o, ETIMEDOUT);
	/* the option was used, not the 5 s default (a bound 15 times the
	 * option, not a measurement) */
	CHECK_INT(test_now_ns() - t0, <, 3000 * MS);
	close(fd);
}

int main(void)
{
	test_watchdog(100);
	test_misc();
	test_create();
	test_loan();
	test_loan_budget();
	test_publish();
	test_publish_copy();
	test_wait_consumers();
	test_attach_errors();
	test_budget();
	test_acquire_release();
	test_acquire_wakes();
	test_producer_gone();
	test_fd();
	test_fd_first();
	test_block();
	test_drop();
	test_latest();
	test_group();
	test_spin();
	test_stats();
	test_lag();
	test_lag_hostile();
	test_lag_threads();
	test_stats_old_size();
	test_fork();
	test_readonly();
	test_access();
	test_opts_size();
	test_external();
	test_reclaim();
	test_group_stale_claim();
	test_group_stats();
	test_release_threads();
	test_attach_timeout();
	printf("unit_pool: ok\n");
	return 0;
}
