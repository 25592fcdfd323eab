/* SPDX-License-Identifier: MIT */
/*
 * unit_frame.c - the frame descriptor: rkv_frame_layout,
 * rkv_frame_layout_aligned, rkv_frame_check, rkv_fourcc_str.
 *
 * The expected layouts are written out literally: for rkv_frame_layout
 * planes follow each other with no gap, every row is padded to the
 * alignment, and chroma of an odd width or height rounds up (a 641-pixel
 * NV12 row needs 321 CbCr pairs). The check tests carry their own model of
 * each format's geometry (geom() below), written apart from the library's
 * table, and spoil valid descriptors one field at a time.
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
	/* NV16: Y plane, then interleaved CbCr at full height */
	{ "nv16 640x480", RKV_FMT_NV16, 640, 480, 1, 614400, 2,
	  { { 0, 640, 307200 }, { 307200, 640, 307200 } } },
	{ "nv16 641x481 odd", RKV_FMT_NV16, 641, 481, 1, 617123, 2,
	  { { 0, 641, 308321 }, { 308321, 642, 308802 } } },
	{ "nv16 100x50 align 16", RKV_FMT_NV16, 100, 50, 16, 11200, 2,
	  { { 0, 112, 5600 }, { 5600, 112, 5600 } } },
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
	{ "rgba 5x3", RKV_FMT_RGBA, 5, 3, 1, 60, 1,
	  { { 0, 20, 60 } } },
	{ "rgba 5x3 align 16", RKV_FMT_RGBA, 5, 3, 16, 96, 1,
	  { { 0, 32, 96 } } },
	{ "rgba 1920x1080 align 64", RKV_FMT_RGBA, 1920, 1080, 64, 8294400, 1,
	  { { 0, 7680, 8294400 } } },
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

/* rkv_frame_layout_aligned: luma stride aligned, NV12/NV16 chroma stride =
 * luma stride, I420 chroma stride = luma stride / 2; the rows of every
 * plane padded to height_align (chroma: that height subsampled); each plane
 * starting at a multiple of offset_align. */
struct aligned_case {
	const char *what;
	uint32_t fourcc;
	uint32_t width, height, stride_align, height_align, offset_align;
	int64_t total;
	uint32_t num_planes;
	struct plane_want planes[RKV_MAX_PLANES];
};

static const struct aligned_case aligned_cases[] = {
	/* the ISP's 1080p: 1088 rows of 1920, then 544 rows of CbCr at 4 KiB
	 * (2088960 happens to be 510 pages already) */
	{ "nv12 1920x1080 64/16/4096", RKV_FMT_NV12, 1920, 1080, 64, 16, 4096, 3133440, 2,
	  { { 0, 1920, 2088960 }, { 2088960, 1920, 1044480 } } },
	/* here the offset alignment leaves a gap: Y ends at 7168, CbCr at 8192 */
	{ "nv12 100x50 16/16/4096", RKV_FMT_NV12, 100, 50, 16, 16, 4096, 11776, 2,
	  { { 0, 112, 7168 }, { 8192, 112, 3584 } } },
	/* odd width: the shared stride covers the 321st CbCr pair */
	{ "nv12 641x481 1/1/1", RKV_FMT_NV12, 641, 481, 1, 1, 1, 463524, 2,
	  { { 0, 642, 308802 }, { 308802, 642, 154722 } } },
	{ "nv12 1x1 1/1/1", RKV_FMT_NV12, 1, 1, 1, 1, 1, 4, 2,
	  { { 0, 2, 2 }, { 2, 2, 2 } } },
	{ "nv12 1x1 1/16/4096", RKV_FMT_NV12, 1, 1, 1, 16, 4096, 4112, 2,
	  { { 0, 2, 32 }, { 4096, 2, 16 } } },
	/* I420, odd sizes: chroma stride = half the (even) luma stride */
	{ "i420 641x481 1/1/1", RKV_FMT_I420, 641, 481, 1, 1, 1, 463524, 3,
	  { { 0, 642, 308802 }, { 308802, 321, 77361 }, { 386163, 321, 77361 } } },
	{ "i420 641x481 64/16/64", RKV_FMT_I420, 641, 481, 64, 16, 64, 523776, 3,
	  { { 0, 704, 349184 }, { 349184, 352, 87296 }, { 436480, 352, 87296 } } },
	{ "i420 641x481 4/2/256", RKV_FMT_I420, 641, 481, 4, 2, 256, 465954, 3,
	  { { 0, 644, 310408 }, { 310528, 322, 77602 }, { 388352, 322, 77602 } } },
	{ "i420 3x3 4/1/1", RKV_FMT_I420, 3, 3, 4, 1, 1, 20, 3,
	  { { 0, 4, 12 }, { 12, 2, 4 }, { 16, 2, 4 } } },
	{ "i420 1x1 1/1/1", RKV_FMT_I420, 1, 1, 1, 1, 1, 4, 3,
	  { { 0, 2, 2 }, { 2, 1, 1 }, { 3, 1, 1 } } },
	/* 640 is not a multiple of 256: V4L2 would say so too */
	{ "i420 1280x720 256/16/4096", RKV_FMT_I420, 1280, 720, 256, 16, 4096, 1385472, 3,
	  { { 0, 1280, 921600 }, { 921600, 640, 230400 }, { 1155072, 640, 230400 } } },
	/* NV16: chroma at full (padded) height */
	{ "nv16 1920x1080 64/16/4096", RKV_FMT_NV16, 1920, 1080, 64, 16, 4096, 4177920, 2,
	  { { 0, 1920, 2088960 }, { 2088960, 1920, 2088960 } } },
	{ "nv16 3x3 1/1/1", RKV_FMT_NV16, 3, 3, 1, 1, 1, 24, 2,
	  { { 0, 4, 12 }, { 12, 4, 12 } } },
	{ "nv16 641x481 16/4/128", RKV_FMT_NV16, 641, 481, 16, 4, 128, 635072, 2,
	  { { 0, 656, 317504 }, { 317568, 656, 317504 } } },
	/* packed */
	{ "rgba 1920x1080 64/16/1", RKV_FMT_RGBA, 1920, 1080, 64, 16, 1, 8355840, 1,
	  { { 0, 7680, 8355840 } } },
	{ "rgba 5x3 16/1/1", RKV_FMT_RGBA, 5, 3, 16, 1, 1, 96, 1,
	  { { 0, 32, 96 } } },
	{ "rgba 3x5 1/4/1", RKV_FMT_RGBA, 3, 5, 1, 4, 1, 96, 1,
	  { { 0, 12, 96 } } },
	{ "yuyv 3x3 64/2/1", RKV_FMT_YUYV, 3, 3, 64, 2, 1, 256, 1,
	  { { 0, 64, 256 } } },
	{ "rgb24 5x3 4/1/1", RKV_FMT_RGB24, 5, 3, 4, 1, 1, 48, 1,
	  { { 0, 16, 48 } } },
	{ "bgr24 5x3 1/1/4096", RKV_FMT_BGR24, 5, 3, 1, 1, 4096, 45, 1,
	  { { 0, 15, 45 } } },
	{ "grey 7x5 8/4/1", RKV_FMT_GREY, 7, 5, 8, 4, 1, 64, 1,
	  { { 0, 8, 64 } } },
	/* a plane offset alignment as large as they come */
	{ "nv12 2x2 1/1/2^31", RKV_FMT_NV12, 2, 2, 1, 1, 2147483648u, 2147483650, 2,
	  { { 0, 2, 4 }, { 2147483648, 2, 2 } } },
};

