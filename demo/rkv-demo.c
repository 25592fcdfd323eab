/* SPDX-License-Identifier: MIT */
/*
 * rkv-demo - one producer, a moving test pattern, consumer processes with
 * different policies, and once a second what each of them sees.
 *
 * The parent process is the camera: it publishes an NV12 test pattern at a
 * fixed rate into a pool. Each consumer is a child process that attaches
 * with its own policy, checks every byte of every frame it receives against
 * the pattern the frame's sequence number implies (so a torn or overwritten
 * frame is counted as bad), optionally "works" on it for a while, and
 * releases it. Consumers report to the parent through an anonymous shared
 * mapping made before fork: counters and a ring of latency samples.
 *
 * Ctrl-C (SIGINT) or SIGTERM ends it: the parent forwards the signal to the
 * children, waits for them, destroys the pool and exits 0. The pool lives in
 * memfds and an abstract socket, so nothing is left in /dev/shm.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#define MAX_CONSUMERS 8
#define LAT_RING      16384 /* latency samples kept per consumer */
#define STAMP_BYTES   8     /* every Y row starts with the frame's seq */
#define BOX           64    /* side of the moving box, pixels */

/* ---- options ------------------------------------------------------------- */

struct opts {
	double fps;
	uint32_t width, height, slots;
	double seconds; /* 0 = until a signal */
	const char *pool;
	int nconsumers;
	uint32_t policy[MAX_CONSUMERS];
	uint32_t work_ms[MAX_CONSUMERS];
	int quiet;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: rkv-demo [options]\n"
		"\n"
		"One producer publishes a moving NV12 test pattern into a shared-memory\n"
		"pool; each consumer is a separate process with its own policy. Every\n"
		"consumer checks every byte of every frame it gets (the pattern follows\n"
		"from the frame's sequence number). Once a second the demo prints, per\n"
		"consumer: policy, frames per second, frames missed (dropped, and for\n"
		"'latest' replaced), latency from publish to acquire (p50 and max over\n"
		"that second) and bad frames. Ctrl-C or SIGTERM ends it cleanly.\n"
		"\n"
		"options:\n"
		"  --fps N             frames per second to publish (default 30)\n"
		"  --width N           frame width in pixels, even, >= 64 (default 640)\n"
		"  --height N          frame height in pixels, even, >= 64 (default 480)\n"
		"  --slots N           slots in the pool (default 8)\n"
		"  --pool NAME         pool name (default rkv-demo)\n"
		"  --seconds N         stop after N seconds (default: run until Ctrl-C)\n"
		"  --consumers LIST    comma-separated policies, one consumer each, from\n"
		"                      block, drop, latest, group (default block,latest)\n"
		"  --work LIST         comma-separated milliseconds each consumer spends\n"
		"                      on a frame while holding it (default 0,50: the\n"
		"                      'latest' consumer is a slow algorithm)\n"
		"  --quiet             no per-second lines, only the start and the summary\n"
		"  -h, --help          this text\n"
		"\n"
		"Exit status: 0 when it ran and ended cleanly with no bad frame, 1 otherwise.\n");
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Split @s at commas into at most MAX_CONSUMERS items; calls @fn on each. */
static int parse_list(const char *s, int (*fn)(const char *item, int i, struct opts *o),
		      struct opts *o)
{
	char buf[256];
	if (strlen(s) >= sizeof buf)
		return -EINVAL;
	strcpy(buf, s);
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n >= MAX_CONSUMERS || fn(t, n, o) < 0)
			return -EINVAL;
		n++;
	}
	return n > 0 ? n : -EINVAL;
}

static int policy_item(const char *item, int i, struct opts *o)
{
	int p = rkv_policy_parse(item);
	if (p < 0)
		return p;
	o->policy[i] = (uint32_t)p;
	return 0;
}

