/* SPDX-License-Identifier: MIT */
/*
 * imgops/mpp.c - the mpp backend: JPEG encoding on Rockchip's video
 * encoder, through MPP (librockchip_mpp) loaded with dlopen.
 *
 * A context keeps one MPP encoder (MPP_CTX_ENC, MJPEG) from its probe to
 * its close, and configures it for each image (size, strides, format,
 * quality), which a JPEG encoder takes between frames. The image goes in by
 * its DMA-BUF fd when it has one whose first byte is the image's (imported
 * with mpp_buffer_import: the encoder reads the camera's buffer), else it
 * is copied into an MPP buffer of the context's, kept between calls.
 *
 * Refused with a reason, so the CPU encodes:
 *   format  anything but NV12, I420 (4:2:0) and NV16, YUYV (4:2:2): the
 *           hardware also takes 32-bit RGB, but TurboJPEG's RGB encoding
 *           converts with other equations, so results would differ in
 *           colour between the backends; and no decoding or PNG at all;
 *   params  quality 100 (MPP's q_factor goes to 99);
 *   size    a side under 16 or over 8192 pixels;
 *   align   a luma stride that is not a multiple of 8 pixels (16 for
 *           I420), the encoder's input rule (MPP's own test tools pad so);
 *           planes that one base, stride and row count do not describe;
 *   memory  a buffer MPP will not import or allocate.
 * A frame the encoder takes and fails is -EIO.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgops/hw.h"
#include "imgops/mpp_abi.h"

#define MPP_MIN_DIM 16u
#define MPP_MAX_DIM 8192u
#define MPP_TAG     "rkv"
/* How long encode_get_packet waits for the JPEG: a 8192x8192 frame takes
 * the hardware well under a second, so this is only ever a hung device,
 * which becomes -EIO instead of a camera worker blocked for good. */
#define MPP_PACKET_TIMEOUT_MS 2000

struct mpp_fns {
	rkv_mpp_create_fn create;
	rkv_mpp_init_fn init;
	rkv_mpp_destroy_fn destroy;
	rkv_mpp_cfg_init_fn cfg_init;
	rkv_mpp_cfg_deinit_fn cfg_deinit;
	rkv_mpp_cfg_set_s32_fn cfg_set;
	rkv_mpp_frame_init_fn frame_init;
	rkv_mpp_frame_deinit_fn frame_deinit;
	rkv_mpp_frame_set_u32_fn set_width;
	rkv_mpp_frame_set_u32_fn set_height;
	rkv_mpp_frame_set_u32_fn set_hor_stride;
	rkv_mpp_frame_set_u32_fn set_ver_stride;
	rkv_mpp_frame_set_fmt_fn set_fmt;
	rkv_mpp_frame_set_buffer_fn set_buffer;
	rkv_mpp_packet_get_pos_fn packet_pos;
	rkv_mpp_packet_get_length_fn packet_length;
	rkv_mpp_packet_deinit_fn packet_deinit;
	rkv_mpp_buffer_import_fn buffer_import;
	rkv_mpp_buffer_get_fn buffer_get;
	rkv_mpp_buffer_put_fn buffer_put;
	rkv_mpp_buffer_get_ptr_fn buffer_ptr;
	rkv_mpp_group_get_fn group_get;
	rkv_mpp_group_put_fn group_put;
};

struct mpp {
	void *lib;
	struct mpp_fns f;
	rkv_mpp_ctx ctx;
	struct rkv_mpp_api *api;
	rkv_mpp_cfg cfg;
	rkv_mpp_group group;    /* for the staging buffer, made on first use */
	rkv_mpp_buffer staging; /* where images without a DMA-BUF are copied */
	size_t staging_size;
};

/* The MPP format of @fourcc and the luma stride alignment (pixels) it
 * needs, or -1. */
