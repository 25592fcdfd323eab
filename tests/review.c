/* SPDX-License-Identifier: MIT */
/*
 * review.c - reproducers for pool contracts an outside review found broken.
 *
 * One program, one scenario per run: `review NAME` (tests/meson.build
 * registers each as review_NAME). Each one fails on a library that breaks
 * the contract it names and passes on one that keeps it; the header comment
 * of each says which contract, and what a broken library does.
 *
 * Only the public API is used, plus three test hooks from
 * src/pool/internal.h (rkv__consumer_chan_area, rkv__consumer_group_area,
 * rkv__producer_free_slots) and four wire offsets, named WIRE_* below, that
 * the scenarios need to play a hostile consumer. A consumer's file
 * descriptors are found generically: the fds that appeared in /proc/self/fd
 * across rkv_consumer_attach(), whatever the library uses to wake its
 * consumers. The stats calls go through the *_STATS macros below.
 *
 * Races are made likely, not left to chance: fd_drain times half its frames
 * to the consumer's calls and runs the consumer under a seccomp filter that
 * slows its system calls; hostile_steal pins the hostile consumer to one
 * CPU and the others to another. Neither changes what is asserted.
 *
 * Processes: a child is started with spawn() (parent-death signal SIGKILL,
 * its own watchdog) and talks to its parent over two pipes, one byte per
 * step. A FAIL anywhere ends that process with status 1 and its own line on
 * stderr; the parent then fails too, naming the child. No assertion is
 * about speed: time limits only turn a hang into a failure with a message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#include "pool/internal.h"
#include "pattern.h"
#include "test.h"

/* The stats calls are about to gain a size argument: every call goes
 * through these, so only they change. */
#define CONS_STATS(c, st)      rkv_consumer_stats((c), (st), sizeof(*(st)))
#define CONS_POOL_STATS(c, st) rkv_consumer_pool_stats((c), (st), sizeof(*(st)))
#define PROD_STATS(p, st)      rkv_producer_stats((p), (st), sizeof(*(st)))

/* The only wire details used (as the review allowed): */
#define WIRE_CHAN_READY_HEAD  128 /* uint64, in the chan area, written by the consumer */
#define WIRE_CHAN_WAITING     192 /* uint32 consumer_waiting, in the chan area */
#define WIRE_GROUP_RING_SIZE  12  /* uint32, in the group area */
#define WIRE_GROUP_CELLS      192 /* uint64 cells[ring_size], in the group area */

#define CAP      4096u
#define PAYLOAD  64u
#define MS       1000000ll
#define SEC      1000000000ll
#define NAMELEN  64

static pid_t g_main_pid;

/* ---- small things ----------------------------------------------------------- */

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / SEC, .tv_nsec = ns % SEC };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static const char *err_name(int r)
{
	static char buf[8][96];
	static int k;
	char *b = buf[k++ & 7];
	if (r >= 0)
		snprintf(b, sizeof buf[0], "%d (success)", r);
	else
		snprintf(b, sizeof buf[0], "%d (%s)", r, strerror(-r));
	return b;
}

/* Frame @seq: "frame-<seq>-" then one letter (A for 1, B for 2, ...) up to
 * PAYLOAD bytes, so a frame shows what it is when printed. */
static void make_payload(void *dst, uint64_t seq)
{
	char head[32];
	int n = snprintf(head, sizeof head, "frame-%" PRIu64 "-", seq);
	memcpy(dst, head, (size_t)n);
	memset((uint8_t *)dst + n, 'A' + (int)((seq - 1) % 26), PAYLOAD - (size_t)n);
}

static struct rkv_frame make_frame(uint64_t seq)
{
	struct rkv_frame f;
	memset(&f, 0, sizeof f);
	f.seq = seq;
	f.fourcc = RKV_FMT_BYTES;
	f.bytes_used = PAYLOAD;
	f.user = mix64(seq);
	return f;
}

/* Loan (waiting up to @loan_timeout), write frame @seq, publish. Returns
 * what publish returned, or the loan's error. */
static int publish_seq(rkv_producer *p, uint64_t seq, int64_t loan_timeout)
{
	struct rkv_loan l;
	int r = rkv_producer_loan(p, &l, loan_timeout);
	if (r < 0)
		return r;
	make_payload(l.data, seq);
	struct rkv_frame f = make_frame(seq);
	return rkv_producer_publish(p, &l, &f);
}

/* NULL if @v holds a whole frame whose contents match its own seq (and, if
 * @seq is not 0, that seq is @seq); else what is wrong, in @why. */
static const char *view_problem(const struct rkv_view *v, uint64_t seq, char *why, size_t len)
{
	uint8_t want[PAYLOAD];
	if (seq && v->frame.seq != seq) {
		snprintf(why, len, "got frame seq %" PRIu64 ", expected %" PRIu64, v->frame.seq, seq);
		return why;
	}
	if (v->frame.bytes_used != PAYLOAD || v->frame.user != mix64(v->frame.seq) ||
	    v->frame.fourcc != RKV_FMT_BYTES) {
		snprintf(why, len, "frame seq %" PRIu64 ": descriptor bytes_used %" PRIu64
			 " user %016" PRIx64 " is not what was published", v->frame.seq,
			 v->frame.bytes_used, v->frame.user);
		return why;
	}
	make_payload(want, v->frame.seq);
	if (memcmp(v->data, want, PAYLOAD) != 0) {
		snprintf(why, len, "frame seq %" PRIu64 " reads \"%.24s\", expected \"%.24s\"",
			 v->frame.seq, (const char *)v->data, (const char *)want);
		return why;
	}
	return NULL;
}

static void check_view(const char *who, const struct rkv_view *v, uint64_t seq)
{
	char why[200];
	if (view_problem(v, seq, why, sizeof why))
		FAIL("%s: %s", who, why);
}

/* ---- pools and consumers ------------------------------------------------------ */

static rkv_producer *mkpool(const char *name, uint32_t slots, uint32_t max_loans,
			    int64_t block_timeout_ns, uint32_t flags, int64_t gid)
{
	struct rkv_pool_opts o;
	rkv_producer *p = NULL;
	memset(&o, 0, sizeof o);
	o.slot_count = slots;
	o.slot_capacity = CAP;
	o.max_loans = max_loans;
	o.block_timeout_ns = block_timeout_ns;
	o.flags = flags;
	o.access_gid = gid;
	int r = rkv_producer_create(name, &o, &p);
	if (r < 0)
		FAIL("rkv_producer_create(%s) = %s", name, err_name(r));
	return p;
}

static struct rkv_consumer_opts copts(uint32_t policy, uint32_t depth, uint32_t held)
{
	struct rkv_consumer_opts o;
	memset(&o, 0, sizeof o);
	o.policy = policy;
	o.queue_depth = depth;
	o.max_held = held;
	return o;
}

static int attach_try(const char *name, struct rkv_consumer_opts o, rkv_consumer **c,
		      char *err, size_t errlen)
{
	err[0] = '\0';
	o.errbuf = err;
	o.errbuf_len = errlen;
	*c = NULL;
	return rkv_consumer_attach(name, &o, c);
}

static rkv_consumer *attach_ok(const char *who, const char *name, struct rkv_consumer_opts o)
{
	char err[256];
	rkv_consumer *c;
	int r = attach_try(name, o, &c, err, sizeof err);
	if (r < 0)
		FAIL("%s: rkv_consumer_attach(%s, %s) = %s: %s", who, name,
		     rkv_policy_name(o.policy), err_name(r), err);
	return c;
}

/* Attach from a process started before the pool existed: wait for it. */
static rkv_consumer *attach_wait(const char *who, const char *name, struct rkv_consumer_opts o)
{
	char err[256];
	int64_t end = test_now_ns() + 10 * SEC;
	for (;;) {
		rkv_consumer *c;
		int r = attach_try(name, o, &c, err, sizeof err);
		if (r == 0)
			return c;
		if (r != -ENOENT || test_now_ns() > end)
			FAIL("%s: rkv_consumer_attach(%s, %s) = %s: %s", who, name,
			     rkv_policy_name(o.policy), err_name(r), err);
		sleep_ns(2 * MS);
	}
}

static void wait_consumers(rkv_producer *p, uint32_t n)
{
	int r = rkv_producer_wait_consumers(p, n, 10 * SEC);
	if (r < 0)
		FAIL("waiting for %u consumers to attach: %s", n, err_name(r));
}

/* ---- child processes ---------------------------------------------------------- */

/* In the parent: cmd is where it writes, ack where it reads; in the child
 * the other way round. */
struct kid {
	pid_t pid;
	int cmd, ack;
	const char *what;
};

static struct kid spawn(const char *what)
{
	struct kid k = { .what = what };
	int c[2], a[2];
	pid_t parent = getpid();

