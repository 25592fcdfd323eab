/* SPDX-License-Identifier: MIT */
/*
 * imgops/imgops.c - the dispatcher: contexts, their chain of backends, the
 * checks every call gets before any backend sees it, fallback and counters.
 *
 * Every argument is checked here once, so a backend (the CPU one, a
 * hardware one, a board's own) only decides whether it can do the work;
 * none of them repeats the geometry rules, and none can be handed an image
 * that reaches past its buffer.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "imgops/cpu.h"
#include "imgops/hw.h"
#include "imgops/internal.h"

/* ---- the chain ------------------------------------------------------------ */

/* The hardware backends a build can hold, in the order "auto" tries them.
 * A NULL table is one this library was built without. */
static const struct {
	const char *name;
	const struct rkv_imgops_backend *ops;
} hardware[] = {
	{ "rga", &rkv__imgops_rga },
	{ "mpp", &rkv__imgops_mpp },
};

struct rkv_imgops {
	uint32_t n;
	const struct rkv_imgops_backend *b[RKV_IMGOPS_MAX_CHAIN];
	void *priv[RKV_IMGOPS_MAX_CHAIN];
	struct rkv_imgops_info info;
	/* Relaxed atomics: rkv_imgops_stats() may read them from another
	 * thread while the owner counts. */
	_Atomic uint64_t calls[RKV_IMGOPS_OPS];
	_Atomic uint64_t errors[RKV_IMGOPS_OPS];
	_Atomic uint64_t fallbacks[RKV_IMGOPS_OPS];
	_Atomic uint64_t reasons[RKV_IMGOPS_REASONS];
	_Atomic uint64_t done_by[RKV_IMGOPS_MAX_CHAIN][RKV_IMGOPS_OPS];
};

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void note_refused(struct rkv_imgops_info *info, const char *name, const char *why)
{
	size_t len = strlen(info->refused);

	snprintf(info->refused + len, sizeof(info->refused) - len, "%s%s: %s", len ? "; " : "",
		 name, why);
}

/* Open backend @b and append it to the chain, or note why it was left out. */
static int add_backend(rkv_imgops *ctx, const struct rkv_imgops_backend *b)
{
	char why[160] = "";
	void *priv = NULL;
	int r;

	/* The last place is the CPU backend's. */
	if (ctx->n + (b != &rkv__imgops_cpu) >= RKV_IMGOPS_MAX_CHAIN) {
		note_refused(&ctx->info, b->name ? b->name : "?", "the chain is full");
		return -ENOSPC;
	}
	if (b->size < offsetof(struct rkv_imgops_backend, close) + sizeof(b->close) || !b->name ||
	    !b->open) {
		note_refused(&ctx->info, b->name ? b->name : "?", "its table lacks a name or open()");
		return -EINVAL;
	}
	r = b->open(&priv, why, sizeof(why));
	if (r < 0) {
		note_refused(&ctx->info, b->name, why[0] ? why : strerror(-r));
		return r;
	}
	ctx->b[ctx->n] = b;
	ctx->priv[ctx->n] = priv;
	snprintf(ctx->info.backends[ctx->n], sizeof(ctx->info.backends[0]), "%s", b->name);
	ctx->n++;
	ctx->info.nbackends = ctx->n;
	return 0;
}

