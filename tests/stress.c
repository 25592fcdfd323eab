/* SPDX-License-Identifier: MIT */
/*
 * stress.c - every policy at once on one pool, every byte of every frame
 * checked.
 *
 *   stress procs    consumers are forked processes, >= 10^6 frames of mixed
 *                   sizes up to 64 KiB (scaled by RKV_TEST_SCALE)
 *   stress threads  the same with consumer threads in one process, so the
 *                   thread sanitizer sees both sides of every access
 *   stress 1080p    10^4 NV12 1920x1080 frames, consumers as processes
 *
 * One producer publishes frames whose every byte is a function of the frame's
 * sequence number. Five consumers share the pool: block (gets every frame, in
 * order), drop, latest, and a two-member group with RKV_GROUP_BLOCK (every
 * frame to exactly one member). Each consumer holds up to 2 or 3 frames at a
 * time, sleeps or spins at random while holding them, releases them out of
 * order, and re-checks every byte of a frame right before releasing it: a
 * slot rewritten while held shows up as a torn frame. The descriptors, the
 * per-policy sequence rules and the final counters are checked as well.
 *
 * The pool's block timeout is infinite, so the block consumer and the group
 * must receive every frame; a lost or duplicated frame is a failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#include "pool/internal.h"
#include "pattern.h"
#include "test.h"

/* ---- configuration ---------------------------------------------------------- */

enum { C_BLOCK, C_DROP, C_LATEST, C_GROUP_A, C_GROUP_B, NCONS };

static const struct {
	const char *label;
	uint32_t policy;
	uint32_t max_held;
} spec[NCONS] = {
	[C_BLOCK] = { "block", RKV_POLICY_BLOCK, 3 },
	[C_DROP] = { "drop", RKV_POLICY_DROP, 2 },
	[C_LATEST] = { "latest", RKV_POLICY_LATEST, 3 },
	[C_GROUP_A] = { "group-a", RKV_POLICY_GROUP, 2 },
	[C_GROUP_B] = { "group-b", RKV_POLICY_GROUP, 3 },
};

static struct {
	const char *mode;
	int procs;          /* consumers are processes */
	int hd;             /* 1080p frames */
	int external;       /* slots are memfds of their own, supplied by the producer */
	uint64_t frames;
	uint64_t capacity;
	uint32_t slots;
	uint32_t depth_block, depth_drop, depth_group;
	struct rkv_frame layout; /* hd: the NV12 template */
	uint64_t seed;
	char name[RKV_NAME_MAX + 1];
} cfg;

/* Frame size skewed small: most under 1 KiB, some up to 16 KiB, a few
 * near 64 KiB, and the extremes 1 and capacity now and then. */
static uint64_t frame_size(uint64_t seq)
{
	if (cfg.hd)
		return cfg.layout.bytes_used;
	uint64_t h = mix64(seq * K_GOLD + 1);
	uint64_t r = h % 1000, v = h >> 20;
	if (seq % 997 == 0)
		return cfg.capacity;
	if (seq % 991 == 0)
		return 1;
	if (r < 800)
		return 1 + v % 1024;
	if (r < 960)
		return 1024 + v % (15 * 1024);
	return cfg.capacity - v % 8192;
}

static uint64_t frame_tag(uint64_t seq)
{
	return mix64(seq + 0x1234567) ^ frame_size(seq);
}

static void make_frame(struct rkv_frame *f, uint64_t seq)
{
	if (cfg.hd) {
		*f = cfg.layout;
	} else {
		memset(f, 0, sizeof *f);
		f->fourcc = RKV_FMT_BYTES;
		f->bytes_used = frame_size(seq);
	}
	f->seq = seq;
	f->timestamp_ns = 0;
	f->flags = seq % 5 == 0 ? RKV_FRAME_KEYFRAME : 0;
	f->user = frame_tag(seq);
}

