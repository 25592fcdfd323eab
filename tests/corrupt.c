/* SPDX-License-Identifier: MIT */
/*
 * corrupt.c - pools and consumers that lie.
 *
 * Shared memory is a wire protocol and every process on the other end may
 * be broken or hostile. This test scribbles on what the other side reads
 * and checks that the reader refuses it with a clear error instead of
 * crashing, and that the honest parties keep working:
 *
 *   1. a pool header scribbled on (targeted fields, then random bytes):
 *      attach fails with -EPROTO and a reason; restored, attach works;
 *   2. rkv__pool_check / rkv__chan_check / rkv__group_check on copies of
 *      live areas, mutated the same way (ASan sees any read past a copy);
 *   3. a consumer scribbling on its own rings (ready_head, release ring,
 *      release_tail, mailbox, group cells): the producer keeps serving an
 *      honest consumer, frames intact, evicts the liar or ignores it, and
 *      loses or double-frees no slot;
 *   4. garbage handed back through rkv_consumer_release(): -EINVAL;
 *   5. slot descriptors scribbled on: the consumer gets -EPROTO, not a
 *      wrong frame;
 *   6. an evicted consumer: acquire says -ECONNRESET, or hands out a view
 *      that stays whole until released.
 */
#include "test.h"
#include "pool/internal.h"

/* ---- helpers -------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
	nanosleep(&ts, NULL);
}

static uint8_t frame_byte(uint64_t seq, uint64_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8) + (seq >> 8));
}

static uint64_t frame_len(uint64_t seq, uint64_t cap)
{
	uint64_t n = 64 + (seq * 977u) % cap;
	return n > cap ? cap : n;
}

/* Fail unless @v is frame @seq (0: whatever seq it says it is), whole. */
static void check_view(const struct rkv_view *v, uint64_t seq, const char *who)
{
	uint64_t len;
	const uint8_t *d = v->data;

	if (seq == 0)
		seq = v->frame.seq;
	if (v->frame.seq != seq)
		FAIL("%s: frame %" PRIu64 ", expected %" PRIu64, who, v->frame.seq, seq);
	len = frame_len(seq, v->capacity);
	if (v->frame.bytes_used != len)
		FAIL("%s: frame %" PRIu64 " has %" PRIu64 " bytes, expected %" PRIu64, who, seq,
		     v->frame.bytes_used, len);
	for (uint64_t i = 0; i < len; i++)
		if (d[i] != frame_byte(seq, i))
			FAIL("%s: frame %" PRIu64 " torn at byte %" PRIu64 ": %u, expected %u", who,
			     seq, i, d[i], frame_byte(seq, i));
}

static rkv_producer *make_producer(const char *name, uint32_t slots, uint64_t cap,
				   int64_t block_timeout_ns)
{
	struct rkv_pool_opts po = {
		.slot_count = slots, .slot_capacity = cap, .max_consumers = 8,
		.max_loans = 1, .block_timeout_ns = block_timeout_ns,
	};
	rkv_producer *p = NULL;

	CHECK_OK(rkv_producer_create(name, &po, &p));
	return p;
}

static int try_attach(const char *name, uint32_t policy, uint32_t depth, uint32_t held,
		      const char *group, char *err, size_t errlen, rkv_consumer **out)
{
	struct rkv_consumer_opts co = {
		.policy = policy, .queue_depth = depth, .max_held = held, .group = group,
		.label = "corrupt", .errbuf = err, .errbuf_len = errlen,
	};
	if (err && errlen)
		err[0] = '\0';
	return rkv_consumer_attach(name, &co, out);
}

static rkv_consumer *attach(const char *name, uint32_t policy, uint32_t depth, uint32_t held,
			    const char *group)
{
	char err[256];
	rkv_consumer *c = NULL;
	int r = try_attach(name, policy, depth, held, group, err, sizeof(err), &c);

	if (r < 0)
		FAIL("attach %s to %s: %s (%s)", rkv_policy_name(policy), name, strerror(-r), err);
	return c;
}

static uint64_t next_seq;

/* Loan, fill from the sequence number, publish. Returns the seq. */
static uint64_t publish(rkv_producer *p, uint64_t cap)
{
	struct rkv_loan loan;
	struct rkv_frame f;
	uint64_t seq = ++next_seq, len = frame_len(seq, cap);
	uint8_t *d;
	int r;

	r = rkv_producer_loan(p, &loan, 2000000000);
	if (r < 0)
		FAIL("loan for frame %" PRIu64 ": %s (slots lost?)", seq, strerror(-r));
	d = loan.data;
	for (uint64_t i = 0; i < len; i++)
		d[i] = frame_byte(seq, i);
	memset(&f, 0, sizeof(f));
	f.seq = seq;
	f.fourcc = RKV_FMT_BYTES;
	f.bytes_used = len;
	CHECK_OK(rkv_producer_publish(p, &loan, &f));
	return seq;
}

static uint64_t evictions(rkv_producer *p)
{
	struct rkv_pool_stats st;
	CHECK_OK(rkv_producer_stats(p, &st, sizeof(*(&st))));
	return st.evictions;
}

/* Wait until @p has @n consumers and its books show @want free slots. */
static void wait_books(rkv_producer *p, uint32_t n, int want, const char *when)
{
	struct rkv_pool_stats st;
	int free_slots = -1;

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 5000; i++) {
		CHECK_OK(rkv_producer_stats(p, &st, sizeof(*(&st))));
		if (st.consumers == n) {
			free_slots = rkv__producer_free_slots(p);
			if (free_slots == want)
				return;
			if (free_slots > want)
				break;
		}
		sleep_us(1000);
	}
	FAIL("%s: %u consumers (want %u), %d free slots (want %d)", when, st.consumers, n,
	     free_slots, want);
}

/* Wait until the service thread has seen every detach: @n consumers left. */
static void wait_consumers(rkv_producer *p, uint32_t n)
{
	struct rkv_pool_stats st;

	for (int i = 0; i < 5000; i++) {
		CHECK_OK(rkv_producer_stats(p, &st, sizeof(*(&st))));
		if (st.consumers == n)
			return;
		sleep_us(1000);
	}
	FAIL("the producer still counts %u consumers, expected %u", st.consumers, n);
}

/* ---- 1 and 2: pool headers ------------------------------------------------ */

/*
 * Targeted header mutation @i of a header that was valid for an area of
 * @size bytes. Returns its name, or NULL past the last one.
 */
