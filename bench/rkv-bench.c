/* SPDX-License-Identifier: MIT */
/*
 * rkv-bench - what the pool costs, each figure beside a baseline measured in
 * the same run on the same machine.
 *
 *   latency     one-way publish -> consumer holds the frame, 64-byte frames,
 *               producer and consumer in separate processes; the consumer
 *               sleeping between frames and spinning, beside a bare futex
 *               wake between two processes measured the same way
 *   throughput  64-byte frames per second into one block consumer
 *   copyin      1080p RGB publish_copy beside a bare memcpy of the same frame
 *   loan        loan -> publish -> acquire -> release, 64 bytes vs 4K NV12
 *   fanout      throughput with 1, 2, 4 and 8 block consumers
 *   testpattern the test-pattern source's cost per frame, 1080p NV12 and
 *               640x480 YUYV, beside a memcpy of the same frame
 *   camera      the rkv-camera program publishing a 1080p30 NV12 test
 *               pattern to two consumers: its CPU share and capture-to-
 *               acquire latency, beside ffmpeg producing 1080p30 NV12
 *               frames (testsrc2, -re) for as long, as the reference
 *   zerocopy    the camera's publishing step per frame, zero-copy (the
 *               driver's buffers as external slots) against copy (memcpy
 *               into a memfd pool), 720p and 1080p NV12: CPU time of the
 *               publishing thread, paced at 30 fps and back to back, with
 *               no consumer and with one latest consumer
 *   memory      what a pool of 5 640x480 NV12 slots with 2 consumers costs
 *               beyond its slot data (shared areas and each process's
 *               anonymous memory), and per further slot and consumer
 *
 * It prints a table; with --json it also prints one JSON object on its last
 * line. Nothing here asserts a time: a benchmark reports, the reader judges
 * (the "targets" are printed beside the figures, met or not).
 *
 * Consumers run in forked children. Every child is forked before the pool
 * it uses exists, so it inherits no library state (no producer mapping, no
 * service thread half-copied by fork), and waits on a pipe for the parent's
 * "go" before attaching. Children hand results back in MAP_SHARED anonymous
 * memory and their exit status; the parent reaps every one of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rkv/frame.h>
#include <rkv/pool.h>
#include <rkv/source.h>

#define SMALL_FRAME   64u
#define RGB_W         1920u
#define RGB_H         1080u
#define RGB_BYTES     ((size_t)RGB_W * RGB_H * 3)
#define UHD_W         3840u
#define UHD_H         2160u
#define MAX_FANOUT    8u
#define ZC_CASES      2   /* zerocopy: 720p and 1080p NV12 */
#define ZC_MODES      2   /* zerocopy: paced, unpaced */
#define ZC_PATHS      3   /* zerocopy: ZC_ZEROCOPY, ZC_COPY, ZC_WAKE */

/* ---- configuration and results -------------------------------------------- */

struct config {
	int json;
	int quick;
	const char *only;      /* NULL: every section */
	uint32_t samples;      /* latency samples per mode */
	uint32_t warmup;       /* latency frames not recorded */
	int64_t pace_ns;       /* gap between latency frames */
	uint32_t chunk;        /* latency frames per interleaved chunk */
	double run_s;          /* throughput and fan-out run time */
	uint32_t copy_iters;   /* 1080p copies per method */
	uint32_t loan_iters;   /* loan cycles per frame size */
	uint32_t tp_iters;     /* test-pattern frames per format */
	uint32_t rounds;       /* copyin, loan, testpattern, zerocopy: rounds */
	double cam_s;          /* camera and ffmpeg: seconds measured, each */
	uint32_t zc_paced_frames; /* zerocopy: frames per paced round (at 30 fps) */
	uint32_t zc_frames;    /* zerocopy: frames per unpaced round */
	const char *camera;    /* the rkv-camera program; NULL: beside this one */
};

struct pct {
	double p50, p99, p999, max; /* microseconds */
};

/* NAN marks a figure that was not measured (--only); JSON prints null. */
struct results {
	struct pct futex, sleep, spin;
	int have_latency;
	double small_fps;
	uint64_t small_frames;
	double memcpy_fps, copyin_fps;
	double memcpy2_fps, copyin0_fps;   /* same-footprint rows, see bench_copyin */
	double loan_64b_ns, loan_4k_ns;
	double fanout_fps[MAX_FANOUT + 1];     /* slowest consumer */
	double fanout_total[MAX_FANOUT + 1];   /* all consumers together */
	double tp_ns[2], tp_memcpy_ns[2], tp_verify_ns[2]; /* per tp_cases[] */
	double cam_cpu, ff_cpu;            /* % of one core; NAN: not measured */
	double cam_fps[2];                 /* frames/s each consumer acquired */
	struct pct cam_lat;                /* capture -> acquire, both consumers */
	uint64_t cam_frames;
	const char *ff_note;               /* why there is no ffmpeg figure */
	/* zerocopy: ns of publishing-thread CPU per frame, per zc_cases[],
	 * zc_modes[], consumers (0, 1), path (ZC_ZEROCOPY, ZC_COPY, ZC_WAKE) */
	double zc_ns[ZC_CASES][ZC_MODES][2][ZC_PATHS];
	uint64_t zc_lost;                  /* frames no buffer or slot took */
	size_t zc_llc, zc_ring;            /* largest cache; the source ring */
	/* memory: bytes beyond the slot data, 5 x 640x480 NV12 slots and 2
	 * consumers; bytes per further slot and per further consumer */
	double mem_fixed, mem_slot, mem_consumer;
	double mem_shared;                 /* of mem_fixed: the shared areas */
};

static const uint32_t fanout_counts[] = { 1, 2, 4, 8 };
#define MEM_MAX_CONS 4
#define MEM_ROUNDS 5
#define N_FANOUT (sizeof fanout_counts / sizeof fanout_counts[0])

/* ---- small helpers --------------------------------------------------------- */

static int in_child;

/* Errors end the program: a benchmark that measured something broken must
 * not print a figure for it. A child ends itself with _exit so that it never
 * runs the parent's atexit handlers or flushes the parent's stdio buffers. */
__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rkv-bench%s: ", in_child ? " (consumer)" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (in_child)
		_exit(1);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap %zu shared bytes: %s", size, strerror(errno));
	return p;
}

static void *big_alloc(size_t size)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, size) != 0)
		die("out of memory for %zu bytes", size);
	return p;
}

/* Pool names carry the pid and a counter, so two benches (or a bench and the
 * test suite) never collide on one machine. */
static const char *pool_name(char *buf, size_t len, const char *what)
{
	static unsigned counter;
	snprintf(buf, len, "bench.%s.%d.%u", what, (int)getpid(), counter++);
	return buf;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double rank_us(const int64_t *s, size_t n, double p)
{
	/* ceil(p * n) without libm */
	double x = p * (double)n;
	size_t k = (size_t)x;
	if ((double)k < x)
		k++;
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)s[k - 1] / 1000.0;
}

static struct pct percentiles(int64_t *s, size_t n)
{
	qsort(s, n, sizeof *s, cmp_i64);
	struct pct r = {
		.p50 = rank_us(s, n, 0.50),
		.p99 = rank_us(s, n, 0.99),
		.p999 = rank_us(s, n, 0.999),
		.max = (double)s[n - 1] / 1000.0,
	};
	return r;
}

/* The median of per-round figures: one round disturbed by a neighbour on a
 * shared machine moves a mean, not a median. */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static rkv_consumer *attach_flags(const char *name, uint32_t policy, uint32_t depth,
				  int64_t spin_ns, uint32_t flags)
{
	char why[256] = "";
	struct rkv_consumer_opts o = {
		.policy = policy,
		.queue_depth = depth,
		.max_held = 1,
		.flags = flags,
		.spin_ns = spin_ns,
		.label = "bench",
		.errbuf = why,
		.errbuf_len = sizeof why,
	};
	rkv_consumer *c = NULL;
	int r = rkv_consumer_attach(name, &o, &c);
	if (r < 0)
		die("attach to %s: %s (%s)", name, strerror(-r), why);
	return c;
}

static rkv_consumer *attach(const char *name, uint32_t policy, uint32_t depth, int64_t spin_ns)
{
	return attach_flags(name, policy, depth, spin_ns, 0);
}

static rkv_producer *create_opts(const char *name, const struct rkv_pool_opts *o)
{
	rkv_producer *p = NULL;
	int r = rkv_producer_create(name, o, &p);
	if (r < 0)
		die("create pool %s (%u x %" PRIu64 " bytes%s): %s", name, o->slot_count,
		    o->slot_capacity, o->slot_fds ? ", external" : "", strerror(-r));
	return p;
}

static rkv_producer *create(const char *name, uint32_t slots, uint64_t capacity, uint32_t max_consumers)
{
	struct rkv_pool_opts o = {
		.slot_count = slots,
		.slot_capacity = capacity,
		.max_consumers = max_consumers,
		/* Long enough that a consumer descheduled on a busy 2-core machine
		 * never misses a frame; a missed frame would end the run. */
		.block_timeout_ns = 10LL * 1000000000,
		.max_loans = 1,
		.access_gid = -1,
	};
	return create_opts(name, &o);
}

/* ---- child processes ------------------------------------------------------- */

struct child {
	pid_t pid;
	int go_fd;
	const char *what;
};

/* fork(), for a child that must never outlive the bench: if the parent
 * dies (an error, Ctrl-C), the kernel kills the child too. Returns the pid,
 * 0 in the child. */
static pid_t fork_bound(void)
{
	/* Buffered output would otherwise be printed twice, once per process. */
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(1);
	return pid;
}

static void child_spawn(struct child *ch, const char *what, int (*fn)(void *), void *arg)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork_bound();
	if (pid == 0) {
		in_child = 1;
		close(p[1]);
		char b;
		ssize_t n;
		do
			n = read(p[0], &b, 1);
		while (n < 0 && errno == EINTR);
		close(p[0]);
		if (n != 1)
			_exit(0); /* the parent gave up before "go": its error, not ours */
		_exit(fn(arg) == 0 ? 0 : 1);
	}
	close(p[0]);
	ch->pid = pid;
	ch->go_fd = p[1];
	ch->what = what;
}

static void child_go(struct child *ch)
{
	char b = 'g';
	if (write(ch->go_fd, &b, 1) != 1)
		die("start %s: %s", ch->what, strerror(errno));
	close(ch->go_fd);
	ch->go_fd = -1;
}

