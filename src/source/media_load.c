/* SPDX-License-Identifier: MIT */
/*
 * source/media_load.c - finding the media backend: which URIs are media,
 * and loading rkv-media.so (source/media.h says why it is a module).
 *
 * The module is loaded once per process, under pthread_once, and never
 * unloaded: GStreamer cannot be shut down and started again in one
 * process, and its threads may outlive any one source. A failure is
 * remembered too, with its reason, so every later open says the same.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "source/media.h"
#include "source/source.h"

#ifndef RKV_MEDIA_MODULE_PATH
#define RKV_MEDIA_MODULE_PATH "rkv-media.so"
#endif

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const struct rkv_source_ops *media_ops;
static char load_why[384];

/* The methods every media backend has: a table without them is refused. */
#define HAS_CORE(ops) \
	((ops)->size >= offsetof(struct rkv_source_ops, stats) + sizeof((ops)->stats) && \
	 (ops)->open && (ops)->next && (ops)->close)

static void load(void)
{
	const char *path = secure_getenv(RKV_MEDIA_ENV);
	const struct rkv_source_ops *ops;
	rkv_media_entry_fn entry;
	void *h;

	if (!path || !path[0])
		path = RKV_MEDIA_MODULE_PATH;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(load_why, sizeof(load_why),
			 "media source not available: %s (%s); it is built when GStreamer's "
			 "development files are installed (libgstreamer1.0-dev, "
			 "libgstreamer-plugins-base1.0-dev)",
			 path, e ? e : "cannot be loaded");
		return;
	}
	*(void **)&entry = dlsym(h, RKV_MEDIA_ENTRY);
	ops = entry ? entry(RKV_MEDIA_ABI, sizeof(struct rkv_source)) : NULL;
	if (!ops || !HAS_CORE(ops)) {
		snprintf(load_why, sizeof(load_why),
			 "media source not available: %s is not a media module of this build of "
			 "RKVision", path);
		dlclose(h);
		return;
	}
	media_ops = ops; /* h stays open for the life of the process */
}

const struct rkv_source_ops *rkv__source_media(char *why, size_t why_len)
{
	pthread_once(&load_once, load);
	if (!media_ops && why && why_len)
		snprintf(why, why_len, "%s", load_why);
	return media_ops;
}

int rkv__source_is_media(const char *uri)
{
	static const char *const exts[] = {
		".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mjpeg", ".mjpg",
		".ts", ".m2ts", ".mpg", ".mpeg", ".flv", ".ogv", ".h264", ".264", ".h265",
		".265", ".hevc",
	};
	const char *dot;

	if (!uri)
		return 0;
	if (strstr(uri, "://"))
		return 1;
	dot = strrchr(uri, '.');
	if (!dot || strchr(dot, '/'))
		return 0;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcasecmp(dot, exts[i]) == 0)
			return 1;
	return 0;
}
