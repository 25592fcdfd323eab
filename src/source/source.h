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
 * program that named nothing else of it would find no such backend. A
 * backend a build may leave out (the media backend needs GStreamer) is to
 * be referenced weakly, and rkv__source_pick() then says it is missing. */
extern const struct rkv_source_ops rkv__source_testpattern;
extern const struct rkv_source_ops rkv__source_v4l2;

/* Which backend serves @uri, and the part of it the backend reads (the
 * device path, the media URI). NULL when none does. */
const struct rkv_source_ops *rkv__source_pick(const char *uri, const char **rest);

#endif /* RKV_SOURCE_PRIVATE_H */
