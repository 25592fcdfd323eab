/* SPDX-License-Identifier: MIT */
/*
 * fuzz_release.c - a consumer that writes garbage where the producer reads.
 *
 * One real producer and one honest consumer (block policy) live for the
 * whole run; beside them a victim consumer, attached in the same process,
 * whose chan area (and group area, for a group victim) the input scribbles
 * on: release-ring entries for slots out of range, slots it never held,
 * slots the honest consumer holds, duplicates; release_tail and ready_head
 * moved anywhere; mailbox garbage; raw bytes anywhere in its areas. Between
 * scribbles the producer publishes and the honest consumer takes, checks
 * and releases every frame.
 *
 * Invariants (abort() when broken, so the fuzzer keeps the input):
 *   - no crash, no sanitizer report, in the producer or in either consumer;
 *   - the honest consumer receives every published frame, in order, with
 *     every byte intact, and a frame it holds is never rewritten;
 *   - the producer can always loan a slot (the slot budget holds);
 *   - once the victim is gone (evicted, or detached at the end of an input
 *     that asks for it), the producer's books show every slot free.
 *
 * Input: ctl, then one-byte opcodes with arguments (see run_op()).
 *   ctl bits 0-1 the victim's policy if one is attached for this input
 *       (drop, latest, group, block); bit 2 detach the victim at the end
 *       and check the books; bits 3-5 frames published at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool/internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 16
#define CAPACITY 4096
#define HONEST_DEPTH 4
#define HONEST_HELD 2
#define VICTIM_DEPTH 2
#define VICTIM_HELD 2
#define GROUP_NAME "fzv"

static const uint32_t victim_policies[4] = {
	RKV_POLICY_DROP, RKV_POLICY_LATEST, RKV_POLICY_GROUP, RKV_POLICY_BLOCK,
};

static struct {
	int ready;
	char name[RKV_NAME_MAX];
	rkv_producer *p;
	rkv_consumer *honest;
	uint64_t seq;            /* last published */
	uint64_t honest_next;    /* the seq the honest consumer expects next */
	struct rkv_view hold;    /* a frame the honest consumer keeps a while */
	int holding;

	rkv_consumer *victim;
	uint32_t victim_policy;
	uint64_t evictions_at_attach;
	int raw_scribbled;       /* its chan got raw bytes: it may think anything */
	struct rkv_view vheld[VICTIM_HELD];
	int nvheld;
	uint8_t *chan;
	uint64_t chan_size;
	uint8_t *group;
	uint64_t group_size;
	/* the chan's layout as it was at attach, before any scribble */
	uint64_t ready_off, release_off;
	uint32_t ready_size, release_size;
	uint64_t cells_off;
	uint32_t ring_size;
} S;

/* How inputs ended, printed at exit when FUZZ_STATS is set. */
static struct {
	unsigned long inputs, attached, evicted, detached, published;
} stats;

static void print_stats(void)
{
	fprintf(stderr, "fuzz_release: %lu inputs, %lu frames, %lu victims: %lu evicted, "
		"%lu detached, books checked %lu times\n", stats.inputs, stats.published,
		stats.attached, stats.evicted, stats.detached, stats.evicted + stats.detached);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
	nanosleep(&ts, NULL);
}

static void setup(void)
{
	struct rkv_pool_opts po = {
		.slot_count = SLOTS, .slot_capacity = CAPACITY, .max_consumers = 8,
		.max_loans = 1, .block_timeout_ns = 2000000,
	};
	char err[160] = "";
	struct rkv_consumer_opts co = {
		.policy = RKV_POLICY_BLOCK, .queue_depth = HONEST_DEPTH,
		.max_held = HONEST_HELD, .label = "honest",
		.errbuf = err, .errbuf_len = sizeof(err),
	};
	int r;

	snprintf(S.name, sizeof(S.name), "fz.release.%d", (int)getpid());
	r = rkv_producer_create(S.name, &po, &S.p);
	if (r < 0)
		fuzz_die("setup: rkv_producer_create: %s", strerror(-r));
	do /* libFuzzer's SIGALRM: -EINTR, attach again (see publish_one) */
		r = rkv_consumer_attach(S.name, &co, &S.honest);
	while (r == -EINTR);
	if (r < 0)
		fuzz_die("setup: attach honest: %s (%s)", strerror(-r), err);
	S.honest_next = 1;
	S.ready = 1;
	if (getenv("FUZZ_STATS"))
		atexit(print_stats);
}

