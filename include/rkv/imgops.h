/* SPDX-License-Identifier: MIT */
/*
 * rkv/imgops.h - image work: convert, scale, crop, rotate/flip, JPEG and
 * PNG, behind one seam with a CPU backend and room for hardware ones.
 *
 * Images are struct rkv_image: a frame descriptor (rkv/frame.h: fourcc,
 * width, height, planes with offset and stride, bytes_used), the address of
 * its bytes and, when the bytes live in a DMA-BUF, that buffer's fd, so a
 * hardware backend (RGA, MPP) can import the image by fd instead of copying
 * it. Raw formats handled: NV12, NV16, I420, YUYV, RGB24, BGR24, RGBA.
 * Encoded: JPEG (in and out) and PNG (out). rkv_imgops_decode_view()
 * takes a pool frame, raw or JPEG, as a consumer receives it.
 *
 * A context (rkv_imgops) holds a chain of backends, tried in order: the one
 * the config selects ("auto", "rga", "mpp", or a caller's own table), then
 * the CPU backend, always last. A backend that cannot do a call (a format,
 * a size, an alignment, a missing method) returns -ENOTSUP with a reason,
 * and the next one in the chain is tried; each such fallback is counted by
 * operation and by reason (rkv_imgops_stats). Any other error ends the call.
 * The CPU backend uses libyuv, TurboJPEG and libpng.
 *
 * Colour: YUV <-> RGB conversions use BT.601 limited range (what V4L2
 * cameras deliver by default). JPEG stores full-range YCbCr: a YUV image is
 * encoded with its samples as they are (no range change, so a hardware
 * encoder gives the same result) and decoded into YUV the same way; an RGB
 * image is converted by the JPEG library with the JFIF (full-range)
 * equations, in both directions.
 *
 * Errors: every call returns 0 (or a count) or a negative errno, and never
 * prints, aborts or exits. The ones that can come back:
 *   -EINVAL   a malformed image or argument: a descriptor that fails
 *             rkv_frame_check against the image's capacity, a NULL data
 *             pointer, an odd width for NV12, NV16, I420 or YUYV, an odd
 *             height for NV12 or I420, a stride over INT32_MAX, source and
 *             destination bytes that overlap, a crop outside the source or
 *             at an odd offset where chroma is subsampled, a rotation other
 *             than 0/90/180/270, unknown flag bits, a nonzero reserved field;
 *   -ENOTSUP  a fourcc that is not one of the formats above for that
 *             argument, or a width or height over RKV_IMGOPS_MAX_DIM;
 *   -ENOSPC   the destination is too small (raw: its capacity is less than
 *             its descriptor's bytes_used; encoded: the result did not fit);
 *   -EBADMSG  a JPEG to decode is corrupt or truncated;
 *   -ENOMEM   scratch memory could not be had.
 *
 * Threads: a context is used by one thread at a time; make one per worker
 * thread (each holds its own JPEG encoder and decoder handles and scratch
 * memory, so workers share nothing). rkv_imgops_stats() and
 * rkv_imgops_info() may be called from any thread, also while another one
 * uses the context. Different contexts are independent.
 *
 * Growing: structs passed in begin with a size field (0 or the sizeof this
 * header declares) or end in reserved words that must be zero; a backend
 * table begins with its size, and methods are appended.
 *
 * docs/imgops.md says how it works and why, with benchmark figures.
 */
#ifndef RKV_IMGOPS_H
#define RKV_IMGOPS_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An encoded PNG image (rkv_frame_check judges it as an unknown format). */
#define RKV_FMT_PNG RKV_FOURCC('P', 'N', 'G', ' ')

/* Largest width or height of any image this layer takes or makes. */
#define RKV_IMGOPS_MAX_DIM 16384u

typedef struct rkv_imgops rkv_imgops;

