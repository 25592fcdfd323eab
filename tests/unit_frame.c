/* SPDX-License-Identifier: MIT */
/*
 * unit_frame.c - the frame descriptor: rkv_frame_layout, rkv_frame_check,
 * rkv_fourcc_str.
 *
 * The expected layouts are written out literally: planes follow each other
 * with no gap, every row is padded to the alignment, and chroma of an odd
 * width or height rounds up (a 641-pixel NV12 row needs 321 CbCr pairs).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <rkv/frame.h>

#include "test.h"

struct plane_want {
	uint64_t offset;
	uint32_t stride;
	uint64_t size;
};

struct layout_case {
	const char *what;
	uint32_t fourcc;
	uint32_t width, height, align;
	int64_t total;
	uint32_t num_planes;
	struct plane_want planes[RKV_MAX_PLANES];
};

static const struct layout_case cases[] = {
	/* NV12: Y plane, then interleaved CbCr at half height */
	{ "nv12 640x480", RKV_FMT_NV12, 640, 480, 1, 460800, 2,
	  { { 0, 640, 307200 }, { 307200, 640, 153600 } } },
	{ "nv12 641x481 odd", RKV_FMT_NV12, 641, 481, 1, 463043, 2,
	  { { 0, 641, 308321 }, { 308321, 642, 154722 } } },
	{ "nv12 100x50 align 16", RKV_FMT_NV12, 100, 50, 16, 8400, 2,
	  { { 0, 112, 5600 }, { 5600, 112, 2800 } } },
	{ "nv12 1920x1080 align 64", RKV_FMT_NV12, 1920, 1080, 64, 3110400, 2,
	  { { 0, 1920, 2073600 }, { 2073600, 1920, 1036800 } } },
	{ "nv12 1x1", RKV_FMT_NV12, 1, 1, 1, 3, 2,
	  { { 0, 1, 1 }, { 1, 2, 2 } } },
	{ "nv12 2 x 2^32-1", RKV_FMT_NV12, 2, UINT32_MAX, 1, 12884901886, 2,
	  { { 0, 2, 8589934590 }, { 8589934590, 2, 4294967296 } } },
	/* I420: Y, Cb, Cr */
	{ "i420 640x480", RKV_FMT_I420, 640, 480, 1, 460800, 3,
	  { { 0, 640, 307200 }, { 307200, 320, 76800 }, { 384000, 320, 76800 } } },
	{ "i420 641x481 odd", RKV_FMT_I420, 641, 481, 1, 463043, 3,
	  { { 0, 641, 308321 }, { 308321, 321, 77361 }, { 385682, 321, 77361 } } },
	{ "i420 100x50 align 32", RKV_FMT_I420, 100, 50, 32, 9600, 3,
	  { { 0, 128, 6400 }, { 6400, 64, 1600 }, { 8000, 64, 1600 } } },
	{ "i420 3x3 align 4", RKV_FMT_I420, 3, 3, 4, 28, 3,
	  { { 0, 4, 12 }, { 12, 4, 8 }, { 20, 4, 8 } } },
	{ "i420 (2^32-1) x 1", RKV_FMT_I420, UINT32_MAX, 1, 1, 8589934591, 3,
	  { { 0, UINT32_MAX, 4294967295 }, { 4294967295, 2147483648u, 2147483648 },
	    { 6442450943, 2147483648u, 2147483648 } } },
	/* YUYV: 4 bytes per pair of pixels */
	{ "yuyv 640x480", RKV_FMT_YUYV, 640, 480, 1, 614400, 1,
	  { { 0, 1280, 614400 } } },
	{ "yuyv 3x3 odd", RKV_FMT_YUYV, 3, 3, 1, 24, 1,
	  { { 0, 8, 24 } } },
	{ "yuyv 100x10 align 64", RKV_FMT_YUYV, 100, 10, 64, 2560, 1,
	  { { 0, 256, 2560 } } },
	/* packed RGB */
	{ "rgb24 640x480", RKV_FMT_RGB24, 640, 480, 1, 921600, 1,
	  { { 0, 1920, 921600 } } },
	{ "rgb24 5x3 align 4", RKV_FMT_RGB24, 5, 3, 4, 48, 1,
	  { { 0, 16, 48 } } },
	{ "bgr24 5x3", RKV_FMT_BGR24, 5, 3, 1, 45, 1,
	  { { 0, 15, 45 } } },
	{ "bgr24 1920x1080 align 256", RKV_FMT_BGR24, 1920, 1080, 256, 6359040, 1,
	  { { 0, 5888, 6359040 } } },
	/* grey */
	{ "grey 7x5", RKV_FMT_GREY, 7, 5, 1, 35, 1,
	  { { 0, 7, 35 } } },
	{ "grey 7x5 align 8", RKV_FMT_GREY, 7, 5, 8, 40, 1,
	  { { 0, 8, 40 } } },
	{ "grey 65536x65536", RKV_FMT_GREY, 65536, 65536, 1, 4294967296, 1,
	  { { 0, 65536, 4294967296 } } },
	{ "grey (2^32-1) x 1", RKV_FMT_GREY, UINT32_MAX, 1, 1, 4294967295, 1,
	  { { 0, UINT32_MAX, 4294967295 } } },
	{ "grey 1x1 align 2^31", RKV_FMT_GREY, 1, 1, 2147483648u, 2147483648, 1,
	  { { 0, 2147483648u, 2147483648 } } },
	/* just under 2^63 bytes */
	{ "grey 2^31 x (2^32-1)", RKV_FMT_GREY, 2147483648u, UINT32_MAX, 1,
	  9223372034707292160, 1, { { 0, 2147483648u, 9223372034707292160u } } },
};