static void test_layouts_aligned(void)
{
	for (size_t k = 0; k < sizeof aligned_cases / sizeof aligned_cases[0]; k++) {
		const struct aligned_case *c = &aligned_cases[k];
		struct rkv_frame f;
		dirty(&f);
		int64_t n = rkv_frame_layout_aligned(&f, c->fourcc, c->width, c->height,
						     c->stride_align, c->height_align,
						     c->offset_align);
		if (n != c->total)
			FAIL("%s: rkv_frame_layout_aligned = %" PRId64 ", expected %" PRId64,
			     c->what, n, c->total);
		CHECK_UINT(f.fourcc, ==, c->fourcc);
		CHECK_UINT(f.width, ==, c->width);
		CHECK_UINT(f.height, ==, c->height); /* the real height, not the padded one */
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
			CHECK_UINT(p->offset % c->offset_align, ==, 0);
		}
		CHECK_UINT(f.planes[0].stride % c->stride_align, ==, 0);
		struct layout_case lc = { .num_planes = c->num_planes };
		check_cleared(&lc, &f);
		CHECK_OK(rkv_frame_check(&f, (uint64_t)c->total));
		CHECK_ERR(rkv_frame_check(&f, (uint64_t)c->total - 1), EINVAL);
	}

	/* with no alignment asked for beyond the stride, the two calls agree
	 * wherever the V4L2 stride rule and the per-plane one do */
	static const struct {
		uint32_t fourcc, w, h, align;
	} same[] = {
		{ RKV_FMT_NV12, 640, 480, 1 },    { RKV_FMT_NV12, 1920, 1080, 64 },
		{ RKV_FMT_NV12, 641, 481, 2 },    { RKV_FMT_NV16, 100, 50, 16 },
		{ RKV_FMT_I420, 640, 480, 1 },    { RKV_FMT_I420, 100, 50, 32 },
		{ RKV_FMT_YUYV, 3, 3, 1 },        { RKV_FMT_RGB24, 5, 3, 4 },
		{ RKV_FMT_BGR24, 1920, 1080, 256 }, { RKV_FMT_RGBA, 7, 7, 8 },
		{ RKV_FMT_GREY, 7, 5, 1 },
	};
	for (size_t k = 0; k < sizeof same / sizeof same[0]; k++) {
		struct rkv_frame a, b;
		dirty(&a);
		dirty(&b);
		int64_t na = rkv_frame_layout(&a, same[k].fourcc, same[k].w, same[k].h, same[k].align);
		int64_t nb = rkv_frame_layout_aligned(&b, same[k].fourcc, same[k].w, same[k].h,
						      same[k].align, 1, 1);
		CHECK_INT(na, >, 0);
		CHECK_EQ(na, nb);
		CHECK(memcmp(&a, &b, sizeof a) == 0);
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
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV16, 2147483648u, UINT32_MAX, 1), EINVAL);
	/* a row pitch that a 32-bit stride cannot hold is no valid layout either */
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_RGB24, 2147483648u, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_YUYV, UINT32_MAX, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_NV12, UINT32_MAX, 2, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_GREY, UINT32_MAX, 1, 2), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_GREY, 2147483649u, 1, 2147483648u), EINVAL);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_RGBA, 1073741824u, 1, 1), EINVAL);
	CHECK_EQ(rkv_frame_layout(&f, RKV_FMT_RGBA, 1073741823u, 1, 1), 4294967292);
	/* no descriptor */
	CHECK_ERR(rkv_frame_layout(NULL, RKV_FMT_GREY, 1, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout_aligned(NULL, RKV_FMT_GREY, 1, 1, 1, 1, 1), EINVAL);

	/* the same through rkv_frame_layout_aligned, every alignment in turn */
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_JPEG, 640, 480, 1, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FOURCC('X', 'Y', 'Z', 'W'), 640, 480, 1, 1, 1),
		  EINVAL);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_NV12, 0, 480, 1, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_NV12, 640, 0, 1, 1, 1), EINVAL);
	static const uint32_t bad_align[] = { 0, 3, 6, 48, 1000, 0x80000001u, UINT32_MAX };
	for (size_t i = 0; i < sizeof bad_align / sizeof bad_align[0]; i++) {
		uint32_t a = bad_align[i];
		CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_NV12, 64, 32, a, 1, 1), EINVAL);
		CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_NV12, 64, 32, 1, a, 1), EINVAL);
		CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_NV12, 64, 32, 1, 1, a), EINVAL);
	}
	/* strides over 32 bits, from the width or from the alignment */
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_GREY, UINT32_MAX, 1, 2, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_GREY, 2147483649u, 1, 2147483648u, 1, 1),
		  EINVAL);
	/* odd width rounded up to even: 2^32-1 becomes 2^32, too wide */
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_I420, UINT32_MAX, 1, 1, 1, 1), EINVAL);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_NV16, UINT32_MAX, 1, 1, 1, 1), EINVAL);
	CHECK_EQ(rkv_frame_layout_aligned(&f, RKV_FMT_GREY, UINT32_MAX, 1, 1, 1, 1), 4294967295);
	/* byte counts over 63 bits: from the padded height ... */
	CHECK_EQ(rkv_frame_layout_aligned(&f, RKV_FMT_GREY, 2147483648u, UINT32_MAX - 1, 1, 1, 1),
		 9223372032559808512);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_GREY, 2147483648u, UINT32_MAX - 1, 1, 4, 1),
		  EINVAL); /* 2^31 * 2^32 = 2^63 */
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_GREY, 2147483648u, UINT32_MAX, 1,
					   2147483648u, 1), EINVAL);
	/* ... and from the offset alignment: 7 bytes under 2^63 when packed,
	 * over it once the CbCr plane starts on a 2 GiB boundary */
	CHECK_EQ(rkv_frame_layout_aligned(&f, RKV_FMT_NV12, 2147483650u, 2863311528u, 1, 1, 1),
		 9223372036854775800);
	CHECK_OK(rkv_frame_check(&f, 9223372036854775800u));
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_NV12, 2147483650u, 2863311528u, 1, 1,
					   2147483648u), EINVAL);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_I420, 2147483648u, UINT32_MAX, 1, 1, 1),
		  EINVAL);

	/* a failed layout leaves nothing behind a careless caller could publish */
	static const struct rkv_frame zero;
	dirty(&f);
	CHECK_ERR(rkv_frame_layout_aligned(&f, RKV_FMT_GREY, UINT32_MAX, 1, 2, 1, 1), EINVAL);
	CHECK(memcmp(&f, &zero, sizeof f) == 0);
	dirty(&f);
	CHECK_ERR(rkv_frame_layout(&f, RKV_FMT_JPEG, 640, 480, 1), EINVAL);
	CHECK(memcmp(&f, &zero, sizeof f) == 0);
}

