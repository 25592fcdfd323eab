/* SPDX-License-Identifier: MIT */
/*
 * unit_source.c - the source layer through its public calls, with the test
 * pattern behind them: configs good and bad, the frames it hands out
 * (descriptors, content, rkv_testpattern_verify), pacing, -EAGAIN, -EBUSY,
 * the timerfd, dropped frames, done() on frames it did not hand out, and
 * close with frames out (ASan checks that nothing leaks).
 *
 * Times are asserted as lower bounds only: a loaded machine may be late,
 * never early.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rkv/frame.h>
#include <rkv/source.h>

#include "test.h"

#define MS 1000000ll
#define FOREVER (-1) /* rkv_source_next: wait as long as it takes */

static const uint32_t formats[] = { RKV_FMT_NV12, RKV_FMT_YUYV, RKV_FMT_I420, RKV_FMT_RGB24,
				    RKV_FMT_BGR24 };
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

/* ---- helpers ------------------------------------------------------------ */

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static const char *fcc(uint32_t fourcc)
{
	static char buf[8][5];
	static int i;
	i = (i + 1) % 8;
	return rkv_fourcc_str(fourcc, buf[i]);
}

static struct rkv_source_config config(uint32_t fourcc, uint32_t w, uint32_t h, uint32_t fps_num,
				       uint32_t fps_den, uint32_t buffers)
{
	struct rkv_source_config c;
	memset(&c, 0, sizeof c);
	c.fourcc = fourcc;
	c.width = w;
	c.height = h;
	c.fps_num = fps_num;
	c.fps_den = fps_den;
	c.buffers = buffers;
	return c;
}

static rkv_source *open_cfg(const struct rkv_source_config *c, struct rkv_source_info *info)
{
	char why[256] = "";
	struct rkv_source_config cc = *c;
	rkv_source *s = NULL;
	cc.errbuf = why;
	cc.errbuf_len = sizeof why;
	int r = rkv_source_open(&cc, &s, info);
	if (r)
		FAIL("open %s %ux%u at %u/%u: %d (%s): %s", fcc(c->fourcc), c->width, c->height,
		     c->fps_num, c->fps_den, r, strerror(-r), why);
	CHECK(s != NULL);
	return s;
}

static rkv_source *open_tp(uint32_t fourcc, uint32_t w, uint32_t h, uint32_t fps_num,
			   uint32_t fps_den, uint32_t buffers, struct rkv_source_info *info)
{
	struct rkv_source_config c = config(fourcc, w, h, fps_num, fps_den, buffers);
	return open_cfg(&c, info);
}

static void take(rkv_source *s, struct rkv_source_frame *f)
{
	CHECK_OK(rkv_source_next(s, f, FOREVER));
}

/* What every frame of the source must be. */
static void check_frame(const struct rkv_source_info *info, const struct rkv_source_frame *f)
{
	struct rkv_frame want = info->layout;

	CHECK_OK(rkv_frame_check(&f->frame, info->frame_size));
	CHECK_EQ(f->frame.fourcc, info->fourcc);
	CHECK_EQ(f->frame.width, info->width);
	CHECK_EQ(f->frame.height, info->height);
	CHECK_EQ(f->frame.bytes_used, info->frame_size);
	CHECK_EQ(f->frame.num_planes, want.num_planes);
	for (uint32_t i = 0; i < RKV_MAX_PLANES; i++) {
		CHECK_EQ(f->frame.planes[i].offset, want.planes[i].offset);
		CHECK_EQ(f->frame.planes[i].stride, want.planes[i].stride);
		CHECK_EQ(f->frame.planes[i].size, want.planes[i].size);
	}
	CHECK_EQ(f->frame.flags, 0);
	CHECK_EQ(f->frame.user, 0);
	CHECK_EQ(f->buf, -1);
	CHECK(f->data != NULL);
	CHECK(f->frame.timestamp_ns > 0);
	CHECK(f->frame.timestamp_ns <= test_now_ns());
	int64_t v = rkv_testpattern_verify(&f->frame, f->data);
	if (v != 0)
		FAIL("%s %ux%u seq %" PRIu64 ": verify = %" PRId64, fcc(info->fourcc), info->width,
		     info->height, f->frame.seq, v);
}