static int mpp_format(uint32_t fourcc, uint32_t *align)
{
	switch (fourcc) {
	case RKV_FMT_NV12: *align = 8; return RKV_MPP_FMT_YUV420SP;
	case RKV_FMT_NV16: *align = 8; return RKV_MPP_FMT_YUV422SP;
	case RKV_FMT_I420: *align = 16; return RKV_MPP_FMT_YUV420P;
	case RKV_FMT_YUYV: *align = 8; return RKV_MPP_FMT_YUV422_YUYV;
	default: return -1;
	}
}

/* The buffer the encoder reads @img from: its DMA-BUF imported (*@put: the
 * caller puts it back), or the staging buffer with the image copied in. */
static int mpp_input(struct mpp *m, const struct rkv_image *img, const struct rkv__hw_layout *l,
		     rkv_mpp_buffer *buf, int *put)
{
	void *p;

	*buf = NULL;
	*put = 0;
	if (rkv__hw_by_fd(img, l)) {
		struct rkv_mpp_buffer_info info = {
			.type = RKV_MPP_BUFFER_TYPE_EXT_DMA, .size = l->size, .fd = img->fd,
		};

		if (m->f.buffer_import(NULL, &info, buf, MPP_TAG, __func__) != RKV_MPP_OK || !*buf)
			return -ENOTSUP;
		*put = 1;
		return 0;
	}
	if (!m->group && m->f.group_get(&m->group, RKV_MPP_BUFFER_TYPE_DRM,
					RKV_MPP_BUFFER_INTERNAL, MPP_TAG, __func__) != RKV_MPP_OK) {
		m->group = NULL;
		return -ENOTSUP;
	}
	if (m->staging_size < l->size) {
		if (m->staging)
			m->f.buffer_put(m->staging, __func__);
		m->staging = NULL;
		m->staging_size = 0;
		if (m->f.buffer_get(m->group, &m->staging, l->size, MPP_TAG, __func__) != RKV_MPP_OK ||
		    !m->staging) {
			m->staging = NULL;
			return -ENOTSUP;
		}
		m->staging_size = l->size;
	}
	p = m->f.buffer_ptr(m->staging, __func__);
	if (!p)
		return -ENOTSUP;
	memcpy(p, (const uint8_t *)img->data + l->base, l->size);
	*buf = m->staging;
	return 0;
}

/* Configure the encoder for @img in @fmt at @quality. */
static int mpp_configure(struct mpp *m, const struct rkv_image *img,
			 const struct rkv__hw_layout *l, int fmt, uint32_t quality)
{
	const struct {
		const char *key;
		int32_t val;
	} set[] = {
		{ "prep:width", (int32_t)img->frame.width },
		{ "prep:height", (int32_t)img->frame.height },
		{ "prep:hor_stride", (int32_t)l->stride },
		{ "prep:ver_stride", (int32_t)l->hstride },
		{ "prep:format", fmt },
		{ "rc:mode", RKV_MPP_RC_MODE_FIXQP },
		{ "codec:type", RKV_MPP_CODING_MJPEG },
		{ "jpeg:q_factor", (int32_t)quality },
		{ "jpeg:qf_max", (int32_t)quality },
		{ "jpeg:qf_min", (int32_t)quality },
	};

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		if (m->f.cfg_set(m->cfg, set[i].key, set[i].val) != RKV_MPP_OK)
			return -ENOTSUP;
	return m->api->control(m->ctx, RKV_MPP_ENC_SET_CFG, m->cfg) == RKV_MPP_OK ? 0 : -ENOTSUP;
}

/* Encode @src into @dst's bytes: 0, -ENOTSUP with *@why, -ENOSPC, -EIO,
 * -ENOMEM. */