/*
 * An image. The bytes are @data (@capacity of them, plane offsets counted
 * from @data); the caller owns them, and a call reads or writes them only
 * while it runs. For a source, frame.bytes_used bytes are read (raw: the
 * planes inside them; JPEG: the encoded stream, bytes_used long). For a raw
 * destination, the caller lays out frame (e.g. with rkv_imgops_image()) and
 * the call fills its planes; for an encoded destination, the call sets
 * frame to fourcc JPEG or PNG, the image's width and height, no planes, and
 * bytes_used to the encoded length.
 *
 * @fd, when not -1, is a DMA-BUF holding the same bytes, @data being at
 * @fd_offset in it (as a pool view or a V4L2 export gives them). It is
 * borrowed for the call: a hardware backend may import it, the CPU backend
 * ignores it. The caller keeps the CPU view coherent (DMA_BUF_IOCTL_SYNC)
 * as it does for any other CPU access.
 */
struct rkv_image {
	struct rkv_frame frame;
	void *data;            /* the image's first byte; sources are not written */
	uint64_t capacity;     /* bytes at @data */
	int32_t fd;            /* DMA-BUF with the same bytes, or -1 */
	uint32_t pad0;         /* zero */
	uint64_t fd_offset;    /* where @data is in @fd */
	uint64_t reserved[2];  /* zero */
};

/*
 * Describe @data (@capacity bytes, no fd) as an image of @fourcc, @width x
 * @height: raw formats get rows with no padding (rkv_frame_layout, align
 * 1); JPEG and PNG get no planes, width and height as given and
 * bytes_used = @capacity (for a source: the encoded length). Returns the
 * bytes a raw image needs (which may exceed @capacity; the call that uses
 * the image then says -ENOSPC or -EINVAL), @capacity for an encoded one, or
 * -EINVAL for a format rkv_frame_layout does not know or a zero size.
 */
int64_t rkv_imgops_image(struct rkv_image *img, uint32_t fourcc, uint32_t width,
			 uint32_t height, void *data, uint64_t capacity);

/* ---- transform: crop, rotate/flip, scale, convert in one call ------------ */

/* rkv_transform.flip, applied after the rotation */
#define RKV_FLIP_H (1u << 0) /* mirror left-right */
#define RKV_FLIP_V (1u << 1) /* upside down */

/* rkv_transform.filter */
#define RKV_FILTER_BILINEAR 0u /* the default */
#define RKV_FILTER_BOX      1u /* area average: best for large reductions */
#define RKV_FILTER_NEAREST  2u

/*
 * What rkv_imgops_transform() does to the source, in this order:
 *   crop      the rectangle (crop_x, crop_y, crop_w, crop_h) of the source;
 *             crop_w = crop_h = 0 (and x = y = 0) means all of it. It must
 *             lie inside the source; where chroma is subsampled its offset
 *             must be even (x for NV12, NV16, I420, YUYV; y for NV12, I420)
 *             and so must its size, as for any image of that format;
 *   rotate    0, 90, 180 or 270 degrees clockwise;
 *   flip      RKV_FLIP_H and/or RKV_FLIP_V, in the rotated picture;
 *   scale     to the destination's width x height, with @filter (no aspect
 *             ratio is kept: the caller chooses the destination size);
 *   convert   to the destination's fourcc.
 * A zeroed struct (or NULL) is a plain scale and convert of the whole
 * source.
 */
struct rkv_transform {
	uint32_t crop_x, crop_y, crop_w, crop_h;
	uint32_t rotate;
	uint32_t flip;
	uint32_t filter;
	uint32_t reserved[5]; /* zero */
};

/*
 * Transform @src into @dst (both raw, in any of the seven formats, laid out
 * by the caller), as @t says (NULL: convert and scale only). Every pixel
 * of @dst is written, the padding at the end of its rows is not; its
 * descriptor is not changed. Errors: see the top.
 * Converting the same pixels between 4:2:0 YUV formats (NV12 <-> I420) or
 * between RGB24 and BGR24 is exact; scaling, and conversions that change
 * chroma sampling or between YUV and RGB, are not.
 */
