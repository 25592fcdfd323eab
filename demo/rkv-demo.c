/* SPDX-License-Identifier: MIT */
/*
 * rkv-demo - a camera and its consumers, and once a second what each of them
 * sees.
 *
 * The camera is the real rkv-camera program, started as a child process: the
 * built-in test pattern by default (640x480 NV12 at 30 fps), or any source
 * it takes (--source v4l2:/dev/video0). Each consumer is another child
 * process that attaches to the camera's pool by name with its own policy,
 * checks every byte of every test-pattern frame with
 * rkv_testpattern_verify() (so a torn or overwritten frame is counted as
 * bad), optionally "works" on it for a while, and releases it. Consumers
 * report to the parent through an anonymous shared mapping made before
 * fork: counters and a ring of latency samples (capture time to acquire).
 *
 * Ctrl-C (SIGINT) or SIGTERM ends it, and so does --seconds: the parent
 * stops the consumers, then the camera, waits for every child, and exits 0.
 * Pools live in memfds and abstract sockets, so nothing is left in
 * /dev/shm; the camera dies with the demo even if the demo is killed.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <rkv/source.h>

#define MAX_CONSUMERS 8
#define LAT_RING      16384 /* latency samples kept per consumer */

/* ---- options ------------------------------------------------------------- */

struct opts {
	uint32_t fps, width, height, slots;
	double seconds;     /* 0 = until a signal */
	const char *pool;   /* the camera's name, and its pool's */
	const char *source; /* NULL: the test pattern */
	const char *format; /* NULL: NV12 for the test pattern, else the source's */
	const char *camera; /* the rkv-camera program; NULL: looked for */
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
		"Starts rkv-camera (the built-in moving test pattern unless --source says\n"
		"otherwise) and consumer processes, each with its own policy, attached to\n"
		"the camera's pool. Every consumer checks every byte of every test-pattern\n"
		"frame. Once a second the demo prints the camera's publishing rate and, per\n"
		"consumer: policy, frames per second, frames missed (dropped, and for\n"
		"'latest' replaced), lag (frames published after the newest one it took),\n"
		"latency from capture to acquire (p50 and max over that second) and frames\n"
		"that failed the check. Ctrl-C or SIGTERM ends it cleanly.\n"
		"\n"
		"options:\n"
		"  --source URI        the camera's source: testpattern (default),\n"
		"                      v4l2:/dev/videoN for a real camera\n"
		"  --size WxH          frame size (default 640x480; a real camera: its own\n"
		"                      unless given)\n"
		"  --format FOURCC     NV12 (the test pattern's default), YUYV, ...\n"
		"  --fps N             frames per second (default 30)\n"
		"  --slots N           slots in the pool (default: 8, or what the consumers need)\n"
		"  --pool NAME         the camera's and its pool's name (default rkv-demo)\n"
		"  --seconds N         stop after N seconds (default: run until Ctrl-C)\n"
		"  --consumers LIST    comma-separated policies, one consumer each, from\n"
		"                      block, drop, latest, group (default block,latest)\n"
		"  --work LIST         comma-separated milliseconds each consumer spends\n"
		"                      on a frame while holding it (default 0,50: the\n"
		"                      'latest' consumer is a slow algorithm)\n"
		"  --camera PATH       the rkv-camera program (default: beside rkv-demo in\n"
		"                      the build tree or the install, else in $PATH)\n"
		"  --quiet             no per-second lines, only the start and the summary\n"
		"  -h, --help          this text\n"
		"\n"
		"Exit status: 0 when it ran and ended cleanly with no bad frame, 1 otherwise,\n"
		"2 for bad usage.\n");
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

static int parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	char extra;
	if (sscanf(s, "%ux%u%c", w, h, &extra) != 2 || *w < 16 || *h < 16 || *w > 16384 ||
	    *h > 16384)
		return -EINVAL;
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

static int is_testpattern(const struct opts *o)
{
	return !o->source || strncmp(o->source, "testpattern", 11) == 0;
}

/* Slots the consumers and the camera's one loan may pin at once (pool.h's
 * budget), at the library's default queue depth of 2. */
