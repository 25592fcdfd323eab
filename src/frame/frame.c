/* SPDX-License-Identifier: MIT */
/*
 * frame.c - frame descriptor layout and checks.
 *
 * One table says how each raw format samples its planes; the layout calls
 * and the check both read it, so what layout produces and what check
 * demands cannot drift apart.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <rkv/frame.h>

/* How one plane samples the image: each group of @hsub pixels of a row is
 * @bytes bytes, and the plane has one row per @vsub image rows. */
struct plane_fmt {
	uint8_t bytes;
	uint8_t hsub;
	uint8_t vsub;
};

struct raw_fmt {
	uint32_t fourcc;
	uint32_t num_planes;
	/* rkv_frame_layout_aligned: chroma stride = luma stride / this */
	uint32_t chroma_div;
	struct plane_fmt planes[3];
};

static const struct raw_fmt raw_fmts[] = {
	{ RKV_FMT_NV12, 2, 1, { { 1, 1, 1 }, { 2, 2, 2 } } },
	{ RKV_FMT_NV16, 2, 1, { { 1, 1, 1 }, { 2, 2, 1 } } },
	{ RKV_FMT_I420, 3, 2, { { 1, 1, 1 }, { 1, 2, 2 }, { 1, 2, 2 } } },
	{ RKV_FMT_YUYV, 1, 1, { { 4, 2, 1 } } },
	{ RKV_FMT_RGB24, 1, 1, { { 3, 1, 1 } } },
	{ RKV_FMT_BGR24, 1, 1, { { 3, 1, 1 } } },
	{ RKV_FMT_RGBA, 1, 1, { { 4, 1, 1 } } },
	{ RKV_FMT_GREY, 1, 1, { { 1, 1, 1 } } },
};

static const struct raw_fmt *find_raw(uint32_t fourcc)
{
	for (size_t i = 0; i < sizeof(raw_fmts) / sizeof(raw_fmts[0]); i++)
		if (raw_fmts[i].fourcc == fourcc)
			return &raw_fmts[i];
	return NULL;
}

