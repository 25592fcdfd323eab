/* SPDX-License-Identifier: MIT */
/*
 * preview.c - the camera's preview branch: its frames, downscaled, turned
 * and encoded as JPEG by a worker thread, into the pool "<pool>.preview".
 *
 * How the worker gets a frame. It attaches to the camera's own pool as an
 * in-process consumer with policy latest and max_held 1, and only while
 * the preview encodes (switched on, and somebody attached to the preview
 * pool); otherwise it is not there at all and costs the camera one atomic
 * load a frame. That is the simplest way that is correct on every path
 * the camera has (copy, zero-copy, copying into a lost device's buffers):
 * the pool's books protect the frame while the worker reads it, a
 * zero-copy buffer goes back to the driver when the worker releases it
 * like any consumer's, and the pool's slot budget counts the worker (1 in
 * the mailbox + 1 held), for which the camera makes its pool 2 slots
 * larger, so neither the driver nor the other consumers lose anything to
 * it. The alternatives are worse: the capture thread copying a 1080p
 * frame (3 MB) for the worker is the work the preview must keep off it,
 * and the worker holding the source's own buffer outside the pool's books
 * would need the camera to learn a second way of lending buffers.
 *
 * Pacing. The mailbox receives every frame the camera publishes, but the
 * worker takes one only when the capture thread hands it over: after a
 * publish, once a preview period has passed since the last frame due, if
 * the worker is idle (else that frame is counted skipped). The worker then
 * acquires what its mailbox holds (that frame, or a newer one), scales,
 * turns and converts it to I420 in one transform, gives it back at once,
 * draws the time, and encodes straight into a loaned slot of the preview
 * pool. A preview pool with no free slot (its consumers hold all of them)
 * skips the frame too.
 *
 * Whether anyone watches is looked at every CHECK_NS, by the worker
 * (rkv_producer_stats() of its own pool), and at once when switched.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rkv/imgops.h>
#include <rkv/pool.h>

#include "camera/preview.h"
#include "frame/font5x7.h"

#define CHECK_NS 200000000LL        /* how often the worker looks for viewers */
#define RETRY_NS 1000000000LL       /* after an attach failed */
#define ACQUIRE_NS 100000000LL      /* a handed frame is in the mailbox already */
#define PREVIEW_SLOTS 8u
#define SUFFIX ".preview"

struct rkv__preview {
	char src_pool[RKV_NAME_MAX + 1];
	char name[RKV_NAME_MAX + 1];
	uint32_t width, height;     /* the JPEGs' */
	uint32_t scaled_w, scaled_h; /* before the rotation */
	uint32_t fps, quality, timestamp;
	int64_t period_ns;
	struct rkv__orient orient;
	char backend[16];

	rkv_imgops *ops;            /* the worker's; stats from any thread */
	rkv_producer *p;            /* the preview pool: published by the worker */
	rkv_consumer *cons;         /* the worker's attachment to the camera's pool */
	uint8_t *img, *tmp;         /* I420 at the JPEG's size; a JPEG source's decode */
	uint64_t img_len, tmp_len;

	pthread_t thread;
	int started;
	atomic_uint ready;          /* attached: the capture thread may hand frames */
	int64_t last_due;           /* the capture thread's: the last frame due */

