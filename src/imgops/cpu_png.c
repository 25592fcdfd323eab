/* SPDX-License-Identifier: MIT */
/*
 * imgops/cpu_png.c - PNG with libpng, for lossless saves.
 *
 * libpng reports errors by longjmp() out of its own calls; everything that
 * must keep its value across that jump lives in the context (struct
 * rkv__cpu), and the rows are written in a function of their own, so no
 * local variable of the function holding the setjmp() changes after it.
 * The error callback never prints. Rows are filtered with Sub alone: at the
 * low zlib levels meant here, trying every filter per row (libpng's
 * default) costs more time than the bytes it saves are worth.
 */
#include <errno.h>
#include <setjmp.h>
#include <string.h>

#include <png.h>

#include "imgops/cpu.h"

static void on_error(png_structp png, png_const_charp msg)
{
	(void)msg;
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void on_write(png_structp png, png_bytep data, size_t n)
{
	struct rkv__cpu *c = png_get_io_ptr(png);

	if (n > c->pcap - c->plen) {
		c->pfull = 1;
		png_error(png, "the destination is full");
	}
	memcpy(c->pout + c->plen, data, n);
	c->plen += n;
}

static void on_flush(png_structp png)
{
	(void)png;
}

static void write_image(png_structp png, png_infop info, const struct rkv__view *v,
			uint32_t level)
{
	int rgba = v->pix == RKV__PIX_RGBA;

	png_set_IHDR(png, info, (png_uint_32)v->w, (png_uint_32)v->h, 8,
		     rgba ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, (int)level);
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
	png_write_info(png, info);
	if (v->pix == RKV__PIX_BGR24)
		png_set_bgr(png);
	for (int y = 0; y < v->h; y++)
		png_write_row(png, v->p[0] + (size_t)y * (size_t)v->s[0]);
	png_write_end(png, info);
}

int rkv__cpu_png_encode(struct rkv__cpu *c, const struct rkv_image *src, struct rkv_image *dst,
			uint32_t level)
{
	struct rkv__view s, v;
	png_structp png;
	png_infop info;
	int r;

	rkv__imgops_view(src, &s);
	if (s.pix == RKV__PIX_RGB24 || s.pix == RKV__PIX_BGR24 || s.pix == RKV__PIX_RGBA) {
		v = s;
	} else {
		if ((r = rkv__cpu_tmp(c, RKV__PIX_RGB24, s.w, s.h, &v)) < 0 ||
		    (r = rkv__cpu_convert(c, &s, &v)) < 0)
			return r;
	}

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, on_error, on_warning);
	if (!png)
		return -ENOMEM;
	info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return -ENOMEM;
	}
	c->pout = dst->data;
	c->pcap = dst->capacity;
	c->plen = 0;
	c->pfull = 0;
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return c->pfull ? -ENOSPC : -ENOMEM;
	}
	png_set_write_fn(png, c, on_write, on_flush);
	write_image(png, info, &v, level);
	png_destroy_write_struct(&png, &info);

	memset(&dst->frame, 0, sizeof(dst->frame));
	dst->frame.fourcc = RKV_FMT_PNG;
	dst->frame.width = (uint32_t)v.w;
	dst->frame.height = (uint32_t)v.h;
	dst->frame.bytes_used = c->plen;
	dst->frame.flags = RKV_FRAME_KEYFRAME;
	return 0;
}
