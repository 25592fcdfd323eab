/* SPDX-License-Identifier: MIT */
/*
 * rkv/frame.h - the frame descriptor.
 *
 * A frame descriptor says what the bytes of a slot are: pixel format, size,
 * planes, how many bytes are used, when it was captured. The same struct is
 * the wire format in shared memory, so it holds fixed-width types only, with
 * explicit padding; its size and field offsets are pinned by a test.
 */
#ifndef RKV_FRAME_H
#define RKV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Four-character codes, as V4L2 and DRM spell them. */
#define RKV_FOURCC(a, b, c, d) \
	((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))

#define RKV_FMT_NONE  0u
#define RKV_FMT_NV12  RKV_FOURCC('N', 'V', '1', '2') /* Y plane, then interleaved CbCr, 4:2:0 */
#define RKV_FMT_I420  RKV_FOURCC('Y', 'U', '1', '2') /* Y, Cb, Cr planes, 4:2:0 */
#define RKV_FMT_YUYV  RKV_FOURCC('Y', 'U', 'Y', 'V')
#define RKV_FMT_RGB24 RKV_FOURCC('R', 'G', 'B', '3') /* R, G, B bytes in memory order */
#define RKV_FMT_BGR24 RKV_FOURCC('B', 'G', 'R', '3')
#define RKV_FMT_GREY  RKV_FOURCC('G', 'R', 'E', 'Y')
#define RKV_FMT_JPEG  RKV_FOURCC('J', 'P', 'E', 'G') /* one JPEG image, bytes_used long */
#define RKV_FMT_H264  RKV_FOURCC('H', '2', '6', '4') /* Annex B access unit(s) */
#define RKV_FMT_BYTES RKV_FOURCC('B', 'Y', 'T', 'E') /* opaque payload */

/* Frame flags. */
#define RKV_FRAME_KEYFRAME (1u << 0) /* encoded frame decodable on its own */
#define RKV_FRAME_ERROR    (1u << 1) /* the source reported a damaged frame */

#define RKV_MAX_PLANES 4

/* One plane of a raw frame: where it starts in the slot, its row pitch and
 * its length in bytes. Encoded formats use no planes (num_planes = 0). */
struct rkv_plane {
	uint64_t offset; /* from the start of the slot's data */
	uint32_t stride; /* bytes per row */
	uint32_t pad0;   /* zero */
	uint64_t size;   /* bytes in this plane */
};

struct rkv_frame {
	uint64_t seq;          /* the producer's sequence number, passed through verbatim */
	int64_t timestamp_ns;  /* capture time, CLOCK_MONOTONIC; 0 at publish = "now" */
	uint32_t fourcc;       /* RKV_FMT_* */
	uint32_t width;        /* pixels; 0 for formats without a size */
	uint32_t height;
	uint32_t flags;        /* RKV_FRAME_* */
	uint64_t bytes_used;   /* valid bytes from the start of the slot's data */
	uint32_t num_planes;   /* 0..RKV_MAX_PLANES */
	uint32_t pad0;         /* zero */
	struct rkv_plane planes[RKV_MAX_PLANES];
	uint64_t user;         /* free for the producer (e.g. the camera's own counter) */
	uint64_t reserved[5];  /* zero */
};

/*
 * Fill @f for a raw image of @fourcc at @width x @height with rows padded to
 * a multiple of @align bytes (1 = tight; must be a power of two). Sets
 * fourcc, width, height, num_planes, planes[] and bytes_used; clears the
 * rest. Returns the number of bytes the image needs, or -EINVAL for an
 * unknown or non-raw format, a zero size, a bad alignment or a size whose
 * byte count would not fit in 63 bits.
 */
int64_t rkv_frame_layout(struct rkv_frame *f, uint32_t fourcc, uint32_t width,
			 uint32_t height, uint32_t align);

/*
 * Check a descriptor against a slot capacity: bytes_used <= capacity, every
 * plane inside bytes_used, num_planes in range, padding zero. Returns 0 or
 * -EINVAL. Consumers run this on every descriptor they receive; producers
 * on every descriptor they publish.
 */
int rkv_frame_check(const struct rkv_frame *f, uint64_t capacity);

/* "NV12", "JPEG", ... into @buf (at least 5 bytes); returns @buf. */
const char *rkv_fourcc_str(uint32_t fourcc, char buf[5]);

#ifdef __cplusplus
}
#endif

#endif /* RKV_FRAME_H */