/* ---- the test's own model of the formats ---------------------------------- */

static const uint32_t raw_formats[] = {
	RKV_FMT_NV12, RKV_FMT_NV16, RKV_FMT_I420, RKV_FMT_YUYV,
	RKV_FMT_RGB24, RKV_FMT_BGR24, RKV_FMT_RGBA, RKV_FMT_GREY,
};
#define NRAW (sizeof raw_formats / sizeof raw_formats[0])

/* Rows and row bytes of each plane, odd sizes rounded up. */
struct geom {
	uint32_t planes;
	uint64_t row[3];  /* bytes in one row */
	uint64_t rows[3]; /* rows of the real height */
	uint32_t vsub[3]; /* image rows per plane row */
};

static struct geom geom(uint32_t fourcc, uint64_t w, uint64_t h)
{
	struct geom g = { 0 };
	uint64_t cw = (w + 1) / 2, ch = (h + 1) / 2;
	g.row[0] = w;
	g.rows[0] = h;
	g.vsub[0] = g.vsub[1] = g.vsub[2] = 1;
	switch (fourcc) {
	case RKV_FMT_NV12:
		g.planes = 2;
		g.row[1] = 2 * cw, g.rows[1] = ch, g.vsub[1] = 2;
		break;
	case RKV_FMT_NV16:
		g.planes = 2;
		g.row[1] = 2 * cw, g.rows[1] = h;
		break;
	case RKV_FMT_I420:
		g.planes = 3;
		g.row[1] = g.row[2] = cw;
		g.rows[1] = g.rows[2] = ch;
		g.vsub[1] = g.vsub[2] = 2;
		break;
	case RKV_FMT_YUYV:
		g.planes = 1, g.row[0] = 4 * cw;
		break;
	case RKV_FMT_RGB24:
	case RKV_FMT_BGR24:
		g.planes = 1, g.row[0] = 3 * w;
		break;
	case RKV_FMT_RGBA:
		g.planes = 1, g.row[0] = 4 * w;
		break;
	case RKV_FMT_GREY:
		g.planes = 1;
		break;
	default:
		FAIL("geom: format %08x", fourcc);
	}
	return g;
}

