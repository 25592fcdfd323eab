/* SPDX-License-Identifier: MIT */
/*
 * standin/mpp.c - a stand-in for librockchip_mpp: the symbols the mpp
 * backend calls, with MPP 1.0's ABI (src/imgops/mpp_abi.h), encoding JPEG
 * on the CPU.
 *
 * It behaves as MPP does where the backend can tell: an MppApi table from
 * mpp_create, an encoder only after mpp_init(MPP_CTX_ENC, MJPEG), the
 * configuration by names through an MppEncCfg applied with
 * control(MPP_ENC_SET_CFG) (an unknown name is an error), frames checked
 * against it, a packet per frame. A buffer imported by fd is mmapped from
 * that fd and the encoder reads the picture through that mapping, and the
 * record (standin.h) says how each buffer came.
 *
 * The JPEG is TurboJPEG's from the picture's planes at the configured
 * q_factor, in the picture's own chroma sampling, with the same libyuv
 * deinterleaving as the CPU backend: the same bytes as its encoder.
 *
 * Built twice: libmpp-standin.so, and with STANDIN_NO_PACKET_POS
 * libmpp-standin-nopos.so, which lacks mpp_packet_get_pos.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <libyuv.h>
#include <turbojpeg.h>

#include "imgops/mpp_abi.h"
#include "common.h"

#define MPP_NOK (-1)

struct sbuf {
	uint8_t *ptr;
	size_t size;
	int by_fd;
};

struct sframe {
	uint32_t w, h, hs, vs;
	int fmt;
	struct sbuf *buf;
};

struct spacket {
	uint8_t *data;
	size_t len;
};

/* The configuration, by the names the backend sets. */
static const char *const keys[] = {
	"prep:width", "prep:height", "prep:hor_stride", "prep:ver_stride", "prep:format",
	"rc:mode", "codec:type", "jpeg:q_factor", "jpeg:qf_max", "jpeg:qf_min",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
enum { K_W, K_H, K_HS, K_VS, K_FMT, K_RC, K_CODEC, K_Q, K_QMAX, K_QMIN };

struct scfg {
	int32_t v[NKEYS];
};

struct sctx {
	int inited;
	int64_t timeout; /* MPP_SET_OUTPUT_TIMEOUT's; -1 (block) until set */
	int configured;
	struct scfg cfg;
	struct spacket *pending;
};

/* ---- the exports, each checked against the type the backend calls ------- */

EXPORT int mpp_create(rkv_mpp_ctx *ctx, struct rkv_mpp_api **api);
EXPORT int mpp_init(rkv_mpp_ctx ctx, int type, int coding);
EXPORT int mpp_destroy(rkv_mpp_ctx ctx);
EXPORT int mpp_enc_cfg_init(rkv_mpp_cfg *cfg);
EXPORT int mpp_enc_cfg_deinit(rkv_mpp_cfg cfg);
EXPORT int mpp_enc_cfg_set_s32(rkv_mpp_cfg cfg, const char *name, int32_t val);
EXPORT int mpp_frame_init(rkv_mpp_frame *frame);
EXPORT int mpp_frame_deinit(rkv_mpp_frame *frame);
EXPORT void mpp_frame_set_width(rkv_mpp_frame frame, uint32_t v);
EXPORT void mpp_frame_set_height(rkv_mpp_frame frame, uint32_t v);
EXPORT void mpp_frame_set_hor_stride(rkv_mpp_frame frame, uint32_t v);
EXPORT void mpp_frame_set_ver_stride(rkv_mpp_frame frame, uint32_t v);
EXPORT void mpp_frame_set_fmt(rkv_mpp_frame frame, int fmt);
EXPORT void mpp_frame_set_buffer(rkv_mpp_frame frame, rkv_mpp_buffer buffer);
EXPORT void *mpp_packet_get_pos(const rkv_mpp_packet packet);
EXPORT size_t mpp_packet_get_length(const rkv_mpp_packet packet);
EXPORT int mpp_packet_deinit(rkv_mpp_packet *packet);
EXPORT int mpp_buffer_import_with_tag(rkv_mpp_group group, struct rkv_mpp_buffer_info *info,
				      rkv_mpp_buffer *buffer, const char *tag, const char *caller);
EXPORT int mpp_buffer_get_with_tag(rkv_mpp_group group, rkv_mpp_buffer *buffer, size_t size,
				   const char *tag, const char *caller);
EXPORT int mpp_buffer_put_with_caller(rkv_mpp_buffer buffer, const char *caller);
EXPORT void *mpp_buffer_get_ptr_with_caller(rkv_mpp_buffer buffer, const char *caller);
EXPORT int mpp_buffer_group_get(rkv_mpp_group *group, int type, int mode, const char *tag,
				const char *caller);
EXPORT int mpp_buffer_group_put(rkv_mpp_group group);

static const struct {
	rkv_mpp_create_fn a;
	rkv_mpp_init_fn b;
	rkv_mpp_destroy_fn c;
	rkv_mpp_cfg_init_fn d;
	rkv_mpp_cfg_deinit_fn e;
	rkv_mpp_cfg_set_s32_fn f;
	rkv_mpp_frame_init_fn g;
	rkv_mpp_frame_deinit_fn h;
	rkv_mpp_frame_set_u32_fn i;
	rkv_mpp_frame_set_fmt_fn j;
	rkv_mpp_frame_set_buffer_fn k;
	rkv_mpp_packet_get_length_fn m;
	rkv_mpp_packet_deinit_fn n;
	rkv_mpp_buffer_import_fn o;
	rkv_mpp_buffer_get_fn p;
	rkv_mpp_buffer_put_fn q;
	rkv_mpp_buffer_get_ptr_fn r;
	rkv_mpp_group_get_fn s;
	rkv_mpp_group_put_fn t;
} abi_check __attribute__((unused)) = {
	mpp_create, mpp_init, mpp_destroy, mpp_enc_cfg_init, mpp_enc_cfg_deinit,
	mpp_enc_cfg_set_s32, mpp_frame_init, mpp_frame_deinit, mpp_frame_set_width,
	mpp_frame_set_fmt, mpp_frame_set_buffer, mpp_packet_get_length, mpp_packet_deinit,
	mpp_buffer_import_with_tag, mpp_buffer_get_with_tag, mpp_buffer_put_with_caller,
	mpp_buffer_get_ptr_with_caller, mpp_buffer_group_get, mpp_buffer_group_put,
};
#ifndef STANDIN_NO_PACKET_POS
static const rkv_mpp_packet_get_pos_fn abi_check_pos __attribute__((unused)) = mpp_packet_get_pos;
#endif

/* ---- the encoder --------------------------------------------------------- */

/* The picture's bytes from @f's buffer, as @pl planes of TurboJPEG's. */
static int encode(const struct scfg *c, const struct sframe *f, struct spacket *pkt)
{
	const uint8_t *y = f->buf->ptr, *uv = y + (size_t)f->hs * f->vs;
	int w = (int)f->w, h = (int)f->h, cw = (w + 1) / 2, samp = TJSAMP_422, r = -1;
	const unsigned char *pl[3];
	int st[3];
	uint8_t *tmp = NULL;
	unsigned char *out = NULL;
	unsigned long len = 0;
	tjhandle tj;

	tmp = malloc((size_t)w * (size_t)h * 2);
	if (!tmp)
		return -1;
	pl[0] = y;
	st[0] = (int)f->hs;
	pl[1] = tmp;
	pl[2] = tmp + (size_t)cw * (size_t)h;
	st[1] = st[2] = cw;
	switch (f->fmt) {
	case RKV_MPP_FMT_YUV420SP:
		samp = TJSAMP_420;
		pl[0] = tmp;
		st[0] = w;
		pl[1] = tmp + (size_t)w * h;
		pl[2] = pl[1] + (size_t)cw * ((h + 1) / 2);
		NV12ToI420(y, (int)f->hs, uv, (int)f->hs, (uint8_t *)pl[0], st[0], (uint8_t *)pl[1],
			   cw, (uint8_t *)pl[2], cw, w, h);
		break;
	case RKV_MPP_FMT_YUV420P:
		samp = TJSAMP_420;
		pl[1] = uv;
		pl[2] = uv + (size_t)f->hs / 2 * (f->vs / 2);
		st[1] = st[2] = (int)f->hs / 2;
		break;
	case RKV_MPP_FMT_YUV422SP:
		SplitUVPlane(uv, (int)f->hs, (uint8_t *)pl[1], cw, (uint8_t *)pl[2], cw, cw, h);
		break;
	default: /* YUYV: Y too comes out of the packed rows */
		pl[0] = tmp;
		st[0] = w;
		pl[1] = tmp + (size_t)w * h;
		pl[2] = pl[1] + (size_t)cw * h;
		YUY2ToI422(y, (int)f->hs, (uint8_t *)pl[0], w, (uint8_t *)pl[1], cw,
			   (uint8_t *)pl[2], cw, w, h);
		break;
	}
	tj = tjInitCompress();
	if (tj && tjCompressFromYUVPlanes(tj, pl, w, st, h, samp, &out, &len, c->v[K_Q], 0) == 0) {
		pkt->data = malloc(len);
		if (pkt->data) {
			memcpy(pkt->data, out, len);
			pkt->len = len;
			r = 0;
		}
	}
	tjFree(out);
	if (tj)
		tjDestroy(tj);
	free(tmp);
	return r;
}

static int put_frame(rkv_mpp_ctx ctx, rkv_mpp_frame frame)
{
	struct sctx *c = ctx;
	struct sframe *f = frame;
	const struct scfg *g = &c->cfg;
	struct spacket *pkt;
	size_t need;

	if (!c || !f || !c->inited || !c->configured || c->pending || !f->buf ||
	    standin_fails("job"))
		return MPP_NOK;
	if ((int32_t)f->w != g->v[K_W] || (int32_t)f->h != g->v[K_H] ||
	    (int32_t)f->hs != g->v[K_HS] || (int32_t)f->vs != g->v[K_VS] || f->fmt != g->v[K_FMT] ||
	    g->v[K_CODEC] != RKV_MPP_CODING_MJPEG || g->v[K_Q] < 1 || g->v[K_Q] > 99 ||
	    f->w < 16 || f->h < 16 || f->vs < f->h)
		return MPP_NOK;
	need = (size_t)f->hs * f->vs;
	need = f->fmt == RKV_MPP_FMT_YUV422SP ? 2 * need
	       : f->fmt == RKV_MPP_FMT_YUV422_YUYV ? need
						   : need + need / 2;
	if (f->buf->size < need || f->hs < (f->fmt == RKV_MPP_FMT_YUV422_YUYV ? 2 * f->w : f->w))
		return MPP_NOK;
	pkt = calloc(1, sizeof(*pkt));
	if (!pkt)
		return MPP_NOK;
	if (encode(g, f, pkt) < 0) {
		free(pkt);
		return MPP_NOK;
	}
	c->pending = pkt;
	pthread_mutex_lock(&standin_lock);
	standin_rec.jobs++;
	standin_rec.jobs_fd_src += (uint64_t)f->buf->by_fd;
	pthread_mutex_unlock(&standin_lock);
	return RKV_MPP_OK;
}

static int get_packet(rkv_mpp_ctx ctx, rkv_mpp_packet *packet)
{
	struct sctx *c = ctx;

	/* A packet is always ready at once here; with none, MPP would wait
	 * for the timeout (and forever when it is negative: a caller bug). */
	if (!c || !packet || !c->pending || c->timeout < 0)
		return MPP_NOK;
	*packet = c->pending;
	c->pending = NULL;
	return RKV_MPP_OK;
}

static int control(rkv_mpp_ctx ctx, int cmd, void *param)
{
	struct sctx *c = ctx;

	if (c && cmd == RKV_MPP_SET_OUTPUT_TIMEOUT && param) {
		c->timeout = *(const int64_t *)param;
		return RKV_MPP_OK;
	}
	if (!c || !c->inited || cmd != RKV_MPP_ENC_SET_CFG || !param)
		return MPP_NOK;
	c->cfg = *(struct scfg *)param;
	c->configured = 1;
	return RKV_MPP_OK;
}

static struct rkv_mpp_api api = {
	.size = sizeof(struct rkv_mpp_api),
	.version = 0,
	.encode_put_frame = put_frame,
	.encode_get_packet = get_packet,
	.control = control,
};

EXPORT int mpp_create(rkv_mpp_ctx *ctx, struct rkv_mpp_api **out)
{
	if (!ctx || !out)
		return MPP_NOK;
	struct sctx *c = calloc(1, sizeof(*c));

	*ctx = c;
	*out = &api;
	if (!c)
		return MPP_NOK;
	c->timeout = -1;
	return RKV_MPP_OK;
}

EXPORT int mpp_init(rkv_mpp_ctx ctx, int type, int coding)
{
	struct sctx *c = ctx;

	if (!c || type != RKV_MPP_CTX_ENC || coding != RKV_MPP_CODING_MJPEG)
		return MPP_NOK;
	c->inited = 1;
	return RKV_MPP_OK;
}

EXPORT int mpp_destroy(rkv_mpp_ctx ctx)
{
	struct sctx *c = ctx;

	if (!c)
		return MPP_NOK;
	if (c->pending) {
		free(c->pending->data);
		free(c->pending);
	}
	free(c);
	return RKV_MPP_OK;
}

EXPORT int mpp_enc_cfg_init(rkv_mpp_cfg *cfg)
{
	*cfg = calloc(1, sizeof(struct scfg));
	return *cfg ? RKV_MPP_OK : MPP_NOK;
}

EXPORT int mpp_enc_cfg_deinit(rkv_mpp_cfg cfg)
{
	free(cfg);
	return RKV_MPP_OK;
}

EXPORT int mpp_enc_cfg_set_s32(rkv_mpp_cfg cfg, const char *name, int32_t val)
{
	struct scfg *g = cfg;

	for (size_t i = 0; g && name && i < NKEYS; i++)
		if (strcmp(name, keys[i]) == 0) {
			g->v[i] = val;
			return RKV_MPP_OK;
		}
	return MPP_NOK;
}

/* ---- frames and packets -------------------------------------------------- */

EXPORT int mpp_frame_init(rkv_mpp_frame *frame)
{
	*frame = calloc(1, sizeof(struct sframe));
	return *frame ? RKV_MPP_OK : MPP_NOK;
}

EXPORT int mpp_frame_deinit(rkv_mpp_frame *frame)
{
	free(*frame);
	*frame = NULL;
	return RKV_MPP_OK;
}

EXPORT void mpp_frame_set_width(rkv_mpp_frame frame, uint32_t v)
{
	((struct sframe *)frame)->w = v;
}

EXPORT void mpp_frame_set_height(rkv_mpp_frame frame, uint32_t v)
{
	((struct sframe *)frame)->h = v;
}

EXPORT void mpp_frame_set_hor_stride(rkv_mpp_frame frame, uint32_t v)
{
	((struct sframe *)frame)->hs = v;
}

EXPORT void mpp_frame_set_ver_stride(rkv_mpp_frame frame, uint32_t v)
{
	((struct sframe *)frame)->vs = v;
}

EXPORT void mpp_frame_set_fmt(rkv_mpp_frame frame, int fmt)
{
	((struct sframe *)frame)->fmt = fmt;
}

EXPORT void mpp_frame_set_buffer(rkv_mpp_frame frame, rkv_mpp_buffer buffer)
{
	((struct sframe *)frame)->buf = buffer;
}

#ifndef STANDIN_NO_PACKET_POS
EXPORT void *mpp_packet_get_pos(const rkv_mpp_packet packet)
{
	return ((const struct spacket *)packet)->data;
}
#endif

EXPORT size_t mpp_packet_get_length(const rkv_mpp_packet packet)
{
	return ((const struct spacket *)packet)->len;
}

EXPORT int mpp_packet_deinit(rkv_mpp_packet *packet)
{
	struct spacket *p = *packet;

	if (p) {
		free(p->data);
		free(p);
	}
	*packet = NULL;
	return RKV_MPP_OK;
}

/* ---- buffers --------------------------------------------------------------- */

static void counted(uint64_t *kind)
{
	pthread_mutex_lock(&standin_lock);
	*kind += 1;
	standin_rec.live++;
	pthread_mutex_unlock(&standin_lock);
}

EXPORT int mpp_buffer_import_with_tag(rkv_mpp_group group, struct rkv_mpp_buffer_info *info,
				      rkv_mpp_buffer *buffer, const char *tag, const char *caller)
{
	struct sbuf *b;
	struct stat st;
	void *map;

	(void)group;
	(void)tag;
	(void)caller;
	if (!info || !buffer || info->type != RKV_MPP_BUFFER_TYPE_EXT_DMA || info->fd < 0 ||
	    !info->size || standin_fails("import") || fstat(info->fd, &st) < 0 ||
	    (uint64_t)st.st_size < info->size)
		return MPP_NOK;
	map = mmap(NULL, info->size, PROT_READ | PROT_WRITE, MAP_SHARED, info->fd, 0);
	if (map == MAP_FAILED)
		return MPP_NOK;
	b = calloc(1, sizeof(*b));
	if (!b) {
		munmap(map, info->size);
		return MPP_NOK;
	}
	b->ptr = map;
	b->size = info->size;
	b->by_fd = 1;
	*buffer = b;
	counted(&standin_rec.imports_fd);
	return RKV_MPP_OK;
}

EXPORT int mpp_buffer_get_with_tag(rkv_mpp_group group, rkv_mpp_buffer *buffer, size_t size,
				   const char *tag, const char *caller)
{
	struct sbuf *b;

	(void)tag;
	(void)caller;
	if (!group || !buffer || !size || standin_fails("import"))
		return MPP_NOK;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->ptr = malloc(size))) {
		free(b);
		return MPP_NOK;
	}
	b->size = size;
	*buffer = b;
	counted(&standin_rec.imports_copy);
	return RKV_MPP_OK;
}

