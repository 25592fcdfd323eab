/* SPDX-License-Identifier: MIT */
/*
 * camera_v4l2.c - the camera (rkv/camera.h) on vivid, inside the test VM
 * (tests/vm/run.sh: /dev/video0 single-planar vmalloc, /dev/video1
 * multi-planar dma-contig). The camera runs in a thread of this process,
 * consumers are forked processes. One scenario per run, named by argv[1]:
 *
 *   zerocopy  on both nodes (NV12 multi-planar, YUYV single-planar): the
 *             zero-copy path (stats, path), frames with the slot's DMA-BUF
 *             (read-only) and rising sequence numbers; with no consumer a
 *             frame goes straight back to the driver; a consumer holding
 *             a frame for a second while capture runs on (vivid moving its
 *             picture) finds its bytes unchanged, and the camera publishes
 *             meanwhile.
 *   kill      a consumer holding three frames with two more queued is
 *             SIGKILLed: every buffer goes back to the driver, capture
 *             goes on at its rate, every slot is free; the control channel
 *             answers while the consumer holds them; a consumer beyond the
 *             budget is refused; a re-queue the driver refuses (reopen).
 *   loss      vivid's disconnect, then its fatal streaming error, while a
 *             consumer is attached and holds a frame: the camera stays up,
 *             counts the errors and reopens, keeps the pool (copying into
 *             the first device's buffers from then on), and the consumer
 *             keeps its attachment, its frame and gets frames again; once
 *             it left, the pool is made again, zero-copy.
 *   copy      RKV_CAMERA_COPY: the copy path, and why.
 *   bench     not a test: the camera thread's CPU time per frame, 1280x720
 *             NV12, zero-copy against copy (run it with
 *             tests/vm/run.sh -- build/tests/vm_camera_v4l2 bench).
 *
 * Exits 0, 1 on the first failed check, 77 without vivid (on the host).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rkv/camera.h>
#include <rkv/control.h>
#include <rkv/pool.h>

#include "test.h"
#include "vmtest.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* ---- the camera, in a thread ------------------------------------------------ */

struct cam {
	rkv_camera *c;
	pthread_t thread;
	int run_r;
	char name[RKV_NAME_MAX + 1];
};

struct want {
	const char *uri;
	uint32_t fourcc, width, height, fps;
	uint32_t flags, slots;
};

static void *cam_main(void *arg)
{
	struct cam *k = arg;

	k->run_r = rkv_camera_run(k->c);
	return NULL;
}

static void cam_start(struct cam *k, const char *what, const struct want *w)
{
	char err[512] = "";
	struct rkv_camera_config cfg = {
		.size = sizeof(cfg), .flags = w->flags, .slots = w->slots,
		.source = { .size = sizeof(cfg.source), .uri = w->uri, .fourcc = w->fourcc,
			    .width = w->width, .height = w->height, .fps_num = w->fps },
		.errbuf = err, .errbuf_len = sizeof(err),
	};
	int r;

	memset(k, 0, sizeof(*k));
	test_pool_name(k->name, sizeof(k->name), what);
	cfg.name = k->name;
	r = rkv_camera_create(&cfg, &k->c);
	if (r)
		FAIL("camera on %s: %d (%s): %s", w->uri, r, strerror(-r), err);
	CHECK_EQ(pthread_create(&k->thread, NULL, cam_main, k), 0);
}

static struct rkv_camera_stats cam_stats(struct cam *k)
{
	struct rkv_camera_stats st;

	CHECK_OK(rkv_camera_stats(k->c, &st, sizeof(st)));
	return st;
}

static void cam_stop(struct cam *k)
{
	rkv_camera_stop(k->c);
	CHECK_EQ(pthread_join(k->thread, NULL), 0);
	CHECK_OK(k->run_r);
	rkv_camera_destroy(k->c);
	k->c = NULL;
}

/* The pool's counters, as an observer sees them. */
static struct rkv_pool_stats pool_stats(const struct cam *k)
{
	struct rkv_pool_stats ps;

	CHECK_INT(rkv_pool_stats(k->name, &ps, sizeof(ps), NULL, 0, sizeof(struct rkv_consumer_stats)),
		  >=, 0);
	return ps;
}

