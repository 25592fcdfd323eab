/* SPDX-License-Identifier: MIT */
/*
 * The preview hub (hub.h): one reader thread per camera in use, one mutex
 * and one condition variable for the lot. Previews are small (tens of KiB)
 * and come at most a few dozen times a second, so copying each one out of
 * its slot costs little and frees the camera's slot at once: no HTTP
 * client, however slow, ever holds a slot of the camera's pool.
 */
#include "hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rkv/imgops.h>
#include <rkv/pool.h>

#include <rkv/daemon.h>

#define HUB_READERS 32
#define PLACEHOLDER_W 320u
#define PLACEHOLDER_H 240u

struct reader {
	char camera[RKVD_NAME_MAX];   /* "" : unused */
	pthread_t thread;
	bool started;                 /* thread to join */
	bool running;                 /* thread alive and serving */
	int attach_err;               /* the last attach's error; 0 once attached */
	uint64_t seq;
	struct rkvd_jpeg *cur;
	int waiters;
	int64_t last_use_ns;
};

struct rkvd_hub {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool closed;
	struct reader readers[HUB_READERS];
	struct rkvd_jpeg *placeholder;
};

struct reader_arg {
	struct rkvd_hub *hub;
	struct reader *r;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static struct timespec deadline_ts(int64_t at_ns)
{
	struct timespec ts = { .tv_sec = at_ns / 1000000000ll, .tv_nsec = at_ns % 1000000000ll };
	return ts;
}

void rkvd_jpeg_get(struct rkvd_jpeg *j)
{
	atomic_fetch_add_explicit((_Atomic int *)&j->refs, 1, memory_order_relaxed);
}

void rkvd_jpeg_put(struct rkvd_jpeg *j)
{
	if (j && atomic_fetch_sub_explicit((_Atomic int *)&j->refs, 1, memory_order_acq_rel) == 1)
		free(j);
}

static struct rkvd_jpeg *jpeg_new(const void *data, size_t len)
{
	struct rkvd_jpeg *j = malloc(sizeof(*j) + len);
	if (!j)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->len = len;
	j->refs = 1;
	memcpy(j->data, data, len);
	return j;
}

/* ---- the reader thread ---------------------------------------------------- */

/* Whether @r has had no user for RKVD_HUB_IDLE_NS; ends it if so. Locked. */
static bool reader_idle(struct rkvd_hub *hub, struct reader *r)
{
	if (hub->closed || (r->waiters == 0 && now_ns() - r->last_use_ns > RKVD_HUB_IDLE_NS)) {
		r->running = false;
		return true;
	}
	return false;
}

static void publish(struct rkvd_hub *hub, struct reader *r, const struct rkv_view *v)
{
	struct rkvd_jpeg *j = jpeg_new(v->data, v->frame.bytes_used);
	if (!j)
		return;
	j->frame_seq = v->frame.seq;
	j->width = v->frame.width;
	j->height = v->frame.height;
	pthread_mutex_lock(&hub->lock);
	j->seq = ++r->seq;
	struct rkvd_jpeg *old = r->cur;
	r->cur = j;
	pthread_cond_broadcast(&hub->cond);
	pthread_mutex_unlock(&hub->lock);
	rkvd_jpeg_put(old);
}

static void *reader_main(void *p)
{
	struct reader_arg *arg = p;
	struct rkvd_hub *hub = arg->hub;
	struct reader *r = arg->r;
	char pool[RKVD_NAME_MAX + 16];
	rkv_consumer *c = NULL;

	free(arg);
	pthread_mutex_lock(&hub->lock);
	snprintf(pool, sizeof(pool), "%s.preview", r->camera);
	pthread_mutex_unlock(&hub->lock);
	for (;;) {
		if (!c) {
			struct rkv_consumer_opts o = {
				.size = sizeof(o),
				.policy = RKV_POLICY_LATEST,
				.attach_timeout_ns = 1000000000ll,
				.label = "rkvd-http",
			};
			int err = rkv_consumer_attach(pool, &o, &c);
			pthread_mutex_lock(&hub->lock);
			r->attach_err = err;
			pthread_cond_broadcast(&hub->cond);
			if (err) {
				c = NULL;
				/* Try again shortly while someone wants this camera. */
				struct timespec until = deadline_ts(now_ns() + 500000000ll);
				if (!hub->closed)
					pthread_cond_timedwait(&hub->cond, &hub->lock, &until);
			}
			bool idle = reader_idle(hub, r);
			pthread_mutex_unlock(&hub->lock);
			if (idle)
				break;
			continue;
		}
		struct rkv_view v;
		int err = rkv_consumer_acquire(c, &v, 500000000ll);
		if (err == 0) {
			if (v.data && v.frame.fourcc == RKV_FMT_JPEG && v.frame.bytes_used > 0 &&
			    v.frame.bytes_used <= RKVD_HUB_JPEG_MAX && v.frame.bytes_used <= v.capacity)
				publish(hub, r, &v);
			rkv_consumer_release(c, &v);
		} else if (err != -ETIMEDOUT && err != -EINTR && err != -EAGAIN && err != -EPROTO) {
			/* The camera went away (or evicted us): attach again. */
			rkv_consumer_detach(c);
			c = NULL;
		}
		pthread_mutex_lock(&hub->lock);
		bool idle = reader_idle(hub, r);
		pthread_mutex_unlock(&hub->lock);
		if (idle)
			break;
	}
	rkv_consumer_detach(c);
	return NULL;
}

/* Start (or find) @camera's reader. Locked. */
static int reader_get(struct rkvd_hub *hub, const char *camera, struct reader **out)
{
	struct reader *free_r = NULL;

	for (int i = 0; i < HUB_READERS; i++) {
		struct reader *r = &hub->readers[i];
		if (r->camera[0] && strcmp(r->camera, camera) == 0) {
			free_r = r;
			break;
		}
		/* A stopped reader with no waiters left can be taken over. */
		if (!free_r && (!r->camera[0] || (!r->running && r->waiters == 0)))
			free_r = r;
	}
	if (!free_r)
		return -EAGAIN;
	struct reader *r = free_r;
	if (r->running) {
		*out = r;
		return 0;
	}
	if (r->started) {
		/* It set running = false as its last act under the lock. */
		pthread_join(r->thread, NULL);
		r->started = false;
	}
	if (strcmp(r->camera, camera) != 0) {
		rkvd_jpeg_put(r->cur);
		r->cur = NULL;
		r->seq = 0;
		snprintf(r->camera, sizeof(r->camera), "%s", camera);
	}
	struct reader_arg *arg = malloc(sizeof(*arg));
	if (!arg)
		return -ENOMEM;
	arg->hub = hub;
	arg->r = r;
	r->attach_err = 0;
	r->last_use_ns = now_ns();
	r->running = true;
	int err = pthread_create(&r->thread, NULL, reader_main, arg);
	if (err) {
		free(arg);
		r->running = false;
		return -err;
	}
	r->started = true;
	*out = r;
	return 0;
}

int rkvd_hub_wait(struct rkvd_hub *hub, const char *camera, uint64_t after,
		  int64_t timeout_ns, struct rkvd_jpeg **out)
{
	struct reader *r;
	int err;

	if (!hub || !camera || !out || !camera[0] || strlen(camera) >= RKVD_NAME_MAX)
		return -EINVAL;
	int64_t until = now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
	struct timespec until_ts = deadline_ts(until);
	pthread_mutex_lock(&hub->lock);
	if (hub->closed) {
		err = -ECANCELED;
		goto out;
	}
	err = reader_get(hub, camera, &r);
	if (err)
		goto out;
	r->waiters++;
	for (;;) {
		if (hub->closed) {
			err = -ECANCELED;
			break;
		}
		if (r->cur && r->cur->seq > after) {
			rkvd_jpeg_get(r->cur);
			*out = r->cur;
			err = 0;
			break;
		}
		if (r->attach_err) {
			err = r->attach_err == -ENOENT || r->attach_err == -ETIMEDOUT ? -ENOENT
										   : r->attach_err;
			break;
		}
		if (!r->running) {
			/* It ended on idle between our calls: start it again. */
			r->waiters--;
			err = reader_get(hub, camera, &r);
			if (err)
				goto out;
			r->waiters++;
			continue;
		}
		if (now_ns() >= until) {
			err = -ETIMEDOUT;
			break;
		}
		pthread_cond_timedwait(&hub->cond, &hub->lock, &until_ts);
	}
	r->waiters--;
	r->last_use_ns = now_ns();
out:
	pthread_mutex_unlock(&hub->lock);
	return err;
}

/* ---- the placeholder ------------------------------------------------------- */

/* A grey I420 picture with a darker frame and both diagonals, as JPEG. */
static int make_placeholder(struct rkvd_jpeg **out)
{
	const uint32_t w = PLACEHOLDER_W, h = PLACEHOLDER_H;
	size_t ysz = (size_t)w * h, csz = (size_t)(w / 2) * (h / 2);
	uint8_t *pix = malloc(ysz + 2 * csz);
	uint64_t cap = rkv_imgops_jpeg_bound(w, h);
	uint8_t *jpg = malloc(cap);
	rkv_imgops *ops = NULL;
	struct rkv_image src, dst;
	int err = -ENOMEM;

	if (!pix || !jpg)
		goto out;
	memset(pix, 128, ysz);
	memset(pix + ysz, 128, 2 * csz);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			bool edge = x < 4 || y < 4 || x >= w - 4 || y >= h - 4;
			long d1 = (long)x * h - (long)y * w, d2 = (long)(w - 1 - x) * h - (long)y * w;
			bool diag = labs(d1) < 2l * w || labs(d2) < 2l * w;
			if (edge || diag)
				pix[(size_t)y * w + x] = 72;
		}
	struct rkv_imgops_config cfg = { .size = sizeof(cfg), .backend = "cpu" };
	err = rkv_imgops_open(&cfg, &ops);
	if (err)
		goto out;
	int64_t n = rkv_imgops_image(&src, RKV_FMT_I420, w, h, pix, ysz + 2 * csz);
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	rkv_imgops_image(&dst, RKV_FMT_JPEG, w, h, jpg, cap);
	struct rkv_jpeg_params q = { .quality = 80 };
	err = rkv_imgops_jpeg_encode(ops, &src, &dst, &q);
	if (err)
		goto out;
	*out = jpeg_new(jpg, dst.frame.bytes_used);
	if (!*out) {
		err = -ENOMEM;
		goto out;
	}
	(*out)->width = w;
	(*out)->height = h;
out:
	rkv_imgops_close(ops);
	free(pix);
	free(jpg);
	return err;
}

