/* SPDX-License-Identifier: MIT */
/*
 * camera_preview.c - the camera's preview on the zero-copy path, on vivid
 * inside the test VM (tests/vm/run.sh: /dev/video1, multi-planar,
 * dma-contig, whose buffers export as DMA-BUFs).
 *
 * The camera (in a thread of this process) runs zero-copy with a preview:
 * the driver gets 2 more buffers for the preview's worker; JPEGs of the
 * right (rotated) size come out of the preview pool, made from the
 * DMA-BUF slots; while the worker is attached, another consumer still
 * gets the budget it would have without a preview (slots - 1), and one
 * beyond it is refused; capture keeps its rate and the driver never
 * starves. A device lost while the preview is watched: the camera copies
 * into the lost device's buffers, and since the preview's worker is the
 * only consumer of its pool, goes back to zero-copy at once; the worker
 * attaches to the new pool and previews go on. With nobody watching, the
 * worker leaves the pool.
 *
 * Exits 0, 1 on the first failed check, 77 without vivid (on the host).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rkv/camera.h>
#include <rkv/pool.h>

#include "test.h"
/* vmtest.h's static helpers this program does not call are not unused
 * code of its own. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "vmtest.h"
#pragma GCC diagnostic pop

#define SEC 1000000000LL
#define SLOTS 4u

static int run_r;

static void *cam_main(void *arg)
{
	run_r = rkv_camera_run(arg);
	return NULL;
}

/* Previews keep coming: @n of them, each within 5 s. */
static void previews(rkv_consumer *pc, int n)
{
	for (int i = 0; i < n; i++) {
		struct rkv_view v;
		CHECK_OK(rkv_consumer_acquire(pc, &v, 5 * SEC));
		CHECK_EQ(v.frame.fourcc, RKV_FMT_JPEG);
		CHECK_EQ(v.frame.width, 240);
		CHECK_EQ(v.frame.height, 320);
		CHECK(((const uint8_t *)v.data)[0] == 0xFF && ((const uint8_t *)v.data)[1] == 0xD8);
		CHECK_OK(rkv_consumer_release(pc, &v));
	}
}

static struct rkv_camera_stats stats(rkv_camera *c)
{
	struct rkv_camera_stats st;

	CHECK_OK(rkv_camera_stats(c, &st, sizeof(st)));
	return st;
}

/* How many consumers of pool @name carry @label. */
static int labelled(const char *name, const char *label)
{
	struct rkv_consumer_stats cs[8];
	int n = rkv_pool_stats(name, NULL, 0, cs, 8, sizeof(cs[0])), k = 0;

	CHECK_INT(n, >=, 0);
	for (int i = 0; i < n && i < 8; i++)
		k += strcmp(cs[i].label, label) == 0;
	return k;
}

