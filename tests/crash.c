/* SPDX-License-Identifier: MIT */
/*
 * crash.c - consumers and producers killed with SIGKILL at random points.
 *
 * Part 1, consumers killed: this process is the producer; a publisher thread
 * publishes small frames (every byte a function of the sequence number) all
 * the time. A consumer of one policy at a time is started (fork + exec of
 * this program, so the child never inherits a lock held by one of our
 * threads), loops acquire / hold / release with random delays and now and
 * then stalls while holding frames (the producer then waits on a block
 * consumer or a blocking group), and is killed with SIGKILL after a random
 * delay: while holding, while queued, mid-acquire, mid-release, or even
 * before it attached. After each kill every slot must come back (the
 * producer's own books: rkv__producer_free_slots() == slot_count with no
 * consumer attached and no loan out), within a bounded wait; how long that
 * took is printed. Every publish is timed: none may take longer than the
 * block timeout plus 1 s of slack (a correctness bound, not a performance
 * target).
 *
 * Part 2, producer killed: a producer child publishes one frame to five
 * consumer threads here (block, drop, latest, two group members), which then
 * wait in rkv_consumer_acquire(RKV_WAIT_FOREVER). The producer is killed:
 * every waiter must return -EPIPE (the test fails after 10 s), frames held
 * from before must still read correctly and release with 0, and the pool's
 * name must be free for a new producer at once.
 *
 * At the end /dev/shm must hold no new names and this process no new fds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#include "pool/internal.h"
#include "pattern.h"
#include "test.h"

#define CAP              4096u
#define SLOTS            16u
#define BLOCK_TIMEOUT_NS (100 * 1000000ll)
#define SLACK_NS         (1000 * 1000000ll)
#define SEC              1000000000ll

/* ---- frames (contents from pattern.h) --------------------------------------- */

static uint64_t frame_size(uint64_t seq)
{
	return 1 + mix64(seq * K_GOLD + 7) % CAP;
}

static uint64_t frame_tag(uint64_t seq)
{
	return mix64(seq + 0x1234567) ^ frame_size(seq);
}

static void make_frame(struct rkv_frame *f, uint64_t seq)
{
	memset(f, 0, sizeof *f);
	f->seq = seq;
	f->fourcc = RKV_FMT_BYTES;
	f->bytes_used = frame_size(seq);
	f->user = frame_tag(seq);
	f->flags = seq % 3 == 0 ? RKV_FRAME_KEYFRAME : 0;
}

static void check_view(const char *who, const struct rkv_view *v)
{
	const struct rkv_frame *f = &v->frame;
	struct rkv_frame e;
	make_frame(&e, f->seq);
	if (f->fourcc != e.fourcc || f->bytes_used != e.bytes_used || f->user != e.user ||
	    f->flags != e.flags || f->num_planes != 0)
		FAIL("%s: seq %" PRIu64 " descriptor: fourcc %08x/%08x bytes_used %" PRIu64 "/%" PRIu64
		     " user %016" PRIx64 "/%016" PRIx64 " flags %u/%u planes %u/0 (got/expected)", who,
		     f->seq, f->fourcc, e.fourcc, f->bytes_used, e.bytes_used, f->user, e.user,
		     f->flags, e.flags, f->num_planes);
	int64_t bad = check_frame(v->data, f->bytes_used, f->seq);
	if (bad >= 0)
		FAIL("%s: TORN seq %" PRIu64 " at byte %" PRId64 " of %" PRIu64, who, f->seq, bad,
		     f->bytes_used);
}

static const char *policy_label(uint32_t policy, uint32_t flags)
{
	switch (policy) {
	case RKV_POLICY_BLOCK: return "block";
	case RKV_POLICY_DROP: return "drop";
	case RKV_POLICY_LATEST: return "latest";
	case RKV_POLICY_GROUP: return flags & RKV_GROUP_BLOCK ? "group-block" : "group";
	}
	return "?";
}

/* ---- the consumer child (exec'd: crash consumer NAME POLICY FLAGS SEED FD) -- */

static void sleep_us(uint64_t us)
{
	if (us > 0)
		usleep((useconds_t)us);
}