static int work_item(const char *item, int i, struct opts *o)
{
	return parse_u32(item, 0, 10000, &o->work_ms[i]);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int nwork = -1;

	*o = (struct opts){
		.fps = 30, .width = 640, .height = 480, .slots = 8,
		.pool = "rkv-demo", .nconsumers = 2,
		.policy = { RKV_POLICY_BLOCK, RKV_POLICY_LATEST },
		.work_ms = { 0, 50 },
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r = 0, takes = 1;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
			takes = 0;
		} else if (!v) {
			r = -EINVAL;
		} else if (!strcmp(a, "--fps")) {
			r = parse_double(v, 0.1, 100000, &o->fps);
		} else if (!strcmp(a, "--width")) {
			r = parse_u32(v, BOX, 16384, &o->width);
			if (!r && (o->width & 1))
				r = -EINVAL;
		} else if (!strcmp(a, "--height")) {
			r = parse_u32(v, BOX, 16384, &o->height);
			if (!r && (o->height & 1))
				r = -EINVAL;
		} else if (!strcmp(a, "--slots")) {
			r = parse_u32(v, 1, RKV_MAX_SLOTS, &o->slots);
		} else if (!strcmp(a, "--pool")) {
			o->pool = v;
		} else if (!strcmp(a, "--seconds")) {
			r = parse_double(v, 0, 1e7, &o->seconds);
		} else if (!strcmp(a, "--consumers")) {
			r = parse_list(v, policy_item, o);
			if (r > 0)
				o->nconsumers = r;
		} else if (!strcmp(a, "--work")) {
			memset(o->work_ms, 0, sizeof o->work_ms);
			r = parse_list(v, work_item, o);
			if (r > 0)
				nwork = r;
		} else {
			r = -EINVAL;
		}
		if (r < 0) {
			fprintf(stderr, "rkv-demo: bad option or value: %s%s%s\n", a,
				takes && v ? " " : "", takes && v ? v : "");
			usage(stderr);
			exit(2);
		}
		i += takes;
	}
	if (nwork > o->nconsumers) {
		fprintf(stderr, "rkv-demo: --work lists %d values for %d consumers\n",
			nwork, o->nconsumers);
		exit(2);
	}
	return 0;
}

/* ---- time ---------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleep until CLOCK_MONOTONIC @t; returns early on a signal. */
static void sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* ---- the test pattern ---------------------------------------------------- */

/*
 * Y plane: vertical bars that move 4 pixels a frame, a bright box that
 * bounces around, and the first STAMP_BYTES bytes of every row hold the
 * frame's sequence number (so two frames whose bars happen to line up still
 * differ). CbCr plane: a gradient that shifts with the sequence number.
 * Everything follows from seq, width and height.
 */
static void box_pos(uint64_t seq, uint32_t w, uint32_t h, uint32_t *bx, uint32_t *by)
{
	uint64_t rx = 2ull * (w - BOX), ry = 2ull * (h - BOX);
	uint64_t x = (seq * 5) % (rx ? rx : 1), y = (seq * 3) % (ry ? ry : 1);
	*bx = (uint32_t)(x < w - BOX ? x : rx - x);
	*by = (uint32_t)(y < h - BOX ? y : ry - y);
}

static void y_row(uint8_t *row, uint64_t seq, uint32_t y, uint32_t w, uint32_t h)
{
	uint32_t bx, by;
	box_pos(seq, w, h, &bx, &by);
	for (uint32_t x = 0; x < w; x++)
		row[x] = (uint8_t)(16 + 28 * (((x + 4 * seq) / 40) % 8));
	if (y >= by && y < by + BOX)
		memset(row + bx, 235, BOX);
	for (uint32_t i = 0; i < STAMP_BYTES; i++)
		row[i] = (uint8_t)(seq >> (8 * i));
}

static void uv_row(uint8_t *row, uint64_t seq, uint32_t y, uint32_t w)
{
	for (uint32_t x = 0; x < w; x += 2) {
		row[x] = (uint8_t)(x / 2 + seq);         /* Cb */
		row[x + 1] = (uint8_t)(y + 3 * seq);     /* Cr */
	}
}

