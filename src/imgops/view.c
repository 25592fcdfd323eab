/* SPDX-License-Identifier: MIT */
/*
 * view.c - a pool frame into a caller's image: rkv_imgops_decode_view()
 * (rkv/imgops.h), for consumers of cameras that publish JPEG frames.
 *
 * The view's descriptor is the producer's word, and the producer may be
 * broken or hostile: it is checked again here against the view's own
 * capacity, and a JPEG's size is taken from its header, not from the
 * descriptor, before the decoder reads a byte of the picture.
 */
#include <errno.h>
#include <string.h>

#include <rkv/imgops.h>

int rkv_imgops_decode_view(rkv_imgops *ctx, const struct rkv_view *v, struct rkv_image *dst)
{
	struct rkv_image src;
	uint32_t w, h;
	int r;

	if (!ctx || !v || !dst || !v->data || rkv_frame_check(&v->frame, v->capacity) ||
	    v->frame.bytes_used > v->capacity)
		return -EINVAL;
	memset(&src, 0, sizeof(src));
	src.frame = v->frame;
	src.data = (void *)v->data; /* a source: only read */
	src.capacity = v->frame.bytes_used;
	src.fd = -1;
	if (v->frame.fourcc != RKV_FMT_JPEG)
		return rkv_imgops_transform(ctx, &src, dst, NULL);
	r = rkv_imgops_jpeg_size(ctx, v->data, v->frame.bytes_used, &w, &h);
	if (r)
		return r;
	if (w != v->frame.width || h != v->frame.height)
		return -EBADMSG;
	return rkv_imgops_jpeg_decode(ctx, &src, dst);
}
