/* SPDX-License-Identifier: MIT */
/*
 * common.h - the stand-ins' shared bookkeeping: the record, the failure
 * switches, and the layout of a picture a vendor API describes by
 * (stride, row count, format).
 */
#ifndef RKV_TESTS_STANDIN_COMMON_H
#define RKV_TESTS_STANDIN_COMMON_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rkv/imgops.h>

#include "standin.h"

#define EXPORT __attribute__((visibility("default")))

static pthread_mutex_t standin_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rkv_standin_record standin_rec;

/* Add @n to the counter at @field of the record. */
static inline void standin_count(uint64_t *field, int64_t n)
{
	pthread_mutex_lock(&standin_lock);
	*field += (uint64_t)n;
	pthread_mutex_unlock(&standin_lock);
}

/* Whether RKV_STANDIN_FAIL holds @word. */
static inline int standin_fails(const char *word)
{
	const char *s = getenv("RKV_STANDIN_FAIL");

	return s && strstr(s, word) != NULL;
}

EXPORT void rkv_standin_record(struct rkv_standin_record *out);
EXPORT void rkv_standin_record(struct rkv_standin_record *out)
{
	pthread_mutex_lock(&standin_lock);
	*out = standin_rec;
	pthread_mutex_unlock(&standin_lock);
}

/*
 * @img: @w x @h of @fourcc at @data, rows @stride bytes apart, luma
 * @hstride rows tall, chroma right after it (NV12/NV16 at the full
 * stride, I420 at half). Returns the bytes it spans.
 */
static inline uint64_t standin_image(struct rkv_image *img, uint32_t fourcc, uint32_t w,
				     uint32_t h, uint32_t stride, uint32_t hstride, void *data)
{
	struct rkv_frame *f = &img->frame;
	uint64_t luma = (uint64_t)stride * hstride, size;

	memset(img, 0, sizeof(*img));
	img->fd = -1;
	img->data = data;
	f->fourcc = fourcc;
	f->width = w;
	f->height = h;
	f->num_planes = 1;
	f->planes[0].stride = stride;
	f->planes[0].size = luma;
	size = luma;
	switch (fourcc) {
	case RKV_FMT_NV12:
		f->num_planes = 2;
		f->planes[1].offset = luma;
		f->planes[1].stride = stride;
		f->planes[1].size = luma / 2;
		size = luma + luma / 2;
		break;
	case RKV_FMT_NV16:
		f->num_planes = 2;
		f->planes[1].offset = luma;
		f->planes[1].stride = stride;
		f->planes[1].size = luma;
		size = 2 * luma;
		break;
	case RKV_FMT_I420:
		f->num_planes = 3;
		f->planes[1].offset = luma;
		f->planes[1].stride = stride / 2;
		f->planes[1].size = luma / 4;
		f->planes[2].offset = luma + luma / 4;
		f->planes[2].stride = stride / 2;
		f->planes[2].size = luma / 4;
		size = luma + luma / 2;
		break;
	}
	f->bytes_used = size;
	img->capacity = size;
	return size;
}

#endif /* RKV_TESTS_STANDIN_COMMON_H */
