/* SPDX-License-Identifier: MIT */
/*
 * unit_imgops.c - the image layer: its checks, the CPU backend's results
 * against known values, and the dispatcher's fallback and counters.
 *
 * Every result is checked against what it must be: colours against the
 * BT.601 equations, lossless conversions and every geometric step to the
 * byte, scaling against averages of a gradient, JPEG by PSNR, PNG by
 * decoding it again here with libpng.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include <rkv/imgops.h>

#include "test.h"

/* ---- helpers -------------------------------------------------------------- */

struct img {
	struct rkv_image im;
	uint8_t *buf;
};

static void img_new(struct img *m, uint32_t fourcc, uint32_t w, uint32_t h)
{
	int64_t n = rkv_imgops_image(&m->im, fourcc, w, h, NULL, 0);

	CHECK_OK(n);
	m->buf = malloc((size_t)n);
	CHECK(m->buf);
	CHECK_EQ(rkv_imgops_image(&m->im, fourcc, w, h, m->buf, (uint64_t)n), n);
}

static void img_buf(struct img *m, uint64_t cap)
{
	m->buf = malloc(cap);
	CHECK(m->buf);
	CHECK_EQ(rkv_imgops_image(&m->im, RKV_FMT_JPEG, 0, 0, m->buf, cap), (int64_t)cap);
}

static void img_free(struct img *m)
{
	free(m->buf);
	m->buf = NULL;
}

static uint8_t *plane(struct img *m, int i)
{
	return m->buf + m->im.frame.planes[i].offset;
}

static uint32_t stride(const struct img *m, int i)
{
	return m->im.frame.planes[i].stride;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint8_t rnd8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 24);
}

static void fill_random(struct img *m)
{
	for (uint64_t i = 0; i < m->im.frame.bytes_used; i++)
		m->buf[i] = rnd8();
}

/* A YUV image of one colour, in any of the four YUV formats. */
static void fill_yuv(struct img *m, uint8_t y, uint8_t u, uint8_t v)
{
	const struct rkv_frame *f = &m->im.frame;

	switch (f->fourcc) {
	case RKV_FMT_NV12:
	case RKV_FMT_NV16:
		memset(plane(m, 0), y, f->planes[0].size);
		for (uint64_t i = 0; i + 1 < f->planes[1].size; i += 2) {
			plane(m, 1)[i] = u;
			plane(m, 1)[i + 1] = v;
		}
		break;
	case RKV_FMT_I420:
		memset(plane(m, 0), y, f->planes[0].size);
		memset(plane(m, 1), u, f->planes[1].size);
		memset(plane(m, 2), v, f->planes[2].size);
		break;
	case RKV_FMT_YUYV:
		for (uint64_t i = 0; i + 3 < f->bytes_used; i += 4) {
			m->buf[i] = y;
			m->buf[i + 1] = u;
			m->buf[i + 2] = y;
			m->buf[i + 3] = v;
		}
		break;
	default:
		FAIL("fill_yuv: not a YUV format");
	}
}

static int near(int a, int b, int tol)
{
	return abs(a - b) <= tol;
}

static double psnr(const uint8_t *a, uint32_t sa, const uint8_t *b, uint32_t sb, uint32_t w,
		   uint32_t h)
{
	double se = 0;

	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			double d = (double)a[y * sa + x] - (double)b[y * sb + x];
			se += d * d;
		}
	if (se == 0)
		return 99;
	return 10 * log10(255.0 * 255.0 * w * h / se);
}

static rkv_imgops *open_ctx(const char *backend, const struct rkv_imgops_backend *custom)
{
	struct rkv_imgops_config cfg = { .size = sizeof(cfg), .backend = backend, .custom = custom };
	rkv_imgops *ctx;

	CHECK_OK(rkv_imgops_open(&cfg, &ctx));
	return ctx;
}

/* ---- context and chain ------------------------------------------------------- */

static void test_open(void)
{
	struct rkv_imgops_config cfg = { .size = sizeof(cfg) };
	struct rkv_imgops_info info;
	rkv_imgops *ctx;

	CHECK_OK(rkv_imgops_open(NULL, &ctx));
	CHECK_OK(rkv_imgops_info(ctx, &info, sizeof(info)));
	CHECK_EQ(info.nbackends, 1);
	CHECK_STR(info.backends[0], "cpu");
	CHECK(strstr(info.refused, "rga: device /nonexistent/rga: No such file or directory"));
	CHECK(strstr(info.refused, "mpp: "));
	rkv_imgops_close(ctx);

	ctx = open_ctx("cpu", NULL);
	CHECK_OK(rkv_imgops_info(ctx, &info, sizeof(info)));
	CHECK_EQ(info.nbackends, 1);
	CHECK_STR(info.refused, "");
	rkv_imgops_close(ctx);

	/* An explicit hardware backend that cannot be had leaves the CPU. */
	ctx = open_ctx("mpp", NULL);
	CHECK_OK(rkv_imgops_info(ctx, &info, sizeof(info)));
	CHECK_EQ(info.nbackends, 1);
	CHECK(strncmp(info.refused, "mpp: ", 5) == 0);
	rkv_imgops_close(ctx);

	cfg.backend = "nvidia";
	CHECK_ERR(rkv_imgops_open(&cfg, &ctx), EINVAL);
	cfg.backend = NULL;
	cfg.reserved[1] = 1;
	CHECK_ERR(rkv_imgops_open(&cfg, &ctx), EINVAL);
	cfg.reserved[1] = 0;
	cfg.size = sizeof(cfg) + 8;
	CHECK_ERR(rkv_imgops_open(&cfg, &ctx), E2BIG);
	rkv_imgops_close(NULL);
}

/* ---- colour --------------------------------------------------------------- */

/* BT.601 limited range: (Y, Cb, Cr) of pure red, green and blue. */
static const struct {
	uint8_t y, u, v, r, g, b;
} colours[] = {
	{ 81, 90, 240, 255, 0, 0 },
	{ 145, 54, 34, 0, 255, 0 },
	{ 41, 240, 110, 0, 0, 255 },
	{ 235, 128, 128, 255, 255, 255 },
	{ 16, 128, 128, 0, 0, 0 },
};

