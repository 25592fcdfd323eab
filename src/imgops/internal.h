/* SPDX-License-Identifier: MIT */
/*
 * imgops/internal.h - what the dispatcher and the CPU backend share.
 */
#ifndef RKV_IMGOPS_INTERNAL_H
#define RKV_IMGOPS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/imgops.h>

/* The CPU backend, always the last of a chain. */
extern const struct rkv_imgops_backend rkv__imgops_cpu;

/*
 * The pixel formats the CPU backend works in: the seven public ones and
 * two of libyuv's own that it uses between steps. Names say the order of
 * bytes in memory (libyuv names the little-endian word: its "RAW" is our
 * RGB24, its "RGB24" our BGR24, its "ABGR" our RGBA and its "ARGB" is B, G,
 * R, A in memory, here BGRA).
 */
enum rkv__pix {
	RKV__PIX_NV12,
	RKV__PIX_NV16,
	RKV__PIX_I420,
	RKV__PIX_YUYV,
	RKV__PIX_RGB24,
	RKV__PIX_BGR24,
	RKV__PIX_RGBA,
	RKV__PIX_I422, /* internal: Y, Cb, Cr planes, 4:2:2 */
	RKV__PIX_BGRA, /* internal: libyuv's ARGB */
	RKV__PIX_COUNT
};

/* Where a picture's planes are, as libyuv takes them (int strides). */
struct rkv__view {
	int pix;          /* enum rkv__pix */
	int w, h;
	uint8_t *p[3];
	int s[3];
};

/* The public fourcc's enum rkv__pix, or -1. */
int rkv__imgops_pix(uint32_t fourcc);

/* A checked raw image as a view (the dispatcher has validated it). */
void rkv__imgops_view(const struct rkv_image *img, struct rkv__view *v);

#endif /* RKV_IMGOPS_INTERNAL_H */