int rkv_imgops_transform(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst,
			 const struct rkv_transform *t);

/* ---- JPEG and PNG ------------------------------------------------------- */

struct rkv_jpeg_params {
	uint32_t quality;      /* 1..100; 0 = 85 */
	uint32_t reserved[3];  /* zero */
};

struct rkv_png_params {
	uint32_t level;        /* zlib level: 0 (stored) to 9 (smallest); no params: 1 */
	uint32_t reserved[3];  /* zero */
};
#define RKV_PNG_LEVEL_DEFAULT 1u

/*
 * The most bytes a JPEG of @width x @height can take (any format, any
 * quality), for sizing a destination; 0 for a zero size or one over
 * RKV_IMGOPS_MAX_DIM.
 */
uint64_t rkv_imgops_jpeg_bound(uint32_t width, uint32_t height);

/* The same for a PNG of raw @fourcc (RGBA: 4 channels; others: 3). */
uint64_t rkv_imgops_png_bound(uint32_t fourcc, uint32_t width, uint32_t height);

/*
 * Encode raw @src as a JPEG into @dst's bytes (@dst->capacity of them).
 * YUV sources keep their chroma sampling (NV12, I420: 4:2:0; NV16, YUYV:
 * 4:2:2); RGB sources are encoded 4:2:0 (RGBA's alpha is dropped). @p NULL:
 * quality 85. On success @dst->frame says JPEG, the size and bytes_used.
 * -ENOSPC when it does not fit (rkv_imgops_jpeg_bound() always does).
 */
int rkv_imgops_jpeg_encode(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst,
			   const struct rkv_jpeg_params *p);

/*
 * Read a JPEG's size from its header (@len bytes at @data): 0, or -EBADMSG
 * when the header is not a JPEG's, -ENOTSUP when the size exceeds
 * RKV_IMGOPS_MAX_DIM.
 */
int rkv_imgops_jpeg_size(rkv_imgops *ctx, const void *data, size_t len, uint32_t *width,
			 uint32_t *height);

/*
 * Decode the JPEG @src (fourcc RKV_FMT_JPEG, bytes_used bytes) into raw
 * @dst, in @dst's format and size (laid out by the caller; a size other
 * than the JPEG's is a bilinear scale, which then takes scratch memory of
 * the JPEG's full size). A corrupt or truncated stream, one with more
 * progressive scans than a real encoder makes, and one whose data ends
 * early are -EBADMSG (@dst's bytes may then be partly written); a CMYK
 * JPEG is -ENOTSUP.
 */
int rkv_imgops_jpeg_decode(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst);

/*
 * Encode raw @src as an 8-bit PNG (RGB; RGBA keeps its alpha; YUV sources
 * are converted to RGB first) into @dst's bytes, at zlib level @p->level
 * (NULL: RKV_PNG_LEVEL_DEFAULT, fast and lossless). On success @dst->frame
 * says PNG, the size and bytes_used. -ENOSPC when it does not fit
 * (rkv_imgops_png_bound() always does).
 */
int rkv_imgops_png_encode(rkv_imgops *ctx, const struct rkv_image *src, struct rkv_image *dst,
			  const struct rkv_png_params *p);

/* ---- pool frames -------------------------------------------------------- */

