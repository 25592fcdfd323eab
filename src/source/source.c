/* SPDX-License-Identifier: MIT */
/*
 * source.c - picking a source backend for a URI, and the calls every
 * backend is reached through (they check the state, so backends need not).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/internal.h"
#include "source/media.h"
#include "source/source.h"

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

const struct rkv_source_ops *rkv__source_pick(const char *uri, const char **rest, char *why,
					       size_t why_len)
{
	if (!uri || !uri[0] || strcmp(uri, "testpattern") == 0) {
		*rest = "";
		return &rkv__source_testpattern;
	}
	if (starts(uri, "testpattern:")) {
		*rest = uri + strlen("testpattern:");
		return &rkv__source_testpattern;
	}
	if (starts(uri, "v4l2:")) {
		*rest = uri + strlen("v4l2:");
		return &rkv__source_v4l2;
	}
	if (starts(uri, "/dev/")) {
		*rest = uri;
		return &rkv__source_v4l2;
	}
	*rest = uri;
	if (rkv__source_is_media(uri))
		return rkv__source_media(why, why_len);
	rkv__set_reason(why, why_len,
			"no source for '%s' (testpattern, v4l2:/dev/videoN, a media file or URI)",
			uri);
	return NULL;
}

/* A backend's method, or NULL where its table is too old to have it. */
#define HAS(ops, m) \
	((ops)->size >= offsetof(struct rkv_source_ops, m) + sizeof((ops)->m) && (ops)->m)

int rkv_source_open(const struct rkv_source_config *cfg_in, rkv_source **out,
		    struct rkv_source_info *info)
{
	static const struct rkv_source_config defaults = { 0 };
	struct rkv_source_config cfg;
	const struct rkv_source_ops *ops;
	const char *rest;
	rkv_source *s;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	r = rkv__copy_in(&cfg, sizeof(cfg), cfg_in ? cfg_in : &defaults, sizeof(cfg));
	if (r)
		return r;
	if (cfg.errbuf && cfg.errbuf_len)
		cfg.errbuf[0] = '\0'; /* no notes */
	if (cfg.fps_den == 0)
		cfg.fps_den = 1;
	if (cfg.fps_num == 0)
		cfg.fps_num = 30;
	if (cfg.buffers == 0)
		cfg.buffers = 4;
	if (cfg.buffers > 64 || cfg.width > 16384 || cfg.height > 16384 ||
	    (cfg.flags & ~(RKV_SOURCE_LOOP | RKV_SOURCE_NO_EXPORT)) ||
	    (cfg.uri && strlen(cfg.uri) >= sizeof(s->uri)) ||
	    (cfg.decoder && strlen(cfg.decoder) >= sizeof(s->decoder))) {
		rkv__set_reason(cfg.errbuf, cfg.errbuf_len, "invalid source configuration");
		return -EINVAL;
	}
	ops = rkv__source_pick(cfg.uri, &rest, cfg.errbuf, cfg.errbuf_len);
	if (!ops)
		return -ENOTSUP;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = ops;
	s->cfg = cfg;
	snprintf(s->uri, sizeof(s->uri), "%s", rest);
	snprintf(s->decoder, sizeof(s->decoder), "%s", cfg.decoder ? cfg.decoder : "");
	s->cfg.uri = s->uri;
	s->cfg.decoder = cfg.decoder ? s->decoder : NULL;
	r = ops->open(s, &s->cfg, &s->info);
	if (r) {
		free(s);
		return r;
	}
	snprintf(s->info.backend, sizeof(s->info.backend), "%s", ops->name);
	if (info)
		*info = s->info;
	*out = s;
	return 0;
}

int rkv_source_export(rkv_source *s, int *fds, uint64_t *offsets, uint32_t n)
{
	if (!s || !fds || n != s->info.nbufs || s->started)
		return -EINVAL;
	if (n == 0 || (s->cfg.flags & RKV_SOURCE_NO_EXPORT) || !HAS(s->ops, export_buffers))
		return -ENOTSUP;
	return s->ops->export_buffers(s, fds, offsets, n);
}

int rkv_source_export_ro(rkv_source *s, int *fds, uint32_t n)
{
	if (!s || !fds || n != s->info.nbufs || s->started)
		return -EINVAL;
	if (n == 0 || (s->cfg.flags & RKV_SOURCE_NO_EXPORT) || !HAS(s->ops, export_ro))
		return -ENOTSUP;
	return s->ops->export_ro(s, fds, n);
}

int rkv_source_start(rkv_source *s)
{
	int r;

	if (!s)
		return -EINVAL;
	if (s->started)
		return 0;
	r = HAS(s->ops, start) ? s->ops->start(s) : 0;
	if (r == 0)
		s->started = 1;
	return r;
}

int rkv_source_fd(rkv_source *s)
{
	if (!s)
		return -EINVAL;
	return HAS(s->ops, fd) ? s->ops->fd(s) : -ENOTSUP;
}

int rkv_source_next(rkv_source *s, struct rkv_source_frame *f, int64_t timeout_ns)
{
	int r;

	if (!s || !f)
		return -EINVAL;
	if (!s->started)
		return -EINVAL;
	r = s->ops->next(s, f, timeout_ns);
	if (r == 0)
		s->out++;
	return r;
}

int rkv_source_done(rkv_source *s, struct rkv_source_frame *f)
{
	int r;

	if (!s || !f || s->out == 0)
		return -EINVAL;
	r = HAS(s->ops, done) ? s->ops->done(s, f) : 0;
	if (r == 0)
		s->out--;
	return r;
}

int rkv_source_stop(rkv_source *s)
{
	int r;

	if (!s)
		return -EINVAL;
	if (!s->started)
		return 0;
	if (s->out)
		return -EBUSY;
	r = HAS(s->ops, stop) ? s->ops->stop(s) : 0;
	s->started = 0;
	return r;
}

int rkv_source_stats(rkv_source *s, struct rkv_source_stats *out, size_t size)
{
	struct rkv_source_stats st;
	int r;

	if (!s || !out)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	r = HAS(s->ops, stats) ? s->ops->stats(s, &st) : 0;
	if (r)
		return r;
	return rkv__copy_out(out, size, &st, sizeof(st), sizeof(st));
}

void rkv_source_close(rkv_source *s)
{
	if (!s)
		return;
	if (s->started && HAS(s->ops, stop))
		s->ops->stop(s);
	s->ops->close(s);
	free(s);
}
