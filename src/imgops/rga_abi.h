/* SPDX-License-Identifier: MIT */
/*
 * imgops/rga_abi.h - the subset of librga's "im2d" C ABI that the rga
 * backend calls, declared by this project (librga is not in Debian and its
 * headers are not copied here).
 *
 * Written from librga 1.10.3 (airockchip/librga, include/im2d_type.h,
 * im2d_buffer.h, im2d_single.h, im2d_common.h, im2d_version.h
 * "1.10.3_[1]", January 2025) and its developer guide
 * (docs/Rockchip_Developer_Guide_RGA_EN.md). These layouts and values have
 * not changed since the 1.9 series introduced handles; tests pin the sizes
 * and offsets below. The C entry points are the "_t" ones (the unsuffixed
 * names are C macros or C++ overloads); success is IM_STATUS_SUCCESS (1) for
 * a job and IM_STATUS_NOERROR (2) for imcheck, and IM_STATUS_FAILED is 0.
 *
 * Checked against that release's aarch64 binary (libs/Linux/gcc-aarch64/
 * librga.so in the same repository) with nm and objdump: the eight symbols
 * below are exported under these C names; wrapbuffer_handle_t takes
 * (handle, width, height, wstride, hstride, format) and fills a 96-byte
 * result (vir_addr 0, phy_addr 8, fd 16, width..hstride 20..35, format 36,
 * global_alpha 0xff at 44, rd_mode 1, raster, at 48, zero up to 96); an
 * import reads 12 bytes of its im_handle_param_t.
 *
 * The test suite's stand-in library (tests/standin/rga.c) implements the
 * same declarations.
 */
#ifndef RKV_IMGOPS_RGA_ABI_H
#define RKV_IMGOPS_RGA_ABI_H

#include <stdint.h>

typedef uint32_t rkv_rga_handle; /* rga_buffer_handle_t; 0 = failure */

/* im_rect */
struct rkv_rga_rect {
	int x, y, width, height;
};

/* rga_buffer_t: 96 bytes on LP64 */
struct rkv_rga_buffer {
	void *vir_addr;
	void *phy_addr;
	int fd;
	int width, height;
	int wstride, hstride; /* in pixels and rows */
	int format;           /* RKV_RGA_FMT_* */
	int color_space_mode;
	int global_alpha;     /* a union with two uint16_t alpha bits in librga */
	int rd_mode;
	int color;
	struct {
		int max, min;
	} colorkey_range;     /* im_colorkey_range */
	struct {
		int scale_r, scale_g, scale_b, offset_r, offset_g, offset_b;
	} nn;                 /* im_nn_t */
	int rop_code;
	rkv_rga_handle handle;
};

/* im_handle_param_t: what an import describes (a stride-wide, hstride-tall
 * picture of format, from which librga computes the buffer's size) */
struct rkv_rga_handle_param {
	uint32_t width, height, format;
};

/* RgaSURF_FORMAT (rga.h); names say bytes in memory */
#define RKV_RGA_FMT_RGBA_8888    (0x0 << 8)
#define RKV_RGA_FMT_RGB_888      (0x2 << 8)
#define RKV_RGA_FMT_BGR_888      (0x7 << 8)
#define RKV_RGA_FMT_YCbCr_422_SP (0x8 << 8)
#define RKV_RGA_FMT_YCbCr_420_SP (0xa << 8)
#define RKV_RGA_FMT_YCbCr_420_P  (0xb << 8)
#define RKV_RGA_FMT_YUYV_422     (0x1c << 8)

/* IM_USAGE */
#define RKV_RGA_ROT_90     (1 << 0)
#define RKV_RGA_ROT_180    (1 << 1)
#define RKV_RGA_ROT_270    (1 << 2)
#define RKV_RGA_FLIP_H     (1 << 3)
#define RKV_RGA_FLIP_V     (1 << 4)
#define RKV_RGA_FLIP_H_V   (1 << 5)
#define RKV_RGA_SYNC       (1 << 19)

/* IM_STATUS */
#define RKV_RGA_STATUS_NOERROR       2
#define RKV_RGA_STATUS_SUCCESS       1
#define RKV_RGA_STATUS_NOT_SUPPORTED (-1)
#define RKV_RGA_STATUS_FAILED        0

/* IM_INFORMATION: querystring(RGA_VERSION) names the cores, e.g.
 * "RGA_3" and "RGA_2_Enhance" on an RK3588 */
#define RKV_RGA_INFO_VERSION 1

/* The functions, as the backend resolves them. */
typedef rkv_rga_handle (*rkv_rga_importbuffer_fd_fn)(int fd, struct rkv_rga_handle_param *param);
typedef rkv_rga_handle (*rkv_rga_importbuffer_va_fn)(void *va,
						       struct rkv_rga_handle_param *param);
typedef int (*rkv_rga_releasebuffer_handle_fn)(rkv_rga_handle handle);
typedef struct rkv_rga_buffer (*rkv_rga_wrapbuffer_handle_fn)(rkv_rga_handle handle, int width,
							     int height, int wstride, int hstride,
							     int format);
typedef int (*rkv_rga_imcheck_fn)(const struct rkv_rga_buffer src, const struct rkv_rga_buffer dst,
				  const struct rkv_rga_buffer pat, const struct rkv_rga_rect srect,
				  const struct rkv_rga_rect drect, const struct rkv_rga_rect prect,
				  const int usage);
typedef int (*rkv_rga_improcess_fn)(struct rkv_rga_buffer src, struct rkv_rga_buffer dst,
				    struct rkv_rga_buffer pat, struct rkv_rga_rect srect,
				    struct rkv_rga_rect drect, struct rkv_rga_rect prect, int usage);
typedef const char *(*rkv_rga_querystring_fn)(int name);
typedef const char *(*rkv_rga_strerror_fn)(int status);

/* Their exported names, in the order of struct rkv__rga_api (rga.c). */
#define RKV_RGA_SYMBOLS                                                               \
	"importbuffer_fd", "importbuffer_virtualaddr", "releasebuffer_handle",          \
		"wrapbuffer_handle_t", "imcheck_t", "improcess", "querystring", "imStrError_t"

#endif /* RKV_IMGOPS_RGA_ABI_H */
