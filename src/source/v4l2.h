/* SPDX-License-Identifier: MIT */
/*
 * source/v4l2.h - what the V4L2 backend shows its tests (private).
 */
#ifndef RKV_SOURCE_V4L2_H
#define RKV_SOURCE_V4L2_H

#include <stdint.h>

/* Is the @n bytes at @p one whole JPEG image: SOI (FF D8) at the start and
 * EOI (FF D9) at the end, after any zero bytes a camera padded it with?
 * 1 or 0. A frame that fails this was cut short (USB packets lost). */
int rkv__v4l2_jpeg_complete(const uint8_t *p, uint64_t n);

/* Tests only: when nonzero, a multi-planar device is asked for the
 * formats with one memory buffer per plane (NV12M, NV16M, YUV420M) even
 * where it offers the single-buffer ones, so the tests reach that path on
 * vivid, which offers both. */
extern int rkv__v4l2_prefer_multibuffer;

#endif /* RKV_SOURCE_V4L2_H */