static void pattern_fill(uint8_t *data, const struct rkv_frame *f)
{
	const struct rkv_plane *yp = &f->planes[0], *cp = &f->planes[1];
	for (uint32_t y = 0; y < f->height; y++)
		y_row(data + yp->offset + (uint64_t)y * yp->stride, f->seq, y, f->width, f->height);
	for (uint32_t y = 0; y < f->height / 2; y++)
		uv_row(data + cp->offset + (uint64_t)y * cp->stride, f->seq, y, f->width);
}

/* 0 when @data holds exactly the pattern of frame @f; @row: width bytes. */
static int pattern_check(const uint8_t *data, const struct rkv_frame *f, uint8_t *row)
{
	const struct rkv_plane *yp = &f->planes[0], *cp = &f->planes[1];
	for (uint32_t y = 0; y < f->height; y++) {
		y_row(row, f->seq, y, f->width, f->height);
		if (memcmp(data + yp->offset + (uint64_t)y * yp->stride, row, f->width))
			return -1;
	}
	for (uint32_t y = 0; y < f->height / 2; y++) {
		uv_row(row, f->seq, y, f->width);
		if (memcmp(data + cp->offset + (uint64_t)y * cp->stride, row, f->width))
			return -1;
	}
	return 0;
}

/* ---- what consumers share with the parent -------------------------------- */

enum { C_STARTING, C_RUNNING, C_DONE, C_FAILED };

struct report {
	_Atomic int state;
	_Atomic int error;          /* -errno of a failed attach or acquire */
	_Atomic uint64_t frames;    /* frames acquired and checked */
	_Atomic uint64_t bad;       /* frames that failed the check (or -EPROTO) */
	_Atomic uint64_t dropped;   /* rkv_consumer_stats.dropped */
	_Atomic uint64_t replaced;  /* rkv_consumer_stats.replaced */
	_Atomic uint64_t lat_count; /* samples written to lat[] so far */
	_Atomic int64_t lat[LAT_RING];
	char why[160];              /* written before state becomes C_FAILED */
};