static void test_colour(rkv_imgops *ctx)
{
	static const uint32_t yuv[] = { RKV_FMT_NV12, RKV_FMT_I420, RKV_FMT_YUYV, RKV_FMT_NV16 };
	static const uint32_t rgb[] = { RKV_FMT_RGB24, RKV_FMT_BGR24, RKV_FMT_RGBA };

	for (size_t c = 0; c < sizeof(colours) / sizeof(colours[0]); c++)
		for (size_t i = 0; i < 4; i++)
			for (size_t j = 0; j < 3; j++) {
				struct img s, d;
				int bpp = rgb[j] == RKV_FMT_RGBA ? 4 : 3;

				img_new(&s, yuv[i], 16, 8);
				img_new(&d, rgb[j], 16, 8);
				fill_yuv(&s, colours[c].y, colours[c].u, colours[c].v);
				CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, NULL));
				for (uint32_t p = 0; p < 16 * 8; p++) {
					const uint8_t *px = d.buf + p * bpp;
					int r = px[0], b = px[2];

					if (rgb[j] == RKV_FMT_BGR24) {
						r = px[2];
						b = px[0];
					}
					if (!near(r, colours[c].r, 3) || !near(px[1], colours[c].g, 3) ||
					    !near(b, colours[c].b, 3) || (bpp == 4 && px[3] != 255))
						FAIL("colour %zu, %zu -> %zu: pixel %u is %d %d %d", c, i,
						     j, p, r, px[1], b);
				}
				img_free(&s);
				img_free(&d);
			}

	/* And back: RGB to each YUV format gives the colour's samples. */
	for (size_t c = 0; c < sizeof(colours) / sizeof(colours[0]); c++)
		for (size_t i = 0; i < 4; i++) {
			struct img s, d, ref;

			img_new(&s, RKV_FMT_RGB24, 16, 8);
			img_new(&d, yuv[i], 16, 8);
			img_new(&ref, yuv[i], 16, 8);
			for (uint32_t p = 0; p < 16 * 8; p++) {
				s.buf[3 * p] = colours[c].r;
				s.buf[3 * p + 1] = colours[c].g;
				s.buf[3 * p + 2] = colours[c].b;
			}
			fill_yuv(&ref, colours[c].y, colours[c].u, colours[c].v);
			CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, NULL));
			for (uint64_t k = 0; k < d.im.frame.bytes_used; k++)
				if (!near(d.buf[k], ref.buf[k], 2))
					FAIL("RGB %zu -> yuv %zu: byte %" PRIu64 " is %d, want %d", c, i,
					     k, d.buf[k], ref.buf[k]);
			img_free(&s);
			img_free(&d);
			img_free(&ref);
		}
}

/* ---- lossless conversions --------------------------------------------------- */

static void round_trip(rkv_imgops *ctx, uint32_t a, uint32_t b, uint32_t w, uint32_t h)
{
	struct img s, m, d;
	char n1[5], n2[5];

	img_new(&s, a, w, h);
	img_new(&m, b, w, h);
	img_new(&d, a, w, h);
	fill_random(&s);
	CHECK_OK(rkv_imgops_transform(ctx, &s.im, &m.im, NULL));
	CHECK_OK(rkv_imgops_transform(ctx, &m.im, &d.im, NULL));
	if (memcmp(s.buf, d.buf, s.im.frame.bytes_used) != 0)
		FAIL("%s -> %s -> %s is not exact", rkv_fourcc_str(a, n1), rkv_fourcc_str(b, n2), n1);
	img_free(&s);
	img_free(&m);
	img_free(&d);
}

static void test_lossless(rkv_imgops *ctx)
{
	struct img s, d;

	round_trip(ctx, RKV_FMT_NV12, RKV_FMT_I420, 64, 48);
	round_trip(ctx, RKV_FMT_I420, RKV_FMT_NV12, 34, 18);
	round_trip(ctx, RKV_FMT_RGB24, RKV_FMT_BGR24, 33, 17);
	round_trip(ctx, RKV_FMT_NV16, RKV_FMT_YUYV, 30, 7);
	round_trip(ctx, RKV_FMT_YUYV, RKV_FMT_NV16, 30, 7);

	/* NV12 -> I420 moves each sample where it belongs. */
	img_new(&s, RKV_FMT_NV12, 8, 4);
	img_new(&d, RKV_FMT_I420, 8, 4);
	fill_random(&s);
	CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, NULL));
	for (uint32_t y = 0; y < 4; y++)
		for (uint32_t x = 0; x < 8; x++)
			CHECK_EQ(plane(&d, 0)[y * stride(&d, 0) + x], plane(&s, 0)[y * stride(&s, 0) + x]);
	for (uint32_t y = 0; y < 2; y++)
		for (uint32_t x = 0; x < 4; x++) {
			CHECK_EQ(plane(&d, 1)[y * stride(&d, 1) + x],
				 plane(&s, 1)[y * stride(&s, 1) + 2 * x]);
			CHECK_EQ(plane(&d, 2)[y * stride(&d, 2) + x],
				 plane(&s, 1)[y * stride(&s, 1) + 2 * x + 1]);
		}
	img_free(&s);
	img_free(&d);

	/* RGB24 <-> BGR24 swaps the first and third byte, nothing else. */
	img_new(&s, RKV_FMT_RGB24, 5, 3);
	img_new(&d, RKV_FMT_BGR24, 5, 3);
	fill_random(&s);
	CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, NULL));
	for (uint32_t p = 0; p < 15; p++) {
		CHECK_EQ(d.buf[3 * p], s.buf[3 * p + 2]);
		CHECK_EQ(d.buf[3 * p + 1], s.buf[3 * p + 1]);
		CHECK_EQ(d.buf[3 * p + 2], s.buf[3 * p]);
	}
	img_free(&s);
	img_free(&d);

	/* Strided images (rows padded to 64 bytes) are read and written as laid out. */
	{
		uint8_t *sb, *db;
		struct rkv_image si, di;
		int64_t n = rkv_frame_layout(&si.frame, RKV_FMT_NV12, 40, 20, 64);

		CHECK_OK(n);
		sb = calloc(1, (size_t)n);
		db = calloc(1, (size_t)n);
		CHECK(sb && db);
		CHECK_OK(rkv_imgops_image(&si, RKV_FMT_NV12, 40, 20, sb, (uint64_t)n));
		CHECK_OK(rkv_frame_layout(&si.frame, RKV_FMT_NV12, 40, 20, 64));
		di = si;
		di.data = db;
		for (int64_t i = 0; i < n; i++)
			sb[i] = (uint8_t)(i * 7);
		CHECK_OK(rkv_imgops_transform(ctx, &si, &di, NULL));
		for (uint32_t y = 0; y < 20; y++)
			CHECK(memcmp(sb + y * 64, db + y * 64, 40) == 0);
		CHECK_EQ(db[40], 0); /* padding untouched */
		free(sb);
		free(db);
	}
}

/* ---- scaling ------------------------------------------------------------------- */

