/* SPDX-License-Identifier: MIT */
/*
 * imgops/cpu.h - the CPU backend's parts (private): its per-context state,
 * the scratch memory between steps, and the pixel, JPEG and PNG work.
 */
#ifndef RKV_IMGOPS_CPU_H
#define RKV_IMGOPS_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "imgops/internal.h"

/* Scratch buffers, used in turn. A step holds its input and makes at most
 * three new pictures before its input is dropped, so six never reuse one
 * that is still being read. Every call starts again from the first
 * (rkv__cpu_begin), so a stream of like calls keeps using the same few
 * buffers, warm in the cache, instead of cycling through all six. */
#define RKV__CPU_SCRATCH 6

struct rkv__cpu {
	void *enc, *dec;                 /* TurboJPEG handles, made on first use */
	struct {
		uint8_t *p;
		size_t cap;
	} scratch[RKV__CPU_SCRATCH];
	unsigned next;                   /* the scratch buffer to use next */
	uint8_t *jbuf;                   /* TurboJPEG's output when dst may be too small */
	unsigned long jcap;
	/* The PNG writer's state: here rather than on the stack, so it
	 * survives libpng's longjmp with a defined value. */
	uint8_t *pout;
	uint64_t plen, pcap;
	int pfull;
};

/* Start a call: scratch pictures are handed out from the first again. */
static inline void rkv__cpu_begin(struct rkv__cpu *c)
{
	c->next = 0;
}

/* A scratch picture of @pix, @w x @h (rows padded for SIMD). */
int rkv__cpu_tmp(struct rkv__cpu *c, int pix, int w, int h, struct rkv__view *v);

/* Pixels from @s into @d (same size, any two formats). */
int rkv__cpu_convert(struct rkv__cpu *c, const struct rkv__view *s, const struct rkv__view *d);

/* @s rotated by @rotate, flipped by @flip (RKV_FLIP_*), scaled to @d's size
 * with @filter (RKV_FILTER_*) and converted to @d's format. */
int rkv__cpu_pipeline(struct rkv__cpu *c, const struct rkv__view *s, const struct rkv__view *d,
		      uint32_t rotate, uint32_t flip, uint32_t filter);

int rkv__cpu_jpeg_encode(struct rkv__cpu *c, const struct rkv_image *src, struct rkv_image *dst,
			 uint32_t quality);
int rkv__cpu_jpeg_decode(struct rkv__cpu *c, const struct rkv_image *src, struct rkv_image *dst,
			 uint32_t *why);
int rkv__cpu_jpeg_size(void *cpu, const void *data, size_t len, uint32_t *width,
		       uint32_t *height);
void rkv__cpu_jpeg_free(struct rkv__cpu *c);
int rkv__cpu_png_encode(struct rkv__cpu *c, const struct rkv_image *src, struct rkv_image *dst,
			uint32_t level);

#endif /* RKV_IMGOPS_CPU_H */
