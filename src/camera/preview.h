/* SPDX-License-Identifier: MIT */
/*
 * camera/preview.h - the camera's preview branch (private): small JPEGs
 * of the camera's frames into "<pool>.preview", made by a worker thread
 * of its own (rkv/camera.h, "The preview", says what it promises).
 */
#ifndef RKV_CAMERA_PREVIEW_H
#define RKV_CAMERA_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <rkv/camera.h>

#include "camera/camera_private.h"

typedef struct rkv__preview rkv__preview;

struct rkv__preview_config {
	const char *pool;          /* the camera's pool, which the worker reads */
	uint32_t fourcc;           /* the camera's frames */
	uint32_t width, height;
	uint32_t bound_w, bound_h; /* rkv_camera_config.preview_width/height */
	uint32_t fps;              /* 0 = 10 */
	uint32_t quality;          /* 0 = 75 */
	uint32_t timestamp;        /* draw the capture's wall-clock time */
	uint32_t on;               /* start switched on */
	struct rkv__orient orient;
	const char *backend;       /* rkv_imgops_config.backend */
};

/*
 * Make the preview: its size, its image context, the pool "<pool>.preview"
 * and its worker thread. *@out owns them until rkv__preview_destroy().
 * Errors (@why says which): -EINVAL (a size, rate, quality or backend out
 * of range, a pool name with no room for ".preview"), -ENOTSUP (frames of
 * a format the image layer cannot read), what rkv_imgops_open(),
 * rkv_producer_create() and pthread_create() return.
 */
int rkv__preview_create(const struct rkv__preview_config *cfg, rkv__preview **out, char *why,
			size_t why_len);

/*
 * The capture thread published a frame captured at @ts (CLOCK_MONOTONIC
 * ns) into the camera's pool: hand it to the worker if a preview is due
 * and the worker idle, else count it skipped if due. Never waits; one
 * atomic load when the preview is not encoding. @pv may be NULL.
 */
void rkv__preview_frame(rkv__preview *pv, int64_t ts);

/* Switch on or off; any thread. */
void rkv__preview_set(rkv__preview *pv, int on);

/* The preview_* fields of @st; any thread. @pv may be NULL (zeroes). */
void rkv__preview_stats(rkv__preview *pv, struct rkv_camera_stats *st);

/* The preview's state for the status answer: a new object the caller
 * owns (state, size, rate, counters, the image backend and its counters). */
struct json_object *rkv__preview_json(rkv__preview *pv);

/* The worker's image context, for rkv_imgops_info() and
 * rkv_imgops_stats() from any thread (NULL: @pv is NULL). */
const rkv_imgops *rkv__preview_ops(const rkv__preview *pv);

/* 1 while the worker is attached to the camera's pool as a consumer, else
 * 0 (@pv NULL: 0): the consumers the camera itself accounts for. */
uint32_t rkv__preview_attached(rkv__preview *pv);

/* Stop the worker (it leaves the camera's pool), close the preview pool
 * and the image context. Before the camera's pool is destroyed. NULL is
 * fine. */
void rkv__preview_destroy(rkv__preview *pv);

#endif /* RKV_CAMERA_PREVIEW_H */