	if (pipe2(c, O_CLOEXEC) < 0 || pipe2(a, O_CLOEXEC) < 0)
		FAIL("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	k.pid = fork();
	if (k.pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (k.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		test_watchdog(58);
		close(c[1]);
		close(a[0]);
		k.cmd = c[0];
		k.ack = a[1];
		return k;
	}
	close(c[0]);
	close(a[1]);
	k.cmd = c[1];
	k.ack = a[0];
	return k;
}

static void put(int fd, char ch)
{
	if (write(fd, &ch, 1) != 1)
		FAIL("pipe write: %s", strerror(errno));
}

/* A byte from @fd: the byte, -1 at EOF, -2 after @timeout_ms. */
static int get(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t end = test_now_ns() + (int64_t)timeout_ms * MS;
	for (;;) {
		int left = (int)((end - test_now_ns()) / MS);
		int r = poll(&pfd, 1, left > 0 ? left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			FAIL("poll: %s", strerror(errno));
		if (r == 0)
			return -2;
		unsigned char ch;
		ssize_t n = read(fd, &ch, 1);
		if (n == 1)
			return ch;
		if (n == 0)
			return -1;
		if (errno != EINTR)
			FAIL("pipe read: %s", strerror(errno));
	}
}

static void put_int(int fd, int v)
{
	if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
		FAIL("pipe write: %s", strerror(errno));
}

static int get_int(int fd, int timeout_ms)
{
	int v;
	uint8_t *b = (uint8_t *)&v;
	for (size_t i = 0; i < sizeof v; i++) {
		int ch = get(fd, timeout_ms);
		if (ch < 0)
			FAIL("pipe: %s", ch == -1 ? "closed" : "timed out");
		b[i] = (uint8_t)ch;
	}
	return v;
}

/* Wait for @pid (up to @timeout_ms, then SIGKILL and fail). */
static int reap_pid(pid_t pid, int timeout_ms, const char *what)
{
	int64_t end = test_now_ns() + (int64_t)timeout_ms * MS;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			FAIL("waitpid(%s): %s", what, strerror(errno));
		if (test_now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			FAIL("%s (pid %d) still running after %d ms", what, (int)pid, timeout_ms);
		}
		sleep_ns(2 * MS);
	}
}

static const char *status_str(int st)
{
	static char buf[64];
	if (WIFEXITED(st))
		snprintf(buf, sizeof buf, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof buf, "was killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, sizeof buf, "status %#x", st);
	return buf;
}

/* A child's end: 0 is fine, 77 means "not available here" (passed on),
 * anything else is a failure (its FAIL line is above). */
static void kid_done(struct kid *k, int timeout_ms)
{
	int st = reap_pid(k->pid, timeout_ms, k->what);
	k->pid = 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_SKIP)
		exit(TEST_SKIP);
	FAIL("%s %s (its FAIL line, if any, is above)", k->what, status_str(st));
}

/* The parent waits for the next byte from @k; a child that ended instead
 * is reaped and reported. */
static char hear(struct kid *k, int timeout_ms, const char *step)
{
	int ch = get(k->ack, timeout_ms);
	if (ch >= 0)
		return (char)ch;
	if (ch == -1) {
		kid_done(k, 5000);
		FAIL("%s ended before %s", k->what, step);
	}
	FAIL("%s: no word after %d ms (waiting for: %s)", k->what, timeout_ms, step);
}

static void tell(struct kid *k, char ch)
{
	put(k->cmd, ch);
}

/* In a child: the parent's next byte. */
static char order(struct kid *k, int timeout_ms, const char *step)
{
	int ch = get(k->cmd, timeout_ms);
	if (ch < 0)
		FAIL("%s: %s waiting for the parent (%s)", k->what, ch == -1 ? "pipe closed" : "timed out", step);
	return (char)ch;
}

static void answer(struct kid *k, char ch)
{
	put(k->ack, ch);
}

/* Another user, as root: the supplementary groups, gid, uid; dumpable again
 * (so /proc/self stays ours) and the parent-death signal again (a uid change
 * clears it). */
static void become(uid_t uid, gid_t gid, pid_t parent)
{
	gid_t groups[1] = { gid };
	if (setgroups(1, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		FAIL("cannot become uid %u gid %u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
	prctl(PR_SET_DUMPABLE, 1);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/* ---- a consumer's file descriptors, found generically ----------------------------- */

#define MAXFDS 1024
struct fdset {
	int n;
	int fd[MAXFDS];
};

static void fds_snapshot(struct fdset *s)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	if (!d)
		FAIL("opendir(/proc/self/fd): %s", strerror(errno));
	int self = dirfd(d);
	s->n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		int fd = atoi(e->d_name);
		if (fd != self && s->n < MAXFDS)
			s->fd[s->n++] = fd;
	}
	closedir(d);
}

/* The fds in @after that are not in @before. */
static int fds_new(const struct fdset *before, const struct fdset *after, int *out, int max)
{
	int n = 0;
	for (int i = 0; i < after->n; i++) {
		int old = 0;
		for (int j = 0; j < before->n && !old; j++)
			old = before->fd[j] == after->fd[i];
		if (!old && n < max)
			out[n++] = after->fd[i];
	}
	return n;
}

/* What /proc says fd @fd is: "socket:[123]", "anon_inode:[eventfd]", ... */
static const char *fd_what(int fd, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, buf, len - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

static int fd_is_socket(int fd)
{
	char what[128];
	return strncmp(fd_what(fd, what, sizeof what), "socket:", 7) == 0;
}

static int fd_is_eventfd(int fd)
{
	char what[128];
	return strstr(fd_what(fd, what, sizeof what), "eventfd") != NULL;
}

/* Attach, and note the fds the attach created. */
static rkv_consumer *attach_fds(const char *who, const char *name, struct rkv_consumer_opts o,
				int *fds, int *nfds, int wait)
{
	static struct fdset before, after;
	fds_snapshot(&before);
	rkv_consumer *c = wait ? attach_wait(who, name, o) : attach_ok(who, name, o);
	fds_snapshot(&after);
	*nfds = fds_new(&before, &after, fds, 32);
	return c;
}

static void fds_describe(const int *fds, int n, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && at < len; i++) {
		char what[128];
		at += (size_t)snprintf(buf + at, len - at, "%s%d=%s", i ? ", " : "", fds[i],
				       fd_what(fds[i], what, sizeof what));
	}
}

/* The lease: the consumer's socket whose peer is the producer (@producer's
 * pid) at the abstract address "\0rkvision/...". */
static int find_lease(const int *fds, int n, pid_t producer)
{
	int found = -1;
	for (int i = 0; i < n; i++) {
		struct ucred cr;
		socklen_t crl = sizeof cr;
		struct sockaddr_un sun;
		socklen_t sl = sizeof sun;
		if (!fd_is_socket(fds[i]))
			continue;
		if (getsockopt(fds[i], SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 || cr.pid != producer)
			continue;
		memset(&sun, 0, sizeof sun);
		if (getpeername(fds[i], (struct sockaddr *)&sun, &sl) < 0 ||
		    sl < offsetof(struct sockaddr_un, sun_path) + 10 || sun.sun_path[0] != '\0' ||
		    memcmp(sun.sun_path + 1, "rkvision/", 9) != 0)
			continue;
		if (found >= 0)
			FAIL("two sockets look like the lease: fds %d and %d", found, fds[i]);
		found = fds[i];
	}
	if (found < 0) {
		char list[1024];
		fds_describe(fds, n, list, sizeof list);
		FAIL("no lease socket among the fds the attach created: %s", list);
	}
	return found;
}

/* A thread that fails the test when @progress stops moving for @seconds. */
struct stall_dog {
	uint64_t progress; /* atomic */
	int stop;          /* atomic */
	unsigned seconds;
	const char *what;
	pthread_t t;
};

static void *stall_dog_main(void *arg)
{
	struct stall_dog *d = arg;
	uint64_t last = __atomic_load_n(&d->progress, __ATOMIC_RELAXED);
	int64_t since = test_now_ns();
	while (!__atomic_load_n(&d->stop, __ATOMIC_RELAXED)) {
		sleep_ns(50 * MS);
		uint64_t now = __atomic_load_n(&d->progress, __ATOMIC_RELAXED);
		if (now != last) {
			last = now;
			since = test_now_ns();
		} else if (test_now_ns() - since > (int64_t)d->seconds * SEC) {
			FAIL("%s: no progress for %u s, after %" PRIu64 " step(s)", d->what, d->seconds, now);
		}
	}
	return NULL;
}

static void stall_dog_start(struct stall_dog *d, unsigned seconds, const char *what)
{
	d->progress = 0;
	d->stop = 0;
	d->seconds = seconds;
	d->what = what;
	if (pthread_create(&d->t, NULL, stall_dog_main, d) != 0)
		FAIL("pthread_create");
}

static void stall_dog_stop(struct stall_dog *d)
{
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELAXED);
	pthread_join(d->t, NULL);
}

/* A note that a check failed; the scenario fails at its end with the first. */
static char first_failure[512];
static int failures;

#define NOTE(...)                                                                \
	do {                                                                     \
		char note_[512];                                                 \
		snprintf(note_, sizeof note_, __VA_ARGS__);                      \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, note_); \
		if (!failures++)                                                 \
			snprintf(first_failure, sizeof first_failure, "%s", note_); \
	} while (0)

static void fail_if_noted(const char *what)
{
	if (failures)
		FAIL("%s: %d check(s) failed, the first: %s", what, failures, first_failure);
}

/* ==== 1. fd_drain ==================================================================
 *
 * Contract (rkv_consumer_fd): the fd is readable when a frame may be ready;
 * call acquire(c, v, 0) until -EAGAIN, which re-arms it. A broken library
 * arms (consumer_waiting = 1, fence, second look) and only then drains its
 * wake-up events, so a wake-up the producer sent in between is thrown away;
 * the producer, which cleared the flag when it signalled, never signals
 * again and the frame sits queued while poll() sleeps.
 *
 * A producer thread publishes 20000 small frames; the consumer, in its own
 * thread, loops poll(fd, 2000 ms), then acquire(0) until -EAGAIN, releasing
 * each. A poll that times out while acquire(0) then finds a frame is the
 * failure. Run for drop and for latest (argv[2] picks one).
 *
 * The window is a few hundred nanoseconds wide, so two things make it
 * reproducible (neither changes what is asserted, and a correct library
 * passes whatever the timing):
 *   - pacing: half the frames follow a short irregular sleep (10..300 us);
 *     the other half are published a random 0..1 us after the consumer has
 *     entered its second acquire(0) since the last frame (the call that finds
 *     nothing and arms), which the consumer loop counts in test memory;
 *   - the consumer thread runs under a seccomp filter that allows every
 *     system call but takes ~1 us to do so (slow_syscalls), like a consumer
 *     in a sandbox.
 * (A targeted frame whose consumer call does not come within 300 us is
 * published anyway.) On the current code every run fails within the first
 * few hundred frames. The knobs (REVIEW_FRAMES, REVIEW_PACE_MIN_US/MAX_US, REVIEW_TARGETED,
 * REVIEW_TARGET_NS, REVIEW_SECCOMP_INSNS) are for measuring that rate.
 */
struct paced {
	rkv_producer *p;
	uint64_t n;
	uint64_t seed;
	int64_t min_ns, max_ns;
	/* targeted pacing: the consumer counts its acquire calls here; for
	 * every other frame the producer waits for the consumer to start its
	 * second acquire after a wake-up (the one that finds nothing and goes
	 * to sleep), then a random 0..target_ns, then publishes */
	uint64_t *calls; /* atomic */
	int64_t target_ns;
	uint64_t targeted;
	int err;          /* atomic; err_seq is set before it */
	uint64_t err_seq;
};

static void spin_ns(int64_t ns)
{
	int64_t until = test_now_ns() + ns;
	while (test_now_ns() < until) {
	}
}

static void *paced_producer(void *arg)
{
	struct paced *pp = arg;
	uint64_t s = pp->seed;
	prctl(PR_SET_TIMERSLACK, 1UL); /* sleeps as short as asked */
	for (uint64_t seq = 1; seq <= pp->n; seq++) {
		int r = publish_seq(pp->p, seq, SEC);
		if (r < 0) {
			pp->err_seq = seq;
			__atomic_store_n(&pp->err, r, __ATOMIC_RELEASE);
			break;
		}
		uint64_t x = rnd(&s);
		if (pp->calls && (x & 1)) {
			uint64_t c0 = __atomic_load_n(pp->calls, __ATOMIC_ACQUIRE);
			int64_t give_up = test_now_ns() + 300 * 1000;
			while (__atomic_load_n(pp->calls, __ATOMIC_ACQUIRE) < c0 + 2 &&
			       test_now_ns() < give_up) {
			}
			spin_ns((int64_t)((x >> 1) % (uint64_t)(pp->target_ns + 1)));
			pp->targeted++;
			continue;
		}
		int64_t d = pp->min_ns + (int64_t)((x >> 1) % (uint64_t)(pp->max_ns - pp->min_ns + 1));
		sleep_ns(d);
	}
	return NULL;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/*
 * Make every system call of the calling thread (and of threads it creates
 * later) slower by a few microseconds: a seccomp filter that allows
 * everything, after @insns loads of the first argument (which the kernel
 * cannot cache away). A consumer in a sandbox (docker's, systemd's) pays
 * such a toll on each call; here it stretches the time between a decision
 * in user space and the kernel acting on the next call, which a correct
 * library must not depend on. 0 if installed, else -errno.
 */
static int slow_syscalls(unsigned insns)
{
	struct sock_filter *f = calloc(4001, sizeof *f);
	int r = 0;
	if (!f)
		return -ENOMEM;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		free(f);
		return -errno;
	}
	/* one filter holds at most 4096 instructions: stack a few */
	while (insns > 0 && r == 0) {
		unsigned n = insns < 4000 ? insns : 4000;
		for (unsigned i = 0; i < n; i++)
			f[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
							    offsetof(struct seccomp_data, args[0]));
		f[n] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { .len = (unsigned short)(n + 1), .filter = f };
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			r = -errno;
		insns -= n;
	}
	free(f);
	return r;
}

struct drain_cons {
	rkv_consumer *c;
	struct paced *pp;
	const char *pol;
	uint64_t calls; /* atomic */
	uint64_t received, missed, wakeups;
	int64_t start;
};

static void *drain_consumer(void *arg)
{
	struct drain_cons *dc = arg;
	rkv_consumer *c = dc->c;
	const char *pol = dc->pol;
	uint64_t n = dc->pp->n, last = 0;
	/* a sandboxed consumer (see slow_syscalls); this thread only */
	unsigned insns = (unsigned)env_u64("REVIEW_SECCOMP_INSNS", 16000);
	if (insns) {
		int r = slow_syscalls(insns);
		if (r < 0)
			printf("fd_drain: no seccomp filter (%s): the race is rarer\n", strerror(-r));
	}
	int fd = rkv_consumer_fd(c);
	CHECK_INT(fd, >=, 0);
	for (;;) {
		struct rkv_consumer_stats st;
		struct rkv_view v;
		CHECK_OK(CONS_STATS(c, &st));
		dc->missed = st.dropped + st.replaced;
		if (dc->received + dc->missed >= n)
			break;
		int perr = __atomic_load_n(&dc->pp->err, __ATOMIC_ACQUIRE);
		if (perr)
			FAIL("%s: publish of frame %" PRIu64 " = %s", pol, dc->pp->err_seq, err_name(perr));
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, 2000);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			FAIL("poll: %s", strerror(errno));
		if (pr == 0) {
			struct rkv_pool_stats ps;
			int r = rkv_consumer_acquire(c, &v, 0);
			CHECK_OK(CONS_POOL_STATS(c, &ps));
			if (r == 0)
				FAIL("%s: poll(fd, 2000 ms) timed out, then acquire(0) returned frame %" PRIu64
				     ": frame queued but fd not readable (lost wake-up after %" PRIu64
				     " frames received, %" PRIu64 " dropped/replaced, %" PRIu64
				     " published, %.1f s into the run)",
				     pol, v.frame.seq, dc->received, dc->missed, ps.published,
				     (double)(test_now_ns() - dc->start) / SEC);
			if (r != -EAGAIN)
				FAIL("%s: acquire(0) after an idle poll = %s", pol, err_name(r));
			if (test_now_ns() - dc->start > 40 * SEC)
				FAIL("%s: no end after 40 s: %" PRIu64 " received + %" PRIu64
				     " missed of %" PRIu64, pol, dc->received, dc->missed, n);
			continue;
		}
		dc->wakeups++;
		for (;;) {
			__atomic_fetch_add(&dc->calls, 1, __ATOMIC_RELEASE);
			int r = rkv_consumer_acquire(c, &v, 0);
			if (r == -EAGAIN)
				break;
			if (r < 0)
				FAIL("%s: acquire(0) after poll said readable = %s", pol, err_name(r));
			if (v.frame.seq <= last)
				FAIL("%s: frame %" PRIu64 " after frame %" PRIu64, pol, v.frame.seq, last);
			check_view(pol, &v, 0);
			last = v.frame.seq;
			dc->received++;
			CHECK_OK(rkv_consumer_release(c, &v));
		}
	}
	return NULL;
}

static void fd_drain_run(uint32_t policy)
{
	char name[NAMELEN];
	struct paced pp = {
		.n = env_u64("REVIEW_FRAMES", 20000),
		.seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)test_now_ns(),
		.min_ns = (int64_t)env_u64("REVIEW_PACE_MIN_US", 10) * 1000,
		.max_ns = (int64_t)env_u64("REVIEW_PACE_MAX_US", 300) * 1000,
		.target_ns = (int64_t)env_u64("REVIEW_TARGET_NS", 1000),
	};
	struct drain_cons dc = { .pp = &pp, .pol = rkv_policy_name(policy) };
	pthread_t tp, tc;

	test_pool_name(name, sizeof name, "fdd");
	pp.p = mkpool(name, 16, 1, 0, 0, -1);
	dc.c = attach_ok("consumer", name, copts(policy, policy == RKV_POLICY_LATEST ? 0 : 2, 1));
	if (env_u64("REVIEW_TARGETED", 1))
		pp.calls = &dc.calls;
	dc.start = test_now_ns();
	if (pthread_create(&tp, NULL, paced_producer, &pp) != 0 ||
	    pthread_create(&tc, NULL, drain_consumer, &dc) != 0)
		FAIL("pthread_create");
	pthread_join(tc, NULL);
	pthread_join(tp, NULL);
	printf("fd_drain %s: %" PRIu64 " frames (%" PRIu64 " timed to the consumer's acquire): %"
	       PRIu64 " received, %" PRIu64 " dropped/replaced, %" PRIu64 " wake-ups, %.1f s\n",
	       dc.pol, pp.n, pp.targeted, dc.received, dc.missed, dc.wakeups,
	       (double)(test_now_ns() - dc.start) / SEC);
	/* not vacuous: the loop really woke and took frames */
	CHECK_UINT(dc.received, >=, pp.n / 100);
	CHECK_UINT(dc.wakeups, >=, pp.n / 100);
	rkv_consumer_detach(dc.c);
	rkv_producer_destroy(pp.p);
}

static void test_fd_drain(int argc, char **argv)
{
	if (argc > 2) {
		int pol = rkv_policy_parse(argv[2]);
		CHECK(pol == RKV_POLICY_DROP || pol == RKV_POLICY_LATEST);
		fd_drain_run((uint32_t)pol);
		return;
	}
	fd_drain_run(RKV_POLICY_DROP);
	fd_drain_run(RKV_POLICY_LATEST);
}

/* ==== 2. fd_busy ===================================================================
 *
 * Contract: -EBUSY (max_held frames held) leaves the fd's readiness as it
 * was. A broken library drains the wake-up events before saying -EBUSY, so
 * a consumer that shows its current frame until the next one arrives (poll
 * readable -> acquire -> -EBUSY -> release the old one) finds the fd silent
 * afterwards, with the new frame queued.
 *
 * Part 1 is that sequence, step by step (deterministic). Part 2 runs the
 * loop over 1000 frames paced 10..200 us apart: on readable acquire; on
 * -EBUSY release the held frame and acquire again; keep what it got; back to
 * poll. No poll may time out while a frame is queued (on the current code
 * part 2 alone, `review fd_busy loop`, fails in nearly every run).
 */
static int readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		FAIL("poll: %s", strerror(errno));
	return r > 0 && (pfd.revents & POLLIN);
}