/* Bytes plane @i must hold: every row but the last at full stride. */
static uint64_t need(const struct rkv_frame *f, const struct geom *g, uint32_t i)
{
	return (uint64_t)f->planes[i].stride * (g->rows[i] - 1) + g->row[i];
}

static const char *fcc(uint32_t fourcc)
{
	static char buf[5];
	return rkv_fourcc_str(fourcc, buf);
}

/* ---- rkv_frame_check ------------------------------------------------------- */

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

/* What every descriptor gets, whatever its format. */
static void test_check_generic(void)
{
	struct rkv_frame f = good_nv12();
	CHECK_OK(rkv_frame_check(&f, 3072));
	CHECK_OK(rkv_frame_check(&f, 1u << 20));
	CHECK_ERR(rkv_frame_check(NULL, 1u << 20), EINVAL);

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

	/* a plane past num_planes that is not zero */
	for (int k = 0; k < 3; k++) {
		f = good_nv12();
		if (k == 0)
			f.planes[3].offset = 1;
		else if (k == 1)
			f.planes[2].stride = 1;
		else
			f.planes[2].size = 1;
		CHECK_ERR(rkv_frame_check(&f, 1u << 20), EINVAL);
	}

	/* the fields that are the producer's business are not judged */
	f = good_nv12();
	f.seq = UINT64_MAX;
	f.user = UINT64_MAX;
	f.timestamp_ns = INT64_MAX;
	f.flags = UINT32_MAX;
	CHECK_OK(rkv_frame_check(&f, 3072));
}

/* Readers ignore pad0 and reserved[]: a newer writer may use them. */
static void test_check_ignores_reserved(void)
{
	struct rkv_frame fs[3];
	fs[0] = good_nv12();
	memset(&fs[1], 0, sizeof fs[1]);
	fs[1].fourcc = RKV_FMT_JPEG;
	fs[1].bytes_used = 1000;
	memset(&fs[2], 0, sizeof fs[2]);
	fs[2].fourcc = RKV_FOURCC('Z', 'Z', '4', '2');
	fs[2].bytes_used = 1000;
	fs[2].num_planes = 1;
	fs[2].planes[0].size = 1000;

	static const uint64_t vals[] = { 1, 0x80000000u, UINT32_MAX, UINT64_MAX };
	for (size_t k = 0; k < 3; k++) {
		for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
			struct rkv_frame f = fs[k];
			f.pad0 = (uint32_t)vals[v];
			CHECK_OK(rkv_frame_check(&f, 3072));
			f = fs[k];
			for (int i = 0; i < RKV_MAX_PLANES; i++) {
				f.planes[i].pad0 = (uint32_t)vals[v];
				CHECK_OK(rkv_frame_check(&f, 3072));
			}
			for (int i = 0; i < 5; i++) {
				f = fs[k];
				f.reserved[i] = vals[v];
				CHECK_OK(rkv_frame_check(&f, 3072));
			}
			/* all at once */
			f = fs[k];
			f.pad0 = (uint32_t)vals[v];
			for (int i = 0; i < RKV_MAX_PLANES; i++)
				f.planes[i].pad0 = (uint32_t)vals[v];
			for (int i = 0; i < 5; i++)
				f.reserved[i] = vals[v];
			CHECK_OK(rkv_frame_check(&f, 3072));
			/* ... and they do not hide a real fault */
			f.bytes_used = 3073;
			CHECK_ERR(rkv_frame_check(&f, 3072), EINVAL);
		}
	}
}

/* The two descriptors of the security review. */
static void test_check_review_examples(void)
{
	struct rkv_frame f;
	/* NV12 1080p with a 64 KiB Y stride in a 100-byte plane: a reader would
	 * walk 1079 * 65536 bytes past it */
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_NV12;
	f.width = 1920;
	f.height = 1080;
	f.num_planes = 2;
	f.planes[0] = (struct rkv_plane){ .offset = 0, .stride = 65536, .size = 100 };
	f.planes[1] = (struct rkv_plane){ .offset = 100, .stride = 65536, .size = 100 };
	f.bytes_used = 200;
	CHECK_ERR(rkv_frame_check(&f, 200), EINVAL);
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
	f.planes[1] = (struct rkv_plane){ .offset = 100, .stride = 1920, .size = 100 };
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);

	/* NV12 1080p with no planes at all, in 10 bytes */
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_NV12;
	f.width = 1920;
	f.height = 1080;
	f.bytes_used = 10;
	CHECK_ERR(rkv_frame_check(&f, 10), EINVAL);
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
}

/* Spoil a valid descriptor @good (capacity @cap) in every way a raw format
 * can be wrong, one at a time; each must be rejected, and the boundary
 * cases just inside must pass. */
