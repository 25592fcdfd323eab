/* SPDX-License-Identifier: MIT */
/*
 * unit_source_v4l2.c - the V4L2 source where there is no camera (the host,
 * CI): opening a device that is not there, or a file that is not a V4L2
 * device, fails with a clear reason; and the JPEG completeness check that
 * drops truncated MJPEG frames (vivid, the VM tests' device, has no MJPEG).
 * Streaming from real devices is tests/vm/source_v4l2.c.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <rkv/source.h>

#include "source/v4l2.h"
#include "test.h"

static int open_err(const char *uri, char *err, size_t len)
{
	struct rkv_source_config cfg = { .size = sizeof(cfg), .uri = uri, .errbuf = err,
					 .errbuf_len = len };
	struct rkv_source_info info;
	rkv_source *s = (rkv_source *)&cfg; /* must be cleared on failure */
	int r;

	if (err)
		memset(err, 0, len);
	r = rkv_source_open(&cfg, &s, &info);
	CHECK(r != 0 || s != NULL);
	if (r == 0)
		rkv_source_close(s);
	else
		CHECK(s == NULL);
	return r;
}

static void test_missing(void)
{
	char err[256];
	struct stat st;

	if (stat("/dev/video0", &st) == 0) {
		printf("this machine has /dev/video0: its ENOENT case is skipped\n");
	} else {
		CHECK_EQ(open_err("v4l2:/dev/video0", err, sizeof(err)), -ENOENT);
		CHECK(strstr(err, "no such device") != NULL);
		CHECK(strstr(err, "/dev/video0") != NULL);
		printf("v4l2:/dev/video0 -> -ENOENT: %s\n", err);
		/* a bare /dev path picks the v4l2 backend too */
		CHECK_EQ(open_err("/dev/video0", err, sizeof(err)), -ENOENT);
		CHECK(strstr(err, "/dev/video0") != NULL);
	}
	CHECK_EQ(open_err("v4l2:/dev/rkv-no-such-video", err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/dev/rkv-no-such-video") != NULL);
	/* a bare name is looked up under /dev/v4l/by-id/ */
	CHECK_EQ(open_err("v4l2:usb-rkv-no-such-camera-video-index0", err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/dev/v4l/by-id/usb-rkv-no-such-camera-video-index0") != NULL);
	/* no name at all */
	CHECK_EQ(open_err("v4l2:", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no device") != NULL);
	/* a tiny errbuf is cut, NUL-terminated */
	CHECK_EQ(open_err("v4l2:/dev/rkv-no-such-video", err, 8), -ENOENT);
	CHECK_EQ((int64_t)strlen(err), 7);
	/* no errbuf at all */
	CHECK_EQ(open_err("v4l2:/dev/rkv-no-such-video", NULL, 0), -ENOENT);
}

static void test_not_v4l2(void)
{
	char err[256];

	/* a character device that is not a V4L2 one */
	CHECK_EQ(open_err("v4l2:/dev/null", err, sizeof(err)), -ENOTSUP);
	CHECK(strstr(err, "/dev/null is not a V4L2 device") != NULL);
	/* a plain file, named through a symlink */
	char file[] = "/tmp/rkv-v4l2-XXXXXX", link[64], uri[80];
	int fd = mkstemp(file);
	CHECK(fd >= 0);
	close(fd);
	snprintf(link, sizeof(link), "%s.link", file);
	CHECK(symlink(file, link) == 0);
	snprintf(uri, sizeof(uri), "v4l2:%s", link);
	CHECK_EQ(open_err(uri, err, sizeof(err)), -ENOTSUP);
	CHECK(strstr(err, file) != NULL && strstr(err, "not a V4L2 device") != NULL);
	unlink(link);
	unlink(file);
}

static void test_jpeg(void)
{
	static const uint8_t whole[] = { 0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9 };
	static const uint8_t padded[] = { 0xff, 0xd8, 1, 2, 0xff, 0xd9, 0, 0, 0 };
	static const uint8_t cut[] = { 0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff };
	static const uint8_t no_soi[] = { 0xff, 0xe0, 1, 2, 0xff, 0xd9 };
	static const uint8_t zeros[] = { 0, 0, 0, 0, 0, 0 };
	static const uint8_t tiny[] = { 0xff, 0xd9 };
	static const uint8_t markers_only[] = { 0xff, 0xd8, 0xff, 0xd9 };

	CHECK_EQ(rkv__v4l2_jpeg_complete(whole, sizeof(whole)), 1);
	CHECK_EQ(rkv__v4l2_jpeg_complete(padded, sizeof(padded)), 1);
	CHECK_EQ(rkv__v4l2_jpeg_complete(markers_only, sizeof(markers_only)), 1);
	CHECK_EQ(rkv__v4l2_jpeg_complete(cut, sizeof(cut)), 0);
	CHECK_EQ(rkv__v4l2_jpeg_complete(whole, sizeof(whole) - 1), 0);
	CHECK_EQ(rkv__v4l2_jpeg_complete(no_soi, sizeof(no_soi)), 0);
	CHECK_EQ(rkv__v4l2_jpeg_complete(zeros, sizeof(zeros)), 0);
	CHECK_EQ(rkv__v4l2_jpeg_complete(tiny, sizeof(tiny)), 0);
	CHECK_EQ(rkv__v4l2_jpeg_complete(whole, 0), 0);
}

static void test_export_args(void)
{
	int fds[2];

	CHECK_ERR(rkv_source_export_ro(NULL, fds, 2), EINVAL);
	CHECK_ERR(rkv_source_export(NULL, fds, NULL, 2), EINVAL);
}

int main(void)
{
	test_watchdog(30);
	test_missing();
	test_not_v4l2();
	test_jpeg();
	test_export_args();
	printf("unit_source_v4l2: ok\n");
	return 0;
}