	pthread_mutex_t lock;       /* what follows; cond wakes the worker */
	pthread_cond_t cond;
	int quit, on, active, handed, busy;
	int64_t check_at, retry_at;
	uint64_t encoded, skipped, errors;
	char error[192];            /* the last failure, or "" */
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_error(rkv__preview *pv, const char *what, int err)
{
	pthread_mutex_lock(&pv->lock);
	snprintf(pv->error, sizeof(pv->error), "%s: %s", what, strerror(-err));
	pthread_mutex_unlock(&pv->lock);
}

/* ==== the size ============================================================== */

static uint32_t even_floor(uint64_t v)
{
	return v < 2 ? 2u : (uint32_t)(v & ~(uint64_t)1);
}

/*
 * The largest size of the frames' aspect ratio inside @bw x @bh (0: that
 * side free), never larger than the frames, sides even; before rotation.
 */
static void fit(uint32_t sw, uint32_t sh, uint32_t bw, uint32_t bh, uint32_t *w, uint32_t *h)
{
	uint64_t ow, oh;

	if (bw > sw)
		bw = sw; /* never enlarged */
	if (bh > sh)
		bh = sh;
	/* width-bound when the box is narrower than the frames' ratio */
	if (bw && (!bh || (uint64_t)bw * sh <= (uint64_t)bh * sw)) {
		ow = bw;
		oh = (uint64_t)sh * bw / sw;
	} else {
		oh = bh;
		ow = (uint64_t)sw * bh / sh;
	}
	*w = even_floor(ow);
	*h = even_floor(oh);
}

/* ==== the timestamp ========================================================= */

/*
 * Draw @text at the top left of I420 image @img (@w x @h, tight planes):
 * white 5x7 glyphs scaled by s (1 per 240 rows, less where the width
 * cannot take it) on a black box, grey chroma under the box, so the text
 * reads on any picture. Cut at the image's right edge.
 */
static void draw_text(uint8_t *img, uint32_t w, uint32_t h, const char *text)
{
	uint32_t n = (uint32_t)strlen(text), cells = n * (RKV__FONT_W + 1) + 1;
	uint32_t s = h / 240 + 1;
	while (s > 1 && (cells + 4) * s > w) /* as large as fits the width */
		s--;
	uint32_t x0 = 2 * s, y0 = 2 * s;
	uint32_t bw = cells * s, bh = (RKV__FONT_H + 2) * s;
	uint8_t *u = img + (size_t)w * h, *v = u + (size_t)(w / 2) * (h / 2);

	if (y0 + bh > h || x0 >= w)
		return;
	if (x0 + bw > w)
		bw = w - x0;
	for (uint32_t y = y0; y < y0 + bh; y++)
		memset(img + (size_t)y * w + x0, 16, bw);
	for (uint32_t y = y0 / 2; y < (y0 + bh) / 2; y++) {
		memset(u + (size_t)y * (w / 2) + x0 / 2, 128, bw / 2);
		memset(v + (size_t)y * (w / 2) + x0 / 2, 128, bw / 2);
	}
	for (uint32_t c = 0; c < n; c++) {
		const uint8_t *g = rkv__glyph5x7(text[c]);
		uint32_t cx = x0 + (c * (RKV__FONT_W + 1) + 1) * s;
		for (uint32_t fy = 0; fy < RKV__FONT_H; fy++)
			for (uint32_t fx = 0; fx < RKV__FONT_W; fx++) {
				if (!(g[fy] & (0x10u >> fx)))
					continue;
				uint32_t px = cx + fx * s, py = y0 + (fy + 1) * s;
				for (uint32_t dy = 0; dy < s; dy++)
					for (uint32_t dx = 0; dx < s && px + dx < w; dx++)
						img[(size_t)(py + dy) * w + px + dx] = 235;
			}
	}
}

/* The wall-clock time a frame captured at @ts (CLOCK_MONOTONIC) was
 * taken, as local "YYYY-MM-DD HH:MM:SS.mmm". */
static void capture_time(int64_t ts, char *out, size_t len)
{
	int64_t wall = clock_ns(CLOCK_REALTIME) - (clock_ns(CLOCK_MONOTONIC) - ts);
	time_t secs = (time_t)(wall / 1000000000);
	struct tm tm;

	localtime_r(&secs, &tm);
	snprintf(out, len, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall / 1000000 % 1000));
}

/* ==== the worker ============================================================ */

static void detach(rkv__preview *pv)
{
	atomic_store(&pv->ready, 0);
	rkv_consumer_detach(pv->cons);
	pv->cons = NULL;
}