static int child_consumer(char **argv)
{
	const char *name = argv[2];
	uint32_t policy = (uint32_t)strtoul(argv[3], NULL, 0);
	uint32_t flags = (uint32_t)strtoul(argv[4], NULL, 0);
	uint64_t rs = strtoull(argv[5], NULL, 0) | 1;
	int fd = atoi(argv[6]);
	const char *who = policy_label(policy, flags);
	test_watchdog(600); /* the parent kills us long before; PDEATHSIG if it dies */

	char err[256] = "";
	struct rkv_consumer_opts o = {
		.policy = policy,
		/* A group's depth is the group's: keep it fixed per group name. */
		.queue_depth = policy == RKV_POLICY_LATEST ? 0
			       : policy == RKV_POLICY_GROUP ? (flags & RKV_GROUP_BLOCK ? 4 : 2)
			       : 1 + (uint32_t)(rnd(&rs) % 4),
		.max_held = 1 + (uint32_t)(rnd(&rs) % 3),
		.flags = flags,
		.group = policy == RKV_POLICY_GROUP ? (flags & RKV_GROUP_BLOCK ? "gb" : "gd") : NULL,
		.label = who,
		.errbuf = err,
		.errbuf_len = sizeof err,
	};
	rkv_consumer *c = NULL;
	int r = rkv_consumer_attach(name, &o, &c);
	if (r != 0)
		FAIL("child %s: attach = %d (%s): %s", who, r, strerror(-r), err);
	if (write(fd, "a", 1) != 1)
		FAIL("child %s: write to parent: %s", who, strerror(errno));
	close(fd);

	struct rkv_view held[3];
	uint32_t nheld = 0;
	int64_t last = -1;
	for (;;) {
		uint64_t r100 = rnd(&rs) % 100;
		if (nheld < o.max_held && r100 < 60) {
			int64_t tmo = r100 < 40 ? RKV_WAIT_FOREVER : r100 < 50 ? 0 : 500000;
			int a = rkv_consumer_acquire(c, &held[nheld], tmo);
			if (a == -EAGAIN || a == -ETIMEDOUT)
				continue;
			if (a != 0)
				FAIL("child %s: acquire = %d (%s)", who, a, strerror(-a));
			check_view(who, &held[nheld]);
			int64_t seq = (int64_t)held[nheld].frame.seq;
			if (policy != RKV_POLICY_GROUP && seq <= last)
				FAIL("child %s: seq %" PRId64 " after %" PRId64, who, seq, last);
			last = seq;
			nheld++;
		} else if (nheld > 0 && r100 < 90) {
			uint32_t i = (uint32_t)(rnd(&rs) % nheld);
			check_view(who, &held[i]);
			int rr = rkv_consumer_release(c, &held[i]);
			if (rr != 0)
				FAIL("child %s: release = %d (%s)", who, rr, strerror(-rr));
			held[i] = held[--nheld];
		} else if (r100 < 97) {
			sleep_us(rnd(&rs) % 500);
		} else {
			/* A stall while holding: a block consumer's queue fills up and
			 * the producer waits, sometimes past the block timeout. */
			sleep_us(10000 + rnd(&rs) % 140000);
		}
	}
}

/* ---- the producer child (exec'd: crash producer NAME SEQ) ----------------- */

#define WAITERS 5

static int child_producer(char **argv)
{
	const char *name = argv[2];
	uint64_t seq = strtoull(argv[3], NULL, 0);
	test_watchdog(600);
	struct rkv_pool_opts po = {
		.slot_count = 2 * SLOTS, /* five consumers' worst case: 4 + 4 + 3 + 6, + 1 loan */
		.slot_capacity = CAP,
		.block_timeout_ns = SEC,
	};
	rkv_producer *p = NULL;
	CHECK_OK(rkv_producer_create(name, &po, &p));
	CHECK_OK(rkv_producer_wait_consumers(p, WAITERS, 60 * SEC));
	struct rkv_loan l;
	struct rkv_frame f;
	CHECK_OK(rkv_producer_loan(p, &l, SEC));
	make_frame(&f, seq);
	fill_frame(l.data, f.bytes_used, seq);
	int r = rkv_producer_publish(p, &l, &f);
	if (r != 4) /* block, drop, latest, and the group once */
		FAIL("producer child: publish = %d, expected 4 receivers", r);
	for (;;)
		pause(); /* until SIGKILL */
}

/* ---- spawning ------------------------------------------------------------- */