static void test_fd_busy(int argc, char **argv)
{
	char name[NAMELEN];
	struct rkv_view held, v;
	rkv_producer *p;
	rkv_consumer *c;
	int fd;

	/* `review fd_busy loop` runs part 2 alone */
	if (argc > 2 && strcmp(argv[2], "loop") == 0)
		goto part2;

	/* part 1: the sequence */
	p = mkpool(test_pool_name(name, sizeof name, "fdb"), 8, 1, 0, 0, -1);
	c = attach_ok("consumer", name, copts(RKV_POLICY_DROP, 2, 1));
	fd = rkv_consumer_fd(c);
	CHECK_INT(fd, >=, 0);
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	CHECK_EQ(publish_seq(p, 1, 0), 1);
	if (!readable(fd, 2000))
		FAIL("frame 1 published, yet poll(fd, 2000 ms) timed out");
	CHECK_OK(rkv_consumer_acquire(c, &held, 0));
	check_view("part 1", &held, 1);
	CHECK_EQ(publish_seq(p, 2, 0), 1);
	if (!readable(fd, 2000))
		FAIL("frame 2 published while frame 1 is held, yet poll(fd, 2000 ms) timed out");
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EBUSY);
	CHECK_OK(rkv_consumer_release(c, &held));
	if (!readable(fd, 2000)) {
		int r = rkv_consumer_acquire(c, &v, 0);
		FAIL("after acquire(0) = -EBUSY and the release of frame 1, poll(fd, 2000 ms) timed out"
		     " although frame 2 is queued (acquire(0) now returns %s%s): -EBUSY took the"
		     " fd's readiness", err_name(r), r == 0 ? ", frame 2" : "");
	}
	CHECK_OK(rkv_consumer_acquire(c, &v, 0));
	check_view("part 1", &v, 2);
	CHECK_OK(rkv_consumer_release(c, &v));
	CHECK_ERR(rkv_consumer_acquire(c, &v, 0), EAGAIN);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);

part2:;
	/* part 2: the loop, over paced frames */
	uint64_t n = env_u64("REVIEW_FRAMES", 1000);
	struct paced pp = {
		.n = n,
		.seed = 0x2545f4914f6cdd1dull ^ (uint64_t)test_now_ns(),
		.min_ns = (int64_t)env_u64("REVIEW_PACE_MIN_US", 10) * 1000,
		.max_ns = (int64_t)env_u64("REVIEW_PACE_MAX_US", 200) * 1000,
	};
	pthread_t t;
	pp.p = mkpool(test_pool_name(name, sizeof name, "fdb2"), 8, 1, 0, 0, -1);
	c = attach_ok("consumer", name, copts(RKV_POLICY_DROP, 2, 1));
	fd = rkv_consumer_fd(c);
	CHECK_INT(fd, >=, 0);
	if (pthread_create(&t, NULL, paced_producer, &pp) != 0)
		FAIL("pthread_create");
	uint64_t received = 0, dropped = 0, last = 0, busy = 0;
	int holding = 0;
	int64_t start = test_now_ns();
	for (;;) {
		struct rkv_consumer_stats st;
		CHECK_OK(CONS_STATS(c, &st));
		dropped = st.dropped;
		if (received + dropped >= n)
			break;
		int perr = __atomic_load_n(&pp.err, __ATOMIC_ACQUIRE);
		if (perr)
			FAIL("publish of frame %" PRIu64 " = %s", pp.err_seq, err_name(perr));
		if (!readable(fd, 2000)) {
			if (holding) {
				CHECK_OK(rkv_consumer_release(c, &held));
				holding = 0;
			}
			int r = rkv_consumer_acquire(c, &v, 0);
			if (r == 0)
				FAIL("poll(fd, 2000 ms) timed out while frame %" PRIu64 " was queued (after %"
				     PRIu64 " frames received, %" PRIu64 " dropped, %" PRIu64
				     " acquires answered -EBUSY)", v.frame.seq, received, dropped, busy);
			if (r != -EAGAIN)
				FAIL("acquire(0) after an idle poll = %s", err_name(r));
			if (test_now_ns() - start > 40 * SEC)
				FAIL("no end after 40 s: %" PRIu64 " received + %" PRIu64 " dropped of %"
				     PRIu64, received, dropped, n);
			continue;
		}
		int r = rkv_consumer_acquire(c, &v, 0);
		if (r == -EBUSY) {
			busy++;
			if (!holding)
				FAIL("acquire(0) = -EBUSY with no frame held");
			CHECK_OK(rkv_consumer_release(c, &held));
			holding = 0;
			r = rkv_consumer_acquire(c, &v, 0);
		}
		if (r == -EAGAIN)
			continue;
		if (r < 0)
			FAIL("acquire(0) = %s", err_name(r));
		if (v.frame.seq <= last)
			FAIL("frame %" PRIu64 " after frame %" PRIu64, v.frame.seq, last);
		check_view("part 2", &v, 0);
		last = v.frame.seq;
		received++;
		held = v; /* shown until the next one */
		holding = 1;
	}
	pthread_join(t, NULL);
	printf("fd_busy: %" PRIu64 " frames: %" PRIu64 " received, %" PRIu64 " dropped, %" PRIu64
	       " acquires answered -EBUSY\n", n, received, dropped, busy);
	CHECK_UINT(received, >=, n / 10);
	CHECK_UINT(busy, >=, 1);
	if (holding)
		CHECK_OK(rkv_consumer_release(c, &held));
	rkv_consumer_detach(c);
	rkv_producer_destroy(pp.p);
}

/* ==== 3. fork_detach ===============================================================
 *
 * Contract: a consumer handle belongs to the process that attached. In a
 * forked child its copy returns -ECHILD from acquire/release/fd/stats, and
 * rkv_consumer_detach() on the copy only frees local resources: it never
 * ends the parent's lease. A broken library says goodbye on the shared
 * socket, the producer takes back every slot the parent held or had queued
 * and rewrites them under the parent's views; the parent gets -EPIPE while
 * the producer is alive.
 *
 * The consumer (block, depth 3, max_held 2) holds frame 1 and has frames 2
 * and 3 queued, then forks; the child checks its copy and detaches it, as a
 * library cleanup or a Python finalizer would, and exits. Then the producer
 * publishes 18 more frames (more than the 8 slots) in batches of 3 (so
 * every free slot gets reused), and the parent must read each of them,
 * whole, while the held frame 1 keeps its bytes.
 */
#define FD_SLOTS   8
#define FD_BATCH   3
#define FD_BATCHES 6

static void fork_detach_consumer(struct kid *k, const char *name)
{
	rkv_consumer *c = attach_wait("consumer", name, copts(RKV_POLICY_BLOCK, 3, 2));
	struct rkv_view held, v;
	uint8_t before[PAYLOAD];
	char why[256], held_msg[400] = "", acq_msg[400] = "";
	uint64_t got = 0;

	order(k, 10000, "frames 1 and 2");
	CHECK_OK(rkv_consumer_acquire(c, &held, 5 * SEC));
	check_view("consumer", &held, 1);
	memcpy(before, held.data, PAYLOAD);
	answer(k, 'H');
	order(k, 10000, "frame 3");

	fflush(stdout);
	fflush(stderr);
	pid_t g = fork();
	if (g < 0)
		FAIL("fork: %s", strerror(errno));
	if (g == 0) {
		/* the forked child: its copy is not a consumer */
		struct rkv_view gv, hv = held;
		struct rkv_consumer_stats gst;
		int bad = 0, r;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		r = rkv_consumer_acquire(c, &gv, 0);
		if (r != -ECHILD) {
			fprintf(stderr, "fork_detach: FAIL: in the forked child, rkv_consumer_acquire(copy) = %s%s,"
				" expected -ECHILD\n", err_name(r), r == 0 ? " (it took the parent's frame)" : "");
			bad = 1;
		}
		r = rkv_consumer_fd(c);
		if (r != -ECHILD) {
			fprintf(stderr, "fork_detach: FAIL: in the forked child, rkv_consumer_fd(copy) = %s,"
				" expected -ECHILD\n", err_name(r));
			bad = 1;
		}
		r = CONS_STATS(c, &gst);
		if (r != -ECHILD) {
			fprintf(stderr, "fork_detach: FAIL: in the forked child, rkv_consumer_stats(copy) = %s,"
				" expected -ECHILD\n", err_name(r));
			bad = 1;
		}
		r = rkv_consumer_release(c, &hv);
		if (r != -ECHILD) {
			fprintf(stderr, "fork_detach: FAIL: in the forked child, rkv_consumer_release(copy, "
				"the parent's frame 1) = %s, expected -ECHILD\n", err_name(r));
			bad = 1;
		}
		rkv_consumer_detach(c); /* library cleanup in the child */
		_exit(bad);
	}
	int gst = reap_pid(g, 10000, "the forked child");
	answer(k, 'F');

	/* the parent: still a consumer, its held frame still its own */
	int64_t wait = 2 * SEC;
	for (uint64_t seq = 2, end = 4 + FD_BATCH * FD_BATCHES; seq < end; seq++) {
		if (seq >= 4 && (seq - 4) % FD_BATCH == 0) {
			answer(k, 'N');
			order(k, 10000, "the next batch");
		}
		int r = rkv_consumer_acquire(c, &v, wait);
		if (r < 0 && !acq_msg[0]) {
			snprintf(acq_msg, sizeof acq_msg, "acquire of frame %" PRIu64 " = %s while the producer"
				 " lives, expected the frame", seq, err_name(r));
			fprintf(stderr, "fork_detach: %s\n", acq_msg);
			wait = 0;
		} else if (r == 0) {
			if (view_problem(&v, seq, why, sizeof why) && !acq_msg[0]) {
				snprintf(acq_msg, sizeof acq_msg, "acquire after the fork: %s", why);
				fprintf(stderr, "fork_detach: %s\n", acq_msg);
			}
			got++;
			rkv_consumer_release(c, &v);
		}
		if (memcmp(held.data, before, PAYLOAD) != 0 && !held_msg[0]) {
			snprintf(held_msg, sizeof held_msg, "the parent's held view of frame 1 changed (seen when "
				 "frame %" PRIu64 " was due): it reads \"%.20s...\", was \"%.20s...\"", seq,
				 (const char *)held.data, (const char *)before);
			fprintf(stderr, "fork_detach: %s\n", held_msg);
		}
	}
	answer(k, 'E');
	if (held_msg[0])
		FAIL("%s", held_msg);
	if (acq_msg[0])
		FAIL("%s", acq_msg);
	if (!WIFEXITED(gst) || WEXITSTATUS(gst) != 0)
		FAIL("the forked child %s: its handle copy was not refused with -ECHILD (see above)",
		     status_str(gst));
	CHECK_UINT(got, ==, 2 + FD_BATCH * FD_BATCHES);
	check_view("held frame", &held, 1);
	CHECK_OK(rkv_consumer_release(c, &held));
	rkv_consumer_detach(c);
	_exit(0);
}

/* Wait up to @ms for the pool to have fewer than @n consumers (a wait that
 * lets a broken library show itself; nothing is asserted). */
static void settle_consumers(rkv_producer *p, uint32_t n, int ms)
{
	int64_t end = test_now_ns() + (int64_t)ms * MS;
	while (test_now_ns() < end) {
		struct rkv_pool_stats st;
		CHECK_OK(PROD_STATS(p, &st));
		if (st.consumers < n)
			return;
		sleep_ns(5 * MS);
	}
}