/* The frame verified against other sequence numbers fails. */
static void check_wrong_seq(const struct rkv_source_frame *f)
{
	struct rkv_frame g = f->frame;
	const uint64_t deltas[] = { 1, 2, 100, 12345 };

	for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
		g.seq = f->frame.seq + deltas[i];
		if (rkv_testpattern_verify(&g, f->data) <= 0)
			FAIL("%s %ux%u: seq %" PRIu64 " passes as %" PRIu64, fcc(g.fourcc), g.width,
			     g.height, f->frame.seq, g.seq);
		if (f->frame.seq >= deltas[i]) {
			g.seq = f->frame.seq - deltas[i];
			if (rkv_testpattern_verify(&g, f->data) <= 0)
				FAIL("%s %ux%u: seq %" PRIu64 " passes as %" PRIu64, fcc(g.fourcc),
				     g.width, g.height, f->frame.seq, g.seq);
		}
	}
}

/* ---- opening ------------------------------------------------------------ */

static void test_defaults(void)
{
	struct rkv_source_info info;
	struct rkv_frame want;
	rkv_source *s = NULL;

	CHECK_OK(rkv_source_open(NULL, &s, &info));
	CHECK_EQ(info.fourcc, RKV_FMT_NV12);
	CHECK_EQ(info.width, 640);
	CHECK_EQ(info.height, 480);
	CHECK_EQ(info.fps_num, 30);
	CHECK_EQ(info.fps_den, 1);
	CHECK_EQ(info.nbufs, 0);
	CHECK_EQ(rkv_frame_layout(&want, RKV_FMT_NV12, 640, 480, 1), 460800);
	CHECK_EQ(info.frame_size, 460800);
	CHECK(memcmp(&info.layout, &want, sizeof want) == 0);
	CHECK_STR(info.backend, "testpattern");
	CHECK_STR(info.device, "testpattern");
	int fds[1];
	CHECK_ERR(rkv_source_export(s, fds, NULL, 0), ENOTSUP);
	CHECK(rkv_source_fd(s) >= 0);
	/* next before start */
	struct rkv_source_frame f;
	CHECK_ERR(rkv_source_next(s, &f, 0), EINVAL);
	CHECK_OK(rkv_source_start(s));
	take(s, &f);
	check_frame(&info, &f);
	CHECK_EQ(f.frame.seq, 0);
	CHECK_OK(rkv_source_done(s, &f));
	rkv_source_close(s);

	/* by name, and every size 0 its default on its own */
	const char *uris[] = { "testpattern", "testpattern:", "" };
	for (size_t i = 0; i < 3; i++) {
		struct rkv_source_config c = config(0, 0, 0, 0, 0, 0);
		c.uri = uris[i];
		s = open_cfg(&c, &info);
		CHECK_EQ(info.fourcc, RKV_FMT_NV12);
		CHECK_EQ(info.width, 640);
		CHECK_EQ(info.height, 480);
		rkv_source_close(s);
	}
	s = open_tp(RKV_FMT_RGB24, 320, 0, 0, 0, 0, &info);
	CHECK_EQ(info.width, 320);
	CHECK_EQ(info.height, 480);
	rkv_source_close(s);
	s = open_tp(RKV_FMT_YUYV, 0, 200, 0, 0, 0, &info);
	CHECK_EQ(info.width, 640);
	CHECK_EQ(info.height, 200);
	rkv_source_close(s);
	rkv_source_close(NULL);
}

static void expect_refused(struct rkv_source_config c, int err, const char *what)
{
	char why[256];
	rkv_source *s = (rkv_source *)&why; /* must be cleared */

	memset(why, 0, sizeof why);
	c.errbuf = why;
	c.errbuf_len = sizeof why;
	int r = rkv_source_open(&c, &s, NULL);
	if (r != -err)
		FAIL("%s: open = %d (%s), expected %d", what, r, strerror(-r), -err);
	CHECK(s == NULL);
	if (!why[0])
		FAIL("%s: no reason in errbuf", what);
}