static void test_scale(rkv_imgops *ctx)
{
	struct rkv_transform t = { 0 };
	struct img s, d;

	/* I420 64x8 with Y = 4x: halving averages neighbours, 8x + 2. */
	img_new(&s, RKV_FMT_I420, 64, 8);
	img_new(&d, RKV_FMT_I420, 32, 4);
	memset(s.buf, 128, s.im.frame.bytes_used);
	for (uint32_t y = 0; y < 8; y++)
		for (uint32_t x = 0; x < 64; x++)
			plane(&s, 0)[y * stride(&s, 0) + x] = (uint8_t)(4 * x);
	for (uint32_t f = 0; f <= RKV_FILTER_NEAREST; f++) {
		t.filter = f;
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, &t));
		for (uint32_t y = 0; y < 4; y++)
			for (uint32_t x = 0; x < 32; x++) {
				int v = plane(&d, 0)[y * stride(&d, 0) + x];

				if (f == RKV_FILTER_NEAREST ? (v != (int)(8 * x) && v != (int)(8 * x + 4))
							    : !near(v, (int)(8 * x + 2), 2))
					FAIL("filter %u: Y(%u,%u) = %d", f, x, y, v);
			}
		for (uint32_t i = 0; i < 16 * 2; i++)
			CHECK_EQ(plane(&d, 1)[i % 16 + i / 16 * stride(&d, 1)], 128);
	}
	img_free(&d);

	/* Doubling: the gradient stays a gradient, from 0 to 252. */
	img_new(&d, RKV_FMT_I420, 128, 16);
	CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, NULL));
	for (uint32_t x = 1; x < 128; x++)
		CHECK_INT(plane(&d, 0)[x], >=, plane(&d, 0)[x - 1]);
	CHECK_INT(plane(&d, 0)[0], <=, 2);
	CHECK_INT(plane(&d, 0)[127], >=, 250);
	img_free(&d);
	img_free(&s);

	/* NV12 -> smaller I420 (the preview's step) and NV12 -> smaller NV12
	 * agree, and a vertical gradient keeps its averages. */
	{
		struct img a, b;

		img_new(&s, RKV_FMT_NV12, 64, 64);
		img_new(&a, RKV_FMT_I420, 32, 16);
		img_new(&b, RKV_FMT_NV12, 32, 16);
		for (uint32_t y = 0; y < 64; y++)
			memset(plane(&s, 0) + y * stride(&s, 0), (int)(y * 4), 64);
		for (uint32_t i = 0; i < 32 * 32; i++) {
			plane(&s, 1)[2 * i] = 100;
			plane(&s, 1)[2 * i + 1] = 200;
		}
		t.filter = RKV_FILTER_BOX;
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &a.im, &t));
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &b.im, &t));
		CHECK(memcmp(plane(&a, 0), plane(&b, 0), 32 * 16) == 0);
		for (uint32_t y = 0; y < 16; y++) {
			/* rows 4y..4y+3 average to 16y + 6 */
			CHECK(near(plane(&a, 0)[y * 32 + 5], (int)(16 * y + 6), 1));
		}
		for (uint32_t i = 0; i < 16 * 8; i++) {
			CHECK_EQ(plane(&a, 1)[i], 100);
			CHECK_EQ(plane(&a, 2)[i], 200);
			CHECK_EQ(plane(&b, 1)[2 * i], 100);
			CHECK_EQ(plane(&b, 1)[2 * i + 1], 200);
		}
		img_free(&s);
		img_free(&a);
		img_free(&b);
	}

	/* Every format scales: a uniform colour stays that colour. */
	{
		static const uint32_t fmts[] = { RKV_FMT_RGB24, RKV_FMT_BGR24, RKV_FMT_RGBA,
						 RKV_FMT_YUYV, RKV_FMT_NV16 };
		for (size_t i = 0; i < 5; i++) {
			struct img a;

			img_new(&s, RKV_FMT_I420, 48, 32);
			img_new(&a, fmts[i], 48, 32);
			img_new(&d, RKV_FMT_I420, 20, 14);
			fill_yuv(&s, 81, 90, 240);
			CHECK_OK(rkv_imgops_transform(ctx, &s.im, &a.im, NULL));
			CHECK_OK(rkv_imgops_transform(ctx, &a.im, &d.im, NULL));
			for (uint32_t k = 0; k < 20 * 14; k++)
				CHECK(near(plane(&d, 0)[k / 20 * stride(&d, 0) + k % 20], 81, 2));
			for (uint32_t k = 0; k < 10 * 7; k++) {
				CHECK(near(plane(&d, 1)[k], 90, 2));
				CHECK(near(plane(&d, 2)[k], 240, 2));
			}
			img_free(&s);
			img_free(&a);
			img_free(&d);
		}
	}
}

/* ---- crop, rotation, flip --------------------------------------------------------- */

/* An RGBA picture whose every pixel names its place: R = x, G = y. */
static void fill_places(struct img *m)
{
	const struct rkv_frame *f = &m->im.frame;
	int bpp = f->fourcc == RKV_FMT_RGBA ? 4 : 3;

	for (uint32_t y = 0; y < f->height; y++)
		for (uint32_t x = 0; x < f->width; x++) {
			uint8_t *px = m->buf + y * f->planes[0].stride + x * bpp;

			px[0] = (uint8_t)x;
			px[1] = (uint8_t)y;
			px[2] = (uint8_t)(x * 3 + y);
			if (bpp == 4)
				px[3] = 255;
		}
}

/* Where dst's (x, y) comes from in a W x H source, for each orientation. */
static void from_where(uint32_t rot, uint32_t flip, uint32_t W, uint32_t H, uint32_t x,
		       uint32_t y, uint32_t *sx, uint32_t *sy)
{
	uint32_t dw = rot % 180 ? H : W, dh = rot % 180 ? W : H;

	if (flip & RKV_FLIP_H)
		x = dw - 1 - x;
	if (flip & RKV_FLIP_V)
		y = dh - 1 - y;
	switch (rot) {
	case 0: *sx = x; *sy = y; break;
	case 90: *sx = y; *sy = H - 1 - x; break;
	case 180: *sx = W - 1 - x; *sy = H - 1 - y; break;
	default: *sx = W - 1 - y; *sy = x; break;
	}
}