/* A received descriptor must be exactly what the producer built for its seq. */
static void check_desc(const char *who, const struct rkv_view *v)
{
	struct rkv_frame e;
	const struct rkv_frame *f = &v->frame;
	if (f->seq >= cfg.frames)
		FAIL("%s: seq %" PRIu64 " out of range (frames %" PRIu64 ")", who, f->seq, cfg.frames);
	make_frame(&e, f->seq);
	if (f->fourcc != e.fourcc || f->width != e.width || f->height != e.height ||
	    f->bytes_used != e.bytes_used || f->flags != e.flags || f->user != e.user ||
	    f->num_planes != e.num_planes)
		FAIL("%s: seq %" PRIu64 " descriptor: fourcc %08x/%08x %ux%u/%ux%u bytes_used %" PRIu64
		     "/%" PRIu64 " flags %u/%u user %016" PRIx64 "/%016" PRIx64 " planes %u/%u (got/expected)",
		     who, f->seq, f->fourcc, e.fourcc, f->width, f->height, e.width, e.height,
		     f->bytes_used, e.bytes_used, f->flags, e.flags, f->user, e.user,
		     f->num_planes, e.num_planes);
	for (uint32_t i = 0; i < e.num_planes; i++)
		if (f->planes[i].offset != e.planes[i].offset ||
		    f->planes[i].stride != e.planes[i].stride ||
		    f->planes[i].size != e.planes[i].size)
			FAIL("%s: seq %" PRIu64 " plane %u: offset %" PRIu64 "/%" PRIu64 " stride %u/%u size %"
			     PRIu64 "/%" PRIu64, who, f->seq, i, f->planes[i].offset, e.planes[i].offset,
			     f->planes[i].stride, e.planes[i].stride, f->planes[i].size, e.planes[i].size);
	if (f->timestamp_ns <= 0)
		FAIL("%s: seq %" PRIu64 " timestamp %" PRId64 " (publish must set it)", who, f->seq,
		     f->timestamp_ns);
	if (v->data == NULL)
		FAIL("%s: seq %" PRIu64 " view data is NULL", who, f->seq);
	CHECK_UINT(v->capacity, ==, cfg.capacity);
}

/* ---- what the consumers report (shared memory in both modes) -------------- */

struct cres {
	uint64_t received;
	uint64_t torn;
	uint64_t bytes_checked;
	uint64_t max_held_seen;
	uint64_t eagain, etimedout;
	uint64_t stat_received, stat_dropped, stat_replaced;
	int32_t finished;
};

struct shared {
	struct cres res[NCONS];
	_Atomic uint64_t group_seen;
	_Atomic uint64_t bitmap[]; /* group: one bit per seq */
};

static struct shared *sh;

static void random_delay(uint64_t *rs)
{
	uint64_t r = rnd(rs) % 1000;
	if (r < 900)
		return;
	if (r < 990) {
		int64_t until = test_now_ns() + 1000 * (int64_t)(1 + r % 20);
		while (test_now_ns() < until)
			;
		return;
	}
	usleep((useconds_t)(10 + rnd(rs) % 150));
}

/* Check every byte of a held frame, then release it. */
static void verify_release(int idx, rkv_consumer *c, struct rkv_view *v)
{
	struct cres *res = &sh->res[idx];
	/* External slots: the view names the slot's fd, where the frame is
	 * at fd_offset, and the mapping shows exactly those bytes. */
	if (cfg.external) {
		char b = 0;
		if (v->fd < 0 || v->fd_offset != 4096 * (v->slot % 3) ||
		    (v->frame.bytes_used && (pread(v->fd, &b, 1, (off_t)v->fd_offset) != 1 ||
					     b != ((const char *)v->data)[0])))
			FAIL("%s: external view fd %d offset %" PRIu64 " slot %u", spec[idx].label, v->fd,
			     v->fd_offset, v->slot);
	} else if (v->fd != -1) {
		FAIL("%s: view of a memfd slot with fd %d", spec[idx].label, v->fd);
	}
	int64_t bad = check_frame(v->data, v->frame.bytes_used, v->frame.seq);
	if (bad >= 0) {
		if (res->torn < 5) {
			const uint8_t *d = v->data;
			fprintf(stderr, "%s: TORN seq %" PRIu64 " at byte %" PRId64 " of %" PRIu64
				": got 0x%02x, expected 0x%02x (slot %u)\n", spec[idx].label, v->frame.seq,
				bad, v->frame.bytes_used, d[bad], expected_byte(v->frame.seq, (uint64_t)bad),
				v->slot);
		}
		res->torn++;
	}
	res->bytes_checked += v->frame.bytes_used;
	int r = rkv_consumer_release(c, v);
	if (r != 0)
		FAIL("%s: release of seq %" PRIu64 " = %d (%s)", spec[idx].label, v->frame.seq, r,
		     strerror(-r));
}