static void test_bad_configs(void)
{
	struct rkv_source_config c;
	const uint32_t unknown[] = { RKV_FMT_NV16, RKV_FMT_GREY, RKV_FMT_RGBA, RKV_FMT_JPEG,
				     RKV_FMT_H264, RKV_FOURCC('X', 'Y', 'Z', 'W') };

	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		expect_refused(config(unknown[i], 0, 0, 0, 0, 0), ENOTSUP, "unknown format");
	expect_refused(config(0, 16385, 480, 0, 0, 0), EINVAL, "width too large");
	expect_refused(config(RKV_FMT_RGB24, 640, 16385, 0, 0, 0), EINVAL, "height too large");
	expect_refused(config(0, 641, 480, 0, 0, 0), ENOTSUP, "odd NV12 width");
	expect_refused(config(RKV_FMT_NV12, 640, 481, 0, 0, 0), ENOTSUP, "odd NV12 height");
	expect_refused(config(RKV_FMT_I420, 3, 2, 0, 0, 0), ENOTSUP, "odd I420 width");
	expect_refused(config(RKV_FMT_I420, 2, 1, 0, 0, 0), ENOTSUP, "odd I420 height");
	expect_refused(config(RKV_FMT_YUYV, 1, 1, 0, 0, 0), ENOTSUP, "odd YUYV width");
	expect_refused(config(0, 0, 0, 2000000000, 1, 0), ENOTSUP, "rate too high");
	expect_refused(config(0, 0, 0, 0, 0, 65), EINVAL, "too many buffers");
	c = config(0, 0, 0, 0, 0, 0);
	c.uri = "testpattern:bars";
	expect_refused(c, EINVAL, "options");
	c.uri = "nosuchscheme";
	expect_refused(c, ENOTSUP, "unknown uri");
	/* the limits themselves are fine */
	struct rkv_source_info info;
	rkv_source *s = open_tp(RKV_FMT_RGB24, 16384, 1, 1000000000, 1, 1, &info);
	rkv_source_close(s);
	s = open_tp(RKV_FMT_NV12, 2, 16384, 1, 4000000000u, 64, &info);
	rkv_source_close(s);
	s = open_tp(RKV_FMT_YUYV, 2, 1, 0, 0, 0, &info);
	rkv_source_close(s);
}

/* ---- content ------------------------------------------------------------ */

struct size_case {
	uint32_t fourcc, w, h, frames;
};

static const struct size_case sizes[] = {
	{ RKV_FMT_NV12, 0, 0, 6 },        { RKV_FMT_NV12, 2, 2, 6 },
	{ RKV_FMT_NV12, 34, 18, 6 },      { RKV_FMT_NV12, 144, 20, 6 },
	{ RKV_FMT_NV12, 642, 362, 6 },    { RKV_FMT_NV12, 1280, 720, 6 },
	{ RKV_FMT_NV12, 1920, 1080, 6 },  { RKV_FMT_NV12, 16384, 2, 3 },
	{ RKV_FMT_NV12, 2, 4098, 3 },
	{ RKV_FMT_I420, 0, 0, 6 },        { RKV_FMT_I420, 2, 2, 6 },
	{ RKV_FMT_I420, 162, 26, 6 },     { RKV_FMT_I420, 722, 482, 6 },
	{ RKV_FMT_I420, 1282, 722, 6 },
	{ RKV_FMT_YUYV, 0, 0, 6 },        { RKV_FMT_YUYV, 2, 1, 6 },
	{ RKV_FMT_YUYV, 130, 97, 6 },     { RKV_FMT_YUYV, 160, 23, 6 },
	{ RKV_FMT_YUYV, 642, 481, 6 },    { RKV_FMT_YUYV, 1280, 721, 6 },
	{ RKV_FMT_RGB24, 0, 0, 6 },       { RKV_FMT_RGB24, 1, 1, 6 },
	{ RKV_FMT_RGB24, 3, 5, 6 },       { RKV_FMT_RGB24, 145, 21, 6 },
	{ RKV_FMT_RGB24, 641, 481, 6 },   { RKV_FMT_RGB24, 1281, 721, 6 },
	{ RKV_FMT_BGR24, 0, 0, 6 },       { RKV_FMT_BGR24, 1, 7, 6 },
	{ RKV_FMT_BGR24, 161, 23, 6 },    { RKV_FMT_BGR24, 723, 963, 6 },
};

