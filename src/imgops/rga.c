/* SPDX-License-Identifier: MIT */
/*
 * imgops/rga.c - the rga backend: crop, rotate/flip, scale and convert on
 * Rockchip's RGA 2D engine, through librga's im2d C API loaded with dlopen.
 *
 * One call is one RGA job: improcess() takes the source rectangle, the
 * destination, a rotation or flip and both formats at once, so a transform
 * never goes through memory twice. Each image is imported for the job and
 * released after it: by its DMA-BUF fd when it has one whose first byte is
 * the image's (the zero-copy case: RGA reads the camera's buffer), else by
 * its virtual address (librga pins the pages).
 *
 * What the engine cannot do is refused with -ENOTSUP and a reason, and the
 * CPU backend does it (imgops.h, docs/imgops.md):
 *   format  JPEG and PNG (no such methods here);
 *   params  the nearest-neighbour filter (improcess scales with the engine's
 *           own filters: average when shrinking, bilinear when enlarging),
 *           and a rotation combined with a flip (librga does not document
 *           the order in which it applies the two);
 *   size    a side under 2 or over 8192 pixels, a scale beyond 1/16..16;
 *   align   a row stride that is not a whole number of pixels or not a
 *           multiple of the strictest core's rule for the format (the
 *           developer guide: 16 pixels for NV12, NV16 and 24-bit RGB on
 *           RGA3, 8 for YUYV, 4 for RGBA; I420 is taken to 16 as well so
 *           that its half-width chroma rows stay 8-aligned); planes not laid
 *           out as one base, stride and row count describe them; odd
 *           offsets or sizes in a YUV picture;
 *   memory  a buffer librga would not import, and, on a machine with more
 *           than 4 GiB of RAM whose RGA has only RGA2 cores (32-bit IOMMU),
 *           any image without a DMA-BUF: its pages may lie above 4 GiB and
 *           nothing in user space can tell. A DMA-BUF is taken on trust
 *           there: its exporter chose its pages (allocate from a DMA32 heap
 *           for such boards).
 * A job the engine accepts and then fails ends the call with -EIO: redoing
 * it on the CPU would hide a broken device.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgops/hw.h"
#include "imgops/rga_abi.h"

#define RGA_MIN_DIM   2u
#define RGA_MAX_DIM   8192u
#define RGA_MAX_RATIO 16u

struct rga_api {
	rkv_rga_importbuffer_fd_fn import_fd;
	rkv_rga_importbuffer_va_fn import_va;
	rkv_rga_releasebuffer_handle_fn release;
	rkv_rga_wrapbuffer_handle_fn wrap;
	rkv_rga_imcheck_fn check;
	rkv_rga_improcess_fn process;
	rkv_rga_querystring_fn query;
	rkv_rga_strerror_fn strerror;
};

struct rga {
	void *lib;
	struct rga_api api;
	int va_unsafe; /* RGA2 cores alone, and RAM above 4 GiB */
	int status;    /* the last failed job's IM_STATUS */
};

/* The RGA format of @fourcc and the stride alignment (pixels) it needs. */
static int rga_format(uint32_t fourcc, uint32_t *align)
{
	switch (fourcc) {
	case RKV_FMT_NV12: *align = 16; return RKV_RGA_FMT_YCbCr_420_SP;
	case RKV_FMT_NV16: *align = 16; return RKV_RGA_FMT_YCbCr_422_SP;
	case RKV_FMT_I420: *align = 16; return RKV_RGA_FMT_YCbCr_420_P;
	case RKV_FMT_YUYV: *align = 8; return RKV_RGA_FMT_YUYV_422;
	case RKV_FMT_RGB24: *align = 16; return RKV_RGA_FMT_RGB_888;
	case RKV_FMT_BGR24: *align = 16; return RKV_RGA_FMT_BGR_888;
	case RKV_FMT_RGBA: *align = 4; return RKV_RGA_FMT_RGBA_8888;
	default: return -1;
	}
}

static int is_yuv(uint32_t fourcc)
{
	return fourcc == RKV_FMT_NV12 || fourcc == RKV_FMT_NV16 || fourcc == RKV_FMT_I420 ||
	       fourcc == RKV_FMT_YUYV;
}

/* An image as one job sees it. */
struct side {
	struct rkv__hw_layout l;
	int format;
	rkv_rga_handle h;
	struct rkv_rga_buffer buf;
};