int rkv_imgops_open(const struct rkv_imgops_config *cfg, rkv_imgops **out)
{
	struct rkv_imgops_config c = { 0 };
	const char *name = "auto";
	rkv_imgops *ctx;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (cfg) {
		size_t size = cfg->size ? cfg->size : sizeof(c);

		if (size > sizeof(c))
			return -E2BIG;
		if (size < offsetof(struct rkv_imgops_config, backend))
			return -EINVAL;
		memcpy(&c, cfg, size);
		for (size_t i = 0; i < sizeof(c.reserved) / sizeof(c.reserved[0]); i++)
			if (c.reserved[i])
				return -EINVAL;
		if (c.backend)
			name = c.backend;
	}
	int want = -2; /* -2: every one ("auto"), -1: none ("cpu"), else hardware[want] */
	if (strcmp(name, "cpu") == 0)
		want = -1;
	else if (strcmp(name, "auto") != 0) {
		for (size_t i = 0; i < sizeof(hardware) / sizeof(hardware[0]); i++)
			if (strcmp(name, hardware[i].name) == 0)
				want = (int)i;
		if (want == -2)
			return -EINVAL;
	}

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (c.custom)
		add_backend(ctx, c.custom);
	for (size_t i = 0; i < sizeof(hardware) / sizeof(hardware[0]); i++) {
		if (want != -2 && want != (int)i)
			continue;
		if (!hardware[i].ops)
			note_refused(&ctx->info, hardware[i].name, "not built into this library");
		else
			add_backend(ctx, hardware[i].ops);
	}
	r = add_backend(ctx, &rkv__imgops_cpu);
	if (r < 0) {
		rkv_imgops_close(ctx);
		return r;
	}
	*out = ctx;
	return 0;
}

void rkv_imgops_close(rkv_imgops *ctx)
{
	if (!ctx)
		return;
	for (uint32_t i = 0; i < ctx->n; i++)
		if (ctx->b[i]->close)
			ctx->b[i]->close(ctx->priv[i]);
	free(ctx);
}

int rkv_imgops_info(const rkv_imgops *ctx, struct rkv_imgops_info *info, size_t size)
{
	if (!ctx || !info)
		return -EINVAL;
	memcpy(info, &ctx->info, size < sizeof(ctx->info) ? size : sizeof(ctx->info));
	return 0;
}

int rkv_imgops_stats(const rkv_imgops *ctx, struct rkv_imgops_stats *st, size_t size)
{
	struct rkv_imgops_stats s;

	if (!ctx || !st)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	for (uint32_t op = 0; op < RKV_IMGOPS_OPS; op++) {
		s.calls[op] = atomic_load_explicit(&ctx->calls[op], memory_order_relaxed);
		s.errors[op] = atomic_load_explicit(&ctx->errors[op], memory_order_relaxed);
		s.fallbacks[op] = atomic_load_explicit(&ctx->fallbacks[op], memory_order_relaxed);
		for (uint32_t i = 0; i < RKV_IMGOPS_MAX_CHAIN; i++)
			s.done_by[i][op] = atomic_load_explicit(&ctx->done_by[i][op],
								memory_order_relaxed);
	}
	for (uint32_t w = 0; w < RKV_IMGOPS_REASONS; w++)
		s.reasons[w] = atomic_load_explicit(&ctx->reasons[w], memory_order_relaxed);
	memcpy(st, &s, size < sizeof(s) ? size : sizeof(s));
	return 0;
}

/* ---- the checks ------------------------------------------------------------ */

int rkv__imgops_pix(uint32_t fourcc)
{
	switch (fourcc) {
	case RKV_FMT_NV12: return RKV__PIX_NV12;
	case RKV_FMT_NV16: return RKV__PIX_NV16;
	case RKV_FMT_I420: return RKV__PIX_I420;
	case RKV_FMT_YUYV: return RKV__PIX_YUYV;
	case RKV_FMT_RGB24: return RKV__PIX_RGB24;
	case RKV_FMT_BGR24: return RKV__PIX_BGR24;
	case RKV_FMT_RGBA: return RKV__PIX_RGBA;
	default: return -1;
	}
}

void rkv__imgops_view(const struct rkv_image *img, struct rkv__view *v)
{
	const struct rkv_frame *f = &img->frame;

	memset(v, 0, sizeof(*v));
	v->pix = rkv__imgops_pix(f->fourcc);
	v->w = (int)f->width;
	v->h = (int)f->height;
	for (uint32_t i = 0; i < f->num_planes && i < 3; i++) {
		v->p[i] = (uint8_t *)img->data + f->planes[i].offset;
		v->s[i] = (int)f->planes[i].stride;
	}
}

static int all_zero(const uint32_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w[i])
			return 0;
	return 1;
}

