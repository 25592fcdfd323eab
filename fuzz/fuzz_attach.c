/* SPDX-License-Identifier: MIT */
/*
 * fuzz_attach.c - a consumer adopting whatever a "producer" hands it.
 *
 * The second half of rkv_consumer_attach(), rkv__consumer_adopt(), gets a
 * welcome message and the memfds and eventfds that rode with it. Here they
 * come from the fuzzer: the target starts from a valid layout, copied once
 * from a real small pool (one consumer of each policy attached, a few frames
 * queued), and the input overwrites parts of it: welcome fields, pool
 * header and slot descriptors, chan header and ready ring, group cells,
 * area sizes, seals, the order and number of the fds. An empty input is the
 * valid layout itself, so the fuzzer starts on the successful path.
 *
 * Invariants (abort() when broken, so the fuzzer keeps the input):
 *   - no crash, no sanitizer report;
 *   - adopt returns 0 or a negative errno; -EPROTO comes with a reason;
 *   - on success, every frame acquire() hands out lies inside its view's
 *     capacity and is readable to its last byte, and releasing it gives 0
 *     (or -EPROTO when the fuzzed release ring looks full);
 *   - every fd handed to adopt is closed after a failed adopt or a detach.
 *
 * Input: ctl, ctl2, then records (see apply_record()).
 *   ctl  bits 0-1 policy (block, drop, latest, group), bit 2 unsealed area,
 *        bit 3 swap two fds, bit 4 one fd fewer, bit 5 one fd more,
 *        bit 6 short welcome, bit 7 wrong policy in the options
 *   ctl2 bits 0-1 which area's memfd size is off, bits 2-3 how; the rest
 *        picks the fds to swap and the area left unsealed
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool/internal.h"
#include "fuzz_util.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPOL 4
static const uint32_t policies[NPOL] = {
	RKV_POLICY_BLOCK, RKV_POLICY_DROP, RKV_POLICY_LATEST, RKV_POLICY_GROUP,
};

#define SLOTS 16
#define CAPACITY 4096
#define DEPTH 2
#define HELD 1
#define GROUP_NAME "fzg"

/* The valid layout, taken from a real pool once. */
static struct {
	int ready;
	uint8_t *pool;
	uint64_t pool_size;
	struct {
		uint8_t *chan;
		uint64_t chan_size;
		uint8_t *group;
		uint64_t group_size;
		uint32_t id;
	} pol[NPOL];
} snap;

/* How inputs ended, printed at exit when FUZZ_STATS is set. */
static struct {
	unsigned long inputs, adopted, views, refused[256];
} stats;

static void print_stats(void)
{
	fprintf(stderr, "fuzz_attach: %lu inputs, %lu adopted, %lu views taken; refused:",
		stats.inputs, stats.adopted, stats.views);
	for (int e = 0; e < 256; e++)
		if (stats.refused[e])
			fprintf(stderr, " %s=%lu", e ? strerror(e) : "other", stats.refused[e]);
	fputc('\n', stderr);
}

static uint8_t *dup_area(const void *base, uint64_t size)
{
	uint8_t *p = malloc(size);
	if (!p)
		fuzz_die("out of memory copying an area of %llu bytes", (unsigned long long)size);
	memcpy(p, base, size);
	return p;
}

/*
 * Copy a live shared area (once, for the snapshot). The producer's service
 * thread may still write its counters (a detach being processed), so read
 * it the way another process would: with atomic loads, which
 * ThreadSanitizer does not count as racing with the producer's atomic
 * stores.
 */
