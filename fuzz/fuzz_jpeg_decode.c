/* SPDX-License-Identifier: MIT */
/*
 * fuzz_jpeg_decode.c - the JPEG decoder of the image layer.
 *
 * JPEGs come from cameras, files and other processes' pools: whatever the
 * bytes, rkv_imgops_jpeg_size() and rkv_imgops_jpeg_decode() must return
 * 0, -EBADMSG (corrupt) or -ENOTSUP (too large, CMYK), never crash, hang
 * or read or write outside the buffers they were given. Each input is
 * decoded three ways: at its own size into RGB24 and (when its size allows)
 * I420, TurboJPEG writing straight into the destination; and into a small
 * NV12 picture, through the scratch and scaling path.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rkv/imgops.h>

#include "fuzz_util.h"

/* Inputs claiming more pixels than this are only sized, not decoded: the
 * decoder allocates the whole picture, and the fuzzer's memory is not the
 * point. */
#define FUZZ_MAX_PIXELS (1u << 20)

static rkv_imgops *ctx(void)
{
	static rkv_imgops *c;

	if (!c && rkv_imgops_open(NULL, &c) < 0)
		fuzz_die("rkv_imgops_open failed");
	return c;
}

/* Valid seeds: small JPEGs in 4:2:0, 4:2:2 and from RGB, made by the
 * layer itself. */
size_t fuzz_seed_input(uint8_t *buf, size_t cap, unsigned variant)
{
	static const uint32_t fmts[] = { RKV_FMT_I420, RKV_FMT_YUYV, RKV_FMT_RGB24 };
	uint32_t fourcc = fmts[variant % 3], w = 16 + 2 * (variant / 3 % 4), h = 8;
	struct rkv_jpeg_params q = { .quality = 30 + variant % 50 };
	struct rkv_image src, dst;
	uint8_t pix[32 * 8 * 4];

	if (rkv_imgops_image(&src, fourcc, w, h, pix, sizeof(pix)) <= 0)
		fuzz_die("seed: no layout");
	for (size_t i = 0; i < sizeof(pix); i++)
		pix[i] = (uint8_t)(i * 7 + variant);
	rkv_imgops_image(&dst, RKV_FMT_JPEG, 0, 0, buf, cap);
	if (rkv_imgops_jpeg_encode(ctx(), &src, &dst, &q) < 0)
		return 0;
	return dst.frame.bytes_used;
}

static void expect(int r, const char *what, uint32_t w, uint32_t h)
{
	if (r != 0 && r != -EBADMSG && r != -ENOTSUP)
		fuzz_die("%s of a %ux%u JPEG: %d (%s)", what, w, h, r, strerror(-r));
}

static void decode_into(struct rkv_image *src, uint32_t fourcc, uint32_t w, uint32_t h)
{
	struct rkv_image dst;
	int64_t n = rkv_imgops_image(&dst, fourcc, w, h, NULL, 0);
	uint8_t *buf;

	if (n <= 0)
		fuzz_die("no layout for %ux%u", w, h);
	buf = malloc((size_t)n);
	if (!buf)
		fuzz_die("out of memory");
	rkv_imgops_image(&dst, fourcc, w, h, buf, (uint64_t)n);
	expect(rkv_imgops_jpeg_decode(ctx(), src, &dst), "decode", w, h);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rkv_image src;
	uint32_t w = 0, h = 0;
	int r;

	if (size == 0)
		return 0;
	r = rkv_imgops_jpeg_size(ctx(), data, size, &w, &h);
	expect(r, "size", w, h);
	if (r == 0 && (w == 0 || h == 0 || w > RKV_IMGOPS_MAX_DIM || h > RKV_IMGOPS_MAX_DIM))
		fuzz_die("jpeg_size said 0 with a size of %ux%u", w, h);
	/* The decoder reads the source and never writes it. */
	rkv_imgops_image(&src, RKV_FMT_JPEG, 0, 0, (void *)data, size);
	decode_into(&src, RKV_FMT_NV12, 32, 24);
	if (r < 0 || (uint64_t)w * h > FUZZ_MAX_PIXELS)
		return 0;
	decode_into(&src, RKV_FMT_RGB24, w, h);
	if (w % 2 == 0 && h % 2 == 0)
		decode_into(&src, RKV_FMT_I420, w, h);
	return 0;
}