static int attach(rkv__preview *pv)
{
	char err[160] = "";
	struct rkv_consumer_opts o = {
		.size = sizeof(o),
		.policy = RKV_POLICY_LATEST,
		.max_held = 1,
		.attach_timeout_ns = 1000000000LL,
		.label = "preview",
		.errbuf = err,
		.errbuf_len = sizeof(err),
	};
	int r = rkv_consumer_attach(pv->src_pool, &o, &pv->cons);

	if (r) {
		pv->cons = NULL;
		pthread_mutex_lock(&pv->lock);
		snprintf(pv->error, sizeof(pv->error), "cannot read pool '%s': %s", pv->src_pool,
			 err[0] ? err : strerror(-r));
		pthread_mutex_unlock(&pv->lock);
		return r;
	}
	atomic_store(&pv->ready, 1);
	return 0;
}

/* The frame in @v, scaled, turned and converted into pv->img (I420). */
static int picture(rkv__preview *pv, const struct rkv_view *v)
{
	/* The view's fd goes along: a hardware backend imports it. The box
	 * filter: a preview is a large reduction (1080p to 360p is 3x),
	 * where bilinear, sampling 2x2 source pixels per output pixel, skips
	 * rows and aliases fine detail; on the CPU backend it costs 0.36 ms
	 * against bilinear's 0.13 ms for that step (AMD EPYC, one core), next
	 * to 0.68 ms for the JPEG. */
	struct rkv_image src = { .frame = v->frame, .data = (void *)v->data,
				 .capacity = v->capacity, .fd = v->fd, .fd_offset = v->fd_offset };
	struct rkv_image dst, mid;
	struct rkv_transform t = { .rotate = pv->orient.rotate, .flip = pv->orient.flip,
				   .filter = RKV_FILTER_BOX };
	int r;

	rkv_imgops_image(&dst, RKV_FMT_I420, pv->width, pv->height, pv->img, pv->img_len);
	if (v->frame.fourcc != RKV_FMT_JPEG)
		return rkv_imgops_transform(pv->ops, &src, &dst, &t);
	/* An MJPEG camera: decode at the scaled size, then turn. */
	if (!pv->orient.rotate && !pv->orient.flip)
		return rkv_imgops_jpeg_decode(pv->ops, &src, &dst);
	rkv_imgops_image(&mid, RKV_FMT_I420, pv->scaled_w, pv->scaled_h, pv->tmp, pv->tmp_len);
	r = rkv_imgops_jpeg_decode(pv->ops, &src, &mid);
	if (r == 0) {
		t.filter = RKV_FILTER_BILINEAR;
		r = rkv_imgops_transform(pv->ops, &mid, &dst, &t);
	}
	return r;
}

/*
 * One preview, of the frame the capture thread handed over. Returns 1
 * (published), 0 (skipped: nothing in the mailbox, no free preview slot)
 * or a negative errno (an error, in pv->error).
 */
static int one(rkv__preview *pv)
{
	struct rkv_view v;
	struct rkv_loan l;
	struct rkv_image img, jpg;
	struct rkv_jpeg_params jp = { .quality = pv->quality };
	char when[64];
	int64_t ts;
	uint64_t seq;
	int r = rkv_consumer_acquire(pv->cons, &v, ACQUIRE_NS);

	if (r == -EAGAIN || r == -ETIMEDOUT || r == -EINTR)
		return 0;
	if (r) {
		/* The pool ended (the camera made it again on new buffers) or
		 * our lease did: attach again at the next look. */
		detach(pv);
		if (r != -EPIPE) {
			set_error(pv, "reading the camera's pool", r);
			return r;
		}
		return 0;
	}
	ts = v.frame.timestamp_ns;
	seq = v.frame.seq;
	r = picture(pv, &v);
	rkv_consumer_release(pv->cons, &v);
	if (r) {
		set_error(pv, "scaling the frame", r);
		return r;
	}
	if (pv->timestamp) {
		capture_time(ts, when, sizeof(when));
		draw_text(pv->img, pv->width, pv->height, when);
	}
	r = rkv_producer_loan(pv->p, &l, 0);
	if (r == -EAGAIN || r == -EBUSY)
		return 0;
	if (r) {
		set_error(pv, "loaning a preview slot", r);
		return r;
	}
	rkv_imgops_image(&img, RKV_FMT_I420, pv->width, pv->height, pv->img, pv->img_len);
	rkv_imgops_image(&jpg, RKV_FMT_JPEG, pv->width, pv->height, l.data, l.capacity);
	r = rkv_imgops_jpeg_encode(pv->ops, &img, &jpg, &jp);
	if (r == 0) {
		jpg.frame.seq = seq;
		jpg.frame.timestamp_ns = ts;
		jpg.frame.flags = RKV_FRAME_KEYFRAME;
		r = rkv_producer_publish(pv->p, &l, &jpg.frame);
		if (r == -EINTR)
			r = 0;
		if (r >= 0)
			return 1;
	}
	rkv_producer_cancel(pv->p, &l);
	set_error(pv, "encoding the preview", r);
	return r;
}

