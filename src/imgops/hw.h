/* SPDX-License-Identifier: MIT */
/*
 * imgops/hw.h - what the hardware backends (rga.c, mpp.c) share: loading a
 * vendor library with dlopen, resolving its symbols, finding the device
 * node, and checking that an image's planes lie the way a vendor API that
 * knows only (base, row stride, row count) describes them.
 */
#ifndef RKV_IMGOPS_HW_H
#define RKV_IMGOPS_HW_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/imgops.h>

/* The hardware backends' tables (NULL-free: imgops.c lists them). */
extern const struct rkv_imgops_backend rkv__imgops_rga;
extern const struct rkv_imgops_backend rkv__imgops_mpp;

/* A vendor library and its device node, as a backend's probe needs them. */
struct rkv__hw_lib {
	const char *dev_env;      /* environment variable naming the device node */
	const char *dev;          /* else this node */
	const char *lib_env;      /* environment variable naming the library */
	const char *const *names; /* else the first of these that loads (NULL-ended) */
	const char *const *syms;  /* the symbols to resolve */
	size_t nsyms;
};

/*
 * The probe's first steps, in order: the device node opens for reading and
 * writing, the library loads (dlopen), every symbol resolves (into
 * @fns[0..nsyms)). Returns 0 with *@lib the handle (dlclose it), or -errno
 * with a sentence in @why naming the step that failed. Environment
 * variables are how tests point a backend at a stand-in.
 */
int rkv__hw_open(const struct rkv__hw_lib *d, void **lib, void **fns, char *why, size_t why_len);

/*
 * How a vendor API sees a raw image: one base address, a row stride in
 * pixels (@wstride) and in bytes (@stride), a row count per luma plane
 * (@hstride), the chroma planes right after the luma at the offsets those
 * imply (NV12, NV16: stride bytes per chroma row; I420: stride / 2).
 */
struct rkv__hw_layout {
	uint64_t base;     /* offset of plane 0 from img->data */
	uint64_t size;     /* bytes from base to the end of the last plane */
	uint32_t stride;   /* bytes per luma row */
	uint32_t wstride;  /* pixels per luma row */
	uint32_t hstride;  /* rows of the luma plane */
	uint32_t bpp;      /* bytes per pixel of plane 0 (YUYV: 2) */
};

/*
 * Fill @l for @img (checked by the dispatcher). -ENOTSUP when the planes do
 * not follow that rule, or the stride is not a whole number of pixels.
 */
int rkv__hw_layout(const struct rkv_image *img, struct rkv__hw_layout *l);

/* Whether the image can be imported by its DMA-BUF fd: it has one, and the
 * planes begin at the buffer's first byte (the vendor APIs take no offset). */
static inline int rkv__hw_by_fd(const struct rkv_image *img, const struct rkv__hw_layout *l)
{
	return img->fd >= 0 && img->fd_offset == 0 && l->base == 0;
}

#endif /* RKV_IMGOPS_HW_H */