/* Every format at odd but valid sizes: frames that pass the descriptor
 * check and verify, and fail verify under another number. The buffers go
 * round more than once, so a frame drawn over an older one is checked. */
static void test_frames(void)
{
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		const struct size_case *sc = &sizes[i];
		struct rkv_source_info info;
		rkv_source *s = open_tp(sc->fourcc, sc->w, sc->h, 100000, 1, 2, &info);
		uint64_t last = 0;
		int64_t last_ts = 0;

		CHECK_EQ(info.fourcc, sc->fourcc);
		CHECK_OK(rkv_source_start(s));
		for (uint32_t k = 0; k < sc->frames; k++) {
			struct rkv_source_frame f;
			take(s, &f);
			check_frame(&info, &f);
			if (k) {
				CHECK_UINT(f.frame.seq, >, last);
				CHECK_INT(f.frame.timestamp_ns, >, last_ts);
			}
			last = f.frame.seq;
			last_ts = f.frame.timestamp_ns;
			check_wrong_seq(&f);
			CHECK_OK(rkv_source_done(s, &f));
		}
		rkv_source_close(s);
	}
}

/* Long runs at a rate a loop keeps up with: each buffer goes from one
 * frame to one a few numbers later, only some digits changing, again and
 * again (the source repaints only what changed). A text scale of 3 puts
 * the YUYV glyphs at odd columns. */
static void test_runs(void)
{
	static const struct size_case runs[] = {
		{ RKV_FMT_NV12, 1282, 722, 0 }, { RKV_FMT_I420, 724, 726, 0 },
		{ RKV_FMT_YUYV, 1282, 723, 0 }, { RKV_FMT_RGB24, 1281, 721, 0 },
		{ RKV_FMT_BGR24, 250, 250, 0 },
	};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		struct rkv_source_info info;
		rkv_source *s = open_tp(runs[i].fourcc, runs[i].w, runs[i].h, 2000, 1, 3, &info);
		uint64_t n = test_scaled(60);

		CHECK_OK(rkv_source_start(s));
		for (uint64_t k = 0; k < n; k++) {
			struct rkv_source_frame f;
			take(s, &f);
			check_frame(&info, &f);
			CHECK_OK(rkv_source_done(s, &f));
		}
		rkv_source_close(s);
	}
}

/* Flip one bit of byte @i and expect verify to name it. */
static void flip_one(const struct rkv_frame *f, uint8_t *buf, uint64_t i)
{
	uint8_t mask = (uint8_t)(1u << (i % 8));
	buf[i] ^= mask;
	int64_t v = rkv_testpattern_verify(f, buf);
	buf[i] ^= mask;
	if (v != (int64_t)i + 1)
		FAIL("%s %ux%u seq %" PRIu64 ": byte %" PRIu64 " flipped (^0x%02x), verify = %"
		     PRId64,
		     fcc(f->fourcc), f->width, f->height, f->seq, i, mask, v);
}

/*
 * One flipped bit anywhere is found, and named. Small frames that still
 * hold the text: every byte. Larger ones: every byte that differs from the
 * next frame's (the box, the ticker, the digits) or, where there are many,
 * a sample of them, and a sample of all the others.
 */