/* Wait up to @ms for @cond (an expression over `st`, the camera's stats). */
#define WAIT_FOR(k, st, ms, cond)                                                       \
	do {                                                                            \
		int64_t until_ = test_now_ns() + (ms) * MS;                             \
		for (;;) {                                                              \
			st = cam_stats(k);                                              \
			if (cond)                                                       \
				break;                                                  \
			if (test_now_ns() > until_)                                     \
				FAIL("waited %d ms for %s (published %" PRIu64          \
				     ", held %u, errors %" PRIu64 ", reopens %" PRIu64  \
				     ", path \"%s\")", (int)(ms), #cond, st.published,  \
				     st.held, st.source_errors, st.reopens, st.path);   \
			usleep(10000);                                                  \
		}                                                                       \
	} while (0)

/* Frames captured a second, over @ms. */
static double capture_rate(struct cam *k, int ms)
{
	struct rkv_camera_stats a = cam_stats(k), b;
	int64_t t0 = test_now_ns();

	usleep((useconds_t)ms * 1000);
	b = cam_stats(k);
	return (double)(b.captured - a.captured) * 1e9 / (double)(test_now_ns() - t0);
}

/* ---- consumers (forked) ------------------------------------------------------ */

/*
 * A consumer forked from the camera's process would keep the camera's
 * descriptors open (O_CLOEXEC closes at exec, not at fork): the video
 * device among them, whose queue then stays busy after the camera closes
 * it, so the camera could not open it again. Consumers are other programs
 * in real life; here each child closes everything but stdio and @keep.
 */