static bool is_encoded(uint32_t fourcc)
{
	return fourcc == RKV_FMT_JPEG || fourcc == RKV_FMT_H264 || fourcc == RKV_FMT_BYTES;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t div_up(uint64_t v, uint64_t d)
{
	return v / d + (v % d != 0);
}

/* *@out = @v rounded up to a multiple of @align (a power of two). Returns 0,
 * or -EINVAL if that does not fit in 64 bits. */
static int align_up(uint64_t v, uint64_t align, uint64_t *out)
{
	uint64_t r;
	if (__builtin_add_overflow(v, align - 1, &r))
		return -EINVAL;
	*out = r & ~(align - 1);
	return 0;
}

/* Bytes of one row of plane @p for an image @width pixels wide. At most
 * 255 * 2^32, so it cannot overflow. */
static uint64_t row_bytes(const struct plane_fmt *p, uint64_t width)
{
	return div_up(width, p->hsub) * p->bytes;
}

/* How rkv_frame_layout_aligned and rkv_frame_layout choose the strides. */
enum stride_rule {
	STRIDE_V4L2,      /* luma stride aligned, chroma derived from it */
	STRIDE_PER_PLANE, /* each plane's row bytes aligned on their own */
};

static int64_t layout(struct rkv_frame *f, uint32_t fourcc, uint32_t width,
		      uint32_t height, uint32_t stride_align, uint32_t height_align,
		      uint32_t offset_align, enum stride_rule rule)
{
	const struct raw_fmt *fmt = find_raw(fourcc);
	uint64_t luma_stride = 0, padded_h, end = 0;

	if (!f)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	if (!fmt || width == 0 || height == 0 || !is_pow2(stride_align) ||
	    !is_pow2(height_align) || !is_pow2(offset_align))
		return -EINVAL;
	if (align_up(height, height_align, &padded_h))
		return -EINVAL;

	if (rule == STRIDE_V4L2) {
		/* Wide enough for every plane once divided back down, and a
		 * multiple of chroma_div so that the division is exact. */
		uint64_t need = 0;
		for (uint32_t i = 0; i < fmt->num_planes; i++) {
			uint64_t div = i ? fmt->chroma_div : 1;
			uint64_t b = row_bytes(&fmt->planes[i], width) * div;
			if (b > need)
				need = b;
		}
		if (align_up(need, fmt->chroma_div, &need) ||
		    align_up(need, stride_align, &luma_stride))
			return -EINVAL;
	}

	for (uint32_t i = 0; i < fmt->num_planes; i++) {
		const struct plane_fmt *p = &fmt->planes[i];
		uint64_t stride = 0, rows = div_up(padded_h, p->vsub), offset, size;

		if (rule == STRIDE_V4L2)
			stride = i ? luma_stride / fmt->chroma_div : luma_stride;
		else if (align_up(row_bytes(p, width), stride_align, &stride))
			goto fail;
		if (stride > UINT32_MAX)
			goto fail;
		if (align_up(end, offset_align, &offset) ||
		    __builtin_mul_overflow(stride, rows, &size) ||
		    __builtin_add_overflow(offset, size, &end) || end > INT64_MAX)
			goto fail;
		f->planes[i].offset = offset;
		f->planes[i].stride = (uint32_t)stride;
		f->planes[i].size = size;
	}
	f->fourcc = fourcc;
	f->width = width;
	f->height = height;
	f->num_planes = fmt->num_planes;
	f->bytes_used = end;
	/* What the layout calls promise; cheap enough to make sure of. */
	if (rkv_frame_check(f, end))
		goto fail;
	return (int64_t)end;
fail:
	memset(f, 0, sizeof(*f));
	return -EINVAL;
}

int64_t rkv_frame_layout_aligned(struct rkv_frame *f, uint32_t fourcc, uint32_t width,
				 uint32_t height, uint32_t stride_align,
				 uint32_t height_align, uint32_t offset_align)
{
	return layout(f, fourcc, width, height, stride_align, height_align, offset_align,
		      STRIDE_V4L2);
}

/* The original call keeps its original strides (each plane's row bytes
 * aligned on their own), which differ from the V4L2 rule for I420 and for
 * odd-width semi-planar images; producers already depend on them. */
int64_t rkv_frame_layout(struct rkv_frame *f, uint32_t fourcc, uint32_t width,
			 uint32_t height, uint32_t align)
{
	return layout(f, fourcc, width, height, align, 1, 1, STRIDE_PER_PLANE);
}

/* The plane geometry of a raw format: exact plane count, a nonzero size,
 * and every row of every plane inside that plane. */
static int check_raw(const struct rkv_frame *f, const struct raw_fmt *fmt)
{
	if (f->num_planes != fmt->num_planes || f->width == 0 || f->height == 0)
		return -EINVAL;
	for (uint32_t i = 0; i < fmt->num_planes; i++) {
		const struct plane_fmt *pf = &fmt->planes[i];
		const struct rkv_plane *p = &f->planes[i];
		uint64_t row = row_bytes(pf, f->width);
		uint64_t rows = div_up(f->height, pf->vsub); /* >= 1 */
		uint64_t need;

		if (p->stride < row)
			return -EINVAL;
		if (__builtin_mul_overflow((uint64_t)p->stride, rows - 1, &need) ||
		    __builtin_add_overflow(need, row, &need) || need > p->size)
			return -EINVAL;
	}
	return 0;
}

int rkv_frame_check(const struct rkv_frame *f, uint64_t capacity)
{
	const struct raw_fmt *fmt;

	/* pad0 and reserved[] are not read: see "Room to grow" in frame.h. */
	if (!f || f->bytes_used > capacity || f->num_planes > RKV_MAX_PLANES)
		return -EINVAL;
	for (uint32_t i = 0; i < RKV_MAX_PLANES; i++) {
		const struct rkv_plane *p = &f->planes[i];
		uint64_t end;

		if (i >= f->num_planes) {
			/* Unused planes are zero, so a reader never trusts stale ones. */
			if (p->offset || p->stride || p->size)
				return -EINVAL;
			continue;
		}
		if (__builtin_add_overflow(p->offset, p->size, &end) || end > f->bytes_used)
			return -EINVAL;
	}
	fmt = find_raw(f->fourcc);
	if (fmt)
		return check_raw(f, fmt);
	if (is_encoded(f->fourcc) && f->num_planes != 0)
		return -EINVAL;
	/* Unknown to this library: the generic checks are all it can make. */
	return 0;
}

const char *rkv_fourcc_str(uint32_t fourcc, char buf[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)((fourcc >> (8 * i)) & 0xff);
		buf[i] = (c >= 0x20 && c < 0x7f) ? c : '.';
	}
	buf[4] = '\0';
	return buf;
}