static void test_flips(void)
{
	static const struct size_case flips[] = {
		{ RKV_FMT_NV12, 144, 20, 0 },  { RKV_FMT_NV12, 2, 2, 0 },
		{ RKV_FMT_I420, 146, 22, 0 },  { RKV_FMT_YUYV, 150, 21, 0 },
		{ RKV_FMT_RGB24, 145, 21, 0 }, { RKV_FMT_BGR24, 147, 20, 0 },
		{ RKV_FMT_RGB24, 1, 1, 0 },
		{ RKV_FMT_NV12, 320, 240, 1 }, { RKV_FMT_I420, 480, 272, 1 },
		{ RKV_FMT_YUYV, 722, 483, 1 }, { RKV_FMT_RGB24, 481, 483, 1 },
		{ RKV_FMT_BGR24, 400, 300, 1 },
	};
	for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
		const struct size_case *sc = &flips[i];
		struct rkv_source_info info;
		struct rkv_source_frame f, g;
		rkv_source *s = open_tp(sc->fourcc, sc->w, sc->h, 100000, 1, 2, &info);
		uint64_t n = info.frame_size, moving = 0, tried = 0;

		CHECK_OK(rkv_source_start(s));
		take(s, &f);
		take(s, &g);
		uint8_t *buf = malloc(n);
		CHECK(buf != NULL);
		memcpy(buf, f.data, n);
		if (!sc->frames) {
			/* every byte; every 2nd or 4th in the sanitizer builds */
			for (uint64_t b = 0; b < n; b += 1000 / test_scaled(1000))
				flip_one(&f.frame, buf, b);
			/* The digits show a time other than the descriptor's
			 * (a camera stamped the frame again): any time passes,
			 * and a flipped bit is still found. */
			struct rkv_frame other = f.frame;
			other.timestamp_ns += 1000000123;
			CHECK_EQ(rkv_testpattern_verify(&other, buf), 0);
			other.timestamp_ns = 0;
			CHECK_EQ(rkv_testpattern_verify(&other, buf), 0);
			for (uint64_t b = 0; b < n; b += 7)
				flip_one(&other, buf, b);
		} else {
			const uint8_t *other = g.data;
			for (uint64_t b = 0; b < n; b++)
				moving += buf[b] != other[b];
			uint64_t every = moving / test_scaled(600) + 1;
			for (uint64_t b = 0, k = 0; b < n; b++) {
				if (buf[b] != other[b] && k++ % every == 0) {
					flip_one(&f.frame, buf, b);
					tried++;
				}
			}
			for (uint64_t b = 0; b < n; b += n / test_scaled(300) + 1)
				flip_one(&f.frame, buf, b);
			flip_one(&f.frame, buf, n - 1);
			CHECK_UINT(moving, >, 100);
			CHECK_UINT(tried, >, 50);
		}
		free(buf);
		CHECK_OK(rkv_source_done(s, &f));
		CHECK_OK(rkv_source_done(s, &g));
		rkv_source_close(s);
	}
}

/* verify's own arguments, and frames in other layouts. */
static void test_verify_layouts(void)
{
	for (size_t fi = 0; fi < N_FORMATS; fi++) {
		struct rkv_source_info info;
		struct rkv_source_frame f;
		rkv_source *s = open_tp(formats[fi], 322, 242, 100000, 1, 1, &info);
		CHECK_OK(rkv_source_start(s));
		take(s, &f);

		CHECK_ERR(rkv_testpattern_verify(NULL, f.data), EINVAL);
		CHECK_ERR(rkv_testpattern_verify(&f.frame, NULL), EINVAL);
		struct rkv_frame bad = f.frame;
		bad.fourcc = RKV_FMT_NV16;
		CHECK_ERR(rkv_testpattern_verify(&bad, f.data), EINVAL);
		bad = f.frame;
		bad.bytes_used--; /* the last plane no longer fits */
		CHECK_ERR(rkv_testpattern_verify(&bad, f.data), EINVAL);
		bad = f.frame;
		bad.planes[0].stride--;
		CHECK_ERR(rkv_testpattern_verify(&bad, f.data), EINVAL);
		bad = f.frame;
		bad.width = 0;
		CHECK_ERR(rkv_testpattern_verify(&bad, f.data), EINVAL);

		/* The same frame copied into rows padded to 64 bytes, the
		 * padding filled with junk: it passes; a byte of it flipped
		 * does not, and is named. */
		struct rkv_frame wide;
		int64_t wn =
			rkv_frame_layout(&wide, f.frame.fourcc, f.frame.width, f.frame.height, 64);
		CHECK(wn > (int64_t)info.frame_size);
		wide.seq = f.frame.seq;
		uint8_t *buf = malloc((size_t)wn);
		CHECK(buf != NULL);
		memset(buf, 0xA5, (size_t)wn);
		for (uint32_t p = 0; p < f.frame.num_planes; p++) {
			const struct rkv_plane *a = &f.frame.planes[p], *b = &wide.planes[p];
			for (uint64_t r = 0; r < a->size / a->stride; r++)
				memcpy(buf + b->offset + r * b->stride,
				       (const uint8_t *)f.data + a->offset + r * a->stride,
				       a->stride);
		}
		CHECK_EQ(rkv_testpattern_verify(&wide, buf), 0);
		uint64_t at = wide.planes[0].offset + wide.planes[0].stride + 5;
		buf[at] ^= 0x10;
		CHECK_EQ(rkv_testpattern_verify(&wide, buf), (int64_t)at + 1);
		buf[at] ^= 0x10;
		/* padding at the end of the first row is not compared */
		buf[wide.planes[0].stride - 1] ^= 0xff;
		CHECK_EQ(rkv_testpattern_verify(&wide, buf), 0);
		free(buf);

		CHECK_OK(rkv_source_done(s, &f));
		rkv_source_close(s);
	}
}