static void spoil_raw(const struct rkv_frame *good, uint64_t cap)
{
	const char *what = fcc(good->fourcc);
	struct geom g = geom(good->fourcc, good->width, good->height);
	struct rkv_frame f;

#define REJECT(desc, cap_)                                                          \
	do {                                                                        \
		int r_ = rkv_frame_check(&f, (cap_));                               \
		if (r_ != -EINVAL)                                                  \
			FAIL("%s %ux%u: %s: check = %d, expected -EINVAL", what,    \
			     good->width, good->height, desc, r_);                  \
	} while (0)
#define ACCEPT(desc, cap_)                                                          \
	do {                                                                        \
		int r_ = rkv_frame_check(&f, (cap_));                               \
		if (r_ != 0)                                                        \
			FAIL("%s %ux%u: %s: check = %d, expected 0", what,          \
			     good->width, good->height, desc, r_);                  \
	} while (0)

	f = *good;
	ACCEPT("as laid out", cap);
	REJECT("capacity one short", cap - 1);
	REJECT("bytes_used over the capacity", f.bytes_used - 1);

	/* the plane count must be the format's */
	f = *good;
	f.num_planes = 0;
	memset(f.planes, 0, sizeof f.planes);
	REJECT("no planes", cap);
	f = *good;
	f.num_planes = g.planes + 1;
	if (f.num_planes <= RKV_MAX_PLANES)
		REJECT("a plane too many", cap);
	f = *good;
	f.num_planes = g.planes - 1;
	memset(&f.planes[g.planes - 1], 0, sizeof f.planes[0]);
	if (f.num_planes)
		REJECT("a plane too few", cap);

	/* a raw image has a size */
	f = *good;
	f.width = 0;
	REJECT("width 0", cap);
	f = *good;
	f.height = 0;
	REJECT("height 0", cap);

	for (uint32_t i = 0; i < g.planes; i++) {
		char desc[96];
		uint64_t nd = need(good, &g, i);

		/* stride below the row bytes (the rest made to fit) */
		f = *good;
		f.planes[i].stride = (uint32_t)(g.row[i] - 1);
		snprintf(desc, sizeof desc, "plane %u stride %u < row bytes %" PRIu64, i,
			 f.planes[i].stride, g.row[i]);
		REJECT(desc, cap);
		/* exactly the row bytes is fine, if the size allows */
		f = *good;
		f.planes[i].stride = (uint32_t)g.row[i];
		ACCEPT("stride = row bytes", cap);

		/* the last row reaching past the plane */
		f = *good;
		f.planes[i].size = nd - 1;
		snprintf(desc, sizeof desc, "plane %u size %" PRIu64 " < %" PRIu64, i,
			 f.planes[i].size, nd);
		REJECT(desc, cap);
		f.planes[i].size = nd;
		ACCEPT("size = stride * (rows - 1) + row bytes", cap);
		f.planes[i].size = 0;
		REJECT("plane size 0", cap);

		/* a stride one byte wider than the plane holds */
		if (g.rows[i] > 1) {
			f = *good;
			uint64_t s = (f.planes[i].size - g.row[i]) / (g.rows[i] - 1) + 1;
			if (s <= UINT32_MAX) {
				f.planes[i].stride = (uint32_t)s;
				snprintf(desc, sizeof desc, "plane %u stride %" PRIu64 " too wide", i, s);
				REJECT(desc, cap);
			}
			f = *good;
			f.planes[i].stride = UINT32_MAX;
			REJECT("stride 2^32-1", UINT64_MAX);
		}

		/* the plane reaching past bytes_used */
		f = *good;
		f.planes[i].offset = f.bytes_used - f.planes[i].size + 1;
		REJECT("plane past bytes_used", cap);
		f = *good;
		f.planes[i].offset = UINT64_MAX - f.planes[i].size + 1;
		REJECT("plane offset wrapping", UINT64_MAX);
		f = *good;
		f.planes[i].size = UINT64_MAX;
		REJECT("plane size 2^64-1", UINT64_MAX);
	}

	/* a taller or wider image than the planes were laid out for */
	f = *good;
	f.height = (uint32_t)(good->planes[0].size / good->planes[0].stride + 1);
	REJECT("more rows than plane 0 holds", cap);
	f = *good;
	f.width = good->planes[0].stride + 1;
	REJECT("wider than plane 0's stride", cap);
#undef REJECT
#undef ACCEPT
}