/* Attach or leave as the switch and the preview pool's consumers say.
 * Called with pv->lock held; drops it around the pool calls. */
static void look(rkv__preview *pv, int64_t now)
{
	struct rkv_pool_stats ps;
	int want;

	pv->check_at = now + CHECK_NS;
	want = pv->on && rkv_producer_stats(pv->p, &ps, sizeof(ps)) == 0 && ps.consumers > 0;
	pv->active = want;
	if (want && !pv->cons && now >= pv->retry_at) {
		pthread_mutex_unlock(&pv->lock);
		int r = attach(pv);
		pthread_mutex_lock(&pv->lock);
		if (r)
			pv->retry_at = now + RETRY_NS;
		else
			pv->error[0] = '\0';
	} else if (!want && pv->cons) {
		pthread_mutex_unlock(&pv->lock);
		detach(pv);
		pthread_mutex_lock(&pv->lock);
		pv->handed = 0;
	}
}

static void *worker(void *arg)
{
	rkv__preview *pv = arg;

	pthread_mutex_lock(&pv->lock);
	while (!pv->quit) {
		int64_t now = clock_ns(CLOCK_MONOTONIC);
		if (now >= pv->check_at)
			look(pv, now);
		if (pv->handed && pv->cons) {
			pv->handed = 0;
			pv->busy = 1;
			pthread_mutex_unlock(&pv->lock);
			int r = one(pv);
			pthread_mutex_lock(&pv->lock);
			pv->busy = 0;
			if (r > 0)
				pv->encoded++;
			else if (r == 0)
				pv->skipped++;
			else
				pv->errors++;
			continue;
		}
		struct timespec until = { .tv_sec = (time_t)(pv->check_at / 1000000000),
					  .tv_nsec = (long)(pv->check_at % 1000000000) };
		pthread_cond_timedwait(&pv->cond, &pv->lock, &until);
	}
	pthread_mutex_unlock(&pv->lock);
	if (pv->cons)
		detach(pv);
	return NULL;
}

/* ==== the camera's side ===================================================== */

void rkv__preview_frame(rkv__preview *pv, int64_t ts)
{
	if (!pv || !atomic_load_explicit(&pv->ready, memory_order_relaxed))
		return;
	/* Due once a period, with the camera's own 10% tolerance for jitter. */
	if (pv->last_due && ts - pv->last_due < pv->period_ns / 10 * 9)
		return;
	pv->last_due = ts;
	pthread_mutex_lock(&pv->lock);
	if (pv->busy || pv->handed) {
		pv->skipped++;
	} else {
		pv->handed = 1;
		pthread_cond_signal(&pv->cond);
	}
	pthread_mutex_unlock(&pv->lock);
}

void rkv__preview_set(rkv__preview *pv, int on)
{
	if (!pv)
		return;
	pthread_mutex_lock(&pv->lock);
	pv->on = !!on;
	pv->check_at = 0; /* look now */
	pthread_cond_signal(&pv->cond);
	pthread_mutex_unlock(&pv->lock);
}