struct shared {
	_Atomic int go; /* 1: the pool exists, attach; -1: give up */
	struct report r[MAX_CONSUMERS];
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void install_handlers(void)
{
	/* No SA_RESTART: a signal must cut a sleep short. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void publish_stats(rkv_consumer *c, struct report *r)
{
	struct rkv_consumer_stats st;
	if (rkv_consumer_stats(c, &st, sizeof(*(&st))) == 0) {
		atomic_store(&r->dropped, st.dropped);
		atomic_store(&r->replaced, st.replaced);
	}
}

static void fail(struct report *r, int err, const char *what, const char *detail)
{
	snprintf(r->why, sizeof r->why, "%s: %s%s%s", what, strerror(-err),
		 detail && *detail ? " - " : "", detail ? detail : "");
	atomic_store(&r->error, err);
	atomic_store(&r->state, C_FAILED);
}

static int consumer_main(const struct opts *o, int idx, struct shared *sh, int go_fd)
{
	struct report *r = &sh->r[idx];
	char label[RKV_LABEL_MAX], errbuf[128] = "";
	uint8_t *row = malloc(o->width);
	rkv_consumer *c = NULL;
	int err = 0;

	/* Wait for the parent to create the pool (it closes the pipe). */
	char b;
	while (read(go_fd, &b, 1) < 0 && errno == EINTR && !stop_signal) {
	}
	close(go_fd);
	if (!row) {
		fail(r, -ENOMEM, "malloc", NULL);
		return 1;
	}
	if (atomic_load(&sh->go) != 1 || stop_signal) {
		free(row);
		atomic_store(&r->state, C_DONE);
		return 0;
	}

	snprintf(label, sizeof label, "demo-%d-%s", idx + 1, rkv_policy_name(o->policy[idx]));
	struct rkv_consumer_opts co = {
		.policy = o->policy[idx],
		.group = o->policy[idx] == RKV_POLICY_GROUP ? "demo" : NULL,
		.label = label,
		.errbuf = errbuf,
		.errbuf_len = sizeof errbuf,
	};
	err = rkv_consumer_attach(o->pool, &co, &c);
	if (err < 0) {
		fail(r, err, "attach", errbuf);
		free(row);
		return 1;
	}
	atomic_store(&r->state, C_RUNNING);

	int64_t next_stats = 0;
	while (!stop_signal) {
		struct rkv_view v;
		err = rkv_consumer_acquire(c, &v, 100 * 1000000LL);
		int64_t t = now_ns();
		if (err == -ETIMEDOUT || err == -EAGAIN || err == -EINTR) {
			err = 0; /* -EINTR: a signal, most likely the one that ends us */
		} else if (err == -EPROTO) {
			atomic_fetch_add(&r->bad, 1);
			err = 0;
		} else if (err == -EPIPE) {
			err = 0; /* the producer is gone: the demo is over */
			break;
		} else if (err < 0) {
			break;
		} else {
			uint64_t n = atomic_load(&r->lat_count);
			atomic_store(&r->lat[n % LAT_RING], t - v.frame.timestamp_ns);
			atomic_store(&r->lat_count, n + 1);
			if (o->work_ms[idx]) {
				struct timespec ts = { .tv_sec = o->work_ms[idx] / 1000,
						       .tv_nsec = (long)(o->work_ms[idx] % 1000) * 1000000 };
				nanosleep(&ts, NULL);
			}
			/* Checked right before release: the frame must not have
			 * changed while this consumer held it. */
			const struct rkv_frame *f = &v.frame;
			int bad = f->fourcc != RKV_FMT_NV12 || f->width != o->width ||
				  f->height != o->height || f->num_planes != 2 ||
				  pattern_check(v.data, f, row) != 0;
			if (bad)
				atomic_fetch_add(&r->bad, 1);
			atomic_fetch_add(&r->frames, 1);
			err = rkv_consumer_release(c, &v);
			if (err < 0)
				break;
		}
		if (t >= next_stats) {
			publish_stats(c, r);
			next_stats = t + 100 * 1000000LL;
		}
	}
	publish_stats(c, r);
	if (err < 0)
		fail(r, err, "acquire/release", NULL);
	else
		atomic_store(&r->state, C_DONE);
	rkv_consumer_detach(c);
	free(row);
	return err < 0;
}

/* ---- the parent: producer and reporter ----------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

struct seen {
	uint64_t lat_read, frames, dropped, replaced;
};

static void report_line(const struct opts *o, int i, struct report *r, struct seen *s,
			double dt, double elapsed, int64_t *scratch)
{
	uint64_t n = atomic_load(&r->lat_count);
	uint64_t from = s->lat_read;
	if (n - from > LAT_RING / 2) /* lagged far behind: keep the newest half */
		from = n - LAT_RING / 2;
	size_t k = 0;
	for (uint64_t j = from; j < n; j++)
		scratch[k++] = atomic_load(&r->lat[j % LAT_RING]);
	s->lat_read = n;
	qsort(scratch, k, sizeof *scratch, cmp_i64);

	uint64_t frames = atomic_load(&r->frames), dropped = atomic_load(&r->dropped);
	uint64_t replaced = atomic_load(&r->replaced);
	char lat[64];
	if (k)
		snprintf(lat, sizeof lat, "p50 %7.3f ms  max %7.3f ms",
			 (double)scratch[k / 2] / 1e6, (double)scratch[k - 1] / 1e6);
	else
		snprintf(lat, sizeof lat, "%-29s", "(no frames)");
	int state = atomic_load(&r->state);
	printf("[%6.1fs] consumer %d %-6s %5.1f fps  dropped %3" PRIu64 " replaced %3" PRIu64
	       "  latency %s  bad %" PRIu64 "%s\n",
	       elapsed, i + 1, rkv_policy_name(o->policy[i]), dt > 0 ? (double)(frames - s->frames) / dt : 0.0,
	       dropped - s->dropped, replaced - s->replaced, lat, atomic_load(&r->bad),
	       state == C_FAILED ? "  FAILED" : state == C_DONE ? "  (ended)" : "");
	s->frames = frames;
	s->dropped = dropped;
	s->replaced = replaced;
}

static void stop_children(const pid_t *pid, int n, int sig)
{
	for (int i = 0; i < n; i++)
		if (pid[i] > 0)
			kill(pid[i], sig);
}