/* ---- victim --------------------------------------------------------------- */

static void victim_attach(uint32_t policy)
{
	char err[160] = "";
	struct rkv_consumer_opts co = {
		.policy = policy, .queue_depth = VICTIM_DEPTH, .max_held = VICTIM_HELD,
		.group = policy == RKV_POLICY_GROUP ? GROUP_NAME : NULL, .label = "victim",
		.errbuf = err, .errbuf_len = sizeof(err),
	};
	void *base;
	uint64_t size;
	int r;

	do /* libFuzzer's SIGALRM: -EINTR, attach again (see publish_one) */
		r = rkv_consumer_attach(S.name, &co, &S.victim);
	while (r == -EINTR);
	if (r < 0)
		fuzz_die("attach victim (%s): %s (%s)", rkv_policy_name(policy), strerror(-r), err);
	S.victim_policy = policy;
	S.nvheld = 0;
	S.raw_scribbled = 0;
	stats.attached++;
	{
		struct rkv_pool_stats st;
		if (rkv_producer_stats(S.p, &st, sizeof(*(&st))) < 0)
			fuzz_die("rkv_producer_stats failed");
		S.evictions_at_attach = st.evictions;
	}
	r = rkv__consumer_chan_area(S.victim, &base, &size);
	if (r < 0)
		fuzz_die("victim chan area: %s", strerror(-r));
	S.chan = base;
	S.chan_size = size;
	const struct rkv_wire_chan *ch = base;
	S.ready_off = ch->ready_offset;
	S.ready_size = ch->ready_size;
	S.release_off = ch->release_offset;
	S.release_size = ch->release_size;
	if (!S.ready_size || !S.release_size || S.ready_off + 8ull * S.ready_size > size ||
	    S.release_off + 4ull * S.release_size > size)
		fuzz_die("the victim's chan layout is not what wire.h says");
	S.group = NULL;
	S.group_size = 0;
	if (policy == RKV_POLICY_GROUP) {
		r = rkv__consumer_group_area(S.victim, &base, &size);
		if (r < 0)
			fuzz_die("victim group area: %s", strerror(-r));
		const struct rkv_wire_group *g = base;
		S.group = base;
		S.group_size = size;
		S.cells_off = g->cells_offset;
		S.ring_size = g->ring_size;
		if (!S.ring_size || S.cells_off + 8ull * S.ring_size > size)
			fuzz_die("the victim's group layout is not what wire.h says");
	}
}

/* Wait until the producer counts @n consumers and its books show every
 * slot free but those the honest consumer holds; abort() if never. */
static void check_books(uint32_t n, const char *when)
{
	struct rkv_pool_stats st;
	int free_slots = -1;
	int want = SLOTS - (S.holding ? 1 : 0);

	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 20000; i++) {
		if (rkv_producer_stats(S.p, &st, sizeof(*(&st))) == 0 && st.consumers == n) {
			free_slots = rkv__producer_free_slots(S.p);
			if (free_slots == want)
				return;
			if (free_slots > want)
				break; /* more free than exist: a slot was freed twice */
		}
		sleep_us(100);
	}
	fuzz_die("%s: the producer's books show %d free slots, expected %d (consumers %u, want %u)",
		 when, free_slots, want, st.consumers, n);
}

static void victim_detach(const char *when)
{
	rkv_consumer_detach(S.victim);
	S.victim = NULL;
	S.chan = S.group = NULL;
	S.nvheld = 0;
	check_books(1, when);
}

/* Has the victim been thrown out? Takes (and gives back) what it can. */
static int victim_evicted(void)
{
	for (int k = 0; k < 8; k++) {
		struct rkv_view v;
		int r;

		if (S.nvheld >= VICTIM_HELD)
			return 0;
		memset(&v, 0, sizeof(v));
		r = rkv_consumer_acquire(S.victim, &v, 0);
		if (r == -ECONNRESET || r == -EPIPE)
			return 1;
		if (r == 0) {
			if (v.frame.bytes_used > v.capacity)
				fuzz_die("victim got a view of %llu bytes in %llu",
					 (unsigned long long)v.frame.bytes_used,
					 (unsigned long long)v.capacity);
			(void)rkv_consumer_release(S.victim, &v);
			continue;
		}
		if (r == -EAGAIN || r == -EBUSY)
			return 0;
		/* -EPROTO: a bad entry skipped; keep going */
	}
	return 0;
}

/* ---- the honest side ------------------------------------------------------ */