static void close_inherited(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	int fds[256], n = 0;
	struct dirent *e;

	CHECK(d != NULL);
	while ((e = readdir(d)) && n < 256) {
		int fd = atoi(e->d_name);
		if (fd > 2 && fd != keep && fd != dirfd(d))
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static rkv_consumer *must_attach(const char *pool, struct rkv_consumer_opts o)
{
	char err[256] = "";
	rkv_consumer *c;
	int r;

	o.errbuf = err;
	o.errbuf_len = sizeof(err);
	r = rkv_consumer_attach(pool, &o, &c);
	if (r)
		FAIL("attach %s: %d (%s): %s", pool, r, strerror(-r), err);
	return c;
}

/* Check one view: geometry, the descriptor, the fd (zero-copy: a DMA-BUF,
 * read-only, the whole buffer; copy: none). */
static void check_view(const struct rkv_view *v, const struct want *w, int zc)
{
	CHECK_EQ(v->frame.fourcc, w->fourcc);
	CHECK_EQ(v->frame.width, w->width);
	CHECK_EQ(v->frame.height, w->height);
	CHECK_EQ(rkv_frame_check(&v->frame, v->capacity), 0);
	CHECK(v->data != NULL);
	if (zc) {
		CHECK(v->fd >= 0);
		CHECK_EQ(fcntl(v->fd, F_GETFL) & O_ACCMODE, O_RDONLY);
		CHECK_UINT(v->fd_offset, ==, 0);
	} else {
		CHECK_EQ(v->fd, -1);
	}
}

/* @n frames, each checked, sequence numbers rising. */
static int take_consumer(const char *pool, const struct want *w, int zc, int n)
{
	rkv_consumer *c = must_attach(pool, (struct rkv_consumer_opts){ .policy = RKV_POLICY_BLOCK });
	uint64_t last = 0;

	for (int i = 0; i < n; i++) {
		struct rkv_view v;
		int r = rkv_consumer_acquire(c, &v, 10 * SEC);
		if (r)
			FAIL("acquire %d: %d (%s)", i, r, strerror(-r));
		check_view(&v, w, zc);
		if (i)
			CHECK_UINT(v.frame.seq, >, last);
		last = v.frame.seq;
		CHECK_OK(rkv_consumer_release(c, &v));
	}
	printf("consumer: %d frames, checked, last seq %" PRIu64 "\n", n, last);
	rkv_consumer_detach(c);
	return 0;
}

/* Hold one frame (and a private copy of its bytes) for @ms while taking
 * every newer one; then the held bytes must be as they were. */
static int hold_consumer(const char *pool, const struct want *w, int ms)
{
	rkv_consumer *c = must_attach(pool, (struct rkv_consumer_opts){
		.policy = RKV_POLICY_LATEST, .max_held = 2 });
	struct rkv_view held, v;
	uint64_t others = 0, differ = 0;
	uint8_t *copy;
	int64_t until;

	CHECK_OK(rkv_consumer_acquire(c, &held, 10 * SEC));
	check_view(&held, w, 1);
	copy = malloc(held.frame.bytes_used);
	CHECK(copy != NULL);
	memcpy(copy, held.data, held.frame.bytes_used);
	uint64_t sum = fnv(copy, held.frame.bytes_used);
	until = test_now_ns() + ms * MS;
	while (test_now_ns() < until) {
		int r = rkv_consumer_acquire(c, &v, 2 * SEC);
		if (r)
			FAIL("acquire while holding: %d (%s)", r, strerror(-r));
		CHECK(v.slot != held.slot);
		CHECK_UINT(v.frame.seq, >, held.frame.seq);
		others++;
		differ += fnv(v.data, v.frame.bytes_used) != sum;
		CHECK_OK(rkv_consumer_release(c, &v));
	}
	if (memcmp(copy, held.data, held.frame.bytes_used) != 0)
		FAIL("the frame held in slot %u (seq %" PRIu64 ") changed while %" PRIu64
		     " more were published: its buffer went back to the driver", held.slot,
		     held.frame.seq, others);
	printf("consumer: held frame %" PRIu64 " (slot %u) unchanged for %d ms while %" PRIu64
	       " more came (%" PRIu64 " of them differ from it)\n", held.frame.seq, held.slot, ms,
	       others, differ);
	CHECK_UINT(others, >=, 5);
	CHECK_UINT(differ, ==, others); /* vivid moves: a rewrite would show */
	CHECK_OK(rkv_consumer_release(c, &held));
	free(copy);
	rkv_consumer_detach(c);
	return 0;
}

static pid_t spawn(int (*fn)(const char *, const struct want *, int), const char *pool,
		   const struct want *w, int arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close_inherited(-1);
		_exit(fn(pool, w, arg));
	}
	return pid;
}

static void reap(pid_t pid, const char *what)
{
	int st;

	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("%s failed (status %#x)", what, st);
}

static int take_zc(const char *pool, const struct want *w, int n)
{
	return take_consumer(pool, w, 1, n);
}

static int take_copy(const char *pool, const struct want *w, int n)
{
	return take_consumer(pool, w, 0, n);
}

/* ==== zerocopy ================================================================ */

static void zerocopy_case(const char *node, const struct want *w)
{
	struct rkv_camera_stats st;
	struct rkv_pool_stats ps;
	struct cam k;
	int fds = count_fds();

	ctl_set(node, "Horizontal Movement", 6); /* every frame differs */
	cam_start(&k, "zc", w);
	st = cam_stats(&k);
	printf("%s: %s\n", node, st.path);
	CHECK_EQ(st.zero_copy, 1);
	CHECK(strncmp(st.path, "zero-copy: ", 11) == 0);
	CHECK_EQ(st.buffers, 8 + 2); /* the default slots, + 2 for the driver */
	ps = pool_stats(&k);
	CHECK_EQ(ps.external, 1);
	CHECK_EQ(ps.slot_count, st.buffers);

	/* No consumer: every frame goes straight back to the driver. */
	WAIT_FOR(&k, st, 10000, st.published >= 10);
	for (int i = 0; i < 10; i++) {
		st = cam_stats(&k);
		CHECK_EQ(st.held, 0);
		usleep(20000);
	}
	ps = pool_stats(&k);
	CHECK_EQ(ps.slots_free, ps.slot_count);

	/* Frames with their DMA-BUF, checked. */
	reap(spawn(take_zc, k.name, w, 30), "consumer");

	/* A frame held for a second while capture runs on. */
	struct rkv_camera_stats before = cam_stats(&k);
	reap(spawn(hold_consumer, k.name, w, 1000), "holding consumer");
	st = cam_stats(&k);
	printf("camera: published %" PRIu64 " while a frame was held\n",
	       st.published - before.published);
	CHECK_UINT(st.published - before.published, >=, 5);

	/* All consumers gone: every buffer back at the driver. */
	WAIT_FOR(&k, st, 2000, st.held == 0);
	ps = pool_stats(&k);
	CHECK_EQ(ps.slots_free, ps.slot_count);
	CHECK_UINT(st.pool_dropped, ==, 0);
	CHECK_UINT(st.starved, ==, 0);
	CHECK_UINT(st.source_errors, ==, 0);
	printf("camera: captured %" PRIu64 ", published %" PRIu64 ", held now %u\n", st.captured,
	       st.published, st.held);
	cam_stop(&k);
	CHECK_EQ(count_fds(), fds);
	ctl_set(node, "Horizontal Movement", 3);
}

static void test_zerocopy(void)
{
	zerocopy_case(NODE_MP, &(struct want){ .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12,
		      .width = 640, .height = 480, .fps = 25 });
	zerocopy_case(NODE_SP, &(struct want){ .uri = "v4l2:/dev/video0", .fourcc = RKV_FMT_YUYV,
		      .width = 640, .height = 480, .fps = 25 });
}

/* ==== kill ==================================================================== */

/* Hold three frames, with two more queued (drop, depth 2), say so, and
 * wait to be killed. */
static int grab_consumer(const char *pool, const struct want *w, int wfd)
{
	rkv_consumer *c = must_attach(pool, (struct rkv_consumer_opts){
		.policy = RKV_POLICY_DROP, .queue_depth = 2, .max_held = 3 });
	struct rkv_view v[3];

	for (int i = 0; i < 3; i++) {
		CHECK_OK(rkv_consumer_acquire(c, &v[i], 10 * SEC));
		check_view(&v[i], w, 1);
	}
	CHECK(write(wfd, "x", 1) == 1);
	for (;;)
		pause();
}

static void test_kill(void)
{
	const struct want w = { .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12, .width = 640,
				.height = 480, .fps = 25 };
	struct rkv_camera_stats st;
	struct rkv_pool_stats ps;
	struct cam k;
	char reply[4096];
	int pfd[2], st_child;
	double r0, r1, r2;

	cam_start(&k, "kill", &w);
	WAIT_FOR(&k, st, 10000, st.published >= 10);
	r0 = capture_rate(&k, 2000);
	printf("capture alone: %.1f fps\n", r0);

	/* Beyond the budget: 8 slots for consumers less one, as on the copy
	 * path (the driver keeps two, the camera loans one). */
	{
		rkv_consumer *c;
		char err[256] = "";
		struct rkv_consumer_opts o = { .policy = RKV_POLICY_BLOCK, .queue_depth = 4,
					       .max_held = 4, .errbuf = err,
					       .errbuf_len = sizeof(err) };
		CHECK_ERR(rkv_consumer_attach(k.name, &o, &c), ENOSPC);
		printf("a consumer pinning 8 of 10 buffers: refused: %s\n", err);
	}

	CHECK(pipe(pfd) == 0);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close_inherited(pfd[1]);
		_exit(grab_consumer(k.name, &w, pfd[1]));
	}
	close(pfd[1]);
	char x;
	CHECK(read(pfd[0], &x, 1) == 1);
	close(pfd[0]);
	/* three held, two queued: five out of the driver */
	WAIT_FOR(&k, st, 5000, st.held == 5);
	ssize_t n = rkv_control_call(k.name, "{\"cmd\":\"status\"}", reply, sizeof(reply), 5 * SEC);
	CHECK_INT(n, >, 0);
	CHECK(strstr(reply, "\"held\":5") != NULL);
	CHECK(strstr(reply, "\"zero_copy\":true") != NULL);
	r1 = capture_rate(&k, 2000);
	st = cam_stats(&k);
	printf("capture while a consumer pins 5 buffers: %.1f fps (held %u)\n", r1, st.held);
	CHECK_EQ(st.held, 5);
	CHECK(r1 >= 0.7 * r0);

	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &st_child, 0) == pid && WIFSIGNALED(st_child));
	int64_t t0 = test_now_ns();
	WAIT_FOR(&k, st, 2000, st.held == 0);
	printf("killed: every buffer back at the driver after %.1f ms\n",
	       (double)(test_now_ns() - t0) / 1e6);
	ps = pool_stats(&k);
	CHECK_EQ(ps.consumers, 0);
	CHECK_EQ(ps.slots_free, ps.slot_count);
	r2 = capture_rate(&k, 2000);
	printf("capture after the kill: %.1f fps\n", r2);
	CHECK(r2 >= 0.7 * r0);
	/* and a new consumer gets every frame again */
	reap(spawn(take_zc, k.name, &w, 20), "consumer after the kill");
	st = cam_stats(&k);
	CHECK_UINT(st.starved, ==, 0);
	CHECK_UINT(st.source_errors, ==, 0);

	/* A re-queue the driver refuses (the buffer a consumer gave back
	 * cannot go back): the stream is over, the camera reopens, and with
	 * nobody attached makes its pool again, zero-copy. */
	ctl_set(NODE_MP, "Inject VIDIOC_QBUF Error", 0);
	WAIT_FOR(&k, st, 5000, st.source_errors == 1 && st.reopens == 1);
	printf("QBUF refused: errors 1, reopened\n");
	WAIT_FOR(&k, st, 5000, st.zero_copy == 1);
	reap(spawn(take_zc, k.name, &w, 10), "consumer after the QBUF error");
	CHECK_UINT(cam_stats(&k).reopens, ==, 1);
	cam_stop(&k);
}