int main(int argc, char **argv)
{
	struct opts o;
	parse_opts(argc, argv, &o);
	setvbuf(stdout, NULL, _IOLBF, 0);
	install_handlers();

	struct rkv_frame layout;
	int64_t need = rkv_frame_layout(&layout, RKV_FMT_NV12, o.width, o.height, 1);
	if (need < 0) {
		fprintf(stderr, "rkv-demo: rkv_frame_layout: %s\n", strerror((int)-need));
		return 1;
	}

	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("rkv-demo: mmap");
		return 1;
	}
	int go[2];
	if (pipe(go) < 0) {
		perror("rkv-demo: pipe");
		return 1;
	}

	/*
	 * Consumers are forked before the pool exists, so they inherit none of
	 * the producer's descriptors (its socket and memfds) or threads; they
	 * attach by name like any other process would.
	 */
	pid_t pid[MAX_CONSUMERS] = { 0 };
	pid_t parent = getpid();
	for (int i = 0; i < o.nconsumers; i++) {
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("rkv-demo: fork");
			atomic_store(&sh->go, -1);
			close(go[1]);
			stop_children(pid, i, SIGTERM);
			while (wait(NULL) > 0) {
			}
			return 1;
		}
		if (pid[i] == 0) {
			/* Do not outlive the parent, even if it is SIGKILLed. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(0);
			close(go[1]);
			_exit(consumer_main(&o, i, sh, go[0]));
		}
	}
	close(go[0]);

	struct rkv_pool_opts po = {
		.slot_count = o.slots,
		.slot_capacity = (uint64_t)need,
		.block_timeout_ns = 1000000000,
	};
	rkv_producer *p = NULL;
	int err = rkv_producer_create(o.pool, &po, &p);
	if (err < 0) {
		fprintf(stderr, "rkv-demo: cannot create pool '%s': %s%s\n", o.pool, strerror(-err),
			err == -EADDRINUSE ? " (another producer owns that name; try --pool)" : "");
		atomic_store(&sh->go, -1);
	} else {
		atomic_store(&sh->go, 1);
	}
	close(go[1]); /* the children's read() returns: go */

	int status = err < 0;
	int64_t *scratch = malloc(sizeof(int64_t) * LAT_RING);
	if (!scratch && !status) {
		fprintf(stderr, "rkv-demo: out of memory\n");
		status = 1;
	}

	if (!status) {
		char fcc[5];
		printf("rkv-demo: pool '%s', %u slots of %" PRId64 " bytes, %ux%u %s at %.1f fps, %d consumers (Ctrl-C to stop)\n",
		       o.pool, o.slots, need, o.width, o.height, rkv_fourcc_str(RKV_FMT_NV12, fcc),
		       o.fps, o.nconsumers);
		for (int i = 0; i < o.nconsumers; i++)
			printf("  consumer %d: pid %d, policy %s, works %u ms per frame\n", i + 1,
			       (int)pid[i], rkv_policy_name(o.policy[i]), o.work_ms[i]);

		/* Wait until the consumers attached (or gave up). */
		int64_t deadline = now_ns() + 5000000000LL;
		for (;;) {
			int running = 0, failed = 0;
			for (int i = 0; i < o.nconsumers; i++) {
				int s = atomic_load(&sh->r[i].state);
				running += s == C_RUNNING;
				failed += s == C_FAILED || s == C_DONE;
			}
			if (running == o.nconsumers || stop_signal)
				break;
			if (failed) {
				status = 1;
				break;
			}
			if (now_ns() > deadline) {
				fprintf(stderr, "rkv-demo: consumers did not attach within 5 s\n");
				status = 1;
				break;
			}
			struct timespec ts = { 0, 5000000 };
			nanosleep(&ts, NULL);
		}
	}

	struct seen seen[MAX_CONSUMERS] = { { 0 } };
	uint64_t published = 0, loan_fail = 0, last_published = 0;
	int64_t period = (int64_t)(1e9 / o.fps);
	int64_t start = now_ns(), next = start, next_report = start + 1000000000LL,
		last_report = start;
	int64_t end = o.seconds > 0 ? start + (int64_t)(o.seconds * 1e9) : INT64_MAX;

	while (!status && !stop_signal && now_ns() < end) {
		struct rkv_loan loan;
		err = rkv_producer_loan(p, &loan, 1000000000LL);
		if (err == 0) {
			struct rkv_frame f = layout;
			f.seq = published;
			pattern_fill(loan.data, &f);
			f.timestamp_ns = now_ns(); /* captured: the frame is complete */
			err = rkv_producer_publish(p, &loan, &f);
			if (err == -EINTR) {
				/* a signal while a block consumer was full: the
				 * frame went to the others; the loop checks why */
				published++;
				continue;
			}
			if (err < 0) {
				fprintf(stderr, "rkv-demo: publish: %s\n", strerror(-err));
				rkv_producer_cancel(p, &loan);
				status = 1;
				break;
			}
			published++;
		} else if (err == -ETIMEDOUT || err == -EAGAIN) {
			loan_fail++;
		} else if (err == -EINTR) {
			continue; /* a signal: the loop's condition says whether to stop */
		} else {
			fprintf(stderr, "rkv-demo: loan: %s\n", strerror(-err));
			status = 1;
			break;
		}

		int64_t t = now_ns();
		if (t >= next_report) {
			double dt = (double)(t - last_report) / 1e9, el = (double)(t - start) / 1e9;
			struct rkv_pool_stats ps = { 0 };
			rkv_producer_stats(p, &ps, sizeof(*(&ps)));
			if (!o.quiet) {
				printf("[%6.1fs] producer          %5.1f fps  published %" PRIu64
				       "  waits %" PRIu64 "  no-slot %" PRIu64 "  slots free %u/%u  consumers %u\n",
				       el, (double)(published - last_published) / dt, ps.published,
				       ps.producer_waits, loan_fail, ps.slots_free, ps.slot_count,
				       ps.consumers);
				for (int i = 0; i < o.nconsumers; i++)
					report_line(&o, i, &sh->r[i], &seen[i], dt, el, scratch);
			}
			last_published = published;
			last_report = t;
			next_report += 1000000000LL;
			if (next_report <= t)
				next_report = t + 1000000000LL;
			for (int i = 0; i < o.nconsumers; i++)
				if (atomic_load(&sh->r[i].state) == C_FAILED)
					status = 1;
		}
		next += period;
		if (next < t - period) /* fell behind (a block consumer): do not burst */
			next = t;
		sleep_until(next);
	}

	/* Forward the stop to the children (a Ctrl-C already reached them, a
	 * SIGTERM to the parent alone did not), then wait for every one. */
	stop_children(pid, o.nconsumers, SIGTERM);
	for (int i = 0; i < o.nconsumers; i++) {
		int ws;
		while (waitpid(pid[i], &ws, 0) < 0 && errno == EINTR) {
		}
		if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
			status = 1;
	}
	rkv_producer_destroy(p);

	if (p) {
		printf("rkv-demo: %s after %.1f s; published %" PRIu64 " frames\n",
		       stop_signal ? (stop_signal == SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM")
				   : status ? "ended with an error" : "done",
		       (double)(now_ns() - start) / 1e9, published);
	}
	for (int i = 0; i < o.nconsumers; i++) {
		struct report *r = &sh->r[i];
		if (atomic_load(&r->state) == C_FAILED) {
			fprintf(stderr, "rkv-demo: consumer %d (%s) failed: %s\n", i + 1,
				rkv_policy_name(o.policy[i]), r->why);
			status = 1;
			continue;
		}
		if (!p)
			continue;
		uint64_t bad = atomic_load(&r->bad);
		printf("  consumer %d %-6s received %" PRIu64 ", dropped %" PRIu64 ", replaced %" PRIu64
		       ", bad %" PRIu64 "\n",
		       i + 1, rkv_policy_name(o.policy[i]), atomic_load(&r->frames),
		       atomic_load(&r->dropped), atomic_load(&r->replaced), bad);
		if (bad)
			status = 1;
	}
	free(scratch);
	munmap(sh, sizeof *sh);
	return status;
}