static void test_geometry(rkv_imgops *ctx)
{
	static const uint32_t fmts[] = { RKV_FMT_RGBA, RKV_FMT_RGB24 };
	const uint32_t W = 12, H = 6;

	for (size_t f = 0; f < 2; f++)
		for (uint32_t rot = 0; rot < 360; rot += 90)
			for (uint32_t flip = 0; flip < 4; flip++) {
				struct rkv_transform t = { .rotate = rot, .flip = flip };
				int bpp = fmts[f] == RKV_FMT_RGBA ? 4 : 3;
				struct img s, d;

				img_new(&s, fmts[f], W, H);
				img_new(&d, fmts[f], rot % 180 ? H : W, rot % 180 ? W : H);
				fill_places(&s);
				CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, &t));
				for (uint32_t y = 0; y < d.im.frame.height; y++)
					for (uint32_t x = 0; x < d.im.frame.width; x++) {
						uint32_t sx, sy;
						const uint8_t *px =
							d.buf + y * stride(&d, 0) + x * (uint32_t)bpp;

						from_where(rot, flip, W, H, x, y, &sx, &sy);
						if (px[0] != sx || px[1] != sy)
							FAIL("fmt %zu rot %u flip %u: (%u,%u) came from "
							     "(%d,%d), not (%u,%u)",
							     f, rot, flip, x, y, px[0], px[1], sx, sy);
					}
				img_free(&s);
				img_free(&d);
			}

	/* YUV: the luma plane moves exactly as the pixels do, from I420 and
	 * NV12 (turned in I420) and from YUYV and NV16 (turned in I422). */
	static const uint32_t yuv[] = { RKV_FMT_I420, RKV_FMT_NV12, RKV_FMT_YUYV, RKV_FMT_NV16 };
	for (size_t f = 0; f < 4; f++)
		for (uint32_t rot = 0; rot < 360; rot += 90) {
			struct rkv_transform t = { .rotate = rot, .flip = RKV_FLIP_H };
			struct img i420, s, d;

			img_new(&i420, RKV_FMT_I420, 16, 8);
			img_new(&s, yuv[f], 16, 8);
			img_new(&d, RKV_FMT_I420, rot % 180 ? 8 : 16, rot % 180 ? 16 : 8);
			memset(i420.buf, 128, i420.im.frame.bytes_used);
			for (uint32_t y = 0; y < 8; y++)
				for (uint32_t x = 0; x < 16; x++)
					plane(&i420, 0)[y * stride(&i420, 0) + x] = (uint8_t)(y * 16 + x);
			/* luma passes through every YUV format unchanged */
			CHECK_OK(rkv_imgops_transform(ctx, &i420.im, &s.im, NULL));
			img_free(&i420);
			CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, &t));
			for (uint32_t y = 0; y < d.im.frame.height; y++)
				for (uint32_t x = 0; x < d.im.frame.width; x++) {
					uint32_t sx, sy;

					from_where(rot, RKV_FLIP_H, 16, 8, x, y, &sx, &sy);
					if (plane(&d, 0)[y * stride(&d, 0) + x] != sy * 16 + sx)
						FAIL("format %zu rot %u: Y(%u,%u) = %d, not from (%u,%u)",
						     f, rot, x, y, plane(&d, 0)[y * stride(&d, 0) + x],
						     sx, sy);
				}
			for (uint32_t k = 0; k < 32; k++)
				CHECK_EQ(plane(&d, 1)[k / (d.im.frame.width / 2) * stride(&d, 1) +
						      k % (d.im.frame.width / 2)],
					 128);
			img_free(&s);
			img_free(&d);
		}

	/* Crop: RGB24 and NV12 windows start where asked. */
	{
		struct rkv_transform t = { .crop_x = 10, .crop_y = 4, .crop_w = 20, .crop_h = 8 };
		struct img s, d;

		img_new(&s, RKV_FMT_RGB24, 40, 20);
		img_new(&d, RKV_FMT_RGB24, 20, 8);
		fill_places(&s);
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, &t));
		for (uint32_t y = 0; y < 8; y++)
			for (uint32_t x = 0; x < 20; x++) {
				CHECK_EQ(d.buf[(y * 20 + x) * 3], x + 10);
				CHECK_EQ(d.buf[(y * 20 + x) * 3 + 1], y + 4);
			}
		img_free(&s);
		img_free(&d);

		img_new(&s, RKV_FMT_NV12, 40, 20);
		img_new(&d, RKV_FMT_NV12, 20, 8);
		fill_random(&s);
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, &t));
		for (uint32_t y = 0; y < 8; y++)
			CHECK(memcmp(plane(&d, 0) + y * 20, plane(&s, 0) + (y + 4) * 40 + 10, 20) == 0);
		for (uint32_t y = 0; y < 4; y++)
			CHECK(memcmp(plane(&d, 1) + y * 20, plane(&s, 1) + (y + 2) * 40 + 10, 20) == 0);

		/* crop + scale + convert in one call: the window halved, as I420 */
		struct img h;
		img_new(&h, RKV_FMT_I420, 10, 4);
		t.filter = RKV_FILTER_NEAREST;
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &h.im, &t));
		for (uint32_t y = 0; y < 4; y++)
			for (uint32_t x = 0; x < 10; x++) {
				int v = plane(&h, 0)[y * 10 + x];
				int found = 0;
				for (uint32_t dy = 0; dy < 2; dy++)
					for (uint32_t dx = 0; dx < 2; dx++)
						found |= v == plane(&s, 0)[(2 * y + dy + 4) * 40 +
									   2 * x + dx + 10];
				if (!found)
					FAIL("crop+scale: Y(%u,%u) = %d is not from its window", x, y, v);
			}
		img_free(&h);

		t.crop_x = 11; /* odd: between two chroma samples */
		CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
		t.crop_x = 22; /* past the right edge */
		CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
		t.crop_x = 10;
		t.crop_h = 0;
		CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
		img_free(&s);
		img_free(&d);
	}
}

/* ---- JPEG ------------------------------------------------------------------------ */

/* A smooth picture, as a camera sees one: gradients and a soft disc. */
static void fill_scene(struct img *m)
{
	const struct rkv_frame *f = &m->im.frame;
	struct img rgb;

	img_new(&rgb, RKV_FMT_RGB24, f->width, f->height);
	for (uint32_t y = 0; y < f->height; y++)
		for (uint32_t x = 0; x < f->width; x++) {
			uint8_t *px = rgb.buf + (y * f->width + x) * 3;
			double dx = x - f->width / 2.0, dy = y - f->height / 2.0;
			double d = sqrt(dx * dx + dy * dy) / f->height;

			px[0] = (uint8_t)(255.0 * x / f->width);
			px[1] = (uint8_t)(200.0 * y / f->height + ((x / 8 + y / 8) & 1) * 40);
			px[2] = (uint8_t)(d < 0.3 ? 220 : 40);
		}
	if (f->fourcc == RKV_FMT_RGB24) {
		memcpy(m->buf, rgb.buf, f->bytes_used);
	} else {
		rkv_imgops *ctx = open_ctx("cpu", NULL);
		CHECK_OK(rkv_imgops_transform(ctx, &rgb.im, &m->im, NULL));
		rkv_imgops_close(ctx);
	}
	img_free(&rgb);
}