static void test_check_raw(void)
{
	static const struct {
		uint32_t w, h;
	} sizes[] = { { 1, 1 }, { 2, 2 }, { 3, 5 }, { 641, 481 }, { 1920, 1080 } };
	for (size_t k = 0; k < NRAW; k++) {
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			struct rkv_frame f;
			int64_t n = rkv_frame_layout(&f, raw_formats[k], sizes[s].w, sizes[s].h, 1);
			CHECK_INT(n, >, 0);
			spoil_raw(&f, (uint64_t)n);
			n = rkv_frame_layout_aligned(&f, raw_formats[k], sizes[s].w, sizes[s].h, 64,
						     16, 4096);
			CHECK_INT(n, >, 0);
			spoil_raw(&f, (uint64_t)n);
		}
	}

	/* odd sizes round chroma up; built by hand, tight */
	struct rkv_frame f;
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_NV12;
	f.width = 641;
	f.height = 481;
	f.num_planes = 2;
	f.planes[0] = (struct rkv_plane){ 0, 641, 0, 641 * 481 };
	f.planes[1] = (struct rkv_plane){ 641 * 481, 642, 0, 642 * 241 };
	f.bytes_used = 641 * 481 + 642 * 241;
	CHECK_OK(rkv_frame_check(&f, f.bytes_used));
	f.planes[1].stride = 641; /* 320 pairs: the last pixel's chroma missing */
	CHECK_ERR(rkv_frame_check(&f, f.bytes_used), EINVAL);
	f.planes[1].stride = 642;
	f.planes[1].size = 642 * 240 + 641; /* 240.5 rows */
	CHECK_ERR(rkv_frame_check(&f, f.bytes_used), EINVAL);
	f.planes[1].size = 642 * 240; /* 240 rows: the last image row's chroma missing */
	CHECK_ERR(rkv_frame_check(&f, f.bytes_used), EINVAL);

	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_I420;
	f.width = 3;
	f.height = 3;
	f.num_planes = 3;
	f.planes[0] = (struct rkv_plane){ 0, 3, 0, 9 };
	f.planes[1] = (struct rkv_plane){ 9, 2, 0, 4 };
	f.planes[2] = (struct rkv_plane){ 13, 2, 0, 4 };
	f.bytes_used = 17;
	CHECK_OK(rkv_frame_check(&f, 17));
	f.planes[2].stride = 1;
	f.planes[2].size = 2;
	CHECK_ERR(rkv_frame_check(&f, 17), EINVAL);
	f.planes[2].stride = 3;
	f.planes[2].size = 5; /* the last row needs only its own 2 bytes, not 3 */
	f.bytes_used = 18;
	CHECK_OK(rkv_frame_check(&f, 18));
	f.planes[2].size = 4;
	CHECK_ERR(rkv_frame_check(&f, 18), EINVAL);

	/* NV16 chroma is full height: an NV12-sized chroma plane is short */
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_NV16;
	f.width = 4;
	f.height = 4;
	f.num_planes = 2;
	f.planes[0] = (struct rkv_plane){ 0, 4, 0, 16 };
	f.planes[1] = (struct rkv_plane){ 16, 4, 0, 8 };
	f.bytes_used = 24;
	CHECK_ERR(rkv_frame_check(&f, 24), EINVAL);
	f.fourcc = RKV_FMT_NV12;
	CHECK_OK(rkv_frame_check(&f, 24));

	/* YUYV of an odd width: the last pixel pair is whole */
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_YUYV;
	f.width = 3;
	f.height = 2;
	f.num_planes = 1;
	f.planes[0] = (struct rkv_plane){ 0, 6, 0, 12 };
	f.bytes_used = 16;
	CHECK_ERR(rkv_frame_check(&f, 16), EINVAL);
	f.planes[0] = (struct rkv_plane){ 0, 8, 0, 16 };
	CHECK_OK(rkv_frame_check(&f, 16));

	/* RGBA is 4 bytes a pixel, RGB24 3: the same plane is right for one only */
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_RGB24;
	f.width = 4;
	f.height = 2;
	f.num_planes = 1;
	f.planes[0] = (struct rkv_plane){ 0, 12, 0, 24 };
	f.bytes_used = 24;
	CHECK_OK(rkv_frame_check(&f, 24));
	f.fourcc = RKV_FMT_RGBA;
	CHECK_ERR(rkv_frame_check(&f, 24), EINVAL);
	f.fourcc = RKV_FMT_GREY;
	CHECK_OK(rkv_frame_check(&f, 24));

	/* sizes at the top of the range: 2^32-1 rows of 2^32-1 bytes need
	 * (2^32-1)^2 bytes, which still fits in 64 bits */
	const uint64_t big = (uint64_t)UINT32_MAX * UINT32_MAX;
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_GREY;
	f.width = UINT32_MAX;
	f.height = UINT32_MAX;
	f.num_planes = 1;
	f.planes[0] = (struct rkv_plane){ 0, UINT32_MAX, 0, big };
	f.bytes_used = big;
	CHECK_OK(rkv_frame_check(&f, UINT64_MAX));
	CHECK_ERR(rkv_frame_check(&f, big - 1), EINVAL);
	f.planes[0].size = big - 1;
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
	f.planes[0].size = UINT64_MAX;
	f.bytes_used = UINT64_MAX;
	CHECK_OK(rkv_frame_check(&f, UINT64_MAX));
	f.planes[0].offset = 1;
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
	/* RGBA at 2^32-1 pixels: a row of 4 * (2^32-1) bytes, which no 32-bit
	 * stride holds */
	f.fourcc = RKV_FMT_RGBA;
	f.planes[0].offset = 0;
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
	/* I420 at 2^32-1 x 2^32-1: 2^31 chroma rows of 2^31 bytes need exactly
	 * 2^62 bytes; the planes overlap (allowed) to fit in 2^64 */
	const uint64_t c62 = (uint64_t)1 << 62;
	memset(&f, 0, sizeof f);
	f.fourcc = RKV_FMT_I420;
	f.width = UINT32_MAX;
	f.height = UINT32_MAX;
	f.num_planes = 3;
	f.planes[0] = (struct rkv_plane){ 0, UINT32_MAX, 0, big };
	f.planes[1] = (struct rkv_plane){ 0, 2147483648u, 0, c62 };
	f.planes[2] = (struct rkv_plane){ c62, 2147483648u, 0, c62 };
	f.bytes_used = UINT64_MAX;
	CHECK_OK(rkv_frame_check(&f, UINT64_MAX));
	f.planes[2].size = c62 - 1;
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
	f.planes[2].size = c62;
	f.planes[2].offset = big; /* big + 2^62 wraps */
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
	f.planes[2].offset = c62;
	f.planes[1].stride = 2147483647u; /* one byte short of the row */
	CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
}