static void verify_view(const struct rkv_view *v, uint64_t seq, const char *who)
{
	uint64_t len = fuzz_frame_len(seq, CAPACITY);
	int64_t bad;

	if (v->frame.seq != seq)
		fuzz_die("%s: got frame %llu, expected %llu", who,
			 (unsigned long long)v->frame.seq, (unsigned long long)seq);
	if (v->frame.bytes_used != len)
		fuzz_die("%s: frame %llu has %llu bytes, expected %llu", who,
			 (unsigned long long)seq, (unsigned long long)v->frame.bytes_used,
			 (unsigned long long)len);
	bad = fuzz_frame_bad(v->data, seq, len);
	if (bad >= 0)
		fuzz_die("%s: frame %llu torn at byte %lld", who, (unsigned long long)seq,
			 (long long)bad);
}

static void publish_one(int keep)
{
	struct rkv_loan loan;
	struct rkv_frame f;
	struct rkv_view v;
	uint64_t seq = S.seq + 1, len = fuzz_frame_len(seq, CAPACITY);
	int r;

	/* libFuzzer's timeout alarm (SIGALRM, no SA_RESTART) interrupts
	 * waits: -EINTR is the library keeping its word; wait again. */
	do
		r = rkv_producer_loan(S.p, &loan, 2000000000);
	while (r == -EINTR);
	if (r < 0)
		fuzz_die("loan: %s (slots lost?)", strerror(-r));
	fuzz_frame_fill(loan.data, seq, len);
	memset(&f, 0, sizeof(f));
	f.seq = seq;
	f.fourcc = RKV_FMT_BYTES;
	f.bytes_used = len;
	r = rkv_producer_publish(S.p, &loan, &f);
	/* -EINTR: the frame went to every consumer with room, the loan is
	 * consumed; only a full block consumer missed it. */
	if (r < 0 && r != -EINTR)
		fuzz_die("publish: %s", strerror(-r));
	S.seq = seq;
	stats.published++;

	memset(&v, 0, sizeof(v));
	do
		r = rkv_consumer_acquire(S.honest, &v, 2000000000);
	while (r == -EINTR);
	if (r < 0)
		fuzz_die("honest acquire of frame %llu: %s", (unsigned long long)seq, strerror(-r));
	verify_view(&v, S.honest_next, "honest");
	S.honest_next++;
	if (keep && !S.holding) {
		S.hold = v;
		S.holding = 1;
		return;
	}
	r = rkv_consumer_release(S.honest, &v);
	if (r < 0)
		fuzz_die("honest release: %s", strerror(-r));
}

static void honest_unhold(void)
{
	int r;

	if (!S.holding)
		return;
	verify_view(&S.hold, S.hold.frame.seq, "honest (held)");
	r = rkv_consumer_release(S.honest, &S.hold);
	if (r < 0)
		fuzz_die("honest release of its held frame: %s", strerror(-r));
	S.holding = 0;
}

/* ---- scribbles ------------------------------------------------------------ */

#define CHAN_U64(field) ((uint64_t *)(S.chan + offsetof(struct rkv_wire_chan, field)))

static void push_release(uint32_t slot)
{
	uint64_t tail = __atomic_load_n(CHAN_U64(release_tail), __ATOMIC_RELAXED);
	uint32_t *ring = (uint32_t *)(S.chan + S.release_off);
	__atomic_store_n(&ring[tail & (S.release_size - 1)], slot, __ATOMIC_RELAXED);
	__atomic_store_n(CHAN_U64(release_tail), tail + 1, __ATOMIC_RELEASE);
}

static uint32_t slot_value(uint16_t v)
{
	/* mostly in range and near it; sometimes huge */
	if (v >= 0xff00)
		return UINT32_MAX - (v & 0xff);
	return v % (SLOTS * 2);
}

static void raw_write(uint8_t *area, uint64_t size, uint64_t off, const uint8_t *src, size_t len)
{
	if (!area || !size)
		return;
	off %= size;
	if (len > size - off)
		len = (size_t)(size - off);
	/* byte by byte and atomic: the producer's thread may be reading */
	for (size_t i = 0; i < len; i++)
		__atomic_store_n(&area[off + i], src[i], __ATOMIC_RELAXED);
}

