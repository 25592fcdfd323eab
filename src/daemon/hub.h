/* SPDX-License-Identifier: MIT */
/*
 * src/daemon/hub.h - one reader of each camera's preview pool, sharing the
 * newest JPEG with every HTTP client that wants it (latest.jpg, MJPEG
 * streams).
 *
 * A camera's reader is a thread attached to "<camera>.preview" with policy
 * latest. It copies each JPEG it acquires into a reference-counted buffer
 * (struct rkvd_jpeg) and releases the slot at once, so the camera's slots
 * are never pinned by a client, however slow. Clients take a reference to
 * the newest buffer and send it at their own pace; one that is slow simply
 * finds a newer buffer when it comes back, and misses the ones in between.
 * The camera encodes previews only while a consumer is attached, so a
 * reader with no user for RKVD_HUB_IDLE_NS detaches and ends.
 *
 * Thread-safe; 0 or a negative errno, nothing prints.
 */
#ifndef RKVD_HUB_H
#define RKVD_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RKVD_HUB_IDLE_NS (10ll * 1000000000ll)
/* JPEGs larger than this in the preview pool are skipped (not a preview). */
#define RKVD_HUB_JPEG_MAX (8u << 20)

/* One JPEG, immutable once published; freed by the last rkvd_jpeg_put(). */
struct rkvd_jpeg {
	uint64_t seq;         /* the hub's own count, 1, 2, ... per camera */
	uint64_t frame_seq;   /* the preview frame's seq */
	uint32_t width, height;
	size_t len;
	int refs;             /* atomic */
	unsigned char data[];
};

void rkvd_jpeg_get(struct rkvd_jpeg *j);
void rkvd_jpeg_put(struct rkvd_jpeg *j);

struct rkvd_hub;

int rkvd_hub_new(struct rkvd_hub **out);
/* Stop every reader (waking every waiter with -ECANCELED) and free. */
void rkvd_hub_free(struct rkvd_hub *hub);
/* Wake every waiter with -ECANCELED from now on (before stopping HTTP). */
void rkvd_hub_close(struct rkvd_hub *hub);

/*
 * The newest JPEG of camera @camera's preview with a hub sequence greater
 * than @after, waiting up to @timeout_ns for one (0: do not wait). Starts
 * the camera's reader if it is not running. On success *@out holds a
 * reference (rkvd_jpeg_put()). Errors: -ETIMEDOUT (none newer in time),
 * -ENOENT (the reader could not attach: no preview pool, in which case it
 * does not wait for the timeout), -ECANCELED (closing), -EINVAL, -ENOMEM,
 * -EAGAIN (too many cameras' readers).
 */
int rkvd_hub_wait(struct rkvd_hub *hub, const char *camera, uint64_t after,
		  int64_t timeout_ns, struct rkvd_jpeg **out);

/*
 * The placeholder shown for a camera that is offline: a grey picture,
 * crossed out, made once (at rkvd_hub_new()). A reference (rkvd_jpeg_put()).
 */
struct rkvd_jpeg *rkvd_hub_placeholder(struct rkvd_hub *hub);

#endif