static uint32_t slots_needed(const struct opts *o)
{
	uint32_t need = 1, group = 0;
	for (int i = 0; i < o->nconsumers; i++) {
		switch (o->policy[i]) {
		case RKV_POLICY_LATEST:
			need += 2;
			break;
		case RKV_POLICY_GROUP:
			need += 1;
			group = 2;
			break;
		default:
			need += 3;
		}
	}
	return need + group;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	int nwork = -1, sized = 0;

	*o = (struct opts){
		.fps = 30, .width = 640, .height = 480,
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
			r = parse_u32(v, 1, 1000, &o->fps);
		} else if (!strcmp(a, "--size")) {
			r = parse_size(v, &o->width, &o->height);
			sized = 1;
		} else if (!strcmp(a, "--width")) {
			r = parse_u32(v, 16, 16384, &o->width);
			sized = 1;
		} else if (!strcmp(a, "--height")) {
			r = parse_u32(v, 16, 16384, &o->height);
			sized = 1;
		} else if (!strcmp(a, "--format")) {
			o->format = v;
		} else if (!strcmp(a, "--source")) {
			o->source = v;
		} else if (!strcmp(a, "--camera")) {
			o->camera = v;
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
	/* A real camera keeps its own size unless one is asked for. */
	if (!is_testpattern(o) && !sized)
		o->width = o->height = 0;
	if (!o->slots)
		o->slots = slots_needed(o) > 8 ? slots_needed(o) : 8;
}

/* ---- time ---------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	nanosleep(&ts, NULL); /* a signal cuts it short: the caller looks why */
}

/* ---- what consumers share with the parent -------------------------------- */

enum { C_STARTING, C_RUNNING, C_DONE, C_FAILED };

struct report {
	_Atomic int state;
	_Atomic int error;          /* -errno of a failed attach or acquire */
	_Atomic uint64_t frames;    /* frames acquired */
	_Atomic uint64_t checked;   /* test-pattern frames verified whole */
	_Atomic uint64_t bad;       /* frames that failed the check (or -EPROTO) */
	_Atomic uint64_t dropped;   /* rkv_consumer_stats.dropped */
	_Atomic uint64_t replaced;  /* rkv_consumer_stats.replaced */
	_Atomic uint64_t lag;       /* rkv_consumer_stats.lag */
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
		atomic_store(&r->lag, st.lag);
	}
}

static void fail(struct report *r, int err, const char *what, const char *detail)
{
	snprintf(r->why, sizeof r->why, "%s: %s%s%s", what, strerror(-err),
		 detail && *detail ? " - " : "", detail ? detail : "");
	atomic_store(&r->error, err);
	atomic_store(&r->state, C_FAILED);
}

static void work(uint32_t ms)
{
	if (ms)
		sleep_ns((int64_t)ms * 1000000);
}

static int consumer_main(const struct opts *o, int idx, struct shared *sh, int go_fd)
{
	struct report *r = &sh->r[idx];
	char label[RKV_LABEL_MAX], errbuf[128] = "";
	rkv_consumer *c = NULL;
	int err = 0, verify = is_testpattern(o);

	/* Wait for the parent to see the camera's pool (it closes the pipe). */
	char b;
	while (read(go_fd, &b, 1) < 0 && errno == EINTR && !stop_signal) {
	}
	close(go_fd);
	if (atomic_load(&sh->go) != 1 || stop_signal) {
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
			err = 0; /* the camera is gone: the demo is over */
			break;
		} else if (err < 0) {
			break;
		} else {
			uint64_t n = atomic_load(&r->lat_count);
			atomic_store(&r->lat[n % LAT_RING], t - v.frame.timestamp_ns);
			atomic_store(&r->lat_count, n + 1);
			work(o->work_ms[idx]);
			/* Checked right before release: the frame must not have
			 * changed while this consumer held it. */
			if (verify) {
				if (rkv_testpattern_verify(&v.frame, v.data) == 0)
					atomic_fetch_add(&r->checked, 1);
				else
					atomic_fetch_add(&r->bad, 1);
			}
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
	return err < 0;
}

/* ---- the camera ---------------------------------------------------------- */

/* Is @path a program we may run? */
static int runnable(const char *path)
{
	return access(path, X_OK) == 0;
}

/*
 * The rkv-camera program: --camera, else beside this program in the build
 * tree (build/demo/rkv-demo -> build/src/rkv-camera) or the install (the same
 * directory), else the first in $PATH. 0 and @out, or -ENOENT.
 */
static int find_camera(const struct opts *o, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n;

	if (o->camera) {
		snprintf(out, len, "%s", o->camera);
		return runnable(out) ? 0 : -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			static const char *const beside[] = { "%s/../src/rkv-camera", "%s/rkv-camera" };
			for (size_t i = 0; i < 2; i++)
				if ((size_t)snprintf(out, len, beside[i], self) < len && runnable(out))
					return 0;
		}
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		size_t k = strcspn(path, ":");
		if (k > 0 && (size_t)snprintf(out, len, "%.*s/rkv-camera", (int)k, path) < len &&
		    runnable(out))
			return 0;
		path += k + (path[k] == ':');
	}
	return -ENOENT;
}