struct rkvd_jpeg *rkvd_hub_placeholder(struct rkvd_hub *hub)
{
	rkvd_jpeg_get(hub->placeholder);
	return hub->placeholder;
}

/* ---- life ---------------------------------------------------------------------- */

int rkvd_hub_new(struct rkvd_hub **out)
{
	if (!out)
		return -EINVAL;
	struct rkvd_hub *hub = calloc(1, sizeof(*hub));
	if (!hub)
		return -ENOMEM;
	int err = make_placeholder(&hub->placeholder);
	if (err) {
		free(hub);
		return err;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hub->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&hub->lock, NULL);
	*out = hub;
	return 0;
}

void rkvd_hub_close(struct rkvd_hub *hub)
{
	if (!hub)
		return;
	pthread_mutex_lock(&hub->lock);
	hub->closed = true;
	pthread_cond_broadcast(&hub->cond);
	pthread_mutex_unlock(&hub->lock);
}

void rkvd_hub_free(struct rkvd_hub *hub)
{
	if (!hub)
		return;
	rkvd_hub_close(hub);
	for (int i = 0; i < HUB_READERS; i++) {
		struct reader *r = &hub->readers[i];
		if (r->started)
			pthread_join(r->thread, NULL);
		rkvd_jpeg_put(r->cur);
	}
	rkvd_jpeg_put(hub->placeholder);
	pthread_cond_destroy(&hub->cond);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}
