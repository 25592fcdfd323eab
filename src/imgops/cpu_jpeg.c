/* SPDX-License-Identifier: MIT */
/*
 * imgops/cpu_jpeg.c - JPEG with TurboJPEG (the 2.1 API Debian 12 ships).
 *
 * Encoding writes straight into the caller's buffer when it holds
 * tjBufSize() bytes, the worst case TurboJPEG insists on for a buffer it
 * must not grow; a smaller one gets the image through a buffer of the
 * context's, copied when it fits. YUV sources go in as planes
 * (tjCompressFromYUVPlanes), so I420 is encoded where it lies and NV12 costs
 * one deinterleave of its chroma.
 *
 * Decoding trusts nothing in the stream: warnings (a truncated or damaged
 * stream) stop the decoder, and so does a progressive stream with more scans
 * than any encoder writes (TJFLAG_LIMITSCANS), which would otherwise take
 * minutes of CPU for a few kilobytes of input. A decoder handle that
 * failed is thrown away and made anew for the next call: after some
 * damaged streams TurboJPEG 2.1's handle refuses even a good one's header.
 */
#include <errno.h>
#include <string.h>

#include <turbojpeg.h>

#include "imgops/cpu.h"

void rkv__cpu_jpeg_free(struct rkv__cpu *c)
{
	if (c->enc)
		tjDestroy(c->enc);
	if (c->dec)
		tjDestroy(c->dec);
	tjFree(c->jbuf);
	c->enc = c->dec = NULL;
	c->jbuf = NULL;
	c->jcap = 0;
}

static int handle(void **h, int compress)
{
	if (!*h)
		*h = compress ? tjInitCompress() : tjInitDecompress();
	return *h ? 0 : -ENOMEM;
}

/* The stream was refused: -EBADMSG, and a fresh decoder next time. */
static int refused(struct rkv__cpu *c)
{
	tjDestroy(c->dec);
	c->dec = NULL;
	return -EBADMSG;
}

int rkv__cpu_jpeg_encode(struct rkv__cpu *c, const struct rkv_image *src, struct rkv_image *dst,
			 uint32_t quality)
{
	struct rkv__view v, y;
	int samp = TJSAMP_420, pf = -1, r;
	unsigned long bound, len;
	unsigned char *out;

	if ((r = handle(&c->enc, 1)) < 0)
		return r;
	rkv__imgops_view(src, &v);
	switch (v.pix) {
	case RKV__PIX_I420:
		y = v;
		break;
	case RKV__PIX_NV12:
		if ((r = rkv__cpu_tmp(c, RKV__PIX_I420, v.w, v.h, &y)) < 0 ||
		    (r = rkv__cpu_convert(c, &v, &y)) < 0)
			return r;
		break;
	case RKV__PIX_NV16:
	case RKV__PIX_YUYV:
		samp = TJSAMP_422;
		if ((r = rkv__cpu_tmp(c, RKV__PIX_I422, v.w, v.h, &y)) < 0 ||
		    (r = rkv__cpu_convert(c, &v, &y)) < 0)
			return r;
		break;
	case RKV__PIX_RGB24:
		pf = TJPF_RGB;
		break;
	case RKV__PIX_BGR24:
		pf = TJPF_BGR;
		break;
	default: /* RGBA */
		pf = TJPF_RGBX;
		break;
	}

	bound = tjBufSize(v.w, v.h, samp);
	if (bound == (unsigned long)-1)
		return -EINVAL;
	if (dst->capacity >= bound) {
		out = dst->data;
	} else {
		if (c->jcap < bound) {
			tjFree(c->jbuf);
			c->jcap = 0;
			c->jbuf = tjAlloc((int)bound);
			if (!c->jbuf)
				return -ENOMEM;
			c->jcap = bound;
		}
		out = c->jbuf;
	}
	len = bound;
	if (pf >= 0)
		r = tjCompress2(c->enc, v.p[0], v.w, v.s[0], v.h, pf, &out, &len, samp,
				(int)quality, TJFLAG_NOREALLOC);
	else
		r = tjCompressFromYUVPlanes(c->enc, (const unsigned char **)y.p, v.w, y.s, v.h,
					    samp, &out, &len, (int)quality, TJFLAG_NOREALLOC);
	if (r != 0)
		return -EINVAL;
	if (out != dst->data) {
		if (len > dst->capacity)
			return -ENOSPC;
		memcpy(dst->data, out, len);
	}
	memset(&dst->frame, 0, sizeof(dst->frame));
	dst->frame.fourcc = RKV_FMT_JPEG;
	dst->frame.width = (uint32_t)v.w;
	dst->frame.height = (uint32_t)v.h;
	dst->frame.bytes_used = len;
	dst->frame.flags = RKV_FRAME_KEYFRAME;
	return 0;
}