/* A descriptor full of garbage, so "clears the rest" can be seen. */
static void dirty(struct rkv_frame *f)
{
	memset(f, 0xa5, sizeof *f);
}

static void check_cleared(const struct layout_case *c, const struct rkv_frame *f)
{
	CHECK_UINT(f->seq, ==, 0);
	CHECK_INT(f->timestamp_ns, ==, 0);
	CHECK_UINT(f->flags, ==, 0);
	CHECK_UINT(f->pad0, ==, 0);
	CHECK_UINT(f->user, ==, 0);
	for (int i = 0; i < 5; i++)
		CHECK_UINT(f->reserved[i], ==, 0);
	for (uint32_t i = 0; i < RKV_MAX_PLANES; i++) {
		CHECK_UINT(f->planes[i].pad0, ==, 0);
		if (i >= c->num_planes) {
			CHECK_UINT(f->planes[i].offset, ==, 0);
			CHECK_UINT(f->planes[i].stride, ==, 0);
			CHECK_UINT(f->planes[i].size, ==, 0);
		}
	}
}

static void test_layouts(void)
{
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct layout_case *c = &cases[k];
		struct rkv_frame f;
		dirty(&f);
		int64_t n = rkv_frame_layout(&f, c->fourcc, c->width, c->height, c->align);
		if (n != c->total)
			FAIL("%s: rkv_frame_layout = %" PRId64 ", expected %" PRId64,
			     c->what, n, c->total);
		CHECK_UINT(f.fourcc, ==, c->fourcc);
		CHECK_UINT(f.width, ==, c->width);
		CHECK_UINT(f.height, ==, c->height);
		CHECK_UINT(f.bytes_used, ==, (uint64_t)c->total);
		if (f.num_planes != c->num_planes)
			FAIL("%s: num_planes %u, expected %u", c->what, f.num_planes, c->num_planes);
		for (uint32_t i = 0; i < c->num_planes; i++) {
			const struct rkv_plane *p = &f.planes[i];
			const struct plane_want *w = &c->planes[i];
			if (p->offset != w->offset || p->stride != w->stride || p->size != w->size)
				FAIL("%s: plane %u is offset %" PRIu64 " stride %u size %" PRIu64
				     ", expected offset %" PRIu64 " stride %u size %" PRIu64,
				     c->what, i, p->offset, p->stride, p->size,
				     w->offset, w->stride, w->size);
			/* rows are padded to the alignment */
			CHECK_UINT(p->stride % c->align, ==, 0);
		}
		check_cleared(c, &f);
		/* what layout produces, check accepts at exactly that capacity */
		CHECK_OK(rkv_frame_check(&f, (uint64_t)c->total));
		CHECK_ERR(rkv_frame_check(&f, (uint64_t)c->total - 1), EINVAL);
	}
}

static void test_layout_errors(void)
{
	struct rkv_frame f;
	/* not raw, or unknown */
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_JPEG, 640, 480, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_H264, 640, 480, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_BYTES, 640, 480, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NONE, 640, 480, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FOURCC('X', 'Y', 'Z', 'W'), 640, 480, 1), EINVAL);
	/* zero sizes */
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV12, 0, 480, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV12, 640, 0, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_GREY, 0, 0, 1), EINVAL);
	/* alignment not a power of two */
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV12, 640, 480, 0), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV12, 640, 480, 3), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_RGB24, 640, 480, 48), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_GREY, 640, 480, UINT32_MAX), EINVAL);
	/* byte counts over 63 bits */
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_GREY, UINT32_MAX, UINT32_MAX, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_I420, 2147483648u, UINT32_MAX, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV12, 2147483648u, UINT32_MAX, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_RGB24, UINT32_MAX, UINT32_MAX, 1), EINVAL);
	/* a row pitch that a 32-bit stride cannot hold is no valid layout either */
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_RGB24, 2147483648u, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_YUYV, UINT32_MAX, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV12, UINT32_MAX, 2, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_GREY, UINT32_MAX, 1, 2), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_GREY, 2147483649u, 1, 2147483648u), EINVAL);
}