static const char *pool_mutate(struct rkv_wire_pool *h, uint64_t size, int i)
{
	switch (i) {
	case 0: h->magic ^= 0xff; return "magic";
	case 1: h->magic = 0; return "magic zero";
	case 2: h->version += 1; return "version + 1";
	case 3: h->version = 0; return "version 0";
	case 4: h->header_size = 0; return "header_size 0";
	case 5: h->header_size += 64; return "header_size + 64";
	case 6: h->slot_count = 0; return "slot_count 0";
	case 7: h->slot_count = UINT32_MAX; return "slot_count huge";
	case 8: h->slot_count = RKV_MAX_SLOTS + 1; return "slot_count over the limit";
	case 9: h->slot_count += 1; return "slot_count + 1 (data past the end)";
	case 10: h->slot_capacity = UINT64_MAX; return "slot_capacity huge";
	case 11: h->slot_capacity = h->slot_stride + 1; return "slot_capacity > stride";
	case 12: h->slot_stride = h->slot_capacity / 2; return "slot_stride too small";
	case 13: h->slot_stride = 0; return "slot_stride 0";
	case 14: h->slot_stride = UINT64_MAX & ~(uint64_t)4095; return "slot_stride huge";
	case 15: h->slots_offset = size; return "slots_offset at the end";
	case 16: h->slots_offset = 0; return "slots_offset over the header";
	case 17: h->slots_offset += 4; return "slots_offset unaligned";
	case 18: h->slots_offset = UINT64_MAX - 64; return "slots_offset overflowing";
	case 19: h->stats_offset = size; return "stats_offset at the end";
	case 20: h->stats_offset = h->slots_offset; return "stats over the slot descriptors";
	case 21: h->stats_offset = 64; return "stats over the header";
	case 22: h->stats_offset += 4; return "stats_offset unaligned";
	case 23: h->stats_offset = UINT64_MAX - 64; return "stats_offset overflowing";
	case 24: h->data_offset = size; return "data_offset at the end";
	case 25: h->data_offset += 1; return "data_offset unaligned";
	case 26: h->data_offset = 0; return "data over the header";
	case 27: h->data_offset = UINT64_MAX & ~(uint64_t)4095; return "data_offset overflowing";
	case 28: h->total_size += 4096; return "total_size larger";
	case 29: h->total_size -= 1; return "total_size smaller";
	case 30: h->total_size = 0; return "total_size 0";
	case 31: h->max_consumers = 0; return "max_consumers 0";
	case 32: h->max_consumers = UINT32_MAX; return "max_consumers huge";
	case 33: h->max_consumers = RKV_MAX_CONSUMERS + 1; return "max_consumers over the limit";
	case 34: h->max_consumers = RKV_MAX_CONSUMERS; return "stats table over the data";
	case 35: memset(h->name, 'A', sizeof(h->name)); return "name not terminated";
	default: return NULL;
	}
}

#define FIXED_PART offsetof(struct rkv_wire_pool, producer_waiting)

static void test_pool_header(void)
{
	char name[64], err[256];
	rkv_producer *p;
	rkv_consumer *c, *first;
	struct rkv_wire_pool saved;
	struct rkv_view v;
	void *base;
	uint64_t size;
	int r, accepted = 0, refused = 0;

	test_pool_name(name, sizeof(name), "hdr");
	p = make_producer(name, 8, 4096, 0);
	CHECK_OK(rkv__producer_pool_area(p, &base, &size));
	struct rkv_wire_pool *h = base;
	CHECK_UINT(h->total_size, ==, size);
	memcpy(&saved, h, sizeof(saved));

	/* One consumer stays attached throughout: it holds id 0. */
	first = attach(name, RKV_POLICY_DROP, 1, 1, NULL);

	for (int i = 0;; i++) {
		/* Only the part fixed at creation is scribbled on and restored;
		 * the producer's thread keeps writing the live part. */
		memcpy(h, &saved, FIXED_PART);
		const char *what = pool_mutate(h, size, i);
		if (!what)
			break;
		c = NULL;
		r = try_attach(name, RKV_POLICY_DROP, 1, 1, NULL, err, sizeof(err), &c);
		memcpy(h, &saved, FIXED_PART);
		wait_consumers(p, 1);
		if (r != -EPROTO) {
			rkv_consumer_detach(c);
			FAIL("pool header with %s: attach = %d (%s), expected -EPROTO", what, r,
			     r < 0 ? strerror(-r) : "success");
		}
		if (!err[0])
			FAIL("pool header with %s: -EPROTO but no reason in errbuf", what);
		printf("  header %-36s -> %s\n", what, err);
	}

	/* A consumer id past the stats table the header declares: the next
	 * consumer gets id 1, and the header now says there is one entry. */
	h->max_consumers = 1;
	c = NULL;
	r = try_attach(name, RKV_POLICY_DROP, 1, 1, NULL, err, sizeof(err), &c);
	memcpy(h, &saved, FIXED_PART);
	if (r != -EPROTO) {
		rkv_consumer_detach(c);
		FAIL("pool header with max_consumers below the consumer's id: attach = %d (%s), "
		     "expected -EPROTO", r, r < 0 ? strerror(-r) : "success");
	}
	CHECK(err[0] != '\0');
	printf("  header %-36s -> %s\n", "max_consumers below the id", err);

	/* Random scribbles: anything but a crash, and a reason with every error. */
	unsigned rounds = (unsigned)test_scaled(300);
	for (unsigned k = 0; k < rounds; k++) {
		unsigned n = 1 + (unsigned)(rnd() % 8);
		for (unsigned j = 0; j < n; j++)
			((uint8_t *)h)[rnd() % FIXED_PART] = (uint8_t)rnd();
		c = NULL;
		r = try_attach(name, RKV_POLICY_DROP, 1, 1, NULL, err, sizeof(err), &c);
		memcpy(h, &saved, FIXED_PART);
		if (r == 0) {
			CHECK(c != NULL);
			accepted++;
			/* nothing was published: nothing to take */
			memset(&v, 0, sizeof(v));
			r = rkv_consumer_acquire(c, &v, 0);
			CHECK_ERR(r, EAGAIN);
			rkv_consumer_detach(c);
			wait_consumers(p, 1);
			continue;
		}
		wait_consumers(p, 1);
		if (r > 0 || r <= -4096)
			FAIL("random header scribble: attach = %d", r);
		if (!err[0])
			FAIL("random header scribble: attach = %d (%s) with no reason", r, strerror(-r));
		refused++;
	}
	printf("  random header scribbles: %d refused, %d accepted (unchecked bytes)\n",
	       refused, accepted);
	CHECK(refused > 0);

	/* Restored: attach works and frames flow, intact. */
	wait_books(p, 1, 8, "after header scribbles");
	c = attach(name, RKV_POLICY_DROP, 1, 1, NULL);
	uint64_t seq = publish(p, 4096);
	memset(&v, 0, sizeof(v));
	CHECK_OK(rkv_consumer_acquire(c, &v, 1000000000));
	check_view(&v, seq, "after restore");
	CHECK_OK(rkv_consumer_release(c, &v));
	rkv_consumer_detach(c);
	rkv_consumer_detach(first);
	wait_books(p, 0, 8, "header test end");
	rkv_producer_destroy(p);
}

/* A heap copy of exactly @size bytes, so ASan sees any read past it. */
static void *copy_of(const void *src, uint64_t size)
{
	void *d = malloc(size ? size : 1);
	CHECK(d != NULL);
	memcpy(d, src, size);
	return d;
}

/* A zeroed heap area of @size bytes holding the first @fixed bytes of the
 * live area @src: the part its writer never changes after creation (the
 * rest is written by other threads, and the checks do not read it). */