/*
 * Opcodes (byte % 16):
 *   0  push a release entry: slot16
 *   1  move release_tail: d16 (signed)
 *   2  move ready_head: d16 (signed, relative to ready_tail)
 *   3  mailbox := raw u64
 *   4  mailbox := an entry for slot8 with the tag it has, xor flip8
 *   5  raw bytes into the chan: off16 len8 (max 16) bytes
 *   6  raw bytes into the group area: off16 len8 bytes
 *   7  a group cell: idx8 owner8 slot16 tagflip8
 *   8  group head: d16 relative to tail
 *   9  the victim acquires a frame (API) and holds it
 *   10 the victim releases a held frame (API): which8
 *   11 push the slot the honest consumer holds
 *   12 push a slot the victim holds (a duplicate release): which8
 *   13 publish a frame (the honest consumer takes it)
 *   14 publish a frame the honest consumer keeps until the end
 *   15 release_tail far ahead: shift8
 */
static void run_op(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in) % 16;
	uint8_t tmp[16];

	switch (op) {
	case 0:
		push_release(slot_value(fuzz_u16(in)));
		break;
	case 1: {
		int16_t d = (int16_t)fuzz_u16(in);
		uint64_t t = __atomic_load_n(CHAN_U64(release_tail), __ATOMIC_RELAXED);
		__atomic_store_n(CHAN_U64(release_tail), t + (uint64_t)(int64_t)d, __ATOMIC_RELEASE);
		break;
	}
	case 2: {
		int16_t d = (int16_t)fuzz_u16(in);
		uint64_t t = __atomic_load_n(CHAN_U64(ready_tail), __ATOMIC_ACQUIRE);
		__atomic_store_n(CHAN_U64(ready_head), t + (uint64_t)(int64_t)d, __ATOMIC_RELEASE);
		break;
	}
	case 3:
		__atomic_store_n(CHAN_U64(mailbox), fuzz_u64(in), __ATOMIC_RELEASE);
		break;
	case 4: {
		uint8_t slot = fuzz_u8(in) % (SLOTS + 2), flip = fuzz_u8(in);
		void *pbase;
		uint64_t psize;
		uint32_t tag = 0;
		if (rkv__producer_pool_area(S.p, &pbase, &psize) == 0 && slot < SLOTS) {
			const struct rkv_wire_pool *pl = pbase;
			const struct rkv_wire_slot *s = (const void *)((const uint8_t *)pbase +
				pl->slots_offset + slot * sizeof(struct rkv_wire_slot));
			tag = (uint32_t)__atomic_load_n(&s->pub_seq, __ATOMIC_RELAXED);
		}
		__atomic_store_n(CHAN_U64(mailbox), RKV_ENTRY(tag ^ flip, slot), __ATOMIC_RELEASE);
		break;
	}
	case 5: {
		uint16_t off = fuzz_u16(in);
		size_t len = fuzz_bytes(in, tmp, fuzz_u8(in) % 17);
		raw_write(S.chan, S.chan_size, off, tmp, len);
		S.raw_scribbled = 1;
		break;
	}
	case 6: {
		uint16_t off = fuzz_u16(in);
		size_t len = fuzz_bytes(in, tmp, fuzz_u8(in) % 17);
		raw_write(S.group, S.group_size, off, tmp, len);
		break;
	}
	case 7: {
		uint8_t idx = fuzz_u8(in), owner = fuzz_u8(in);
		uint16_t slot = fuzz_u16(in);
		uint8_t flip = fuzz_u8(in);
		if (!S.group)
			break;
		uint64_t *gh = (uint64_t *)(S.group + offsetof(struct rkv_wire_group, head));
		uint64_t *cells = (uint64_t *)(S.group + S.cells_off);
		uint64_t pos = __atomic_load_n(gh, __ATOMIC_RELAXED) + idx % 8;
		__atomic_store_n(&cells[pos & (S.ring_size - 1)],
				 RKV_CELL((uint32_t)pos ^ flip, owner % 4, slot_value(slot)),
				 __ATOMIC_RELEASE);
		break;
	}
	case 8: {
		int16_t d = (int16_t)fuzz_u16(in);
		if (!S.group)
			break;
		uint64_t *gh = (uint64_t *)(S.group + offsetof(struct rkv_wire_group, head));
		uint64_t *gt = (uint64_t *)(S.group + offsetof(struct rkv_wire_group, tail));
		uint64_t t = __atomic_load_n(gt, __ATOMIC_ACQUIRE);
		__atomic_store_n(gh, t + (uint64_t)(int64_t)d, __ATOMIC_RELEASE);
		break;
	}
	case 9:
		if (S.nvheld < VICTIM_HELD) {
			struct rkv_view v;
			memset(&v, 0, sizeof(v));
			if (rkv_consumer_acquire(S.victim, &v, 0) == 0) {
				if (v.frame.bytes_used > v.capacity)
					fuzz_die("victim view of %llu bytes in %llu",
						 (unsigned long long)v.frame.bytes_used,
						 (unsigned long long)v.capacity);
				S.vheld[S.nvheld++] = v;
			}
		}
		break;
	case 10: {
		uint8_t k = fuzz_u8(in);
		if (S.nvheld) {
			k %= S.nvheld;
			(void)rkv_consumer_release(S.victim, &S.vheld[k]);
			S.vheld[k] = S.vheld[--S.nvheld];
		}
		break;
	}
	case 11:
		if (S.holding)
			push_release(S.hold.slot);
		break;
	case 12: {
		uint8_t k = fuzz_u8(in);
		if (S.nvheld)
			push_release(S.vheld[k % S.nvheld].slot);
		break;
	}
	case 13:
		publish_one(0);
		break;
	case 14:
		publish_one(1);
		break;
	default: {
		uint8_t sh = fuzz_u8(in) % 64;
		uint64_t t = __atomic_load_n(CHAN_U64(release_tail), __ATOMIC_RELAXED);
		__atomic_store_n(CHAN_U64(release_tail), t + ((uint64_t)1 << sh), __ATOMIC_RELEASE);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };

	if (!S.ready)
		setup();

	uint8_t ctl = fuzz_u8(&in);
	stats.inputs++;
	if (!S.victim)
		victim_attach(victim_policies[ctl & 3]);

	for (int k = 0; k < 48 && fuzz_more(&in); k++)
		run_op(&in);

	unsigned frames = 1 + ((ctl >> 3) & 7);
	for (unsigned k = 0; k < frames; k++)
		publish_one(0);
	honest_unhold();

	/* the honest consumer took every frame; nothing may be left for it */
	struct rkv_view v;
	memset(&v, 0, sizeof(v));
	int r = rkv_consumer_acquire(S.honest, &v, 0);
	if (r != -EAGAIN)
		fuzz_die("honest consumer: %d after taking every frame, expected -EAGAIN", r);

	if (victim_evicted()) {
		struct rkv_pool_stats st;
		if (rkv_producer_stats(S.p, &st, sizeof(*(&st))) < 0)
			fuzz_die("rkv_producer_stats failed");
		if (!S.raw_scribbled && st.evictions == S.evictions_at_attach)
			fuzz_die("the victim was thrown out but the pool counts no eviction");
		stats.evicted++;
		victim_detach("after an eviction");
	} else if (ctl & 4) {
		stats.detached++;
		victim_detach("after the victim detached");
	}
	return 0;
}

