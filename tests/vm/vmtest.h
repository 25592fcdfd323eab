/* SPDX-License-Identifier: MIT */
/*
 * vmtest.h - what the VM's test programs share: vivid's nodes and its
 * controls found by name, a checksum, an fd count (static functions: each
 * test program includes it once, after test.h).
 */
#ifndef RKV_TEST_VMTEST_H
#define RKV_TEST_VMTEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/videodev2.h>

static const char *const NODE_SP = "/dev/video0"; /* single-planar, vmalloc */
static const char *const NODE_MP = "/dev/video1"; /* multi-planar, dma-contig */

static int ctl_find(int fd, const char *name, struct v4l2_query_ext_ctrl *out)
{
	struct v4l2_query_ext_ctrl q;

	memset(&q, 0, sizeof(q));
	q.id = V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
	while (ioctl(fd, VIDIOC_QUERY_EXT_CTRL, &q) == 0) {
		if (strcmp(q.name, name) == 0) {
			*out = q;
			return 0;
		}
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
	}
	return -ENOENT;
}

/* Set control @name of @node (a button: press it). Opens the node for
 * this alone: controls work from any open file, streaming or not. */
static void ctl_set(const char *node, const char *name, int32_t value)
{
	struct v4l2_query_ext_ctrl q;
	struct v4l2_control c;
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		FAIL("open %s: %s", node, strerror(errno));
	if (ctl_find(fd, name, &q))
		FAIL("%s has no control '%s'", node, name);
	c.id = q.id;
	c.value = value;
	if (ioctl(fd, VIDIOC_S_CTRL, &c) < 0)
		FAIL("%s: set '%s' to %d: %s", node, name, value, strerror(errno));
	close(fd);
}

/* FNV-1a of @n bytes: frames that differ, and frames that changed. */
static uint64_t fnv(const uint8_t *p, uint64_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Descriptors open in this process (for leaks). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	CHECK(d != NULL);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#endif /* RKV_TEST_VMTEST_H */