/* ---- pacing -------------------------------------------------------------- */

/* 30 frames at 300 fps take at least 29 periods, and each frame's time is
 * its due time, (seq + 1) periods after start on the nanosecond. */
static void test_pacing(void)
{
	struct rkv_source_info info;
	rkv_source *s = open_tp(RKV_FMT_YUYV, 64, 48, 300, 1, 4, &info);
	const int64_t period = 1000000000 / 300;
	int64_t t0 = test_now_ns(), ts0 = 0;
	uint64_t seq0 = 0;

	CHECK_OK(rkv_source_start(s));
	for (int k = 0; k < 30; k++) {
		struct rkv_source_frame f;
		take(s, &f);
		int64_t now = test_now_ns();
		CHECK_INT(f.frame.timestamp_ns, <=, now);
		CHECK_INT(f.frame.timestamp_ns, >=, t0 + (int64_t)(f.frame.seq + 1) * period);
		if (k == 0) {
			ts0 = f.frame.timestamp_ns;
			seq0 = f.frame.seq;
		} else {
			/* no drift: floor((seq + 1) * 10^9 / 300) from one base */
			int64_t want = (int64_t)((f.frame.seq + 1) * 1000000000 / 300) -
				       (int64_t)((seq0 + 1) * 1000000000 / 300);
			CHECK_INT(f.frame.timestamp_ns - ts0, ==, want);
		}
		if (k == 29)
			CHECK_INT(now - t0, >=, 29 * period);
		CHECK_OK(rkv_source_done(s, &f));
	}
	struct rkv_source_stats st;
	CHECK_OK(rkv_source_stats(s, &st, sizeof st));
	CHECK_UINT(st.frames, ==, 30);
	CHECK_UINT(st.errors, ==, 0);
	rkv_source_close(s);
}

/* Before the first frame is due: -EAGAIN without a wait, -ETIMEDOUT after
 * one (which lasted at least as long as asked), and a quiet fd. */
static void test_not_yet(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame f;
	/* one frame in 1000 s */
	rkv_source *s = open_tp(0, 0, 0, 1, 1000, 0, &info);
	int fd = rkv_source_fd(s);
	CHECK(fd >= 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_OK(rkv_source_start(s));
	CHECK_ERR(rkv_source_next(s, &f, 0), EAGAIN);
	int64_t t = test_now_ns();
	CHECK_ERR(rkv_source_next(s, &f, 20 * MS), ETIMEDOUT);
	CHECK_INT(test_now_ns() - t, >=, 20 * MS);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_ERR(rkv_source_done(s, &f), EINVAL);
	rkv_source_close(s);
}

static volatile sig_atomic_t got_signal;
static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

struct kicker {
	pthread_t target;
	volatile int stop;
};

static void *kick(void *arg)
{
	struct kicker *k = arg;
	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)) {
		sleep_ns(20 * MS);
		pthread_kill(k->target, SIGUSR1);
	}
	return NULL;
}

/* A wait a signal interrupts is -EINTR. */
static void test_eintr(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame f;
	struct sigaction sa;
	struct kicker k = { .target = pthread_self() };
	pthread_t tid;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART; /* even so */
	sigemptyset(&sa.sa_mask);
	CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
	rkv_source *s = open_tp(0, 64, 48, 1, 1000, 0, &info);
	CHECK_OK(rkv_source_start(s));
	CHECK_EQ(pthread_create(&tid, NULL, kick, &k), 0);
	CHECK_ERR(rkv_source_next(s, &f, FOREVER), EINTR);
	CHECK_ERR(rkv_source_next(s, &f, 3600 * 1000 * MS), EINTR);
	__atomic_store_n(&k.stop, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(tid, NULL), 0);
	CHECK(got_signal);
	signal(SIGUSR1, SIG_DFL);
	rkv_source_close(s);
}

