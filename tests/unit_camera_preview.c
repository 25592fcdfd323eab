/* SPDX-License-Identifier: MIT */
/*
 * unit_camera_preview - the preview through the C API (rkv/camera.h): the
 * config's new fields and their checks, a config of the size before them,
 * the preview's size rule, rkv_camera_preview(), the stats' preview
 * fields, and the worker as a consumer of the camera's pool only while
 * somebody watches the preview.
 */
#include <pthread.h>

#include <rkv/camera.h>
#include <rkv/pool.h>

#include "test.h"

static void *run_camera(void *arg)
{
	rkv_camera_run(arg);
	return NULL;
}

static struct rkv_camera_config config(const char *name, uint32_t w, uint32_t h)
{
	struct rkv_camera_config cfg = {
		.size = sizeof(cfg),
		.name = name,
		.source = { .width = w, .height = h, .fps_num = 60 },
	};
	return cfg;
}

static struct rkv_camera_stats stats(rkv_camera *c)
{
	struct rkv_camera_stats st;
	CHECK_OK(rkv_camera_stats(c, &st, sizeof(st)));
	return st;
}

/* The preview's size for @bw x @bh of a @w x @h camera turned by @rot. */
static void size_of(const char *name, uint32_t w, uint32_t h, uint32_t bw, uint32_t bh,
		    uint32_t rot, uint32_t ew, uint32_t eh)
{
	struct rkv_camera_config cfg = config(name, w, h);
	rkv_camera *c;

	cfg.preview_width = bw;
	cfg.preview_height = bh;
	cfg.rotate = rot;
	CHECK_OK(rkv_camera_create(&cfg, &c));
	struct rkv_camera_stats st = stats(c);
	if (st.preview_width != ew || st.preview_height != eh)
		FAIL("%ux%u, bound %ux%u, rotate %u: %ux%u, expected %ux%u", w, h, bw, bh, rot,
		     st.preview_width, st.preview_height, ew, eh);
	rkv_camera_destroy(c);
}