static uint8_t *dup_live_area(const void *base, uint64_t size)
{
	uint8_t *p = malloc(size);
	const uint8_t *src = base;
	if (!p)
		fuzz_die("out of memory copying an area of %llu bytes", (unsigned long long)size);
	for (uint64_t i = 0; i < size; i++)
		p[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return p;
}

static void take_snapshot(void)
{
	struct rkv_pool_opts po = {
		.slot_count = SLOTS, .slot_capacity = CAPACITY, .max_consumers = 8,
		.max_loans = 1, .block_timeout_ns = 1000000,
	};
	rkv_producer *p = NULL;
	rkv_consumer *c[NPOL] = { 0 };
	char name[RKV_NAME_MAX];
	void *base;
	uint64_t size;
	int r;

	snprintf(name, sizeof(name), "fz.attach.%d", (int)getpid());
	r = rkv_producer_create(name, &po, &p);
	if (r < 0)
		fuzz_die("setup: rkv_producer_create: %s", strerror(-r));
	for (int i = 0; i < NPOL; i++) {
		char err[160] = "";
		struct rkv_consumer_opts co = {
			.policy = policies[i], .queue_depth = DEPTH, .max_held = HELD,
			.group = policies[i] == RKV_POLICY_GROUP ? GROUP_NAME : NULL,
			.label = "fz", .errbuf = err, .errbuf_len = sizeof(err),
		};
		do /* libFuzzer's timeout alarm (SIGALRM, no SA_RESTART): again */
			r = rkv_consumer_attach(name, &co, &c[i]);
		while (r == -EINTR);
		if (r < 0)
			fuzz_die("setup: attach %s: %s (%s)", rkv_policy_name(policies[i]),
				 strerror(-r), err);
	}
	/* A few frames, so the rings and mailbox hold real entries. */
	for (uint64_t seq = 1; seq <= 2; seq++) {
		uint8_t buf[CAPACITY];
		struct rkv_frame f = { .seq = seq, .fourcc = RKV_FMT_BYTES };
		uint64_t len = fuzz_frame_len(seq, CAPACITY);
		fuzz_frame_fill(buf, seq, len);
		f.bytes_used = len;
		r = rkv_producer_publish_copy(p, buf, len, &f, 1000000000);
		if (r < 0)
			fuzz_die("setup: publish: %s", strerror(-r));
	}

	r = rkv__producer_pool_area(p, &base, &size);
	if (r < 0)
		fuzz_die("setup: pool area: %s", strerror(-r));
	snap.pool = dup_live_area(base, size);
	snap.pool_size = size;
	for (int i = 0; i < NPOL; i++) {
		struct rkv_consumer_stats st;
		r = rkv__consumer_chan_area(c[i], &base, &size);
		if (r < 0)
			fuzz_die("setup: chan area: %s", strerror(-r));
		snap.pol[i].chan = dup_live_area(base, size);
		snap.pol[i].chan_size = size;
		if (policies[i] == RKV_POLICY_GROUP) {
			r = rkv__consumer_group_area(c[i], &base, &size);
			if (r < 0)
				fuzz_die("setup: group area: %s", strerror(-r));
			snap.pol[i].group = dup_live_area(base, size);
			snap.pol[i].group_size = size;
		}
		r = rkv_consumer_stats(c[i], &st, sizeof(*(&st)));
		if (r < 0)
			fuzz_die("setup: consumer stats: %s", strerror(-r));
		snap.pol[i].id = st.id;
	}
	for (int i = 0; i < NPOL; i++)
		rkv_consumer_detach(c[i]);
	rkv_producer_destroy(p);
	snap.ready = 1;
	if (getenv("FUZZ_STATS"))
		atexit(print_stats);
}

/* ---- one input ------------------------------------------------------------ */

enum { A_WELCOME, A_POOL, A_CHAN, A_GROUP, A_COUNT };

struct work {
	uint8_t *area[A_COUNT];
	uint64_t size[A_COUNT];     /* bytes of the image */
	uint64_t hdr[A_COUNT];      /* bytes of its header, for field edits */
	uint64_t fsize[A_COUNT];    /* bytes of its memfd */
};

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/*
 * One record: kind, then its arguments.
 *   0-3  raw bytes into area kind: off16, len8 (max 32), bytes
 *   4    add a signed 16-bit delta to a u32 header field: area8, idx8, d16
 *   5    add a signed 16-bit delta to a u64 header field: area8, idx8, d16
 *   6    set a u64 header field to a boundary value: area8, idx8, which8
 *   7    queue a ready-ring entry in the chan: slot8, tagflip8
 *   8    the memfd size of an area: area8, size32 (at most 1 MiB; the
 *        image is cut or zero-extended to it)
 */
static void apply_record(struct work *w, struct fuzz_in *in)
{
	uint8_t kind = fuzz_u8(in) % 9;

	if (kind == 8) {
		unsigned a = 1 + fuzz_u8(in) % 3;
		uint32_t sz = fuzz_u32(in);
		if (w->area[a])
			w->fsize[a] = sz % ((1u << 20) + 1);
		return;
	}

	if (kind < 4) {
		uint16_t off = fuzz_u16(in);
		uint8_t len = fuzz_u8(in) % 33;
		uint8_t tmp[32];
		size_t got = fuzz_bytes(in, tmp, len);
		if (!w->area[kind] || !w->size[kind])
			return;
		uint64_t at = off % w->size[kind];
		if (got > w->size[kind] - at)
			got = (size_t)(w->size[kind] - at);
		memcpy(w->area[kind] + at, tmp, got);
		return;
	}
	if (kind < 7) {
		unsigned a = fuzz_u8(in) % A_COUNT;
		unsigned idx = fuzz_u8(in);
		if (!w->area[a])
			return;
		if (kind == 4) {
			int16_t d = (int16_t)fuzz_u16(in);
			uint64_t off = (idx * 4u) % (w->hdr[a] - 3);
			off &= ~(uint64_t)3;
			put_u32(w->area[a] + off, get_u32(w->area[a] + off) + (uint32_t)(int32_t)d);
		} else if (kind == 5) {
			int16_t d = (int16_t)fuzz_u16(in);
			uint64_t off = (idx * 8u) % (w->hdr[a] - 7);
			off &= ~(uint64_t)7;
			put_u64(w->area[a] + off, get_u64(w->area[a] + off) + (uint64_t)(int64_t)d);
		} else {
			const uint64_t vals[] = {
				0, 1, UINT64_MAX, (uint64_t)1 << 63, (uint64_t)1 << 32,
				UINT32_MAX, w->size[a], w->size[a] + 1, w->size[a] - 1, 4096,
				4095, 64, 63, RKV_MAX_SLOTS, RKV_MAX_SLOTS + 1, (uint64_t)1 << 31,
			};
			uint8_t which = fuzz_u8(in);
			uint64_t off = (idx * 8u) % (w->hdr[a] - 7);
			off &= ~(uint64_t)7;
			put_u64(w->area[a] + off, vals[which % (sizeof(vals) / sizeof(vals[0]))]);
		}
		return;
	}

	/* 7: a ready-ring entry, with the tag the slot's descriptor has, or not */
	uint8_t slot = fuzz_u8(in), flip = fuzz_u8(in);
	const struct rkv_wire_chan *ch = (const void *)w->area[A_CHAN];
	const struct rkv_wire_pool *pl = (const void *)w->area[A_POOL];
	uint32_t tag = 0;
	if (w->size[A_CHAN] < sizeof(*ch))
		return;
	/* read the layout from the (possibly edited) images, but stay inside them */
	uint64_t rsize = ch->ready_size, roff = ch->ready_offset, tail = ch->ready_tail;
	if (!rsize || (rsize & (rsize - 1)) || roff > w->size[A_CHAN] ||
	    rsize > (w->size[A_CHAN] - roff) / 8)
		return;
	if (w->size[A_POOL] >= sizeof(*pl) && slot < pl->slot_count &&
	    pl->slots_offset <= w->size[A_POOL] &&
	    (uint64_t)slot < (w->size[A_POOL] - pl->slots_offset) / sizeof(struct rkv_wire_slot)) {
		/* memcpy: a fuzzed slots_offset need not be aligned */
		memcpy(&tag, w->area[A_POOL] + pl->slots_offset +
			     (uint64_t)slot * sizeof(struct rkv_wire_slot) +
			     offsetof(struct rkv_wire_slot, pub_seq), sizeof(tag));
	}
	put_u64(w->area[A_CHAN] + roff + (tail & (rsize - 1)) * 8, RKV_ENTRY(tag ^ flip, slot));
	put_u64(w->area[A_CHAN] + offsetof(struct rkv_wire_chan, ready_tail), tail + 1);
}

/* A memfd holding @len bytes of @img, @size bytes long, sealed as asked. */
static int make_memfd(const char *what, const uint8_t *img, uint64_t len, uint64_t size,
		      int seal, int readonly)
{
	int fd = memfd_create(what, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	if (len > size)
		len = size;
	for (uint64_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, img + done, len - done, (off_t)done);
		if (n <= 0)
			goto fail;
		done += (uint64_t)n;
	}
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | (readonly ? 0 : F_SEAL_SEAL)) < 0)
		goto fail;
	if (seal && readonly && fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static void check_closed(const int *fds, int n, const char *when)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0 && fcntl(fds[i], F_GETFD) != -1)
			fuzz_die("fd %d (position %d) still open after %s", fds[i], i, when);
	}
}