/* Check what RGA needs of @img (geometry is the dispatcher's). */
static int rga_side(const struct rga *g, const struct rkv_image *img, struct side *s,
		    uint32_t *why)
{
	uint32_t align;

	memset(s, 0, sizeof(*s));
	s->format = rga_format(img->frame.fourcc, &align);
	if (s->format < 0) {
		*why = RKV_IMGOPS_WHY_FORMAT;
		return -ENOTSUP;
	}
	if (rkv__hw_layout(img, &s->l) < 0 || s->l.wstride % align ||
	    (is_yuv(img->frame.fourcc) && (img->frame.height % 2 || s->l.hstride % 2))) {
		*why = RKV_IMGOPS_WHY_ALIGN;
		return -ENOTSUP;
	}
	if (s->l.wstride > INT32_MAX || s->l.hstride > INT32_MAX) {
		*why = RKV_IMGOPS_WHY_SIZE;
		return -ENOTSUP;
	}
	if (g->va_unsafe && !rkv__hw_by_fd(img, &s->l)) {
		*why = RKV_IMGOPS_WHY_MEMORY;
		return -ENOTSUP;
	}
	return 0;
}

static int rga_import(const struct rga *g, const struct rkv_image *img, struct side *s)
{
	struct rkv_rga_handle_param p = { s->l.wstride, s->l.hstride, (uint32_t)s->format };

	if (rkv__hw_by_fd(img, &s->l))
		s->h = g->api.import_fd(img->fd, &p);
	else
		s->h = g->api.import_va((uint8_t *)img->data + s->l.base, &p);
	if (!s->h)
		return -ENOTSUP;
	s->buf = g->api.wrap(s->h, (int)img->frame.width, (int)img->frame.height,
			     (int)s->l.wstride, (int)s->l.hstride, s->format);
	return 0;
}

static void rga_release(const struct rga *g, struct side *s)
{
	if (s->h)
		g->api.release(s->h);
	s->h = 0;
}

static int fits(uint32_t v)
{
	return v >= RGA_MIN_DIM && v <= RGA_MAX_DIM;
}

/* Whether scaling @from to @to stays within 1/16..16. */
static int ratio_ok(uint32_t from, uint32_t to)
{
	return (uint64_t)to * RGA_MAX_RATIO >= from && (uint64_t)from * RGA_MAX_RATIO >= to;
}

static int usage_of(const struct rkv_transform *t)
{
	switch (t->rotate) {
	case 90: return RKV_RGA_ROT_90;
	case 180: return RKV_RGA_ROT_180;
	case 270: return RKV_RGA_ROT_270;
	}
	switch (t->flip) {
	case RKV_FLIP_H: return RKV_RGA_FLIP_H;
	case RKV_FLIP_V: return RKV_RGA_FLIP_V;
	case RKV_FLIP_H | RKV_FLIP_V: return RKV_RGA_FLIP_H_V;
	}
	return 0;
}

/* One job: @src's rectangle @sr into all of @dst, with @usage. 0, -ENOTSUP
 * (with *@why) when librga will not take it, -EIO when the job fails. */
static int rga_job(struct rga *g, const struct rkv_image *src, struct side *s,
		   struct rkv_image *dst, struct side *d, struct rkv_rga_rect sr, int usage,
		   uint32_t *why)
{
	struct rkv_rga_rect dr = { 0, 0, (int)dst->frame.width, (int)dst->frame.height }, pr = { 0 };
	struct rkv_rga_buffer pat;
	int r;

	memset(&pat, 0, sizeof(pat));
	if (rga_import(g, src, s) < 0 || rga_import(g, dst, d) < 0) {
		*why = RKV_IMGOPS_WHY_MEMORY;
		r = -ENOTSUP;
	} else if (g->api.check(s->buf, d->buf, pat, sr, dr, pr, usage) !=
		   RKV_RGA_STATUS_NOERROR) {
		*why = RKV_IMGOPS_WHY_OTHER;
		r = -ENOTSUP;
	} else {
		g->status = g->api.process(s->buf, d->buf, pat, sr, dr, pr, usage | RKV_RGA_SYNC);
		r = g->status == RKV_RGA_STATUS_SUCCESS ? 0 : -EIO;
	}
	rga_release(g, d);
	rga_release(g, s);
	return r;
}

static int rga_transform(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			 const struct rkv_transform *t, uint32_t *why)
{
	struct rga *g = priv;
	struct side s, d;
	uint32_t sw = t->crop_w, sh = t->crop_h, dw = dst->frame.width, dh = dst->frame.height;
	int r;

	if (t->filter == RKV_FILTER_NEAREST || (t->rotate && t->flip)) {
		*why = RKV_IMGOPS_WHY_PARAMS;
		return -ENOTSUP;
	}
	if (t->rotate == 90 || t->rotate == 270) {
		sw = t->crop_h;
		sh = t->crop_w;
	}
	if (!fits(sw) || !fits(sh) || !fits(dw) || !fits(dh) || !fits(src->frame.width) ||
	    !fits(src->frame.height) || !ratio_ok(sw, dw) || !ratio_ok(sh, dh)) {
		*why = RKV_IMGOPS_WHY_SIZE;
		return -ENOTSUP;
	}
	if (is_yuv(src->frame.fourcc) && (t->crop_x % 2 || t->crop_y % 2 || t->crop_h % 2)) {
		*why = RKV_IMGOPS_WHY_ALIGN;
		return -ENOTSUP;
	}
	if ((r = rga_side(g, src, &s, why)) < 0 || (r = rga_side(g, dst, &d, why)) < 0)
		return r;
	struct rkv_rga_rect sr = { (int)t->crop_x, (int)t->crop_y, (int)t->crop_w, (int)t->crop_h };
	return rga_job(g, src, &s, dst, &d, sr, usage_of(t), why);
}

