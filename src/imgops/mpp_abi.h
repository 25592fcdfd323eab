/* SPDX-License-Identifier: MIT */
/*
 * imgops/mpp_abi.h - the subset of Rockchip MPP's C ABI (librockchip_mpp)
 * that the mpp backend calls, declared by this project (MPP is not in
 * Debian and its headers are not copied here).
 *
 * Written from MPP 1.0.4 (rockchip-linux/mpp, branch develop, inc/rk_mpi.h,
 * rk_mpi_cmd.h, rk_type.h, mpp_frame.h, mpp_packet.h, mpp_buffer.h,
 * rk_venc_cfg.h, rk_venc_rc.h; CHANGELOG "1.0.4 (2024-02-07)"). MppApi's
 * layout and these values have been stable through the 1.0 series (its
 * size field says how much of the table a library fills). Several
 * functions the vendor's headers offer are macros over "_with_tag" or
 * "_with_caller" symbols: those are the names resolved here. Every call
 * returns MPP_RET, 0 (MPP_OK) on success and negative on failure.
 *
 * Checked against that release: each symbol below is defined with C
 * linkage in its sources (mpp/base, mpp/mpi.cpp; the headers wrap them in
 * extern "C"), and a throwaway program compiled outside this tree against
 * its headers printed the values and LP64 layouts written here (MppApi 184
 * bytes, encode_put_frame at 40, control at 112; MppBufferInfo 40 bytes,
 * fd at 32; the commands, formats, buffer types and RC mode).
 *
 * The test suite's stand-in library (tests/standin/mpp.c) implements the
 * same declarations.
 */
#ifndef RKV_IMGOPS_MPP_ABI_H
#define RKV_IMGOPS_MPP_ABI_H

#include <stddef.h>
#include <stdint.h>

typedef void *rkv_mpp_ctx;    /* MppCtx */
typedef void *rkv_mpp_frame;  /* MppFrame */
typedef void *rkv_mpp_packet; /* MppPacket */
typedef void *rkv_mpp_buffer; /* MppBuffer */
typedef void *rkv_mpp_group;  /* MppBufferGroup */
typedef void *rkv_mpp_cfg;    /* MppEncCfg */

#define RKV_MPP_OK 0

/* MppCtxType, MppCodingType */
#define RKV_MPP_CTX_ENC      1
#define RKV_MPP_CODING_MJPEG 8

/* MpiCmd: CMD_MODULE_CODEC | CMD_CTX_ID_ENC, then the first command */
#define RKV_MPP_ENC_SET_CFG 0x00320001
/* MpiCmd: CMD_MODULE_MPP, then the seventh (param: int64_t milliseconds;
 * 0 = do not wait, negative = wait forever) */
#define RKV_MPP_SET_OUTPUT_TIMEOUT 0x00200007

/* MppFrameFormat (YUV: MPP_FRAME_FMT_YUV = 0 plus these) */
#define RKV_MPP_FMT_YUV420SP    0 /* NV12 */
#define RKV_MPP_FMT_YUV422SP    2 /* NV16 */
#define RKV_MPP_FMT_YUV420P     4 /* I420 */
#define RKV_MPP_FMT_YUV422_YUYV 8

/* MppBufferType, MppBufferMode */
#define RKV_MPP_BUFFER_TYPE_EXT_DMA 2 /* a DMA-BUF fd from the application */
#define RKV_MPP_BUFFER_TYPE_DRM     3
#define RKV_MPP_BUFFER_INTERNAL     0

/* MppEncRcMode */
#define RKV_MPP_RC_MODE_FIXQP 2

/* MppBufferInfo: 40 bytes on LP64 */
struct rkv_mpp_buffer_info {
	int type;     /* RKV_MPP_BUFFER_TYPE_* */
	size_t size;
	void *ptr;
	void *hnd;
	int fd;
	int index;
};