static int mpp_encode(struct mpp *m, const struct rkv_image *src, struct rkv_image *dst,
		      uint32_t quality, uint32_t *why)
{
	struct rkv__hw_layout l;
	rkv_mpp_buffer buf;
	rkv_mpp_frame frame = NULL;
	rkv_mpp_packet pkt = NULL;
	uint32_t align, w = src->frame.width, h = src->frame.height;
	int fmt = mpp_format(src->frame.fourcc, &align), put, r;

	if (fmt < 0) {
		*why = RKV_IMGOPS_WHY_FORMAT;
		return -ENOTSUP;
	}
	if (quality > 99) {
		*why = RKV_IMGOPS_WHY_PARAMS;
		return -ENOTSUP;
	}
	if (w < MPP_MIN_DIM || h < MPP_MIN_DIM || w > MPP_MAX_DIM || h > MPP_MAX_DIM) {
		*why = RKV_IMGOPS_WHY_SIZE;
		return -ENOTSUP;
	}
	if (rkv__hw_layout(src, &l) < 0 || l.wstride % align || l.stride > INT32_MAX ||
	    l.hstride > INT32_MAX) {
		*why = RKV_IMGOPS_WHY_ALIGN;
		return -ENOTSUP;
	}
	if (mpp_configure(m, src, &l, fmt, quality) < 0) {
		*why = RKV_IMGOPS_WHY_OTHER;
		return -ENOTSUP;
	}
	if (mpp_input(m, src, &l, &buf, &put) < 0) {
		*why = RKV_IMGOPS_WHY_MEMORY;
		return -ENOTSUP;
	}
	if (m->f.frame_init(&frame) != RKV_MPP_OK || !frame) {
		r = -ENOMEM;
		goto out;
	}
	m->f.set_width(frame, w);
	m->f.set_height(frame, h);
	m->f.set_hor_stride(frame, l.stride);
	m->f.set_ver_stride(frame, l.hstride);
	m->f.set_fmt(frame, fmt);
	m->f.set_buffer(frame, buf);
	if (m->api->encode_put_frame(m->ctx, frame) != RKV_MPP_OK ||
	    m->api->encode_get_packet(m->ctx, &pkt) != RKV_MPP_OK || !pkt) {
		r = -EIO;
		goto out;
	}
	{
		const void *pos = m->f.packet_pos(pkt);
		size_t len = m->f.packet_length(pkt);

		if (!pos || len < 4) {
			r = -EIO;
			goto out;
		}
		if (len > dst->capacity) {
			r = -ENOSPC;
			goto out;
		}
		memcpy(dst->data, pos, len);
		memset(&dst->frame, 0, sizeof(dst->frame));
		dst->frame.fourcc = RKV_FMT_JPEG;
		dst->frame.width = w;
		dst->frame.height = h;
		dst->frame.bytes_used = len;
		dst->frame.flags = RKV_FRAME_KEYFRAME;
	}
	r = 0;
out:
	if (pkt)
		m->f.packet_deinit(&pkt);
	if (frame)
		m->f.frame_deinit(&frame);
	if (put)
		m->f.buffer_put(buf, __func__);
	return r;
}

static int mpp_jpeg_encode(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			   const struct rkv_jpeg_params *p, uint32_t *why)
{
	return mpp_encode(priv, src, dst, p->quality, why);
}

/* ---- the probe ----------------------------------------------------------- */

static void mpp_close(void *priv)
{
	struct mpp *m = priv;

	if (!m)
		return;
	if (m->staging)
		m->f.buffer_put(m->staging, __func__);
	if (m->group)
		m->f.group_put(m->group);
	if (m->cfg)
		m->f.cfg_deinit(m->cfg);
	if (m->ctx)
		m->f.destroy(m->ctx);
	if (m->lib)
		dlclose(m->lib);
	free(m);
}

/* One tiny encode: a 64x64 mid-grey NV12 picture must come out as a JPEG
 * (start and end markers, a plausible length). */