static int check_common(const struct rkv_image *img)
{
	if (!img || !img->data || img->pad0 || img->reserved[0] || img->reserved[1])
		return -EINVAL;
	return 0;
}

/* A raw image this layer can read (@dst 0) or write (@dst 1). */
static int check_raw(const struct rkv_image *img, int dst)
{
	const struct rkv_frame *f = &img->frame;
	int r = check_common(img);

	if (r < 0)
		return r;
	if (rkv__imgops_pix(f->fourcc) < 0 || f->width > RKV_IMGOPS_MAX_DIM ||
	    f->height > RKV_IMGOPS_MAX_DIM)
		return -ENOTSUP;
	if (dst && f->bytes_used > img->capacity)
		return -ENOSPC;
	if (rkv_frame_check(f, img->capacity) < 0)
		return -EINVAL;
	switch (f->fourcc) {
	case RKV_FMT_NV12:
	case RKV_FMT_I420:
		if (f->height & 1)
			return -EINVAL;
		/* fall through */
	case RKV_FMT_NV16:
	case RKV_FMT_YUYV:
		if (f->width & 1)
			return -EINVAL;
		break;
	}
	for (uint32_t i = 0; i < f->num_planes; i++)
		if (f->planes[i].stride > INT32_MAX)
			return -EINVAL;
	return 0;
}

/* An encoded source of @fourcc, or an encoded destination (@fourcc 0). */
static int check_encoded(const struct rkv_image *img, uint32_t fourcc)
{
	int r = check_common(img);

	if (r < 0)
		return r;
	if (!fourcc)
		return img->capacity ? 0 : -ENOSPC;
	if (img->frame.fourcc != fourcc)
		return -ENOTSUP;
	if (img->frame.bytes_used == 0 || rkv_frame_check(&img->frame, img->capacity) < 0)
		return -EINVAL;
	return 0;
}

/* The bytes a call reads from @src and writes into @dst must not overlap. */
static int check_apart(const struct rkv_image *src, const struct rkv_image *dst)
{
	uintptr_t s = (uintptr_t)src->data, d = (uintptr_t)dst->data;

	if (s < d + dst->capacity && d < s + src->frame.bytes_used)
		return -EINVAL;
	return 0;
}

/* Check @t against @src and resolve it into @out (crop made explicit). */
static int check_transform(const struct rkv_transform *t, const struct rkv_image *src,
			   struct rkv_transform *out)
{
	const struct rkv_frame *f = &src->frame;
	uint32_t hx = 1, hy = 1;