static void test_jpeg(rkv_imgops *ctx)
{
	const uint32_t W = 320, H = 240;
	struct rkv_jpeg_params q90 = { .quality = 90 };
	struct img s, j, d, small;
	uint32_t w, h;

	/* I420 -> JPEG -> I420: the same size, and the picture survives. */
	img_new(&s, RKV_FMT_I420, W, H);
	fill_scene(&s);
	img_buf(&j, rkv_imgops_jpeg_bound(W, H));
	CHECK_OK(rkv_imgops_jpeg_encode(ctx, &s.im, &j.im, &q90));
	CHECK_EQ(j.im.frame.fourcc, RKV_FMT_JPEG);
	CHECK_EQ(j.im.frame.width, W);
	CHECK_EQ(j.im.frame.height, H);
	CHECK_UINT(j.im.frame.bytes_used, >, 500);
	CHECK_UINT(j.im.frame.bytes_used, <, W * H);
	CHECK_EQ(j.buf[0], 0xff);
	CHECK_EQ(j.buf[1], 0xd8);
	CHECK_OK(rkv_imgops_jpeg_size(ctx, j.buf, j.im.frame.bytes_used, &w, &h));
	CHECK_EQ(w, W);
	CHECK_EQ(h, H);
	img_new(&d, RKV_FMT_I420, W, H);
	CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &d.im));
	double p = psnr(plane(&s, 0), W, plane(&d, 0), W, W, H);
	if (p < 38)
		FAIL("I420 q90 round trip: luma PSNR %.1f dB", p);
	p = psnr(plane(&s, 1), W / 2, plane(&d, 1), W / 2, W / 2, H / 2);
	if (p < 38)
		FAIL("I420 q90 round trip: Cb PSNR %.1f dB", p);

	/* The same stream into a buffer that holds it but not TurboJPEG's
	 * worst case: the same bytes, through the context's buffer. */
	{
		struct img j2;
		uint64_t n = j.im.frame.bytes_used;

		img_buf(&j2, n);
		CHECK_OK(rkv_imgops_jpeg_encode(ctx, &s.im, &j2.im, &q90));
		CHECK_EQ(j2.im.frame.bytes_used, n);
		CHECK(memcmp(j.buf, j2.buf, n) == 0);
		j2.im.capacity = n - 1;
		CHECK_ERR(rkv_imgops_jpeg_encode(ctx, &s.im, &j2.im, &q90), ENOSPC);
		img_free(&j2);
	}

	/* Decoding into a smaller picture of another format scales. */
	img_new(&small, RKV_FMT_NV12, W / 2, H / 2);
	CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &small.im));
	{
		struct img ref;

		img_new(&ref, RKV_FMT_NV12, W / 2, H / 2);
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &ref.im, NULL));
		p = psnr(plane(&ref, 0), W / 2, plane(&small, 0), W / 2, W / 2, H / 2);
		if (p < 35)
			FAIL("JPEG decoded at half size: luma PSNR %.1f dB", p);
		img_free(&ref);
	}
	img_free(&small);
	img_free(&s);
	img_free(&d);

	/* Every source format: RGB ones through JPEG's colour equations both
	 * ways (compared in RGB), YUV ones with their samples stored as they
	 * are (compared in luma). */
	{
		static const uint32_t fmts[] = { RKV_FMT_RGB24, RKV_FMT_BGR24, RKV_FMT_RGBA,
						 RKV_FMT_NV12, RKV_FMT_NV16, RKV_FMT_YUYV };
		for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
			int yuv = i >= 3;
			uint32_t cmp = yuv ? RKV_FMT_I420 : RKV_FMT_RGB24;
			uint32_t row = yuv ? W : 3 * W;
			struct img ref;

			img_new(&s, fmts[i], W, H);
			img_new(&ref, cmp, W, H);
			img_new(&d, cmp, W, H);
			fill_scene(&s);
			CHECK_OK(rkv_imgops_transform(ctx, &s.im, &ref.im, NULL));
			CHECK_OK(rkv_imgops_jpeg_encode(ctx, &s.im, &j.im, &q90));
			CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &d.im));
			p = psnr(ref.buf, row, d.buf, row, row, H);
			/* RGB: 4:2:0 chroma costs the checker's edges some dB */
			if (p < (yuv ? 38 : 30))
				FAIL("format %zu: PSNR %.1f dB after a q90 round trip", i, p);
			img_free(&s);
			img_free(&ref);
			img_free(&d);
		}
	}

	/* JPEGs this layer does not write itself (TurboJPEG called here):
	 * 4:4:4 and greyscale take the decoder's BGRA path. */
	{
		tjhandle tj = tjInitCompress();
		struct img rgb, ref, out, grey;
		unsigned char *buf = NULL;
		unsigned long len = 0;

		CHECK(tj);
		img_new(&rgb, RKV_FMT_RGB24, W, H);
		fill_scene(&rgb);
		CHECK_EQ(tjCompress2(tj, rgb.buf, W, W * 3, H, TJPF_RGB, &buf, &len, TJSAMP_444, 95, 0), 0);
		CHECK_UINT(len, <=, j.im.capacity);
		memcpy(j.buf, buf, len);
		j.im.frame.fourcc = RKV_FMT_JPEG;
		j.im.frame.bytes_used = len;
		img_new(&ref, RKV_FMT_I420, W / 2, H / 2);
		img_new(&out, RKV_FMT_I420, W / 2, H / 2);
		CHECK_OK(rkv_imgops_transform(ctx, &rgb.im, &ref.im, NULL));
		CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &out.im));
		p = psnr(plane(&ref, 0), W / 2, plane(&out, 0), W / 2, W / 2, H / 2);
		if (p < 33)
			FAIL("4:4:4 JPEG decoded to half-size I420: luma PSNR %.1f dB", p);

		CHECK_EQ(tjCompress2(tj, rgb.buf, W, W * 3, H, TJPF_RGB, &buf, &len, TJSAMP_GRAY, 95, 0),
			 0);
		memcpy(j.buf, buf, len);
		j.im.frame.bytes_used = len;
		img_new(&grey, RKV_FMT_I420, W, H);
		CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &grey.im));
		for (uint32_t k = 0; k < W / 2 * H / 2; k++) {
			CHECK(near(plane(&grey, 1)[k], 128, 1));
			CHECK(near(plane(&grey, 2)[k], 128, 1));
		}
		tjFree(buf);
		tjDestroy(tj);
		img_free(&rgb);
		img_free(&ref);
		img_free(&out);
		img_free(&grey);
	}

	/* Corrupt streams: never a crash, a clear error. */
	{
		struct img enc, bad;
		uint64_t n;

		img_new(&s, RKV_FMT_I420, W, H);
		fill_scene(&s);
		CHECK_OK(rkv_imgops_jpeg_encode(ctx, &s.im, &j.im, NULL));
		n = j.im.frame.bytes_used;
		img_new(&d, RKV_FMT_I420, W, H);
		img_buf(&enc, n);
		memcpy(enc.buf, j.buf, n);

		enc.im.frame.bytes_used = n / 2; /* truncated */
		CHECK_ERR(rkv_imgops_jpeg_decode(ctx, &enc.im, &d.im), EBADMSG);
		enc.im.frame.bytes_used = n;
		enc.buf[0] = 0; /* no SOI */
		CHECK_ERR(rkv_imgops_jpeg_decode(ctx, &enc.im, &d.im), EBADMSG);
		CHECK_ERR(rkv_imgops_jpeg_size(ctx, enc.buf, n, &w, &h), EBADMSG);
		img_buf(&bad, 64);
		memset(bad.buf, 0xff, 64);
		CHECK_ERR(rkv_imgops_jpeg_decode(ctx, &bad.im, &d.im), EBADMSG);
		img_free(&bad);
		for (int k = 0; k < 200; k++) {
			memcpy(enc.buf, j.buf, n);
			for (int f = 0; f < 4; f++)
				enc.buf[rnd8() * (uint64_t)rnd8() % n] = rnd8();
			int r = rkv_imgops_jpeg_decode(ctx, &enc.im, &d.im);
			if (r != 0 && r != -EBADMSG && r != -ENOTSUP)
				FAIL("corrupt JPEG %d: %d (%s)", k, r, strerror(-r));
			/* and the context still reads a good one (TurboJPEG's
			 * handle refused good headers after some of these) */
			CHECK_OK(rkv_imgops_jpeg_size(ctx, j.buf, n, &w, &h));
		}
		CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &d.im));
		/* not a JPEG at all as a source */
		CHECK_ERR(rkv_imgops_jpeg_decode(ctx, &s.im, &d.im), ENOTSUP);
		img_free(&enc);
		img_free(&s);
		img_free(&d);
	}

	/* Quality is checked. */
	img_new(&s, RKV_FMT_I420, 16, 16);
	q90.quality = 101;
	CHECK_ERR(rkv_imgops_jpeg_encode(ctx, &s.im, &j.im, &q90), EINVAL);
	img_free(&s);
	img_free(&j);
	CHECK_UINT(rkv_imgops_jpeg_bound(1920, 1080), >, 1920 * 1080);
	CHECK_EQ(rkv_imgops_jpeg_bound(0, 10), 0);
	CHECK_EQ(rkv_imgops_jpeg_bound(RKV_IMGOPS_MAX_DIM + 1, 10), 0);
}

/* ---- PNG ------------------------------------------------------------------------- */

/* Decode a PNG with libpng into @out (RGB or RGBA, as @fmt). */
static void png_read(const struct img *p, uint32_t fmt, uint8_t *out, uint32_t w, uint32_t h)
{
	png_image pi;

	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	CHECK(png_image_begin_read_from_memory(&pi, p->buf, p->im.frame.bytes_used));
	CHECK_EQ(pi.width, w);
	CHECK_EQ(pi.height, h);
	pi.format = fmt == RKV_FMT_RGBA ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
	CHECK(png_image_finish_read(&pi, NULL, out, 0, NULL));
}