/*
 * Decode or convert pool frame @v (a consumer's view: rkv/pool.h) into
 * raw @dst, in @dst's format and size (laid out by the caller): a JPEG
 * frame (RKV_FMT_JPEG, as rkv-camera --encode jpeg publishes) is decoded
 * as rkv_imgops_jpeg_decode() does (a size other than the JPEG's is a
 * scale), a raw frame is transformed (converted and scaled) as
 * rkv_imgops_transform() does with no crop or rotation. To learn a JPEG
 * frame's size first: rkv_imgops_jpeg_size(ctx, v->data,
 * v->frame.bytes_used, ...).
 *
 * Nothing of the producer's is trusted: the view must have its bytes
 * mapped (-EINVAL for a view without data, RKV_CONSUMER_NO_MAP), its
 * descriptor must pass rkv_frame_check() against the view's capacity
 * (-EINVAL), and a JPEG is read from its own header, whose size must be
 * the descriptor's (-EBADMSG otherwise, as for a corrupt or truncated
 * stream). Other errors: as the call it makes.
 */
int rkv_imgops_decode_view(rkv_imgops *ctx, const struct rkv_view *v, struct rkv_image *dst);

/* ---- backends ----------------------------------------------------------- */

/* Operations, the index of rkv_imgops_stats' per-operation counters. */
#define RKV_IMGOPS_OP_TRANSFORM   0u
#define RKV_IMGOPS_OP_JPEG_ENCODE 1u
#define RKV_IMGOPS_OP_JPEG_DECODE 2u
#define RKV_IMGOPS_OP_PNG_ENCODE  3u
#define RKV_IMGOPS_OPS            8u /* room for more */

/* Why a backend refused a call (-ENOTSUP): the index of rkv_imgops_stats'
 * per-reason counters. */
#define RKV_IMGOPS_WHY_METHOD  0u /* the backend has no such method */
#define RKV_IMGOPS_WHY_FORMAT  1u /* a pixel format it cannot read or write */
#define RKV_IMGOPS_WHY_SIZE    2u /* a width, height or scale ratio out of its range */
#define RKV_IMGOPS_WHY_ALIGN   3u /* a stride, offset or address alignment */
#define RKV_IMGOPS_WHY_MEMORY  4u /* memory it cannot reach or import */
#define RKV_IMGOPS_WHY_PARAMS  5u /* a combination of parameters (crop, rotation, quality) */
#define RKV_IMGOPS_WHY_OTHER   6u /* anything else (also: an out-of-range reason) */
#define RKV_IMGOPS_REASONS     16u /* room for more */

/*
 * A backend: a const table. @size is sizeof(struct rkv_imgops_backend) as
 * the backend was built; methods past it, and NULL ones, are missing: a call
 * that needs one falls back with RKV_IMGOPS_WHY_METHOD.
 *
 * open() probes the backend and makes its state for one context (*priv,
 * passed to every method and to close()). It returns 0, or -errno with a
 * sentence in @why saying which probe step failed (no device node, a
 * symbol missing, the test job failed); the context is then built without
 * it. close() frees what open() made.
 *
 * Every method is called with arguments the dispatcher has already checked
 * (the rules at the top: formats, geometry, capacities, overlap), with
 * @t never NULL and its crop resolved to an explicit rectangle. A method
 * returns 0, or -ENOTSUP with *@why set to an RKV_IMGOPS_WHY_* reason
 * (left as it is: RKV_IMGOPS_WHY_OTHER; the method may have written the
 * destination's bytes, not its descriptor, and the next backend writes
 * them again), or another -errno, which ends the call. The
 * encoders set dst->frame as described above. A method runs in the thread
 * that called, one at a time per context.
 */
struct rkv_imgops_backend {
	uint32_t size;
	uint32_t pad0;
	const char *name;
	int (*open)(void **priv, char *why, size_t why_len);
	void (*close)(void *priv);
	int (*transform)(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			 const struct rkv_transform *t, uint32_t *why);
	int (*jpeg_encode)(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			   const struct rkv_jpeg_params *p, uint32_t *why);
	int (*jpeg_decode)(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			   uint32_t *why);
	int (*png_encode)(void *priv, const struct rkv_image *src, struct rkv_image *dst,
			  const struct rkv_png_params *p, uint32_t *why);
};

/* ---- contexts ----------------------------------------------------------- */

