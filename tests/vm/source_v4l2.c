/* SPDX-License-Identifier: MIT */
/*
 * source_v4l2.c - the v4l2 source against vivid, inside the test VM
 * (tests/vm/run.sh: /dev/video0 single-planar vmalloc, /dev/video1
 * multi-planar dma-contig). One scenario per run, named by argv[1]:
 *
 *   capture   the default format; YUYV and NV12 on the single-planar node,
 *             NV12 (and NV12M, two memory planes, copy path only) on the
 *             multi-planar one: geometry, rkv_frame_check, rising sequence
 *             numbers and timestamps, sequence accounting; a by-id link;
 *             formats, sizes and rates the device refuses (-ENOTSUP, and
 *             errbuf lists what it offers); MJPEG where vivid has it.
 *   zerocopy  the buffers exported into a pool (read-write for the
 *             producer, read-only for consumers), each frame published in
 *             its own buffer's slot and given back to the driver only when
 *             rkv_producer_loan_slot() says no consumer has it: a consumer
 *             in another process holds a frame while capture runs on
 *             (vivid moving its picture, so every frame differs) and finds
 *             its bytes unchanged; a consumer SIGKILLed while holding
 *             buffers, which then go back to the driver.
 *   errors    vivid's error injection: V4L2_BUF_FLAG_ERROR and dropped
 *             buffers (stats.dropped), a fatal streaming error (and the
 *             reopen with a forked child alive), a failed
 *             QBUF, STREAMON and REQBUFS, and a disconnect (-ENODEV,
 *             stats.errors; close, then open again).
 *
 * Exits 0, 1 on the first failed check, 77 without vivid (on the host).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include <rkv/pool.h>
#include <rkv/source.h>

#include "source/v4l2.h"
#include "test.h"
#include "vmtest.h"

#define SEC 1000000000LL

/* The formats @node lists. */
static int node_offers(const char *node, uint32_t pixfmt)
{
	int fd = open(node, O_RDWR | O_CLOEXEC), found = 0;
	struct v4l2_capability cap;

	CHECK(fd >= 0);
	memset(&cap, 0, sizeof(cap));
	CHECK(ioctl(fd, VIDIOC_QUERYCAP, &cap) == 0);
	uint32_t type = (cap.device_caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE)
				? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
				: V4L2_BUF_TYPE_VIDEO_CAPTURE;
	for (uint32_t i = 0;; i++) {
		struct v4l2_fmtdesc d = { .index = i, .type = type };
		if (ioctl(fd, VIDIOC_ENUM_FMT, &d) < 0)
			break;
		found |= d.pixelformat == pixfmt;
	}
	close(fd);
	return found;
}

/* ---- leaks ------------------------------------------------------------------ */

/* Mappings of a video device (not all of them: the sanitizers' allocators
 * map and unmap as they please). */
static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/dev/video") != NULL;
	fclose(f);
	return n;
}

/* ---- opening and streaming ------------------------------------------------- */

struct want {
	const char *uri;
	uint32_t fourcc, width, height, fps;
	uint32_t buffers, flags;
};

static int open_src(const struct want *w, rkv_source **s, struct rkv_source_info *info,
		    char *err, size_t errlen)
{
	struct rkv_source_config cfg = {
		.size = sizeof(cfg), .fourcc = w->fourcc, .width = w->width, .height = w->height,
		.fps_num = w->fps, .fps_den = 1, .buffers = w->buffers, .flags = w->flags,
		.uri = w->uri, .errbuf = err, .errbuf_len = errlen,
	};

	err[0] = '\0';
	return rkv_source_open(&cfg, s, info);
}

static rkv_source *must_open(const struct want *w, struct rkv_source_info *info)
{
	char err[1024];
	rkv_source *s;
	int r = open_src(w, &s, info, err, sizeof(err));

	if (r)
		FAIL("open %s: %d (%s): %s", w->uri, r, strerror(-r), err);
	if (err[0])
		printf("  note: %s\n", err);
	return s;
}

static void print_info(const char *what, const struct rkv_source_info *i)
{
	char b[5];

	printf("%s: %s %s %ux%u @%u/%u, %u exported buffers, frames up to %" PRIu64
	       " bytes, %u planes", what, i->device, rkv_fourcc_str(i->fourcc, b), i->width,
	       i->height, i->fps_num, i->fps_den, i->nbufs, i->frame_size, i->layout.num_planes);
	for (uint32_t k = 0; k < i->layout.num_planes; k++)
		printf(" [%" PRIu64 " +%u x %" PRIu64 "]", i->layout.planes[k].offset,
		       i->layout.planes[k].stride, i->layout.planes[k].size);
	printf("\n");
}

