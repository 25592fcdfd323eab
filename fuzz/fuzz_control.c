/* SPDX-License-Identifier: MIT */
/*
 * fuzz_control.c - the camera's control-request parser.
 *
 * Whatever bytes a client sends as a request, rkv__camera_request() must
 * answer with one NUL-terminated JSON object that says "ok", never crash,
 * and ask for a snapshot only with an absolute path that fits. The camera
 * is NULL here (answers come from defaults), which is what the parser
 * allows for this purpose.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include <rkv/control.h>

#include "camera/camera_private.h"
#include "fuzz_util.h"

static const char *const seeds[] = {
	"{\"cmd\":\"status\"}",
	"{\"cmd\":\"capture\",\"on\":true}",
	"{\"cmd\":\"capture\",\"on\":false}",
	"{\"cmd\":\"fps\",\"fps\":15}",
	"{\"cmd\":\"snapshot\",\"path\":\"/tmp/x.raw\"}",
	"{\"cmd\":\"status\",\"extra\":[1,2,{\"a\":null}]}",
};

size_t fuzz_seed_input(uint8_t *buf, size_t cap, unsigned variant)
{
	return fuzz_seed_text(seeds, sizeof(seeds) / sizeof(seeds[0]), buf, cap, variant);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[RKV_CONTROL_REPLY_MAX];
	struct rkv__save_req snap;
	struct json_object *o, *ok;

	memset(reply, 0xa5, 64);
	memset(&snap, 0xa5, sizeof(snap));
	if (rkv__camera_request(NULL, (const char *)data, size, reply, sizeof(reply), &snap)) {
		if (!memchr(snap.path, '\0', sizeof(snap.path)) || (snap.path[0] && snap.path[0] != '/'))
			fuzz_die("a snapshot was asked for with path \"%.80s\"", snap.path);
		return 0;
	}
	if (!memchr(reply, '\0', sizeof(reply)))
		fuzz_die("the answer is not NUL-terminated");
	o = json_tokener_parse(reply);
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean))
		fuzz_die("the answer is not a JSON object with \"ok\": %.200s", reply);
	json_object_put(o);
	return 0;
}