static void *image_of(const void *src, uint64_t fixed, uint64_t size)
{
	void *d = calloc(1, size);
	CHECK(d != NULL);
	memcpy(d, src, fixed < size ? fixed : size);
	return d;
}

static const char *chan_mutate(struct rkv_wire_chan *c, int i)
{
	uint64_t size = c->total_size;

	switch (i) {
	case 0: c->magic ^= 1; return "magic";
	case 1: c->version += 1; return "version + 1";
	case 2: c->header_size = 0; return "header_size 0";
	case 3: c->header_size += 8; return "header_size + 8";
	case 4: c->total_size += 1; return "total_size larger";
	case 5: c->total_size = 0; return "total_size 0";
	case 6: c->id += 1; return "id of another consumer";
	case 7: c->policy = 0; return "policy 0";
	case 8: c->policy = RKV_POLICY_GROUP + 1; return "policy unknown";
	case 9: c->ready_size = 0; return "ready_size 0";
	case 10: c->ready_size = 3; return "ready_size not a power of two";
	case 11: c->ready_size = 1u << 31; return "ready_size huge";
	case 12: c->release_size = 0; return "release_size 0";
	case 13: c->release_size = 6; return "release_size not a power of two";
	case 14: c->release_size = 1u << 30; return "release_size huge";
	case 15: c->ready_offset = 0; return "ready ring over the header";
	case 16: c->ready_offset = size; return "ready ring at the end";
	case 17: c->ready_offset += 4; return "ready ring unaligned";
	case 18: c->ready_offset = UINT64_MAX - 7; return "ready_offset overflowing";
	case 19: c->release_offset = c->ready_offset; return "release ring over the ready ring";
	case 20: c->release_offset = size; return "release ring at the end";
	case 21: c->release_offset += 2; return "release ring unaligned";
	case 22: c->release_offset = UINT64_MAX - 3; return "release_offset overflowing";
	case 23: c->max_held = 0; return "max_held 0";
	case 24: c->queue_depth = c->ready_size + 1; return "queue_depth over the ready ring";
	default: return NULL;
	}
}

static const char *group_mutate(struct rkv_wire_group *g, int i)
{
	uint64_t size = g->total_size;

	switch (i) {
	case 0: g->magic ^= 1; return "magic";
	case 1: g->version += 1; return "version + 1";
	case 2: g->header_size = 0; return "header_size 0";
	case 3: g->total_size += 1; return "total_size larger";
	case 4: g->ring_size = 0; return "ring_size 0";
	case 5: g->ring_size = 3; return "ring_size not a power of two";
	case 6: g->ring_size = 1u << 31; return "ring_size huge";
	case 7: g->cells_offset = 0; return "cells over the header";
	case 8: g->cells_offset += 4; return "cells unaligned";
	case 9: g->cells_offset = size; return "cells at the end";
	case 10: g->cells_offset = UINT64_MAX - 7; return "cells_offset overflowing";
	default: return NULL;
	}
}

static void random_flips(void *img, uint64_t len)
{
	unsigned n = 1 + (unsigned)(rnd() % 6);
	for (unsigned j = 0; j < n; j++)
		((uint8_t *)img)[rnd() % len] ^= (uint8_t)(1u + rnd() % 255);
}

static void test_checks(void)
{
	char name[64], why[256];
	rkv_producer *p;
	rkv_consumer *cd, *cg;
	struct rkv_consumer_stats st;
	void *base;
	uint64_t psize, csize, gsize;
	unsigned rounds = (unsigned)test_scaled(3000);
	int n_ok, n_bad;

	test_pool_name(name, sizeof(name), "chk");
	p = make_producer(name, 8, 8192, 0);
	cd = attach(name, RKV_POLICY_DROP, 2, 2, NULL);
	cg = attach(name, RKV_POLICY_GROUP, 2, 1, "g");

	/* pool */
	CHECK_OK(rkv__producer_pool_area(p, &base, &psize));
	struct rkv_wire_pool *live = base;
	uint8_t *pimg = image_of(base, FIXED_PART, psize);
	struct rkv_wire_pool *ph = (struct rkv_wire_pool *)pimg;
	why[0] = '\0';
	CHECK_OK(rkv__pool_check(ph, psize, why, sizeof(why)));
	for (int i = 0;; i++) {
		memcpy(pimg, live, FIXED_PART);
		const char *what = pool_mutate(ph, psize, i);
		if (!what)
			break;
		why[0] = '\0';
		int r = rkv__pool_check(ph, psize, why, sizeof(why));
		if (r != -EPROTO)
			FAIL("rkv__pool_check with %s = %d, expected -EPROTO", what, r);
		if (!why[0])
			FAIL("rkv__pool_check with %s: no reason", what);
	}
	memcpy(pimg, live, FIXED_PART);
	CHECK_OK(rkv__pool_check(ph, psize, why, sizeof(why)));
	CHECK_ERR(rkv__pool_check(ph, psize - 1, why, sizeof(why)), EPROTO);
	CHECK_ERR(rkv__pool_check(ph, psize + 4096, why, sizeof(why)), EPROTO);
	{
		/* Shorter than a header: nothing past the buffer may be read. */
		for (uint64_t len = 0; len < sizeof(struct rkv_wire_pool); len += 37) {
			void *tiny = copy_of(pimg, len);
			why[0] = '\0';
			CHECK_ERR(rkv__pool_check(tiny, len, why, sizeof(why)), EPROTO);
			CHECK(why[0] != '\0');
			free(tiny);
		}
	}
	n_ok = n_bad = 0;
	for (unsigned k = 0; k < rounds; k++) {
		memcpy(pimg, live, FIXED_PART);
		random_flips(pimg, FIXED_PART);
		why[0] = '\0';
		int r = rkv__pool_check(ph, psize, why, sizeof(why));
		if (r == 0)
			n_ok++;
		else if (r == -EPROTO && why[0])
			n_bad++;
		else
			FAIL("rkv__pool_check after random flips = %d, reason \"%s\"", r, why);
	}
	printf("  pool check, random flips: %d refused, %d accepted\n", n_bad, n_ok);
	CHECK(n_bad > 0);
	free(pimg);

	/* chan */
	CHECK_OK(rkv_consumer_stats(cd, &st, sizeof(*(&st))));
	uint32_t id = st.id;
	CHECK_OK(rkv__consumer_chan_area(cd, &base, &csize));
	const void *clive = base;
	uint8_t *cimg = image_of(base, 64, csize);
	struct rkv_wire_chan *ch = (struct rkv_wire_chan *)cimg;
	CHECK_OK(rkv__chan_check(ch, csize, id, 8, why, sizeof(why)));
	for (int i = 0;; i++) {
		memcpy(cimg, clive, 64);
		const char *what = chan_mutate(ch, i);
		if (!what)
			break;
		why[0] = '\0';
		int r = rkv__chan_check(ch, csize, id, 8, why, sizeof(why));
		if (r != -EPROTO)
			FAIL("rkv__chan_check with %s = %d, expected -EPROTO", what, r);
		if (!why[0])
			FAIL("rkv__chan_check with %s: no reason", what);
	}
	memcpy(cimg, clive, 64);
	CHECK_OK(rkv__chan_check(ch, csize, id, 8, why, sizeof(why)));
	CHECK_ERR(rkv__chan_check(ch, csize, id + 1, 8, why, sizeof(why)), EPROTO);
	CHECK_ERR(rkv__chan_check(ch, csize - 8, id, 8, why, sizeof(why)), EPROTO);
	for (uint64_t len = 0; len < sizeof(struct rkv_wire_chan); len += 53) {
		void *tiny = copy_of(cimg, len);
		CHECK_ERR(rkv__chan_check(tiny, len, id, 8, why, sizeof(why)), EPROTO);
		free(tiny);
	}
	n_ok = n_bad = 0;
	for (unsigned k = 0; k < rounds; k++) {
		memcpy(cimg, clive, 64);
		random_flips(cimg, 64);
		why[0] = '\0';
		int r = rkv__chan_check(ch, csize, id, 8, why, sizeof(why));
		if (r == 0)
			n_ok++;
		else if (r == -EPROTO && why[0])
			n_bad++;
		else
			FAIL("rkv__chan_check after random flips = %d, reason \"%s\"", r, why);
	}
	printf("  chan check, random flips: %d refused, %d accepted\n", n_bad, n_ok);
	CHECK(n_bad > 0);
	free(cimg);

	/* group */
	CHECK_OK(rkv__consumer_group_area(cg, &base, &gsize));
	CHECK_ERR(rkv__consumer_group_area(cd, &base, &csize), ENOENT);
	CHECK_OK(rkv__consumer_group_area(cg, &base, &gsize));
	const void *glive = base;
	uint8_t *gimg = image_of(base, 64, gsize);
	struct rkv_wire_group *gh = (struct rkv_wire_group *)gimg;
	const uint32_t gh_ring = gh->ring_size;
	CHECK_OK(rkv__group_check(gh, gsize, gh_ring, why, sizeof(why)));
	for (int i = 0;; i++) {
		memcpy(gimg, glive, 64);
		const char *what = group_mutate(gh, i);
		if (!what)
			break;
		why[0] = '\0';
		int r = rkv__group_check(gh, gsize, gh_ring, why, sizeof(why));
		if (r != -EPROTO)
			FAIL("rkv__group_check with %s = %d, expected -EPROTO", what, r);
		if (!why[0])
			FAIL("rkv__group_check with %s: no reason", what);
	}
	memcpy(gimg, glive, 64);
	CHECK_OK(rkv__group_check(gh, gsize, gh_ring, why, sizeof(why)));
	CHECK_ERR(rkv__group_check(gh, gsize + 8, gh_ring, why, sizeof(why)), EPROTO);
	for (uint64_t len = 0; len < sizeof(struct rkv_wire_group); len += 41) {
		void *tiny = copy_of(gimg, len);
		CHECK_ERR(rkv__group_check(tiny, len, gh_ring, why, sizeof(why)), EPROTO);
		free(tiny);
	}
	n_ok = n_bad = 0;
	for (unsigned k = 0; k < rounds; k++) {
		memcpy(gimg, glive, 64);
		random_flips(gimg, 64);
		why[0] = '\0';
		int r = rkv__group_check(gh, gsize, gh_ring, why, sizeof(why));
		if (r == 0)
			n_ok++;
		else if (r == -EPROTO && why[0])
			n_bad++;
		else
			FAIL("rkv__group_check after random flips = %d, reason \"%s\"", r, why);
	}
	printf("  group check, random flips: %d refused, %d accepted\n", n_bad, n_ok);
	CHECK(n_bad > 0);
	free(gimg);

	rkv_consumer_detach(cd);
	rkv_consumer_detach(cg);
	wait_books(p, 0, 8, "check test end");
	rkv_producer_destroy(p);
}

