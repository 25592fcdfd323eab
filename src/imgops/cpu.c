/* SPDX-License-Identifier: MIT */
/*
 * imgops/cpu.c - the CPU backend's table, its per-context state and the
 * scratch memory its steps share.
 *
 * The work itself is in cpu_pixels.c (libyuv), cpu_jpeg.c (TurboJPEG) and
 * cpu_png.c (libpng). This backend refuses nothing the dispatcher lets
 * through, except a CMYK JPEG.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imgops/cpu.h"

static int cpu_open(void **priv, char *why, size_t why_len)
{
	(void)why;
	(void)why_len;
	*priv = calloc(1, sizeof(struct rkv__cpu));
	return *priv ? 0 : -ENOMEM;
}

static void cpu_close(void *priv)
{
	struct rkv__cpu *c = priv;

	if (!c)
		return;
	rkv__cpu_jpeg_free(c);
	for (int i = 0; i < RKV__CPU_SCRATCH; i++)
		free(c->scratch[i].p);
	free(c);
}

static int cpu_transform(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			 const struct rkv_transform *t, uint32_t *why)
{
	struct rkv__view s, d;
	int hx = 1, hy = 1;

	(void)why;
	rkv__cpu_begin(priv);
	rkv__imgops_view(src, &s);
	rkv__imgops_view(dst, &d);
	/* The crop moves each plane's start; the dispatcher has checked that
	 * the offsets fall on whole chroma samples. */
	if (s.pix == RKV__PIX_NV12 || s.pix == RKV__PIX_I420)
		hx = hy = 2;
	else if (s.pix == RKV__PIX_NV16)
		hx = 2;
	switch (s.pix) {
	case RKV__PIX_NV12:
	case RKV__PIX_NV16:
		s.p[0] += (size_t)t->crop_y * s.s[0] + t->crop_x;
		s.p[1] += (size_t)(t->crop_y / hy) * s.s[1] + t->crop_x;
		break;
	case RKV__PIX_I420:
		s.p[0] += (size_t)t->crop_y * s.s[0] + t->crop_x;
		s.p[1] += (size_t)(t->crop_y / hy) * s.s[1] + t->crop_x / hx;
		s.p[2] += (size_t)(t->crop_y / hy) * s.s[2] + t->crop_x / hx;
		break;
	case RKV__PIX_YUYV:
		s.p[0] += (size_t)t->crop_y * s.s[0] + (size_t)t->crop_x * 2;
		break;
	case RKV__PIX_RGB24:
	case RKV__PIX_BGR24:
		s.p[0] += (size_t)t->crop_y * s.s[0] + (size_t)t->crop_x * 3;
		break;
	case RKV__PIX_RGBA:
		s.p[0] += (size_t)t->crop_y * s.s[0] + (size_t)t->crop_x * 4;
		break;
	}
	s.w = (int)t->crop_w;
	s.h = (int)t->crop_h;
	return rkv__cpu_pipeline(priv, &s, &d, t->rotate, t->flip, t->filter);
}

static int cpu_jpeg_encode(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			   const struct rkv_jpeg_params *p, uint32_t *why)
{
	(void)why;
	rkv__cpu_begin(priv);
	return rkv__cpu_jpeg_encode(priv, src, dst, p->quality);
}

static int cpu_jpeg_decode(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			   uint32_t *why)
{
	rkv__cpu_begin(priv);
	return rkv__cpu_jpeg_decode(priv, src, dst, why);
}

static int cpu_png_encode(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			  const struct rkv_png_params *p, uint32_t *why)
{
	(void)why;
	rkv__cpu_begin(priv);
	return rkv__cpu_png_encode(priv, src, dst, p->level);
}

const struct rkv_imgops_backend rkv__imgops_cpu = {
	.size = sizeof(struct rkv_imgops_backend),
	.name = "cpu",
	.open = cpu_open,
	.close = cpu_close,
	.transform = cpu_transform,
	.jpeg_encode = cpu_jpeg_encode,
	.jpeg_decode = cpu_jpeg_decode,
	.png_encode = cpu_png_encode,
};
