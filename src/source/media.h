/* SPDX-License-Identifier: MIT */
/*
 * source/media.h - the contract between librkv and the media module
 * (private).
 *
 * The media backend (source/media.c) needs GStreamer, and librkv depends
 * on libc alone, so the backend is a module of its own, rkv-media.so, that
 * source/media_load.c opens with dlopen the first time a media URI is
 * opened. The module exports one function, RKV_MEDIA_ENTRY, which returns
 * the backend's ops table when the caller was built against the same
 * contract (@abi and the size of struct rkv_source, which the backend
 * reaches into), and NULL otherwise.
 */
#ifndef RKV_SOURCE_MEDIA_H
#define RKV_SOURCE_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/source.h>

/* Bump when struct rkv_source or what the module may rely on changes. */
#define RKV_MEDIA_ABI 1u
#define RKV_MEDIA_ENTRY "rkv_media_source_ops"
/* The environment variable naming the module to load (the build tree's,
 * in tests), instead of RKV_MEDIA_MODULE_PATH, where it is installed. */
#define RKV_MEDIA_ENV "RKV_MEDIA_MODULE"

typedef const struct rkv_source_ops *(*rkv_media_entry_fn)(uint32_t abi, size_t source_size);

/* The module's entry (exported by rkv-media.so, not by librkv). */
const struct rkv_source_ops *rkv_media_source_ops(uint32_t abi, size_t source_size);

/* librkv's side: the media backend's ops, loading the module the first
 * time (thread-safe; the module stays loaded for the life of the process).
 * NULL when it cannot be had, with the reason in @why. */
const struct rkv_source_ops *rkv__source_media(char *why, size_t why_len);

/* Does @uri name media: a "scheme://" URI or a path ending in a media
 * file's extension? 1 or 0. */
int rkv__source_is_media(const char *uri);

#endif /* RKV_SOURCE_MEDIA_H */