/*
 * How a child runs this program. Natively: exec /proc/self/exe. In a cross
 * build's test run, this program runs under an emulator (meson's exe_wrapper,
 * e.g. qemu-arm) and the kernel has no binfmt_misc entry that would let it
 * exec an ARM binary, so the children go through the same emulator: meson
 * names it in MESON_EXE_WRAPPER (words joined with spaces; quoting, which
 * the cross files never need, is refused), and the emulator's own
 * /proc/self/exe names this program's file.
 */
#define EXEC_WORDS_MAX 16
static char *exec_words[EXEC_WORDS_MAX + 1];
static int exec_nwords;
static char exec_self[4096];

static void exec_setup(void)
{
	const char *w = getenv("MESON_EXE_WRAPPER");
	if (!w || !*w) {
		exec_words[exec_nwords++] = "/proc/self/exe";
		return;
	}
	if (strpbrk(w, "'\"\\"))
		FAIL("MESON_EXE_WRAPPER has quoting this test does not parse: %s", w);
	char *copy = strdup(w);
	CHECK(copy != NULL);
	for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (exec_nwords == EXEC_WORDS_MAX - 1)
			FAIL("MESON_EXE_WRAPPER has more than %d words: %s", EXEC_WORDS_MAX - 2, w);
		exec_words[exec_nwords++] = t;
	}
	if (!strchr(exec_words[0], '/')) { /* execv does not search PATH */
		static char found[4096];
		const char *path = getenv("PATH");
		char *dirs = strdup(path ? path : "/usr/bin:/bin");
		CHECK(dirs != NULL);
		int ok = 0;
		for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !ok;
		     d = strtok_r(NULL, ":", &save)) {
			snprintf(found, sizeof found, "%s/%s", d, exec_words[0]);
			ok = access(found, X_OK) == 0;
		}
		free(dirs);
		if (!ok)
			FAIL("MESON_EXE_WRAPPER's program %s is not on PATH", exec_words[0]);
		exec_words[0] = found;
	}
	ssize_t n = readlink("/proc/self/exe", exec_self, sizeof exec_self - 1);
	if (n <= 0 || (size_t)n >= sizeof exec_self - 1)
		FAIL("readlink /proc/self/exe: %s", n < 0 ? strerror(errno) : "too long");
	exec_self[n] = '\0';
	exec_words[exec_nwords++] = exec_self;
	printf("crash: children run through %s\n", w);
}

/* fork + exec this program with @args; @keep_fd stays open in the child. */
static pid_t spawn(char *const args[], int keep_fd)
{
	/* the whole argument vector, made before the fork (no malloc after it):
	 * the emulator's words and this program's path, or /proc/self/exe;
	 * then args past args[0] */
	char *argv[EXEC_WORDS_MAX + 16];
	int n = 0;
	for (int i = 0; i < exec_nwords; i++)
		argv[n++] = exec_words[i];
	if (exec_nwords == 1)
		argv[0] = args[0]; /* natively, argv[0] stays the program's name */
	for (int i = 1; args[i]; i++) {
		CHECK(n < EXEC_WORDS_MAX + 15);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec: this process
		 * has threads, and one of them may hold a lock. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
		execv(exec_words[0], argv);
		_exit(127);
	}
	return pid;
}

static void reap(pid_t pid, const char *what, int expect_kill)
{
	int status = test_reap(pid, what);
	if (expect_kill && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return;
	if (WIFEXITED(status))
		FAIL("%s ended by itself with exit status %d (see its message above)", what,
		     WEXITSTATUS(status));
	FAIL("%s ended by signal %d", what, WTERMSIG(status));
}

/* ---- what is left behind -------------------------------------------------- */

struct names {
	char (*v)[256];
	int n;
};

static void list_dir(const char *path, struct names *out)
{
	out->v = NULL;
	out->n = 0;
	DIR *d = opendir(path);
	if (!d)
		return;
	char self[16];
	snprintf(self, sizeof self, "%d", dirfd(d)); /* when listing /proc/self/fd */
	int is_fd_dir = strcmp(path, "/proc/self/fd") == 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (is_fd_dir && strcmp(e->d_name, self) == 0)
			continue;
		out->v = realloc(out->v, (size_t)(out->n + 1) * sizeof *out->v);
		CHECK(out->v != NULL);
		snprintf(out->v[out->n++], 256, "%s", e->d_name);
	}
	closedir(d);
}