static void test_fork_detach(int argc, char **argv)
{
	char name[NAMELEN];
	int delivered[FD_BATCH * FD_BATCHES];
	(void)argc;
	(void)argv;

	test_pool_name(name, sizeof name, "fkd");
	struct kid k = spawn("the consumer process");
	if (k.pid == 0)
		fork_detach_consumer(&k, name);
	rkv_producer *p = mkpool(name, FD_SLOTS, FD_BATCH, 2 * SEC, 0, -1);
	wait_consumers(p, 1);
	CHECK_EQ(publish_seq(p, 1, SEC), 1);
	CHECK_EQ(publish_seq(p, 2, SEC), 1);
	tell(&k, 'P');
	hear(&k, 10000, "frame 1 held");
	CHECK_EQ(publish_seq(p, 3, SEC), 1);
	tell(&k, 'Q');
	hear(&k, 10000, "the forked child's end");
	/* whatever the child's detach does, let the producer act on it */
	settle_consumers(p, 1, 500);
	uint64_t seq = 4;
	for (int b = 0; b < FD_BATCHES; b++) {
		struct rkv_loan l[FD_BATCH];
		hear(&k, 10000, "ready for the next batch");
		for (int j = 0; j < FD_BATCH; j++) {
			int r = rkv_producer_loan(p, &l[j], 2 * SEC);
			if (r < 0)
				FAIL("loan %d of batch %d = %s", j, b, err_name(r));
		}
		for (int j = 0; j < FD_BATCH; j++, seq++) {
			make_payload(l[j].data, seq);
			struct rkv_frame f = make_frame(seq);
			delivered[seq - 4] = rkv_producer_publish(p, &l[j], &f);
		}
		tell(&k, 'D');
	}
	hear(&k, 10000, "the end");
	kid_done(&k, 10000);
	for (int i = 0; i < FD_BATCH * FD_BATCHES; i++)
		CHECK_EQ(delivered[i], 1);
	rkv_producer_destroy(p);
}

/* ==== 4. daemonise =================================================================
 *
 * Contract: the handle belongs to the attaching process. Process A attaches,
 * holds a frame, has frames queued, forks B and exits (the daemonise
 * pattern). A's lease ends with A (the crash model) and the producer takes
 * A's slots back; in B the inherited handle must return -ECHILD (a broken
 * library hands B frames from slots the producer reclaimed), and B can
 * attach anew and receive correct frames.
 */
static void daemonise_b(struct kid *k, rkv_consumer *inherited, struct rkv_view held,
			const char *name)
{
	struct rkv_view v;
	struct rkv_consumer_stats st;
	int64_t end = test_now_ns() + 5 * SEC;
	int r;

	while (getppid() != g_main_pid) { /* adopted by the test (a subreaper) */
		if (test_now_ns() > end)
			FAIL("B: not adopted by the test process after A exited");
		sleep_ns(MS);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != g_main_pid)
		_exit(1);
	test_watchdog(50);
	order(k, 10000, "go");
	r = rkv_consumer_acquire(inherited, &v, 0);
	if (r != -ECHILD)
		FAIL("B: rkv_consumer_acquire on the handle inherited from A (A has exited) = %s%s, "
		     "expected -ECHILD", err_name(r),
		     r == 0 ? ": a frame from a slot the producer took back when A's lease ended" : "");
	CHECK_ERR(rkv_consumer_release(inherited, &held), ECHILD);
	CHECK_ERR(rkv_consumer_fd(inherited), ECHILD);
	CHECK_ERR(CONS_STATS(inherited, &st), ECHILD);
	rkv_consumer_detach(inherited); /* frees what B has of it */

	rkv_consumer *c = attach_ok("B", name, copts(RKV_POLICY_BLOCK, 2, 1));
	answer(k, 'n');
	for (uint64_t seq = 4; seq < 4 + 2 * FD_SLOTS; seq++) {
		order(k, 10000, "the next frame");
		CHECK_OK(rkv_consumer_acquire(c, &v, 5 * SEC));
		check_view("B", &v, seq);
		CHECK_OK(rkv_consumer_release(c, &v));
		answer(k, 'k');
	}
	rkv_consumer_detach(c);
	_exit(0);
}

static void test_daemonise(int argc, char **argv)
{
	char name[NAMELEN];
	(void)argc;
	(void)argv;

	/* B, orphaned when A exits, must stay our child to be waited for.
	 * qemu-user (the aarch64 run) does not emulate this prctl. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		if (errno == EINVAL) {
			printf("review daemonise: PR_SET_CHILD_SUBREAPER not available here: skipped\n");
			exit(TEST_SKIP);
		}
		FAIL("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	}
	test_pool_name(name, sizeof name, "dmn");
	struct kid k = spawn("process A");
	if (k.pid == 0) {
		struct rkv_view held;
		rkv_consumer *c = attach_wait("A", name, copts(RKV_POLICY_BLOCK, 2, 2));
		order(&k, 10000, "frames 1 and 2");
		CHECK_OK(rkv_consumer_acquire(c, &held, 5 * SEC));
		check_view("A", &held, 1);
		answer(&k, 'H');
		order(&k, 10000, "frame 3");
		fflush(stdout);
		fflush(stderr);
		pid_t b = fork();
		if (b < 0)
			FAIL("fork: %s", strerror(errno));
		if (b == 0)
			daemonise_b(&k, c, held, name);
		put_int(k.ack, b);
		_exit(0); /* daemonised: A leaves, B carries on */
	}
	rkv_producer *p = mkpool(name, FD_SLOTS, 1, 2 * SEC, 0, -1);
	wait_consumers(p, 1);
	CHECK_EQ(publish_seq(p, 1, SEC), 1);
	CHECK_EQ(publish_seq(p, 2, SEC), 1);
	tell(&k, 'P');
	hear(&k, 10000, "frame 1 held");
	CHECK_EQ(publish_seq(p, 3, SEC), 1);
	tell(&k, 'Q');
	struct kid kb = k;
	kb.pid = get_int(k.ack, 10000);
	kb.what = "process B (A's child)";
	kid_done(&k, 10000);
	/* A's lease ends with A */
	settle_consumers(p, 1, 5000);
	struct rkv_pool_stats st;
	CHECK_OK(PROD_STATS(p, &st));
	if (st.consumers != 0)
		FAIL("A exited 5 s ago and the pool still counts %u consumer(s)", st.consumers);
	tell(&kb, 'G');
	hear(&kb, 10000, "B's new attach");
	for (uint64_t seq = 4; seq < 4 + 2 * FD_SLOTS; seq++) {
		CHECK_EQ(publish_seq(p, seq, 2 * SEC), 1);
		tell(&kb, 'D');
		hear(&kb, 10000, "B's frame");
	}
	kid_done(&kb, 10000);
	rkv_producer_destroy(p);
}

/* ==== 5. lease_lost ================================================================
 *
 * Contract: a consumer whose lease ended while the producer is still alive,
 * and which the producer did not evict, gets -ENOTCONN from acquire: never
 * a frame once the producer has taken its slots back (they are no longer
 * protected), never -EPIPE (that means the producer is gone). Here the
 * consumer's own process shuts its lease socket down (the socket among the
 * attach's new fds whose peer is the producer's pid at "\0rkvision/..."),
 * with two frames queued, while the producer keeps publishing to another
 * consumer. The consumer cannot know of the shutdown before the producer
 * acts on it without a syscall on every acquire, so the test waits until
 * the producer has forgotten it (the pool counts one consumer less): the
 * two frames still in its queue must not come out then.
 */
static void test_lease_lost(int argc, char **argv)
{
	char name[NAMELEN];
	(void)argc;
	(void)argv;

	test_pool_name(name, sizeof name, "lease");
	struct kid k = spawn("consumer C");
	if (k.pid == 0) {
		int fds[32], n;
		struct rkv_view v;
		rkv_consumer *c = attach_fds("C", name, copts(RKV_POLICY_DROP, 2, 1), fds, &n, 1);
		int lease = find_lease(fds, n, getppid());
		answer(&k, 'a');
		order(&k, 10000, "frames 1 and 2");
		if (shutdown(lease, SHUT_RDWR) < 0)
			FAIL("shutdown(lease): %s", strerror(errno));
		/* wait until the producer has forgotten C (O stays) */
		for (int i = 0;; i++) {
			struct rkv_pool_stats ps;
			CHECK_OK(CONS_POOL_STATS(c, &ps));
			if (ps.consumers == 1)
				break;
			if (i == 500)
				FAIL("C: the producer still counts %u consumers 5 s after C shut its lease",
				     ps.consumers);
			sleep_ns(10 * MS);
		}
		int r = rkv_consumer_acquire(c, &v, 0);
		if (r != -ENOTCONN)
			FAIL("C: acquire(0) right after C shut its lease socket down (the producer lives, "
			     "frames 1 and 2 were queued) = %s%s, expected -ENOTCONN", err_name(r),
			     r == 0 ? (v.frame.seq == 1 ? ": frame 1" : ": a frame") : "");
		/* and from then on, while the producer goes on publishing */
		int64_t end = test_now_ns() + 1500 * MS;
		int tries = 0;
		while (test_now_ns() < end) {
			r = rkv_consumer_acquire(c, &v, tries % 2 ? 0 : 100 * MS);
			if (r != -ENOTCONN)
				FAIL("C: acquire %d after the lease ended = %s, expected -ENOTCONN", tries + 2,
				     err_name(r));
			tries++;
			if (tries % 2)
				sleep_ns(20 * MS);
		}
		answer(&k, 'd');
		rkv_consumer_detach(c);
		_exit(0);
	}
	rkv_producer *p = mkpool(name, 16, 1, 0, 0, -1);
	rkv_consumer *o = attach_ok("consumer O", name, copts(RKV_POLICY_DROP, 4, 1));
	wait_consumers(p, 2);
	hear(&k, 10000, "C attached");
	CHECK_EQ(publish_seq(p, 1, SEC), 2);
	CHECK_EQ(publish_seq(p, 2, SEC), 2);
	tell(&k, 'P');
	uint64_t seq = 3, o_got = 0, published = 0;
	int64_t end = test_now_ns() + 20 * SEC;
	for (;;) {
		int ch = get(k.ack, 0);
		if (ch == 'd')
			break;
		if (ch == -1) {
			kid_done(&k, 5000);
			FAIL("consumer C ended early");
		}
		if (test_now_ns() > end)
			FAIL("consumer C did not finish within 20 s");
		int r = publish_seq(p, seq++, SEC);
		if (r < 0)
			FAIL("publish = %s", err_name(r));
		published++;
		for (;;) {
			struct rkv_view v;
			r = rkv_consumer_acquire(o, &v, 0);
			if (r == -EAGAIN)
				break;
			CHECK_OK(r);
			check_view("O", &v, 0);
			o_got++;
			CHECK_OK(rkv_consumer_release(o, &v));
		}
		sleep_ns(2 * MS);
	}
	kid_done(&k, 10000);
	printf("lease_lost: %" PRIu64 " frames published while C's lease was down, O got %" PRIu64 "\n",
	       published, o_got);
	CHECK_UINT(published, >=, 10);
	CHECK_UINT(o_got, >=, 10);
	rkv_consumer_detach(o);
	rkv_producer_destroy(p);
}

/* ==== 6. hostile_block =============================================================
 *
 * Contract: a consumer cannot make the producer wait, except a block
 * consumer by design, up to the block timeout. The wake-up eventfds are
 * shared by SCM_RIGHTS, so O_NONBLOCK lives on an open file description both
 * sides share. A hostile consumer (drop, in its own process) clears
 * O_NONBLOCK on every fd it received, fills each eventfd to the maximum
 * count, sets consumer_waiting = 1 in its chan (the one wire detail used),
 * and once its first frame is queued fills each socket as far as it goes,
 * then sleeps. A broken producer blocks in write() inside publish with its
 * lock held, for good.
 *
 * The producer publishes 200 frames; an honest block consumer in another
 * process must receive all 200, and a new consumer must be able to attach
 * meanwhile. A thread fails the test when no publish returns for 10 s.
 * (The sockets are filled last because today's producer drops a consumer
 * that writes on its lease at once, which would defuse the rest.)
 * Run twice: the hostile as this uid, and (as root) as uid 65534 admitted
 * by RKV_POOL_GROUP_ACCESS; argv[2] "same" or "other" picks one.
 */
#define HB_FRAMES 200