/* A valid two-plane descriptor to spoil one field at a time. */
static struct rkv_frame good_nv12(void)
{
	struct rkv_frame f;
	CHECK_EQ(rkv_frame_layout(&f, RKV_FMT_NV12, 64, 32, 1), 3072);
	f.seq = 7;
	f.timestamp_ns = 123456789;
	f.flags = RKV_FRAME_KEYFRAME;
	f.user = 99;
	return f;
}

static void test_check(void)
{
	struct rkv_frame f = good_nv12();
	CHECK_OK(rkv_frame_check(&f, 3072));
	CHECK_OK(rkv_frame_check(&f, 1u << 20));

	/* an encoded frame: no planes, any length up to the capacity */
	struct rkv_frame e;
	memset(&e, 0, sizeof e);
	e.fourcc = RKV_FMT_JPEG;
	e.bytes_used = 1000;
	e.flags = RKV_FRAME_KEYFRAME;
	CHECK_OK(rkv_frame_check(&e, 1000));
	CHECK_ERR(rkv_frame_check(&e, 999), EINVAL);
	e.bytes_used = 0;
	CHECK_OK(rkv_frame_check(&e, 0));

	/* bytes_used beyond the capacity */
	f = good_nv12();
	f.bytes_used = 3073;
	CHECK_ERR(rkv_frame_check(&f, 3072), EINVAL);
	f.bytes_used = UINT64_MAX;
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX - 1), EINVAL);

	/* a plane that ends past bytes_used (though inside the capacity) */
	f = good_nv12();
	f.bytes_used = 3071;
	CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	f = good_nv12();
	f.planes[1].offset = 2049;
	CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	f = good_nv12();
	f.planes[0].size = 3073;
	CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	f = good_nv12();
	f.planes[1].offset = 3073;
	f.planes[1].size = 0;
	CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);

	/* offset + size wrapping around 2^64 */
	f = good_nv12();
	f.planes[1].offset = UINT64_MAX - 10;
	f.planes[1].size = 100;
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
	f = good_nv12();
	f.planes[0].offset = 100;
	f.planes[0].size = UINT64_MAX - 50;
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);

	/* too many planes */
	f = good_nv12();
	f.num_planes = RKV_MAX_PLANES + 1;
	CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	f.num_planes = UINT32_MAX;
	CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);

	/* padding and reserved words must be zero */
	f = good_nv12();
	f.pad0 = 1;
	CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	for (int i = 0; i < RKV_MAX_PLANES; i++) {
		f = good_nv12();
		f.planes[i].pad0 = 0x80000000u;
		CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	}
	for (int i = 0; i < 5; i++) {
		f = good_nv12();
		f.reserved[i] = 1;
		CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	}
	/* the fields that are the producer's business are not judged */
	f = good_nv12();
	f.seq = UINT64_MAX;
	f.user = UINT64_MAX;
	f.timestamp_ns = INT64_MAX;
	CHECK_OK(rkv_frame_check(&f, 3072));
}

static void test_fourcc_str(void)
{
	static const struct {
		uint32_t fourcc;
		const char *s;
	} names[] = {
		{ RKV_FMT_NV12, "NV12" },  { RKV_FMT_I420, "YU12" },  { RKV_FMT_YUYV, "YUYV" },
		{ RKV_FMT_RGB24, "RGB3" }, { RKV_FMT_BGR24, "BGR3" }, { RKV_FMT_GREY, "GREY" },
		{ RKV_FMT_JPEG, "JPEG" },  { RKV_FMT_H264, "H264" },  { RKV_FMT_BYTES, "BYTE" },
		{ RKV_FOURCC('a', 'b', '1', '_'), "ab1_" },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char buf[5];
		memset(buf, 'x', sizeof buf);
		const char *r = rkv_fourcc_str(names[i].fourcc, buf);
		CHECK(r == buf);
		CHECK_STR(r, names[i].s);
	}
	/* anything at all still gives a terminated string in buf */
	static const uint32_t odd[] = { 0, 0x01020304u, UINT32_MAX };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		char buf[6];
		memset(buf, 'x', sizeof buf);
		CHECK(rkv_fourcc_str(odd[i], buf) == buf);
		CHECK(memchr(buf, '\0', 5) != NULL);
		CHECK_INT(buf[5], ==, 'x');
	}
}

int main(void)
{
	test_watchdog(20);
	test_layouts();
	test_layout_errors();
	test_check();
	test_fourcc_str();
	printf("unit_frame: ok\n");
	return 0;
}