/* ---- 3: consumers scribbling on their rings ------------------------------- */

#define RSLOTS 24
#define RCAP 4096

struct ring_env {
	char name[64];
	rkv_producer *p;
	rkv_consumer *honest;       /* block, depth 4, held 2 */
	struct rkv_view hold;       /* a frame the honest consumer keeps meanwhile */
	uint64_t honest_next;
};

static unsigned gm_release_failed;
static struct rkv_view gm_stuck[8];

/* Publish @n frames; the honest consumer takes each, checks it, gives it
 * back. A group member @gm (may be NULL) takes what comes its way. */
static void pump(struct ring_env *e, unsigned n, rkv_consumer *gm, unsigned *gm_got)
{
	for (unsigned k = 0; k < n; k++) {
		struct rkv_view v;
		uint64_t seq = publish(e->p, RCAP);

		memset(&v, 0, sizeof(v));
		CHECK_OK(rkv_consumer_acquire(e->honest, &v, 2000000000));
		CHECK_UINT(seq, ==, e->honest_next);
		check_view(&v, e->honest_next, "honest consumer");
		e->honest_next++;
		CHECK_OK(rkv_consumer_release(e->honest, &v));
		if (gm) {
			memset(&v, 0, sizeof(v));
			int r = rkv_consumer_acquire(gm, &v, 0);
			if (r == 0) {
				check_view(&v, 0, "group member");
				r = rkv_consumer_release(gm, &v);
				/* -EPROTO: its release ring is full, which only
				 * an evicted member may see (checked later) */
				if (r == -EPROTO && gm_release_failed < 8)
					gm_stuck[gm_release_failed++] = v;
				else
					CHECK_OK(r);
				(*gm_got)++;
			} else if (r != -EAGAIN && r != -EPROTO && r != -ECONNRESET && r != -EBUSY) {
				FAIL("group member acquire: %d (%s)", r, strerror(-r));
			}
		}
	}
}

/*
 * After a scribble: was @c thrown out? Gives back what it holds, takes and
 * gives back what is queued, until it hears -ECONNRESET (1) or finds
 * nothing more (0). The producer reads release rings only when it needs
 * to (a loan, its stats, the free-slot hook), so it is made to read them
 * after every round of releases; it tells a consumer it evicts before the
 * call returns, so then one look at the consumer is enough.
 *
 * A consumer that scribbled on its own chan may have wrecked its own view
 * of it: acquire then keeps answering -EPROTO (the ready tail it sees is
 * impossible). With @may_wreck that is allowed and reported as -1.
 */
static int consumer_evicted(rkv_producer *p, rkv_consumer *c, struct rkv_view *held, int nheld,
			    int may_wreck)
{
	for (int i = 0; i < nheld; i++)
		(void)rkv_consumer_release(c, &held[i]); /* may be refused: it lied */
	for (int round = 0; round < 100; round++) {
		int released = 0, eproto = 0;
		(void)rkv__producer_free_slots(p);
		for (;;) {
			struct rkv_view v;
			memset(&v, 0, sizeof(v));
			int r = rkv_consumer_acquire(c, &v, 0);
			if (r == -ECONNRESET)
				return 1;
			if (r == -EAGAIN)
				break;
			if (r == 0) {
				CHECK_UINT(v.frame.bytes_used, <=, v.capacity);
				(void)rkv_consumer_release(c, &v);
				released++;
				continue;
			}
			if (r == -EBUSY)
				FAIL("acquire = -EBUSY with every view it could give back given back: "
				     "an evicted consumer whose release ring filled never hears -ECONNRESET");
			if (r != -EPROTO)
				FAIL("misbehaving consumer's acquire: %d (%s)", r, strerror(-r));
			if (++eproto > 1000) {
				if (may_wreck)
					return -1;
				FAIL("acquire keeps answering -EPROTO");
			}
		}
		if (!released)
			return 0;
	}
	FAIL("a consumer's acquire never ran dry");
	return -1;
}