static int in_names(const struct names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

/* Names in @after that were not in @before; prints them with @what. */
static int new_names(const struct names *before, const struct names *after, const char *dir,
		     int show_target)
{
	int extra = 0;
	for (int i = 0; i < after->n; i++) {
		if (in_names(before, after->v[i]))
			continue;
		char target[256] = "";
		if (show_target) {
			char path[512];
			snprintf(path, sizeof path, "%s/%s", dir, after->v[i]);
			ssize_t k = readlink(path, target, sizeof target - 1);
			target[k > 0 ? k : 0] = 0;
		}
		fprintf(stderr, "left behind: %s/%s %s\n", dir, after->v[i], target);
		extra++;
	}
	return extra;
}

/* ---- part 1: consumers killed --------------------------------------------- */

static struct {
	rkv_producer *p;
	atomic_int pause_req, paused, stop;
	atomic_llong busy_since; /* when the current loan+publish began; 0 = idle */
	uint64_t seed;
	uint64_t published;  /* by the publisher thread; read by main while it is paused */
	int64_t max_pub_ns;
	uint64_t long_pubs;  /* publishes that waited more than 1 ms */
} pub;

static void *publisher(void *arg)
{
	(void)arg;
	uint64_t rs = mix64(pub.seed ^ 0x77) | 1;
	uint64_t seq = 0;
	while (!atomic_load(&pub.stop)) {
		if (atomic_load(&pub.pause_req)) {
			atomic_store(&pub.paused, 1);
			while (atomic_load(&pub.pause_req) && !atomic_load(&pub.stop))
				usleep(50);
			atomic_store(&pub.paused, 0);
			continue;
		}
		struct rkv_loan l;
		struct rkv_frame f;
		int64_t t0 = test_now_ns();
		atomic_store(&pub.busy_since, t0);
		int r = rkv_producer_loan(pub.p, &l, 5 * SEC);
		if (r != 0)
			FAIL("loan for seq %" PRIu64 " = %d (%s): a slot was not returned", seq, r,
			     strerror(-r));
		make_frame(&f, seq);
		fill_frame(l.data, f.bytes_used, seq);
		r = rkv_producer_publish(pub.p, &l, &f);
		int64_t dt = test_now_ns() - t0;
		atomic_store(&pub.busy_since, 0);
		if (r < 0)
			FAIL("publish seq %" PRIu64 " = %d (%s)", seq, r, strerror(-r));
		if (dt > pub.max_pub_ns)
			pub.max_pub_ns = dt;
		if (dt > 1000000)
			pub.long_pubs++;
		if (dt > BLOCK_TIMEOUT_NS + SLACK_NS)
			FAIL("loan+publish of seq %" PRIu64 " took %.1f ms, block timeout %.1f ms + %.0f ms slack",
			     seq, (double)dt / 1e6, (double)BLOCK_TIMEOUT_NS / 1e6, (double)SLACK_NS / 1e6);
		seq++;
		pub.published = seq;
		if (rnd(&rs) % 4 == 0)
			usleep(20); /* leave the CPU to the consumer now and then */
	}
	return NULL;
}

static void pause_publisher(void)
{
	atomic_store(&pub.pause_req, 1);
	int64_t until = test_now_ns() + 10 * SEC;
	while (!atomic_load(&pub.paused)) {
		if (test_now_ns() > until)
			FAIL("the publisher did not come back from loan/publish within 10 s");
		usleep(20);
	}
}

static void resume_publisher(void)
{
	atomic_store(&pub.pause_req, 0);
	while (atomic_load(&pub.paused))
		usleep(10);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void kill_consumers(uint64_t seed)
{
	char name[RKV_NAME_MAX + 1];
	test_pool_name(name, sizeof name, "crash");
	struct rkv_pool_opts po = {
		.slot_count = SLOTS,
		.slot_capacity = CAP,
		.block_timeout_ns = BLOCK_TIMEOUT_NS,
	};
	CHECK_OK(rkv_producer_create(name, &po, &pub.p));
	CHECK_EQ(rkv__producer_free_slots(pub.p), SLOTS);

	uint64_t kills = test_scaled(300);
	if (kills < 40)
		kills = 40;
	int64_t *lat = calloc(kills, sizeof *lat);
	CHECK(lat != NULL);
	uint64_t rs = mix64(seed) | 1;
	uint64_t early = 0, while_blocked = 0, per_policy[5] = { 0 };
	int64_t worst = -1, worst_pause = 0; /* the slowest return, and how long the publisher took to stop then */
	const char *worst_what = "";

	pub.seed = seed;
	pthread_t tid;
	CHECK_EQ(pthread_create(&tid, NULL, publisher, NULL), 0);

	for (uint64_t i = 0; i < kills; i++) {
		uint32_t policy = 1 + (uint32_t)(i % 4);
		uint32_t flags = 0;
		if (policy == RKV_POLICY_GROUP && (i / 4) % 2 == 0)
			flags = RKV_GROUP_BLOCK;
		int pfd[2];
		CHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
		char a_policy[16], a_flags[16], a_seed[32], a_fd[16];
		snprintf(a_policy, sizeof a_policy, "%u", policy);
		snprintf(a_flags, sizeof a_flags, "%u", flags);
		snprintf(a_seed, sizeof a_seed, "%" PRIu64, rnd(&rs));
		snprintf(a_fd, sizeof a_fd, "%d", pfd[1]);
		char *args[] = { "crash", "consumer", name, a_policy, a_flags, a_seed, a_fd, NULL };
		pid_t pid = spawn(args, pfd[1]);
		close(pfd[1]);
		per_policy[policy]++;

		uint64_t r100 = rnd(&rs) % 100;
		if (r100 < 10) {
			/* Before, during or just after attach. */
			early++;
			sleep_us(rnd(&rs) % 3000);
		} else {
			struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
			int pr;
			do
				pr = poll(&pf, 1, 60000);
			while (pr < 0 && errno == EINTR);
			char b;
			if (pr != 1 || read(pfd[0], &b, 1) != 1) {
				kill(pid, SIGKILL);
				reap(pid, "consumer child (before attaching)", pr == 0);
				FAIL("consumer child %" PRIu64 " did not attach within 60 s", i);
			}
			if (r100 < 70)
				sleep_us(rnd(&rs) % 2000);
			else if (r100 < 95)
				sleep_us(2000 + rnd(&rs) % 8000);
			else
				sleep_us(20000 + rnd(&rs) % 150000);
		}
		int64_t busy = atomic_load(&pub.busy_since);
		int64_t t_kill = test_now_ns();
		if (busy != 0 && t_kill - busy > 1000000)
			while_blocked++;
		kill(pid, SIGKILL);
		reap(pid, "consumer child", 1);
		close(pfd[0]);

		/* No consumer, no loan: every slot must be free again. */
		int64_t t_pause = test_now_ns();
		pause_publisher();
		t_pause = test_now_ns() - t_pause;
		int64_t until = test_now_ns() + 5 * SEC;
		for (;;) {
			struct rkv_pool_stats st;
			CHECK_OK(rkv_producer_stats(pub.p, &st, sizeof(*(&st))));
			int fs = rkv__producer_free_slots(pub.p);
			CHECK_OK(fs);
			if (fs == (int)SLOTS && st.consumers == 0 && st.slots_free == SLOTS)
				break;
			if (test_now_ns() > until)
				FAIL("kill %" PRIu64 " (%s): 5 s later free slots %d (stats %u), consumers %u; "
				     "expected %u and 0", i, policy_label(policy, flags), fs, st.slots_free,
				     st.consumers, SLOTS);
			usleep(50);
		}
		lat[i] = test_now_ns() - t_kill;
		if (lat[i] > worst) {
			worst = lat[i];
			worst_pause = t_pause;
			worst_what = policy_label(policy, flags);
		}
		resume_publisher();
	}
	atomic_store(&pub.stop, 1);
	CHECK_EQ(pthread_join(tid, NULL), 0);

	struct rkv_pool_stats st;
	CHECK_OK(rkv_producer_stats(pub.p, &st, sizeof(*(&st))));
	CHECK_UINT(st.published, ==, pub.published);
	CHECK_UINT(st.evictions, ==, 0);
	CHECK_UINT(st.consumers, ==, 0);
	CHECK_EQ(rkv__producer_free_slots(pub.p), SLOTS);
	rkv_producer_destroy(pub.p);
	pub.p = NULL;

	qsort(lat, kills, sizeof *lat, cmp_i64);
	printf("part 1: %" PRIu64 " consumers killed (block %" PRIu64 ", drop %" PRIu64 ", latest %" PRIu64
	       ", group %" PRIu64 "; %" PRIu64 " around attach, %" PRIu64 " while the producer waited)\n",
	       kills, per_policy[1], per_policy[2], per_policy[3], per_policy[4], early, while_blocked);
	printf("  slots back after a kill: median %.3f ms, max %.3f ms (a %s consumer; the publisher "
	       "took %.3f ms of it to stop)\n", (double)lat[kills / 2] / 1e6, (double)lat[kills - 1] / 1e6,
	       worst_what, (double)worst_pause / 1e6);
	printf("  %" PRIu64 " frames published; longest loan+publish %.3f ms (block timeout %.0f ms); "
	       "%" PRIu64 " waited > 1 ms; block timeouts %" PRIu64 ", producer waits %" PRIu64 "\n",
	       st.published, (double)pub.max_pub_ns / 1e6, (double)BLOCK_TIMEOUT_NS / 1e6, pub.long_pubs,
	       st.block_timeouts, st.producer_waits);
	fflush(stdout);
	free(lat);
}

/* ---- part 2: the producer killed ------------------------------------------ */

static const struct {
	const char *label;
	uint32_t policy;
} wspec[WAITERS] = {
	{ "block", RKV_POLICY_BLOCK },   { "drop", RKV_POLICY_DROP }, { "latest", RKV_POLICY_LATEST },
	{ "group-a", RKV_POLICY_GROUP }, { "group-b", RKV_POLICY_GROUP },
};

struct waiter {
	int idx;
	const char *name;
	rkv_consumer *c;
	struct rkv_view v;
	atomic_int held;     /* a frame is held in v */
	atomic_int calls;    /* acquire calls begun */
	atomic_int done;
	int rc;
	int64_t t_ret;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	const char *who = wspec[w->idx].label;
	char err[256] = "";
	struct rkv_consumer_opts o = {
		.policy = wspec[w->idx].policy,
		.max_held = 2,
		.group = wspec[w->idx].policy == RKV_POLICY_GROUP ? "g" : NULL,
		.label = who,
		.errbuf = err,
		.errbuf_len = sizeof err,
	};
	int64_t give_up = test_now_ns() + 60 * SEC;
	for (;;) {
		int r = rkv_consumer_attach(w->name, &o, &w->c);
		if (r == 0)
			break;
		if (r != -ENOENT || test_now_ns() > give_up)
			FAIL("%s: attach = %d (%s): %s", who, r, strerror(-r), err);
		usleep(1000);
	}
	for (;;) {
		struct rkv_view v;
		atomic_fetch_add(&w->calls, 1);
		int r = rkv_consumer_acquire(w->c, &v, RKV_WAIT_FOREVER);
		if (r == 0) {
			check_view(who, &v);
			if (atomic_load(&w->held))
				FAIL("%s: a second frame (seq %" PRIu64 ") from a producer that published one",
				     who, v.frame.seq);
			w->v = v;
			atomic_store(&w->held, 1);
			continue;
		}
		w->t_ret = test_now_ns();
		w->rc = r;
		atomic_store(&w->done, 1);
		return NULL;
	}
}

static int waiters_ready(struct waiter *w)
{
	int group_held = 0;
	for (int i = 0; i < WAITERS; i++) {
		int held = atomic_load(&w[i].held);
		if (wspec[i].policy == RKV_POLICY_GROUP)
			group_held += held;
		else if (!held)
			return 0;
		/* It has begun the acquire that follows what it received. */
		if (atomic_load(&w[i].calls) < held + 1)
			return 0;
	}
	return group_held == 1;
}

static void kill_producer(int round, int64_t *lat_max, int64_t *lats, int *nlats)
{
	char name[RKV_NAME_MAX + 1];
	test_pool_name(name, sizeof name, "crashp");
	uint64_t seq = 1000 + (uint64_t)round;
	char a_seq[32];
	snprintf(a_seq, sizeof a_seq, "%" PRIu64, seq);
	char *args[] = { "crash", "producer", name, a_seq, NULL };
	pid_t prod = spawn(args, -1);

	struct waiter w[WAITERS];
	pthread_t tid[WAITERS];
	memset(w, 0, sizeof w);
	for (int i = 0; i < WAITERS; i++) {
		w[i].idx = i;
		w[i].name = name;
		CHECK_EQ(pthread_create(&tid[i], NULL, waiter_main, &w[i]), 0);
	}
	int64_t until = test_now_ns() + 60 * SEC;
	while (!waiters_ready(w)) {
		for (int i = 0; i < WAITERS; i++)
			if (atomic_load(&w[i].done))
				FAIL("%s: acquire = %d (%s) before the producer was killed", wspec[i].label,
				     w[i].rc, strerror(-w[i].rc));
		if (test_now_ns() > until)
			FAIL("round %d: consumers did not receive the producer's frame within 60 s", round);
		usleep(100);
	}
	usleep(20000); /* let them fall asleep in acquire */

	int64_t t_kill = test_now_ns();
	kill(prod, SIGKILL);
	until = t_kill + 10 * SEC;
	for (int i = 0; i < WAITERS; i++) {
		while (!atomic_load(&w[i].done)) {
			if (test_now_ns() > until)
				FAIL("round %d: %s consumer still waiting 10 s after the producer was killed",
				     round, wspec[i].label);
			usleep(50);
		}
	}
	reap(prod, "producer child", 1);
	for (int i = 0; i < WAITERS; i++) {
		CHECK_EQ(pthread_join(tid[i], NULL), 0);
		if (w[i].rc != -EPIPE)
			FAIL("round %d: %s: acquire = %d (%s) after the producer died, expected -EPIPE", round,
			     wspec[i].label, w[i].rc, strerror(-w[i].rc));
		int64_t l = w[i].t_ret - t_kill;
		lats[(*nlats)++] = l;
		if (l > *lat_max)
			*lat_max = l;
	}

	/* Held frames outlive the producer, and its name is free at once. */
	for (int i = 0; i < WAITERS; i++)
		if (w[i].held) {
			CHECK_UINT(w[i].v.frame.seq, ==, seq);
			check_view(wspec[i].label, &w[i].v);
		}
	struct rkv_pool_opts po = { .slot_count = 4, .slot_capacity = CAP };
	rkv_producer *p2 = NULL;
	int r = rkv_producer_create(name, &po, &p2);
	if (r != 0)
		FAIL("round %d: creating pool %s again after its producer died = %d (%s)", round, name, r,
		     strerror(-r));
	rkv_producer_destroy(p2);
	for (int i = 0; i < WAITERS; i++) {
		struct rkv_view v;
		CHECK_ERR(rkv_consumer_acquire(w[i].c, &v, 0), EPIPE);
		if (w[i].held) {
			check_view(wspec[i].label, &w[i].v);
			CHECK_EQ(rkv_consumer_release(w[i].c, &w[i].v), 0);
		}
		rkv_consumer_detach(w[i].c);
	}
}

static void kill_producers(void)
{
	int rounds = (int)test_scaled(10);
	if (rounds < 3)
		rounds = 3;
	int64_t *lats = calloc((size_t)rounds * WAITERS, sizeof *lats);
	CHECK(lats != NULL);
	int nlats = 0;
	int64_t lat_max = 0;
	for (int round = 0; round < rounds; round++)
		kill_producer(round, &lat_max, lats, &nlats);
	qsort(lats, (size_t)nlats, sizeof *lats, cmp_i64);
	printf("part 2: %d producers killed with %d consumers waiting each; all got -EPIPE: "
	       "wake latency median %.3f ms, max %.3f ms\n", rounds, WAITERS,
	       (double)lats[nlats / 2] / 1e6, (double)lat_max / 1e6);
	fflush(stdout);
	free(lats);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "consumer") == 0 && argc == 7)
		return child_consumer(argv);
	if (argc > 1 && strcmp(argv[1], "producer") == 0 && argc == 4)
		return child_producer(argv);

	test_watchdog(1100);
	exec_setup();
	const char *seed_env = getenv("RKV_TEST_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)test_now_ns() ^ (uint64_t)getpid();
	printf("crash: seed %" PRIu64 "\n", seed);
	fflush(stdout);

	struct names shm_before, fd_before, shm_after, fd_after;
	list_dir("/dev/shm", &shm_before);
	list_dir("/proc/self/fd", &fd_before);

	kill_consumers(seed);
	kill_producers();

	list_dir("/dev/shm", &shm_after);
	list_dir("/proc/self/fd", &fd_after);
	int shm_extra = new_names(&shm_before, &shm_after, "/dev/shm", 0);
	int fd_extra = new_names(&fd_before, &fd_after, "/proc/self/fd", 1);
	CHECK_EQ(shm_extra, 0);
	CHECK_EQ(fd_extra, 0);
	printf("nothing left in /dev/shm, no fd leaked; ok\n");
	free(shm_before.v);
	free(shm_after.v);
	free(fd_before.v);
	free(fd_after.v);
	return 0;
}