static void *consumer_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	const char *who = spec[idx].label;
	struct cres *res = &sh->res[idx];
	uint64_t rs = mix64(cfg.seed + (uint64_t)idx * 7919) | 1;
	char err[256] = "";
	struct rkv_consumer_opts o = {
		.policy = spec[idx].policy,
		.max_held = spec[idx].max_held,
		.label = who,
		.errbuf = err,
		.errbuf_len = sizeof err,
	};
	switch (idx) {
	case C_BLOCK: o.queue_depth = cfg.depth_block; break;
	case C_DROP: o.queue_depth = cfg.depth_drop; break;
	case C_LATEST: break;
	default:
		o.queue_depth = cfg.depth_group;
		o.group = "workers";
		o.flags = RKV_GROUP_BLOCK;
		break;
	}
	if (idx == C_DROP)
		o.spin_ns = 20000; /* one consumer spins briefly before sleeping */

	/* The producer may not exist yet: retry until it does. */
	rkv_consumer *c = NULL;
	int64_t give_up = test_now_ns() + 60 * 1000000000ll;
	for (;;) {
		int r = rkv_consumer_attach(cfg.name, &o, &c);
		if (r == 0)
			break;
		if (r != -ENOENT || test_now_ns() > give_up)
			FAIL("%s: attach = %d (%s): %s", who, r, strerror(-r), err);
		usleep(1000);
	}

	struct rkv_view held[4];
	uint32_t nheld = 0, target = 1;
	uint64_t next = 0;     /* block: the seq it must get next */
	int64_t last = -1;     /* drop, latest: the last seq it got */
	for (;;) {
		if (nheld < target) {
			int64_t tmo;
			uint64_t r = rnd(&rs) % 100;
			if (nheld == 0)
				tmo = r < 85 ? RKV_WAIT_FOREVER : r < 93 ? 0 : 2000000;
			else
				tmo = r < 50 ? RKV_WAIT_FOREVER : r < 75 ? 0 : 1000000;
			struct rkv_view *v = &held[nheld];
			int a = rkv_consumer_acquire(c, v, tmo);
			if (a == -EAGAIN || a == -ETIMEDOUT) {
				if (a == -EAGAIN)
					res->eagain++;
				else
					res->etimedout++;
				if (nheld > 0) {
					uint32_t k = (uint32_t)(rnd(&rs) % nheld);
					verify_release(idx, c, &held[k]);
					held[k] = held[--nheld];
				}
				continue;
			}
			if (a == -EPIPE)
				break;
			if (a != 0)
				FAIL("%s: acquire(%" PRId64 ") = %d (%s) after %" PRIu64 " frames, holding %u",
				     who, tmo, a, strerror(-a), res->received, nheld);
			check_desc(who, v);
			uint64_t seq = v->frame.seq;
			switch (idx) {
			case C_BLOCK:
				if (seq != next)
					FAIL("block: got seq %" PRIu64 ", expected %" PRIu64, seq, next);
				next++;
				break;
			case C_DROP:
			case C_LATEST:
				if ((int64_t)seq <= last)
					FAIL("%s: seq %" PRIu64 " after %" PRId64 " (must increase)", who, seq, last);
				last = (int64_t)seq;
				break;
			default: {
				uint64_t bit = 1ull << (seq % 64);
				uint64_t old = atomic_fetch_or(&sh->bitmap[seq / 64], bit);
				if (old & bit)
					FAIL("%s: seq %" PRIu64 " delivered to the group twice", who, seq);
				atomic_fetch_add(&sh->group_seen, 1);
				break;
			}
			}
			res->received++;
			nheld++;
			if (nheld > res->max_held_seen)
				res->max_held_seen = nheld;
			random_delay(&rs);
		} else {
			/* Release some of what is held, in random order. */
			uint32_t k = 1 + (uint32_t)(rnd(&rs) % nheld);
			while (k-- > 0) {
				uint32_t i = (uint32_t)(rnd(&rs) % nheld);
				random_delay(&rs);
				verify_release(idx, c, &held[i]);
				held[i] = held[--nheld];
			}
			target = 1 + (uint32_t)(rnd(&rs) % spec[idx].max_held);
		}
	}
	while (nheld > 0) {
		uint32_t i = (uint32_t)(rnd(&rs) % nheld);
		verify_release(idx, c, &held[i]);
		held[i] = held[--nheld];
	}
	if (idx == C_BLOCK && next != cfg.frames)
		FAIL("block: got %" PRIu64 " frames before -EPIPE, expected %" PRIu64, next, cfg.frames);
	int a = rkv_consumer_acquire(c, &held[0], 0);
	if (a != -EPIPE)
		FAIL("%s: acquire after -EPIPE = %d (%s), expected -EPIPE again", who, a, strerror(-a));

	struct rkv_consumer_stats st;
	CHECK_OK(rkv_consumer_stats(c, &st, sizeof(*(&st))));
	res->stat_received = st.received;
	res->stat_dropped = st.dropped;
	res->stat_replaced = st.replaced;
	res->finished = 1;
	rkv_consumer_detach(c);
	return NULL;
}