/* ==== loss ==================================================================== */

/*
 * Attached across the camera's troubles: holds its first frame, takes
 * every newer one for @secs seconds, writing each one's sequence number
 * down @wfd. Acquire may time out while the source is down; anything else
 * fails. At the end the held frame must be as it was.
 */
static int loss_consumer(const char *pool, int wfd, int secs)
{
	rkv_consumer *c = must_attach(pool, (struct rkv_consumer_opts){
		.policy = RKV_POLICY_LATEST, .max_held = 2 });
	struct rkv_view held, v;
	int64_t until = test_now_ns() + secs * SEC;
	uint64_t got = 0, timeouts = 0;
	uint8_t *copy;

	CHECK_OK(rkv_consumer_acquire(c, &held, 10 * SEC));
	CHECK(held.fd >= 0);
	copy = malloc(held.frame.bytes_used);
	CHECK(copy != NULL);
	memcpy(copy, held.data, held.frame.bytes_used);
	while (test_now_ns() < until) {
		int r = rkv_consumer_acquire(c, &v, 500 * MS);
		if (r == -ETIMEDOUT) {
			timeouts++;
			continue;
		}
		if (r)
			FAIL("consumer: acquire: %d (%s) after %" PRIu64 " frames", r, strerror(-r), got);
		CHECK_EQ(v.frame.fourcc, RKV_FMT_NV12);
		CHECK_EQ(rkv_frame_check(&v.frame, v.capacity), 0);
		CHECK(v.fd >= 0); /* the first device's buffers, all along */
		got++;
		CHECK(write(wfd, &v.frame.seq, sizeof(v.frame.seq)) == sizeof(v.frame.seq));
		CHECK_OK(rkv_consumer_release(c, &v));
	}
	if (memcmp(copy, held.data, held.frame.bytes_used) != 0)
		FAIL("consumer: the frame held across the losses changed");
	printf("consumer: %" PRIu64 " frames, %" PRIu64 " half-second waits with none; the frame "
	       "held since the start is unchanged\n", got, timeouts);
	CHECK_OK(rkv_consumer_release(c, &held));
	rkv_consumer_detach(c);
	free(copy);
	return 0;
}