/* All buffers out: -EBUSY, waiting or not; one back, and the next comes. */
static void test_busy(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame a, b, c;
	rkv_source *s = open_tp(RKV_FMT_RGB24, 161, 23, 10000, 1, 2, &info);

	CHECK_OK(rkv_source_start(s));
	take(s, &a);
	take(s, &b);
	CHECK(a.data != b.data);
	CHECK_ERR(rkv_source_next(s, &c, 0), EBUSY);
	CHECK_ERR(rkv_source_next(s, &c, FOREVER), EBUSY);
	CHECK_OK(rkv_source_done(s, &a));
	take(s, &c);
	CHECK(c.data == a.data);
	check_frame(&info, &b);
	check_frame(&info, &c);
	CHECK_OK(rkv_source_done(s, &b));
	CHECK_OK(rkv_source_done(s, &c));
	rkv_source_close(s);
}

/* Frames held stay intact while the others go round. */
static void test_hold(void)
{
	for (size_t fi = 0; fi < N_FORMATS; fi++) {
		struct rkv_source_info info;
		struct rkv_source_frame a, b;
		rkv_source *s = open_tp(formats[fi], 320, 240, 5000, 1, 4, &info);
		size_t n = (size_t)info.frame_size;
		uint8_t *ca = malloc(n), *cb = malloc(n);

		CHECK(ca && cb);
		CHECK_OK(rkv_source_start(s));
		take(s, &a);
		take(s, &b);
		memcpy(ca, a.data, n);
		memcpy(cb, b.data, n);
		for (int k = 0; k < 12; k++) {
			struct rkv_source_frame f;
			take(s, &f);
			CHECK(f.data != a.data && f.data != b.data);
			check_frame(&info, &f);
			CHECK_OK(rkv_source_done(s, &f));
		}
		CHECK_EQ(rkv_testpattern_verify(&a.frame, a.data), 0);
		CHECK_EQ(rkv_testpattern_verify(&b.frame, b.data), 0);
		CHECK(memcmp(ca, a.data, n) == 0);
		CHECK(memcmp(cb, b.data, n) == 0);
		CHECK_OK(rkv_source_done(s, &a));
		CHECK_OK(rkv_source_done(s, &b));
		free(ca);
		free(cb);
		rkv_source_close(s);
	}
}

/* The fd: quiet before start and while every buffer is out, readable once
 * a frame is due. */
static void test_fd(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame f;
	rkv_source *s = open_tp(RKV_FMT_NV12, 64, 48, 100, 1, 1, &info);
	int fd = rkv_source_fd(s);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	CHECK(fd >= 0);
	CHECK_EQ(rkv_source_fd(s), fd);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_OK(rkv_source_start(s));
	for (int k = 0; k < 3; k++) {
		CHECK_EQ(poll(&pfd, 1, 10000), 1);
		CHECK(pfd.revents & POLLIN);
		/* due, so no wait */
		CHECK_OK(rkv_source_next(s, &f, 0));
		check_frame(&info, &f);
		/* the one buffer is out: nothing to take, a quiet fd */
		CHECK_EQ(poll(&pfd, 1, 0), 0);
		CHECK_OK(rkv_source_done(s, &f));
	}
	/* stopped: quiet again */
	CHECK_OK(rkv_source_stop(s));
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	rkv_source_close(s);
}

/* A caller 10 periods late skips to the current frame; the skipped ones
 * are counted dropped. */