static int header(struct rkv__cpu *c, const void *data, size_t len, int *w, int *h, int *samp,
		  int *cs)
{
	int r;

	if ((r = handle(&c->dec, 0)) < 0)
		return r;
	if (len > (unsigned long)-1)
		return -EBADMSG;
	/* TurboJPEG 2.1 can succeed without setting them (a datastream of
	 * tables only): unset, they read as no picture. */
	*w = *h = 0;
	*samp = *cs = -1;
	if (tjDecompressHeader3(c->dec, data, (unsigned long)len, w, h, samp, cs) != 0)
		return refused(c);
	if (*w <= 0 || *h <= 0)
		return -EBADMSG;
	if ((unsigned)*w > RKV_IMGOPS_MAX_DIM || (unsigned)*h > RKV_IMGOPS_MAX_DIM)
		return -ENOTSUP;
	return 0;
}

int rkv__cpu_jpeg_size(void *cpu, const void *data, size_t len, uint32_t *width,
		       uint32_t *height)
{
	int w, h, samp, cs, r = header(cpu, data, len, &w, &h, &samp, &cs);

	if (r < 0)
		return r;
	*width = (uint32_t)w;
	*height = (uint32_t)h;
	return 0;
}

int rkv__cpu_jpeg_decode(struct rkv__cpu *c, const struct rkv_image *src, struct rkv_image *dst,
			 uint32_t *why)
{
	const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
	const unsigned char *in = src->data;
	unsigned long len = (unsigned long)src->frame.bytes_used;
	struct rkv__view d, t;
	int w, h, samp, cs, r;

	if ((r = header(c, in, len, &w, &h, &samp, &cs)) < 0)
		return r;
	if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
		*why = RKV_IMGOPS_WHY_FORMAT;
		return -ENOTSUP;
	}
	rkv__imgops_view(dst, &d);

	/* Straight into the destination when it is the JPEG's size and a
	 * format TurboJPEG writes. */
	if (d.w == w && d.h == h) {
		int pf = d.pix == RKV__PIX_RGB24 ? TJPF_RGB
			 : d.pix == RKV__PIX_BGR24 ? TJPF_BGR
			 : d.pix == RKV__PIX_RGBA  ? TJPF_RGBA
						   : -1;

		if (pf >= 0)
			return tjDecompress2(c->dec, in, len, d.p[0], w, d.s[0], h, pf, flags) ? refused(c)
												 : 0;
		if (d.pix == RKV__PIX_I420 && samp == TJSAMP_420)
			return tjDecompressToYUVPlanes(c->dec, in, len, d.p, w, d.s, h, flags) ? refused(c)
												       : 0;
	}

	/* Otherwise into the JPEG's own sampling (or BGRA, for sampling that
	 * has no format here, and greyscale), then scaled and converted. */
	if (samp == TJSAMP_420 || samp == TJSAMP_422) {
		int pix = samp == TJSAMP_420 ? RKV__PIX_I420 : RKV__PIX_I422;

		if ((r = rkv__cpu_tmp(c, pix, w, h, &t)) < 0)
			return r;
		if (tjDecompressToYUVPlanes(c->dec, in, len, t.p, w, t.s, h, flags) != 0)
			return refused(c);
	} else {
		if ((r = rkv__cpu_tmp(c, RKV__PIX_BGRA, w, h, &t)) < 0)
			return r;
		if (tjDecompress2(c->dec, in, len, t.p[0], w, t.s[0], h, TJPF_BGRA, flags) != 0)
			return refused(c);
	}
	return rkv__cpu_pipeline(c, &t, &d, 0, 0, RKV_FILTER_BILINEAR);
}
