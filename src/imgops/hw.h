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

/*
 * The device node at the path in environment variable @env (tests point it
 * elsewhere), else @dflt: 0 when it can be opened for reading and writing,
 * else -errno with a sentence in @why.
 */
int rkv__hw_device(const char *env, const char *dflt, char *why, size_t why_len);

/*
 * dlopen the library named by environment variable @env, else the first of
 * @names (NULL-terminated) that loads. Returns the handle, or NULL with a
 * sentence in @why. The name that loaded is copied to @name.
 */
void *rkv__hw_load(const char *env, const char *const *names, char *name, size_t name_len,
		   char *why, size_t why_len);

/*
 * Resolve @n symbols @syms[i] of @lib into @out[i]. 0, or -ENOENT with the
 * first missing one named in @why.
 */
int rkv__hw_resolve(void *lib, const char *libname, const char *const *syms, void **out, size_t n,
		    char *why, size_t why_len);

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
