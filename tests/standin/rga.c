/* SPDX-License-Identifier: MIT */
/*
 * standin/rga.c - a stand-in for librga: the im2d C symbols the rga backend
 * calls, with librga 1.10's ABI (src/imgops/rga_abi.h), doing the work on
 * the CPU.
 *
 * It behaves as librga does where the backend can tell: handles from
 * imports (0 on failure), IM_STATUS codes, imcheck before a job, improcess
 * taking a source rectangle, the whole destination, a rotation or flip and
 * both formats. A buffer imported by fd is mmapped from that fd and every
 * job reads or writes it through that mapping, never through the caller's
 * pointer, and the record (standin.h) says which way each buffer came.
 *
 * The pixels are made by this project's CPU backend, called the way the
 * hardware works: the engine shrinks by averaging and enlarges bilinearly,
 * so a job that shrinks either side uses the box filter, others bilinear.
 * A test doing the same through the CPU backend gets the same bytes.
 *
 * Built twice: librga-standin.so, and with STANDIN_NO_IMCHECK
 * librga-standin-noimcheck.so, which lacks imcheck_t (a library missing a
 * symbol).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "imgops/rga_abi.h"
#include "common.h"

/* The exports, each checked against the type the backend calls it by. */
EXPORT rkv_rga_handle importbuffer_fd(int fd, struct rkv_rga_handle_param *param);
EXPORT rkv_rga_handle importbuffer_virtualaddr(void *va, struct rkv_rga_handle_param *param);
EXPORT int releasebuffer_handle(rkv_rga_handle h);
EXPORT struct rkv_rga_buffer wrapbuffer_handle_t(rkv_rga_handle handle, int width, int height,
						 int wstride, int hstride, int format);
EXPORT int imcheck_t(const struct rkv_rga_buffer src, const struct rkv_rga_buffer dst,
		     const struct rkv_rga_buffer pat, const struct rkv_rga_rect srect,
		     const struct rkv_rga_rect drect, const struct rkv_rga_rect prect,
		     const int usage);
EXPORT int improcess(struct rkv_rga_buffer src, struct rkv_rga_buffer dst,
		     struct rkv_rga_buffer pat, struct rkv_rga_rect srect,
		     struct rkv_rga_rect drect, struct rkv_rga_rect prect, int usage);
EXPORT const char *querystring(int name);
EXPORT const char *imStrError_t(int status);
static const struct {
	rkv_rga_importbuffer_fd_fn a;
	rkv_rga_importbuffer_va_fn b;
	rkv_rga_releasebuffer_handle_fn c;
	rkv_rga_wrapbuffer_handle_fn d;
	rkv_rga_improcess_fn f;
	rkv_rga_querystring_fn g;
	rkv_rga_strerror_fn h;
} abi_check __attribute__((unused)) = {
	importbuffer_fd, importbuffer_virtualaddr, releasebuffer_handle, wrapbuffer_handle_t,
	improcess, querystring, imStrError_t,
};
#ifndef STANDIN_NO_IMCHECK
static const rkv_rga_imcheck_fn abi_check_imcheck __attribute__((unused)) = imcheck_t;
#endif

#define MAX_HANDLES 64

static struct {
	int used, by_fd;
	uint8_t *addr;
	size_t size;
	uint32_t wstride, hstride;
	int format;
} handles[MAX_HANDLES + 1]; /* [0] unused: 0 is no handle */

static int bpp_of(int format)
{
	switch (format) {
	case RKV_RGA_FMT_RGBA_8888: return 4;
	case RKV_RGA_FMT_RGB_888:
	case RKV_RGA_FMT_BGR_888: return 3;
	case RKV_RGA_FMT_YUYV_422: return 2;
	default: return 1;
	}
}

static uint32_t fourcc_of(int format)
{
	switch (format) {
	case RKV_RGA_FMT_RGBA_8888: return RKV_FMT_RGBA;
	case RKV_RGA_FMT_RGB_888: return RKV_FMT_RGB24;
	case RKV_RGA_FMT_BGR_888: return RKV_FMT_BGR24;
	case RKV_RGA_FMT_YUYV_422: return RKV_FMT_YUYV;
	case RKV_RGA_FMT_YCbCr_420_SP: return RKV_FMT_NV12;
	case RKV_RGA_FMT_YCbCr_422_SP: return RKV_FMT_NV16;
	case RKV_RGA_FMT_YCbCr_420_P: return RKV_FMT_I420;
	default: return 0;
	}
}

/* librga computes an import's size from the picture it describes. */
static size_t size_of(const struct rkv_rga_handle_param *p)
{
	struct rkv_image img;
	uint32_t fourcc = fourcc_of((int)p->format);

	if (!fourcc || !p->width || !p->height)
		return 0;
	return (size_t)standin_image(&img, fourcc, p->width, p->height,
				     p->width * (uint32_t)bpp_of((int)p->format), p->height, NULL);
}