	memset(out, 0, sizeof(*out));
	if (t)
		*out = *t;
	if (!all_zero(out->reserved, sizeof(out->reserved) / sizeof(out->reserved[0])))
		return -EINVAL;
	if (out->rotate % 90 || out->rotate > 270 || out->flip & ~(RKV_FLIP_H | RKV_FLIP_V) ||
	    out->filter > RKV_FILTER_NEAREST)
		return -EINVAL;
	if (!out->crop_w && !out->crop_h) {
		if (out->crop_x || out->crop_y)
			return -EINVAL;
		out->crop_w = f->width;
		out->crop_h = f->height;
	}
	if (!out->crop_w || !out->crop_h || out->crop_x > f->width ||
	    out->crop_w > f->width - out->crop_x || out->crop_y > f->height ||
	    out->crop_h > f->height - out->crop_y)
		return -EINVAL;
	switch (f->fourcc) {
	case RKV_FMT_NV12:
	case RKV_FMT_I420:
		hy = 2;
		/* fall through */
	case RKV_FMT_NV16:
	case RKV_FMT_YUYV:
		hx = 2;
		break;
	}
	if (out->crop_x % hx || out->crop_w % hx || out->crop_y % hy || out->crop_h % hy)
		return -EINVAL;
	return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

/* One call: its operation, its images, and its parameters as checked and
 * resolved (defaults filled in, the crop made explicit). */
struct call {
	uint32_t op;
	const struct rkv_image *src;
	struct rkv_image *dst;
	struct rkv_transform t;
	struct rkv_jpeg_params jp;
	struct rkv_png_params pp;
};

#define HAS(b, m) \
	((b)->size >= offsetof(struct rkv_imgops_backend, m) + sizeof((b)->m) && (b)->m)

static int invoke(const struct rkv_imgops_backend *b, void *priv, struct call *c, uint32_t *why)
{
	int has = 0;

	switch (c->op) {
	case RKV_IMGOPS_OP_TRANSFORM: has = HAS(b, transform); break;
	case RKV_IMGOPS_OP_JPEG_ENCODE: has = HAS(b, jpeg_encode); break;
	case RKV_IMGOPS_OP_JPEG_DECODE: has = HAS(b, jpeg_decode); break;
	case RKV_IMGOPS_OP_PNG_ENCODE: has = HAS(b, png_encode); break;
	}
	if (!has) {
		*why = RKV_IMGOPS_WHY_METHOD;
		return -ENOTSUP;
	}
	/* A backend that refuses without saying why is counted as "other". */
	*why = RKV_IMGOPS_WHY_OTHER;
	switch (c->op) {
	case RKV_IMGOPS_OP_TRANSFORM:
		return b->transform(priv, c->src, c->dst, &c->t, why);
	case RKV_IMGOPS_OP_JPEG_ENCODE:
		return b->jpeg_encode(priv, c->src, c->dst, &c->jp, why);
	case RKV_IMGOPS_OP_JPEG_DECODE:
		return b->jpeg_decode(priv, c->src, c->dst, why);
	default:
		return b->png_encode(priv, c->src, c->dst, &c->pp, why);
	}
}

static int check_jpeg_params(const struct rkv_jpeg_params *p, struct rkv_jpeg_params *out)
{
	if (p)
		*out = *p;
	if (!all_zero(out->reserved, sizeof(out->reserved) / sizeof(out->reserved[0])))
		return -EINVAL;
	if (out->quality > 100)
		return -EINVAL;
	if (!out->quality)
		out->quality = 85;
	return 0;
}

static int check_png_params(const struct rkv_png_params *p, struct rkv_png_params *out)
{
	out->level = RKV_PNG_LEVEL_DEFAULT;
	if (p)
		*out = *p;
	if (!all_zero(out->reserved, sizeof(out->reserved) / sizeof(out->reserved[0])))
		return -EINVAL;
	return out->level > 9 ? -EINVAL : 0;
}

/* The rules at the top of rkv/imgops.h, for call @c with parameters @params. */
static int check_call(struct call *c, const void *params)
{
	int r;

	switch (c->op) {
	case RKV_IMGOPS_OP_TRANSFORM:
		if ((r = check_raw(c->src, 0)) < 0 || (r = check_raw(c->dst, 1)) < 0 ||
		    (r = check_transform(params, c->src, &c->t)) < 0)
			return r;
		break;
	case RKV_IMGOPS_OP_JPEG_ENCODE:
		if ((r = check_raw(c->src, 0)) < 0 || (r = check_encoded(c->dst, 0)) < 0 ||
		    (r = check_jpeg_params(params, &c->jp)) < 0)
			return r;
		break;
	case RKV_IMGOPS_OP_JPEG_DECODE:
		if ((r = check_encoded(c->src, RKV_FMT_JPEG)) < 0 || (r = check_raw(c->dst, 1)) < 0)
			return r;
		break;
	case RKV_IMGOPS_OP_PNG_ENCODE:
		if ((r = check_raw(c->src, 0)) < 0 || (r = check_encoded(c->dst, 0)) < 0 ||
		    (r = check_png_params(params, &c->pp)) < 0)
			return r;
		break;
	}
	return check_apart(c->src, c->dst);
}

/* Count the call, check it, then try each backend of the chain in turn
 * until one does not refuse. A call refused by the checks counts as an
 * error of its operation. */
static int dispatch(rkv_imgops *ctx, uint32_t op, const struct rkv_image *src,
		    struct rkv_image *dst, const void *params)
{
	struct call c = { .op = op, .src = src, .dst = dst };
	int r;

