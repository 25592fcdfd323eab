/* SPDX-License-Identifier: MIT */
/*
 * src/daemon/events.h - the daemon's event log, for GET /api/events.
 *
 * A bounded ring of the last events, each one JSON object with a sequence
 * number: {"seq": N, "time": "2026-12-02T01:02:03.456Z", "type": T,
 * "camera": C, ...}. Types: "camera_online", "camera_offline",
 * "process_restarted" (camera or algorithm), "snapshot_saved", "reload".
 * Posting never blocks on readers: a reader that falls more than the ring's
 * size behind misses the oldest events and is told how many (rkvd_events_next
 * returns the first sequence still kept).
 *
 * Thread-safe; 0 or a negative errno, nothing prints.
 */
#ifndef RKVD_EVENTS_H
#define RKVD_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct rkvd_events;

/* A log keeping the last @keep events (0: 256). */
int rkvd_events_new(size_t keep, struct rkvd_events **out);
void rkvd_events_free(struct rkvd_events *ev);

/*
 * Add an event of @type about @camera (NULL: none). @fields is NULL or
 * more members for the object, already JSON ("\"path\":\"/x.jpg\",\"seq\":4");
 * @type and @camera are escaped here. Returns the event's sequence (>= 1)
 * or a negative errno (-EINVAL, -ENOSPC when it exceeds RKVD_EVENT_MAX).
 */
#define RKVD_EVENT_MAX 1024
int64_t rkvd_events_post(struct rkvd_events *ev, const char *type,
			 const char *camera, const char *fields);

/*
 * The first event with a sequence > @after: waits up to @timeout_ns (-1:
 * forever, 0: not at all) for one. Copies its JSON (NUL-terminated) into
 * @buf and returns its sequence; -ETIMEDOUT when none came, -ENOSPC when
 * @buf is too small, -ECANCELED once rkvd_events_close() was called.
 */
int64_t rkvd_events_next(struct rkvd_events *ev, uint64_t after, char *buf,
			 size_t len, int64_t timeout_ns);

/* The newest sequence posted (0: none yet). */
uint64_t rkvd_events_last(struct rkvd_events *ev);

/* Wake every waiter with -ECANCELED, now and from now on (shutdown). */
void rkvd_events_close(struct rkvd_events *ev);

#endif