uint32_t rkv__preview_attached(rkv__preview *pv)
{
	return pv ? atomic_load(&pv->ready) : 0;
}

void rkv__preview_stats(rkv__preview *pv, struct rkv_camera_stats *st)
{
	if (!pv)
		return;
	pthread_mutex_lock(&pv->lock);
	st->preview_encoded = pv->encoded;
	st->preview_skipped = pv->skipped;
	st->preview_errors = pv->errors;
	st->preview_on = (uint32_t)pv->on;
	st->preview_active = (uint32_t)pv->active;
	pthread_mutex_unlock(&pv->lock);
	st->preview_width = pv->width;
	st->preview_height = pv->height;
	st->preview_fps = pv->fps;
	st->preview_quality = pv->quality;
}

struct json_object *rkv__preview_json(rkv__preview *pv)
{
	struct rkv_camera_stats st;
	struct json_object *o = json_object_new_object();
	char error[sizeof(pv->error)];

	memset(&st, 0, sizeof(st));
	rkv__preview_stats(pv, &st);
	pthread_mutex_lock(&pv->lock);
	memcpy(error, pv->error, sizeof(error));
	pthread_mutex_unlock(&pv->lock);
	json_object_object_add(o, "pool", json_object_new_string(pv->name));
	json_object_object_add(o, "on", json_object_new_boolean((int)st.preview_on));
	json_object_object_add(o, "active", json_object_new_boolean((int)st.preview_active));
	json_object_object_add(o, "width", json_object_new_int64(pv->width));
	json_object_object_add(o, "height", json_object_new_int64(pv->height));
	json_object_object_add(o, "fps", json_object_new_int64(pv->fps));
	json_object_object_add(o, "quality", json_object_new_int64(pv->quality));
	json_object_object_add(o, "timestamp", json_object_new_boolean((int)pv->timestamp));
	json_object_object_add(o, "rotate", json_object_new_int64(pv->orient.rotate));
	json_object_object_add(o, "flip", json_object_new_string(
		pv->orient.flip == (RKV_FLIP_H | RKV_FLIP_V) ? "hv" :
		pv->orient.flip == RKV_FLIP_H ? "h" : pv->orient.flip == RKV_FLIP_V ? "v" : ""));
	json_object_object_add(o, "encoded", json_object_new_int64((int64_t)st.preview_encoded));
	json_object_object_add(o, "skipped", json_object_new_int64((int64_t)st.preview_skipped));
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)st.preview_errors));
	json_object_object_add(o, "error", json_object_new_string(error));
	json_object_object_add(o, "imgops", rkv__imgops_json(pv->ops));
	return o;
}

const rkv_imgops *rkv__preview_ops(const rkv__preview *pv)
{
	return pv ? pv->ops : NULL;
}

/* ==== create / destroy ====================================================== */

static int readable(uint32_t fourcc)
{
	switch (fourcc) {
	case RKV_FMT_NV12: case RKV_FMT_NV16: case RKV_FMT_I420: case RKV_FMT_YUYV:
	case RKV_FMT_RGB24: case RKV_FMT_BGR24: case RKV_FMT_RGBA: case RKV_FMT_JPEG:
		return 1;
	default:
		return 0;
	}
}

