/* SPDX-License-Identifier: MIT */
/*
 * imgops_json.c - an image context's backends and counters as JSON, for
 * the status answer's "imgops" objects (the preview's, the saver's, the
 * encoder's): camera/camera_private.h.
 */
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include <rkv/imgops.h>

#include "camera/camera_private.h"

struct json_object *rkv__imgops_json(const rkv_imgops *ops)
{
	static const char *const opn[] = { "transform", "jpeg_encode", "jpeg_decode", "png_encode" };
	static const char *const why[] = { "method", "format", "size", "align", "memory", "params",
					   "other" };
	struct rkv_imgops_info info;
	struct rkv_imgops_stats st;
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	struct json_object *calls = json_object_new_object(), *fb = json_object_new_object();
	struct json_object *errs = json_object_new_object(), *rs = json_object_new_object();
	uint64_t total = 0;

	memset(&info, 0, sizeof(info));
	memset(&st, 0, sizeof(st));
	rkv_imgops_info(ops, &info, sizeof(info));
	rkv_imgops_stats(ops, &st, sizeof(st));
	for (uint32_t i = 0; i < info.nbackends && i < RKV_IMGOPS_MAX_CHAIN; i++)
		json_object_array_add(a, json_object_new_string(info.backends[i]));
	json_object_object_add(o, "backend", json_object_new_string(info.nbackends ? info.backends[0] : ""));
	json_object_object_add(o, "chain", a);
	json_object_object_add(o, "refused", json_object_new_string(info.refused));
	for (uint32_t i = 0; i < sizeof(opn) / sizeof(opn[0]); i++) {
		json_object_object_add(calls, opn[i], json_object_new_int64((int64_t)st.calls[i]));
		json_object_object_add(errs, opn[i], json_object_new_int64((int64_t)st.errors[i]));
		json_object_object_add(fb, opn[i], json_object_new_int64((int64_t)st.fallbacks[i]));
		total += st.fallbacks[i];
	}
	for (uint32_t i = 0; i < sizeof(why) / sizeof(why[0]); i++)
		json_object_object_add(rs, why[i], json_object_new_int64((int64_t)st.reasons[i]));
	/* which backend did the work: {"cpu": {"transform": n, ...}, ...} */
	struct json_object *by = json_object_new_object();
	for (uint32_t b = 0; b < info.nbackends && b < RKV_IMGOPS_MAX_CHAIN; b++) {
		struct json_object *d = json_object_new_object();
		for (uint32_t i = 0; i < sizeof(opn) / sizeof(opn[0]); i++)
			json_object_object_add(d, opn[i], json_object_new_int64((int64_t)st.done_by[b][i]));
		json_object_object_add(by, info.backends[b], d);
	}
	json_object_object_add(o, "done_by", by);
	json_object_object_add(o, "calls", calls);
	json_object_object_add(o, "errors", errs);
	json_object_object_add(o, "fallbacks", json_object_new_int64((int64_t)total));
	json_object_object_add(o, "fallbacks_by_op", fb);
	json_object_object_add(o, "fallback_reasons", rs);
	return o;
}