/* Frames the consumer reported since the last call (its pipe, drained). */
static uint64_t consumer_frames(int rfd)
{
	uint64_t seq, n = 0;

	while (read(rfd, &seq, sizeof(seq)) == (ssize_t)sizeof(seq))
		n++;
	return n;
}

/* Wait up to @ms for the consumer to report @n more frames. */
static void consumer_progress(int rfd, uint64_t n, int ms, const char *when)
{
	uint64_t got = 0;
	int64_t until = test_now_ns() + ms * MS;

	while (got < n) {
		if (test_now_ns() > until)
			FAIL("%s: the consumer got %" PRIu64 " frames in %d ms, wanted %" PRIu64, when,
			     got, ms, n);
		usleep(20000);
		got += consumer_frames(rfd);
	}
	printf("%s: the consumer gets frames\n", when);
}

static void test_loss(void)
{
	const struct want w = { .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12, .width = 640,
				.height = 480, .fps = 25 };
	struct rkv_camera_stats st;
	struct cam k;
	int pfd[2];
	char reply[4096];

	ctl_set(NODE_MP, "Horizontal Movement", 6);
	cam_start(&k, "loss", &w);
	st = cam_stats(&k);
	CHECK_EQ(st.zero_copy, 1);
	CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close_inherited(pfd[1]);
		_exit(loss_consumer(k.name, pfd[1], 14));
	}
	close(pfd[1]);
	CHECK(fcntl(pfd[0], F_SETFL, O_NONBLOCK) == 0);
	consumer_progress(pfd[0], 5, 10000, "before");

	/* 1. a disconnect while zero-copy runs (every ioctl ENODEV): the
	 * camera closes the source; vivid registers the node again once its
	 * last file is closed (the buffers' DMA-BUFs, which the pool keeps,
	 * do not hold it), and the camera opens it again. */
	ctl_set(NODE_MP, "Disconnect", 0);
	WAIT_FOR(&k, st, 5000, st.source_errors == 1);
	printf("disconnect: errors 1\n");
	/* the camera answers meanwhile */
	CHECK_INT(rkv_control_call(k.name, "{\"cmd\":\"status\"}", reply, sizeof(reply), 5 * SEC),
		  >, 0);
	WAIT_FOR(&k, st, 8000, st.reopens == 1);
	printf("disconnect: the node came back, reopened; %s\n", st.path);
	CHECK_EQ(st.zero_copy, 0);
	CHECK(strstr(st.path, "copy: the source broke") != NULL);
	CHECK_EQ(st.held, 0);
	consumer_frames(pfd[0]);
	consumer_progress(pfd[0], 5, 5000, "after the disconnect");
	CHECK_EQ(pool_stats(&k).consumers, 1); /* the same attachment */

	/* 2. a fatal streaming error, now on the copy path into the first
	 * device's buffers: the device stays, the stream broke */
	ctl_set(NODE_MP, "Inject Fatal Streaming Error", 0);
	WAIT_FOR(&k, st, 5000, st.source_errors == 2 && st.reopens == 2);
	printf("fatal streaming error: errors 2, reopened\n");
	CHECK_EQ(st.zero_copy, 0);
	consumer_frames(pfd[0]);
	consumer_progress(pfd[0], 5, 5000, "after the streaming error");
	CHECK_EQ(pool_stats(&k).consumers, 1);

	reap(pid, "consumer across the losses");
	close(pfd[0]);

	/* 3. nobody attached any more: the camera makes the pool again on
	 * the device's new buffers, zero-copy */
	WAIT_FOR(&k, st, 5000, st.zero_copy == 1);
	printf("no consumer: %s\n", st.path);
	CHECK(strncmp(st.path, "zero-copy: ", 11) == 0);
	CHECK_UINT(st.reopens, ==, 2); /* not a reopen after an error */
	reap(spawn(take_zc, k.name, &w, 10), "consumer of the new pool");
	st = cam_stats(&k);
	printf("camera: captured %" PRIu64 ", published %" PRIu64 ", errors %" PRIu64
	       ", reopens %" PRIu64 "\n", st.captured, st.published, st.source_errors, st.reopens);
	cam_stop(&k);
	ctl_set(NODE_MP, "Horizontal Movement", 3);
}

