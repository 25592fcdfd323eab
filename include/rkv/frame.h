/* SPDX-License-Identifier: MIT */
/*
 * rkv/frame.h - the frame descriptor.
 *
 * A frame descriptor says what the bytes of a slot are: pixel format, size,
 * planes, how many bytes are used, when it was captured. The same struct is
 * the wire format in shared memory, so it holds fixed-width types only, with
 * explicit padding; its size and field offsets are pinned by a test.
 *
 * Room to grow: the pad0 and reserved[] words are where later versions put
 * new fields. Writers must set every pad0 and reserved word to zero (the
 * layout calls do; a descriptor built by hand should start from memset or
 * "= { 0 }"). Readers, rkv_frame_check included, ignore them: what a reader
 * does not know it leaves alone, so a frame from a newer writer that uses
 * them still passes an older reader's checks. A new field may therefore
 * only carry information that a reader can safely ignore, and zero must
 * mean "as before".
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
#define RKV_FMT_NV16  RKV_FOURCC('N', 'V', '1', '6') /* Y plane, then interleaved CbCr, 4:2:2 */
#define RKV_FMT_I420  RKV_FOURCC('Y', 'U', '1', '2') /* Y, Cb, Cr planes, 4:2:0 */
#define RKV_FMT_YUYV  RKV_FOURCC('Y', 'U', 'Y', 'V') /* Y0 Cb Y1 Cr: 4 bytes per 2 pixels */
#define RKV_FMT_RGB24 RKV_FOURCC('R', 'G', 'B', '3') /* R, G, B bytes in memory order */
#define RKV_FMT_BGR24 RKV_FOURCC('B', 'G', 'R', '3')
/* R, G, B, A bytes in memory order. 'AB24' is V4L2_PIX_FMT_RGBA32 and
 * DRM_FORMAT_ABGR8888 (DRM names the little-endian 32-bit word, A:B:G:R);
 * not DRM_FORMAT_RGBA8888 'RA24', which is A, B, G, R in memory. */
#define RKV_FMT_RGBA  RKV_FOURCC('A', 'B', '2', '4')
#define RKV_FMT_GREY  RKV_FOURCC('G', 'R', 'E', 'Y') /* Y only, 1 byte per pixel */
#define RKV_FMT_JPEG  RKV_FOURCC('J', 'P', 'E', 'G') /* one JPEG image, bytes_used long */
#define RKV_FMT_H264  RKV_FOURCC('H', '2', '6', '4') /* Annex B access unit(s) */
#define RKV_FMT_BYTES RKV_FOURCC('B', 'Y', 'T', 'E') /* opaque payload */

/* Frame flags. */
#define RKV_FRAME_KEYFRAME (1u << 0) /* encoded frame decodable on its own */
#define RKV_FRAME_ERROR    (1u << 1) /* the source reported a damaged frame */

#define RKV_MAX_PLANES 4

/* One plane of a raw frame: where it starts in the slot, its row pitch and
 * its length in bytes. Encoded formats use no planes (num_planes = 0).
 * Row r of the plane starts at offset + r * stride. */
struct rkv_plane {
	uint64_t offset; /* from the start of the slot's data */
	uint32_t stride; /* bytes per row */
	uint32_t pad0;   /* writers: zero; readers: ignore */
	uint64_t size;   /* bytes in this plane, padding rows included */
};

struct rkv_frame {
	uint64_t seq;          /* the producer's sequence number, passed through verbatim */
	int64_t timestamp_ns;  /* capture time, CLOCK_MONOTONIC; 0 at publish = "now" */
	uint32_t fourcc;       /* RKV_FMT_* */
	uint32_t width;        /* pixels; raw formats: nonzero; encoded: anything (0 = unknown) */
	uint32_t height;       /* rows of pixels, without any padding rows */
	uint32_t flags;        /* RKV_FRAME_* */
	uint64_t bytes_used;   /* valid bytes from the start of the slot's data */
	uint32_t num_planes;   /* 0..RKV_MAX_PLANES; planes past it are all zero */
	uint32_t pad0;         /* writers: zero; readers: ignore */
	struct rkv_plane planes[RKV_MAX_PLANES];
	uint64_t user;         /* free for the producer (e.g. the camera's own counter) */
	uint64_t reserved[5];  /* writers: zero; readers: ignore (see the top) */
};

/*
 * Fill @f for a raw image of @fourcc at @width x @height with rows padded to
 * a multiple of @align bytes (1 = tight; must be a power of two). Each
 * plane's stride is its own row bytes rounded up to @align (an I420 chroma
 * stride is therefore not always half the luma stride; see
 * rkv_frame_layout_aligned for that rule); planes follow each other with no
 * gap, plane 0 at offset 0. Sets fourcc, width, height, num_planes,
 * planes[] and bytes_used; clears the rest. Raw formats: NV12, NV16, I420,
 * YUYV, RGB24, BGR24, RGBA, GREY. Returns the number of bytes the image
 * needs (= bytes_used), or -EINVAL (and @f cleared) for an unknown or
 * non-raw format, a zero size, a bad alignment, a stride over UINT32_MAX or
 * a byte count that would not fit in 63 bits. The result passes
 * rkv_frame_check with a capacity of the returned size.
 */