enum { SC_HEAD_AHEAD, SC_HEAD_BACK, SC_HEAD_BACK_BLOCK, SC_REL_RANGE, SC_REL_HONEST,
       SC_REL_FREE, SC_REL_DUP, SC_REL_TAIL_FAR, SC_REL_TAIL_BACK, SC_MAIL_GARBAGE,
       SC_MAIL_HONEST, SC_MAIL_OWN_HELD, SC_RAW_CHAN, SC_COUNT };

static const char *const sc_names[SC_COUNT] = {
	"ready_head beyond ready_tail", "ready_head backwards", "ready_head backwards (block)",
	"release of slots out of range", "release of the honest consumer's slot",
	"release of a free slot", "duplicate release", "release_tail far ahead",
	"release_tail backwards", "mailbox garbage", "mailbox: the honest consumer's slot",
	"mailbox: a slot it holds", "random bytes over the whole chan",
};

#define CHAN64(base, field) ((uint64_t *)((uint8_t *)(base) + offsetof(struct rkv_wire_chan, field)))

static void chan_push_release(void *base, uint32_t slot)
{
	const struct rkv_wire_chan *ch = base;
	uint32_t *ring = (uint32_t *)((uint8_t *)base + ch->release_offset);
	uint64_t t = __atomic_load_n(CHAN64(base, release_tail), __ATOMIC_RELAXED);
	__atomic_store_n(&ring[t & (ch->release_size - 1)], slot, __ATOMIC_RELAXED);
	__atomic_store_n(CHAN64(base, release_tail), t + 1, __ATOMIC_RELEASE);
}

static void ring_scenario(struct ring_env *e, int sc)
{
	uint32_t policy = RKV_POLICY_DROP;
	struct rkv_view vh[2];
	int nvh = 0;
	void *base;
	uint64_t size;

	if (sc == SC_HEAD_BACK_BLOCK)
		policy = RKV_POLICY_BLOCK;
	else if (sc == SC_MAIL_GARBAGE || sc == SC_MAIL_HONEST || sc == SC_MAIL_OWN_HELD)
		policy = RKV_POLICY_LATEST;
	rkv_consumer *bad = attach(e->name, policy, 2, 2, NULL);
	CHECK_OK(rkv__consumer_chan_area(bad, &base, &size));
	const struct rkv_wire_chan *ch = base;
	CHECK_UINT(size, ==, ch->total_size);

	/* Some honest traffic first, so every index has moved. */
	pump(e, 3, NULL, NULL);
	for (int k = 0; k < 3; k++) {
		struct rkv_view v;
		memset(&v, 0, sizeof(v));
		if (rkv_consumer_acquire(bad, &v, 0) == 0) {
			check_view(&v, 0, "misbehaving consumer, before");
			CHECK_OK(rkv_consumer_release(bad, &v));
		}
	}
	pump(e, 2, NULL, NULL);
	/* The honest consumer holds one frame through the scribble. */
	{
		uint64_t seq = publish(e->p, RCAP);
		memset(&e->hold, 0, sizeof(e->hold));
		CHECK_OK(rkv_consumer_acquire(e->honest, &e->hold, 2000000000));
		CHECK_UINT(seq, ==, e->honest_next);
		check_view(&e->hold, e->honest_next, "honest consumer (held)");
		e->honest_next++;
	}
	/* ... and the misbehaving one holds one too, where it matters. */
	if (sc == SC_REL_DUP || sc == SC_MAIL_OWN_HELD || sc == SC_REL_FREE) {
		memset(&vh[0], 0, sizeof(vh[0]));
		if (rkv_consumer_acquire(bad, &vh[0], 1000000000) == 0)
			nvh = 1;
		CHECK_EQ(nvh, 1);
	}
	/* A latest consumer's mailbox moves on to a newer frame. */
	if (policy == RKV_POLICY_LATEST)
		pump(e, 1, NULL, NULL);

	uint64_t ev0 = evictions(e->p);
	uint64_t tail = __atomic_load_n(CHAN64(base, ready_tail), __ATOMIC_ACQUIRE);
	uint64_t rtail = __atomic_load_n(CHAN64(base, release_tail), __ATOMIC_ACQUIRE);
	switch (sc) {
	case SC_HEAD_AHEAD:
		__atomic_store_n(CHAN64(base, ready_head), tail + 1000, __ATOMIC_RELEASE);
		break;
	case SC_HEAD_BACK:
	case SC_HEAD_BACK_BLOCK:
		__atomic_store_n(CHAN64(base, ready_head), tail - 3, __ATOMIC_RELEASE);
		break;
	case SC_REL_RANGE:
		chan_push_release(base, RSLOTS);
		chan_push_release(base, RSLOTS + 7);
		chan_push_release(base, 0xffffff);
		chan_push_release(base, UINT32_MAX);
		break;
	case SC_REL_HONEST:
		chan_push_release(base, e->hold.slot);
		break;
	case SC_REL_FREE: {
		/* a slot that is neither its own nor the honest consumer's */
		uint32_t s = (vh[0].slot + 5) % RSLOTS;
		if (s == e->hold.slot)
			s = (s + 1) % RSLOTS;
		chan_push_release(base, s);
		break;
	}
	case SC_REL_DUP:
		chan_push_release(base, vh[0].slot);
		chan_push_release(base, vh[0].slot);
		break;
	case SC_REL_TAIL_FAR:
		__atomic_store_n(CHAN64(base, release_tail), rtail + ((uint64_t)1 << 40), __ATOMIC_RELEASE);
		break;
	case SC_REL_TAIL_BACK:
		__atomic_store_n(CHAN64(base, release_tail), rtail - 2, __ATOMIC_RELEASE);
		break;
	case SC_MAIL_GARBAGE:
		__atomic_store_n(CHAN64(base, mailbox), 0xdeadbeef00001234ull, __ATOMIC_RELEASE);
		break;
	case SC_MAIL_HONEST: {
		/* a well-formed entry, for a slot it never received */
		void *pbase;
		uint64_t psize;
		CHECK_OK(rkv__producer_pool_area(e->p, &pbase, &psize));
		const struct rkv_wire_pool *ph = pbase;
		const struct rkv_wire_slot *ps = (const struct rkv_wire_slot *)
			((const uint8_t *)pbase + ph->slots_offset) + e->hold.slot;
		__atomic_store_n(CHAN64(base, mailbox), RKV_ENTRY(ps->pub_seq, e->hold.slot),
				 __ATOMIC_RELEASE);
		break;
	}
	case SC_MAIL_OWN_HELD:
		__atomic_store_n(CHAN64(base, mailbox), RKV_ENTRY(0, vh[0].slot), __ATOMIC_RELEASE);
		break;
	case SC_RAW_CHAN:
		for (int k = 0; k < 256; k++)
			__atomic_store_n((uint8_t *)base + rnd() % size, (uint8_t)rnd(), __ATOMIC_RELAXED);
		break;
	default:
		FAIL("no scenario %d", sc);
	}

	/* Keep publishing: every slot goes round several times. */
	pump(e, 3 * RSLOTS, NULL, NULL);
	(void)rkv__producer_free_slots(e->p); /* reads every release ring */
	pump(e, RSLOTS, NULL, NULL);

	/* The honest consumer's frame was never touched. */
	check_view(&e->hold, e->hold.frame.seq, "honest consumer (held through the scribble)");
	CHECK_OK(rkv_consumer_release(e->honest, &e->hold));

	int ev = consumer_evicted(e->p, bad, vh, nvh, sc == SC_RAW_CHAN);
	uint64_t ev1 = evictions(e->p);
	if (sc != SC_RAW_CHAN)
		CHECK_UINT(ev1 - ev0, ==, (uint64_t)ev);
	else /* its own scribble may also have wrecked what it reads */
		CHECK_UINT(ev1 - ev0, <=, 1);
	printf("  %-44s -> %s\n", sc_names[sc],
	       ev > 0 ? "evicted" : ev == 0 ? "ignored" : ev1 > ev0 ? "evicted (its own view wrecked)"
								   : "ignored (its own view wrecked)");

	rkv_consumer_detach(bad);
	wait_books(e->p, 1, RSLOTS, sc_names[sc]);
}