/* Seeds: a few frames with each victim policy and a plausible scribble. */
size_t fuzz_seed_input(uint8_t *buf, size_t cap, unsigned variant)
{
	struct fuzz_out o = { buf, 0, cap };
	unsigned pol = variant % 4;

	fuzz_put8(&o, pol | 4 | (((variant / 4) % 8) << 3));
	fuzz_put8(&o, 13); /* publish */
	fuzz_put8(&o, 9);  /* victim takes one */
	fuzz_put8(&o, 14); /* honest keeps one */
	switch ((variant / 32) % 6) {
	case 0:
		fuzz_put8(&o, 12); /* duplicate release of the victim's frame */
		fuzz_put8(&o, 0);
		break;
	case 1:
		fuzz_put8(&o, 11); /* release the honest consumer's slot */
		break;
	case 2:
		fuzz_put8(&o, 0); /* a slot out of range */
		fuzz_put16(&o, SLOTS + 3);
		break;
	case 3:
		fuzz_put8(&o, 2); /* ready_head past the tail */
		fuzz_put16(&o, 5);
		break;
	case 4:
		fuzz_put8(&o, 4); /* a mailbox entry for slot 1 */
		fuzz_put8(&o, 1);
		fuzz_put8(&o, 0);
		break;
	default:
		fuzz_put8(&o, 7); /* a group cell claimed for another member */
		fuzz_put8(&o, 0);
		fuzz_put8(&o, 2);
		fuzz_put16(&o, 1);
		fuzz_put8(&o, 0);
		break;
	}
	fuzz_put8(&o, 10); /* victim releases */
	fuzz_put8(&o, 0);
	fuzz_put8(&o, 13);
	return fuzz_out_len(&o);
}