int64_t rkv_frame_layout(struct rkv_frame *f, uint32_t fourcc, uint32_t width,
			 uint32_t height, uint32_t align);

/*
 * Like rkv_frame_layout, for hardware with alignment rules (Rockchip's ISP
 * and RGA want 16-row and 16- or 64-byte alignment). Every alignment must
 * be a nonzero power of two; 1 means none.
 *
 * @stride_align: the luma (plane 0) stride is the row bytes rounded up to
 *   a multiple of it. The chroma strides follow from the luma stride as
 *   V4L2's single-buffer formats define them: NV12 and NV16 chroma stride =
 *   luma stride; I420 chroma stride = luma stride / 2 (a multiple of
 *   stride_align / 2 only: ask for twice the alignment if the chroma rows
 *   need it too). For these formats an odd width is first rounded up to
 *   even for the stride (the chroma row covers the last pixel), so the luma
 *   stride is even and its half covers the chroma row.
 *   Packed formats (YUYV, RGB24, BGR24, RGBA, GREY) have one plane.
 * @height_align: the rows allocated for plane 0 are the height rounded up
 *   to a multiple of it; a chroma plane gets that padded height as the
 *   format subsamples it (NV12, I420: half, rounded up; NV16: all of it).
 *   The plane sizes include these padding rows; f->height stays @height.
 * @offset_align: each plane starts at the end of the previous one rounded
 *   up to a multiple of it (plane 0 at 0). bytes_used is the end of the last
 *   plane, not rounded.
 *
 * Sets fourcc, width, height, num_planes, planes[] and bytes_used; clears
 * the rest. Returns the number of bytes the image needs (= bytes_used), or
 * -EINVAL (and @f cleared) for an unknown or non-raw format, a zero size,
 * an alignment that is 0 or not a power of two, a stride over UINT32_MAX
 * or a byte count that would not fit in 63 bits. The result passes
 * rkv_frame_check with a capacity of the returned size.
 */
int64_t rkv_frame_layout_aligned(struct rkv_frame *f, uint32_t fourcc, uint32_t width,
				 uint32_t height, uint32_t stride_align,
				 uint32_t height_align, uint32_t offset_align);

/*
 * Check a descriptor against a slot capacity of @capacity bytes, so that a
 * reader who builds an image from (width, height, stride) of each plane
 * stays inside the plane and inside the slot. All arithmetic is 64-bit and
 * overflow-checked. Every descriptor must have:
 *   - bytes_used <= capacity, num_planes <= RKV_MAX_PLANES;
 *   - every plane below num_planes inside bytes_used
 *     (offset + size <= bytes_used, without wrapping);
 *   - the planes from num_planes on all zero (offset, stride, size).
 * Raw formats (NV12, NV16, I420, YUYV, RGB24, BGR24, RGBA, GREY) must also
 * have:
 *   - exactly the format's number of planes (NV12, NV16: 2; I420: 3;
 *     the others: 1), width and height nonzero;
 *   - for each plane, with its rows and row bytes as the format subsamples
 *     them, odd sizes rounded up (e.g. NV12 chroma: ceil(height / 2) rows
 *     of 2 * ceil(width / 2) bytes; I420 chroma: ceil(height / 2) rows of
 *     ceil(width / 2) bytes; NV16 chroma: height rows of 2 * ceil(width / 2)
 *     bytes; YUYV: 4 * ceil(width / 2) bytes a row):
 *     stride >= row bytes and stride * (rows - 1) + row bytes <= size.
 * Encoded formats (JPEG, H264, BYTES) must have num_planes == 0; their
 * width and height are not judged. RKV_FMT_NONE and any fourcc this library
 * does not know get the generic checks only, so a reader accepts frames of
 * formats newer than itself (and must not interpret what it does not know).
 * Not judged: seq, timestamp_ns, flags, user, and the pad0 and reserved
 * words, which readers ignore (see the top of this file). Planes may
 * overlap. Returns 0 or -EINVAL. Consumers run this on every descriptor
 * they receive; producers on every descriptor they publish.
 */
int rkv_frame_check(const struct rkv_frame *f, uint64_t capacity);

/* "NV12", "JPEG", ... into @buf (at least 5 bytes); returns @buf. */
const char *rkv_fourcc_str(uint32_t fourcc, char buf[5]);

#ifdef __cplusplus
}
#endif

#endif /* RKV_FRAME_H */