static void hostile_block_child(struct kid *k, const char *name, int other_uid)
{
	int fds[32], n, nefd = 0, nsock = 0, filled = 0;
	uint64_t sent = 0;
	char list[1024];

	if (other_uid)
		become(65534, 4242, getppid());
	rkv_consumer *c = attach_fds("hostile", name, copts(RKV_POLICY_DROP, 2, 1), fds, &n, 1);
	fds_describe(fds, n, list, sizeof list);

	/* every eventfd to the maximum count (while its description is still
	 * non-blocking: empty it, then add the maximum) */
	for (int i = 0; i < n; i++) {
		if (!fd_is_eventfd(fds[i]))
			continue;
		int fl = fcntl(fds[i], F_GETFL);
		fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
		for (int tries = 0; tries < 1000; tries++) {
			uint64_t x = 0xfffffffffffffffeull;
			uint64_t junk;
			if (read(fds[i], &junk, sizeof junk) < 0) {
			}
			if (write(fds[i], &x, sizeof x) == (ssize_t)sizeof x) {
				filled++;
				break;
			}
		}
		nefd++;
	}
	/* O_NONBLOCK off on everything it received */
	for (int i = 0; i < n; i++) {
		int fl = fcntl(fds[i], F_GETFL);
		if (fl >= 0)
			fcntl(fds[i], F_SETFL, fl & ~O_NONBLOCK);
	}
	/* "I am asleep: signal me" */
	void *chan;
	uint64_t chan_size;
	CHECK_OK(rkv__consumer_chan_area(c, &chan, &chan_size));
	CHECK_UINT(chan_size, >=, WIRE_CHAN_WAITING + 4);
	__atomic_store_n((uint32_t *)((uint8_t *)chan + WIRE_CHAN_WAITING), 1u, __ATOMIC_SEQ_CST);
	answer(k, 'h');

	/* once a frame is queued to it, every socket as full as it goes */
	int64_t end = test_now_ns() + 5 * SEC;
	while (test_now_ns() < end) {
		struct rkv_consumer_stats st;
		if (CONS_STATS(c, &st) == 0 && (st.outstanding > 0 || st.delivered > 0))
			break;
		sleep_ns(MS);
	}
	for (int i = 0; i < n; i++) {
		static const char junk[64];
		if (!fd_is_socket(fds[i]))
			continue;
		nsock++;
		for (int m = 0; m < 1000000; m++) {
			if (send(fds[i], junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				break;
			sent++;
		}
	}
	printf("hostile_block: hostile (uid %u): fds %s; %d/%d eventfds filled, %d socket(s) got %"
	       PRIu64 " messages\n", (unsigned)getuid(), list, filled, nefd, nsock, sent);
	fflush(stdout);
	if (nefd + nsock == 0)
		FAIL("hostile: the attach created no eventfd and no socket: %s", list);
	order(k, 58000, "the end");
	_exit(0);
}

static void hostile_block_round(int other_uid)
{
	char name[NAMELEN];
	test_pool_name(name, sizeof name, "hblk");

	struct kid h = spawn(other_uid ? "the hostile consumer (uid 65534)" : "the hostile consumer");
	if (h.pid == 0)
		hostile_block_child(&h, name, other_uid);
	struct kid hk = spawn("the honest block consumer");
	if (hk.pid == 0) {
		struct rkv_view v;
		rkv_consumer *c = attach_wait("honest", name, copts(RKV_POLICY_BLOCK, 2, 1));
		answer(&hk, 'k');
		for (uint64_t seq = 1; seq <= HB_FRAMES; seq++) {
			int r = rkv_consumer_acquire(c, &v, 30 * SEC);
			if (r < 0)
				FAIL("honest consumer: acquire of frame %" PRIu64 " of %d = %s", seq, HB_FRAMES,
				     err_name(r));
			check_view("honest consumer", &v, seq);
			CHECK_OK(rkv_consumer_release(c, &v));
		}
		answer(&hk, 'r');
		rkv_consumer_detach(c);
		_exit(0);
	}
	struct kid late = spawn("the late consumer");
	if (late.pid == 0) {
		char err[256];
		rkv_consumer *c;
		order(&late, 58000, "attach now");
		int r = attach_try(name, copts(RKV_POLICY_DROP, 1, 1), &c, err, sizeof err);
		if (r < 0)
			FAIL("a new consumer's attach while the producer publishes = %s: %s, expected success",
			     err_name(r), err);
		answer(&late, 'l');
		rkv_consumer_detach(c);
		_exit(0);
	}

	rkv_producer *p = mkpool(name, 16, 1, 5 * SEC, other_uid ? RKV_POOL_GROUP_ACCESS : 0,
				 other_uid ? 4242 : -1);
	wait_consumers(p, 2);
	hear(&h, 10000, "the hostile consumer armed");
	hear(&hk, 10000, "the honest consumer attached");
	struct stall_dog dog;
	stall_dog_start(&dog, 10, other_uid ? "hostile_block (hostile of uid 65534): the producer is stuck "
					       "in publish (a step is a frame published)"
					     : "hostile_block: the producer is stuck in publish (a step is a frame "
					       "published)");
	for (uint64_t seq = 1; seq <= HB_FRAMES; seq++) {
		int r = publish_seq(p, seq, 5 * SEC);
		if (r < 0)
			FAIL("publish of frame %" PRIu64 " = %s", seq, err_name(r));
		__atomic_store_n(&dog.progress, seq, __ATOMIC_RELAXED);
		if (seq == HB_FRAMES / 2)
			tell(&late, 'L');
		if (seq == HB_FRAMES * 3 / 4)
			hear(&late, 8000, "the late attach");
	}
	stall_dog_stop(&dog);
	hear(&hk, 30000, "the honest consumer's 200 frames");
	kid_done(&hk, 10000);
	kid_done(&late, 10000);
	tell(&h, 'x');
	kid_done(&h, 10000);
	rkv_producer_destroy(p);
}

static void test_hostile_block(int argc, char **argv)
{
	int same = argc < 3 || strcmp(argv[2], "same") == 0;
	int other = argc < 3 || strcmp(argv[2], "other") == 0;
	if (same)
		hostile_block_round(0);
	if (other) {
		if (geteuid() != 0) {
			printf("hostile_block: the other-uid half skipped (needs root to switch users)\n");
			if (!same)
				exit(TEST_SKIP);
			return;
		}
		hostile_block_round(1);
	}
}

/* ==== 7. hostile_steal =============================================================
 *
 * Contract: a consumer cannot make the producer miss a wake-up meant for it.
 * A hostile consumer reads, non-blocking and in a tight loop, every fd it
 * received: today one of them is the producer's own wake-up eventfd, so it
 * steals the wake-ups honest consumers send; the producer sleeps through
 * them until its block timeout and drops the frame.
 *
 * The hostile spins alone on one CPU; the producer and the honest consumer
 * share another (pin_to_cpu), so the hostile is running whenever a wake-up
 * is sent. An honest block consumer (queue_depth 1, max_held 1) holds each frame
 * 1.5 ms, so the producer must sleep and be woken for nearly every frame;
 * block_timeout_ns is 2 s. Over 300 frames the pool's block_timeouts must
 * stay 0, no publish may wait the whole block timeout (the honest consumer
 * frees room every 1.5 ms; today's producer, woken by nobody, sleeps until
 * its deadline, then finds the room and counts no timeout), and the honest
 * consumer must receive every frame.
 */
#define HS_FRAMES 300

/* The first two CPUs this process may run on, or -1. */
static void two_cpus(int *a, int *b)
{
	cpu_set_t all;
	*a = *b = -1;
	if (sched_getaffinity(0, sizeof all, &all) < 0)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		if (*a < 0)
			*a = cpu;
		else if (*b < 0)
			*b = cpu;
	}
}

/* Pin the calling thread (and threads it creates later) to CPU @cpu. */
static void pin_to_cpu(int cpu)
{
	cpu_set_t one;
	if (cpu < 0)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof one, &one) < 0)
		FAIL("sched_setaffinity(CPU %d): %s", cpu, strerror(errno));
}

#define HS_BLOCK_TIMEOUT (2 * SEC)

static void test_hostile_steal(int argc, char **argv)
{
	char name[NAMELEN];
	(void)argc;
	(void)argv;

	test_pool_name(name, sizeof name, "hstl");
	/* The hostile spins alone on one CPU; the producer and the honest
	 * consumer share another, so the hostile is always running when a
	 * wake-up is sent (an attacker can arrange that too). Without two
	 * CPUs nothing is pinned and steals are rarer. REVIEW_LAYOUT (CPU
	 * index, 0/1/x, of hostile, honest consumer, producer) is for
	 * measuring. */
	int cpus[2], cpu_h = -1, cpu_k = -1, cpu_p = -1;
	two_cpus(&cpus[0], &cpus[1]);
	const char *layout = getenv("REVIEW_LAYOUT") ? getenv("REVIEW_LAYOUT") : "011";
	if (cpus[1] < 0) {
		printf("hostile_steal: fewer than two CPUs: not pinned\n");
	} else {
		cpu_h = layout[0] == 'x' ? -1 : cpus[layout[0] - '0'];
		cpu_k = layout[1] == 'x' ? -1 : cpus[layout[1] - '0'];
		cpu_p = layout[2] == 'x' ? -1 : cpus[layout[2] - '0'];
	}
	struct kid h = spawn("the hostile consumer");
	if (h.pid == 0) {
		int fds[32], n;
		uint64_t reads = 0;
		pin_to_cpu(cpu_h);
		rkv_consumer *c = attach_fds("hostile", name, copts(RKV_POLICY_DROP, 2, 1), fds, &n, 1);
		int sock[32], nb[32];
		for (int i = 0; i < n; i++) {
			sock[i] = fd_is_socket(fds[i]);
			nb[i] = (fcntl(fds[i], F_GETFL) & O_NONBLOCK) != 0;
		}
		answer(&h, 'h');
		for (uint64_t it = 0;; it++) {
			for (int i = 0; i < n; i++) {
				char buf[256];
				ssize_t r;
				if (fds[i] < 0)
					continue;
				if (sock[i]) {
					r = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
				} else if (nb[i]) {
					r = read(fds[i], buf, sizeof buf);
				} else {
					struct pollfd pfd = { .fd = fds[i], .events = POLLIN };
					r = poll(&pfd, 1, 0) == 1 ? read(fds[i], buf, sizeof buf) : -1;
				}
				if (r < 0 && errno == EINVAL)
					fds[i] = -1; /* not something one can read (epoll, pidfd) */
				reads += r > 0;
			}
			if ((it & 1023) == 0 && get(h.cmd, 0) != -2)
				break;
		}
		printf("hostile_steal: the hostile's reads found something %" PRIu64 " times\n", reads);
		(void)c;
		_exit(0);
	}
	struct kid hk = spawn("the honest block consumer");
	if (hk.pid == 0) {
		struct rkv_view v;
		pin_to_cpu(cpu_k);
		rkv_consumer *c = attach_wait("honest", name, copts(RKV_POLICY_BLOCK, 1, 1));
		answer(&hk, 'k');
		for (uint64_t seq = 1; seq <= HS_FRAMES; seq++) {
			int r = rkv_consumer_acquire(c, &v, 10 * SEC);
			if (r < 0)
				FAIL("honest consumer: acquire of frame %" PRIu64 " = %s", seq, err_name(r));
			check_view("honest consumer", &v, seq);
			sleep_ns(1500 * 1000);
			CHECK_OK(rkv_consumer_release(c, &v));
		}
		answer(&hk, 'r');
		rkv_consumer_detach(c);
		_exit(0);
	}

	pin_to_cpu(cpu_p);
	rkv_producer *p = mkpool(name, 8, 1, HS_BLOCK_TIMEOUT, 0, -1);
	wait_consumers(p, 2);
	hear(&h, 10000, "the hostile consumer reading");
	hear(&hk, 10000, "the honest consumer attached");
	int64_t start = test_now_ns();
	struct rkv_pool_stats st;
	for (uint64_t seq = 1; seq <= HS_FRAMES; seq++) {
		int64_t t0 = test_now_ns();
		int r = publish_seq(p, seq, 5 * SEC);
		int64_t took = test_now_ns() - t0;
		if (r < 0)
			FAIL("publish of frame %" PRIu64 " = %s", seq, err_name(r));
		CHECK_OK(PROD_STATS(p, &st));
		if (st.block_timeouts != 0)
			FAIL("block_timeouts = %" PRIu64 " after frame %" PRIu64 " of %d (%.1f s in; publish "
			     "delivered to %d), expected 0: the producer slept through the honest consumer's "
			     "wake-up (the hostile one read it first)", st.block_timeouts, seq, HS_FRAMES,
			     (double)(test_now_ns() - start) / SEC, r);
		/* The honest consumer makes room at least every 1.5 ms: a publish
		 * that waits as long as the block timeout slept through a wake-up. */
		if (took >= HS_BLOCK_TIMEOUT)
			FAIL("publish of frame %" PRIu64 " of %d waited %.2f s, the whole block timeout, "
			     "though the honest consumer frees room every 1.5 ms: the producer slept through "
			     "its wake-up (the hostile consumer read it first; %.1f s in)", seq, HS_FRAMES,
			     (double)took / SEC, (double)(test_now_ns() - start) / SEC);
	}
	hear(&hk, 30000, "the honest consumer's 300 frames");
	kid_done(&hk, 10000);
	tell(&h, 'x');
	kid_done(&h, 10000);
	CHECK_OK(PROD_STATS(p, &st));
	printf("hostile_steal: %" PRIu64 " published, producer slept %" PRIu64 " times, %.1f s\n",
	       st.published, st.producer_waits, (double)(test_now_ns() - start) / SEC);
	CHECK_UINT(st.block_timeouts, ==, 0);
	CHECK_UINT(st.published, ==, HS_FRAMES);
	/* not vacuous: the producer did sleep, and was woken, for most frames */
	CHECK_UINT(st.producer_waits, >=, HS_FRAMES / 2);
	rkv_producer_destroy(p);
}

/* ==== 8. group_scribble ============================================================
 *
 * Contract: a consumer's misbehaviour costs only its own frames (a group's
 * members share the group's); it can never starve a consumer outside its
 * group. Today the producer takes the slot index of a group cell from
 * member-writable memory: a member that rewrites unclaimed cells so their
 * slot is out of range, and then claims them, makes the producer lose track
 * of a slot on every lap.
 *
 * The member (in a child process) sets the low 16 bits of every unclaimed
 * cell to 0xffff, keeping every other bit (out of range in the current and
 * in the next cell format, and the cell stays unclaimed), over and over,
 * and takes frames in between (it leaves alone the cells it claimed, found
 * by comparing the cells around each acquire), while the producer publishes 200 frames (16 slots) to
 * it and to an honest block consumer outside the group. The honest consumer
 * must receive all 200 (loans never fail); the member must be evicted
 * (-ECONNRESET, the pool's evictions > 0).
 */
#define GS_FRAMES 200