	if (!ctx)
		return -EINVAL;
	count(&ctx->calls[op]);
	r = check_call(&c, params);
	for (uint32_t i = 0; r == 0 && i < ctx->n; i++) {
		uint32_t why;

		r = invoke(ctx->b[i], ctx->priv[i], &c, &why);
		if (r == -ENOTSUP && i + 1 < ctx->n) {
			count(&ctx->fallbacks[op]);
			count(&ctx->reasons[why < RKV_IMGOPS_REASONS ? why : RKV_IMGOPS_WHY_OTHER]);
			r = 0;
			continue;
		}
		if (r >= 0) {
			count(&ctx->done_by[i][op]);
			return 0;
		}
	}
	count(&ctx->errors[op]);
	return r;
}

int rkv_imgops_transform(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst,
			 const struct rkv_transform *t)
{
	return dispatch(ctx, RKV_IMGOPS_OP_TRANSFORM, src, dst, t);
}

int rkv_imgops_jpeg_encode(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst,
			   const struct rkv_jpeg_params *p)
{
	return dispatch(ctx, RKV_IMGOPS_OP_JPEG_ENCODE, src, dst, p);
}

int rkv_imgops_jpeg_decode(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst)
{
	return dispatch(ctx, RKV_IMGOPS_OP_JPEG_DECODE, src, dst, NULL);
}

int rkv_imgops_png_encode(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst,
			  const struct rkv_png_params *p)
{
	return dispatch(ctx, RKV_IMGOPS_OP_PNG_ENCODE, src, dst, p);
}

int rkv_imgops_jpeg_size(rkv_imgops *ctx, const void *data, size_t len, uint32_t *width,
			 uint32_t *height)
{
	if (!ctx || !data || !width || !height)
		return -EINVAL;
	return rkv__cpu_jpeg_size(ctx->priv[ctx->n - 1], data, len, width, height);
}

/* ---- sizes ---------------------------------------------------------------- */

int64_t rkv_imgops_image(struct rkv_image *img, uint32_t fourcc, uint32_t width,
			 uint32_t height, void *data, uint64_t capacity)
{
	int64_t n;

	if (!img)
		return -EINVAL;
	memset(img, 0, sizeof(*img));
	img->data = data;
	img->capacity = capacity;
	img->fd = -1;
	if (fourcc == RKV_FMT_JPEG || fourcc == RKV_FMT_PNG) {
		if (capacity > INT64_MAX)
			return -EINVAL;
		img->frame.fourcc = fourcc;
		img->frame.width = width;
		img->frame.height = height;
		img->frame.bytes_used = capacity;
		return (int64_t)capacity;
	}
	n = rkv_frame_layout(&img->frame, fourcc, width, height, 1);
	return n;
}

uint64_t rkv_imgops_jpeg_bound(uint32_t width, uint32_t height)
{
	unsigned long n;

	if (!width || !height || width > RKV_IMGOPS_MAX_DIM || height > RKV_IMGOPS_MAX_DIM)
		return 0;
	/* 4:4:4 is the largest of TurboJPEG's worst cases. */
	n = tjBufSize((int)width, (int)height, TJSAMP_444);
	return n == (unsigned long)-1 ? 0 : (uint64_t)n;
}

uint64_t rkv_imgops_png_bound(uint32_t fourcc, uint32_t width, uint32_t height)
{
	uint64_t raw;

	if (!width || !height || width > RKV_IMGOPS_MAX_DIM || height > RKV_IMGOPS_MAX_DIM ||
	    rkv__imgops_pix(fourcc) < 0)
		return 0;
	/* Each row is a filter byte and the samples. zlib may grow data by
	 * ~0.03% at worst, libpng adds 12 bytes per 8 KiB IDAT chunk (0.15%),
	 * and the signature, IHDR and IEND take 45 bytes: 1/256 and 4 KiB
	 * leave room to spare. */
	raw = (uint64_t)height * (1 + (uint64_t)width * (fourcc == RKV_FMT_RGBA ? 4 : 3));
	return raw + raw / 256 + 4096;
}