static rkv_rga_handle add(int by_fd, void *addr, size_t size,
			  const struct rkv_rga_handle_param *p)
{
	rkv_rga_handle h = 0;

	pthread_mutex_lock(&standin_lock);
	for (rkv_rga_handle i = 1; i <= MAX_HANDLES && !h; i++)
		if (!handles[i].used) {
			handles[i].used = 1;
			handles[i].by_fd = by_fd;
			handles[i].addr = addr;
			handles[i].size = size;
			handles[i].wstride = p->width;
			handles[i].hstride = p->height;
			handles[i].format = (int)p->format;
			h = i;
			*(by_fd ? &standin_rec.imports_fd : &standin_rec.imports_va) += 1;
			standin_rec.live++;
		}
	pthread_mutex_unlock(&standin_lock);
	return h;
}

EXPORT rkv_rga_handle importbuffer_fd(int fd, struct rkv_rga_handle_param *param)
{
	size_t size = param ? size_of(param) : 0;
	struct stat st;
	void *map;
	rkv_rga_handle h;

	if (!size || standin_fails("import") || fstat(fd, &st) < 0 || (uint64_t)st.st_size < size)
		return 0;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return 0;
	h = add(1, map, size, param);
	if (!h)
		munmap(map, size);
	return h;
}

EXPORT rkv_rga_handle importbuffer_virtualaddr(void *va, struct rkv_rga_handle_param *param)
{
	size_t size = param ? size_of(param) : 0;

	if (!va || !size || standin_fails("import"))
		return 0;
	return add(0, va, size, param);
}

EXPORT int releasebuffer_handle(rkv_rga_handle h)
{
	int r = RKV_RGA_STATUS_SUCCESS;

	pthread_mutex_lock(&standin_lock);
	if (h == 0 || h > MAX_HANDLES || !handles[h].used) {
		r = RKV_RGA_STATUS_NOT_SUPPORTED - 2; /* IM_STATUS_INVALID_PARAM */
	} else {
		if (handles[h].by_fd)
			munmap(handles[h].addr, handles[h].size);
		memset(&handles[h], 0, sizeof(handles[h]));
		standin_rec.releases++;
		standin_rec.live--;
	}
	pthread_mutex_unlock(&standin_lock);
	return r;
}

EXPORT struct rkv_rga_buffer wrapbuffer_handle_t(rkv_rga_handle handle, int width, int height,
						 int wstride, int hstride, int format)
{
	struct rkv_rga_buffer b;

	memset(&b, 0, sizeof(b));
	b.handle = handle;
	b.width = width;
	b.height = height;
	b.wstride = wstride;
	b.hstride = hstride;
	b.format = format;
	b.global_alpha = 0xff; /* opaque, as librga's wrappers set it */
	b.rd_mode = 1;         /* IM_RASTER_MODE */
	return b;
}

/* The picture @b names, as an image, or -1 when it names none. */
static int image_of(const struct rkv_rga_buffer *b, struct rkv_image *img, int *by_fd)
{
	uint32_t fourcc = fourcc_of(b->format);
	int r = -1;

	pthread_mutex_lock(&standin_lock);
	if (b->handle && b->handle <= MAX_HANDLES && handles[b->handle].used && fourcc &&
	    b->width >= 2 && b->height >= 2 && b->wstride >= b->width && b->hstride >= b->height &&
	    (uint32_t)b->wstride == handles[b->handle].wstride &&
	    (uint32_t)b->hstride == handles[b->handle].hstride &&
	    b->format == handles[b->handle].format) {
		standin_image(img, fourcc, (uint32_t)b->width, (uint32_t)b->height,
			      (uint32_t)b->wstride * (uint32_t)bpp_of(b->format),
			      (uint32_t)b->hstride, handles[b->handle].addr);
		*by_fd = handles[b->handle].by_fd;
		r = 0;
	}
	pthread_mutex_unlock(&standin_lock);
	return r;
}

static int rect_in(const struct rkv_rga_rect *r, const struct rkv_rga_buffer *b)
{
	return r->x >= 0 && r->y >= 0 && r->width >= 2 && r->height >= 2 &&
	       r->width <= b->width - r->x && r->height <= b->height - r->y;
}

static int check(const struct rkv_rga_buffer *src, const struct rkv_rga_buffer *dst,
		 const struct rkv_rga_rect *sr, const struct rkv_rga_rect *dr, int usage,
		 struct rkv_image *s, struct rkv_image *d, int *sfd, int *dfd)
{
	int rot = usage & (RKV_RGA_ROT_90 | RKV_RGA_ROT_180 | RKV_RGA_ROT_270);
	int flip = usage & (RKV_RGA_FLIP_H | RKV_RGA_FLIP_V | RKV_RGA_FLIP_H_V);