/*
 * Take @n frames, check each, give it back. Frames must be of @info's
 * format and size, pass rkv_frame_check, have sequence numbers and
 * timestamps that rise (timestamps CLOCK_MONOTONIC: within a second of
 * now), and the counters must add up: every sequence
 * number from the first to the last is a frame handed out or one the
 * source counted as dropped.
 */
static void stream_check(rkv_source *s, const struct rkv_source_info *info, int n)
{
	struct rkv_source_stats st0, st;
	uint64_t first_seq = 0, last_seq = 0;
	int64_t last_ts = 0;

	for (int i = 0; i < n; i++) {
		struct rkv_source_frame f;
		int r = rkv_source_next(s, &f, 10 * SEC);
		int64_t now = test_now_ns();

		if (r)
			FAIL("frame %d: next = %d (%s)", i, r, strerror(-r));
		CHECK_EQ(f.frame.fourcc, info->fourcc);
		CHECK_EQ(f.frame.width, info->width);
		CHECK_EQ(f.frame.height, info->height);
		CHECK_EQ(rkv_frame_check(&f.frame, info->frame_size), 0);
		CHECK(f.data != NULL);
		CHECK(f.frame.bytes_used > 0);
		if (info->nbufs)
			CHECK(f.buf >= 0 && (uint32_t)f.buf < info->nbufs);
		else
			CHECK_EQ(f.buf, -1);
		for (uint32_t k = 0; k < f.frame.num_planes; k++) {
			CHECK_UINT(f.frame.planes[k].offset, ==, info->layout.planes[k].offset);
			CHECK_UINT(f.frame.planes[k].stride, ==, info->layout.planes[k].stride);
		}
		/* CLOCK_MONOTONIC: near now (vivid stamps the ideal time of
		 * each frame, which under TCG may be a little ahead) */
		CHECK_INT(f.frame.timestamp_ns, <, now + SEC);
		CHECK_INT(f.frame.timestamp_ns, >, now - SEC);
		if (i == 0) {
			/* what was dropped before the first frame is not in
			 * the sequence span counted below */
			CHECK_OK(rkv_source_stats(s, &st0, sizeof(st0)));
			first_seq = f.frame.seq;
		} else {
			CHECK_UINT(f.frame.seq, >, last_seq);
			CHECK_INT(f.frame.timestamp_ns, >, last_ts);
		}
		last_seq = f.frame.seq;
		last_ts = f.frame.timestamp_ns;
		CHECK_OK(rkv_source_done(s, &f));
	}
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	CHECK_UINT(st.frames - st0.frames, ==, (uint64_t)n - 1);
	CHECK_UINT(last_seq - first_seq + 1, ==, (uint64_t)n + (st.dropped - st0.dropped));
	CHECK_UINT(st.errors, ==, 0);
	CHECK_UINT(st.reopens, ==, 0);
}

/* Open, stream @n frames with stream_check(), close; no fd or mapping
 * left behind. */
static void capture_case(const char *what, const struct want *w, int n,
			 struct rkv_source_info *out)
{
	struct rkv_source_info info;
	struct rkv_source_stats st;
	int fds = count_fds(), maps = count_maps();
	rkv_source *s = must_open(w, &info);
	int64_t t0;

	print_info(what, &info);
	CHECK_STR(info.backend, "v4l2");
	if (w->fourcc)
		CHECK_EQ(info.fourcc, w->fourcc);
	if (w->width)
		CHECK(info.width == w->width && info.height == w->height);
	CHECK_EQ(rkv_frame_check(&info.layout, info.frame_size), 0);
	CHECK_INT(rkv_source_fd(s), >=, 0);
	CHECK_OK(rkv_source_start(s));
	t0 = test_now_ns();
	stream_check(s, &info, n);
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	printf("  %d frames in %.2f s, %" PRIu64 " dropped\n", n,
	       (double)(test_now_ns() - t0) / 1e9, st.dropped);
	CHECK_OK(rkv_source_stop(s));
	rkv_source_close(s);
	CHECK_EQ(count_fds(), fds);
	CHECK_EQ(count_maps(), maps);
	if (out)
		*out = info;
}

/* ==== capture ============================================================== */

static void check_refused(const struct want *w, const char *must1, const char *must2)
{
	char err[1024];
	struct rkv_source_info info;
	rkv_source *s = NULL;
	int r = open_src(w, &s, &info, err, sizeof(err));

	if (r != -ENOTSUP)
		FAIL("open %s wanted -ENOTSUP, got %d (%s): %s", w->uri, r, strerror(-r), err);
	CHECK(s == NULL);
	printf("  refused: %s\n", err);
	if (!strstr(err, "offers ") || !strstr(err, must1) || (must2 && !strstr(err, must2)))
		FAIL("errbuf does not say '%s'%s%s and what the device offers", must1,
		     must2 ? " and " : "", must2 ? must2 : "");
}