/* ---- the probe ----------------------------------------------------------- */

static void rga_close(void *priv)
{
	struct rga *g = priv;

	if (!g)
		return;
	if (g->lib)
		dlclose(g->lib);
	free(g);
}

/* Whether physical memory reaches past 4 GiB (a 32-bit IOMMU's reach). */
static int ram_over_4g(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 && (uint64_t)pages * (uint64_t)size > (1ull << 32);
}

/* One tiny job: a 32x32 RGBA picture of one colour shrunk to 16x16 must
 * come out that colour (a scale that did nothing, or wrote garbage, does
 * not). */
static int rga_probe_job(struct rga *g, char *why, size_t why_len)
{
	static const uint8_t px[4] = { 10, 200, 30, 255 };
	uint32_t in[32 * 32], out[16 * 16];
	struct rkv_image src, dst;
	struct side s, d;
	uint32_t w = 0;
	int r, unsafe = g->va_unsafe;

	for (size_t i = 0; i < 32 * 32; i++)
		memcpy(&in[i], px, 4);
	memset(out, 0, sizeof(out));
	rkv_imgops_image(&src, RKV_FMT_RGBA, 32, 32, in, sizeof(in));
	rkv_imgops_image(&dst, RKV_FMT_RGBA, 16, 16, out, sizeof(out));
	/* The test job's memory is the heap's: on an RGA2-only machine with
	 * more than 4 GiB it is tried all the same, and a driver that cannot
	 * reach it fails the probe, saying so. */
	g->va_unsafe = 0;
	r = rga_side(g, &src, &s, &w);
	if (r == 0)
		r = rga_side(g, &dst, &d, &w);
	g->va_unsafe = unsafe;
	if (r < 0) {
		snprintf(why, why_len, "test job: refused (reason %u)", w);
		return r;
	}
	r = rga_job(g, &src, &s, &dst, &d, (struct rkv_rga_rect){ 0, 0, 32, 32 }, 0, &w);
	if (r == -EIO) {
		const char *e = g->api.strerror(g->status);

		snprintf(why, why_len, "test job: improcess failed: %s%s", e ? e : "?",
			 unsafe ? " (RGA2 only, RAM above 4 GiB)" : "");
		return r;
	}
	if (r < 0) {
		snprintf(why, why_len, "test job: %s",
			 w == RKV_IMGOPS_WHY_MEMORY ? "importbuffer failed" : "imcheck refused it");
		return -EIO;
	}
	for (size_t i = 0; i < 16 * 16; i++)
		if (memcmp(&out[i], px, 4) != 0) {
			snprintf(why, why_len, "test job: wrong result at pixel %zu", i);
			return -EIO;
		}
	return 0;
}

static int rga_open(void **priv, char *why, size_t why_len)
{
	static const char *const names[] = { "librga.so.2", "librga.so", NULL };
	static const char *const syms[] = { RKV_RGA_SYMBOLS };
	static const struct rkv__hw_lib lib = {
		"RKV_RGA_DEV", "/dev/rga", "RKV_RGA_LIB", names, syms, sizeof(syms) / sizeof(syms[0]),
	};
	struct rga *g;
	const char *ver;
	int r;

	_Static_assert(sizeof(struct rga_api) == sizeof(syms) / sizeof(syms[0]) * sizeof(void *),
		       "one pointer per symbol");
	*priv = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	if ((r = rkv__hw_open(&lib, &g->lib, (void **)&g->api, why, why_len)) < 0)
		goto fail;
	/* Cores: RGA3 reaches all memory (40-bit IOMMU), RGA2 only 4 GiB. */
	ver = g->api.query(RKV_RGA_INFO_VERSION);
	if (!ver || !strstr(ver, "RGA_")) {
		snprintf(why, why_len, "querystring(RGA_VERSION) names no RGA core");
		r = -ENODEV;
		goto fail;
	}
	g->va_unsafe = !strstr(ver, "RGA_3") && ram_over_4g();
	if ((r = rga_probe_job(g, why, why_len)) < 0)
		goto fail;
	*priv = g;
	return 0;
fail:
	rga_close(g);
	return r;
}

const struct rkv_imgops_backend rkv__imgops_rga = {
	.size = sizeof(struct rkv_imgops_backend),
	.name = "rga",
	.open = rga_open,
	.close = rga_close,
	.transform = rga_transform,
};