/* ==== copy ==================================================================== */

static void test_copy(void)
{
	const struct want w = { .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12, .width = 640,
				.height = 480, .fps = 25, .flags = RKV_CAMERA_COPY };
	struct rkv_camera_stats st;
	struct cam k;
	char reply[4096];

	cam_start(&k, "copy", &w);
	st = cam_stats(&k);
	printf("copy asked for: %s\n", st.path);
	CHECK_EQ(st.zero_copy, 0);
	CHECK_STR(st.path, "copy: asked for (RKV_CAMERA_COPY)");
	CHECK_EQ(st.buffers, 0);
	CHECK_EQ(pool_stats(&k).external, 0);
	CHECK_INT(rkv_control_call(k.name, "{\"cmd\":\"status\"}", reply, sizeof(reply), 5 * SEC),
		  >, 0);
	CHECK(strstr(reply, "\"path\":\"copy: asked for (RKV_CAMERA_COPY)\"") != NULL);
	CHECK(strstr(reply, "\"zero_copy\":false") != NULL);
	reap(spawn(take_copy, k.name, &w, 30), "consumer");
	st = cam_stats(&k);
	CHECK_UINT(st.published, >=, 30);
	cam_stop(&k);
}

/* ==== bench =================================================================== */

/* A consumer that takes every frame and gives it back at once, without
 * mapping it (its costs are not the camera's). */
static int bench_consumer(const char *pool, const struct want *w, int secs)
{
	rkv_consumer *c = must_attach(pool, (struct rkv_consumer_opts){
		.policy = RKV_POLICY_LATEST, .flags = RKV_CONSUMER_NO_MAP });
	int64_t until = test_now_ns() + secs * SEC;

	(void)w;
	while (test_now_ns() < until) {
		struct rkv_view v;
		if (rkv_consumer_acquire(c, &v, 500 * MS) == 0)
			rkv_consumer_release(c, &v);
	}
	rkv_consumer_detach(c);
	return 0;
}