/*
 * The hardware backends (docs/imgops.md says what each refuses, and why):
 *   "rga"  crop, rotate/flip, scale and convert on Rockchip's RGA 2D engine,
 *          through librga ("librga.so.2", else "librga.so") and /dev/rga;
 *   "mpp"  JPEG encoding of NV12, I420, NV16 and YUYV on Rockchip's video
 *          encoder, through MPP ("librockchip_mpp.so.1", else
 *          "librockchip_mpp.so") and /dev/mpp_service.
 * Neither library is linked: a context that includes a backend loads it
 * with dlopen (it then stays loaded) and probes it with a tiny real job.
 * The environment variables RKV_RGA_LIB, RKV_RGA_DEV, RKV_MPP_LIB and
 * RKV_MPP_DEV name another library or device node (ignored by set-uid
 * programs); the test suite points them at its stand-ins. An image whose
 * DMA-BUF begins with its first byte (fd_offset 0, plane 0 at offset 0)
 * is handed to the hardware by fd; any other by address (rga) or as a
 * copy (mpp).
 */

/* Most backends in one context's chain (the CPU backend included). */
#define RKV_IMGOPS_MAX_CHAIN 4u

struct rkv_imgops_config {
	uint32_t size;          /* 0 or sizeof(struct rkv_imgops_config) */
	uint32_t pad0;
	/* "auto" (or NULL): every hardware backend built in that probes well,
	 * then the CPU; "cpu": the CPU alone; "rga" or "mpp": that one, then
	 * the CPU. A hardware backend that is not built in or fails its probe
	 * is left out, and rkv_imgops_info() says why. */
	const char *backend;
	/* A caller's own backend (a board's override, or a test's), tried
	 * before all others; it must outlive the context. NULL: none. */
	const struct rkv_imgops_backend *custom;
	uint64_t reserved[4];   /* zero */
};

/*
 * Make a context as @cfg says (NULL: "auto"). On success *@out owns it until
 * rkv_imgops_close(). A backend that cannot be had is not an error (the
 * CPU backend always can). Errors: -EINVAL (an unknown backend name, a
 * nonzero reserved word, a bad size), -E2BIG (a config larger than this
 * library knows), -ENOMEM, or the CPU backend's open error.
 */
int rkv_imgops_open(const struct rkv_imgops_config *cfg, rkv_imgops **out);

/* Free @ctx and everything it holds; NULL is fine. */
void rkv_imgops_close(rkv_imgops *ctx);

struct rkv_imgops_info {
	uint32_t nbackends;     /* the chain's length, the CPU backend last */
	uint32_t pad0;
	char backends[RKV_IMGOPS_MAX_CHAIN][16]; /* names, in the order tried */
	char refused[256];      /* "rga: <why>; mpp: <why>" for each backend left out, or "" */
};

/* What @ctx is made of, into @info of @size bytes (a prefix is fine). */
int rkv_imgops_info(const rkv_imgops *ctx, struct rkv_imgops_info *info, size_t size);

struct rkv_imgops_stats {
	uint64_t calls[RKV_IMGOPS_OPS];      /* by operation (RKV_IMGOPS_OP_*) */
	uint64_t errors[RKV_IMGOPS_OPS];     /* calls that returned an error */
	uint64_t fallbacks[RKV_IMGOPS_OPS];  /* times a backend refused and the next was tried */
	uint64_t reasons[RKV_IMGOPS_REASONS]; /* fallbacks by reason (RKV_IMGOPS_WHY_*) */
	/* successful calls by the backend that did them: [i] is
	 * rkv_imgops_info's backends[i] */
	uint64_t done_by[RKV_IMGOPS_MAX_CHAIN][RKV_IMGOPS_OPS];
};

/* Counters since open, into @st of @size bytes (a prefix is fine). */
int rkv_imgops_stats(const rkv_imgops *ctx, struct rkv_imgops_stats *st, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* RKV_IMGOPS_H */