/* Frames of the same still picture through NV12 (one buffer) and NV12M
 * (two, mapped side by side by the source): plane by plane the same. */
static void nv12m_case(void)
{
	struct want w = { .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12, .width = 320,
			  .height = 180, .fps = 30, .buffers = 3 };
	struct rkv_source_info i1, i2;
	struct rkv_source_frame f1, f2, extra;
	rkv_source *s1, *s2;
	int fds[8];

	ctl_set(NODE_MP, "Horizontal Movement", 3); /* 3: no movement */
	ctl_set(NODE_MP, "OSD Text Mode", 2);       /* 2: no text (it has counters) */
	s1 = must_open(&w, &i1);
	CHECK_OK(rkv_source_start(s1));
	CHECK_OK(rkv_source_next(s1, &f1, 10 * SEC));

	rkv__v4l2_prefer_multibuffer = 1;
	s2 = NULL;
	{
		char err[1024];
		int r = open_src(&w, &s2, &i2, err, sizeof(err));
		/* the first source still has the device's buffers */
		CHECK_EQ(r, -EBUSY);
		CHECK(strstr(err, "in use") != NULL);
		printf("  a second open while the first streams: -EBUSY: %s\n", err);
	}
	/* keep a copy of the one-buffer frame, and let that source go */
	uint8_t *copy = malloc(f1.frame.bytes_used);
	struct rkv_frame fr1 = f1.frame;
	CHECK(copy != NULL);
	memcpy(copy, f1.data, f1.frame.bytes_used);
	CHECK_OK(rkv_source_done(s1, &f1));
	rkv_source_close(s1);

	{
		/* the open says why there is nothing to export (a camera
		 * shows it as the reason it copies) */
		char err[1024];
		int r = open_src(&w, &s2, &i2, err, sizeof(err));
		if (r)
			FAIL("open NV12M: %d: %s", r, err);
		printf("  note: %s\n", err);
		CHECK(strstr(err, "not exported (2 memory planes a frame)") != NULL);
	}
	rkv__v4l2_prefer_multibuffer = 0;
	print_info("NV12M (multi-planar node, two memory planes)", &i2);
	CHECK_EQ(i2.fourcc, RKV_FMT_NV12);
	CHECK_EQ(i2.nbufs, 0); /* two fds a frame: not exported */
	CHECK_ERR(rkv_source_export(s2, fds, NULL, 3), EINVAL);
	CHECK_ERR(rkv_source_export_ro(s2, fds, 0), ENOTSUP);
	CHECK(i2.layout.planes[1].offset % (uint64_t)sysconf(_SC_PAGESIZE) == 0);
	CHECK_OK(rkv_source_start(s2));
	stream_check(s2, &i2, 5);
	CHECK_OK(rkv_source_next(s2, &f2, 10 * SEC));
	/* copy path: one frame out at a time */
	CHECK_ERR(rkv_source_next(s2, &extra, 0), EBUSY);
	for (uint32_t k = 0; k < 2; k++) {
		const struct rkv_plane *a = &fr1.planes[k], *b = &f2.frame.planes[k];
		uint32_t rows = k ? (fr1.height + 1) / 2 : fr1.height;
		for (uint32_t y = 0; y < rows; y++)
			if (memcmp(copy + a->offset + (uint64_t)y * a->stride,
				   (const uint8_t *)f2.data + b->offset + (uint64_t)y * b->stride,
				   fr1.width) != 0)
				FAIL("NV12M plane %u row %u differs from NV12's", k, y);
	}
	printf("  NV12M frame equals the NV12 frame of the same picture, plane by plane\n");
	free(copy);
	CHECK_OK(rkv_source_done(s2, &f2));
	rkv_source_close(s2);
	ctl_set(NODE_MP, "OSD Text Mode", 0);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* Give back every frame that is ready now; -EAGAIN once none is. */
static void drain(rkv_source *s)
{
	struct rkv_source_frame f;
	int r;

	while ((r = rkv_source_next(s, &f, 0)) == 0)
		CHECK_OK(rkv_source_done(s, &f));
	CHECK_ERR(r, EAGAIN);
}

/* next()'s waits, at 5 frames a second: no wait (-EAGAIN), a short limit
 * (-ETIMEDOUT), a signal while it waits (-EINTR). A frame may still slip
 * in first, so each is tried a few times. */
static void waits_case(void)
{
	struct want w = { .uri = "v4l2:/dev/video0", .fourcc = RKV_FMT_NV12, .width = 1920,
			  .height = 1080, .fps = 5, .buffers = 2 };
	struct sigaction sa;
	struct rkv_source_info info;
	struct rkv_source_frame f;
	rkv_source *s = must_open(&w, &info);
	int r = 0, tries;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART; it would not matter */
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK_OK(rkv_source_start(s));
	CHECK_OK(rkv_source_next(s, &f, 10 * SEC));
	CHECK_OK(rkv_source_done(s, &f));
	for (tries = 0; tries < 5; tries++) {
		drain(s);
		r = rkv_source_next(s, &f, 1000000);
		if (r != 0)
			break;
		CHECK_OK(rkv_source_done(s, &f));
	}
	CHECK_ERR(r, ETIMEDOUT);
	for (tries = 0; tries < 5; tries++) {
		pid_t parent = getpid(), pid;
		drain(s);
		fflush(stdout);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			usleep(20000);
			kill(parent, SIGUSR1);
			_exit(0);
		}
		r = rkv_source_next(s, &f, 10 * SEC);
		CHECK(waitpid(pid, NULL, 0) == pid);
		if (r != 0)
			break;
		CHECK_OK(rkv_source_done(s, &f));
	}
	CHECK_ERR(r, EINTR);
	stream_check(s, &info, 3); /* and it goes on */
	printf("waits: -EAGAIN without a wait, -ETIMEDOUT after 1 ms, -EINTR on a signal\n");
	rkv_source_close(s);
	signal(SIGUSR1, SIG_DFL);
}