/* ---- producer ------------------------------------------------------------- */

static void publish_one(rkv_producer *p, struct rkv_loan *l, uint64_t seq)
{
	struct rkv_frame f;
	make_frame(&f, seq);
	fill_frame(l->data, f.bytes_used, seq);
	int r = rkv_producer_publish(p, l, &f);
	/* The block consumer and the group wait forever: both get every frame. */
	if (r < 2)
		FAIL("publish seq %" PRIu64 " = %d (%s), expected >= 2 receivers", seq, r,
		     r < 0 ? strerror(-r) : "too few");
}

static void loan(rkv_producer *p, struct rkv_loan *l, uint64_t seq)
{
	int r = rkv_producer_loan(p, l, 60 * 1000000000ll);
	if (r != 0)
		FAIL("loan for seq %" PRIu64 " = %d (%s)", seq, r, strerror(-r));
	CHECK_UINT(l->capacity, ==, cfg.capacity);
	CHECK(l->data != NULL);
}

static void produce(rkv_producer *p)
{
	uint64_t rs = mix64(cfg.seed ^ 0xabcdef) | 1;
	uint64_t seq = 0;
	while (seq < cfg.frames) {
		uint64_t r = rnd(&rs) % 256;
		struct rkv_loan l[2];
		if (r == 0) {
			/* A loan given back unpublished. */
			loan(p, &l[0], seq);
			memset(l[0].data, 0xee, 64);
			CHECK_OK(rkv_producer_cancel(p, &l[0]));
		} else if (r < 16 && seq + 1 < cfg.frames) {
			/* Two loans at once (max_loans 2), filled, published in order. */
			loan(p, &l[0], seq);
			loan(p, &l[1], seq + 1);
			CHECK(l[0].slot != l[1].slot);
			publish_one(p, &l[0], seq);
			publish_one(p, &l[1], seq + 1);
			seq += 2;
		} else {
			loan(p, &l[0], seq);
			publish_one(p, &l[0], seq);
			seq++;
		}
	}
}

/* ---- main ----------------------------------------------------------------- */

