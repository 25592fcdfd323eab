/* SPDX-License-Identifier: MIT */
/*
 * frame.c - frame descriptor layout and checks.
 */
#include <errno.h>
#include <string.h>

#include <rkv/frame.h>

/* Round @v up to a multiple of @align (a power of two); 0 on overflow. */
static uint64_t align_up(uint64_t v, uint64_t align)
{
	uint64_t r;
	if (__builtin_add_overflow(v, align - 1, &r))
		return 0;
	return r & ~(align - 1);
}

/* Add plane @i of @rows rows of @row_bytes (before alignment) at the end of
 * what @f holds so far. Returns 0 or -EINVAL on overflow. */
static int add_plane(struct rkv_frame *f, uint32_t i, uint64_t row_bytes,
		     uint64_t rows, uint32_t align)
{
	uint64_t stride = align_up(row_bytes, align);
	uint64_t size, end;

	if (stride == 0 || stride > UINT32_MAX)
		return -EINVAL;
	if (__builtin_mul_overflow(stride, rows, &size))
		return -EINVAL;
	if (__builtin_add_overflow(f->bytes_used, size, &end) || end > INT64_MAX)
		return -EINVAL;
	f->planes[i].offset = f->bytes_used;
	f->planes[i].stride = (uint32_t)stride;
	f->planes[i].size = size;
	f->bytes_used = end;
	f->num_planes = i + 1;
	return 0;
}

int64_t rkv_frame_layout(struct rkv_frame *f, uint32_t fourcc, uint32_t width,
			 uint32_t height, uint32_t align)
{
	uint64_t w = width, h = height;
	uint64_t cw = (w + 1) / 2, ch = (h + 1) / 2; /* 4:2:0 chroma, rounded up */
	int r;

	if (!f || width == 0 || height == 0 || align == 0 || (align & (align - 1)))
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->fourcc = fourcc;
	f->width = width;
	f->height = height;

	switch (fourcc) {
	case RKV_FMT_NV12:
		r = add_plane(f, 0, w, h, align);
		if (!r)
			r = add_plane(f, 1, cw * 2, ch, align);
		break;
	case RKV_FMT_I420:
		r = add_plane(f, 0, w, h, align);
		if (!r)
			r = add_plane(f, 1, cw, ch, align);
		if (!r)
			r = add_plane(f, 2, cw, ch, align);
		break;
	case RKV_FMT_YUYV:
		r = add_plane(f, 0, cw * 4, h, align);
		break;
	case RKV_FMT_RGB24:
	case RKV_FMT_BGR24:
		r = add_plane(f, 0, w * 3, h, align);
		break;
	case RKV_FMT_GREY:
		r = add_plane(f, 0, w, h, align);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r) {
		memset(f, 0, sizeof(*f));
		return r;
	}
	return (int64_t)f->bytes_used;
}

int rkv_frame_check(const struct rkv_frame *f, uint64_t capacity)
{
	if (!f || f->bytes_used > capacity || f->num_planes > RKV_MAX_PLANES || f->pad0)
		return -EINVAL;
	for (uint32_t i = 0; i < RKV_MAX_PLANES; i++) {
		const struct rkv_plane *p = &f->planes[i];
		uint64_t end;

		if (p->pad0)
			return -EINVAL;
		if (i >= f->num_planes) {
			/* Unused planes are zero, so a reader never trusts stale ones. */
			if (p->offset || p->stride || p->size)
				return -EINVAL;
			continue;
		}
		if (__builtin_add_overflow(p->offset, p->size, &end) || end > f->bytes_used)
			return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(f->reserved) / sizeof(f->reserved[0]); i++)
		if (f->reserved[i])
			return -EINVAL;
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