static void test_capture(void)
{
	struct rkv_source_info info;
	struct v4l2_format cur;
	int fd;

	/* The default (fourcc, size 0): whatever the device has now. */
	fd = open(NODE_SP, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	memset(&cur, 0, sizeof(cur));
	cur.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	CHECK(ioctl(fd, VIDIOC_G_FMT, &cur) == 0);
	close(fd);
	capture_case("default", &(struct want){ .uri = "v4l2:/dev/video0" }, 10, &info);
	CHECK_EQ(info.fourcc, cur.fmt.pix.pixelformat); /* vivid starts with YUYV */
	CHECK_EQ(info.width, cur.fmt.pix.width);
	CHECK_EQ(info.height, cur.fmt.pix.height);
	CHECK_EQ(info.nbufs, 4);

	capture_case("YUYV, single-planar", &(struct want){ .uri = "v4l2:/dev/video0",
		     .fourcc = RKV_FMT_YUYV, .width = 640, .height = 480, .fps = 25 }, 20, &info);
	CHECK_EQ(info.layout.planes[0].stride, 1280);
	capture_case("NV12, single-planar", &(struct want){ .uri = "/dev/video0",
		     .fourcc = RKV_FMT_NV12, .width = 640, .height = 480, .fps = 25,
		     .buffers = 3 }, 20, &info);
	CHECK_EQ(info.nbufs, 3);
	CHECK_UINT(info.layout.planes[1].offset, ==, 640 * 480);
	capture_case("NV12, multi-planar", &(struct want){ .uri = "v4l2:/dev/video1",
		     .fourcc = RKV_FMT_NV12, .width = 1280, .height = 720, .fps = 10,
		     .buffers = 6 }, 10, &info);
	CHECK_EQ(info.nbufs, 6);
	CHECK_UINT(info.layout.planes[1].offset, ==, 1280 * 720);
	capture_case("I420, multi-planar", &(struct want){ .uri = "v4l2:/dev/video1",
		     .fourcc = RKV_FMT_I420, .width = 640, .height = 360, .fps = 30 }, 10, &info);
	CHECK_EQ(info.layout.num_planes, 3);
	capture_case("YUYV without export", &(struct want){ .uri = "v4l2:/dev/video1",
		     .fourcc = RKV_FMT_YUYV, .width = 320, .height = 180, .fps = 60,
		     .flags = RKV_SOURCE_NO_EXPORT }, 10, &info);
	CHECK_EQ(info.nbufs, 0);
	nv12m_case();
	waits_case();

	/* by-id: a link (no udev in the VM: made here), and a bare name */
	mkdir("/dev/v4l", 0755);
	mkdir("/dev/v4l/by-id", 0755);
	unlink("/dev/v4l/by-id/rkv-vivid-video-index0");
	CHECK(symlink("../../video0", "/dev/v4l/by-id/rkv-vivid-video-index0") == 0);
	capture_case("by-id link", &(struct want){ .uri = "v4l2:/dev/v4l/by-id/rkv-vivid-video-index0",
		     .fourcc = RKV_FMT_GREY, .width = 320, .height = 180, .fps = 30 }, 5, &info);
	CHECK_STR(info.device, "/dev/video0");
	capture_case("by-id name", &(struct want){ .uri = "v4l2:rkv-vivid-video-index0",
		     .fourcc = RKV_FMT_RGB24, .width = 320, .height = 180, .fps = 30 }, 5, &info);
	CHECK_STR(info.device, "/dev/video0");

	/* what the device refuses */
	check_refused(&(struct want){ .uri = "v4l2:/dev/video0", .fourcc = RKV_FMT_H264 },
		      "no H264", "YUYV");
	check_refused(&(struct want){ .uri = "v4l2:/dev/video0", .fourcc = RKV_FMT_YUYV,
		      .width = 1000, .height = 1000, .fps = 5 }, "1000x1000", "640x480@25");
	check_refused(&(struct want){ .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12,
		      .width = 640, .height = 480, .fps = 30 }, "at 30 fps", "NV12");
	check_refused(&(struct want){ .uri = "v4l2:/dev/video0", .fourcc = RKV_FMT_NV12,
		      .width = 1920, .height = 1080, .fps = 1000 }, "1000 fps", "1920x1080@5");

	/* MJPEG: only if vivid has it (Debian 12's does not) */
	if (node_offers(NODE_SP, V4L2_PIX_FMT_MJPEG) || node_offers(NODE_SP, V4L2_PIX_FMT_JPEG)) {
		capture_case("MJPEG", &(struct want){ .uri = "v4l2:/dev/video0",
			     .fourcc = RKV_FMT_JPEG }, 10, &info);
	} else {
		check_refused(&(struct want){ .uri = "v4l2:/dev/video0", .fourcc = RKV_FMT_JPEG },
			      "no JPEG", NULL);
		printf("vivid offers no MJPEG or JPEG: the truncated-JPEG check is unit_source_v4l2's\n");
	}
}

/* ==== zerocopy =============================================================== */

#define ZC_BUFS 6

struct zc {
	rkv_source *s;
	struct rkv_source_info info;
	rkv_producer *p;
	const char *pool;
	struct rkv_source_frame pending[ZC_BUFS]; /* published, not yet back at the driver */
	int is_pending[ZC_BUFS];
	uint64_t published, requeued_later, same;
	uint64_t last_sum;
};

/* Give back to the driver every pending buffer no consumer has any more. */
static void zc_requeue(struct zc *z)
{
	for (uint32_t i = 0; i < z->info.nbufs; i++) {
		struct rkv_loan l;
		int r;
		if (!z->is_pending[i])
			continue;
		r = rkv_producer_loan_slot(z->p, i, &l);
		if (r == -EBUSY) {
			z->requeued_later++;
			continue;
		}
		CHECK_OK(r);
		/* Free in the pool's books: nobody can take it (slots are
		 * only ever loaned by number, here), so it may go to the
		 * driver without a loan that would count against max_loans. */
		CHECK_OK(rkv_producer_cancel(z->p, &l));
		CHECK_OK(rkv_source_done(z->s, &z->pending[i]));
		z->is_pending[i] = 0;
	}
}

/* Publish the next frame; returns its buffer, or -1 if none came. */
static int zc_step(struct zc *z)
{
	struct pollfd pf[2] = { { .fd = rkv_source_fd(z->s), .events = POLLIN },
				{ .fd = rkv_producer_fd(z->p), .events = POLLIN } };
	struct rkv_source_frame f;
	struct rkv_loan l;
	int r, buf;

	r = poll(pf, 2, 5000);
	CHECK_INT(r, >, 0);
	zc_requeue(z);
	r = rkv_source_next(z->s, &f, 0);
	if (r == -EAGAIN || r == -EBUSY)
		return -1;
	CHECK_OK(r);
	buf = f.buf;
	CHECK(buf >= 0 && (uint32_t)buf < z->info.nbufs && !z->is_pending[buf]);
	/* at the driver until now, so no consumer has it */
	CHECK_OK(rkv_producer_loan_slot(z->p, (uint32_t)buf, &l));
	CHECK_EQ(l.slot, buf);
	struct rkv_frame fr = f.frame;
	fr.user = fnv(f.data, f.frame.bytes_used);
	z->same += fr.user == z->last_sum;
	z->last_sum = fr.user;
	r = rkv_producer_publish(z->p, &l, &fr);
	CHECK_INT(r, >=, 0);
	z->published++;
	z->pending[buf] = f;
	z->is_pending[buf] = 1;
	zc_requeue(z);
	return buf;
}

/* Consumer: hold one frame (and a private copy of its bytes) while taking
 * @more frames after it, then compare. */
static int hold_consumer(const char *pool, int more)
{
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_LATEST, .max_held = 2 };
	char err[256];
	struct rkv_view held, v;
	rkv_consumer *c;
	uint8_t *copy;
	int r, got = 0;

	o.errbuf = err;
	o.errbuf_len = sizeof(err);
	r = rkv_consumer_attach(pool, &o, &c);
	if (r)
		FAIL("attach: %d: %s", r, err);
	CHECK_OK(rkv_consumer_acquire(c, &held, 10 * SEC));
	CHECK(held.fd >= 0 && (fcntl(held.fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	CHECK_EQ(fnv(held.data, held.frame.bytes_used), held.frame.user);
	copy = malloc(held.frame.bytes_used);
	CHECK(copy != NULL);
	memcpy(copy, held.data, held.frame.bytes_used);
	while (got < more) {
		r = rkv_consumer_acquire(c, &v, 10 * SEC);
		if (r)
			FAIL("acquire after %d frames: %d", got, r);
		CHECK_UINT(v.frame.seq, >, held.frame.seq);
		if (fnv(v.data, v.frame.bytes_used) != v.frame.user)
			FAIL("frame %" PRIu64 " in slot %u changed after it was published",
			     v.frame.seq, v.slot);
		CHECK_OK(rkv_consumer_release(c, &v));
		got++;
	}
	if (memcmp(copy, held.data, held.frame.bytes_used) != 0 ||
	    fnv(held.data, held.frame.bytes_used) != held.frame.user)
		FAIL("the frame held in slot %u (seq %" PRIu64 ") changed while %d more were "
		     "captured: its buffer went back to the driver", held.slot, held.frame.seq, got);
	printf("consumer: held frame %" PRIu64 " (slot %u) unchanged across %d more frames\n",
	       held.frame.seq, held.slot, got);
	CHECK_OK(rkv_consumer_release(c, &held));
	free(copy);
	rkv_consumer_detach(c);
	return 0;
}

/* Consumer: hold 3 frames, say which slots, and wait to be killed. */
static void grab_consumer(const char *pool, int wfd)
{
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_LATEST, .max_held = 3 };
	struct rkv_view v[3];
	rkv_consumer *c;
	uint8_t slots[3];

	CHECK_OK(rkv_consumer_attach(pool, &o, &c));
	for (int i = 0; i < 3; i++) {
		CHECK_OK(rkv_consumer_acquire(c, &v[i], 10 * SEC));
		slots[i] = (uint8_t)v[i].slot;
	}
	CHECK(write(wfd, slots, 3) == 3);
	for (;;)
		pause();
}

static void test_zerocopy(void)
{
	struct want w = { .uri = "v4l2:/dev/video1", .fourcc = RKV_FMT_NV12, .width = 640,
			  .height = 480, .fps = 25, .buffers = ZC_BUFS };
	int rw[ZC_BUFS], ro[ZC_BUFS], fds_before = count_fds();
	uint64_t offs[ZC_BUFS];
	struct zc z;
	pid_t pid;
	int st, pipefd[2];

	memset(&z, 0, sizeof(z));
	z.pool = "vm-source-v4l2";
	ctl_set(NODE_MP, "Horizontal Movement", 6); /* every frame differs */
	z.s = must_open(&w, &z.info);
	print_info("zero-copy", &z.info);
	CHECK_EQ(z.info.nbufs, ZC_BUFS);
	CHECK_OK(rkv_source_export(z.s, rw, offs, ZC_BUFS));
	CHECK_OK(rkv_source_export_ro(z.s, ro, ZC_BUFS));
	for (int i = 0; i < ZC_BUFS; i++) {
		CHECK((fcntl(rw[i], F_GETFL) & O_ACCMODE) == O_RDWR);
		CHECK((fcntl(ro[i], F_GETFL) & O_ACCMODE) == O_RDONLY);
		CHECK_UINT(offs[i], ==, 0);
	}
	struct rkv_pool_opts po = { .slot_count = ZC_BUFS, .slot_capacity = z.info.frame_size,
				    .max_loans = 1, .slot_fds = rw, .slot_offsets = offs,
				    .slot_ro_fds = ro };
	CHECK_OK(rkv_producer_create(z.pool, &po, &z.p));
	for (int i = 0; i < ZC_BUFS; i++) { /* the pool has its own copies */
		close(rw[i]);
		close(ro[i]);
	}
	CHECK_OK(rkv_source_start(z.s));

	/* 1. a consumer holds a frame while 40 more are captured */
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(hold_consumer(z.pool, 40));
	CHECK_OK(rkv_producer_wait_consumers(z.p, 1, 10 * SEC));
	while (waitpid(pid, &st, WNOHANG) == 0)
		zc_step(&z);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("holding consumer failed (status %#x)", st);
	printf("producer: %" PRIu64 " frames published; a buffer was still a consumer's %" PRIu64
	       " times and went back to the driver later\n", z.published, z.requeued_later);
	CHECK_UINT(z.same, ==, 0); /* every frame differs, so a rewrite would show */
	CHECK_UINT(z.requeued_later, >, 0);

	/* 2. a consumer killed while it holds three buffers */
	CHECK(pipe(pipefd) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		grab_consumer(z.pool, pipefd[1]);
		_exit(1);
	}
	close(pipefd[1]);
	uint8_t held[3];
	for (;;) { /* publish until the consumer holds its three */
		struct pollfd pf = { .fd = pipefd[0], .events = POLLIN };
		if (poll(&pf, 1, 0) == 1)
			break;
		zc_step(&z);
	}
	CHECK(read(pipefd[0], held, 3) == 3);
	close(pipefd[0]);
	printf("killer: the consumer holds slots %u %u %u\n", held[0], held[1], held[2]);
	for (int i = 0; i < 4 * ZC_BUFS; i++) {
		int b = zc_step(&z);
		for (int k = 0; k < 3; k++)
			if (b == held[k])
				FAIL("buffer %d came from the driver while a consumer held it", b);
	}
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
	uint32_t seen = 0;
	for (int i = 0; i < 8 * ZC_BUFS && seen != (1u << ZC_BUFS) - 1; i++) {
		int b = zc_step(&z);
		if (b >= 0)
			seen |= 1u << b;
	}
	if (seen != (1u << ZC_BUFS) - 1)
		FAIL("after the kill, capture used buffers %#x of %#x", seen, (1u << ZC_BUFS) - 1);
	printf("killer: after SIGKILL every buffer is back in the capture loop\n");

	for (uint32_t i = 0; i < ZC_BUFS; i++)
		if (z.is_pending[i]) {
			CHECK_OK(rkv_source_done(z.s, &z.pending[i]));
			z.is_pending[i] = 0;
		}
	struct rkv_source_stats sst;
	CHECK_OK(rkv_source_stats(z.s, &sst, sizeof(sst)));
	printf("source: %" PRIu64 " frames, %" PRIu64 " dropped by the driver (no buffer free)\n",
	       sst.frames, sst.dropped);
	CHECK_UINT(sst.errors, ==, 0);
	CHECK_OK(rkv_source_stop(z.s));
	rkv_source_close(z.s);
	rkv_producer_destroy(z.p);
	CHECK_EQ(count_fds(), fds_before);
	ctl_set(NODE_MP, "Horizontal Movement", 3);
}

/* ==== errors ================================================================= */

static const struct want err_want = { .uri = "v4l2:/dev/video0", .fourcc = RKV_FMT_NV12,
				      .width = 320, .height = 180, .fps = 30, .buffers = 4 };

/* Frames until stats.dropped has grown by @atleast (or @max frames). */
static void expect_dropped(rkv_source *s, const struct rkv_source_info *info, uint64_t atleast,
			   const char *why)
{
	struct rkv_source_stats st0, st;

	CHECK_OK(rkv_source_stats(s, &st0, sizeof(st0)));
	stream_check(s, info, 20);
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	printf("%s: %" PRIu64 " dropped in 20 frames\n", why, st.dropped - st0.dropped);
	if (st.dropped - st0.dropped < atleast)
		FAIL("%s: %" PRIu64 " dropped, wanted at least %" PRIu64, why,
		     st.dropped - st0.dropped, atleast);
}

/* next() reports the loss, once in the counters; close; open again. */
static rkv_source *expect_lost(rkv_source *s, const char *why)
{
	struct rkv_source_frame f;
	struct rkv_source_stats st;
	struct rkv_source_info info;
	int r;

	for (int i = 0; i < 50; i++) { /* frames done before the error may still come */
		r = rkv_source_next(s, &f, 5 * SEC);
		if (r)
			break;
		CHECK_OK(rkv_source_done(s, &f));
	}
	if (r != -ENODEV)
		FAIL("%s: next = %d (%s), wanted -ENODEV", why, r, strerror(-r));
	CHECK_ERR(rkv_source_next(s, &f, 0), ENODEV);
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	CHECK_UINT(st.errors, ==, 1);
	printf("%s: next() = -ENODEV, errors = 1\n", why);
	rkv_source_close(s);
	s = must_open(&err_want, &info);
	CHECK_OK(rkv_source_start(s));
	stream_check(s, &info, 5);
	printf("%s: closed and opened again, frames flow\n", why);
	return s;
}

static void test_errors(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame f;
	char err[1024];
	rkv_source *s;
	int r, fds_before = count_fds(), maps_before = count_maps();

	s = must_open(&err_want, &info);
	CHECK_OK(rkv_source_start(s));
	stream_check(s, &info, 5);

	/* a buffer the driver marks broken */
	ctl_set(NODE_SP, "Inject V4L2_BUF_FLAG_ERROR", 0);
	expect_dropped(s, &info, 1, "V4L2_BUF_FLAG_ERROR");

	/* buffers the driver drops: gaps in its sequence */
	ctl_set(NODE_SP, "Percentage of Dropped Buffers", 50);
	expect_dropped(s, &info, 4, "50% of buffers dropped");
	ctl_set(NODE_SP, "Percentage of Dropped Buffers", 0);

	/* a fatal streaming error (vb2_queue_error: POLLERR, DQBUF EIO),
	 * with a child forked meanwhile (a camera's helper, a consumer
	 * forked from the camera's process) that closed every descriptor it
	 * inherited: the source's mappings must not come along, or they
	 * would hold the device's file and the reopen would find its queue
	 * busy (VIDIOC_S_FMT: EBUSY) until the child ends */
	fflush(stdout);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		for (;;)
			pause();
	}
	ctl_set(NODE_SP, "Inject Fatal Streaming Error", 0);
	s = expect_lost(s, "fatal streaming error");
	CHECK(kill(child, SIGKILL) == 0);
	CHECK(waitpid(child, NULL, 0) == child);

	/* QBUF refused: done() gives the frame back, the stream is over */
	CHECK_OK(rkv_source_next(s, &f, 5 * SEC));
	ctl_set(NODE_SP, "Inject VIDIOC_QBUF Error", 0);
	CHECK_OK(rkv_source_done(s, &f));
	s = expect_lost(s, "VIDIOC_QBUF error");

	/* STREAMON refused: start fails, and works when tried again */
	CHECK_OK(rkv_source_stop(s));
	ctl_set(NODE_SP, "Inject VIDIOC_STREAMON Error", 0);
	r = rkv_source_start(s);
	printf("VIDIOC_STREAMON error: start = %d (%s)\n", r, strerror(-r));
	CHECK_INT(r, <, 0);
	CHECK_OK(rkv_source_start(s));
	stream_check(s, &info, 5);
	printf("VIDIOC_STREAMON error: started on the second try, frames flow\n");
	CHECK_OK(rkv_source_stop(s));
	rkv_source_close(s);

	/* REQBUFS refused: open fails with a reason, the next open works */
	ctl_set(NODE_SP, "Inject VIDIOC_REQBUFS Error", 0);
	r = open_src(&err_want, &s, &info, err, sizeof(err));
	printf("VIDIOC_REQBUFS error: open = %d: %s\n", r, err);
	CHECK_EQ(r, -EIO);
	CHECK(strstr(err, "VIDIOC_REQBUFS") != NULL);
	s = must_open(&err_want, &info);
	CHECK_OK(rkv_source_start(s));
	stream_check(s, &info, 5);
	rkv_source_close(s); /* while streaming, with no stop */
	CHECK_EQ(count_fds(), fds_before);
	CHECK_EQ(count_maps(), maps_before);

	/* Disconnect, with the buffers exported and one frame out: next()
	 * says -ENODEV, close does not hang or leak; vivid registers the
	 * device again when its last user closes it. */
	struct want w1 = err_want;
	int exp[8];
	w1.uri = "v4l2:/dev/video1";
	s = must_open(&w1, &info);
	CHECK_OK(rkv_source_export(s, exp, NULL, info.nbufs));
	CHECK_OK(rkv_source_start(s));
	stream_check(s, &info, 5);
	CHECK_OK(rkv_source_next(s, &f, 5 * SEC));
	ctl_set(NODE_MP, "Disconnect", 0);
	r = rkv_source_next(s, &f, 5 * SEC);
	CHECK_ERR(r, ENODEV);
	struct rkv_source_stats st;
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	CHECK_UINT(st.errors, ==, 1);
	CHECK_OK(rkv_source_done(s, &f));
	printf("disconnect: next() = -ENODEV, errors = 1\n");
	int64_t t0 = test_now_ns();
	rkv_source_close(s);
	printf("disconnect: closed in %.3f s\n", (double)(test_now_ns() - t0) / 1e9);
	for (uint32_t i = 0; i < info.nbufs; i++)
		close(exp[i]);
	CHECK_EQ(count_fds(), fds_before);
	CHECK_EQ(count_maps(), maps_before);
	for (int i = 0;; i++) {
		r = open_src(&w1, &s, &info, err, sizeof(err));
		if (r == 0)
			break;
		if (i == 50)
			FAIL("after the disconnect, %s did not come back: %d: %s", w1.uri, r, err);
		usleep(100000);
	}
	CHECK_OK(rkv_source_start(s));
	stream_check(s, &info, 5);
	rkv_source_close(s);
	printf("disconnect: the device came back, opened again, frames flow\n");
}

int main(int argc, char **argv)
{
	struct stat st;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s capture|zerocopy|errors\n", argv[0]);
		return 2;
	}
	if (stat(NODE_SP, &st) < 0 || stat(NODE_MP, &st) < 0) {
		printf("no %s and %s: not in the test VM\n", NODE_SP, NODE_MP);
		return TEST_SKIP;
	}
	test_watchdog(400);
	if (strcmp(argv[1], "capture") == 0)
		test_capture();
	else if (strcmp(argv[1], "zerocopy") == 0)
		test_zerocopy();
	else if (strcmp(argv[1], "errors") == 0)
		test_errors();
	else
		FAIL("unknown scenario %s", argv[1]);
	printf("source_v4l2 %s: ok\n", argv[1]);
	return 0;
}