int main(void)
{
	char name[RKV_NAME_MAX + 1], pname[RKV_NAME_MAX + 16], err[512] = "";
	struct stat sb;
	rkv_camera *c;
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (stat(NODE_MP, &sb) < 0) {
		printf("no %s: not in the test VM\n", NODE_MP);
		return TEST_SKIP;
	}
	test_watchdog(120);
	test_pool_name(name, sizeof(name), "pvzc");
	snprintf(pname, sizeof(pname), "%s.preview", name);
	struct rkv_camera_config cfg = {
		.size = sizeof(cfg), .name = name, .slots = SLOTS,
		.source = { .size = sizeof(cfg.source), .uri = "v4l2:/dev/video1",
			    .fourcc = RKV_FMT_NV12, .width = 640, .height = 480, .fps_num = 25 },
		.errbuf = err, .errbuf_len = sizeof(err),
		.preview_width = 320, .preview_fps = 10, .rotate = 90, .backend = "cpu",
	};
	int r = rkv_camera_create(&cfg, &c);
	if (r)
		FAIL("camera: %d (%s): %s", r, strerror(-r), err);
	struct rkv_camera_stats st = stats(c);
	printf("path: %s\n", st.path);
	CHECK_EQ(st.zero_copy, 1);
	CHECK_EQ(st.buffers, SLOTS + 2 + 2); /* the driver's 2, the preview's 2 */
	CHECK_EQ(st.preview_width, 240);
	CHECK_EQ(st.preview_height, 320);
	CHECK_EQ(pthread_create(&t, NULL, cam_main, c), 0);

	/* JPEGs made from the DMA-BUF slots. */
	rkv_consumer *pc;
	struct rkv_consumer_opts po = { .policy = RKV_POLICY_LATEST };
	CHECK_OK(rkv_consumer_attach(pname, &po, &pc));
	previews(pc, 5);
	CHECK_EQ(labelled(name, "preview"), 1);

	/* Another consumer keeps the budget it had without a preview. */
	char why[256] = "";
	rkv_consumer *big, *more;
	struct rkv_consumer_opts bo = { .policy = RKV_POLICY_DROP, .queue_depth = SLOTS - 2,
					.max_held = 1, .label = "big" };
	CHECK_OK(rkv_consumer_attach(name, &bo, &big));
	struct rkv_consumer_opts mo = { .policy = RKV_POLICY_LATEST, .errbuf = why,
					.errbuf_len = sizeof(why) };
	CHECK_ERR(rkv_consumer_attach(name, &mo, &more), ENOSPC);
	printf("a consumer beyond the budget: %s\n", why);

	/* It holds a frame and lets its queue fill; the preview worker holds
	 * its own: capture keeps its rate, the driver never starves, and
	 * previews keep coming. */
	struct rkv_view held;
	CHECK_OK(rkv_consumer_acquire(big, &held, 5 * SEC));
	struct rkv_camera_stats a = stats(c);
	int64_t until, t0 = test_now_ns();
	previews(pc, 10);
	/* The worker counts a preview just after publishing it: the tenth
	 * may be read before it is counted. */
	struct rkv_camera_stats b = stats(c);
	until = test_now_ns() + 2 * SEC;
	while (b.preview_encoded - a.preview_encoded < 10 && test_now_ns() < until) {
		usleep(1000);
		b = stats(c);
	}
	double secs = (double)(test_now_ns() - t0) / 1e9;
	double rate = (double)(b.published - a.published) / secs;
	printf("with a full consumer and the preview: publish %.1f fps, previews %" PRIu64
	       " (skipped %" PRIu64 "), starved %" PRIu64 ", held %u\n", rate,
	       b.preview_encoded - a.preview_encoded, b.preview_skipped, b.starved, b.held);
	CHECK(rate > 20);
	CHECK_EQ(b.starved, 0);
	CHECK_UINT(b.preview_encoded - a.preview_encoded, >=, 10);
	CHECK_OK(rkv_consumer_release(big, &held));
	rkv_consumer_detach(big);

	/* The device lost while the preview is watched. */
	ctl_set(NODE_MP, "Disconnect", 0);
	until = test_now_ns() + 10 * SEC;
	while (((st = stats(c)).source_errors < 1 || !st.zero_copy) && test_now_ns() < until)
		usleep(20000);
	printf("after a disconnect: errors %" PRIu64 ", reopens %" PRIu64 ", %s\n", st.source_errors,
	       st.reopens, st.path);
	CHECK_EQ(st.source_errors, 1);
	CHECK_EQ(st.zero_copy, 1);
	previews(pc, 5);
	CHECK_EQ(labelled(name, "preview"), 1);

	/* Nobody watching: the worker leaves. */
	rkv_consumer_detach(pc);
	until = test_now_ns() + 3 * SEC;
	while (labelled(name, "preview") && test_now_ns() < until)
		usleep(20000);
	CHECK_EQ(labelled(name, "preview"), 0);
	CHECK_EQ(stats(c).preview_active, 0);

	rkv_camera_stop(c);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_OK(run_r);
	rkv_camera_destroy(c);
	printf("camera_preview: ok\n");
	return 0;
}