static int mpp_probe_job(struct mpp *m, char *why, size_t why_len)
{
	uint8_t pic[64 * 64 * 3 / 2], out[16384];
	struct rkv_image src, dst;
	uint32_t w = 0;
	int r;

	memset(pic, 128, sizeof(pic));
	rkv_imgops_image(&src, RKV_FMT_NV12, 64, 64, pic, sizeof(pic));
	rkv_imgops_image(&dst, RKV_FMT_JPEG, 0, 0, out, sizeof(out));
	r = mpp_encode(m, &src, &dst, 80, &w);
	if (r == -ENOTSUP) {
		snprintf(why, why_len, "test encode: %s",
			 w == RKV_IMGOPS_WHY_MEMORY ? "no MPP buffer for the picture"
						    : "the encoder refused its configuration");
		return -EIO;
	}
	if (r < 0) {
		snprintf(why, why_len, "test encode: %s",
			 r == -EIO ? "the encoder failed the frame" : strerror(-r));
		return r;
	}
	if (dst.frame.bytes_used < 64 || out[0] != 0xff || out[1] != 0xd8 ||
	    out[dst.frame.bytes_used - 2] != 0xff || out[dst.frame.bytes_used - 1] != 0xd9) {
		snprintf(why, why_len, "test encode: the result is not a JPEG");
		return -EIO;
	}
	return 0;
}

static int mpp_open(void **priv, char *why, size_t why_len)
{
	static const char *const names[] = { "librockchip_mpp.so.1", "librockchip_mpp.so", NULL };
	static const char *const syms[] = { RKV_MPP_SYMBOLS };
	static const struct rkv__hw_lib lib = {
		"RKV_MPP_DEV", "/dev/mpp_service", "RKV_MPP_LIB", names, syms,
		sizeof(syms) / sizeof(syms[0]),
	};
	struct mpp *m;
	int r;

	_Static_assert(sizeof(struct mpp_fns) == sizeof(syms) / sizeof(syms[0]) * sizeof(void *),
		       "one pointer per symbol");
	*priv = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	if ((r = rkv__hw_open(&lib, &m->lib, (void **)&m->f, why, why_len)) < 0)
		goto fail;
	r = -ENODEV;
	if (m->f.create(&m->ctx, &m->api) != RKV_MPP_OK || !m->ctx || !m->api) {
		m->ctx = NULL;
		snprintf(why, why_len, "mpp_create failed");
		goto fail;
	}
	/* The table may be an older, shorter one: it must reach control(). */
	if (m->api->size < offsetof(struct rkv_mpp_api, reserv) || !m->api->encode_put_frame ||
	    !m->api->encode_get_packet || !m->api->control) {
		snprintf(why, why_len, "MppApi table too short (%u bytes)", m->api->size);
		goto fail;
	}
	{
		int64_t timeout = MPP_PACKET_TIMEOUT_MS;

		if (m->api->control(m->ctx, RKV_MPP_SET_OUTPUT_TIMEOUT, &timeout) != RKV_MPP_OK) {
			snprintf(why, why_len, "control(MPP_SET_OUTPUT_TIMEOUT) failed");
			goto fail;
		}
	}
	if (m->f.init(m->ctx, RKV_MPP_CTX_ENC, RKV_MPP_CODING_MJPEG) != RKV_MPP_OK) {
		snprintf(why, why_len, "mpp_init(encoder, MJPEG) failed");
		goto fail;
	}
	if (m->f.cfg_init(&m->cfg) != RKV_MPP_OK || !m->cfg) {
		m->cfg = NULL;
		snprintf(why, why_len, "mpp_enc_cfg_init failed");
		goto fail;
	}
	if ((r = mpp_probe_job(m, why, why_len)) < 0)
		goto fail;
	*priv = m;
	return 0;
fail:
	mpp_close(m);
	return r;
}

const struct rkv_imgops_backend rkv__imgops_mpp = {
	.size = sizeof(struct rkv_imgops_backend),
	.name = "mpp",
	.open = mpp_open,
	.close = mpp_close,
	.jpeg_encode = mpp_jpeg_encode,
};