/* Encoded formats carry no planes; their width and height are free. */
static void test_check_encoded(void)
{
	static const uint32_t enc[] = { RKV_FMT_JPEG, RKV_FMT_H264, RKV_FMT_BYTES };
	for (size_t k = 0; k < sizeof enc / sizeof enc[0]; k++) {
		struct rkv_frame e;
		memset(&e, 0, sizeof e);
		e.fourcc = enc[k];
		e.bytes_used = 1000;
		e.flags = RKV_FRAME_KEYFRAME;
		CHECK_OK(rkv_frame_check(&e, 1000));
		CHECK_ERR(rkv_frame_check(&e, 999), EINVAL);
		e.width = 1920;
		e.height = 1080;
		CHECK_OK(rkv_frame_check(&e, 1000));
		e.width = UINT32_MAX;
		e.height = 0;
		CHECK_OK(rkv_frame_check(&e, 1000));
		e.bytes_used = 0;
		CHECK_OK(rkv_frame_check(&e, 0));
		/* a plane, even one inside bytes_used, is not for them */
		e.bytes_used = 1000;
		e.num_planes = 1;
		e.planes[0].size = 1000;
		CHECK_ERR(rkv_frame_check(&e, 1000), EINVAL);
		e.planes[0].size = 0;
		CHECK_ERR(rkv_frame_check(&e, 1000), EINVAL);
	}
}

/* A fourcc this library does not know: only the generic checks, so frames
 * of newer formats reach older consumers. */
static void test_check_unknown(void)
{
	static const uint32_t unk[] = {
		RKV_FMT_NONE, RKV_FOURCC('N', 'V', '2', '1'), RKV_FOURCC('P', '0', '1', '0'),
		RKV_FOURCC('Z', 'Z', '4', '2'), UINT32_MAX,
	};
	for (size_t k = 0; k < sizeof unk / sizeof unk[0]; k++) {
		struct rkv_frame f;
		memset(&f, 0, sizeof f);
		f.fourcc = unk[k];
		f.bytes_used = 1000;
		CHECK_OK(rkv_frame_check(&f, 1000)); /* no planes */
		/* any geometry, as long as the planes stay inside bytes_used */
		f.width = 100000;
		f.height = 7;
		f.num_planes = RKV_MAX_PLANES;
		for (int i = 0; i < RKV_MAX_PLANES; i++)
			f.planes[i] = (struct rkv_plane){ (uint64_t)i * 250, (uint32_t)i * 1000000, 0, 250 };
		CHECK_OK(rkv_frame_check(&f, 1000));
		f.planes[3].stride = UINT32_MAX;
		f.planes[2].size = 0;
		CHECK_OK(rkv_frame_check(&f, 1000));
		/* the generic checks still hold */
		CHECK_ERR(rkv_frame_check(&f, 999), EINVAL);
		f.planes[3].size = 251;
		CHECK_ERR(rkv_frame_check(&f, 1000), EINVAL);
		f.planes[3].size = 250;
		f.planes[1].offset = UINT64_MAX;
		CHECK_ERR(rkv_frame_check(&f, UINT64_MAX), EINVAL);
		f.planes[1].offset = 250;
		f.num_planes = RKV_MAX_PLANES + 1;
		CHECK_ERR(rkv_frame_check(&f, 1000), EINVAL);
		f.num_planes = 2; /* planes 2 and 3 now stale */
		CHECK_ERR(rkv_frame_check(&f, 1000), EINVAL);
	}
}

/* ---- randomized properties -------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd64(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd_below(uint64_t n)
{
	return (uint32_t)(rnd64() % n);
}

/* Mostly small sizes, some odd and tiny, now and then a large one. */
static uint32_t rnd_dim(void)
{
	switch (rnd_below(8)) {
	case 0:
		return 1 + rnd_below(8);
	case 1:
		return 1 + rnd_below(1u << 16);
	default:
		return 1 + rnd_below(2048);
	}
}

/* Everything the layout promises, from the test's own model. */
static void check_layout_props(const struct rkv_frame *f, int64_t n, uint32_t fourcc, uint32_t w,
			       uint32_t h, uint32_t sa, uint32_t ha, uint32_t oa, int v4l2)
{
	struct geom g = geom(fourcc, w, h);
	uint64_t padded_h = ((uint64_t)h + ha - 1) / ha * ha, end = 0;

	CHECK_INT(n, >, 0);
	CHECK_UINT(f->bytes_used, ==, (uint64_t)n);
	CHECK_UINT(f->fourcc, ==, fourcc);
	CHECK_UINT(f->width, ==, w);
	CHECK_UINT(f->height, ==, h);
	CHECK_UINT(f->num_planes, ==, g.planes);
	for (uint32_t i = 0; i < g.planes; i++) {
		const struct rkv_plane *p = &f->planes[i];
		uint64_t rows = (padded_h + g.vsub[i] - 1) / g.vsub[i];
		CHECK_UINT(p->offset % oa, ==, 0);
		CHECK_UINT(p->offset, >=, end);           /* in order, no overlap */
		CHECK_UINT(p->offset - end, <, oa);       /* no gap beyond the alignment */
		CHECK_UINT(p->stride, >=, g.row[i]);
		CHECK_UINT(p->size, ==, (uint64_t)p->stride * rows);
		end = p->offset + p->size;
	}
	CHECK_UINT(end, ==, f->bytes_used);
	CHECK_UINT(f->planes[0].stride % sa, ==, 0);
	if (v4l2 && g.planes > 1) {
		uint32_t div = fourcc == RKV_FMT_I420 ? 2 : 1;
		for (uint32_t i = 1; i < g.planes; i++)
			CHECK_UINT((uint64_t)f->planes[i].stride * div, ==, f->planes[0].stride);
	}
	CHECK_OK(rkv_frame_check(f, (uint64_t)n));
	CHECK_ERR(rkv_frame_check(f, (uint64_t)n - 1), EINVAL);
}