static void test_dropped(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame f;
	struct rkv_source_stats st;
	rkv_source *s = open_tp(RKV_FMT_YUYV, 64, 48, 100, 1, 4, &info);

	CHECK_OK(rkv_source_start(s));
	take(s, &f);
	uint64_t a = f.frame.seq;
	CHECK_OK(rkv_source_done(s, &f));
	CHECK_OK(rkv_source_stats(s, &st, sizeof st));
	uint64_t dropped0 = st.dropped;
	sleep_ns(10 * 10 * MS);
	int64_t now = test_now_ns();
	take(s, &f);
	uint64_t b = f.frame.seq;
	CHECK_UINT(b, >=, a + 10);
	/* the latest frame due, not an old one */
	CHECK_INT(f.frame.timestamp_ns, >, now - 10 * MS);
	check_frame(&info, &f);
	CHECK_OK(rkv_source_done(s, &f));
	CHECK_OK(rkv_source_stats(s, &st, sizeof st));
	CHECK_UINT(st.frames, ==, 2);
	CHECK_UINT(st.dropped - dropped0, ==, b - a - 1);
	CHECK_UINT(st.dropped, >=, 9);
	CHECK_UINT(st.errors, ==, 0);
	CHECK_UINT(st.reopens, ==, 0);
	rkv_source_close(s);
}

/* done() takes back only what next() handed out, once. */
static void test_done(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame a, b, fake;
	rkv_source *s = open_tp(RKV_FMT_BGR24, 32, 16, 10000, 1, 4, &info);

	CHECK_OK(rkv_source_start(s));
	take(s, &a);
	take(s, &b);
	CHECK_OK(rkv_source_done(s, &a));
	CHECK_ERR(rkv_source_done(s, &a), EINVAL); /* twice, with b still out */
	fake = b;
	fake.data = &fake;
	CHECK_ERR(rkv_source_done(s, &fake), EINVAL);
	fake = b;
	fake.frame.seq++;
	CHECK_ERR(rkv_source_done(s, &fake), EINVAL);
	fake = a; /* a's buffer, handed out again for another frame */
	take(s, &a);
	take(s, &a);
	take(s, &a);
	CHECK_ERR(rkv_source_done(s, &fake), EINVAL);
	CHECK_OK(rkv_source_done(s, &b));
	CHECK_OK(rkv_source_done(s, &a));
	CHECK_ERR(rkv_source_done(s, &b), EINVAL);
	rkv_source_close(s);
}

/* Stop, start again: the numbers go on, the times from the new start. */
static void test_restart(void)
{
	struct rkv_source_info info;
	struct rkv_source_frame f;
	rkv_source *s = open_tp(RKV_FMT_I420, 64, 48, 1000, 1, 2, &info);

	CHECK_OK(rkv_source_start(s));
	take(s, &f);
	uint64_t a = f.frame.seq;
	CHECK_ERR(rkv_source_stop(s), EBUSY);
	CHECK_OK(rkv_source_done(s, &f));
	CHECK_OK(rkv_source_stop(s));
	CHECK_ERR(rkv_source_next(s, &f, 0), EINVAL);
	sleep_ns(20 * MS);
	int64_t t = test_now_ns();
	CHECK_OK(rkv_source_start(s));
	take(s, &f);
	/* a + 1 is due a period after the start (later ones, if this
	 * thread was slower than that), a + 2 a period later, ... */
	CHECK_UINT(f.frame.seq, >=, a + 1);
	CHECK_INT(f.frame.timestamp_ns, >=, t + (int64_t)(f.frame.seq - a) * MS);
	check_frame(&info, &f);
	CHECK_OK(rkv_source_done(s, &f));
	rkv_source_close(s);
}

/* Closing with frames out frees everything (ASan's leak check). */
static void test_close_out(void)
{
	for (size_t fi = 0; fi < N_FORMATS; fi++) {
		struct rkv_source_info info;
		struct rkv_source_frame a, b;
		rkv_source *s = open_tp(formats[fi], 0, 0, 10000, 1, 3, &info);
		CHECK_OK(rkv_source_start(s));
		take(s, &a);
		take(s, &b);
		rkv_source_close(s);
	}
}

int main(void)
{
	test_watchdog(120);
	test_defaults();
	test_bad_configs();
	test_frames();
	test_runs();
	test_flips();
	test_verify_layouts();
	test_pacing();
	test_not_yet();
	test_eintr();
	test_busy();
	test_hold();
	test_fd();
	test_dropped();
	test_done();
	test_restart();
	test_close_out();
	printf("unit_source: ok\n");
	return 0;
}
