/* SPDX-License-Identifier: MIT */
/*
 * The daemon's event log (events.h): a ring of JSON strings under one
 * mutex, with a condition variable for the readers (SSE clients) waiting
 * for the next one. Events are rare (a camera going offline, a snapshot),
 * so simplicity wins over anything lock-free.
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rkvd_events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t keep;
	uint64_t last;          /* sequence of the newest event; event s is at ring[s % keep] */
	bool closed;
	char (*ring)[RKVD_EVENT_MAX];
};

int rkvd_events_new(size_t keep, struct rkvd_events **out)
{
	if (!out)
		return -EINVAL;
	if (keep == 0)
		keep = 256;
	if (keep > 65536)
		return -EINVAL;
	struct rkvd_events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->ring = calloc(keep, sizeof(*ev->ring));
	if (!ev->ring) {
		free(ev);
		return -ENOMEM;
	}
	ev->keep = keep;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&ev->lock, NULL);
	*out = ev;
	return 0;
}

void rkvd_events_free(struct rkvd_events *ev)
{
	if (!ev)
		return;
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev->ring);
	free(ev);
}

/* @s as a JSON string (quotes included) at @out; returns the length or -1. */
static int json_str(char *out, size_t len, const char *s)
{
	size_t n = 0;
	if (n + 1 >= len)
		return -1;
	out[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char tmp[8];
		const char *put = tmp;
		size_t k;
		if (*p == '"' || *p == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*p;
			k = 2;
		} else if (*p < 0x20) {
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
		} else {
			tmp[0] = (char)*p;
			k = 1;
		}
		if (n + k + 1 >= len)
			return -1;
		memcpy(out + n, put, k);
		n += k;
	}
	if (n + 2 > len)
		return -1;
	out[n++] = '"';
	out[n] = '\0';
	return (int)n;
}

int64_t rkvd_events_post(struct rkvd_events *ev, const char *type,
			 const char *camera, const char *fields)
{
	if (!ev || !type || !*type)
		return -EINVAL;
	char t[128], c[128];
	if (json_str(t, sizeof(t), type) < 0 ||
	    json_str(c, sizeof(c), camera ? camera : "") < 0)
		return -ENOSPC;

	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	char when[40];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

	char line[RKVD_EVENT_MAX];
	pthread_mutex_lock(&ev->lock);
	uint64_t seq = ev->last + 1;
	int n = snprintf(line, sizeof(line),
			 "{\"seq\":%llu,\"time\":\"%s.%03ldZ\",\"type\":%s%s%s%s%s}",
			 (unsigned long long)seq, when, now.tv_nsec / 1000000, t,
			 camera ? ",\"camera\":" : "", camera ? c : "",
			 fields && *fields ? "," : "", fields ? fields : "");
	if (n < 0 || n >= RKVD_EVENT_MAX) {
		pthread_mutex_unlock(&ev->lock);
		return -ENOSPC;
	}
	/* The slot held event seq - keep, which readers may no longer ask
	 * for once seq is the newest. */
	memcpy(ev->ring[seq % ev->keep], line, (size_t)n + 1);
	ev->last = seq;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	return (int64_t)seq;
}

int64_t rkvd_events_next(struct rkvd_events *ev, uint64_t after, char *buf,
			 size_t len, int64_t timeout_ns)
{
	if (!ev || !buf || len == 0)
		return -EINVAL;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ns > 0) {
		dl.tv_sec += timeout_ns / 1000000000;
		dl.tv_nsec += timeout_ns % 1000000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&ev->lock);
	int64_t rc;
	for (;;) {
		if (ev->closed) {
			rc = -ECANCELED;
			break;
		}
		if (ev->last > after) {
			uint64_t first = ev->last >= ev->keep ? ev->last - ev->keep + 1 : 1;
			uint64_t seq = after + 1 < first ? first : after + 1;
			const char *e = ev->ring[seq % ev->keep];
			size_t n = strlen(e);
			if (n + 1 > len) {
				rc = -ENOSPC;
			} else {
				memcpy(buf, e, n + 1);
				rc = (int64_t)seq;
			}
			break;
		}
		if (timeout_ns == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		int w = timeout_ns < 0 ? pthread_cond_wait(&ev->cond, &ev->lock)
				       : pthread_cond_timedwait(&ev->cond, &ev->lock, &dl);
		if (w == ETIMEDOUT && ev->last <= after && !ev->closed) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&ev->lock);
	return rc;
}

uint64_t rkvd_events_last(struct rkvd_events *ev)
{
	if (!ev)
		return 0;
	pthread_mutex_lock(&ev->lock);
	uint64_t last = ev->last;
	pthread_mutex_unlock(&ev->lock);
	return last;
}

void rkvd_events_close(struct rkvd_events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->closed = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}