int main(void)
{
	char name[64], pname[80];
	rkv_camera *c;

	test_watchdog(60);
	test_pool_name(name, sizeof(name), "pv");
	snprintf(pname, sizeof(pname), "%s.preview", name);

	/* A config of the size before the preview: no preview. */
	struct rkv_camera_config cfg = config(name, 320, 240);
	cfg.size = (uint32_t)offsetof(struct rkv_camera_config, preview_width);
	CHECK_OK(rkv_camera_create(&cfg, &c));
	CHECK_ERR(rkv_camera_preview(c, 1), ENOTSUP);
	struct rkv_camera_stats st = stats(c);
	CHECK_EQ(st.preview_width, 0);
	CHECK_EQ(st.preview_on, 0);
	rkv_camera_destroy(c);
	CHECK_ERR(rkv_camera_preview(NULL, 1), EINVAL);

	/* Checks. */
	cfg = config(name, 320, 240);
	cfg.size = sizeof(cfg) + 8;
	CHECK_ERR(rkv_camera_create(&cfg, &c), E2BIG);
	cfg = config(name, 320, 240);
	cfg.preview_width = 160;
	cfg.rotate = 45;
	CHECK_ERR(rkv_camera_create(&cfg, &c), EINVAL);
	cfg.rotate = 0;
	cfg.flip = 4;
	CHECK_ERR(rkv_camera_create(&cfg, &c), EINVAL);
	cfg.flip = 0;
	cfg.backend = "gpu";
	CHECK_ERR(rkv_camera_create(&cfg, &c), EINVAL);
	cfg.backend = "cpu";
	cfg.preview_quality = 101;
	CHECK_ERR(rkv_camera_create(&cfg, &c), EINVAL);
	cfg.preview_quality = 0;
	char longname[RKV_NAME_MAX + 1];
	memset(longname, 'p', RKV_NAME_MAX - 4);
	longname[RKV_NAME_MAX - 4] = '\0';
	cfg.pool = longname; /* no room for ".preview" */
	CHECK_ERR(rkv_camera_create(&cfg, &c), EINVAL);
	cfg.pool = NULL;
	cfg.source.fourcc = RKV_FMT_YUYV; /* fine: any format the image layer reads */
	CHECK_OK(rkv_camera_create(&cfg, &c));
	rkv_camera_destroy(c);

	/* The size rule: the aspect ratio kept inside the bound, never
	 * enlarged, sides even, swapped by 90 and 270. */
	size_of(name, 1280, 720, 320, 180, 0, 320, 180);
	size_of(name, 1280, 720, 640, 0, 0, 640, 360);
	size_of(name, 1280, 720, 0, 90, 0, 160, 90);
	size_of(name, 1280, 720, 640, 640, 0, 640, 360);
	size_of(name, 1280, 720, 400, 100, 0, 176, 100); /* height-bound: 177.7 -> 176 */
	size_of(name, 640, 480, 4000, 4000, 0, 640, 480);
	size_of(name, 1280, 720, 320, 180, 90, 180, 320);
	size_of(name, 1280, 720, 320, 180, 270, 180, 320);
	size_of(name, 1280, 720, 321, 0, 180, 320, 180);

	/* Running: the worker attaches only while somebody watches. */
	cfg = config(name, 640, 480);
	cfg.preview_width = 160;
	cfg.preview_fps = 30;
	cfg.backend = "cpu";
	cfg.flags = RKV_CAMERA_PREVIEW_OFF;
	CHECK_OK(rkv_camera_create(&cfg, &c));
	st = stats(c);
	CHECK_EQ(st.preview_on, 0);
	CHECK_EQ(st.preview_width, 160);
	CHECK_EQ(st.preview_height, 120);
	CHECK_EQ(st.preview_fps, 30);
	CHECK_EQ(st.preview_quality, 75);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, run_camera, c), 0);

	rkv_consumer *pc;
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_LATEST };
	CHECK_OK(rkv_consumer_attach(pname, &o, &pc));
	struct rkv_view v;
	CHECK_ERR(rkv_consumer_acquire(pc, &v, 600000000), ETIMEDOUT); /* off */
	CHECK_EQ(stats(c).preview_encoded, 0);
	CHECK_OK(rkv_camera_preview(c, 1));
	CHECK_OK(rkv_consumer_acquire(pc, &v, 3000000000LL));
	CHECK_EQ(v.frame.fourcc, RKV_FMT_JPEG);
	CHECK_EQ(v.frame.width, 160);
	CHECK_EQ(v.frame.height, 120);
	CHECK(v.frame.bytes_used > 100);
	CHECK(((const uint8_t *)v.data)[0] == 0xFF && ((const uint8_t *)v.data)[1] == 0xD8);
	CHECK_OK(rkv_consumer_release(pc, &v));
	/* counted once publish returned in the worker: maybe just after */
	int64_t until = test_now_ns() + 1000000000LL;
	while ((st = stats(c)).preview_encoded == 0 && test_now_ns() < until)
		usleep(1000);
	CHECK_EQ(st.preview_on, 1);
	CHECK_EQ(st.preview_active, 1);
	CHECK(st.preview_encoded >= 1);
	struct rkv_consumer_stats cs[4];
	int n = rkv_pool_stats(name, NULL, 0, cs, 4, sizeof(cs[0]));
	CHECK_EQ(n, 1);
	CHECK_STR(cs[0].label, "preview");
	CHECK_EQ(cs[0].policy, RKV_POLICY_LATEST);

	/* Nobody watching: the worker leaves the camera's pool. */
	rkv_consumer_detach(pc);
	until = test_now_ns() + 3000000000LL;
	while ((n = rkv_pool_stats(name, NULL, 0, cs, 4, sizeof(cs[0]))) != 0 && test_now_ns() < until)
		usleep(20000);
	CHECK_EQ(n, 0);
	CHECK_EQ(stats(c).preview_active, 0);
	uint64_t encoded = stats(c).preview_encoded;
	usleep(300000);
	CHECK_EQ(stats(c).preview_encoded, encoded);

	rkv_camera_stop(c);
	pthread_join(t, NULL);
	rkv_camera_destroy(c);
	return 0;
}