int rkv__preview_create(const struct rkv__preview_config *cfg, rkv__preview **out, char *why,
			size_t why_len)
{
	struct rkv_imgops_config ic = { .size = sizeof(ic), .backend = cfg->backend };
	rkv__preview *pv;
	char fcc[5];
	int r;

	*out = NULL;
	if ((!cfg->bound_w && !cfg->bound_h) || cfg->bound_w > RKV_IMGOPS_MAX_DIM ||
	    cfg->bound_h > RKV_IMGOPS_MAX_DIM || cfg->fps > 1000 || cfg->quality > 100 ||
	    !cfg->width || !cfg->height) {
		snprintf(why, why_len, "preview: a size up to %ux%u, fps 1 to 1000, quality 1 to 100",
			 RKV_IMGOPS_MAX_DIM, RKV_IMGOPS_MAX_DIM);
		return -EINVAL;
	}
	if (strlen(cfg->pool) + strlen(SUFFIX) > RKV_NAME_MAX) {
		snprintf(why, why_len, "preview: the pool's name leaves no room for \"%s\" (%d bytes "
			 "in all)", SUFFIX, RKV_NAME_MAX);
		return -EINVAL;
	}
	if (!readable(cfg->fourcc)) {
		rkv_fourcc_str(cfg->fourcc, fcc);
		snprintf(why, why_len, "preview: frames in %s cannot be previewed", fcc);
		return -ENOTSUP;
	}
	pv = calloc(1, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	pthread_mutex_init(&pv->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pv->cond, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(pv->src_pool, sizeof(pv->src_pool), "%s", cfg->pool);
	snprintf(pv->name, sizeof(pv->name), "%s%s", cfg->pool, SUFFIX);
	pv->fps = cfg->fps ? cfg->fps : 10;
	pv->quality = cfg->quality ? cfg->quality : 75;
	pv->period_ns = 1000000000LL / pv->fps;
	pv->timestamp = !!cfg->timestamp;
	pv->on = !!cfg->on;
	pv->orient = cfg->orient;
	fit(cfg->width, cfg->height, cfg->bound_w, cfg->bound_h, &pv->scaled_w, &pv->scaled_h);
	pv->width = pv->scaled_w;
	pv->height = pv->scaled_h;
	if (pv->orient.rotate == 90 || pv->orient.rotate == 270) {
		pv->width = pv->scaled_h;
		pv->height = pv->scaled_w;
	}
	pv->img_len = pv->tmp_len = (uint64_t)pv->width * pv->height * 3 / 2;
	pv->img = malloc(pv->img_len);
	pv->tmp = cfg->fourcc == RKV_FMT_JPEG ? malloc(pv->tmp_len) : NULL;
	if (!pv->img || (cfg->fourcc == RKV_FMT_JPEG && !pv->tmp)) {
		r = -ENOMEM;
		goto fail;
	}
	r = rkv_imgops_open(&ic, &pv->ops);
	if (r) {
		snprintf(why, why_len, "preview: image backend '%s': %s", cfg->backend ? cfg->backend : "auto",
			 strerror(-r));
		goto fail;
	}
	struct rkv_pool_opts po = {
		.size = sizeof(po),
		.slot_count = PREVIEW_SLOTS,
		.slot_capacity = rkv_imgops_jpeg_bound(pv->width, pv->height),
	};
	r = rkv_producer_create(pv->name, &po, &pv->p);
	if (r) {
		snprintf(why, why_len, r == -EADDRINUSE ? "pool '%s' has a live producer already"
						       : "cannot create pool '%s'", pv->name);
		goto fail;
	}
	/* The worker takes no signal: they are the camera's thread's. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&pv->thread, NULL, worker, pv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(why, why_len, "preview: cannot start its thread: %s", strerror(-r));
		goto fail;
	}
	pv->started = 1;
	*out = pv;
	return 0;
fail:
	rkv__preview_destroy(pv);
	return r;
}

void rkv__preview_destroy(rkv__preview *pv)
{
	if (!pv)
		return;
	if (pv->started) {
		pthread_mutex_lock(&pv->lock);
		pv->quit = 1;
		pthread_cond_signal(&pv->cond);
		pthread_mutex_unlock(&pv->lock);
		pthread_join(pv->thread, NULL);
	}
	rkv_producer_destroy(pv->p);
	rkv_imgops_close(pv->ops);
	free(pv->img);
	free(pv->tmp);
	pthread_cond_destroy(&pv->cond);
	pthread_mutex_destroy(&pv->lock);
	free(pv);
}