static void test_png(rkv_imgops *ctx)
{
	static const uint32_t fmts[] = { RKV_FMT_RGB24, RKV_FMT_BGR24, RKV_FMT_RGBA, RKV_FMT_NV12 };
	const uint32_t W = 37, H = 22;

	for (size_t i = 0; i < 4; i++) {
		struct img s, p, ref;
		uint32_t outfmt = fmts[i] == RKV_FMT_RGBA ? RKV_FMT_RGBA : RKV_FMT_RGB24;
		uint32_t n = W * H * (outfmt == RKV_FMT_RGBA ? 4 : 3);
		uint8_t *got = malloc(n);

		CHECK(got);
		img_new(&s, fmts[i], fmts[i] == RKV_FMT_NV12 ? W + 1 : W, H);
		img_new(&ref, outfmt, s.im.frame.width, H);
		img_buf(&p, rkv_imgops_png_bound(fmts[i], s.im.frame.width, H));
		fill_random(&s);
		/* what the PNG must hold: the source, as RGB(A) */
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &ref.im, NULL));
		CHECK_OK(rkv_imgops_png_encode(ctx, &s.im, &p.im, NULL));
		CHECK_EQ(p.im.frame.fourcc, RKV_FMT_PNG);
		CHECK_EQ(p.im.frame.width, s.im.frame.width);
		CHECK(memcmp(p.buf, "\x89PNG\r\n\x1a\n", 8) == 0);
		if (fmts[i] != RKV_FMT_NV12) {
			png_read(&p, outfmt, got, W, H);
			CHECK(memcmp(got, ref.buf, n) == 0);
			if (fmts[i] == RKV_FMT_RGB24)
				CHECK(memcmp(got, s.buf, n) == 0);
		}
		/* level 0 stores, 9 squeezes: both decode the same */
		for (uint32_t level = 0; level <= 9; level += 9) {
			struct rkv_png_params pp = { .level = level };

			CHECK_OK(rkv_imgops_png_encode(ctx, &s.im, &p.im, &pp));
			if (fmts[i] != RKV_FMT_NV12) {
				memset(got, 0, n);
				png_read(&p, outfmt, got, W, H);
				CHECK(memcmp(got, ref.buf, n) == 0);
			}
		}
		p.im.capacity = 100;
		CHECK_ERR(rkv_imgops_png_encode(ctx, &s.im, &p.im, NULL), ENOSPC);
		free(got);
		img_free(&s);
		img_free(&p);
		img_free(&ref);
	}

	/* a converted source: NV12, decoded and compared at its full width */
	{
		struct img s, p, ref;
		uint8_t *got = malloc(38 * 22 * 3);
		struct rkv_png_params bad = { .level = 10 };

		CHECK(got);
		img_new(&s, RKV_FMT_NV12, 38, 22);
		img_new(&ref, RKV_FMT_RGB24, 38, 22);
		img_buf(&p, rkv_imgops_png_bound(RKV_FMT_NV12, 38, 22));
		fill_random(&s);
		CHECK_OK(rkv_imgops_transform(ctx, &s.im, &ref.im, NULL));
		CHECK_OK(rkv_imgops_png_encode(ctx, &s.im, &p.im, NULL));
		png_read(&p, RKV_FMT_RGB24, got, 38, 22);
		CHECK(memcmp(got, ref.buf, 38 * 22 * 3) == 0);
		CHECK_ERR(rkv_imgops_png_encode(ctx, &s.im, &p.im, &bad), EINVAL);
		free(got);
		img_free(&s);
		img_free(&p);
		img_free(&ref);
	}
}

/* ---- the checks ------------------------------------------------------------------- */

/* rkv_imgops_decode_view: a pool frame, raw or JPEG, into a caller's
 * image; nothing of the descriptor trusted. */
static void test_decode_view(rkv_imgops *ctx)
{
	const uint32_t W = 160, H = 120;
	struct img s, j, d, ref;
	struct rkv_view v;

	img_new(&s, RKV_FMT_NV12, W, H);
	fill_scene(&s);
	img_buf(&j, rkv_imgops_jpeg_bound(W, H));
	CHECK_OK(rkv_imgops_jpeg_encode(ctx, &s.im, &j.im, NULL));
	img_new(&d, RKV_FMT_RGB24, W, H);
	img_new(&ref, RKV_FMT_RGB24, W, H);

	/* a JPEG view decodes as jpeg_decode does */
	memset(&v, 0, sizeof(v));
	v.data = j.buf;
	v.frame = j.im.frame;
	v.capacity = j.im.capacity;
	v.fd = -1;
	CHECK_OK(rkv_imgops_decode_view(ctx, &v, &d.im));
	CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &ref.im));
	CHECK(memcmp(d.buf, ref.buf, (size_t)W * H * 3) == 0);

	/* forged descriptors */
	struct rkv_view f = v;
	f.frame.bytes_used = v.capacity + 1;
	CHECK_ERR(rkv_imgops_decode_view(ctx, &f, &d.im), EINVAL);
	f = v;
	f.frame.bytes_used = 100;
	CHECK_ERR(rkv_imgops_decode_view(ctx, &f, &d.im), EBADMSG);
	f = v;
	f.frame.height = H * 2;
	CHECK_ERR(rkv_imgops_decode_view(ctx, &f, &d.im), EBADMSG);
	f = v;
	f.data = NULL;
	CHECK_ERR(rkv_imgops_decode_view(ctx, &f, &d.im), EINVAL);
	f = v;
	f.frame.num_planes = 1;
	CHECK_ERR(rkv_imgops_decode_view(ctx, &f, &d.im), EINVAL);
	CHECK_ERR(rkv_imgops_decode_view(ctx, NULL, &d.im), EINVAL);

	/* a raw view converts as transform does */
	v.data = s.buf;
	v.frame = s.im.frame;
	v.capacity = s.im.capacity;
	CHECK_OK(rkv_imgops_decode_view(ctx, &v, &d.im));
	CHECK_OK(rkv_imgops_transform(ctx, &s.im, &ref.im, NULL));
	CHECK(memcmp(d.buf, ref.buf, (size_t)W * H * 3) == 0);
	f = v;
	f.frame.planes[1].offset = v.capacity;
	CHECK_ERR(rkv_imgops_decode_view(ctx, &f, &d.im), EINVAL);
	img_free(&s);
	img_free(&j);
	img_free(&d);
	img_free(&ref);
}