/* MppApi: the table mpp_create() hands out */
struct rkv_mpp_api {
	uint32_t size;
	uint32_t version;
	void *decode;
	void *decode_put_packet;
	void *decode_get_frame;
	void *encode;
	int (*encode_put_frame)(rkv_mpp_ctx ctx, rkv_mpp_frame frame);
	int (*encode_get_packet)(rkv_mpp_ctx ctx, rkv_mpp_packet *packet);
	void *isp;
	void *isp_put_frame;
	void *isp_get_frame;
	void *poll;
	void *dequeue;
	void *enqueue;
	void *reset;
	int (*control)(rkv_mpp_ctx ctx, int cmd, void *param);
	uint32_t reserv[16];
};

/* The functions, as the backend resolves them. */
typedef int (*rkv_mpp_create_fn)(rkv_mpp_ctx *ctx, struct rkv_mpp_api **api);
typedef int (*rkv_mpp_init_fn)(rkv_mpp_ctx ctx, int type, int coding);
typedef int (*rkv_mpp_destroy_fn)(rkv_mpp_ctx ctx);
typedef int (*rkv_mpp_cfg_init_fn)(rkv_mpp_cfg *cfg);
typedef int (*rkv_mpp_cfg_deinit_fn)(rkv_mpp_cfg cfg);
typedef int (*rkv_mpp_cfg_set_s32_fn)(rkv_mpp_cfg cfg, const char *name, int32_t val);
typedef int (*rkv_mpp_frame_init_fn)(rkv_mpp_frame *frame);
typedef int (*rkv_mpp_frame_deinit_fn)(rkv_mpp_frame *frame);
typedef void (*rkv_mpp_frame_set_u32_fn)(rkv_mpp_frame frame, uint32_t v);
typedef void (*rkv_mpp_frame_set_fmt_fn)(rkv_mpp_frame frame, int fmt);
typedef void (*rkv_mpp_frame_set_buffer_fn)(rkv_mpp_frame frame, rkv_mpp_buffer buffer);
typedef void *(*rkv_mpp_packet_get_pos_fn)(const rkv_mpp_packet packet);
typedef size_t (*rkv_mpp_packet_get_length_fn)(const rkv_mpp_packet packet);
typedef int (*rkv_mpp_packet_deinit_fn)(rkv_mpp_packet *packet);
typedef int (*rkv_mpp_buffer_import_fn)(rkv_mpp_group group, struct rkv_mpp_buffer_info *info,
					rkv_mpp_buffer *buffer, const char *tag,
					const char *caller);
typedef int (*rkv_mpp_buffer_get_fn)(rkv_mpp_group group, rkv_mpp_buffer *buffer, size_t size,
				     const char *tag, const char *caller);
typedef int (*rkv_mpp_buffer_put_fn)(rkv_mpp_buffer buffer, const char *caller);
typedef void *(*rkv_mpp_buffer_get_ptr_fn)(rkv_mpp_buffer buffer, const char *caller);
typedef int (*rkv_mpp_group_get_fn)(rkv_mpp_group *group, int type, int mode, const char *tag,
				    const char *caller);
typedef int (*rkv_mpp_group_put_fn)(rkv_mpp_group group);

/* Their exported names, in the order of struct mpp_fns (mpp.c). */
#define RKV_MPP_SYMBOLS                                                                      \
	"mpp_create", "mpp_init", "mpp_destroy", "mpp_enc_cfg_init", "mpp_enc_cfg_deinit",     \
		"mpp_enc_cfg_set_s32", "mpp_frame_init", "mpp_frame_deinit",                   \
		"mpp_frame_set_width", "mpp_frame_set_height", "mpp_frame_set_hor_stride",     \
		"mpp_frame_set_ver_stride", "mpp_frame_set_fmt", "mpp_frame_set_buffer",       \
		"mpp_packet_get_pos", "mpp_packet_get_length", "mpp_packet_deinit",            \
		"mpp_buffer_import_with_tag", "mpp_buffer_get_with_tag",                       \
		"mpp_buffer_put_with_caller", "mpp_buffer_get_ptr_with_caller",                \
		"mpp_buffer_group_get", "mpp_buffer_group_put"

#endif /* RKV_IMGOPS_MPP_ABI_H */
