/* SPDX-License-Identifier: MIT */
/*
 * imgcheck - what save_test.py asks of saved images, answered as one
 * JSON line on stdout.
 *
 *   imgcheck file IMAGE RAW FOURCC WxH SEQ
 *       RAW must be exactly test-pattern frame SEQ (rkv_testpattern_verify);
 *       IMAGE (a PNG or a JPEG) is decoded and compared with it: a PNG in
 *       RGB24 against RAW converted to RGB24 ("exact": every byte equal),
 *       a JPEG in RAW's format (PSNR over every byte, in dB).
 * Exit status 0 when it could look (the caller judges the figures), 1 with
 * a message on stderr when it could not.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rkv/imgops.h>
#include <rkv/source.h>

static void die(const char *fmt, const char *arg, int err)
{
	fprintf(stderr, "imgcheck: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "%s%s\n", err ? ": " : "", err ? strerror(err) : "");
	exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		die("cannot read %s", path, errno);
	b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
		die("cannot read %s", path, errno);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
	double se = 0;

	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		se += d * d;
	}
	return se == 0 ? 999.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
}

/* @raw (frame @f) must be exactly the test pattern's frame. */
static void verify_pattern(const struct rkv_frame *f, const void *raw)
{
	int64_t v = rkv_testpattern_verify(f, raw);

	if (v != 0) {
		char b[64];
		snprintf(b, sizeof b, "%" PRId64, v);
		die("the raw frame is not the test pattern's (verify: %s)", b, 0);
	}
}

static uint32_t fourcc_of(const char *s)
{
	char b[4] = { ' ', ' ', ' ', ' ' };
	size_t n = strlen(s);

	if (n == 0 || n > 4)
		die("bad fourcc %s", s, 0);
	memcpy(b, s, n);
	return RKV_FOURCC(b[0], b[1], b[2], b[3]);
}

static int cmd_file(char **argv)
{
	size_t ilen, rlen;
	uint8_t *img = slurp(argv[0], &ilen), *raw = slurp(argv[1], &rlen);
	uint32_t fcc = fourcc_of(argv[2]), w, h;
	struct rkv_image src, dec;
	rkv_imgops *ops;
	int64_t need;

	if (sscanf(argv[3], "%ux%u", &w, &h) != 2)
		die("bad size %s", argv[3], 0);
	need = rkv_imgops_image(&src, fcc, w, h, raw, rlen);
	if (need < 0 || (uint64_t)need != rlen)
		die("the raw file %s is not one frame of that size", argv[1], 0);
	src.frame.seq = strtoull(argv[4], NULL, 10);
	verify_pattern(&src.frame, raw);
	if (rkv_imgops_open(NULL, &ops))
		die("no image context%s", "", 0);
	if (ilen > 8 && !memcmp(img, "\x89PNG", 4)) {
		png_image pi;
		memset(&pi, 0, sizeof pi);
		pi.version = PNG_IMAGE_VERSION;
		if (!png_image_begin_read_from_memory(&pi, img, ilen))
			die("not a PNG: %s", argv[0], 0);
		pi.format = PNG_FORMAT_RGB;
		size_t n = PNG_IMAGE_SIZE(pi);
		uint8_t *rgb = malloc(n), *ref = malloc(n);
		if (!rgb || !ref || !png_image_finish_read(&pi, NULL, rgb, 0, NULL))
			die("cannot decode the PNG %s", argv[0], 0);
		if (pi.width == w && pi.height == h) {
			rkv_imgops_image(&dec, RKV_FMT_RGB24, w, h, ref, n);
			if (rkv_imgops_transform(ops, &src, &dec, NULL))
				die("cannot convert the raw frame%s", "", 0);
		}
		printf("{\"format\":\"png\",\"width\":%u,\"height\":%u,\"exact\":%s}\n", pi.width,
		       pi.height, pi.width == w && pi.height == h && !memcmp(rgb, ref, n) ? "true" : "false");
		free(rgb);
		free(ref);
	} else {
		struct rkv_image jpg;
		uint32_t jw, jh;
		rkv_imgops_image(&jpg, RKV_FMT_JPEG, 1, 1, img, ilen);
		if (rkv_imgops_jpeg_size(ops, img, ilen, &jw, &jh))
			die("not a JPEG: %s", argv[0], 0);
		jpg.frame.width = jw;
		jpg.frame.height = jh;
		uint8_t *out = malloc(rlen);
		double p = 0;
		if (jw == w && jh == h) {
			rkv_imgops_image(&dec, fcc, w, h, out, rlen);
			if (rkv_imgops_jpeg_decode(ops, &jpg, &dec))
				die("cannot decode the JPEG %s", argv[0], 0);
			p = psnr(out, raw, rlen);
		}
		printf("{\"format\":\"jpeg\",\"width\":%u,\"height\":%u,\"psnr\":%.2f}\n", jw, jh, p);
		free(out);
	}
	rkv_imgops_close(ops);
	free(img);
	free(raw);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "file"))
		return cmd_file(argv + 2);
	fprintf(stderr, "usage: imgcheck file IMAGE RAW FOURCC WxH SEQ\n");
	return 2;
}