static void test_group_scribble(int argc, char **argv)
{
	char name[NAMELEN];
	(void)argc;
	(void)argv;

	test_pool_name(name, sizeof name, "gscr");
	struct kid m = spawn("the scribbling group member");
	if (m.pid == 0) {
		struct rkv_consumer_opts o = copts(RKV_POLICY_GROUP, 4, 1);
		struct rkv_view v;
		void *gb;
		uint64_t gsz, frames = 0, bad = 0, passes = 0;
		int evicted = 0, r;
		o.group = "g";
		rkv_consumer *c = attach_wait("member", name, o);
		CHECK_OK(rkv__consumer_group_area(c, &gb, &gsz));
		uint32_t ring = *(volatile uint32_t *)((uint8_t *)gb + WIRE_GROUP_RING_SIZE);
		CHECK(ring > 0 && WIRE_GROUP_CELLS + 8ull * ring <= gsz);
		uint64_t *cells = (uint64_t *)((uint8_t *)gb + WIRE_GROUP_CELLS);
		CHECK(ring <= 64);
		/* Cells it claimed itself are left alone until the producer
		 * fills them again: it spoils only unclaimed cells. Which cell
		 * an acquire claimed is seen by comparing the cells before and
		 * after (no knowledge of the cell format needed). */
		uint64_t mine[64], snap[64];
		int is_mine[64] = { 0 };
		answer(&m, 'm');
		while (get(m.cmd, 0) == -2) {
			for (uint32_t i = 0; i < ring; i++) {
				uint64_t cur = __atomic_load_n(&cells[i], __ATOMIC_ACQUIRE);
				if (is_mine[i] && cur == mine[i])
					continue;
				is_mine[i] = 0;
				__atomic_fetch_or(&cells[i], 0xffffull, __ATOMIC_ACQ_REL);
			}
			passes++;
			while (!evicted) {
				for (uint32_t i = 0; i < ring; i++)
					snap[i] = __atomic_load_n(&cells[i], __ATOMIC_ACQUIRE);
				r = rkv_consumer_acquire(c, &v, 0);
				if (r == -EAGAIN)
					break;
				if (r == 0) {
					for (uint32_t i = 0; i < ring; i++) {
						uint64_t cur = __atomic_load_n(&cells[i], __ATOMIC_ACQUIRE);
						if (cur != snap[i]) {
							mine[i] = cur;
							is_mine[i] = 1;
						}
					}
					frames++;
					rkv_consumer_release(c, &v);
				} else if (r == -ECONNRESET) {
					evicted = 1;
				} else {
					bad++; /* -EPROTO: a cell it spoiled itself */
				}
			}
		}
		/* the producer is done publishing: the eviction must have come */
		int64_t end = test_now_ns() + 2 * SEC;
		while (!evicted && test_now_ns() < end) {
			r = rkv_consumer_acquire(c, &v, 100 * MS);
			if (r == 0)
				rkv_consumer_release(c, &v);
			evicted = r == -ECONNRESET;
		}
		if (evicted)
			CHECK_ERR(rkv_consumer_acquire(c, &v, 0), ECONNRESET);
		printf("group_scribble: member: %" PRIu64 " passes, %" PRIu64 " frames, %" PRIu64
		       " refused, %s\n", passes, frames, bad, evicted ? "evicted" : "never evicted");
		fflush(stdout);
		answer(&m, evicted ? 'E' : 'N');
		order(&m, 10000, "the end");
		_exit(0);
	}
	struct kid hk = spawn("the honest block consumer");
	if (hk.pid == 0) {
		struct rkv_view v;
		rkv_consumer *c = attach_wait("honest", name, copts(RKV_POLICY_BLOCK, 2, 1));
		answer(&hk, 'k');
		for (uint64_t seq = 1; seq <= GS_FRAMES; seq++) {
			int r = rkv_consumer_acquire(c, &v, 10 * SEC);
			if (r < 0)
				FAIL("honest consumer: acquire of frame %" PRIu64 " = %s", seq, err_name(r));
			check_view("honest consumer", &v, seq);
			CHECK_OK(rkv_consumer_release(c, &v));
		}
		answer(&hk, 'r');
		rkv_consumer_detach(c);
		_exit(0);
	}

	rkv_producer *p = mkpool(name, 16, 1, 5 * SEC, 0, -1);
	wait_consumers(p, 2);
	hear(&m, 10000, "the member scribbling");
	hear(&hk, 10000, "the honest consumer attached");
	struct rkv_pool_stats st;
	for (uint64_t seq = 1; seq <= GS_FRAMES; seq++) {
		int r = publish_seq(p, seq, 3 * SEC);
		if (r < 0) {
			CHECK_OK(PROD_STATS(p, &st));
			FAIL("loan/publish of frame %" PRIu64 " of %d = %s: %u of %u slots free, the "
			     "producer's books say %d (the group member made it lose them)", seq,
			     GS_FRAMES, err_name(r), st.slots_free, st.slot_count,
			     rkv__producer_free_slots(p));
		}
		sleep_ns(300 * 1000);
	}
	tell(&m, 's');
	char verdict = hear(&m, 10000, "the member's verdict");
	hear(&hk, 30000, "the honest consumer's 200 frames");
	kid_done(&hk, 10000);
	tell(&m, 'x');
	kid_done(&m, 10000);
	CHECK_OK(PROD_STATS(p, &st));
	printf("group_scribble: %" PRIu64 " published, %" PRIu64 " evictions, %" PRIu64
	       " block timeouts\n", st.published, st.evictions, st.block_timeouts);
	CHECK_UINT(st.evictions, >, 0);
	if (verdict != 'E')
		FAIL("the scribbling member's acquire never returned -ECONNRESET");
	rkv_producer_destroy(p);
}

/* ==== 9. evict_skip ================================================================
 *
 * Contract: evicting a consumer costs nobody else a frame. Today the
 * eviction happens inside publish's delivery loop and compacts the list
 * being walked, so the consumer after the evicted one is skipped: it gets
 * neither the frame nor a drop count.
 *
 * A (drop) attaches first, B (block) second; A sets its ready_head (the
 * uint64 at offset 128 of its chan) past the tail; one publish evicts A.
 */
static void test_evict_skip(int argc, char **argv)
{
	char name[NAMELEN];
	struct rkv_view v;
	struct rkv_consumer_stats sb;
	struct rkv_pool_stats st;
	void *chan;
	uint64_t chan_size;
	(void)argc;
	(void)argv;

	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "evsk"), 8, 1, SEC, 0, -1);
	rkv_consumer *a = attach_ok("A", name, copts(RKV_POLICY_DROP, 2, 1));
	rkv_consumer *b = attach_ok("B", name, copts(RKV_POLICY_BLOCK, 2, 1));
	CHECK_OK(rkv__consumer_chan_area(a, &chan, &chan_size));
	CHECK_UINT(chan_size, >=, WIRE_CHAN_READY_HEAD + 8);
	__atomic_store_n((uint64_t *)((uint8_t *)chan + WIRE_CHAN_READY_HEAD), 1000, __ATOMIC_SEQ_CST);

	int r = publish_seq(p, 1, SEC);
	CHECK_OK(PROD_STATS(p, &st));
	int rb = rkv_consumer_acquire(b, &v, 0);
	if (rb != 0) {
		CHECK_OK(CONS_STATS(b, &sb));
		FAIL("B's acquire after the publish that evicted A = %s, expected frame 1 (publish "
		     "returned %d, evictions %" PRIu64 "; B delivered %" PRIu64 ", dropped %" PRIu64
		     "): the delivery loop skipped B", err_name(rb), r, st.evictions, sb.delivered,
		     sb.dropped);
	}
	check_view("B", &v, 1);
	CHECK_OK(rkv_consumer_release(b, &v));
	CHECK_EQ(r, 1);
	CHECK_UINT(st.evictions, ==, 1);
	CHECK_ERR(rkv_consumer_acquire(a, &v, 0), ECONNRESET);
	/* and B goes on */
	CHECK_EQ(publish_seq(p, 2, SEC), 1);
	CHECK_OK(rkv_consumer_acquire(b, &v, 0));
	check_view("B", &v, 2);
	CHECK_OK(rkv_consumer_release(b, &v));
	rkv_consumer_detach(a);
	rkv_consumer_detach(b);
	rkv_producer_destroy(p);
}

/* ==== 10. attach_flood ============================================================
 *
 * Contract: only admitted users can attach, and one that is not admitted
 * cannot keep those who are from attaching. Today a uid that is not admitted
 * (here 65534, as root) connecting to "\0rkvision/<name>" in a loop (and
 * keeping a few connections open) pushes admitted consumers' connections
 * out of the producer's table of pending ones: their attach fails with
 * -ECONNRESET or -ENOENT. While the flood runs, an admitted process attaches
 * and detaches 300 times (scaled by RKV_TEST_SCALE: under an emulator, a
 * cross build's quarter, 300 did not always fit the 40 s allowed on a loaded
 * machine): every attach must succeed. Root only (77 else).
 */
#define AF_ATTACHES ((int)test_scaled(300))
#define AF_KEEP 8 /* connections the flooder keeps open */

static void test_attach_flood(int argc, char **argv)
{
	char name[NAMELEN];
	(void)argc;
	(void)argv;

	if (geteuid() != 0) {
		printf("attach_flood: skipped (needs root to become an unadmitted uid)\n");
		exit(TEST_SKIP);
	}
	test_pool_name(name, sizeof name, "aflood");
	struct kid f = spawn("the flooder (uid 65534)");
	if (f.pid == 0) {
		struct sockaddr_un sun;
		int keep[AF_KEEP], k = 0;
		uint64_t n = 0, ok = 0;
		become(65534, 65534, getppid());
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		int len = snprintf(sun.sun_path + 1, sizeof sun.sun_path - 1, "rkvision/%s", name);
		socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
		for (int i = 0; i < AF_KEEP; i++)
			keep[i] = -1;
		order(&f, 10000, "start");
		for (;;) {
			int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (s >= 0) {
				ok += connect(s, (struct sockaddr *)&sun, sl) == 0;
				if (keep[k] >= 0)
					close(keep[k]);
				keep[k] = s;
				k = (k + 1) % AF_KEEP;
			}
			if ((++n & 255) == 0 && get(f.cmd, 0) != -2)
				break;
		}
		printf("attach_flood: the flooder connected %" PRIu64 " times (%" PRIu64 " accepted)\n", n, ok);
		put_int(f.ack, (int)(n > INT32_MAX ? INT32_MAX : n));
		put_int(f.ack, (int)(ok > INT32_MAX ? INT32_MAX : ok));
		_exit(0);
	}
	struct kid a = spawn("the admitted process");
	if (a.pid == 0) {
		int fails = 0, reset = 0, noent = 0, timedout = 0, other = 0, done = 0;
		char first[300] = "";
		order(&a, 10000, "start");
		int64_t start = test_now_ns();
		for (; done < AF_ATTACHES && test_now_ns() - start < 40 * SEC; done++) {
			char err[256];
			rkv_consumer *c;
			int r = attach_try(name, copts(RKV_POLICY_DROP, 1, 1), &c, err, sizeof err);
			if (r == 0) {
				rkv_consumer_detach(c);
				continue;
			}
			fails++;
			reset += r == -ECONNRESET;
			noent += r == -ENOENT;
			timedout += r == -ETIMEDOUT;
			other += r != -ECONNRESET && r != -ENOENT && r != -ETIMEDOUT;
			if (!first[0])
				snprintf(first, sizeof first, "attach %d = %s: %s", done + 1, err_name(r), err);
		}
		printf("attach_flood: %d attaches in %.1f s, %d failed\n", done,
		       (double)(test_now_ns() - start) / SEC, fails);
		if (fails)
			FAIL("%d of %d attaches failed while uid 65534 flooded the attach socket (ECONNRESET %d,"
			     " ENOENT %d, ETIMEDOUT %d, other %d); the first: %s", fails, done, reset, noent,
			     timedout, other, first);
		if (done < AF_ATTACHES)
			FAIL("only %d of %d attaches done in 40 s", done, AF_ATTACHES);
		answer(&a, 'r');
		_exit(0);
	}
	rkv_producer *p = mkpool(name, 64, 1, 0, 0, -1);
	tell(&f, 'g');
	sleep_ns(100 * MS);
	tell(&a, 'g');
	hear(&a, 50000, "the admitted process's 300 attaches");
	kid_done(&a, 10000);
	tell(&f, 'x');
	int tries = get_int(f.ack, 10000), accepted = get_int(f.ack, 10000);
	kid_done(&f, 10000);
	/* not vacuous: the flood ran (it looks for the end every 256 tries, so
	 * a flooder the scheduler starved while the 300 attaches went by
	 * quickly ends at 256: seen on a loaded machine) */
	CHECK_INT(tries, >=, 256);
	CHECK_INT(accepted, >=, 1);
	rkv_producer_destroy(p);
}

/* ==== 11. eintr ====================================================================
 *
 * Contract: a blocking wait interrupted by a signal handler returns -EINTR.
 * With a SIGUSR1 handler installed without SA_RESTART, a thread blocked in
 *   - rkv_consumer_acquire(c, v, RKV_WAIT_FOREVER), no frame coming;
 *   - rkv_producer_wait_consumers(p, 5, RKV_WAIT_FOREVER);
 *   - rkv_producer_publish() waiting on a full block consumer, block
 *     timeout 30 s;
 * gets SIGUSR1 (pthread_kill, every 20 ms, so one lands inside the wait)
 * and must return -EINTR within 3 s. Today the waits just go on; the test
 * then lets each one end (a frame, consumers, room) and fails, naming all
 * that did not return.
 * (rkv_producer_loan() waiting for a free slot is not here: with every
 * consumer inside its slot budget a loan never has to wait, so there is no
 * honest way to make it; see the review notes.)
 */
static int usr1_seen; /* atomic: the handler runs in another thread */

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_fetch_add(&usr1_seen, 1, __ATOMIC_RELAXED);
}

enum { BL_ACQUIRE, BL_WAIT_CONSUMERS, BL_PUBLISH };

