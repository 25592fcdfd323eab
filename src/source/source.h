/* SPDX-License-Identifier: MIT */
/*
 * source/source.h - what the source backends share (private).
 */
#ifndef RKV_SOURCE_PRIVATE_H
#define RKV_SOURCE_PRIVATE_H

#include <rkv/source.h>

struct rkv_source {
	const struct rkv_source_ops *ops;
	void *priv;                     /* the backend's state */
	struct rkv_source_config cfg;   /* a copy; uri and decoder point into this struct */
	char uri[512];
	char decoder[128];
	struct rkv_source_info info;
	int started;
	int out;                        /* frames handed out, not yet done */
};

/* The built-in backends. The test pattern and V4L2 are in every build and
 * referenced strongly: a weak reference does not make the linker take a
 * backend's object out of a static library (the tests link one), so a
 * program that named nothing else of it would find no such backend. The
 * media backend needs GStreamer: it is a module loaded at run time
 * (source/media.h), and rkv__source_pick() says so when it is missing. */
extern const struct rkv_source_ops rkv__source_testpattern;
extern const struct rkv_source_ops rkv__source_v4l2;

/* Which backend serves @uri, and the part of it the backend reads (the
 * device path, the media URI); for media, this loads the media module.
 * NULL when none does or it cannot be loaded, with the reason in @why. */
const struct rkv_source_ops *rkv__source_pick(const char *uri, const char **rest, char *why,
					       size_t why_len);

#endif /* RKV_SOURCE_PRIVATE_H */
