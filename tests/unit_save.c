/* SPDX-License-Identifier: MIT */
/*
 * unit_save - the camera's saver (src/camera/save.c) through its private
 * interface, for what the camera cannot show from outside yet: JPEG and
 * PNG saves turned as the camera's orientation says (every rotation and
 * flip: a PNG equals the frame transformed by rkv_imgops_transform, to the
 * byte), raw saves as captured, and bad orientations refused.
 * save_test.py checks the rest end to end, through rkv-camera.
 */
#include <errno.h>
#include <inttypes.h>
#include <png.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <rkv/imgops.h>

#include "camera/save.h"
#include "test.h"

#define W 64u
#define H 48u

/* One request for frame @f, answered: the answer's JSON. */
static struct json_object *save_one(rkv__saver *s, const struct rkv__save_req *req,
				    const struct rkv_frame *f, const void *data)
{
	char reply[4096];
	uint64_t tag = 0;
	struct pollfd pfd = { .fd = rkv__saver_fd(s), .events = POLLIN };

	CHECK_OK(rkv__saver_want(s, req, 7, (int64_t)f->seq - 1, reply, sizeof(reply)));
	rkv__saver_frame(s, f, data);
	for (int k = 0; k < 100 && !rkv__saver_answer(s, &tag, reply, sizeof(reply)); k++)
		CHECK(poll(&pfd, 1, 5000) == 1);
	CHECK_EQ(tag, 7);
	struct json_object *o = json_tokener_parse(reply);
	CHECK(o);
	return o;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

int main(void)
{
	static const uint32_t rots[] = { 0, 90, 180, 270 };
	char dir[] = "/tmp/rkv-unit-save.XXXXXX", why[256], path[600];
	struct rkv_camera_save cfg = { .size = sizeof(cfg) };
	uint8_t frame[W * H * 3 / 2];
	struct rkv_image src;
	rkv_imgops *ops;
	rkv__saver *s;

	test_watchdog(120);
	CHECK(mkdtemp(dir));
	cfg.dir = dir;
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7 + i / W * 13);
	CHECK_EQ(rkv_imgops_image(&src, RKV_FMT_NV12, W, H, frame, sizeof(frame)), sizeof(frame));
	CHECK_OK(rkv_imgops_open(NULL, &ops));

	for (size_t r = 0; r < 4; r++)
		for (uint32_t flip = 0; flip < 4; flip++) {
			struct rkv__save_req req = { .format = RKV_FMT_PNG, .quality = 1 };
			struct rkv_transform t = { .rotate = rots[r], .flip = flip };
			int quarter = rots[r] == 90 || rots[r] == 270;
			uint32_t ow = quarter ? H : W, oh = quarter ? W : H;
			struct json_object *o;

			CHECK_OK(rkv__saver_open(&s, "cam", &cfg, rots[r], flip, "cpu", why, sizeof(why)));
			snprintf(req.path, sizeof(req.path), "%s/t.png", dir);
			src.frame.seq = 10 + r * 4 + flip;
			o = save_one(s, &req, &src.frame, frame);
			if (strcmp(jstr(o, "format"), "png") || jint(o, "width") != ow ||
			    jint(o, "height") != oh)
				FAIL("rotate %u flip %u: %s", rots[r], flip,
				     json_object_to_json_string(o));
			json_object_put(o);

			/* the PNG is the frame transformed, to the byte */
			png_image pi;
			memset(&pi, 0, sizeof(pi));
			pi.version = PNG_IMAGE_VERSION;
			CHECK(png_image_begin_read_from_file(&pi, req.path));
			CHECK_EQ(pi.width, ow);
			CHECK_EQ(pi.height, oh);
			pi.format = PNG_FORMAT_RGB;
			uint8_t got[W * H * 3], want[W * H * 3];
			CHECK(png_image_finish_read(&pi, NULL, got, 0, NULL));
			struct rkv_image ref;
			rkv_imgops_image(&ref, RKV_FMT_RGB24, ow, oh, want, sizeof(want));
			CHECK_OK(rkv_imgops_transform(ops, &src, &ref, &t));
			if (memcmp(got, want, sizeof(want)) != 0)
				FAIL("rotate %u flip %u: the PNG is not the frame turned", rots[r], flip);

			/* a JPEG turns too; raw is the frame as captured */
			req.format = RKV_FMT_JPEG;
			req.quality = 90;
			snprintf(req.path, sizeof(req.path), "%s/t.jpg", dir);
			src.frame.seq += 100;
			o = save_one(s, &req, &src.frame, frame);
			CHECK_EQ(jint(o, "width"), ow);
			CHECK_EQ(jint(o, "height"), oh);
			json_object_put(o);
			req.format = 0;
			snprintf(req.path, sizeof(req.path), "%s/t.raw", dir);
			src.frame.seq += 100;
			o = save_one(s, &req, &src.frame, frame);
			CHECK_EQ(jint(o, "width"), W);
			CHECK_EQ(jint(o, "bytes"), sizeof(frame));
			json_object_put(o);
			rkv__saver_close(s);
		}

	CHECK_ERR(rkv__saver_open(&s, "cam", &cfg, 45, 0, NULL, why, sizeof(why)), EINVAL);
	CHECK_ERR(rkv__saver_open(&s, "cam", &cfg, 0, 4, NULL, why, sizeof(why)), EINVAL);
	rkv_imgops_close(ops);
	static const char *names[] = { "t.png", "t.jpg", "t.raw" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		CHECK_OK(unlink(path) ? -errno : 0);
	}
	CHECK_OK(rmdir(dir) ? -errno : 0);
	printf("unit_save: ok\n");
	return 0;
}