static void test_bad_inputs(rkv_imgops *ctx)
{
	struct rkv_imgops_stats st0, st1;
	struct rkv_transform t = { 0 };
	struct img s, d, j;
	struct rkv_image bad;

	CHECK_OK(rkv_imgops_stats(ctx, &st0, sizeof(st0)));
	img_new(&s, RKV_FMT_NV12, 16, 8);
	img_new(&d, RKV_FMT_RGB24, 16, 8);
	img_buf(&j, 4096);

	/* odd width for NV12 (a descriptor rkv_frame_layout does make) */
	bad = s.im;
	CHECK_OK(rkv_frame_layout(&bad.frame, RKV_FMT_NV12, 15, 8, 1));
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), EINVAL);
	CHECK_ERR(rkv_imgops_jpeg_encode(ctx, &bad, &j.im, NULL), EINVAL);
	CHECK_OK(rkv_frame_layout(&bad.frame, RKV_FMT_I420, 16, 7, 1));
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), EINVAL);
	CHECK_OK(rkv_frame_layout(&bad.frame, RKV_FMT_YUYV, 7, 8, 1));
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), EINVAL);
	/* short source buffer */
	bad = s.im;
	bad.capacity = s.im.frame.bytes_used - 1;
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), EINVAL);
	/* a stride shorter than a row */
	bad = s.im;
	bad.frame.planes[0].stride = 8;
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), EINVAL);
	/* short destination */
	bad = d.im;
	bad.capacity = d.im.frame.bytes_used - 1;
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &bad, NULL), ENOSPC);
	CHECK_ERR(rkv_imgops_jpeg_decode(ctx, &j.im, &bad), ENOSPC);
	/* bogus and unsupported fourccs */
	bad = s.im;
	bad.frame.fourcc = RKV_FOURCC('X', 'X', 'X', 'X');
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), ENOTSUP);
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &j.im, NULL), ENOTSUP);
	CHECK_OK(rkv_frame_layout(&bad.frame, RKV_FMT_GREY, 16, 8, 1));
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), ENOTSUP);
	CHECK_ERR(rkv_imgops_png_encode(ctx, &bad, &j.im, NULL), ENOTSUP);
	/* larger than RKV_IMGOPS_MAX_DIM */
	bad = s.im;
	bad.frame.width = RKV_IMGOPS_MAX_DIM + 2;
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), ENOTSUP);
	/* NULL data, nonzero reserved words */
	bad = s.im;
	bad.data = NULL;
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), EINVAL);
	bad = s.im;
	bad.reserved[0] = 1;
	CHECK_ERR(rkv_imgops_transform(ctx, &bad, &d.im, NULL), EINVAL);
	/* overlapping source and destination */
	bad = d.im;
	bad.data = s.buf + 8;
	bad.capacity = d.im.frame.bytes_used;
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &bad, NULL), EINVAL);
	/* transform parameters */
	t.rotate = 45;
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
	t.rotate = 360;
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
	t.rotate = 0;
	t.flip = 4;
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
	t.flip = 0;
	t.filter = 3;
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
	t.filter = 0;
	t.reserved[4] = 1;
	CHECK_ERR(rkv_imgops_transform(ctx, &s.im, &d.im, &t), EINVAL);
	/* an empty encoded destination */
	bad = j.im;
	bad.capacity = 0;
	CHECK_ERR(rkv_imgops_jpeg_encode(ctx, &s.im, &bad, NULL), ENOSPC);
	CHECK_ERR(rkv_imgops_transform(NULL, &s.im, &d.im, NULL), EINVAL);

	/* every refusal counted as an error of its operation */
	CHECK_OK(rkv_imgops_stats(ctx, &st1, sizeof(st1)));
	CHECK_EQ(st1.errors[RKV_IMGOPS_OP_TRANSFORM] - st0.errors[RKV_IMGOPS_OP_TRANSFORM], 18);
	CHECK_EQ(st1.calls[RKV_IMGOPS_OP_TRANSFORM] - st0.calls[RKV_IMGOPS_OP_TRANSFORM], 18);
	CHECK_EQ(st1.errors[RKV_IMGOPS_OP_JPEG_ENCODE] - st0.errors[RKV_IMGOPS_OP_JPEG_ENCODE], 2);
	CHECK_EQ(st1.fallbacks[RKV_IMGOPS_OP_TRANSFORM], 0);
	img_free(&s);
	img_free(&d);
	img_free(&j);
}

/* ---- the dispatcher: a backend that refuses -------------------------------------------- */

/* A backend that does RGBA -> RGBA transforms itself (filling the
 * destination with 0x5a, so a test sees who did it), refuses any other
 * format, fails with -EIO on a 90-degree turn, has no JPEG encoder, and
 * declares a table too short to hold its PNG method. */
static int test_opened, test_closed;

static int tb_open(void **priv, char *why, size_t len)
{
	(void)why;
	(void)len;
	test_opened++;
	*priv = &test_opened;
	return 0;
}

static void tb_close(void *priv)
{
	CHECK(priv == &test_opened);
	test_closed++;
}

static int tb_transform(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			const struct rkv_transform *t, uint32_t *why)
{
	CHECK(priv == &test_opened);
	CHECK(t != NULL);
	CHECK_EQ(t->crop_w, src->frame.width); /* resolved by the dispatcher */
	if (t->rotate == 90)
		return -EIO;
	if (src->frame.fourcc != RKV_FMT_RGBA || dst->frame.fourcc != RKV_FMT_RGBA) {
		*why = RKV_IMGOPS_WHY_FORMAT;
		return -ENOTSUP;
	}
	memset(dst->data, 0x5a, dst->frame.bytes_used);
	return 0;
}

static int tb_decode(void *priv, const struct rkv_image *src, struct rkv_image *dst,
		     uint32_t *why)
{
	(void)priv, (void)src, (void)dst, (void)why;
	return -ENOTSUP; /* and no reason given */
}

static int tb_png(void *priv, const struct rkv_image *src, struct rkv_image *dst,
		  const struct rkv_png_params *p, uint32_t *why)
{
	(void)priv, (void)src, (void)dst, (void)p, (void)why;
	FAIL("a method past the table's size was called");
}

static const struct rkv_imgops_backend test_backend = {
	.size = offsetof(struct rkv_imgops_backend, png_encode),
	.name = "test",
	.open = tb_open,
	.close = tb_close,
	.transform = tb_transform,
	.jpeg_decode = tb_decode,
	.png_encode = tb_png,
};

static int tb_open_fail(void **priv, char *why, size_t len)
{
	(void)priv;
	snprintf(why, len, "probe said no");
	return -ENODEV;
}

static const struct rkv_imgops_backend failing_backend = {
	.size = sizeof(struct rkv_imgops_backend),
	.name = "broken",
	.open = tb_open_fail,
};