enum { GS_OWNER_OTHER, GS_SLOT_RANGE, GS_HEAD_AHEAD, GS_HEAD_BACK, GS_RAW, GS_RELEASE_OTHER,
       GS_COUNT };

static const char *const gs_names[GS_COUNT] = {
	"group cells stamped with another member", "group cells with slots out of range",
	"group head beyond tail", "group head backwards", "random bytes over the group area",
	"release of a cell another member claimed",
};

static void group_scenario(struct ring_env *e, int sc)
{
	void *gbase, *cbase;
	uint64_t gsize, csize;
	struct rkv_consumer_stats st_a, st_b;
	unsigned got = 0;

	rkv_consumer *a = attach(e->name, RKV_POLICY_GROUP, 4, 2, "grp");
	rkv_consumer *b = attach(e->name, RKV_POLICY_GROUP, 4, 2, "grp");
	CHECK_OK(rkv_consumer_stats(a, &st_a, sizeof(*(&st_a))));
	CHECK_OK(rkv_consumer_stats(b, &st_b, sizeof(*(&st_b))));
	CHECK_OK(rkv__consumer_group_area(b, &gbase, &gsize));
	CHECK_OK(rkv__consumer_chan_area(b, &cbase, &csize));
	const struct rkv_wire_group *g = gbase;
	uint64_t *cells = (uint64_t *)((uint8_t *)gbase + g->cells_offset);
	uint64_t *headp = (uint64_t *)((uint8_t *)gbase + offsetof(struct rkv_wire_group, head));
	uint64_t *tailp = (uint64_t *)((uint8_t *)gbase + offsetof(struct rkv_wire_group, tail));
	uint32_t mask = g->ring_size - 1;

	gm_release_failed = 0;
	pump(e, 5, a, &got);
	/* a few frames queued for the group, unclaimed */
	pump(e, 3, NULL, NULL);

	uint64_t ev0 = evictions(e->p);
	uint64_t h = __atomic_load_n(headp, __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(tailp, __ATOMIC_ACQUIRE);
	switch (sc) {
	case GS_OWNER_OTHER:
		for (uint64_t pos = h; pos != t; pos++) {
			uint64_t c = __atomic_load_n(&cells[pos & mask], __ATOMIC_ACQUIRE);
			__atomic_store_n(&cells[pos & mask],
					 RKV_CELL(RKV_CELL_TAG(c), st_a.id + 1, RKV_CELL_SLOT(c)),
					 __ATOMIC_RELEASE);
		}
		break;
	case GS_SLOT_RANGE:
		for (uint32_t i = 0; i <= mask; i++)
			__atomic_store_n(&cells[i], RKV_CELL((uint32_t)(h + i), 0, 0xfffff0u + i),
					 __ATOMIC_RELEASE);
		break;
	case GS_HEAD_AHEAD:
		__atomic_store_n(headp, t + 100, __ATOMIC_RELEASE);
		break;
	case GS_HEAD_BACK:
		__atomic_store_n(headp, h - 50, __ATOMIC_RELEASE);
		break;
	case GS_RAW:
		for (int k = 0; k < 128; k++)
			__atomic_store_n((uint8_t *)gbase + rnd() % gsize, (uint8_t)rnd(),
					 __ATOMIC_RELAXED);
		break;
	case GS_RELEASE_OTHER: {
		/* a takes a frame; b claims to give it back */
		struct rkv_view v;
		pump(e, 1, NULL, NULL);
		memset(&v, 0, sizeof(v));
		if (rkv_consumer_acquire(a, &v, 0) == 0) {
			chan_push_release(cbase, v.slot);
			pump(e, 2 * RSLOTS, NULL, NULL);
			(void)rkv__producer_free_slots(e->p);
			check_view(&v, 0, "group member holding its frame");
			CHECK_OK(rkv_consumer_release(a, &v));
		} else {
			chan_push_release(cbase, 0);
		}
		break;
	}
	default:
		FAIL("no group scenario %d", sc);
	}

	unsigned got0 = got;
	pump(e, 3 * RSLOTS, a, &got);
	(void)rkv__producer_free_slots(e->p);
	pump(e, RSLOTS, a, &got);
	/* A scribbled head heals: the members find the queue again. */
	if (sc == GS_HEAD_AHEAD || sc == GS_HEAD_BACK)
		CHECK_UINT(got - got0, >, 0);

	/* The non-group consumer got every frame (pump checked each); the
	 * members may have lost frames to the scribbles: the group is one
	 * trust domain. Count who was thrown out. */
	int ev_b = consumer_evicted(e->p, b, NULL, 0, 0);
	int ev_a = consumer_evicted(e->p, a, gm_stuck, (int)gm_release_failed, 0);
	/* A scribble on the queue's cells evicts the whole group, and the
	 * producer may find it while the second member is looked at: then
	 * the first one hears of it only now. */
	if (!ev_b && ev_a)
		ev_b = consumer_evicted(e->p, b, NULL, 0, 0);
	if (!ev_a && ev_b)
		ev_a = consumer_evicted(e->p, a, NULL, 0, 0);
	CHECK_UINT(evictions(e->p) - ev0, ==, (uint64_t)(ev_a + ev_b));
	if (gm_release_failed && !ev_a)
		FAIL("%s: a member that was not evicted could not release (%u times)",
		     gs_names[sc], gm_release_failed);
	printf("  %-44s -> scribbler %s, other member %s, %u frames to it\n", gs_names[sc],
	       ev_b ? "evicted" : "kept", ev_a ? "evicted" : "kept", got);

	rkv_consumer_detach(a);
	rkv_consumer_detach(b);
	wait_books(e->p, 1, RSLOTS, gs_names[sc]);
}

static void test_rings(void)
{
	struct ring_env e;

	memset(&e, 0, sizeof(e));
	test_pool_name(e.name, sizeof(e.name), "ring");
	e.p = make_producer(e.name, RSLOTS, RCAP, 20000000);
	e.honest = attach(e.name, RKV_POLICY_BLOCK, 4, 2, NULL);
	e.honest_next = next_seq + 1;

	for (int sc = 0; sc < SC_COUNT; sc++)
		ring_scenario(&e, sc);
	for (int sc = 0; sc < GS_COUNT; sc++)
		group_scenario(&e, sc);

	/* Random scribbles on a drop consumer's whole chan, many times. */
	unsigned rounds = (unsigned)test_scaled(20);
	for (unsigned k = 0; k < rounds; k++)
		ring_scenario(&e, SC_RAW_CHAN);

	rkv_consumer_detach(e.honest);
	wait_books(e.p, 0, RSLOTS, "ring test end");
	rkv_producer_destroy(e.p);
}

/* ---- 4: garbage through the API ------------------------------------------- */

static void test_api_garbage(void)
{
	char name[64];
	rkv_producer *p;
	rkv_consumer *a, *b;
	struct rkv_view va1, vb1, vb2, va2, va3, va4, zero, bad;
	uint64_t s1, s2, s3, s4;

	test_pool_name(name, sizeof(name), "api");
	p = make_producer(name, 12, 4096, 0);
	a = attach(name, RKV_POLICY_DROP, 2, 2, NULL);
	b = attach(name, RKV_POLICY_DROP, 2, 2, NULL);

	s1 = publish(p, 4096);
	memset(&va1, 0, sizeof(va1));
	memset(&vb1, 0, sizeof(vb1));
	CHECK_OK(rkv_consumer_acquire(a, &va1, 1000000000));
	CHECK_OK(rkv_consumer_acquire(b, &vb1, 1000000000));
	check_view(&va1, s1, "a");
	check_view(&vb1, s1, "b");

	memset(&zero, 0, sizeof(zero));
	CHECK_ERR(rkv_consumer_release(a, &zero), EINVAL);
	bad = va1;
	bad.slot = 12;
	CHECK_ERR(rkv_consumer_release(a, &bad), EINVAL);
	bad.slot = UINT32_MAX;
	CHECK_ERR(rkv_consumer_release(a, &bad), EINVAL);
	bad = va1;
	bad.token ^= 0x5a5a;
	CHECK_ERR(rkv_consumer_release(a, &bad), EINVAL);
	bad = va1;
	bad.token = 0;
	CHECK_ERR(rkv_consumer_release(a, &bad), EINVAL);
	CHECK_ERR(rkv_consumer_release(NULL, &va1), EINVAL);
	CHECK_ERR(rkv_consumer_release(a, NULL), EINVAL);

	/* released twice */
	bad = va1; /* release clears the view; keep a copy to hand back again */
	CHECK_OK(rkv_consumer_release(a, &va1));
	CHECK_ERR(rkv_consumer_release(a, &va1), EINVAL);
	CHECK_ERR(rkv_consumer_release(a, &bad), EINVAL);

	/* another consumer's views: one of a frame a gave back, one of a frame
	 * a has queued but does not hold */
	CHECK_ERR(rkv_consumer_release(a, &vb1), EINVAL);
	s2 = publish(p, 4096);
	memset(&vb2, 0, sizeof(vb2));
	CHECK_OK(rkv_consumer_acquire(b, &vb2, 1000000000));
	check_view(&vb2, s2, "b");
	CHECK_ERR(rkv_consumer_release(a, &vb2), EINVAL);

	/* a keeps working: frame 2 was still queued for it */
	memset(&va2, 0, sizeof(va2));
	CHECK_OK(rkv_consumer_acquire(a, &va2, 1000000000));
	check_view(&va2, s2, "a after garbage");
	CHECK_OK(rkv_consumer_release(a, &va2));

	/* two held at once; a view pointing at the other held slot */
	s3 = publish(p, 4096);
	s4 = publish(p, 4096);
	memset(&va3, 0, sizeof(va3));
	memset(&va4, 0, sizeof(va4));
	CHECK_OK(rkv_consumer_acquire(a, &va3, 1000000000));
	CHECK_OK(rkv_consumer_acquire(a, &va4, 1000000000));
	check_view(&va3, s3, "a");
	check_view(&va4, s4, "a");
	bad = va3;
	bad.slot = va4.slot;
	CHECK_ERR(rkv_consumer_release(a, &bad), EINVAL);
	bad = va4;
	bad.slot = va3.slot;
	CHECK_ERR(rkv_consumer_release(a, &bad), EINVAL);
	CHECK_OK(rkv_consumer_release(a, &va3));
	CHECK_OK(rkv_consumer_release(a, &va4));

	/* b's frames were never touched by any of it */
	check_view(&vb1, s1, "b after a's garbage");
	check_view(&vb2, s2, "b after a's garbage");
	CHECK_OK(rkv_consumer_release(b, &vb1));
	CHECK_OK(rkv_consumer_release(b, &vb2));
	/* b: frames 3 and 4 are queued for it (depth 2) */
	for (uint64_t s = s3; s <= s4; s++) {
		struct rkv_view v;
		memset(&v, 0, sizeof(v));
		CHECK_OK(rkv_consumer_acquire(b, &v, 1000000000));
		check_view(&v, s, "b");
		CHECK_OK(rkv_consumer_release(b, &v));
	}

	/* Both keep working, and nobody was evicted for any of it. */
	for (int k = 0; k < 30; k++) {
		uint64_t s = publish(p, 4096);
		struct rkv_view v;
		memset(&v, 0, sizeof(v));
		CHECK_OK(rkv_consumer_acquire(a, &v, 1000000000));
		check_view(&v, s, "a");
		CHECK_OK(rkv_consumer_release(a, &v));
		memset(&v, 0, sizeof(v));
		CHECK_OK(rkv_consumer_acquire(b, &v, 1000000000));
		check_view(&v, s, "b");
		CHECK_OK(rkv_consumer_release(b, &v));
	}
	CHECK_UINT(evictions(p), ==, 0);
	wait_books(p, 2, 12, "api garbage, both attached");
	rkv_consumer_detach(a);
	rkv_consumer_detach(b);
	wait_books(p, 0, 12, "api garbage end");
	rkv_producer_destroy(p);
}

/* ---- 5: slot descriptors scribbled on -------------------------------------- */

static void test_descriptors(void)
{
	char name[64];
	rkv_producer *p;
	rkv_consumer *c;
	struct rkv_view v;
	void *base;
	uint64_t size;
	const uint32_t nslots = 4;

	test_pool_name(name, sizeof(name), "desc");
	p = make_producer(name, nslots, 4096, 0);
	c = attach(name, RKV_POLICY_DROP, 2, 1, NULL);
	CHECK_OK(rkv__producer_pool_area(p, &base, &size));
	struct rkv_wire_pool *h = base;
	struct rkv_wire_slot *slots = (struct rkv_wire_slot *)((uint8_t *)base + h->slots_offset);
	struct rkv_wire_slot saved[4];

	for (int kind = 0; kind < 4; kind++) {
		publish(p, 4096);
		memcpy(saved, slots, sizeof(saved));
		for (uint32_t s = 0; s < nslots; s++) {
			switch (kind) {
			case 0: slots[s].frame.bytes_used = 4097; break;
			case 1: slots[s].pub_seq += 1; break;
			case 2:
				slots[s].frame.num_planes = 1;
				slots[s].frame.planes[0].offset = 1ull << 40;
				slots[s].frame.planes[0].size = 64;
				break;
			default: slots[s].frame.num_planes = RKV_MAX_PLANES + 1; break;
			}
		}
		memset(&v, 0, sizeof(v));
		int r = rkv_consumer_acquire(c, &v, 1000000000);
		memcpy(slots, saved, sizeof(saved));
		if (r != -EPROTO)
			FAIL("descriptor scribble %d: acquire = %d, expected -EPROTO", kind, r);
		/* the bad frame was skipped and given back; the next one is fine */
		uint64_t seq = publish(p, 4096);
		memset(&v, 0, sizeof(v));
		CHECK_OK(rkv_consumer_acquire(c, &v, 1000000000));
		check_view(&v, seq, "after a bad descriptor");
		CHECK_OK(rkv_consumer_release(c, &v));
	}
	CHECK_UINT(evictions(p), ==, 0);
	rkv_consumer_detach(c);
	wait_books(p, 0, (int)nslots, "descriptor test end");
	rkv_producer_destroy(p);
}

/* ---- 6: what an evicted consumer still holds ------------------------------ */

/*
 * A consumer is evicted while a frame is queued to it (here it lied once;
 * in a group, another member's lie can get an honest member evicted).
 * Whatever acquire still hands it must be what acquire promises: a view
 * that stays valid and unchanged until it is released. Otherwise acquire
 * must say -ECONNRESET.
 */
static void test_evicted_views(void)
{
	char name[64];
	rkv_producer *p;
	rkv_consumer *liar, *other;
	struct rkv_view v, w;
	void *base;
	uint64_t size;

	test_pool_name(name, sizeof(name), "evv");
	p = make_producer(name, 8, 4096, 0);
	liar = attach(name, RKV_POLICY_DROP, 2, 1, NULL);
	other = attach(name, RKV_POLICY_DROP, 2, 1, NULL);
	uint64_t first = publish(p, 4096);
	memset(&w, 0, sizeof(w));
	CHECK_OK(rkv_consumer_acquire(other, &w, 1000000000));
	CHECK_OK(rkv_consumer_release(other, &w));

	CHECK_OK(rkv__consumer_chan_area(liar, &base, &size));
	chan_push_release(base, 9999);
	(void)rkv__producer_free_slots(p);
	CHECK_UINT(evictions(p), ==, 1);

	memset(&v, 0, sizeof(v));
	int r = rkv_consumer_acquire(liar, &v, 0);
	if (r == 0) {
		/* the pool moves on; the view must not */
		for (int k = 0; k < 30; k++) {
			publish(p, 4096);
			memset(&w, 0, sizeof(w));
			CHECK_OK(rkv_consumer_acquire(other, &w, 1000000000));
			CHECK_OK(rkv_consumer_release(other, &w));
		}
		check_view(&v, first, "a view an evicted consumer got from acquire");
		(void)rkv_consumer_release(liar, &v);
		printf("  evicted consumer: acquire gave its queued frame, which stayed intact\n");
	} else {
		CHECK_ERR(r, ECONNRESET);
		printf("  evicted consumer: acquire says -ECONNRESET\n");
	}
	rkv_consumer_detach(liar);
	rkv_consumer_detach(other);
	wait_books(p, 0, 8, "evicted views end");
	rkv_producer_destroy(p);

	/* An honest group member holds a frame; another member stamps the
	 * queued cells with the honest one's id, so the producer finds it
	 * over its max_held and evicts it. Its view must stay whole. */
	test_pool_name(name, sizeof(name), "evg");
	p = make_producer(name, 24, 4096, 0);
	rkv_consumer *a = attach(name, RKV_POLICY_GROUP, 4, 1, "g");
	rkv_consumer *b = attach(name, RKV_POLICY_GROUP, 4, 1, "g");
	struct rkv_consumer_stats sa;
	CHECK_OK(rkv_consumer_stats(a, &sa, sizeof(*(&sa))));
	uint64_t held_seq = publish(p, 4096);
	memset(&v, 0, sizeof(v));
	CHECK_OK(rkv_consumer_acquire(a, &v, 1000000000));
	check_view(&v, held_seq, "honest member");
	for (int k = 0; k < 3; k++)
		publish(p, 4096);
	CHECK_OK(rkv__consumer_group_area(b, &base, &size));
	const struct rkv_wire_group *g = base;
	uint64_t *cells = (uint64_t *)((uint8_t *)base + g->cells_offset);
	uint64_t h = __atomic_load_n(&g->head, __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&g->tail, __ATOMIC_ACQUIRE);
	for (uint64_t pos = h; pos != t; pos++) {
		uint64_t *cp = &cells[pos & (g->ring_size - 1)];
		uint64_t cell = __atomic_load_n(cp, __ATOMIC_ACQUIRE);
		__atomic_store_n(cp, RKV_CELL(RKV_CELL_TAG(cell), sa.id + 1, RKV_CELL_SLOT(cell)),
				 __ATOMIC_RELEASE);
	}
	for (int k = 0; k < 40; k++) {
		publish(p, 4096);
		memset(&w, 0, sizeof(w));
		if (rkv_consumer_acquire(b, &w, 0) == 0)
			CHECK_OK(rkv_consumer_release(b, &w));
	}
	printf("  honest group member %s\n", evictions(p) ? "evicted by the other's scribble" : "kept");
	check_view(&v, held_seq, "an honest group member's held view, after another member's scribble");
	(void)rkv_consumer_release(a, &v);
	rkv_consumer_detach(a);
	rkv_consumer_detach(b);
	wait_books(p, 0, 24, "evicted group member end");
	rkv_producer_destroy(p);
}

int main(void)
{
	test_watchdog(280);
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("1. scribbled pool headers\n");
	test_pool_header();
	printf("2. area checks on mutated copies\n");
	test_checks();
	printf("3. consumers scribbling on their rings\n");
	test_rings();
	printf("4. garbage handed back through the API\n");
	test_api_garbage();
	printf("5. scribbled slot descriptors\n");
	test_descriptors();
	printf("6. what an evicted consumer still holds\n");
	test_evicted_views();
	printf("corrupt: all passed\n");
	return 0;
}