static int valid_errno(int r)
{
	return r < 0 && r > -4096;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct work w;
	struct rkv_wire_welcome wel;
	int fds[RKV_WELCOME_FDS_MAX + 1], nfds = 0;
	int mine[RKV_WELCOME_FDS_MAX + 2]; /* what we created (and the socket), for the leak check */
	int nmine = 0, sv[2] = { -1, -1 };
	rkv_consumer *c = NULL;
	char err[256];
	int r;

	if (!snap.ready)
		take_snapshot();

	uint8_t ctl = fuzz_u8(&in), ctl2 = fuzz_u8(&in);
	unsigned pi = ctl & 3;
	int is_group = policies[pi] == RKV_POLICY_GROUP;

	memset(&w, 0, sizeof(w));
	memset(&wel, 0, sizeof(wel));
	wel.magic = RKV_MAGIC_WELCOME;
	wel.version = RKV_WIRE_VERSION;
	wel.status = 0;
	wel.id = snap.pol[pi].id;
	wel.nfds = is_group ? 5 : 4;
	wel.pool_size = snap.pool_size;
	wel.chan_size = snap.pol[pi].chan_size;
	wel.group_size = is_group ? snap.pol[pi].group_size : 0;
	wel.group_ring = is_group ? ((const struct rkv_wire_group *)snap.pol[pi].group)->ring_size : 0;
	wel.token = RKV_TOKEN(snap.pol[pi].id, 1);

	w.area[A_WELCOME] = (uint8_t *)&wel;
	w.size[A_WELCOME] = w.hdr[A_WELCOME] = sizeof(wel);
	w.area[A_POOL] = dup_area(snap.pool, snap.pool_size);
	w.size[A_POOL] = snap.pool_size;
	w.hdr[A_POOL] = sizeof(struct rkv_wire_pool);
	w.area[A_CHAN] = dup_area(snap.pol[pi].chan, snap.pol[pi].chan_size);
	w.size[A_CHAN] = snap.pol[pi].chan_size;
	w.hdr[A_CHAN] = sizeof(struct rkv_wire_chan);
	if (is_group) {
		w.area[A_GROUP] = dup_area(snap.pol[pi].group, snap.pol[pi].group_size);
		w.size[A_GROUP] = snap.pol[pi].group_size;
		w.hdr[A_GROUP] = sizeof(struct rkv_wire_group);
	}

	for (int a = 0; a < A_COUNT; a++)
		w.fsize[a] = w.size[a];
	for (int k = 0; k < 64 && fuzz_more(&in); k++)
		apply_record(&w, &in);

	/* the memfds, one of them perhaps of the wrong size or unsealed */
	uint64_t *fsize = w.fsize;
	unsigned off_area = 1 + (ctl2 & 3) % 3; /* pool, chan or group */
	switch ((ctl2 >> 2) & 3) {
	case 1:
		if (fsize[off_area] > 4096)
			fsize[off_area] -= 4096;
		break;
	case 2:
		fsize[off_area] += 1 + (ctl2 >> 4);
		break;
	case 3:
		fsize[off_area] = 1 + (ctl2 >> 4);
		break;
	default:
		break;
	}
	unsigned unsealed = (ctl & 4) ? 1 + (ctl2 >> 4) % 3 : 0;

	int pool_fd = make_memfd("fz-pool", w.area[A_POOL], w.size[A_POOL], fsize[A_POOL],
				 unsealed != A_POOL, 1);
	int chan_fd = make_memfd("fz-chan", w.area[A_CHAN], w.size[A_CHAN], fsize[A_CHAN],
				 unsealed != A_CHAN, 0);
	int group_fd = -1;
	if (is_group)
		group_fd = make_memfd("fz-group", w.area[A_GROUP], w.size[A_GROUP],
				      fsize[A_GROUP], unsealed != A_GROUP, 0);
	int wake[2] = { -1, -1 }, wpipe[2] = { -1, -1 };
	if (pool_fd < 0 || chan_fd < 0 || (is_group && group_fd < 0) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, wake) < 0 ||
	    pipe2(wpipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		fuzz_die("setup of one input failed: %s", strerror(errno));
	close(wake[1]);
	close(wpipe[1]);

	fds[nfds++] = pool_fd;
	fds[nfds++] = chan_fd;
	fds[nfds++] = wpipe[0];
	fds[nfds++] = wake[0];
	if (is_group)
		fds[nfds++] = group_fd;
	if (ctl & 8) {
		int i = (ctl2 >> 4) % nfds, j = (ctl2 >> 6) % nfds;
		int t = fds[i];
		fds[i] = fds[j];
		fds[j] = t;
	}
	if (ctl & 16) {
		close(fds[--nfds]);
	} else if (ctl & 32) {
		fds[nfds] = eventfd(0, EFD_CLOEXEC);
		if (fds[nfds] < 0)
			fuzz_die("eventfd: %s", strerror(errno));
		nfds++;
	}
	for (int i = 0; i < nfds; i++)
		mine[nmine++] = fds[i];
	mine[nmine++] = sv[0];

	uint32_t policy = policies[pi];
	if (ctl & 128)
		policy = policies[(pi + 1 + (ctl2 & 1)) % NPOL];
	err[0] = 0;
	struct rkv_consumer_opts co = {
		.policy = policy, .queue_depth = DEPTH, .max_held = HELD,
		.group = policy == RKV_POLICY_GROUP ? GROUP_NAME : NULL,
		.label = "fz", .errbuf = err, .errbuf_len = sizeof(err),
	};
	size_t wlen = (ctl & 64) ? (size_t)(ctl2 % sizeof(wel)) : sizeof(wel);

	r = rkv__consumer_adopt(sv[0], &wel, wlen, fds, nfds, &co, &c);
	if (r > 0 || (r < 0 && !valid_errno(r)))
		fuzz_die("rkv__consumer_adopt returned %d", r);
	if (r == -EPROTO && !err[0])
		fuzz_die("rkv__consumer_adopt: -EPROTO without a reason");
	stats.inputs++;
	if (r < 0 && getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_attach: adopt %d: %s\n", r, err);
	if (r < 0)
		stats.refused[-r < 256 ? -r : 0]++;
	else
		stats.adopted++;

	if (r == 0) {
		if (!c)
			fuzz_die("rkv__consumer_adopt: 0 but no consumer");
		/* Take what the fuzzed rings offer; every view must be sound. */
		for (int k = 0; k < 4; k++) {
			struct rkv_view v;
			memset(&v, 0, sizeof(v));
			r = rkv_consumer_acquire(c, &v, 0);
			if (r == 0) {
				stats.views++;
				if (!v.data || v.frame.bytes_used > v.capacity)
					fuzz_die("view of %llu bytes in a slot of %llu",
						 (unsigned long long)v.frame.bytes_used,
						 (unsigned long long)v.capacity);
				/* read every byte: a view past the mapping faults here */
				const volatile uint8_t *d = v.data;
				uint8_t sum = 0;
				for (uint64_t i = 0; i < v.frame.bytes_used; i++)
					sum = (uint8_t)(sum + d[i]);
				(void)sum;
				/* -EPROTO: the release ring the "producer" drains
				 * is full or nonsense; anything else is wrong */
				r = rkv_consumer_release(c, &v);
				if (r != 0 && r != -EPROTO)
					fuzz_die("release of a view just acquired: %d", r);
			} else if (!valid_errno(r)) {
				fuzz_die("rkv_consumer_acquire returned %d", r);
			}
		}
		struct rkv_consumer_stats cst;
		struct rkv_pool_stats pst;
		(void)rkv_consumer_stats(c, &cst, sizeof(*(&cst)));
		(void)rkv_consumer_pool_stats(c, &pst, sizeof(*(&pst)));
		(void)rkv_consumer_fd(c);
		rkv_consumer_detach(c);
		check_closed(mine, nmine, "detach");
	} else {
		check_closed(mine, nmine, "a failed adopt");
	}

	close(sv[1]);
	free(w.area[A_POOL]);
	free(w.area[A_CHAN]);
	free(w.area[A_GROUP]);
	return 0;
}

/* Seeds: each policy's valid layout, plain or with one more ready entry. */
size_t fuzz_seed_input(uint8_t *buf, size_t cap, unsigned variant)
{
	struct fuzz_out o = { buf, 0, cap };

	fuzz_put8(&o, variant % NPOL); /* ctl: policy, nothing else */
	fuzz_put8(&o, 0);
	switch ((variant / NPOL) % 4) {
	case 1: /* one more entry in the ready ring, right tag */
		fuzz_put8(&o, 7);
		fuzz_put8(&o, (variant / 16) % SLOTS);
		fuzz_put8(&o, 0);
		break;
	case 2: /* a pool header field nudged */
		fuzz_put8(&o, 5);
		fuzz_put8(&o, A_POOL);
		fuzz_put8(&o, (variant / 16) % 8);
		fuzz_put16(&o, 1);
		break;
	case 3: /* a chan header field nudged */
		fuzz_put8(&o, 4);
		fuzz_put8(&o, A_CHAN);
		fuzz_put8(&o, (variant / 16) % 16);
		fuzz_put16(&o, 0xffff);
		break;
	default:
		break;
	}
	return fuzz_out_len(&o);
}