static void test_fallback(void)
{
	struct rkv_imgops_info info;
	struct rkv_imgops_stats st;
	struct img s, d, a, b, j;
	rkv_imgops *ctx = open_ctx("cpu", &test_backend);

	CHECK_EQ(test_opened, 1);
	CHECK_OK(rkv_imgops_info(ctx, &info, sizeof(info)));
	CHECK_EQ(info.nbackends, 2);
	CHECK_STR(info.backends[0], "test");
	CHECK_STR(info.backends[1], "cpu");

	/* NV12 -> RGB24: refused for its format, done by the CPU */
	img_new(&s, RKV_FMT_NV12, 16, 8);
	img_new(&d, RKV_FMT_RGB24, 16, 8);
	fill_yuv(&s, 81, 90, 240);
	CHECK_OK(rkv_imgops_transform(ctx, &s.im, &d.im, NULL));
	CHECK(near(d.buf[0], 255, 3) && near(d.buf[1], 0, 3));
	/* RGBA -> RGBA: done by the test backend */
	img_new(&a, RKV_FMT_RGBA, 8, 8);
	img_new(&b, RKV_FMT_RGBA, 8, 8);
	fill_random(&a);
	CHECK_OK(rkv_imgops_transform(ctx, &a.im, &b.im, NULL));
	CHECK_EQ(b.buf[0], 0x5a);
	CHECK_EQ(b.buf[255], 0x5a);
	/* another error ends the call: no fallback */
	struct rkv_transform t90 = { .rotate = 90 };
	CHECK_ERR(rkv_imgops_transform(ctx, &a.im, &b.im, &t90), EIO);
	/* missing methods: a NULL one, and one past the table's size */
	img_buf(&j, 65536);
	CHECK_OK(rkv_imgops_jpeg_encode(ctx, &s.im, &j.im, NULL));
	CHECK_OK(rkv_imgops_png_encode(ctx, &s.im, &j.im, NULL));
	CHECK_EQ(j.im.frame.fourcc, RKV_FMT_PNG);

	/* a refusal without a reason */
	{
		struct img back;

		img_new(&back, RKV_FMT_I420, 16, 8);
		j.im.capacity = 65536;
		CHECK_OK(rkv_imgops_jpeg_encode(ctx, &s.im, &j.im, NULL));
		CHECK_OK(rkv_imgops_jpeg_decode(ctx, &j.im, &back.im));
		CHECK(near(plane(&back, 0)[0], 81, 2));
		img_free(&back);
	}

	CHECK_OK(rkv_imgops_stats(ctx, &st, sizeof(st)));
	CHECK_EQ(st.fallbacks[RKV_IMGOPS_OP_JPEG_DECODE], 1);
	CHECK_EQ(st.done_by[1][RKV_IMGOPS_OP_JPEG_DECODE], 1);
	CHECK_EQ(st.reasons[RKV_IMGOPS_WHY_OTHER], 1);
	CHECK_EQ(st.calls[RKV_IMGOPS_OP_TRANSFORM], 3);
	CHECK_EQ(st.fallbacks[RKV_IMGOPS_OP_TRANSFORM], 1);
	CHECK_EQ(st.errors[RKV_IMGOPS_OP_TRANSFORM], 1);
	CHECK_EQ(st.done_by[0][RKV_IMGOPS_OP_TRANSFORM], 1);
	CHECK_EQ(st.done_by[1][RKV_IMGOPS_OP_TRANSFORM], 1);
	CHECK_EQ(st.fallbacks[RKV_IMGOPS_OP_JPEG_ENCODE], 2);
	CHECK_EQ(st.fallbacks[RKV_IMGOPS_OP_PNG_ENCODE], 1);
	CHECK_EQ(st.done_by[1][RKV_IMGOPS_OP_JPEG_ENCODE], 2);
	CHECK_EQ(st.reasons[RKV_IMGOPS_WHY_FORMAT], 1);
	CHECK_EQ(st.reasons[RKV_IMGOPS_WHY_METHOD], 3);
	/* a prefix of the stats struct is fine */
	uint64_t first[2] = { 0, 0 };
	CHECK_OK(rkv_imgops_stats(ctx, (struct rkv_imgops_stats *)(void *)first, sizeof(first)));
	CHECK_EQ(first[0], 3);
	rkv_imgops_close(ctx);
	CHECK_EQ(test_closed, 1);

	/* a backend whose probe fails is left out, and info says why */
	ctx = open_ctx("auto", &failing_backend);
	CHECK_OK(rkv_imgops_info(ctx, &info, sizeof(info)));
	CHECK_EQ(info.nbackends, 1);
	CHECK_STR(info.backends[0], "cpu");
	CHECK(strstr(info.refused, "broken: probe said no"));
	rkv_imgops_close(ctx);

	img_free(&s);
	img_free(&d);
	img_free(&a);
	img_free(&b);
	img_free(&j);
}

/* ---- threads: one context each, encoding at once -------------------------------------- */

struct worker {
	pthread_t th;
	const struct img *src;
	uint8_t *out;
	uint64_t cap, len;
	int rounds, err;
	rkv_imgops *ctx; /* NULL: the worker makes its own */
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct rkv_jpeg_params q = { .quality = 80 };
	struct rkv_image dst;
	rkv_imgops *ctx = w->ctx;

	if (!ctx && (w->err = rkv_imgops_open(NULL, &ctx)) < 0)
		return NULL;
	for (int i = 0; i < w->rounds && !w->err; i++) {
		rkv_imgops_image(&dst, RKV_FMT_JPEG, 0, 0, w->out, w->cap);
		w->err = rkv_imgops_jpeg_encode(ctx, &w->src->im, &dst, &q);
		w->len = dst.frame.bytes_used;
	}
	if (!w->ctx)
		rkv_imgops_close(ctx);
	return NULL;
}

static void test_threads(void)
{
	struct worker w[3];
	struct img s;
	int rounds = (int)test_scaled(20);

	img_new(&s, RKV_FMT_NV12, 640, 360);
	fill_scene(&s);
	for (int i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].src = &s;
		w[i].cap = rkv_imgops_jpeg_bound(640, 360);
		w[i].out = malloc(w[i].cap);
		w[i].rounds = rounds;
		CHECK(w[i].out);
		CHECK_EQ(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
	}
	/* A third worker uses a context of this thread's, whose counters this
	 * thread reads while it works (rkv_imgops_stats: any thread). */
	memset(&w[2], 0, sizeof(w[2]));
	w[2].src = &s;
	w[2].cap = rkv_imgops_jpeg_bound(640, 360);
	w[2].out = malloc(w[2].cap);
	w[2].rounds = rounds;
	w[2].ctx = open_ctx("cpu", NULL);
	CHECK(w[2].out);
	CHECK_EQ(pthread_create(&w[2].th, NULL, work, &w[2]), 0);
	for (uint64_t seen = 0; seen < (uint64_t)rounds;) {
		struct rkv_imgops_stats st;

		CHECK_OK(rkv_imgops_stats(w[2].ctx, &st, sizeof(st)));
		CHECK_UINT(st.calls[RKV_IMGOPS_OP_JPEG_ENCODE], >=, seen);
		seen = st.calls[RKV_IMGOPS_OP_JPEG_ENCODE];
		usleep(1000);
	}
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(pthread_join(w[i].th, NULL), 0);
		CHECK_OK(w[i].err);
	}
	rkv_imgops_close(w[2].ctx);
	CHECK_EQ(w[2].len, w[0].len);
	/* the same input gives the same bytes in both */
	CHECK_EQ(w[0].len, w[1].len);
	CHECK(memcmp(w[0].out, w[1].out, w[0].len) == 0);
	for (int i = 0; i < 3; i++)
		free(w[i].out);
	img_free(&s);
}

int main(void)
{
	rkv_imgops *ctx;

	test_watchdog(300);
	/* This program is about the CPU backend and the dispatcher: keep a
	 * board's real RGA and MPP out of the chains it checks (their own
	 * tests are unit_imgops_hw's). */
	setenv("RKV_RGA_DEV", "/nonexistent/rga", 1);
	setenv("RKV_MPP_DEV", "/nonexistent/mpp_service", 1);
	test_open();
	ctx = open_ctx("cpu", NULL);
	test_colour(ctx);
	test_lossless(ctx);
	test_scale(ctx);
	test_geometry(ctx);
	test_jpeg(ctx);
	test_png(ctx);
	test_decode_view(ctx);
	test_bad_inputs(ctx);
	rkv_imgops_close(ctx);
	test_fallback();
	test_threads();
	printf("unit_imgops: ok\n");
	return 0;
}