struct blocked {
	int kind;
	rkv_consumer *c;
	rkv_producer *p;
	struct rkv_loan loan;
	uint64_t seq;
	int64_t timeout;
	struct rkv_view v;
	int done; /* atomic; r is set before it */
	int r;
	pthread_t t;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	switch (b->kind) {
	case BL_ACQUIRE:
		b->r = rkv_consumer_acquire(b->c, &b->v, b->timeout);
		break;
	case BL_WAIT_CONSUMERS:
		b->r = rkv_producer_wait_consumers(b->p, (uint32_t)b->seq, b->timeout);
		break;
	case BL_PUBLISH: {
		struct rkv_frame f = make_frame(b->seq);
		b->r = rkv_producer_publish(b->p, &b->loan, &f);
		break;
	}
	}
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Start @b, let it block, then SIGUSR1 its thread every 20 ms for up to
 * 3 s. 1 if the call returned by then (b->r), 0 if it is still waiting. */
static int interrupt_blocked(struct blocked *b)
{
	if (pthread_create(&b->t, NULL, blocked_main, b) != 0)
		FAIL("pthread_create");
	sleep_ns(200 * MS);
	if (__atomic_load_n(&b->done, __ATOMIC_ACQUIRE))
		FAIL("the call returned %s before it was signalled (it should have waited)",
		     err_name(b->r));
	int64_t end = test_now_ns() + 3 * SEC;
	while (!__atomic_load_n(&b->done, __ATOMIC_ACQUIRE) && test_now_ns() < end) {
		pthread_kill(b->t, SIGUSR1);
		sleep_ns(20 * MS);
	}
	return __atomic_load_n(&b->done, __ATOMIC_ACQUIRE);
}

static void test_eintr(int argc, char **argv)
{
	char name[NAMELEN];
	struct sigaction sa;
	struct rkv_view v;
	(void)argc;
	(void)argv;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	CHECK_OK(sigaction(SIGUSR1, &sa, NULL));

	/* acquire(RKV_WAIT_FOREVER), nothing published */
	{
		rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "eia"), 8, 1, 0, 0, -1);
		struct blocked b = { .kind = BL_ACQUIRE, .timeout = RKV_WAIT_FOREVER };
		b.c = attach_ok("consumer", name, copts(RKV_POLICY_BLOCK, 1, 1));
		if (!interrupt_blocked(&b)) {
			NOTE("rkv_consumer_acquire(RKV_WAIT_FOREVER) still waiting 3 s after SIGUSR1 (every 20 ms"
			     ", %d handled), expected -EINTR", __atomic_load_n(&usr1_seen, __ATOMIC_RELAXED));
			CHECK_EQ(publish_seq(p, 1, SEC), 1); /* let it end */
			pthread_join(b.t, NULL);
			CHECK_OK(b.r);
			CHECK_OK(rkv_consumer_release(b.c, &b.v));
		} else {
			pthread_join(b.t, NULL);
			if (b.r != -EINTR)
				NOTE("rkv_consumer_acquire(RKV_WAIT_FOREVER) interrupted by SIGUSR1 = %s, expected "
				     "-EINTR", err_name(b.r));
			if (b.r == 0)
				CHECK_OK(rkv_consumer_release(b.c, &b.v));
			/* and the consumer still works */
			CHECK_EQ(publish_seq(p, 1, SEC), 1);
			CHECK_OK(rkv_consumer_acquire(b.c, &v, SEC));
			check_view("after -EINTR", &v, 1);
			CHECK_OK(rkv_consumer_release(b.c, &v));
		}
		rkv_consumer_detach(b.c);
		rkv_producer_destroy(p);
	}

	/* wait_consumers(5, RKV_WAIT_FOREVER), nobody attaching */
	{
		rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "eiw"), 16, 1, 0, 0, -1);
		struct blocked b = { .kind = BL_WAIT_CONSUMERS, .p = p, .seq = 5,
				     .timeout = RKV_WAIT_FOREVER };
		if (!interrupt_blocked(&b)) {
			rkv_consumer *cs[5];
			NOTE("rkv_producer_wait_consumers(p, 5, RKV_WAIT_FOREVER) still waiting 3 s after SIGUSR1 "
			     "(every 20 ms), expected -EINTR");
			for (int i = 0; i < 5; i++) /* let it end */
				cs[i] = attach_ok("consumer", name, copts(RKV_POLICY_DROP, 1, 1));
			pthread_join(b.t, NULL);
			CHECK_OK(b.r);
			for (int i = 0; i < 5; i++)
				rkv_consumer_detach(cs[i]);
		} else {
			pthread_join(b.t, NULL);
			if (b.r != -EINTR)
				NOTE("rkv_producer_wait_consumers(RKV_WAIT_FOREVER) interrupted by SIGUSR1 = %s, "
				     "expected -EINTR", err_name(b.r));
		}
		rkv_producer_destroy(p);
	}

	/* publish waiting on a full block consumer, block timeout 30 s */
	{
		rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "eip"), 8, 1, 30 * SEC, 0, -1);
		rkv_consumer *c = attach_ok("consumer", name, copts(RKV_POLICY_BLOCK, 1, 1));
		struct blocked b = { .kind = BL_PUBLISH, .p = p, .seq = 2 };
		CHECK_EQ(publish_seq(p, 1, SEC), 1); /* its queue is full now */
		CHECK_OK(rkv_producer_loan(p, &b.loan, SEC));
		make_payload(b.loan.data, 2);
		int64_t t0 = test_now_ns();
		if (!interrupt_blocked(&b)) {
			NOTE("rkv_producer_publish() waiting for a full block consumer (block timeout 30 s) still "
			     "waiting 3 s after SIGUSR1 (every 20 ms), expected -EINTR");
			CHECK_OK(rkv_consumer_acquire(c, &v, 0)); /* room: let it end */
			pthread_join(b.t, NULL);
			CHECK_EQ(b.r, 1);
			CHECK_OK(rkv_consumer_release(c, &v));
		} else {
			pthread_join(b.t, NULL);
			if (b.r != -EINTR)
				NOTE("rkv_producer_publish() waiting for a block consumer, interrupted by SIGUSR1 "
				     "after %.1f s = %s, expected -EINTR", (double)(test_now_ns() - t0) / SEC,
				     err_name(b.r));
		}
		rkv_consumer_detach(c);
		rkv_producer_destroy(p);
	}
	fail_if_noted("eintr");
}

/* ==== 12. huge_timeout =============================================================
 *
 * Contract: a timeout is a limit, however large; INT64_MAX waits like
 * RKV_WAIT_FOREVER. Today now + timeout overflows for huge ones.
 *   - rkv_consumer_acquire(c, v, INT64_MAX): a frame comes 200 ms later and
 *     must be returned (today this one passes: its overflowed deadline is
 *     only ever used as deadline - now, which wraps back);
 *   - a pool with block_timeout_ns = INT64_MAX: publish to a full block
 *     consumer that makes room 200 ms later must wait, deliver, and count
 *     no block timeout (today: at once, dropped, a block timeout);
 *   - rkv_producer_wait_consumers(p, 1, INT64_MAX) in a thread: a consumer
 *     attaching 200 ms later must be admitted and the wait return 0 (today
 *     the wait spins holding the producer's lock, so the attach times out).
 * (rkv_producer_loan(INT64_MAX) overflows too, but needs a pool with no free
 * slot, which the slot budget rules out for honest consumers; see eintr.)
 */
struct later {
	int kind; /* 0 publish frame 1, 2 acquire */
	rkv_producer *p;
	rkv_consumer *c;
	struct rkv_view v;
	int r;
};

static void *later_main(void *arg)
{
	struct later *l = arg;
	sleep_ns(200 * MS);
	if (l->kind == 0)
		l->r = publish_seq(l->p, 1, SEC);
	else
		l->r = rkv_consumer_acquire(l->c, &l->v, SEC);
	return NULL;
}

static void test_huge_timeout(int argc, char **argv)
{
	char name[NAMELEN];
	struct rkv_view v;
	struct rkv_pool_stats st;
	pthread_t t;
	int64_t t0;
	int r;
	(void)argc;
	(void)argv;

	/* acquire(INT64_MAX) */
	{
		rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "hta"), 8, 1, 0, 0, -1);
		rkv_consumer *c = attach_ok("consumer", name, copts(RKV_POLICY_BLOCK, 1, 1));
		struct later l = { .kind = 0, .p = p };
		CHECK_EQ(pthread_create(&t, NULL, later_main, &l), 0);
		t0 = test_now_ns();
		r = rkv_consumer_acquire(c, &v, INT64_MAX);
		if (r != 0)
			NOTE("rkv_consumer_acquire(c, v, INT64_MAX) = %s after %.3f s, expected frame 1 "
			     "(published 200 ms in)", err_name(r), (double)(test_now_ns() - t0) / SEC);
		pthread_join(t, NULL);
		CHECK_EQ(l.r, 1);
		if (r == 0) {
			check_view("acquire(INT64_MAX)", &v, 1);
			CHECK_OK(rkv_consumer_release(c, &v));
		}
		rkv_consumer_detach(c);
		rkv_producer_destroy(p);
	}

	/* block_timeout_ns = INT64_MAX */
	{
		rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "htp"), 8, 1, INT64_MAX, 0, -1);
		rkv_consumer *c = attach_ok("consumer", name, copts(RKV_POLICY_BLOCK, 1, 1));
		CHECK_EQ(publish_seq(p, 1, SEC), 1); /* full */
		struct later l = { .kind = 2, .c = c };
		CHECK_EQ(pthread_create(&t, NULL, later_main, &l), 0);
		t0 = test_now_ns();
		r = publish_seq(p, 2, SEC);
		int64_t took = test_now_ns() - t0;
		pthread_join(t, NULL);
		CHECK_OK(l.r);
		CHECK_OK(PROD_STATS(p, &st));
		if (r != 1 || st.block_timeouts != 0)
			NOTE("with block_timeout_ns = INT64_MAX, publish to a full block consumer that makes room "
			     "200 ms later returned %d (consumers reached) after %.3f s, with %" PRIu64
			     " block timeout(s); expected 1 (it waited, then delivered) and none", r,
			     (double)took / SEC, st.block_timeouts);
		check_view("frame 1", &l.v, 1);
		CHECK_OK(rkv_consumer_release(c, &l.v));
		if (r == 1) {
			CHECK_OK(rkv_consumer_acquire(c, &v, SEC));
			check_view("frame 2", &v, 2);
			CHECK_OK(rkv_consumer_release(c, &v));
		}
		rkv_consumer_detach(c);
		rkv_producer_destroy(p);
	}

	/* wait_consumers(INT64_MAX), in a thread; a consumer attaches 200 ms in */
	{
		rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "htw"), 8, 1, 0, 0, -1);
		struct blocked b = { .kind = BL_WAIT_CONSUMERS, .p = p, .seq = 1, .timeout = INT64_MAX };
		char err[256];
		rkv_consumer *c;
		CHECK_EQ(pthread_create(&b.t, NULL, blocked_main, &b), 0);
		sleep_ns(200 * MS);
		if (__atomic_load_n(&b.done, __ATOMIC_ACQUIRE))
			NOTE("rkv_producer_wait_consumers(p, 1, INT64_MAX) = %s before any consumer attached",
			     err_name(b.r));
		r = attach_try(name, copts(RKV_POLICY_DROP, 1, 1), &c, err, sizeof err);
		if (r < 0)
			FAIL("an attach while another thread is in rkv_producer_wait_consumers(p, 1, INT64_MAX) "
			     "= %s: %s (the wait must not keep the producer from admitting; it cannot be ended "
			     "now)%s%s", err_name(r), err, failures ? "; also: " : "", first_failure);
		int64_t end = test_now_ns() + 3 * SEC;
		while (!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE) && test_now_ns() < end)
			sleep_ns(MS);
		if (!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE))
			FAIL("rkv_producer_wait_consumers(p, 1, INT64_MAX) still waiting 3 s after a consumer "
			     "attached%s%s", failures ? "; also: " : "", first_failure);
		pthread_join(b.t, NULL);
		if (b.r != 0)
			NOTE("rkv_producer_wait_consumers(p, 1, INT64_MAX) = %s, expected 0", err_name(b.r));
		rkv_consumer_detach(c);
		rkv_producer_destroy(p);
	}
	fail_if_noted("huge_timeout");
}

/* ==== 13. fork_readonly ============================================================
 *
 * Contract: frame data is read-only for consumers. The README's pattern -
 * create the pool, fork, the child attaches - hands the child the
 * producer's writable mapping today (a process maps each memfd once, and
 * the child inherited the producer's). In such a child, a grandchild writes
 * one byte to a view's data: it must die of SIGSEGV.
 */
static void test_fork_readonly(int argc, char **argv)
{
	char name[NAMELEN];
	(void)argc;
	(void)argv;

	rkv_producer *p = mkpool(test_pool_name(name, sizeof name, "fro"), 4, 1, 0, 0, -1);
	struct kid k = spawn("the consumer forked from the producer's process");
	if (k.pid == 0) {
		struct rkv_view v;
		rkv_consumer *c = attach_ok("consumer", name, copts(RKV_POLICY_BLOCK, 1, 1));
		answer(&k, 'a');
		CHECK_OK(rkv_consumer_acquire(c, &v, 5 * SEC));
		check_view("consumer", &v, 1);
		fflush(stdout);
		fflush(stderr);
		pid_t g = fork();
		if (g < 0)
			FAIL("fork: %s", strerror(errno));
		if (g == 0) {
			struct rlimit no_core = { 0, 0 };
			setrlimit(RLIMIT_CORE, &no_core);
			signal(SIGSEGV, SIG_DFL); /* no sanitizer report: just die */
			*(volatile uint8_t *)v.data = 'X';
			_exit(0);
		}
		int st = reap_pid(g, 10000, "the grandchild");
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
			FAIL("a write to view.data from a grandchild of a consumer forked from the producer's "
			     "process: the grandchild %s, expected death by SIGSEGV (the view is writable; it "
			     "now reads \"%.10s...\")", status_str(st), (const char *)v.data);
		CHECK_OK(rkv_consumer_release(c, &v));
		rkv_consumer_detach(c);
		_exit(0);
	}
	wait_consumers(p, 1);
	hear(&k, 10000, "the consumer attached");
	CHECK_EQ(publish_seq(p, 1, SEC), 1);
	kid_done(&k, 20000);
	rkv_producer_destroy(p);
}