	if (image_of(src, s, sfd) < 0 || image_of(dst, d, dfd) < 0 || !rect_in(sr, src) ||
	    !rect_in(dr, dst) || (rot & (rot - 1)) || (flip & (flip - 1)) || (rot && flip) ||
	    usage & ~(RKV_RGA_SYNC | 0x3f))
		return RKV_RGA_STATUS_NOT_SUPPORTED - 2; /* IM_STATUS_INVALID_PARAM */
	/* The backend gives whole destinations. */
	if (dr->x || dr->y || dr->width != dst->width || dr->height != dst->height)
		return RKV_RGA_STATUS_NOT_SUPPORTED;
	return RKV_RGA_STATUS_NOERROR;
}

#ifndef STANDIN_NO_IMCHECK
EXPORT int imcheck_t(const struct rkv_rga_buffer src, const struct rkv_rga_buffer dst,
		     const struct rkv_rga_buffer pat, const struct rkv_rga_rect srect,
		     const struct rkv_rga_rect drect, const struct rkv_rga_rect prect,
		     const int usage)
{
	struct rkv_image s, d;
	int sfd, dfd;

	(void)pat;
	(void)prect;
	if (standin_fails("check"))
		return RKV_RGA_STATUS_NOT_SUPPORTED;
	return check(&src, &dst, &srect, &drect, usage, &s, &d, &sfd, &dfd);
}
#endif

EXPORT int improcess(struct rkv_rga_buffer src, struct rkv_rga_buffer dst,
		     struct rkv_rga_buffer pat, struct rkv_rga_rect srect,
		     struct rkv_rga_rect drect, struct rkv_rga_rect prect, int usage)
{
	struct rkv_imgops_config cfg = { .backend = "cpu" };
	struct rkv_transform t = { 0 };
	struct rkv_image s, d;
	rkv_imgops *ctx;
	int sfd, dfd, r;

	(void)pat;
	(void)prect;
	if (standin_fails("job") || !(usage & RKV_RGA_SYNC) ||
	    check(&src, &dst, &srect, &drect, usage, &s, &d, &sfd, &dfd) != RKV_RGA_STATUS_NOERROR)
		return RKV_RGA_STATUS_FAILED;
	t.crop_x = (uint32_t)srect.x;
	t.crop_y = (uint32_t)srect.y;
	t.crop_w = (uint32_t)srect.width;
	t.crop_h = (uint32_t)srect.height;
	t.rotate = usage & RKV_RGA_ROT_90 ? 90 : usage & RKV_RGA_ROT_180 ? 180
					     : usage & RKV_RGA_ROT_270 ? 270 : 0;
	t.flip = usage & RKV_RGA_FLIP_H ? RKV_FLIP_H : usage & RKV_RGA_FLIP_V ? RKV_FLIP_V
				      : usage & RKV_RGA_FLIP_H_V ? RKV_FLIP_H | RKV_FLIP_V : 0;
	{
		int turned = t.rotate == 90 || t.rotate == 270;
		uint32_t sw = turned ? t.crop_h : t.crop_w, sh = turned ? t.crop_w : t.crop_h;

		t.filter = (uint32_t)dst.width < sw || (uint32_t)dst.height < sh
				   ? RKV_FILTER_BOX
				   : RKV_FILTER_BILINEAR;
	}
	if (rkv_imgops_open(&cfg, &ctx) < 0)
		return RKV_RGA_STATUS_NOT_SUPPORTED - 1; /* IM_STATUS_OUT_OF_MEMORY */
	r = rkv_imgops_transform(ctx, &s, &d, &t);
	rkv_imgops_close(ctx);
	if (r < 0)
		return RKV_RGA_STATUS_FAILED;
	pthread_mutex_lock(&standin_lock);
	standin_rec.jobs++;
	standin_rec.jobs_fd_src += (uint64_t)sfd;
	standin_rec.jobs_fd_dst += (uint64_t)dfd;
	pthread_mutex_unlock(&standin_lock);
	return RKV_RGA_STATUS_SUCCESS;
}

EXPORT const char *querystring(int name)
{
	const char *v = getenv("RKV_STANDIN_RGA_VERSION");

	if (name != RKV_RGA_INFO_VERSION)
		return "";
	return v ? v : "RGA_3, RGA_2_Enhance";
}

EXPORT const char *imStrError_t(int status)
{
	switch (status) {
	case RKV_RGA_STATUS_SUCCESS: return "succeed";
	case RKV_RGA_STATUS_NOERROR: return "no error";
	case RKV_RGA_STATUS_NOT_SUPPORTED: return "not supported";
	case RKV_RGA_STATUS_FAILED: return "failed (stand-in)";
	default: return "error";
	}
}