static void child_reap(struct child *ch)
{
	int st;
	pid_t r;
	do
		r = waitpid(ch->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("waitpid %s: %s", ch->what, strerror(errno));
	ch->pid = -1;
	if (WIFSIGNALED(st))
		die("%s was killed by signal %d", ch->what, WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("%s failed (exit status %d)", ch->what, WEXITSTATUS(st));
}

/* ---- 1. latency ------------------------------------------------------------- */

/*
 * Both measurements take t0 on the sending side immediately before the hand-
 * off (the futex word change, the publish) and t1 on the receiving side as
 * soon as it returns from the wait, with the same clock, the same pacing and
 * the same number of samples. The pacing is far longer than a wake-up, so a
 * sleeping receiver is really asleep when the frame comes.
 */
struct futex_area {
	uint32_t word;         /* index of the last wake; the futex */
	uint32_t pad[15];
	int64_t t0[];          /* per wake: the time the waker wrote */
};

struct lat_args {
	const char *name;      /* the pool (pool consumers) */
	int64_t spin_ns;
	uint32_t total;        /* frames, warm-up included */
	uint32_t warmup;
	int64_t *samples;      /* shared, total - warmup entries */
	struct futex_area *fx; /* futex waiter */
};

static long futex(uint32_t *addr, int op, uint32_t val)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static int futex_waiter(void *arg)
{
	struct lat_args *a = arg;
	for (uint32_t i = 1; i <= a->total; i++) {
		uint32_t w;
		while ((w = __atomic_load_n(&a->fx->word, __ATOMIC_ACQUIRE)) < i) {
			if (futex(&a->fx->word, FUTEX_WAIT, w) < 0 && errno != EAGAIN && errno != EINTR)
				die("FUTEX_WAIT: %s", strerror(errno));
		}
		int64_t t1 = now_ns();
		if (i > a->warmup)
			a->samples[i - 1 - a->warmup] = t1 - a->fx->t0[i - 1];
	}
	return 0;
}

static void futex_wake_one(struct futex_area *fx, uint32_t i)
{
	fx->t0[i - 1] = now_ns();
	__atomic_store_n(&fx->word, i, __ATOMIC_RELEASE);
	if (futex(&fx->word, FUTEX_WAKE, 1) < 0)
		die("FUTEX_WAKE: %s", strerror(errno));
}

static int lat_consumer(void *arg)
{
	struct lat_args *a = arg;
	rkv_consumer *c = attach(a->name, RKV_POLICY_BLOCK, 4, a->spin_ns);
	for (uint32_t k = 0; k < a->total; k++) {
		struct rkv_view v;
		int r = rkv_consumer_acquire(c, &v, RKV_WAIT_FOREVER);
		int64_t t1 = now_ns();
		if (r < 0)
			die("acquire frame %u: %s", k, strerror(-r));
		int64_t t0;
		if (v.frame.bytes_used < sizeof t0 || v.frame.seq != k)
			die("frame %u arrived as seq %" PRIu64 " with %" PRIu64 " bytes",
			    k, v.frame.seq, v.frame.bytes_used);
		memcpy(&t0, v.data, sizeof t0);
		if (k >= a->warmup)
			a->samples[k - a->warmup] = t1 - t0;
		r = rkv_consumer_release(c, &v);
		if (r < 0)
			die("release: %s", strerror(-r));
	}
	rkv_consumer_detach(c);
	return 0;
}

static void lat_publish_one(rkv_producer *p, uint32_t k, int64_t pace_ns)
{
	struct rkv_loan l;
	/* Loan before the pause so the only work between t0 and the publish is
	 * writing t0 into the frame. */
	int r = rkv_producer_loan(p, &l, 1000000000);
	if (r < 0)
		die("loan frame %u: %s", k, strerror(-r));
	sleep_ns(pace_ns);
	struct rkv_frame f = {
		.seq = k,
		.fourcc = RKV_FMT_BYTES,
		.bytes_used = SMALL_FRAME,
	};
	int64_t t0 = now_ns();
	memcpy(l.data, &t0, sizeof t0);
	f.timestamp_ns = t0;
	r = rkv_producer_publish(p, &l, &f);
	if (r != 1)
		die("publish frame %u reached %d consumers, not 1%s%s", k, r,
		    r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
}

/*
 * One latency run. With @with_futex the futex baseline runs in the same
 * process pair arrangement, interleaved with the pool in chunks, so slow
 * drifts of the machine (a neighbour's job, frequency changes) land on both
 * figures alike.
 */
static void lat_run(const struct config *cfg, int64_t spin_ns, int with_futex,
		    struct pct *pool_out, struct pct *futex_out)
{
	uint32_t total = cfg->warmup + cfg->samples;
	char name[64];
	pool_name(name, sizeof name, spin_ns ? "spin" : "sleep");

	int64_t *pool_samples = shared_alloc(sizeof(int64_t) * cfg->samples);
	int64_t *fx_samples = NULL;
	struct futex_area *fx = NULL;
	size_t fx_size = sizeof *fx + sizeof(int64_t) * total;
	struct lat_args pa = { .name = name, .spin_ns = spin_ns, .total = total,
			       .warmup = cfg->warmup, .samples = pool_samples };
	struct lat_args fa = pa;
	struct child cc, fc;

	child_spawn(&cc, spin_ns ? "spinning consumer" : "sleeping consumer", lat_consumer, &pa);
	if (with_futex) {
		fx_samples = shared_alloc(sizeof(int64_t) * cfg->samples);
		fx = shared_alloc(fx_size);
		fa.samples = fx_samples;
		fa.fx = fx;
		child_spawn(&fc, "futex waiter", futex_waiter, &fa);
		child_go(&fc);
	}

	rkv_producer *p = create(name, 8, SMALL_FRAME, 0);
	child_go(&cc);
	int r = rkv_producer_wait_consumers(p, 1, 10LL * 1000000000);
	if (r < 0)
		die("waiting for the consumer: %s", strerror(-r));

	uint32_t chunk = with_futex ? cfg->chunk : total;
	for (uint32_t done = 0; done < total;) {
		uint32_t n = total - done < chunk ? total - done : chunk;
		if (with_futex)
			for (uint32_t k = done; k < done + n; k++) {
				sleep_ns(cfg->pace_ns);
				futex_wake_one(fx, k + 1);
			}
		for (uint32_t k = done; k < done + n; k++)
			lat_publish_one(p, k, cfg->pace_ns);
		done += n;
	}

	child_reap(&cc);
	if (with_futex)
		child_reap(&fc);
	rkv_producer_destroy(p);

	*pool_out = percentiles(pool_samples, cfg->samples);
	if (with_futex) {
		*futex_out = percentiles(fx_samples, cfg->samples);
		munmap(fx_samples, sizeof(int64_t) * cfg->samples);
		munmap(fx, fx_size);
	}
	munmap(pool_samples, sizeof(int64_t) * cfg->samples);
}

static void bench_latency(const struct config *cfg, struct results *res)
{
	fprintf(stderr, "latency: futex and sleeping consumer, %u samples each...\n", cfg->samples);
	lat_run(cfg, 0, 1, &res->sleep, &res->futex);
	fprintf(stderr, "latency: spinning consumer, %u samples...\n", cfg->samples);
	/* 20 ms of spinning covers every gap, so this consumer never sleeps. */
	lat_run(cfg, 20LL * 1000000, 0, &res->spin, NULL);
	res->have_latency = 1;
}

/* ---- 2 and 5. throughput and fan-out --------------------------------------- */

/*
 * The producer publishes 64-byte frames as fast as the block consumers take
 * them for a fixed time, then destroys the pool; each consumer drains its
 * queue, sees -EPIPE and reports. The clock is read only every 256 frames
 * on either side, so the figure is the pool's cost, not the clock's.
 */
#define FAN_MARK 256u

struct fan_result {
	uint64_t frames;       /* every frame acquired */
	uint64_t gaps;         /* sequence numbers skipped */
	uint64_t bad_data;     /* payloads that did not match their descriptor */
	uint64_t span_frames;  /* frames between the first and last mark */
	int64_t span_ns;
	uint64_t lib_received, lib_dropped;
	int32_t stats_err;
};

struct fan_args {
	const char *name;
	uint32_t depth;
	uint64_t warmup;       /* frames before the timed span */
	struct fan_result *res;
};

static int fan_consumer(void *arg)
{
	struct fan_args *a = arg;
	struct fan_result *res = a->res;
	rkv_consumer *c = attach(a->name, RKV_POLICY_BLOCK, a->depth, 0);
	uint64_t expect = 0, first_mark = 0, last_mark = 0;
	int64_t t_first = 0, t_last = 0;
	for (;;) {
		struct rkv_view v;
		int r = rkv_consumer_acquire(c, &v, RKV_WAIT_FOREVER);
		if (r == -EPIPE)
			break;
		if (r < 0)
			die("acquire after %" PRIu64 " frames: %s", res->frames, strerror(-r));
		uint64_t seq = v.frame.seq, word;
		if (seq != expect)
			res->gaps++;
		expect = seq + 1;
		memcpy(&word, v.data, sizeof word);
		if (word != seq || v.frame.bytes_used != SMALL_FRAME)
			res->bad_data++;
		if (seq >= a->warmup && seq % FAN_MARK == 0) {
			int64_t t = now_ns();
			if (!t_first) {
				t_first = t;
				first_mark = seq;
			}
			t_last = t;
			last_mark = seq;
		}
		res->frames++;
		r = rkv_consumer_release(c, &v);
		if (r < 0)
			die("release: %s", strerror(-r));
	}
	struct rkv_consumer_stats st;
	int r = rkv_consumer_stats(c, &st, sizeof(*(&st)));
	res->stats_err = r < 0 ? r : 0;
	if (r == 0) {
		res->lib_received = st.received;
		res->lib_dropped = st.dropped;
	}
	res->span_frames = last_mark - first_mark;
	res->span_ns = t_last - t_first;
	rkv_consumer_detach(c);
	return 0;
}

/* Returns the slowest consumer's frames/s; *@total gets the sum over all. */
static double fan_run(const struct config *cfg, uint32_t n, uint32_t depth, double *total,
		      uint64_t *frames)
{
	char name[64];
	pool_name(name, sizeof name, "fan");
	struct fan_result *res = shared_alloc(sizeof *res * n);
	struct fan_args args[MAX_FANOUT];
	struct child ch[MAX_FANOUT];
	/* Warm-up: the first pass over every slot takes page faults on both
	 * sides; they are not the steady state. */
	uint32_t slots = n * (depth + 1) + 64;
	uint64_t warmup = (2 * (uint64_t)slots + FAN_MARK - 1) / FAN_MARK * FAN_MARK;

	for (uint32_t i = 0; i < n; i++) {
		args[i] = (struct fan_args){ .name = name, .depth = depth, .warmup = warmup, .res = &res[i] };
		child_spawn(&ch[i], "block consumer", fan_consumer, &args[i]);
	}
	rkv_producer *p = create(name, slots, SMALL_FRAME, n > 16 ? n : 0);
	for (uint32_t i = 0; i < n; i++)
		child_go(&ch[i]);
	int r = rkv_producer_wait_consumers(p, n, 10LL * 1000000000);
	if (r < 0)
		die("waiting for %u consumers: %s", n, strerror(-r));

	int64_t run_ns = (int64_t)(cfg->run_s * 1e9), t_start = 0, stamp = now_ns();
	/* One descriptor filled once, as a camera keeps its format's. */
	struct rkv_frame f = { .fourcc = RKV_FMT_BYTES, .bytes_used = SMALL_FRAME };
	uint64_t seq;
	for (seq = 0;; seq++) {
		if (seq % FAN_MARK == 0) {
			stamp = now_ns();
			if (seq == warmup)
				t_start = stamp;
			if (t_start && stamp - t_start >= run_ns && seq >= warmup + 2 * FAN_MARK)
				break;
		}
		struct rkv_loan l;
		r = rkv_producer_loan(p, &l, 10LL * 1000000000);
		if (r < 0)
			die("loan frame %" PRIu64 ": %s", seq, strerror(-r));
		/* Fill the whole 64-byte frame, as a producer would. */
		uint64_t words[SMALL_FRAME / 8];
		for (size_t w = 0; w < SMALL_FRAME / 8; w++)
			words[w] = seq;
		memcpy(l.data, words, sizeof words);
		f.seq = seq;
		/* A camera stamps its own capture time; a fresh clock read per
		 * frame would be the benchmark's cost, not the pool's. */
		f.timestamp_ns = stamp;
		r = rkv_producer_publish(p, &l, &f);
		if (r != (int)n)
			die("publish frame %" PRIu64 " reached %d of %u block consumers%s%s", seq, r, n,
			    r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
	}
	struct rkv_pool_stats ps;
	r = rkv_producer_stats(p, &ps, sizeof(*(&ps)));
	if (r < 0)
		die("producer stats: %s", strerror(-r));
	rkv_producer_destroy(p);
	for (uint32_t i = 0; i < n; i++)
		child_reap(&ch[i]);

	if (ps.published != seq)
		die("the pool counted %" PRIu64 " frames published, the producer %" PRIu64,
		    ps.published, seq);
	double slowest = INFINITY, sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct fan_result *x = &res[i];
		if (x->frames != seq || x->gaps || x->bad_data)
			die("consumer %u of %u got %" PRIu64 " of %" PRIu64 " frames, %" PRIu64
			    " gaps, %" PRIu64 " bad payloads", i + 1, n, x->frames, seq, x->gaps,
			    x->bad_data);
		if (x->stats_err)
			die("consumer %u of %u: rkv_consumer_stats: %s", i + 1, n,
			    strerror(-x->stats_err));
		if (x->lib_dropped || x->lib_received != seq)
			die("consumer %u of %u: stats say received %" PRIu64 " dropped %" PRIu64
			    ", but %" PRIu64 " were published", i + 1, n, x->lib_received,
			    x->lib_dropped, seq);
		if (x->span_ns <= 0)
			die("consumer %u of %u: no timed span", i + 1, n);
		double fps = (double)x->span_frames * 1e9 / (double)x->span_ns;
		sum += fps;
		if (fps < slowest)
			slowest = fps;
	}
	munmap(res, sizeof *res * n);
	if (total)
		*total = sum;
	if (frames)
		*frames = seq;
	return slowest;
}

static void bench_throughput(const struct config *cfg, struct results *res)
{
	fprintf(stderr, "throughput: one block consumer, %.1f s...\n", cfg->run_s);
	res->small_fps = fan_run(cfg, 1, 256, NULL, &res->small_frames);
}

static void bench_fanout(const struct config *cfg, struct results *res)
{
	for (size_t i = 0; i < N_FANOUT; i++) {
		uint32_t n = fanout_counts[i];
		fprintf(stderr, "fan-out: %u block consumer%s, %.1f s...\n", n, n > 1 ? "s" : "", cfg->run_s);
		res->fanout_fps[n] = fan_run(cfg, n, 256, &res->fanout_total[n], NULL);
	}
}

/* ---- 3. 1080p copy-in -------------------------------------------------------- */

/*
 * The target compares publish_copy with a memcpy into one destination
 * buffer. A pool with a consumer attached cannot reuse one slot: the frame
 * just published sits in the consumer's mailbox while the next one is
 * written, so the copies alternate between two slots and touch twice the
 * destination memory (the zero-copy contract demands it). Two more rows
 * separate that cache effect from the library's own cost: memcpy alternating
 * between two buffers (the same footprint as the pool with a consumer), and
 * publish_copy into a pool with no consumer (the same footprint as memcpy).
 */
static double memcpy_round(uint8_t *src, uint8_t **dst, uint32_t ndst, uint32_t iters)
{
	int64_t t = now_ns();
	for (uint32_t i = 0; i < iters; i++) {
		/* A changing byte and a compiler barrier: the copies are really
		 * made, as the pool's are. */
		src[0] = (uint8_t)i;
		memcpy(dst[i % ndst], src, RGB_BYTES);
		__asm__ __volatile__("" : : "r"(dst[i % ndst]) : "memory");
	}
	return (double)iters * 1e9 / (double)(now_ns() - t);
}

static double copyin_round(rkv_producer *p, uint8_t *src, struct rkv_frame *f, uint32_t iters)
{
	int64_t t = now_ns();
	for (uint32_t i = 0; i < iters; i++) {
		src[0] = (uint8_t)i;
		f->seq = i;
		f->timestamp_ns = t;
		int r = rkv_producer_publish_copy(p, src, RGB_BYTES, f, 1000000000);
		if (r < 0)
			die("publish_copy: %s", strerror(-r));
	}
	return (double)iters * 1e9 / (double)(now_ns() - t);
}

static void bench_copyin(const struct config *cfg, struct results *res)
{
	fprintf(stderr, "copy-in: 1080p RGB, %u frames each...\n", cfg->copy_iters);
	uint8_t *src = big_alloc(RGB_BYTES);
	uint8_t *dst[2] = { big_alloc(RGB_BYTES), big_alloc(RGB_BYTES) };
	for (size_t i = 0; i < RGB_BYTES; i++)
		src[i] = (uint8_t)(i * 7);
	memset(dst[0], 0, RGB_BYTES);
	memset(dst[1], 0, RGB_BYTES);

	char name[64], name2[64];
	pool_name(name, sizeof name, "copyin");
	pool_name(name2, sizeof name2, "copyin0");
	rkv_producer *p = create(name, 4, RGB_BYTES, 0);
	rkv_producer *p0 = create(name2, 4, RGB_BYTES, 0);
	/* A latest consumer that never reads: every publish replaces its
	 * mailbox and the replaced slot comes straight back, the path of a
	 * camera whose viewer is idle. It lives in this process because it does
	 * no work; the figure is the producer's. */
	rkv_consumer *c = attach(name, RKV_POLICY_LATEST, 0, 0);
	struct rkv_frame f;
	if (rkv_frame_layout(&f, RKV_FMT_RGB24, RGB_W, RGB_H, 1) != (int64_t)RGB_BYTES)
		die("rkv_frame_layout(RGB24 1080p) does not give %zu bytes", RGB_BYTES);

	/* Warm-up: fault in every slot and both destination buffers. */
	copyin_round(p, src, &f, 8);
	copyin_round(p0, src, &f, 8);
	memcpy_round(src, dst, 2, 4);

	uint32_t per = cfg->copy_iters / cfg->rounds;
	if (per < 1)
		per = 1;
	double mc[16], mc2[16], ci[16], ci0[16];
	for (uint32_t round = 0; round < cfg->rounds; round++) {
		mc[round] = memcpy_round(src, dst, 1, per);
		ci[round] = copyin_round(p, src, &f, per);
		mc2[round] = memcpy_round(src, dst, 2, per);
		ci0[round] = copyin_round(p0, src, &f, per);
	}
	res->memcpy_fps = median(mc, cfg->rounds);
	res->copyin_fps = median(ci, cfg->rounds);
	res->memcpy2_fps = median(mc2, cfg->rounds);
	res->copyin0_fps = median(ci0, cfg->rounds);

	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
	rkv_producer_destroy(p0);
	free(src);
	free(dst[0]);
	free(dst[1]);
}

/* ---- 4. loan -> publish -> acquire -> release --------------------------------- */

struct loan_pool {
	char name[64];
	rkv_producer *p;
	rkv_consumer *c;
	struct rkv_frame f;
};

static void loan_setup(struct loan_pool *lp, const char *what, const struct rkv_frame *f)
{
	lp->f = *f;
	pool_name(lp->name, sizeof lp->name, what);
	/* Slot capacity = the frame size: a 4K pool really has 4K slots. */
	lp->p = create(lp->name, 4, f->bytes_used, 0);
	lp->c = attach(lp->name, RKV_POLICY_BLOCK, 1, 0);
}

/* Neither the producer nor the consumer touches the frame data: the point is
 * that handing a frame over costs the same whatever its size. */
static double loan_round(struct loan_pool *lp, uint32_t iters)
{
	int64_t t = now_ns();
	for (uint32_t i = 0; i < iters; i++) {
		struct rkv_loan l;
		struct rkv_view v;
		int r = rkv_producer_loan(lp->p, &l, 0);
		if (r < 0)
			die("%s: loan: %s", lp->name, strerror(-r));
		lp->f.seq = i;
		lp->f.timestamp_ns = t;
		r = rkv_producer_publish(lp->p, &l, &lp->f);
		if (r != 1)
			die("%s: publish reached %d consumers, not 1", lp->name, r);
		r = rkv_consumer_acquire(lp->c, &v, 0);
		if (r < 0)
			die("%s: acquire: %s", lp->name, strerror(-r));
		r = rkv_consumer_release(lp->c, &v);
		if (r < 0)
			die("%s: release: %s", lp->name, strerror(-r));
	}
	return (double)(now_ns() - t) / iters;
}

static void bench_loan(const struct config *cfg, struct results *res)
{
	fprintf(stderr, "loan cycle: 64 B and 4K NV12, %u frames each...\n", cfg->loan_iters);
	struct rkv_frame small = { .fourcc = RKV_FMT_BYTES, .bytes_used = SMALL_FRAME };
	struct rkv_frame uhd;
	if (rkv_frame_layout(&uhd, RKV_FMT_NV12, UHD_W, UHD_H, 1) != (int64_t)UHD_W * UHD_H * 3 / 2)
		die("rkv_frame_layout(NV12 4K) does not give %u bytes", UHD_W * UHD_H * 3 / 2);
	struct loan_pool a, b;
	loan_setup(&a, "loan64", &small);
	loan_setup(&b, "loan4k", &uhd);

	uint32_t per = cfg->loan_iters / cfg->rounds;
	if (per < 1)
		per = 1;
	loan_round(&a, per / 10 + 1);
	loan_round(&b, per / 10 + 1);
	double x[16], y[16];
	for (uint32_t round = 0; round < cfg->rounds; round++) {
		x[round] = loan_round(&a, per);
		y[round] = loan_round(&b, per);
	}
	res->loan_64b_ns = median(x, cfg->rounds);
	res->loan_4k_ns = median(y, cfg->rounds);

	rkv_consumer_detach(a.c);
	rkv_consumer_detach(b.c);
	rkv_producer_destroy(a.p);
	rkv_producer_destroy(b.p);
}

/* ---- 6. the test-pattern source ----------------------------------------------- */

/*
 * What a frame of the test-pattern source costs: rkv_source_next() and
 * rkv_source_done() in a loop, at 10^9 frames a second, a rate no loop
 * keeps up with, so no call waits and each hands out the latest frame
 * (the source counts the rest dropped). Beside it, the baseline: a memcpy
 * of a whole frame into one of four buffers in turn (the source keeps four
 * too), the least a source that copies whole frames pays. And what
 * rkv_testpattern_verify() costs a consumer per frame.
 */
static const struct {
	uint32_t fourcc, w, h;
	const char *what;
} tp_cases[2] = {
	{ RKV_FMT_NV12, 1920, 1080, "1920x1080 NV12" },
	{ RKV_FMT_YUYV, 640, 480, "640x480 YUYV" },
};

static double tp_round(rkv_source *s, uint32_t iters)
{
	int64_t t = now_ns();
	for (uint32_t i = 0; i < iters; i++) {
		struct rkv_source_frame f;
		int r = rkv_source_next(s, &f, -1);
		if (r < 0)
			die("test pattern: next: %s", strerror(-r));
		r = rkv_source_done(s, &f);
		if (r < 0)
			die("test pattern: done: %s", strerror(-r));
	}
	return (double)(now_ns() - t) / iters;
}

static double tp_memcpy_round(uint8_t *src, uint8_t **dst, size_t size, uint32_t iters)
{
	int64_t t = now_ns();
	for (uint32_t i = 0; i < iters; i++) {
		src[0] = (uint8_t)i;
		memcpy(dst[i % 4], src, size);
		__asm__ __volatile__("" : : "r"(dst[i % 4]) : "memory");
	}
	return (double)(now_ns() - t) / iters;
}

static void bench_testpattern(const struct config *cfg, struct results *res)
{
	for (size_t c = 0; c < 2; c++) {
		fprintf(stderr, "test pattern: %s, %u frames...\n", tp_cases[c].what, cfg->tp_iters);
		char why[256] = "";
		struct rkv_source_config sc = {
			.fourcc = tp_cases[c].fourcc,
			.width = tp_cases[c].w,
			.height = tp_cases[c].h,
			.fps_num = 1000000000,
			.fps_den = 1,
			.buffers = 4,
			.errbuf = why,
			.errbuf_len = sizeof why,
		};
		struct rkv_source_info info;
		rkv_source *s = NULL;
		int r = rkv_source_open(&sc, &s, &info);
		if (r < 0)
			die("open the test pattern (%s): %s (%s)", tp_cases[c].what, strerror(-r),
			    why);
		r = rkv_source_start(s);
		if (r < 0)
			die("start the test pattern: %s", strerror(-r));
		size_t size = (size_t)info.frame_size;
		uint8_t *src = big_alloc(size), *dst[4];
		for (int i = 0; i < 4; i++) {
			dst[i] = big_alloc(size);
			memset(dst[i], 0, size);
		}

		/* Warm-up: every buffer drawn once, every copy made once. */
		tp_round(s, 8);
		struct rkv_source_frame f;
		r = rkv_source_next(s, &f, -1);
		if (r < 0)
			die("test pattern: next: %s", strerror(-r));
		memcpy(src, f.data, size);
		uint8_t first = src[0];
		struct rkv_frame desc = f.frame;
		r = rkv_source_done(s, &f);
		if (r < 0)
			die("test pattern: done: %s", strerror(-r));
		tp_memcpy_round(src, dst, size, 8);

		uint32_t per = cfg->tp_iters / cfg->rounds;
		if (per < 1)
			per = 1;
		double tp[16], mc[16], vf[16];
		for (uint32_t round = 0; round < cfg->rounds; round++) {
			tp[round] = tp_round(s, per);
			mc[round] = tp_memcpy_round(src, dst, size, per);
			src[0] = first;
			int64_t t = now_ns();
			uint32_t nv = per / 20 + 1;
			for (uint32_t i = 0; i < nv; i++) {
				int64_t v = rkv_testpattern_verify(&desc, src);
				if (v != 0)
					die("rkv_testpattern_verify(%s) = %" PRId64 ", not 0",
					    tp_cases[c].what, v);
			}
			vf[round] = (double)(now_ns() - t) / nv;
		}
		res->tp_ns[c] = median(tp, cfg->rounds);
		res->tp_memcpy_ns[c] = median(mc, cfg->rounds);
		res->tp_verify_ns[c] = median(vf, cfg->rounds);

		rkv_source_close(s);
		free(src);
		for (int i = 0; i < 4; i++)
			free(dst[i]);
	}
}

/* ---- 7. the camera process ----------------------------------------------------- */

/*
 * The real rkv-camera program, run as a child: a 1920x1080 NV12 test
 * pattern at 30 fps into its pool, two consumers attached from this
 * process (threads: a block one and a latest one). Measured over cam_s
 * seconds after a second of warm-up: the camera process's CPU time
 * (utime + stime of all its threads, /proc/PID/stat) and, for every frame
 * a consumer acquires, acquire time minus the frame's timestamp, which is
 * the test pattern's capture time. The reference, run right after for as
 * long and measured the same way: ffmpeg producing 1080p30 NV12 frames
 * from its own test source, paced to real time (-re) and thrown away
 * (-f null), i.e. the cheapest "a process producing 1080p30 frames" a
 * common tool offers.
 */
#define CAM_LAT_MAX 8192

struct cam_consumer {
	const char *pool;
	uint32_t policy;
	uint32_t flags;        /* RKV_CONSUMER_* */
	int *recording;        /* atomic: 1 while the window is open, -1: stop */
	int64_t lat[CAM_LAT_MAX];
	uint32_t n;            /* samples in the window */
	int err;
};

static void *cam_consumer_main(void *arg)
{
	struct cam_consumer *cc = arg;
	rkv_consumer *c = attach_flags(cc->pool, cc->policy, 2, 0, cc->flags);

	while (__atomic_load_n(cc->recording, __ATOMIC_ACQUIRE) >= 0) {
		struct rkv_view v;
		int r = rkv_consumer_acquire(c, &v, 100 * 1000000LL);
		int64_t t = now_ns();
		if (r == -ETIMEDOUT || r == -EINTR)
			continue;
		if (r < 0) {
			cc->err = r;
			break;
		}
		if (__atomic_load_n(cc->recording, __ATOMIC_ACQUIRE) == 1 && cc->n < CAM_LAT_MAX)
			cc->lat[cc->n++] = t - v.frame.timestamp_ns;
		rkv_consumer_release(c, &v);
	}
	rkv_consumer_detach(c);
	return NULL;
}

/* CPU time process @pid has used (all its threads), in seconds; or -1. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* After the command name in parentheses (which may hold anything):
	 * state is field 3, utime 14, stime 15. */
	const char *s = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!s || sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Fork and exec @argv with stdin, stdout and stderr on /dev/null; the
 * child dies with us. Returns its pid. */
static pid_t spawn_quiet(char *const argv[])
{
	pid_t pid = fork_bound();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0)
			_exit(127);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Stop child @pid with SIGTERM and reap it; its exit status, or -1 when a
 * signal ended it otherwise. */
static int stop_child(pid_t pid)
{
	int st;
	pid_t r;
	kill(pid, SIGTERM);
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGTERM ? 0 : -1;
	return WEXITSTATUS(st);
}

/* Is @pid still running (not exited)? */
static int running(pid_t pid)
{
	int st;
	return waitpid(pid, &st, WNOHANG) == 0;
}

/* Where a program is: @name in $PATH; 0 and @out, or -1. */
static int find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	while (path && *path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && (size_t)snprintf(out, len, "%.*s/%s", (int)n, path, name) < len &&
		    access(out, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}

/* The rkv-camera program beside this one in the build tree
 * (build/bench/rkv-bench -> build/src/rkv-camera). */
static int camera_beside(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if ((size_t)snprintf(out, len, "%s/../src/rkv-camera", self) >= len)
		return -1;
	return access(out, X_OK) == 0 ? 0 : -1;
}

/* CPU % of one core that process @pid uses over @secs, after @warm s. */
static double cpu_share(pid_t pid, double warm, double secs, const char *what)
{
	sleep_ns((int64_t)(warm * 1e9));
	double c0 = proc_cpu_s(pid);
	int64_t t0 = now_ns();
	sleep_ns((int64_t)(secs * 1e9));
	double c1 = proc_cpu_s(pid);
	int64_t t1 = now_ns();
	if (c0 < 0 || c1 < 0 || !running(pid))
		die("%s (pid %d) ended or its /proc/PID/stat cannot be read", what, (int)pid);
	return 100.0 * (c1 - c0) / ((double)(t1 - t0) / 1e9);
}

static void bench_camera(const struct config *cfg, struct results *res)
{
	char camera[PATH_MAX], pool[64], ffmpeg[PATH_MAX];

	if (cfg->camera)
		snprintf(camera, sizeof camera, "%s", cfg->camera);
	else if (camera_beside(camera, sizeof camera) < 0)
		die("rkv-camera not found beside rkv-bench (../src/rkv-camera); name it with --camera PATH");
	if (access(camera, X_OK) < 0)
		die("%s: %s", camera, strerror(errno));
	pool_name(pool, sizeof pool, "camera");
	fprintf(stderr, "camera: %s, 1920x1080 NV12 at 30 fps, two consumers, %.0f s...\n", camera,
		cfg->cam_s);
	char *cam_argv[] = { camera, "--name", pool, "--source", "testpattern", "--size", "1920x1080",
			     "--format", "NV12", "--fps", "30", "--quiet", NULL };
	pid_t cam = spawn_quiet(cam_argv);

	/* The pool exists once a consumer can attach. */
	int64_t deadline = now_ns() + 10000000000LL;
	for (;;) {
		struct rkv_pool_stats ps;
		if (rkv_pool_stats(pool, &ps, sizeof ps, NULL, 0, 0) >= 0)
			break;
		if (!running(cam) || now_ns() > deadline) {
			stop_child(cam);
			die("rkv-camera (%s) did not start its pool '%s'", camera, pool);
		}
		sleep_ns(10000000);
	}

	int recording = 0;
	struct cam_consumer *cc = calloc(2, sizeof *cc);
	pthread_t th[2];
	if (!cc)
		die("out of memory");
	for (int i = 0; i < 2; i++) {
		cc[i].pool = pool;
		cc[i].policy = i == 0 ? RKV_POLICY_BLOCK : RKV_POLICY_LATEST;
		cc[i].recording = &recording;
		if (pthread_create(&th[i], NULL, cam_consumer_main, &cc[i]) != 0)
			die("pthread_create: %s", strerror(errno));
	}
	sleep_ns(1000000000); /* warm-up: attached, frames flowing */
	__atomic_store_n(&recording, 1, __ATOMIC_RELEASE);
	int64_t t0 = now_ns();
	res->cam_cpu = cpu_share(cam, 0, cfg->cam_s, "rkv-camera");
	double secs = (double)(now_ns() - t0) / 1e9;
	__atomic_store_n(&recording, -1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	int rc = stop_child(cam);
	if (rc != 0)
		die("rkv-camera ended with status %d", rc);

	int64_t *all = malloc(sizeof(int64_t) * 2 * CAM_LAT_MAX);
	size_t n = 0;
	if (!all)
		die("out of memory");
	for (int i = 0; i < 2; i++) {
		if (cc[i].err)
			die("camera consumer %d: acquire: %s", i, strerror(-cc[i].err));
		memcpy(all + n, cc[i].lat, cc[i].n * sizeof(int64_t));
		n += cc[i].n;
		res->cam_fps[i] = cc[i].n / secs;
	}
	if (n == 0)
		die("the camera's consumers acquired no frame");
	res->cam_lat = percentiles(all, n);
	res->cam_frames = n;
	free(all);
	free(cc);

	if (find_in_path("ffmpeg", ffmpeg, sizeof ffmpeg) < 0) {
		res->ff_note = "ffmpeg is not installed: no reference (apt-get install ffmpeg)";
		fprintf(stderr, "camera: %s\n", res->ff_note);
		return;
	}
	fprintf(stderr, "camera: the reference, %s -re testsrc2 1920x1080 at 30 fps to nv12, %.0f s...\n",
		ffmpeg, cfg->cam_s);
	char *ff_argv[] = { ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f",
			    "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-pix_fmt", "nv12", "-f",
			    "null", "-", NULL };
	pid_t ff = spawn_quiet(ff_argv);
	res->ff_cpu = cpu_share(ff, 1.0, cfg->cam_s, "ffmpeg");
	stop_child(ff);
}

/* ---- 8. the camera's publishing step: zero-copy against copy ------------------ */

/*
 * What rkv-camera's thread spends on each frame to publish it, on each of
 * its two paths (src/camera/camera.c), with the device replaced by a
 * stand-in, measured with the publishing thread's own CPU clock
 * (CLOCK_THREAD_CPUTIME_ID: that thread's user and system time, so the
 * syscalls it makes count and a consumer's work does not).
 *
 *   zero-copy  the driver's buffers are the pool's external slots: slots + 2
 *              memfds stand in for the exported DMA-BUFs (slot_fds,
 *              slot_offsets; max_loans 3, as the camera makes them). A frame
 *              in buffer i is published as slot i (loan_slot + publish) and
 *              is pending; the last pool call of every turn of the loop is
 *              rkv_producer_reclaim() over the pending slots, and the ones it
 *              reports free go back to the driver. The pool's fd is in the
 *              loop's epoll set: a consumer's release that frees a pending
 *              slot wakes the loop, as it wakes the camera.
 *   copy       a memfd pool of 8 slots; a frame is copied out of the driver's
 *              buffer (loan + memcpy + publish) and the buffer goes back at
 *              once. The driver's buffers are a ring of twice the
 *              last-level cache (64 MiB at least), so every copy reads
 *              memory the cache does not hold, as a buffer a device has
 *              just written by DMA.
 *   wake only  the baseline of the paced runs: the same loop waking for
 *              each frame and publishing nothing, what a paced frame costs
 *              before any pool call.
 *
 * Left out, as the same in both paths: the V4L2 ioctls (one VIDIOC_DQBUF
 * and one VIDIOC_QBUF per frame), the camera's statistics (a mutex and a
 * few counters) and its control channel. The driver here is a FIFO of
 * buffer numbers: DQBUF takes the oldest, giving a buffer back appends it.
 * A frame that finds no buffer at the driver (every one pending) is lost,
 * as a device drops it; such frames are counted, not measured.
 *
 * Two ways of running, each in rounds that alternate the two paths:
 * paced, a frame every 1/30 s from a timerfd in the loop's epoll set (the
 * stand-in for the device's fd), which is the camera's own rhythm,
 * wake-ups included; and unpaced, frames back to back without waiting
 * (zero-copy waits on the pool's fd only when every buffer is pending),
 * the work per frame without the wake-up that starts each turn. Both with
 * no consumer, and with one latest consumer (a thread of this process)
 * acquiring and releasing every frame it gets; on the external pool with
 * RKV_CONSUMER_NO_MAP, as a consumer that hands the fd to an NPU attaches.
 */
#define ZC_SLOTS    8u               /* rkv-camera's default slots */
#define ZC_BUFS     (ZC_SLOTS + 2u)  /* zero-copy: the driver's buffers */
#define ZC_LOANS    3u               /* zero-copy: the camera's max_loans */
#define ZC_FPS      30
#define ZC_MIN_RING (64u << 20)
#define ZC_ZEROCOPY 0
#define ZC_COPY     1
#define ZC_WAKE     2 /* the loop waking for each frame and publishing none */

static const struct {
	uint32_t w, h;
	const char *what, *key;
} zc_cases[ZC_CASES] = {
	{ 1280, 720, "1280x720 NV12", "720p" },
	{ 1920, 1080, "1920x1080 NV12", "1080p" },
};
static const char *const zc_modes[ZC_MODES] = { "paced", "unpaced" };

struct zc_path {
	int kind;                    /* ZC_ZEROCOPY, ZC_COPY, ZC_WAKE */
	int zc;                      /* kind == ZC_ZEROCOPY */
	char name[64];
	rkv_producer *p;
	struct rkv_frame f;
	int ep, tfd;
	int fds[ZC_BUFS];            /* zero-copy: the stand-in DMA-BUFs */
	uint32_t queue[ZC_BUFS], q_head, q_len; /* zero-copy: at the driver */
	uint8_t pending[ZC_BUFS];
	uint32_t ask[ZC_BUFS], freed[ZC_BUFS];
	const uint8_t *ring;         /* copy: the driver's buffers */
	size_t ring_n, ring_next;
	uint64_t published, lost;
	struct cam_consumer *cc;     /* NULL: no consumer */
	pthread_t th;
	int recording;
};

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The largest cache /sys lists for CPU 0, in bytes; 0 when it lists none. */
static size_t llc_bytes(void)
{
	size_t best = 0;
	for (int i = 0; i < 8; i++) {
		char path[96], buf[32], unit = 0;
		unsigned long v = 0;
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		FILE *fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fgets(buf, sizeof buf, fp) && sscanf(buf, "%lu%c", &v, &unit) >= 1) {
			size_t b = v * (unit == 'K' ? 1024u : unit == 'M' ? 1048576u : 1u);
			if (b > best)
				best = b;
		}
		fclose(fp);
	}
	return best;
}

static void zc_open(struct zc_path *z, int kind, const struct rkv_frame *f, const uint8_t *ring,
		    size_t ring_bytes, int consumer)
{
	memset(z, 0, sizeof *z);
	z->kind = kind;
	z->zc = kind == ZC_ZEROCOPY;
	int zc = z->zc;
	z->f = *f;
	z->tfd = -1;
	pool_name(z->name, sizeof z->name, zc ? "zc" : kind == ZC_COPY ? "zccopy" : "zcwake");
	size_t bytes = f->bytes_used;
	if (kind == ZC_WAKE) {
		consumer = 0; /* no pool */
	} else if (zc) {
		uint64_t offs[ZC_BUFS] = { 0 };
		for (uint32_t i = 0; i < ZC_BUFS; i++) {
			z->fds[i] = memfd_create("rkv-bench-buffer", MFD_CLOEXEC);
			if (z->fds[i] < 0 || ftruncate(z->fds[i], (off_t)((bytes + 4095) & ~(size_t)4095)) < 0)
				die("memfd for a stand-in DMA-BUF: %s", strerror(errno));
			z->queue[i] = i; /* every buffer starts queued at the driver */
		}
		z->q_len = ZC_BUFS;
		struct rkv_pool_opts o = {
			.slot_count = ZC_BUFS,
			.slot_capacity = bytes,
			.max_loans = ZC_LOANS,
			.slot_fds = z->fds,
			.slot_offsets = offs,
		};
		z->p = create_opts(z->name, &o);
	} else {
		struct rkv_pool_opts o = { .slot_count = ZC_SLOTS, .slot_capacity = bytes };
		z->p = create_opts(z->name, &o);
		z->ring = ring;
		z->ring_n = ring_bytes / bytes;
	}
	z->ep = epoll_create1(EPOLL_CLOEXEC);
	z->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (z->ep < 0 || z->tfd < 0)
		die("epoll or timerfd: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
	if (epoll_ctl(z->ep, EPOLL_CTL_ADD, z->tfd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	if (zc) {
		ev.data.u32 = 1;
		if (epoll_ctl(z->ep, EPOLL_CTL_ADD, rkv_producer_fd(z->p), &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	if (consumer) {
		z->cc = calloc(1, sizeof *z->cc);
		if (!z->cc)
			die("out of memory");
		z->cc->pool = z->name;
		z->cc->policy = RKV_POLICY_LATEST;
		z->cc->flags = zc ? RKV_CONSUMER_NO_MAP : 0;
		z->cc->recording = &z->recording;
		if (pthread_create(&z->th, NULL, cam_consumer_main, z->cc) != 0)
			die("pthread_create failed");
		int r = rkv_producer_wait_consumers(z->p, 1, 10LL * 1000000000);
		if (r < 0)
			die("%s: the consumer did not attach: %s", z->name, strerror(-r));
	}
}

static void zc_close(struct zc_path *z)
{
	if (z->cc) {
		__atomic_store_n(&z->recording, -1, __ATOMIC_RELEASE);
		pthread_join(z->th, NULL);
		if (z->cc->err)
			die("%s: consumer: acquire: %s", z->name, strerror(-z->cc->err));
		free(z->cc);
	}
	rkv_producer_destroy(z->p);
	close(z->ep);
	close(z->tfd);
	for (uint32_t i = 0; z->zc && i < ZC_BUFS; i++)
		close(z->fds[i]);
}

/* One frame from the driver, published; 0, or -1 when no buffer was queued
 * (zero-copy) or no slot free (copy) and the frame is lost. */
static int zc_publish(struct zc_path *z)
{
	struct rkv_loan l;
	int r;
	z->f.seq++;
	z->f.timestamp_ns = now_ns();
	if (z->kind == ZC_WAKE)
		return 0;
	if (z->zc) {
		if (z->q_len == 0)
			return -1;
		uint32_t s = z->queue[z->q_head];
		z->q_head = (z->q_head + 1) % ZC_BUFS;
		z->q_len--;
		r = rkv_producer_loan_slot(z->p, s, &l);
		if (r < 0)
			die("%s: loan_slot %u: %s", z->name, s, strerror(-r));
		z->pending[s] = 1;
	} else {
		const uint8_t *src = z->ring + (z->ring_next++ % z->ring_n) * z->f.bytes_used;
		r = rkv_producer_loan(z->p, &l, 0);
		if (r == -EAGAIN)
			return -1;
		if (r < 0)
			die("%s: loan: %s", z->name, strerror(-r));
		memcpy(l.data, src, z->f.bytes_used);
	}
	r = rkv_producer_publish(z->p, &l, &z->f);
	if (r < 0)
		die("%s: publish: %s", z->name, strerror(-r));
	return 0;
}

/* The camera's reclaim(): pending slots no consumer has any more go back to
 * the driver; the pool's fd is armed for the others. */
static void zc_reclaim(struct zc_path *z)
{
	uint32_t n = 0;
	if (!z->zc)
		return;
	for (uint32_t i = 0; i < ZC_BUFS; i++)
		if (z->pending[i])
			z->ask[n++] = i;
	int got = rkv_producer_reclaim(z->p, z->ask, n, z->freed);
	if (got < 0)
		die("%s: reclaim: %s", z->name, strerror(-got));
	for (int k = 0; k < got; k++) {
		uint32_t s = z->freed[k];
		z->pending[s] = 0;
		z->queue[(z->q_head + z->q_len++) % ZC_BUFS] = s;
	}
}

/* @frames frames from the driver, paced at ZC_FPS or back to back: the
 * publishing thread's CPU time per frame published, in ns. */
static double zc_round(struct zc_path *z, uint32_t frames, int paced)
{
	const int64_t period = 1000000000 / ZC_FPS;
	struct itimerspec it = { .it_interval = { 0, period }, .it_value = { 0, period } };
	if (paced && timerfd_settime(z->tfd, 0, &it, NULL) < 0)
		die("timerfd_settime: %s", strerror(errno));
	uint64_t published = 0, due = 0;
	int64_t c0 = thread_cpu_ns();
	for (uint32_t done = 0; done < frames;) {
		struct epoll_event ev[2];
		int n = 0;
		if (paced || (z->zc && z->q_len == 0))
			n = epoll_wait(z->ep, ev, 2, 1000);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			uint64_t x;
			if (ev[i].data.u32 == 0 && read(z->tfd, &x, sizeof x) == (ssize_t)sizeof x)
				due += x;
		}
		if (!paced && !(z->zc && z->q_len == 0))
			due = 1;
		for (; due > 0 && done < frames; due--, done++) {
			if (zc_publish(z) == 0)
				published++;
			else
				z->lost++;
		}
		zc_reclaim(z);
	}
	int64_t cpu = thread_cpu_ns() - c0;
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	timerfd_settime(z->tfd, 0, &off, NULL);
	if (published == 0)
		die("%s: no frame of %u published", z->name, frames);
	z->published += published;
	return (double)cpu / (double)published;
}

static void bench_zerocopy(const struct config *cfg, struct results *res)
{
	size_t llc = llc_bytes();
	size_t ring_bytes = 2 * llc > ZC_MIN_RING ? 2 * llc : ZC_MIN_RING;
	uint8_t *ring = big_alloc(ring_bytes);
	for (size_t i = 0; i < ring_bytes; i++)
		ring[i] = (uint8_t)(i * 7);
	res->zc_llc = llc;
	res->zc_ring = ring_bytes;
	res->zc_lost = 0;

	for (size_t c = 0; c < ZC_CASES; c++) {
		struct rkv_frame f;
		int64_t bytes = rkv_frame_layout(&f, RKV_FMT_NV12, zc_cases[c].w, zc_cases[c].h, 1);
		if (bytes != (int64_t)zc_cases[c].w * zc_cases[c].h * 3 / 2)
			die("rkv_frame_layout(%s) gives %" PRId64 " bytes", zc_cases[c].what, bytes);
		for (uint32_t nc = 0; nc < 2; nc++) {
			fprintf(stderr, "zero-copy vs copy: %s, %s consumer, %u rounds...\n",
				zc_cases[c].what, nc ? "a latest" : "no", cfg->rounds);
			struct zc_path path[ZC_PATHS];
			for (int k = 0; k < ZC_PATHS; k++) {
				zc_open(&path[k], k, &f, ring, ring_bytes, (int)nc);
				zc_round(&path[k], 2 * ZC_BUFS, 0); /* warm-up: every slot faulted in */
			}
			for (int mode = 0; mode < ZC_MODES; mode++) {
				/* Unpaced, the loop never waits: nothing to measure
				 * without a frame to publish. */
				int paths = mode == 0 ? ZC_PATHS : 2;
				uint32_t frames = mode == 0 ? cfg->zc_paced_frames : cfg->zc_frames;
				double v[ZC_PATHS][16];
				for (uint32_t round = 0; round < cfg->rounds; round++)
					for (int k = 0; k < paths; k++) {
						/* every other round in the other order */
						int which = round % 2 ? paths - 1 - k : k;
						v[which][round] = zc_round(&path[which], frames, mode == 0);
					}
				for (int k = 0; k < paths; k++)
					res->zc_ns[c][mode][nc][k] = median(v[k], cfg->rounds);
			}
			for (int k = 0; k < ZC_PATHS; k++) {
				res->zc_lost += path[k].lost;
				zc_close(&path[k]);
			}
		}
	}
	free(ring);
}

/* ---- 9. the pool's fixed memory cost ------------------------------------------ */

/*
 * What a pool costs beyond its slot data: its shared areas (the memfds the
 * producer maps: the pool area's header, slot descriptors and stats tables,
 * one chan area per consumer, each slot's rounding up to whole pages) less
 * the slots' bytes, counted whole (every page, touched or not), plus the anonymous memory the library
 * takes in each process (heap, the service thread's stack pages touched):
 * /proc/self/smaps_rollup's Anonymous before and after, in the producer and
 * in each consumer, with one frame published and taken so the steady-state
 * paths have run. Page tables and kernel socket buffers are not counted.
 * The consumers are latest consumers (the least a consumer pins: 1 queued,
 * 1 held), each in its own process; the pool has the default consumer limit
 * (16), of 640x480 NV12 slots. 5 slots, not 4: with the producer's loan, 4
 * slots cannot admit two consumers (attach says -ENOSPC), and a slot's own
 * cost beyond its data is below. Per slot: against a pool of 9 slots; per
 * consumer: 9 slots with 4 consumers against 9 with 2.
 */
struct mem_shared {
	uint32_t ready, leave;     /* children attached and measured; parent done */
	int64_t anon_kib[MEM_MAX_CONS];
};

static int64_t anon_kib(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		die("/proc/self/smaps_rollup: %s", strerror(errno));
	char line[256];
	long long v = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Anonymous: %lld kB", &v) == 1)
			break;
	fclose(f);
	if (v < 0)
		die("no Anonymous line in /proc/self/smaps_rollup");
	return v;
}

/* The bytes of the memfds this process maps, each counted once. */
static uint64_t memfd_bytes(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		die("/proc/self/maps: %s", strerror(errno));
	char line[512];
	unsigned long long inodes[64];
	uint64_t sizes[64], total = 0;
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long long lo, hi, ino;
		int at = 0;
		if (sscanf(line, "%llx-%llx %*s %*s %*s %llu %n", &lo, &hi, &ino, &at) != 3 ||
		    strncmp(line + at, "/memfd:", 7) != 0)
			continue;
		int i = 0;
		while (i < n && inodes[i] != ino)
			i++;
		if (i == n) {
			if (n == 64)
				die("more than 64 memfds mapped");
			inodes[n] = ino;
			sizes[n++] = 0;
		}
		sizes[i] += hi - lo; /* a memfd mapped in pieces adds up */
	}
	fclose(f);
	for (int i = 0; i < n; i++)
		total += sizes[i];
	return total;
}

struct mem_args {
	const char *name;
	struct mem_shared *sh;
	uint32_t idx;
};

static int mem_consumer(void *arg)
{
	struct mem_args *a = arg;
	int64_t before = anon_kib();
	rkv_consumer *c = attach(a->name, RKV_POLICY_LATEST, 1, 0);
	struct rkv_view v;
	int r = rkv_consumer_acquire(c, &v, 10LL * 1000000000);
	if (r)
		die("memory: acquire: %s", strerror(-r));
	rkv_consumer_release(c, &v);
	a->sh->anon_kib[a->idx] = anon_kib() - before;
	__atomic_fetch_add(&a->sh->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&a->sh->leave, __ATOMIC_ACQUIRE))
		sleep_ns(1000000);
	rkv_consumer_detach(c);
	return 0;
}

/* Bytes a pool of @slots 640x480 NV12 slots with @ncons consumers costs
 * beyond its slot data. */
static double mem_cost(uint32_t slots, uint32_t ncons, double *shared)
{
	char name[64];
	pool_name(name, sizeof name, "mem");
	struct mem_shared *sh = shared_alloc(sizeof *sh);
	struct child ch[MEM_MAX_CONS];
	struct mem_args args[MEM_MAX_CONS];
	for (uint32_t i = 0; i < ncons; i++) {
		args[i] = (struct mem_args){ name, sh, i };
		child_spawn(&ch[i], "memory consumer", mem_consumer, &args[i]);
	}
	uint64_t shared0 = memfd_bytes();
	int64_t anon0 = anon_kib();
	const uint64_t cap = 640 * 480 * 3 / 2;
	struct rkv_pool_opts o = { .slot_count = slots, .slot_capacity = cap,
				   .block_timeout_ns = 10LL * 1000000000, .access_gid = -1 };
	rkv_producer *p = create_opts(name, &o);
	for (uint32_t i = 0; i < ncons; i++)
		child_go(&ch[i]);
	int r = rkv_producer_wait_consumers(p, ncons, 10LL * 1000000000);
	if (r)
		die("memory: wait for consumers: %s", strerror(-r));
	struct rkv_frame f;
	rkv_frame_layout(&f, RKV_FMT_NV12, 640, 480, 1);
	struct rkv_loan l;
	if ((r = rkv_producer_loan(p, &l, 10LL * 1000000000)) ||
	    (r = rkv_producer_publish(p, &l, &f)) < 0)
		die("memory: publish: %s", strerror(-r));
	while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < ncons)
		sleep_ns(1000000);
	/* the slots' bytes themselves; their rounding up to whole pages counts */
	double bytes = (double)(memfd_bytes() - shared0) - (double)slots * (double)cap;
	*shared = bytes;
	bytes += (double)(anon_kib() - anon0) * 1024;
	for (uint32_t i = 0; i < ncons; i++)
		bytes += (double)sh->anon_kib[i] * 1024;
	__atomic_store_n(&sh->leave, 1, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < ncons; i++)
		child_reap(&ch[i]);
	rkv_producer_destroy(p);
	munmap(sh, sizeof *sh);
	return bytes;
}

/* Each pool is made in a process of its own, forked from this one, which
 * has made no pool yet (main runs this section first): its heap and thread
 * stacks hold nothing an earlier pool freed, so the first pool's cost is
 * what is counted, as on a board's camera process. */
struct mem_run {
	uint32_t slots, ncons;
	double bytes, shared;     /* written by the child */
};

static int mem_producer(void *arg)
{
	struct mem_run *m = arg;
	m->bytes = mem_cost(m->slots, m->ncons, &m->shared);
	return 0;
}

static double mem_fresh(uint32_t slots, uint32_t ncons, double *shared)
{
	struct mem_run *m = shared_alloc(sizeof *m);
	*m = (struct mem_run){ slots, ncons, NAN, NAN };
	struct child ch;
	child_spawn(&ch, "memory producer", mem_producer, m);
	child_go(&ch);
	child_reap(&ch);
	double bytes = m->bytes;
	*shared = m->shared;
	munmap(m, sizeof *m);
	return bytes;
}

static void bench_memory(const struct config *cfg, struct results *res)
{
	double base[MEM_ROUNDS], slots[MEM_ROUNDS], cons[MEM_ROUNDS], shared[MEM_ROUNDS], sh;
	uint32_t rounds = cfg->quick ? 1 : MEM_ROUNDS;
	for (uint32_t i = 0; i < rounds; i++) {
		base[i] = mem_fresh(5, 2, &shared[i]);
		double nine = mem_fresh(9, 2, &sh);
		slots[i] = (nine - base[i]) / 4;
		cons[i] = (mem_fresh(9, 4, &sh) - nine) / 2;
	}
	res->mem_fixed = median(base, rounds);
	res->mem_shared = median(shared, rounds);
	res->mem_slot = median(slots, rounds);
	res->mem_consumer = median(cons, rounds);
}

/* ---- machine ------------------------------------------------------------------ */

struct machine {
	char cpu[128];
	long nproc;
	char kernel[256];
	char arch[80];
};

static void machine_info(struct machine *m)
{
	snprintf(m->cpu, sizeof m->cpu, "unknown");
	FILE *fp = fopen("/proc/cpuinfo", "r");
	if (fp) {
		char line[512];
		while (fgets(line, sizeof line, fp)) {
			/* x86 says "model name"; many ARM kernels only "Hardware". */
			if (strncmp(line, "model name", 10) && strncmp(line, "Hardware", 8))
				continue;
			char *v = strchr(line, ':');
			if (!v)
				continue;
			v++;
			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = 0;
			snprintf(m->cpu, sizeof m->cpu, "%s", v);
			break;
		}
		fclose(fp);
	}
	m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	struct utsname u;
	if (uname(&u) == 0) {
		snprintf(m->kernel, sizeof m->kernel, "%s %s", u.sysname, u.release);
		snprintf(m->arch, sizeof m->arch, "%s", u.machine);
	} else {
		snprintf(m->kernel, sizeof m->kernel, "unknown");
		snprintf(m->arch, sizeof m->arch, "unknown");
	}
}

/* ---- output ------------------------------------------------------------------- */

/* A target is -1 when its figures were not measured. */
struct targets {
	int sleep_p50, sleep_p99, spin_p50, small_fps, copyin, loan, tp_1ms, tp_memcpy;
	int cam_5pct, cam_third_ffmpeg, cam_p50_1ms;
	int zc_fifth[ZC_MODES][2];   /* 720p: zero-copy <= 0.2 x copy, per mode, consumers */
	int mem_64k;                 /* 5 slots, 2 consumers: < 64 KiB beyond the slot data */
};

static struct targets judge(const struct results *r)
{
	struct targets t = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, { { -1, -1 }, { -1, -1 } }, -1 };
	if (r->have_latency) {
		t.sleep_p50 = r->sleep.p50 <= r->futex.p50 + 2.0;
		t.sleep_p99 = r->sleep.p99 <= 1.2 * r->futex.p99;
		t.spin_p50 = r->spin.p50 <= 1.0;
	}
	if (!isnan(r->small_fps))
		t.small_fps = r->small_fps >= 3e6;
	if (!isnan(r->copyin_fps))
		t.copyin = r->copyin_fps >= 0.9 * r->memcpy_fps;
	if (!isnan(r->loan_4k_ns))
		t.loan = r->loan_4k_ns <= 1.2 * r->loan_64b_ns;
	if (!isnan(r->tp_ns[0])) {
		t.tp_1ms = r->tp_ns[0] <= 1e6;
		t.tp_memcpy = r->tp_ns[0] <= 0.5 * r->tp_memcpy_ns[0];
	}
	if (!isnan(r->cam_cpu)) {
		t.cam_5pct = r->cam_cpu < 5.0;
		t.cam_p50_1ms = r->cam_lat.p50 < 1000.0;
		if (!isnan(r->ff_cpu))
			t.cam_third_ffmpeg = r->cam_cpu < r->ff_cpu / 3;
	}
	for (int md = 0; md < ZC_MODES; md++)
		for (int n = 0; n < 2; n++)
			if (!isnan(r->zc_ns[0][md][n][0]))
				t.zc_fifth[md][n] = r->zc_ns[0][md][n][0] <= 0.2 * r->zc_ns[0][md][n][1];
	if (!isnan(r->mem_fixed))
		t.mem_64k = r->mem_fixed < 64 * 1024;
	return t;
}

static const char *met(int t)
{
	return t < 0 ? "not run" : t ? "met" : "MISSED";
}

static void print_pct(const char *what, const struct pct *p)
{
	printf("  %-26s %9.2f %9.2f %9.2f %9.2f\n", what, p->p50, p->p99, p->p999, p->max);
}

static void print_table(const struct config *cfg, const struct machine *m, const struct results *r,
			const struct targets *t)
{
	printf("rkv-bench (librkv %s) on %s, %ld CPUs, %s %s\n", rkv_version(), m->cpu, m->nproc,
	       m->kernel, m->arch);
	if (r->have_latency) {
		printf("\n1. one-way latency, publish -> consumer holds it, 64-byte frames, two processes\n");
		printf("   %u samples per row, a frame every %.0f us, in microseconds\n", cfg->samples,
		       (double)cfg->pace_ns / 1000);
		printf("  %-26s %9s %9s %9s %9s\n", "", "p50", "p99", "p99.9", "max");
		print_pct("futex wake (baseline)", &r->futex);
		print_pct("pool, consumer sleeping", &r->sleep);
		print_pct("pool, consumer spinning", &r->spin);
		printf("  target sleeping p50 <= futex p50 + 2 us:   %.2f vs %.2f  %s\n", r->sleep.p50,
		       r->futex.p50 + 2.0, met(t->sleep_p50));
		printf("  target sleeping p99 <= 1.2 x futex p99:    %.2f vs %.2f  %s\n", r->sleep.p99,
		       1.2 * r->futex.p99, met(t->sleep_p99));
		printf("  target spinning p50 <= 1 us:               %.2f  %s\n", r->spin.p50,
		       met(t->spin_p50));
	}
	if (!isnan(r->small_fps)) {
		printf("\n2. throughput, 64-byte frames into one block consumer in another process\n");
		printf("  %-40s %12.0f frames/s (%" PRIu64 " frames, none dropped)\n", "received",
		       r->small_fps, r->small_frames);
		printf("  target >= 3000000 frames/s: %s\n", met(t->small_fps));
	}
	if (!isnan(r->copyin_fps)) {
		printf("\n3. 1080p RGB (%zu bytes) copied in, one producer thread\n", RGB_BYTES);
		printf("  %-40s %12.1f frames/s  %6.2f GB/s\n", "memcpy to one buffer (baseline)",
		       r->memcpy_fps, r->memcpy_fps * RGB_BYTES / 1e9);
		printf("  %-40s %12.1f frames/s  %6.2f GB/s\n", "publish_copy, idle latest consumer",
		       r->copyin_fps, r->copyin_fps * RGB_BYTES / 1e9);
		printf("  target >= 0.9 x memcpy: %.2f x  %s\n", r->copyin_fps / r->memcpy_fps,
		       met(t->copyin));
		printf("  same memory footprint, for comparison:\n");
		printf("  %-40s %12.1f frames/s  %6.2f GB/s\n", "memcpy alternating two buffers",
		       r->memcpy2_fps, r->memcpy2_fps * RGB_BYTES / 1e9);
		printf("  %-40s %12.1f frames/s  %6.2f GB/s  (%.2f x memcpy)\n",
		       "publish_copy, no consumer (one slot)", r->copyin0_fps,
		       r->copyin0_fps * RGB_BYTES / 1e9, r->copyin0_fps / r->memcpy_fps);
	}
	if (!isnan(r->loan_4k_ns)) {
		printf("\n4. loan -> publish -> acquire -> release, one thread, data untouched\n");
		printf("  %-40s %12.1f ns/frame\n", "64-byte frame", r->loan_64b_ns);
		printf("  %-40s %12.1f ns/frame\n", "3840x2160 NV12 frame", r->loan_4k_ns);
		printf("  target 4K <= 1.2 x 64 B: %.2f x  %s\n", r->loan_4k_ns / r->loan_64b_ns,
		       met(t->loan));
	}
	if (!isnan(r->fanout_fps[1])) {
		printf("\n5. fan-out, 64-byte frames, block consumers in separate processes\n");
		printf("  %-12s %22s %22s\n", "consumers", "frames/s each (min)", "frames/s all");
		for (size_t i = 0; i < N_FANOUT; i++) {
			uint32_t n = fanout_counts[i];
			printf("  %-12u %22.0f %22.0f\n", n, r->fanout_fps[n], r->fanout_total[n]);
		}
	}
	if (!isnan(r->tp_ns[0])) {
		printf("\n6. test pattern: ns per frame (rkv_source_next + done), one thread\n");
		printf("  %-16s %14s %18s %8s %14s\n", "", "test pattern", "memcpy (baseline)", "ratio",
		       "verify");
		for (size_t c = 0; c < 2; c++)
			printf("  %-16s %11.0f ns %15.0f ns %7.2fx %11.0f ns\n", tp_cases[c].what,
			       r->tp_ns[c], r->tp_memcpy_ns[c], r->tp_ns[c] / r->tp_memcpy_ns[c],
			       r->tp_verify_ns[c]);
		printf("  target 1080p NV12 <= 1 ms:                   %.0f ns  %s\n", r->tp_ns[0],
		       met(t->tp_1ms));
		printf("  target 1080p NV12 <= 0.5 x memcpy of a frame: %.2f x  %s\n",
		       r->tp_ns[0] / r->tp_memcpy_ns[0], met(t->tp_memcpy));
	}
	if (!isnan(r->cam_cpu)) {
		printf("\n7. rkv-camera, 1920x1080 NV12 test pattern at 30 fps, a block and a latest\n"
		       "   consumer (threads of this process), %.0f s\n", cfg->cam_s);
		printf("  %-44s %8.2f %% of one core\n", "rkv-camera process CPU (utime + stime)",
		       r->cam_cpu);
		if (!isnan(r->ff_cpu))
			printf("  %-44s %8.2f %% of one core\n", "ffmpeg -re testsrc2 1080p30 nv12 (reference)",
			       r->ff_cpu);
		else
			printf("  reference: %s\n", r->ff_note ? r->ff_note : "not run");
		printf("  capture -> acquire, %" PRIu64 " frames: p50 %.0f us, p99 %.0f us, max %.0f us\n",
		       r->cam_frames, r->cam_lat.p50, r->cam_lat.p99, r->cam_lat.max);
		printf("  frames acquired per second: block %.1f, latest %.1f\n", r->cam_fps[0],
		       r->cam_fps[1]);
		printf("  target camera CPU < 5 %% of one core:        %.2f %%  %s\n", r->cam_cpu,
		       met(t->cam_5pct));
		if (!isnan(r->ff_cpu))
			printf("  target camera CPU < 1/3 of ffmpeg's:        %.2f x  %s\n",
			       r->cam_cpu / r->ff_cpu, met(t->cam_third_ffmpeg));
		else
			printf("  target camera CPU < 1/3 of ffmpeg's:        %s\n", met(-1));
		printf("  target capture -> acquire p50 < 1 ms:       %.0f us  %s\n", r->cam_lat.p50,
		       met(t->cam_p50_1ms));
	}
	if (!isnan(r->zc_ns[0][0][0][0])) {
		printf("\n8. the camera's publishing step, zero-copy vs copy: CPU time of the publishing\n"
		       "   thread per frame (thread clock), median of %u rounds alternating the paths;\n"
		       "   V4L2 DQBUF + QBUF left out (the same in both); copies read a %zu MiB ring\n"
		       "   (largest cache %zu KiB)\n", cfg->rounds, r->zc_ring >> 20, r->zc_llc >> 10);
		printf("  %-16s %-8s %-9s %12s %12s %7s %12s\n", "", "", "consumer", "zero-copy", "copy",
		       "ratio", "wake only");
		for (size_t c = 0; c < ZC_CASES; c++)
			for (int md = 0; md < ZC_MODES; md++)
				for (int n = 0; n < 2; n++) {
					const double *v = r->zc_ns[c][md][n];
					printf("  %-16s %-8s %-9s %9.2f us %9.2f us %6.3fx", zc_cases[c].what,
					       zc_modes[md], n ? "latest" : "none", v[0] / 1000, v[1] / 1000,
					       v[0] / v[1]);
					if (!isnan(v[ZC_WAKE]))
						printf(" %9.2f us", v[ZC_WAKE] / 1000);
					putchar('\n');
				}
		printf("  (wake only: the paced loop waking for each frame and publishing none)\n");
		if (r->zc_lost)
			printf("  frames lost (no buffer at the driver or no free slot): %" PRIu64 "\n",
			       r->zc_lost);
		for (int md = 0; md < ZC_MODES; md++)
			for (int n = 0; n < 2; n++)
				printf("  target 720p %-7s %-13s zero-copy <= 0.2 x copy: %.3f x  %s\n",
				       zc_modes[md], n ? "one consumer:" : "no consumer:",
				       r->zc_ns[0][md][n][0] / r->zc_ns[0][md][n][1], met(t->zc_fifth[md][n]));
	}
	if (!isnan(r->mem_fixed)) {
		printf("\n9. memory beyond the slot data (shared areas, whole pages, + anonymous memory\n"
		       "   of the producer and each consumer process), 640x480 NV12 slots, median\n"
		       "   of %u rounds\n", cfg->quick ? 1 : MEM_ROUNDS);
		printf("  5 slots, 2 latest consumers:    %8.1f KiB (shared areas %.1f KiB)\n",
		       r->mem_fixed / 1024, r->mem_shared / 1024);
		printf("  each further slot:              %8.1f KiB\n", r->mem_slot / 1024);
		printf("  each further consumer:          %8.1f KiB\n", r->mem_consumer / 1024);
		printf("  target 5 slots, 2 consumers < 64 KiB:  %s\n", met(t->mem_64k));
	}
	fflush(stdout);
}

static void json_num(const char *key, double v, int *first)
{
	printf("%s\"%s\":", *first ? "" : ",", key);
	*first = 0;
	if (isnan(v) || isinf(v))
		printf("null");
	else
		printf("%.3f", v);
}

static void json_int(const char *key, long long v, int *first)
{
	printf("%s\"%s\":%lld", *first ? "" : ",", key, v);
	*first = 0;
}

static void json_str(const char *key, const char *s, int *first)
{
	printf("%s\"%s\":\"", *first ? "" : ",", key);
	*first = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_bool(const char *key, int t, int *first)
{
	printf("%s\"%s\":%s", *first ? "" : ",", key, t < 0 ? "null" : t ? "true" : "false");
	*first = 0;
}

static void print_json(const struct config *cfg, const struct machine *m, const struct results *r,
		       const struct targets *t)
{
	int first = 1, f2;
	double nan_ = NAN;
	printf("{");
	json_str("version", rkv_version(), &first);
	printf(",\"machine\":{");
	f2 = 1;
	json_str("cpu", m->cpu, &f2);
	json_int("nproc", m->nproc, &f2);
	json_str("kernel", m->kernel, &f2);
	json_str("arch", m->arch, &f2);
	printf("}");
	if (r->have_latency)
		json_int("samples", cfg->samples, &first);
	else
		json_num("samples", nan_, &first);
	json_num("pace_us", r->have_latency ? (double)cfg->pace_ns / 1000 : nan_, &first);
	const struct pct none = { NAN, NAN, NAN, NAN };
	const struct { const char *k; const struct pct *p; } rows[] = {
		{ "futex", r->have_latency ? &r->futex : &none },
		{ "sleep", r->have_latency ? &r->sleep : &none },
		{ "spin", r->have_latency ? &r->spin : &none },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char k[64];
		snprintf(k, sizeof k, "%s_p50_us", rows[i].k);
		json_num(k, rows[i].p->p50, &first);
		snprintf(k, sizeof k, "%s_p99_us", rows[i].k);
		json_num(k, rows[i].p->p99, &first);
		snprintf(k, sizeof k, "%s_p999_us", rows[i].k);
		json_num(k, rows[i].p->p999, &first);
		snprintf(k, sizeof k, "%s_max_us", rows[i].k);
		json_num(k, rows[i].p->max, &first);
	}
	json_num("small_fps", r->small_fps, &first);
	json_num("memcpy_1080p_fps", r->memcpy_fps, &first);
	json_num("copyin_1080p_fps", r->copyin_fps, &first);
	json_num("copyin_ratio", r->copyin_fps / r->memcpy_fps, &first);
	json_num("memcpy_1080p_2buf_fps", r->memcpy2_fps, &first);
	json_num("copyin_1080p_noconsumer_fps", r->copyin0_fps, &first);
	json_num("loan_64b_ns", r->loan_64b_ns, &first);
	json_num("loan_4k_ns", r->loan_4k_ns, &first);
	json_num("loan_ratio", r->loan_4k_ns / r->loan_64b_ns, &first);
	printf(",\"fanout_fps\":{");
	f2 = 1;
	for (size_t i = 0; i < N_FANOUT; i++) {
		char k[16];
		snprintf(k, sizeof k, "%u", fanout_counts[i]);
		json_num(k, r->fanout_fps[fanout_counts[i]], &f2);
	}
	printf("},\"fanout_total_fps\":{");
	f2 = 1;
	for (size_t i = 0; i < N_FANOUT; i++) {
		char k[16];
		snprintf(k, sizeof k, "%u", fanout_counts[i]);
		json_num(k, r->fanout_total[fanout_counts[i]], &f2);
	}
	printf("}");
	const char *tp_keys[2] = { "tp_1080p_nv12", "tp_vga_yuyv" };
	for (size_t c = 0; c < 2; c++) {
		char k[64];
		snprintf(k, sizeof k, "%s_ns", tp_keys[c]);
		json_num(k, r->tp_ns[c], &first);
		snprintf(k, sizeof k, "%s_memcpy_ns", tp_keys[c]);
		json_num(k, r->tp_memcpy_ns[c], &first);
		snprintf(k, sizeof k, "%s_verify_ns", tp_keys[c]);
		json_num(k, r->tp_verify_ns[c], &first);
	}
	json_num("camera_cpu_pct", r->cam_cpu, &first);
	json_num("ffmpeg_cpu_pct", r->ff_cpu, &first);
	json_num("camera_cpu_ratio", r->cam_cpu / r->ff_cpu, &first);
	json_num("camera_lat_p50_us", isnan(r->cam_cpu) ? nan_ : r->cam_lat.p50, &first);
	json_num("camera_lat_p99_us", isnan(r->cam_cpu) ? nan_ : r->cam_lat.p99, &first);
	json_num("camera_block_fps", isnan(r->cam_cpu) ? nan_ : r->cam_fps[0], &first);
	json_num("camera_latest_fps", isnan(r->cam_cpu) ? nan_ : r->cam_fps[1], &first);
	for (size_t c = 0; c < ZC_CASES; c++)
		for (int md = 0; md < ZC_MODES; md++)
			for (int n = 0; n < 2; n++) {
				char k[64];
				const double *v = r->zc_ns[c][md][n];
				snprintf(k, sizeof k, "zc_%s_%s_%dc_ns", zc_cases[c].key, zc_modes[md], n);
				json_num(k, v[0], &first);
				snprintf(k, sizeof k, "copy_%s_%s_%dc_ns", zc_cases[c].key, zc_modes[md], n);
				json_num(k, v[1], &first);
				snprintf(k, sizeof k, "zc_%s_%s_%dc_ratio", zc_cases[c].key, zc_modes[md], n);
				json_num(k, v[0] / v[1], &first);
				if (md == 0) {
					snprintf(k, sizeof k, "wake_%s_%s_%dc_ns", zc_cases[c].key,
						 zc_modes[md], n);
					json_num(k, v[ZC_WAKE], &first);
				}
			}
	json_num("zc_lost", isnan(r->zc_ns[0][0][0][0]) ? nan_ : (double)r->zc_lost, &first);
	json_num("mem_fixed_bytes", r->mem_fixed, &first);
	json_num("mem_fixed_shared_bytes", r->mem_shared, &first);
	json_num("mem_per_slot_bytes", r->mem_slot, &first);
	json_num("mem_per_consumer_bytes", r->mem_consumer, &first);
	printf(",\"targets\":{");
	f2 = 1;
	json_bool("sleep_p50_le_futex_plus_2us", t->sleep_p50, &f2);
	json_bool("sleep_p99_le_1_2x_futex", t->sleep_p99, &f2);
	json_bool("spin_p50_le_1us", t->spin_p50, &f2);
	json_bool("small_fps_ge_3M", t->small_fps, &f2);
	json_bool("copyin_ge_0_9x_memcpy", t->copyin, &f2);
	json_bool("loan_4k_le_1_2x_64b", t->loan, &f2);
	json_bool("tp_1080p_le_1ms", t->tp_1ms, &f2);
	json_bool("tp_1080p_le_0_5x_memcpy", t->tp_memcpy, &f2);
	json_bool("camera_cpu_lt_5pct", t->cam_5pct, &f2);
	json_bool("camera_cpu_lt_third_ffmpeg", t->cam_third_ffmpeg, &f2);
	json_bool("camera_p50_lt_1ms", t->cam_p50_1ms, &f2);
	for (int md = 0; md < ZC_MODES; md++)
		for (int n = 0; n < 2; n++) {
			char k[64];
			snprintf(k, sizeof k, "zc_720p_%s_%dc_le_0_2x_copy", zc_modes[md], n);
			json_bool(k, t->zc_fifth[md][n], &f2);
		}
	json_bool("mem_5_slots_2_consumers_lt_64k", t->mem_64k, &f2);
	printf("}}\n");
	fflush(stdout);
}

/* ---- main ----------------------------------------------------------------------- */

static void watchdog_fire(int sig)
{
	(void)sig;
	static const char msg[] = "rkv-bench: watchdog: the run hung, giving up\n";
	if (write(2, msg, sizeof msg - 1) < 0) {
	}
	_exit(1);
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: rkv-bench [--json] [--quick] [--samples N] [--only SECTION] [--camera PATH]\n"
		"  --json        also print one JSON object on the last line\n"
		"  --quick       fewer samples and shorter runs (a smoke test)\n"
		"  --samples N   latency samples per mode (default 20000, quick 2000)\n"
		"  --only S      run one section: latency, throughput, copyin, loan, fanout,\n"
		"                testpattern, camera, zerocopy\n"
		"  --camera PATH the rkv-camera program (default: ../src/rkv-camera beside\n"
		"                this program, as in the build tree)\n");
}

static int wants(const struct config *cfg, const char *section)
{
	return !cfg->only || strcmp(cfg->only, section) == 0;
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.samples = 20000,
		.warmup = 200,
		.pace_ns = 250000,
		.chunk = 500,
		.run_s = 1.5,
		.copy_iters = 350,
		.loan_iters = 700000,
		.tp_iters = 7000,
		.rounds = 7,
		.cam_s = 10,
		.zc_paced_frames = 30,
		.zc_frames = 500,
	};
	long samples = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			cfg.json = 1;
		} else if (!strcmp(a, "--quick")) {
			cfg.quick = 1;
		} else if (!strcmp(a, "--samples") && i + 1 < argc) {
			char *end;
			samples = strtol(argv[++i], &end, 10);
			if (*end || samples < 100 || samples > 10000000) {
				fprintf(stderr, "rkv-bench: --samples wants 100..10000000\n");
				return 2;
			}
		} else if (!strcmp(a, "--only") && i + 1 < argc) {
			cfg.only = argv[++i];
		} else if (!strcmp(a, "--camera") && i + 1 < argc) {
			cfg.camera = argv[++i];
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	static const char *const sections[] = { "latency", "throughput", "copyin", "loan", "fanout",
						"testpattern", "camera", "zerocopy", "memory" };
	if (cfg.only) {
		int ok = 0;
		for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
			ok |= !strcmp(cfg.only, sections[i]);
		if (!ok) {
			fprintf(stderr, "rkv-bench: unknown section '%s'\n", cfg.only);
			usage(stderr);
			return 2;
		}
	}
	if (cfg.quick) {
		cfg.samples = 2000;
		cfg.warmup = 100;
		cfg.run_s = 0.3;
		cfg.copy_iters = 50;
		cfg.loan_iters = 70000;
		cfg.tp_iters = 700;
		cfg.rounds = 5;
		cfg.cam_s = 2;
		cfg.zc_paced_frames = 6;
		cfg.zc_frames = 50;
	}
	if (samples > 0)
		cfg.samples = (uint32_t)samples;

	/* A hung consumer or producer must not hang `make bench` forever. */
	signal(SIGALRM, watchdog_fire);
	alarm(cfg.quick ? 120 : 900);
	/* The producer's pacing sleeps should be as long as asked, not rounded up
	 * by the default 50 us timer slack. */
	prctl(PR_SET_TIMERSLACK, 1UL);

	struct results res = { .small_fps = NAN, .memcpy_fps = NAN, .copyin_fps = NAN,
			       .memcpy2_fps = NAN, .copyin0_fps = NAN,
			       .loan_64b_ns = NAN, .loan_4k_ns = NAN, .cam_cpu = NAN, .ff_cpu = NAN,
			       .mem_fixed = NAN, .mem_slot = NAN, .mem_consumer = NAN,
			       .mem_shared = NAN };
	for (size_t i = 0; i <= MAX_FANOUT; i++)
		res.fanout_fps[i] = res.fanout_total[i] = NAN;
	for (size_t i = 0; i < 2; i++)
		res.tp_ns[i] = res.tp_memcpy_ns[i] = res.tp_verify_ns[i] = NAN;
	for (size_t c = 0; c < ZC_CASES; c++)
		for (int md = 0; md < ZC_MODES; md++)
			for (int n = 0; n < 2; n++)
				for (int k = 0; k < ZC_PATHS; k++)
					res.zc_ns[c][md][n][k] = NAN;
	struct machine m;
	machine_info(&m);

	/* first: it counts a process's first pool (bench_memory) */
	if (wants(&cfg, "memory"))
		bench_memory(&cfg, &res);
	if (wants(&cfg, "latency"))
		bench_latency(&cfg, &res);
	if (wants(&cfg, "throughput"))
		bench_throughput(&cfg, &res);
	if (wants(&cfg, "copyin"))
		bench_copyin(&cfg, &res);
	if (wants(&cfg, "loan"))
		bench_loan(&cfg, &res);
	if (wants(&cfg, "fanout"))
		bench_fanout(&cfg, &res);
	if (wants(&cfg, "testpattern"))
		bench_testpattern(&cfg, &res);
	if (wants(&cfg, "camera"))
		bench_camera(&cfg, &res);
	if (wants(&cfg, "zerocopy"))
		bench_zerocopy(&cfg, &res);

	struct targets t = judge(&res);
	print_table(&cfg, &m, &res, &t);
	if (cfg.json)
		print_json(&cfg, &m, &res, &t);
	return 0;
}