/* How far past a bound to go: 1..@max, exactly 1 half the time, since an
 * off-by-one is what a broken check would miss. */
static uint64_t rnd_excess(uint64_t max)
{
	return rnd_below(2) ? 1 : 1 + rnd64() % max;
}

/* Make plane @i (or the frame) reach past a bound: its size, or bytes_used. */
static const char *mutate(struct rkv_frame *f, const struct geom *g)
{
	uint32_t i = rnd_below(g->planes);
	struct rkv_plane *p = &f->planes[i];
	uint64_t nd = need(f, g, i);

	switch (rnd_below(7)) {
	case 0: /* the plane shorter than its rows */
		p->size = nd - rnd_excess(nd);
		return "size below the rows";
	case 1: /* a stride the plane cannot hold */
		if (g->rows[i] > 1) {
			uint64_t s = (p->size - g->row[i]) / (g->rows[i] - 1) + rnd_excess(64);
			if (s <= UINT32_MAX) {
				p->stride = (uint32_t)s;
				return "stride too wide for the size";
			}
		}
		p->stride = (uint32_t)(g->row[i] - rnd_excess(g->row[i]));
		return "stride below the row bytes";
	case 2: /* a stride below the row bytes */
		p->stride = (uint32_t)(g->row[i] - rnd_excess(g->row[i]));
		return "stride below the row bytes";
	case 3: /* the plane moved past bytes_used */
		p->offset = f->bytes_used - p->size + rnd_excess(1u << 20);
		return "plane moved past bytes_used";
	case 4: /* bytes_used cut short */
		f->bytes_used -= rnd_excess(f->bytes_used);
		return "bytes_used cut short";
	case 5: /* more rows than plane 0 was laid out for */
		f->height = (uint32_t)(f->planes[0].size / f->planes[0].stride + rnd_excess(64));
		return "taller than laid out";
	default: /* wider than plane 0's stride */
		f->width = (uint32_t)(f->planes[0].stride + rnd_excess(64));
		return "wider than the stride";
	}
}

static void test_random(void)
{
	const char *s = getenv("RKV_TEST_SEED");
	if (s)
		rng_state = strtoull(s, NULL, 0);
	uint64_t seed = rng_state;
	uint64_t iters = test_scaled(20000);

	for (uint64_t it = 0; it < iters; it++) {
		uint32_t fourcc = raw_formats[rnd_below(NRAW)];
		uint32_t w = rnd_dim(), h = rnd_dim();
		uint32_t sa = 1u << rnd_below(13), ha = 1u << rnd_below(7), oa = 1u << rnd_below(17);
		struct rkv_frame f, m;
		int v4l2 = (int)rnd_below(2);
		int64_t n;

		dirty(&f);
		if (v4l2)
			n = rkv_frame_layout_aligned(&f, fourcc, w, h, sa, ha, oa);
		else
			n = rkv_frame_layout(&f, fourcc, w, h, sa), ha = oa = 1;
		if (n <= 0)
			FAIL("seed %#" PRIx64 " iteration %" PRIu64 ": %s %ux%u %u/%u/%u (%s) = %" PRId64,
			     seed, it, fcc(fourcc), w, h, sa, ha, oa, v4l2 ? "aligned" : "layout", n);
		check_layout_props(&f, n, fourcc, w, h, sa, ha, oa, v4l2);

		/* what a newer writer might put in reserved space changes nothing */
		m = f;
		m.pad0 = (uint32_t)rnd64();
		m.planes[rnd_below(RKV_MAX_PLANES)].pad0 = (uint32_t)rnd64();
		m.reserved[rnd_below(5)] = rnd64();
		CHECK_OK(rkv_frame_check(&m, (uint64_t)n));

		/* one spoilt field: rejected at any capacity */
		struct geom g = geom(fourcc, w, h);
		m = f;
		const char *how = mutate(&m, &g);
		int r1 = rkv_frame_check(&m, (uint64_t)n), r2 = rkv_frame_check(&m, UINT64_MAX);
		if (r1 != -EINVAL || r2 != -EINVAL)
			FAIL("seed %#" PRIx64 " iteration %" PRIu64 ": %s %ux%u %u/%u/%u, %s: "
			     "check = %d / %d, expected -EINVAL",
			     seed, it, fcc(fourcc), w, h, sa, ha, oa, how, r1, r2);
	}
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
		{ RKV_FMT_NV16, "NV16" },  { RKV_FMT_RGBA, "AB24" },
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
	test_layouts_aligned();
	test_layout_errors();
	test_check_generic();
	test_check_ignores_reserved();
	test_check_review_examples();
	test_check_raw();
	test_check_encoded();
	test_check_unknown();
	test_random();
	test_fourcc_str();
	printf("unit_frame: ok\n");
	return 0;
}