/* ==== 14. seal_group ===============================================================
 *
 * Contract: no consumer can stop others from attaching. The chan and group
 * memfds lack F_SEAL_SEAL today, so a group member (root) can reopen its
 * mapped group memfd through /proc/self/map_files/<start>-<end> and add
 * F_SEAL_FUTURE_WRITE; the next member's attach then fails, since it maps
 * the group read-write. Member 1 (one process) does that; member 2 (another
 * process) must still attach, and both must get frames. Skipped (77) if
 * /proc/self/map_files cannot be opened here.
 */
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static void test_seal_group(int argc, char **argv)
{
	char name[NAMELEN];
	(void)argc;
	(void)argv;

	test_pool_name(name, sizeof name, "sealg");
	struct rkv_consumer_opts o = copts(RKV_POLICY_GROUP, 2, 1);
	o.group = "workers";
	struct kid m1 = spawn("group member 1");
	if (m1.pid == 0) {
		struct rkv_view v;
		void *gb;
		uint64_t gsz;
		char line[512], path[128] = "";
		rkv_consumer *c = attach_wait("member 1", name, o);
		CHECK_OK(rkv__consumer_group_area(c, &gb, &gsz));
		FILE *maps = fopen("/proc/self/maps", "r");
		if (!maps)
			FAIL("member 1: /proc/self/maps: %s", strerror(errno));
		while (fgets(line, sizeof line, maps)) {
			unsigned long lo, hi;
			if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= (uintptr_t)gb &&
			    (uintptr_t)gb < hi) {
				snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", lo, hi);
				break;
			}
		}
		fclose(maps);
		if (!path[0])
			FAIL("member 1: the group area %p is in no mapping of /proc/self/maps", gb);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			printf("seal_group: skipped: cannot open %s: %s\n", path, strerror(errno));
			fflush(stdout);
			_exit(TEST_SKIP);
		}
		int r = fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
		printf("seal_group: member 1 adding F_SEAL_FUTURE_WRITE to the group memfd: %s\n",
		       r == 0 ? "done" : strerror(errno));
		fflush(stdout);
		close(fd);
		answer(&m1, 's');
		order(&m1, 20000, "take a frame");
		CHECK_OK(rkv_consumer_acquire(c, &v, 5 * SEC));
		check_view("member 1", &v, 0);
		CHECK_OK(rkv_consumer_release(c, &v));
		answer(&m1, 'g');
		order(&m1, 20000, "the end");
		rkv_consumer_detach(c);
		_exit(0);
	}
	struct kid m2 = spawn("group member 2");
	if (m2.pid == 0) {
		struct rkv_view v;
		char err[256];
		rkv_consumer *c;
		order(&m2, 20000, "attach now");
		int r = attach_try(name, o, &c, err, sizeof err);
		if (r < 0)
			FAIL("member 2's attach after member 1 sealed the group memfd = %s: %s, expected "
			     "success", err_name(r), err);
		answer(&m2, 'a');
		order(&m2, 20000, "take a frame");
		CHECK_OK(rkv_consumer_acquire(c, &v, 5 * SEC));
		check_view("member 2", &v, 0);
		CHECK_OK(rkv_consumer_release(c, &v));
		answer(&m2, 'g');
		order(&m2, 20000, "the end");
		rkv_consumer_detach(c);
		_exit(0);
	}
	rkv_producer *p = mkpool(name, 16, 1, 0, 0, -1);
	wait_consumers(p, 1);
	hear(&m1, 10000, "member 1's seal");
	tell(&m2, 'A');
	hear(&m2, 10000, "member 2's attach");
	CHECK_EQ(publish_seq(p, 1, SEC), 1);
	tell(&m1, 't');
	hear(&m1, 10000, "member 1's frame");
	CHECK_EQ(publish_seq(p, 2, SEC), 1);
	tell(&m2, 't');
	hear(&m2, 10000, "member 2's frame");
	tell(&m1, 'x');
	tell(&m2, 'x');
	kid_done(&m1, 10000);
	kid_done(&m2, 10000);
	rkv_producer_destroy(p);
}

/* ==== main ========================================================================= */

struct scenario {
	const char *name;
	void (*run)(int argc, char **argv);
};

/* ==== 15. fork_maps ==================================================================
 *
 * Contract: fork() at any moment leaves the child able to use the library.
 * The process's table of mappings has a lock the producer's service thread
 * and attaching threads take; a fork while one of them held it left the
 * child with the lock taken forever, so its first attach hung (71 of 400
 * children here before the fix). Two threads attach and detach in a loop
 * while the main thread forks 400 children that each attach once.
 */
static volatile int fork_maps_run = 1;
static char fork_maps_name[NAMELEN];

static void *fork_maps_churn(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&fork_maps_run, __ATOMIC_RELAXED)) {
		struct rkv_consumer_opts o = copts(RKV_POLICY_DROP, 1, 1);
		rkv_consumer *c;
		if (rkv_consumer_attach(fork_maps_name, &o, &c) == 0)
			rkv_consumer_detach(c);
	}
	return NULL;
}

static void test_fork_maps(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#if defined(__SANITIZE_THREAD__)
	/* TSan's own runtime is not fork-safe in a threaded process. */
	printf("review fork_maps: not under ThreadSanitizer: skipped\n");
	exit(TEST_SKIP);
#endif
	test_pool_name(fork_maps_name, sizeof fork_maps_name, "fmaps");
	rkv_producer *p = mkpool(fork_maps_name, 64, 1, 0, 0, -1);
	pthread_t t[2];
	int hung = 0;
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, fork_maps_churn, NULL), 0);
	for (int i = 0; i < 400; i++) {
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			alarm(10);
			struct rkv_consumer_opts o = copts(RKV_POLICY_LATEST, 0, 1);
			rkv_consumer *c;
			int r = rkv_consumer_attach(fork_maps_name, &o, &c);
			if (r == 0)
				rkv_consumer_detach(c);
			_exit(r == 0 || r == -EUSERS || r == -ENOSPC ? 0 : 3);
		}
		int st;
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			hung++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			FAIL("fork %d: the child's attach failed (status %d)", i, st);
	}
	__atomic_store_n(&fork_maps_run, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	rkv_producer_destroy(p);
	if (hung)
		FAIL("%d of 400 children forked while threads attached hung in their own attach", hung);
	printf("review fork_maps: 400 children forked amid attaches, none hung\n");
}

/* ---- release_reuse ------------------------------------------------------------ */

/*
 * A frame released by one thread while another acquires (pool.h allows
 * it). The producer reuses first the slot it got back last, so it may queue
 * that very slot to the consumer again at once; the slot must no longer be
 * marked held by then. The library unmarked it only after giving it back
 * (and after the wake-up it may send the producer in between), and the
 * acquiring thread could then refuse a healthy frame with -EPROTO (seen
 * once in ten runs of unit_pool's test_release_threads under
 * ThreadSanitizer). Here the releasing thread runs under slow_syscalls(),
 * so that wake-up takes long, and the main thread, producer and acquirer at
 * once, keeps the pool without a free slot, asking for one without waiting
 * (which announces the producer as waiting, so every release sends it a
 * wake-up). It publishes only into an empty queue, so it never waits for
 * itself as the consumer.
 */
#define REUSE_HELD 3

struct reuse {
	rkv_consumer *c;
	struct rkv_view v[REUSE_HELD];
	uint64_t n;
	uint64_t put, got; /* atomic */
	int err;           /* atomic */
};

static void *reuse_releaser(void *arg)
{
	struct reuse *ru = arg;
	int r = slow_syscalls((unsigned)env_u64("REVIEW_SECCOMP_INSNS", 16000));
	if (r < 0)
		printf("release_reuse: no seccomp filter (%s): the race is rarer\n", strerror(-r));
	for (uint64_t k = 0; k < ru->n; k++) {
		while (__atomic_load_n(&ru->put, __ATOMIC_ACQUIRE) <= k)
			if (__atomic_load_n(&ru->err, __ATOMIC_ACQUIRE))
				return NULL;
		r = rkv_consumer_release(ru->c, &ru->v[k % REUSE_HELD]);
		if (r < 0) {
			__atomic_store_n(&ru->err, r, __ATOMIC_RELEASE);
			return NULL;
		}
		__atomic_store_n(&ru->got, k + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_release_reuse(int argc, char **argv)
{
	char name[NAMELEN];
	static struct reuse ru;
	pthread_t t;
	(void)argc;
	(void)argv;

	test_pool_name(name, sizeof name, "reuse");
	/* queue 1 + held REUSE_HELD + the loan: not one slot more */
	rkv_producer *p = mkpool(name, REUSE_HELD + 2, 1, 0, 0, -1);
	memset(&ru, 0, sizeof ru);
	ru.c = attach_ok("consumer", name, copts(RKV_POLICY_BLOCK, 1, REUSE_HELD));
	ru.n = env_u64("REVIEW_FRAMES", test_scaled(1000000));
	CHECK_EQ(pthread_create(&t, NULL, reuse_releaser, &ru), 0);
	/* Sized by time as well as frames (a loaded machine, sanitizers): the
	 * run ends after 20 s with what it did, and fails only where no frame
	 * came for 10 s (stuck) or too few came to mean anything. */
	uint64_t seq = 1, taken = 0, seen = 0;
	int64_t start = test_now_ns(), progress = start;
	while (taken < ru.n) {
		int64_t now = test_now_ns();
		if (taken != seen) {
			seen = taken;
			progress = now;
		}
		if (now - progress > 10 * SEC)
			FAIL("release_reuse: stuck after %" PRIu64 " frames", taken);
		if (now - start > 20 * SEC && taken >= 10000) {
			printf("release_reuse: stopping at 20 s, %" PRIu64 " of %" PRIu64 " frames\n",
			       taken, ru.n);
			break;
		}
		int e = __atomic_load_n(&ru.err, __ATOMIC_ACQUIRE);
		if (e)
			FAIL("release_reuse: release = %s", err_name(e));
		struct rkv_view v;
		int r = rkv_consumer_acquire(ru.c, &v, 0);
		if (r == 0) {
			check_view("release_reuse", &v, taken + 1);
			while (taken - __atomic_load_n(&ru.got, __ATOMIC_ACQUIRE) >= REUSE_HELD)
				if (__atomic_load_n(&ru.err, __ATOMIC_ACQUIRE))
					FAIL("release_reuse: release = %s",
					     err_name(__atomic_load_n(&ru.err, __ATOMIC_ACQUIRE)));
			ru.v[taken % REUSE_HELD] = v;
			__atomic_store_n(&ru.put, ++taken, __ATOMIC_RELEASE);
			continue;
		}
		if (r == -EPROTO)
			FAIL("release_reuse: frame %" PRIu64 ": acquire = %s: a slot just given back "
			     "from another thread was still marked held when it came again",
			     taken + 1, err_name(r));
		if (r == -EBUSY)
			continue; /* REUSE_HELD held: the releaser is behind */
		if (r != -EAGAIN)
			FAIL("release_reuse: acquire = %s", err_name(r));
		/* nothing queued: publish one (a block consumer's queue has room) */
		struct rkv_loan l;
		r = rkv_producer_loan(p, &l, 0);
		if (r == -EAGAIN || r == -EBUSY)
			continue;
		if (r < 0)
			FAIL("release_reuse: loan = %s", err_name(r));
		make_payload(l.data, seq);
		struct rkv_frame f = make_frame(seq);
		r = rkv_producer_publish(p, &l, &f);
		if (r < 0)
			FAIL("release_reuse: publish = %s", err_name(r));
		seq++;
	}
	/* the releaser ends after ru.n frames: tell it how many there were */
	__atomic_store_n(&ru.err, taken < ru.n ? -ECANCELED : 0, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t, NULL), 0);
	rkv_consumer_detach(ru.c);
	rkv_producer_destroy(p);
	printf("review release_reuse: %" PRIu64 " frames released by another thread, each "
	       "acquired whole\n", taken);
}

static const struct scenario scenarios[] = {
	{ "fd_drain", test_fd_drain },
	{ "fd_busy", test_fd_busy },
	{ "fork_detach", test_fork_detach },
	{ "daemonise", test_daemonise },
	{ "lease_lost", test_lease_lost },
	{ "hostile_block", test_hostile_block },
	{ "hostile_steal", test_hostile_steal },
	{ "group_scribble", test_group_scribble },
	{ "evict_skip", test_evict_skip },
	{ "attach_flood", test_attach_flood },
	{ "eintr", test_eintr },
	{ "huge_timeout", test_huge_timeout },
	{ "fork_readonly", test_fork_readonly },
	{ "seal_group", test_seal_group },
	{ "fork_maps", test_fork_maps },
	{ "release_reuse", test_release_reuse },
};

int main(int argc, char **argv)
{
	g_main_pid = getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; argc > 1 && i < sizeof scenarios / sizeof scenarios[0]; i++) {
		if (strcmp(argv[1], scenarios[i].name) == 0) {
			test_watchdog(55);
			scenarios[i].run(argc, argv);
			printf("review %s: ok\n", argv[1]);
			return 0;
		}
	}
	fprintf(stderr, "usage: %s SCENARIO [ARG]; scenarios:", argv[0]);
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
		fprintf(stderr, " %s", scenarios[i].name);
	fputc('\n', stderr);
	return 2;
}
