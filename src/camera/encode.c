/* SPDX-License-Identifier: MIT */
/*
 * encode.c - a camera that publishes its frames JPEG-encoded (rkv-camera
 * --encode jpeg): the encoder thread (camera/save.h).
 *
 * Why a thread: a 1080p JPEG costs ~4 ms of CPU. On the capture thread
 * that would delay every dequeue and every control answer by as much, and
 * a slower frame (a larger size, a busier board) would make capture itself
 * fall behind. Here the capture thread copies the frame (one memcpy,
 * ~0.3 ms for 1080p NV12) into a spare buffer and goes on; the encoder
 * thread loans a slot, encodes straight into it and publishes it. Three
 * buffers: the capture thread's spare, the one waiting, the one being
 * encoded. A frame that arrives while one is still waiting replaces it
 * (stats.encode_skipped): when encoding is slower than the source, the
 * pool gets the newest frames at the rate the CPU allows, and capture is
 * never held up. The encoder is the producer handle's only user once the
 * camera runs (the camera thread then calls rkv_producer_stats() alone,
 * which any thread may), and a publish that waits for a block consumer
 * waits in this thread, not in capture.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rkv/imgops.h>

#include "camera/save.h"

#define NBUF 3

struct buf {
	struct rkv_frame frame;
	uint8_t *data;
	size_t cap;
};

struct rkv__encoder {
	rkv_producer *p;
	uint32_t quality;
	rkv_imgops *ops;           /* the encoder thread's */
	struct buf bufs[NBUF];
	int spare;                 /* the capture thread's */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending, working;      /* -1: none */
	int stop, started;
	uint64_t encoded, skipped, failed;
	pthread_t thread;
};

void rkv__encoder_frame(rkv__encoder *e, const struct rkv_frame *f, const void *data)
{
	struct buf *b = &e->bufs[e->spare];
	int next = -1;

	if (b->cap < f->bytes_used) {
		free(b->data);
		b->cap = 0;
		b->data = malloc(f->bytes_used);
		if (!b->data) {
			pthread_mutex_lock(&e->lock);
			e->failed++;
			pthread_mutex_unlock(&e->lock);
			return;
		}
		b->cap = f->bytes_used;
	}
	memcpy(b->data, data, f->bytes_used);
	b->frame = *f;
	pthread_mutex_lock(&e->lock);
	if (e->pending >= 0) { /* not taken yet: replaced by this newer one */
		e->skipped++;
		next = e->pending;
	} else {
		for (int i = 0; i < NBUF && next < 0; i++)
			if (i != e->spare && i != e->working)
				next = i;
	}
	e->pending = e->spare;
	e->spare = next;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* Encode @b into a loaned slot and publish it; 0 or -errno. */
static int encode_one(rkv__encoder *e, const struct buf *b)
{
	struct rkv_image src = { .frame = b->frame, .data = b->data, .capacity = b->cap, .fd = -1 };
	struct rkv_image dst;
	struct rkv_jpeg_params jp = { .quality = e->quality };
	struct rkv_loan l;
	int r = rkv_producer_loan(e->p, &l, 0);

	if (r)
		return r; /* every slot is in consumers' hands: this frame is not published */
	rkv_imgops_image(&dst, RKV_FMT_JPEG, b->frame.width, b->frame.height, l.data, l.capacity);
	r = rkv_imgops_jpeg_encode(e->ops, &src, &dst, &jp);
	if (r == 0) {
		dst.frame.seq = b->frame.seq;
		dst.frame.timestamp_ns = b->frame.timestamp_ns;
		dst.frame.flags = b->frame.flags | RKV_FRAME_KEYFRAME;
		dst.frame.user = b->frame.user;
		r = rkv_producer_publish(e->p, &l, &dst.frame);
		if (r >= 0 || r == -EINTR)
			return 0;
	}
	rkv_producer_cancel(e->p, &l);
	return r;
}

static void *encoder(void *arg)
{
	rkv__encoder *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->stop && e->pending < 0)
			pthread_cond_wait(&e->cond, &e->lock);
		if (e->stop)
			break;
		e->working = e->pending;
		e->pending = -1;
		pthread_mutex_unlock(&e->lock);
		int r = encode_one(e, &e->bufs[e->working]);
		pthread_mutex_lock(&e->lock);
		if (r)
			e->failed++;
		else
			e->encoded++;
		e->working = -1;
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int rkv__encoder_open(rkv__encoder **out, rkv_producer *p, uint32_t quality,
		      const char *backend)
{
	struct rkv_imgops_config oc = { .backend = backend ? backend : "auto" };
	rkv__encoder *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	e->p = p;
	e->quality = quality;
	e->pending = e->working = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	r = rkv_imgops_open(&oc, &e->ops);
	if (r == 0) {
		r = -pthread_create(&e->thread, NULL, encoder, e);
		e->started = r == 0;
	}
	if (r) {
		rkv__encoder_close(e);
		return r;
	}
	*out = e;
	return 0;
}

void rkv__encoder_close(rkv__encoder *e)
{
	if (!e)
		return;
	if (e->started) {
		pthread_mutex_lock(&e->lock);
		e->stop = 1;
		pthread_cond_signal(&e->cond);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->thread, NULL);
	}
	for (int i = 0; i < NBUF; i++)
		free(e->bufs[i].data);
	rkv_imgops_close(e->ops);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void rkv__encoder_stats(rkv__encoder *e, uint64_t *encoded, uint64_t *skipped, uint64_t *failed)
{
	pthread_mutex_lock(&e->lock);
	*encoded = e->encoded;
	*skipped = e->skipped;
	*failed = e->failed;
	pthread_mutex_unlock(&e->lock);
}

const rkv_imgops *rkv__encoder_ops(const rkv__encoder *e)
{
	return e->ops;
}