static int find_label(const struct rkv_consumer_stats *cs, int n, const char *label)
{
	for (int i = 0; i < n; i++)
		if (strcmp(cs[i].label, label) == 0)
			return i;
	FAIL("no consumer labelled %s in the pool's stats (%d consumers)", label, n);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "procs";
	cfg.mode = mode;
	if (strcmp(mode, "procs") == 0) {
		cfg.procs = 1;
		cfg.frames = test_scaled(1000000);
		cfg.capacity = 64 * 1024;
		cfg.slots = 48;
		cfg.depth_block = 8;
		cfg.depth_drop = 4;
		cfg.depth_group = 8;
	} else if (strcmp(mode, "threads") == 0) {
		cfg.procs = 0;
		cfg.frames = test_scaled(200000);
		cfg.capacity = 64 * 1024;
		cfg.slots = 48;
		cfg.depth_block = 8;
		cfg.depth_drop = 4;
		cfg.depth_group = 8;
	} else if (strcmp(mode, "1080p") == 0) {
		cfg.procs = 1;
		cfg.hd = 1;
		cfg.frames = test_scaled(10000);
		int64_t n = rkv_frame_layout(&cfg.layout, RKV_FMT_NV12, 1920, 1080, 64);
		if (n <= 0)
			FAIL("rkv_frame_layout(NV12 1920x1080) = %" PRId64, n);
		CHECK_EQ(cfg.layout.num_planes, 2);
		cfg.capacity = (uint64_t)n;
		cfg.slots = 32;
		cfg.depth_block = 4;
		cfg.depth_drop = 3;
		cfg.depth_group = 4;
	} else if (strcmp(mode, "external") == 0) {
		/* The DMA-BUF path, with memfds standing in for the buffers
		 * (this host has no DMA-BUF exporter): every contract of
		 * "procs", through slots the producer supplies. */
		cfg.procs = 1;
		cfg.external = 1;
		cfg.frames = test_scaled(300000);
		cfg.capacity = 64 * 1024;
		cfg.slots = 48;
		cfg.depth_block = 8;
		cfg.depth_drop = 4;
		cfg.depth_group = 8;
	} else {
		fprintf(stderr, "usage: %s procs|threads|1080p|external\n", argv[0]);
		return 2;
	}
	const char *seed_env = getenv("RKV_TEST_SEED");
	cfg.seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)test_now_ns() ^ (uint64_t)getpid();
	test_pool_name(cfg.name, sizeof cfg.name, "stress");
	test_watchdog(1100);
	printf("stress %s: %" PRIu64 " frames, capacity %" PRIu64 ", %u slots, seed %" PRIu64 "\n",
	       mode, cfg.frames, cfg.capacity, cfg.slots, cfg.seed);
	fflush(stdout);

	size_t bm_words = (size_t)(cfg.frames + 63) / 64;
	size_t sh_size = sizeof(struct shared) + bm_words * sizeof(uint64_t);
	sh = mmap(NULL, sh_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		FAIL("mmap %zu: %s", sh_size, strerror(errno));

	/*
	 * Consumers start first and retry their attach until the pool exists:
	 * forked while this process has no threads yet, they inherit nothing
	 * but the shared result area.
	 */
	pid_t pids[NCONS] = { 0 };
	pthread_t tids[NCONS];
	pid_t parent = getpid();
	for (int i = 0; i < NCONS; i++) {
		if (cfg.procs) {
			pid_t pid = fork();
			if (pid < 0)
				FAIL("fork: %s", strerror(errno));
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != parent)
					_exit(1);
				test_watchdog(1100);
				consumer_main((void *)(intptr_t)i);
				_exit(0);
			}
			pids[i] = pid;
		} else {
			int r = pthread_create(&tids[i], NULL, consumer_main, (void *)(intptr_t)i);
			if (r != 0)
				FAIL("pthread_create: %s", strerror(r));
		}
	}

	struct rkv_pool_opts po = {
		.slot_count = cfg.slots,
		.max_consumers = 16,
		.slot_capacity = cfg.capacity,
		.block_timeout_ns = RKV_WAIT_FOREVER,
		.max_loans = 2,
	};
	rkv_producer *p = NULL;
	int ext_fds[64];
	if (cfg.external) {
		/* Odd offsets inside bigger files, as a driver's buffers may be. */
		static uint64_t offs[64];
		for (uint32_t i = 0; i < cfg.slots; i++) {
			ext_fds[i] = memfd_create("stress-ext", MFD_CLOEXEC);
			offs[i] = 4096 * (i % 3);
			CHECK(ext_fds[i] >= 0);
			CHECK_OK(ftruncate(ext_fds[i], (off_t)(offs[i] + cfg.capacity + 100)));
		}
		po.slot_fds = ext_fds;
		po.slot_offsets = offs;
		po.flags = RKV_POOL_CPU_WRITE;
	}
	CHECK_OK(rkv_producer_create(cfg.name, &po, &p));
	for (uint32_t i = 0; cfg.external && i < cfg.slots; i++)
		close(ext_fds[i]); /* the pool keeps its own */
	CHECK_OK(rkv_producer_wait_consumers(p, NCONS, 60 * 1000000000ll));

	int64_t t0 = test_now_ns();
	produce(p);
	int64_t t_pub = test_now_ns();

	/* Counters, with every frame published and the consumers still attached. */
	struct rkv_pool_stats ps;
	CHECK_OK(rkv_producer_stats(p, &ps, sizeof(*(&ps))));
	CHECK_UINT(ps.published, ==, cfg.frames);
	CHECK_UINT(ps.block_timeouts, ==, 0);
	CHECK_UINT(ps.evictions, ==, 0);
	CHECK_UINT(ps.slot_count, ==, cfg.slots);
	CHECK_UINT(ps.slot_capacity, ==, cfg.capacity);
	CHECK_UINT(ps.consumers, ==, NCONS);
	struct rkv_consumer_stats cs[16];
	struct rkv_pool_stats ops;
	int n = rkv_pool_stats(cfg.name, &ops, sizeof(*(&ops)), cs, 16, sizeof(*(cs)));
	CHECK_OK(n);
	CHECK_EQ(n, NCONS);
	CHECK_UINT(ops.published, ==, cfg.frames);
	int ib = find_label(cs, n, "block"), id = find_label(cs, n, "drop");
	int il = find_label(cs, n, "latest");
	CHECK_UINT(cs[ib].policy, ==, RKV_POLICY_BLOCK);
	CHECK_UINT(cs[ib].delivered, ==, cfg.frames);
	CHECK_UINT(cs[ib].dropped, ==, 0);
	CHECK_UINT(cs[id].policy, ==, RKV_POLICY_DROP);
	CHECK_UINT(cs[id].delivered + cs[id].dropped, ==, cfg.frames);
	CHECK_UINT(cs[il].policy, ==, RKV_POLICY_LATEST);
	/* A latest consumer misses a frame only if its mailbox flips under the
	 * producer again and again; count such misses, do not forbid them. */
	CHECK_UINT(cs[il].delivered + cs[il].dropped, ==, cfg.frames);
	uint64_t drop_delivered = cs[id].delivered;
	uint64_t latest_delivered = cs[il].delivered, latest_replaced = cs[il].replaced;
	for (int i = 0; i < n; i++)
		if (cs[i].policy == RKV_POLICY_GROUP) {
			CHECK_STR(cs[i].group, "workers");
			CHECK_UINT(cs[i].dropped, ==, 0);
		}

	/* Close: consumers drain their queues, then get -EPIPE. */
	rkv_producer_destroy(p);

	for (int i = 0; i < NCONS; i++) {
		if (cfg.procs) {
			int status;
			if (waitpid(pids[i], &status, 0) != pids[i])
				FAIL("waitpid: %s", strerror(errno));
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				FAIL("consumer %s ended with %s %d", spec[i].label,
				     WIFEXITED(status) ? "exit status" : "signal",
				     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		} else {
			pthread_join(tids[i], NULL);
		}
	}
	int64_t t_end = test_now_ns();

	uint64_t torn = 0;
	double secs = (double)(t_end - t0) / 1e9;
	printf("published %" PRIu64 " frames in %.2f s (%.0f frames/s); all consumers done after %.2f s\n",
	       cfg.frames, (double)(t_pub - t0) / 1e9, (double)cfg.frames / ((double)(t_pub - t0) / 1e9),
	       secs);
	for (int i = 0; i < NCONS; i++) {
		struct cres *r = &sh->res[i];
		printf("  %-8s received %9" PRIu64 "  torn %" PRIu64 "  checked %.2f GB  max held %" PRIu64
		       "  dropped %" PRIu64 "  replaced %" PRIu64 "  eagain %" PRIu64 "  etimedout %" PRIu64 "\n",
		       spec[i].label, r->received, r->torn, (double)r->bytes_checked / 1e9,
		       r->max_held_seen, r->stat_dropped, r->stat_replaced, r->eagain, r->etimedout);
		torn += r->torn;
	}
	printf("torn frames: %" PRIu64 "\n", torn);
	fflush(stdout);

	for (int i = 0; i < NCONS; i++) {
		CHECK_EQ(sh->res[i].finished, 1);
		if (sh->res[i].stat_received != sh->res[i].received)
			FAIL("%s: its stats say received %" PRIu64 ", it counted %" PRIu64, spec[i].label,
			     sh->res[i].stat_received, sh->res[i].received);
	}
	CHECK_UINT(torn, ==, 0);
	CHECK_UINT(sh->res[C_BLOCK].received, ==, cfg.frames);
	CHECK_UINT(sh->res[C_BLOCK].stat_dropped, ==, 0);
	CHECK_UINT(sh->res[C_DROP].received, ==, drop_delivered);
	CHECK_UINT(sh->res[C_LATEST].received + latest_replaced, ==, latest_delivered);
	CHECK_UINT(sh->res[C_GROUP_A].received + sh->res[C_GROUP_B].received, ==, cfg.frames);
	CHECK_UINT(atomic_load(&sh->group_seen), ==, cfg.frames);
	uint64_t bits = 0;
	for (size_t w = 0; w < bm_words; w++)
		bits += (uint64_t)__builtin_popcountll(atomic_load(&sh->bitmap[w]));
	CHECK_UINT(bits, ==, cfg.frames);
	for (int i = 0; i < NCONS; i++)
		CHECK_UINT(sh->res[i].max_held_seen, <=, spec[i].max_held);
	printf("ok\n");
	munmap(sh, sh_size);
	return 0;
}