EXPORT int mpp_buffer_put_with_caller(rkv_mpp_buffer buffer, const char *caller)
{
	struct sbuf *b = buffer;

	(void)caller;
	if (!b)
		return MPP_NOK;
	if (b->by_fd)
		munmap(b->ptr, b->size);
	else
		free(b->ptr);
	free(b);
	pthread_mutex_lock(&standin_lock);
	standin_rec.releases++;
	standin_rec.live--;
	pthread_mutex_unlock(&standin_lock);
	return RKV_MPP_OK;
}

EXPORT void *mpp_buffer_get_ptr_with_caller(rkv_mpp_buffer buffer, const char *caller)
{
	(void)caller;
	return buffer ? ((struct sbuf *)buffer)->ptr : NULL;
}

EXPORT int mpp_buffer_group_get(rkv_mpp_group *group, int type, int mode, const char *tag,
				const char *caller)
{
	(void)tag;
	(void)caller;
	if (!group || type != RKV_MPP_BUFFER_TYPE_DRM || mode != RKV_MPP_BUFFER_INTERNAL)
		return MPP_NOK;
	*group = malloc(1);
	return *group ? RKV_MPP_OK : MPP_NOK;
}

EXPORT int mpp_buffer_group_put(rkv_mpp_group group)
{
	free(group);
	return RKV_MPP_OK;
}