/* Start @camera for @o; it dies with us. Returns its pid, or -1. */
static pid_t start_camera(const struct opts *o, const char *camera)
{
	char size[32], fps[16], slots[16];
	const char *argv[20];
	int n = 0;

	argv[n++] = camera;
	argv[n++] = "--name";
	argv[n++] = o->pool;
	argv[n++] = "--source";
	argv[n++] = o->source ? o->source : "testpattern";
	if (o->width && o->height) {
		snprintf(size, sizeof size, "%ux%u", o->width, o->height);
		argv[n++] = "--size";
		argv[n++] = size;
	}
	if (o->format || is_testpattern(o)) {
		argv[n++] = "--format";
		argv[n++] = o->format ? o->format : "NV12";
	}
	snprintf(fps, sizeof fps, "%u", o->fps);
	argv[n++] = "--fps";
	argv[n++] = fps;
	snprintf(slots, sizeof slots, "%u", o->slots);
	argv[n++] = "--slots";
	argv[n++] = slots;
	argv[n++] = "--quiet";
	argv[n] = NULL;

	fflush(stdout);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* Do not outlive the demo, even if it is SIGKILLed. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(1);
		execv(camera, (char *const *)argv);
		fprintf(stderr, "rkv-demo: cannot run %s: %s\n", camera, strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		perror("rkv-demo: fork");
	return pid;
}

/*
 * Wait until the camera's pool answers an observer, the camera exits, a
 * signal arrives or 10 s pass. 0 when the pool is there.
 */
static int wait_pool(const struct opts *o, pid_t cam, int *cam_status)
{
	int64_t deadline = now_ns() + 10000000000LL;

	while (!stop_signal) {
		struct rkv_pool_stats ps;
		if (rkv_pool_stats(o->pool, &ps, sizeof ps, NULL, 0, 0) >= 0 &&
		    ps.producer_pid == cam)
			return 0;
		if (waitpid(cam, cam_status, WNOHANG) == cam) {
			fprintf(stderr, "rkv-demo: rkv-camera ended before its pool '%s' was there "
					"(exit status %d)\n",
				o->pool, WIFEXITED(*cam_status) ? WEXITSTATUS(*cam_status) : -1);
			return -1;
		}
		if (now_ns() > deadline) {
			fprintf(stderr, "rkv-demo: rkv-camera's pool '%s' did not appear within 10 s\n",
				o->pool);
			return -1;
		}
		sleep_ns(10000000);
	}
	return -1;
}

/* ---- the parent: reports ------------------------------------------------- */

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
	char lat[64], check[48];
	if (k)
		snprintf(lat, sizeof lat, "p50 %7.3f ms  max %7.3f ms",
			 (double)scratch[k / 2] / 1e6, (double)scratch[k - 1] / 1e6);
	else
		snprintf(lat, sizeof lat, "%-29s", "(no frames)");
	if (is_testpattern(o))
		snprintf(check, sizeof check, "pattern ok %" PRIu64 " bad %" PRIu64,
			 atomic_load(&r->checked), atomic_load(&r->bad));
	else
		snprintf(check, sizeof check, "bad %" PRIu64, atomic_load(&r->bad));
	int state = atomic_load(&r->state);
	printf("[%6.1fs] consumer %d %-6s %5.1f fps  dropped %3" PRIu64 " replaced %3" PRIu64
	       "  lag %3" PRIu64 "  latency %s  %s%s\n",
	       elapsed, i + 1, rkv_policy_name(o->policy[i]),
	       dt > 0 ? (double)(frames - s->frames) / dt : 0.0, dropped - s->dropped,
	       replaced - s->replaced, atomic_load(&r->lag), lat, check,
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

/* Wait for @pid (unless @have_status: reaped already, *@status says how it
 * ended); 0 if it exited with 0, else 1. */
static int reap(pid_t pid, int *status, int have_status)
{
	int ws = *status;
	if (!have_status)
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
		}
	*status = ws;
	return !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

int main(int argc, char **argv)
{
	struct opts o;
	char camera[PATH_MAX];
	parse_opts(argc, argv, &o);
	setvbuf(stdout, NULL, _IOLBF, 0);
	install_handlers();

	if (find_camera(&o, camera, sizeof camera) < 0) {
		fprintf(stderr, "rkv-demo: rkv-camera not found%s%s (build it with make, or name it "
				"with --camera PATH)\n",
			o.camera ? " at " : "", o.camera ? o.camera : "");
		return 1;
	}
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("rkv-demo: mmap");
		return 1;
	}
	int go[2];
	/* Close-on-exec: the camera must not hold the write end open. */
	if (pipe2(go, O_CLOEXEC) < 0) {
		perror("rkv-demo: pipe");
		return 1;
	}

	/* Consumers are forked first, so they inherit nothing but the shared
	 * report area; they attach by name like any other process would. */
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

	int status = 0, cam_status = 0, cam_reaped = 0;
	pid_t cam = start_camera(&o, camera);
	if (cam < 0 || wait_pool(&o, cam, &cam_status) < 0) {
		cam_reaped = cam > 0 && waitpid(cam, &cam_status, WNOHANG) == cam;
		status = !stop_signal;
		atomic_store(&sh->go, -1);
	} else {
		atomic_store(&sh->go, 1);
	}
	close(go[1]); /* the children's read() returns: go */

	int64_t *scratch = malloc(sizeof(int64_t) * LAT_RING);
	if (!scratch && !status) {
		fprintf(stderr, "rkv-demo: out of memory\n");
		status = 1;
	}

	if (!status && !stop_signal) {
		printf("rkv-demo: camera '%s' (%s, pid %d), %d consumers (Ctrl-C to stop)\n", o.pool,
		       camera, (int)cam, o.nconsumers);
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
			sleep_ns(5000000);
		}
	}

	struct seen seen[MAX_CONSUMERS] = { { 0 } };
	uint64_t published = 0, last_published;
	{
		struct rkv_pool_stats ps = { 0 };
		rkv_pool_stats(o.pool, &ps, sizeof ps, NULL, 0, 0);
		published = ps.published;
	}
	last_published = published;
	int64_t start = now_ns(), next_report = start + 1000000000LL, last_report = start;
	int64_t end = o.seconds > 0 ? start + (int64_t)(o.seconds * 1e9) : INT64_MAX;

	while (!status && !stop_signal) {
		int64_t t = now_ns();
		if (t >= end)
			break;
		if (waitpid(cam, &cam_status, WNOHANG) == cam) {
			cam_reaped = 1;
			if (stop_signal)
				break; /* a Ctrl-C reached it first */
			fprintf(stderr, "rkv-demo: rkv-camera ended (exit status %d)\n",
				WIFEXITED(cam_status) ? WEXITSTATUS(cam_status) : -1);
			status = 1;
			break;
		}
		if (t >= next_report) {
			double dt = (double)(t - last_report) / 1e9, el = (double)(t - start) / 1e9;
			struct rkv_pool_stats ps = { 0 };
			if (rkv_pool_stats(o.pool, &ps, sizeof ps, NULL, 0, 0) >= 0)
				published = ps.published;
			if (!o.quiet) {
				printf("[%6.1fs] camera   %-14s %5.1f fps  published %" PRIu64
				       "  slots free %u/%u  consumers %u\n",
				       el, o.pool, (double)(published - last_published) / dt,
				       published, ps.slots_free, ps.slot_count, ps.consumers);
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
		int64_t wake = next_report < end ? next_report : end;
		int64_t left = wake - now_ns();
		sleep_ns(left > 100000000 ? 100000000 : left > 0 ? left : 0);
	}

	/* Forward the stop to the children (a Ctrl-C already reached them, a
	 * SIGTERM to the parent alone did not): the consumers first, so they
	 * see the end of their run and not the camera's, then the camera. */
	if (atomic_load(&sh->go) == 1) {
		struct rkv_pool_stats ps;
		if (rkv_pool_stats(o.pool, &ps, sizeof ps, NULL, 0, 0) >= 0)
			published = ps.published;
	}
	stop_children(pid, o.nconsumers, SIGTERM);
	for (int i = 0; i < o.nconsumers; i++) {
		int ws = 0;
		status |= reap(pid[i], &ws, 0);
	}
	if (cam > 0) {
		if (!cam_reaped)
			kill(cam, SIGTERM);
		status |= reap(cam, &cam_status, cam_reaped);
	}

	if (atomic_load(&sh->go) == 1) {
		printf("rkv-demo: %s after %.1f s; the camera published %" PRIu64 " frames\n",
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
		if (atomic_load(&sh->go) != 1)
			continue;
		uint64_t bad = atomic_load(&r->bad);
		printf("  consumer %d %-6s received %" PRIu64 ", dropped %" PRIu64 ", replaced %" PRIu64
		       ", pattern ok %" PRIu64 ", bad %" PRIu64 "\n",
		       i + 1, rkv_policy_name(o.policy[i]), atomic_load(&r->frames),
		       atomic_load(&r->dropped), atomic_load(&r->replaced), atomic_load(&r->checked), bad);
		if (bad)
			status = 1;
	}
	free(scratch);
	munmap(sh, sizeof *sh);
	return status;
}