static int64_t thread_cpu_ns(pthread_t t)
{
	clockid_t id;
	struct timespec ts;

	CHECK_EQ(pthread_getcpuclockid(t, &id), 0);
	CHECK_EQ(clock_gettime(id, &ts), 0);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* The camera thread's CPU time per published frame over @secs seconds,
 * after one to settle, with one consumer attached or none. */
static double bench_path(uint32_t flags, int consumer, int secs, uint64_t *frames)
{
	const struct want w = { .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12, .width = 1280,
				.height = 720, .fps = 10, .flags = flags };
	struct rkv_camera_stats a, b;
	struct cam k;
	pid_t pid = -1;

	cam_start(&k, "bench", &w);
	if (consumer)
		pid = spawn(bench_consumer, k.name, &w, secs + 2);
	WAIT_FOR(&k, a, 10000, a.published >= 5);
	usleep(1000000);
	a = cam_stats(&k);
	int64_t c0 = thread_cpu_ns(k.thread);
	usleep((useconds_t)secs * 1000000);
	int64_t c1 = thread_cpu_ns(k.thread);
	b = cam_stats(&k);
	if (consumer)
		reap(pid, "bench consumer");
	CHECK_EQ(b.zero_copy, flags ? 0 : 1);
	cam_stop(&k);
	*frames = b.published - a.published;
	CHECK_UINT(*frames, >, 0);
	return (double)(c1 - c0) / (double)*frames;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Under TCG the guest's clocks run with the host's, so a vCPU the busy
 * host leaves waiting makes the guest's threads look as if they ran:
 * rounds alternate the two paths, and the least and the median of each
 * are shown (the least is the one to compare).
 */
static void bench(void)
{
	enum { ROUNDS = 5, SECS = 3 };

	printf("camera thread CPU time per published frame, 1280x720 NV12 at 10 fps, /dev/video1 "
	       "(dma-contig), %d rounds of %d s:\n", ROUNDS, SECS);
	for (int consumer = 0; consumer < 2; consumer++) {
		double zc[ROUNDS], cp[ROUNDS];
		uint64_t n;
		for (int i = 0; i < ROUNDS; i++) {
			zc[i] = bench_path(0, consumer, SECS, &n) / 1e3;
			cp[i] = bench_path(RKV_CAMERA_COPY, consumer, SECS, &n) / 1e3;
			printf("    round %d: zero-copy %7.1f us, copy %7.1f us (%" PRIu64 " frames)\n", i,
			       zc[i], cp[i], n);
		}
		qsort(zc, ROUNDS, sizeof(double), cmp_double);
		qsort(cp, ROUNDS, sizeof(double), cmp_double);
		printf("  %-20s least: zero-copy %7.1f us, copy %7.1f us, zero-copy / copy = %.3f; "
		       "median: %7.1f / %7.1f = %.3f\n", consumer ? "one latest consumer:" : "no consumer:",
		       zc[0], cp[0], zc[0] / cp[0], zc[ROUNDS / 2], cp[ROUNDS / 2],
		       zc[ROUNDS / 2] / cp[ROUNDS / 2]);
	}
}

int main(int argc, char **argv)
{
	struct stat sb;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc != 2) {
		fprintf(stderr, "usage: %s zerocopy|kill|loss|copy|bench\n", argv[0]);
		return 2;
	}
	if (stat(NODE_SP, &sb) < 0 || stat(NODE_MP, &sb) < 0) {
		printf("no %s and %s: not in the test VM\n", NODE_SP, NODE_MP);
		return TEST_SKIP;
	}
	test_watchdog(300);
	if (strcmp(argv[1], "zerocopy") == 0)
		test_zerocopy();
	else if (strcmp(argv[1], "kill") == 0)
		test_kill();
	else if (strcmp(argv[1], "loss") == 0)
		test_loss();
	else if (strcmp(argv[1], "copy") == 0)
		test_copy();
	else if (strcmp(argv[1], "bench") == 0)
		bench();
	else
		FAIL("unknown scenario %s", argv[1]);
	printf("camera_v4l2 %s: ok\n", argv[1]);
	return 0;
}
