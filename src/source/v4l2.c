/* SPDX-License-Identifier: MIT */
/*
 * source/v4l2.c - frames from a V4L2 capture device (rkisp, rkcif, UVC,
 * vivid), by MMAP streaming I/O.
 *
 * Opening: the device by path, by a /dev/v4l/by-id/ link (resolved), or by
 * a bare by-id name. QUERYCAP picks the API: multi-planar where the device
 * has it (rkisp and rkcif have only that), else single-planar. The format
 * is negotiated with S_FMT and S_PARM and then checked: what the driver
 * chose must be what was asked (a rate within 1%), else open fails with
 * -ENOTSUP and a sentence listing what the device offers. NV12 is taken in
 * its one-buffer form (V4L2_PIX_FMT_NV12, one memory plane, chroma right
 * after luma) and only where a multi-planar device has nothing else in
 * NV12M's: two memory planes per frame, mapped side by side into one
 * virtual range so a frame is still one pointer; such buffers are not
 * exported (there would be two fds per frame), and nbufs is 0.
 *
 * Frames: each is a driver buffer, read in place through its mapping, and
 * goes back to the driver (VIDIOC_QBUF) at rkv_source_done(). The exported
 * buffers are whole (offset 0): a frame's planes include the driver's
 * data_offset, and bytes_used is the driver's bytesused, which counts it.
 * Sequence numbers are the driver's, widened to 64 bits; timestamps the
 * driver's where it says they are CLOCK_MONOTONIC (what vb2 drivers say),
 * else the time of the dequeue.
 *
 * Broken frames (V4L2_BUF_FLAG_ERROR, a JPEG without its end marker, a raw
 * frame shorter than its planes) are re-queued at once and counted in
 * stats.dropped, as are the frames a gap in the driver's sequence numbers
 * says it lost. A lost device (ENODEV, EIO, EPIPE from the ioctls, POLLERR)
 * or a failed re-queue stops the source: next() returns -ENODEV from then
 * on, stats.errors counts it once, and the caller closes and reopens.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "pool/internal.h"
#include "source/source.h"
#include "source/v4l2.h"

int rkv__v4l2_prefer_multibuffer;

/* ---- formats ----------------------------------------------------------------- */

/* The V4L2 formats this backend hands out, and the RKV_FMT_* each is, in
 * the order they are preferred for one RKV_FMT_*: one memory buffer before
 * one buffer per plane (the "M" formats, multi-planar API only). */
struct fmt_map {
	uint32_t rkv;
	uint32_t v4l2;
	uint32_t nmem; /* memory planes per buffer */
};

static const struct fmt_map fmt_maps[] = {
	{ RKV_FMT_NV12, V4L2_PIX_FMT_NV12, 1 },
	{ RKV_FMT_NV12, V4L2_PIX_FMT_NV12M, 2 },
	{ RKV_FMT_NV16, V4L2_PIX_FMT_NV16, 1 },
	{ RKV_FMT_NV16, V4L2_PIX_FMT_NV16M, 2 },
	{ RKV_FMT_I420, V4L2_PIX_FMT_YUV420, 1 },
	{ RKV_FMT_I420, V4L2_PIX_FMT_YUV420M, 3 },
	{ RKV_FMT_YUYV, V4L2_PIX_FMT_YUYV, 1 },
	{ RKV_FMT_RGB24, V4L2_PIX_FMT_RGB24, 1 },
	{ RKV_FMT_BGR24, V4L2_PIX_FMT_BGR24, 1 },
	{ RKV_FMT_RGBA, V4L2_PIX_FMT_RGBA32, 1 },
	{ RKV_FMT_GREY, V4L2_PIX_FMT_GREY, 1 },
	{ RKV_FMT_JPEG, V4L2_PIX_FMT_MJPEG, 1 },
	{ RKV_FMT_JPEG, V4L2_PIX_FMT_JPEG, 1 },
	{ RKV_FMT_H264, V4L2_PIX_FMT_H264, 1 },
};

#define NMAPS (sizeof(fmt_maps) / sizeof(fmt_maps[0]))
#define MAX_OFFERED 256

static const struct fmt_map *map_v4l2(uint32_t v4l2, int mplane)
{
	for (size_t i = 0; i < NMAPS; i++)
		if (fmt_maps[i].v4l2 == v4l2 && (fmt_maps[i].nmem == 1 || mplane))
			return &fmt_maps[i];
	return NULL;
}

static int is_encoded(uint32_t rkv)
{
	return rkv == RKV_FMT_JPEG || rkv == RKV_FMT_H264;
}

int rkv__v4l2_jpeg_complete(const uint8_t *p, uint64_t n)
{
	while (n > 4 && p[n - 1] == 0)
		n--;
	return n >= 4 && p[0] == 0xff && p[1] == 0xd8 && p[n - 2] == 0xff && p[n - 1] == 0xd9;
}

/* ---- state ------------------------------------------------------------------- */

enum { B_IDLE, B_QUEUED, B_OUT };

struct vbuf {
	uint8_t *base;  /* the buffer's mapping (memory planes side by side) */
	size_t span;    /* bytes mapped or reserved at base */
	int state;
};

struct v4l2_src {
	int fd;
	int mplane;
	uint32_t type;          /* V4L2_BUF_TYPE_VIDEO_CAPTURE(_MPLANE) */
	const struct fmt_map *fmt;
	uint32_t width, height;
	uint32_t nmem;          /* memory planes per buffer */
	uint32_t bpl[VIDEO_MAX_PLANES];
	uint32_t sizeimage[VIDEO_MAX_PLANES];
	uint64_t poff[VIDEO_MAX_PLANES]; /* memory plane k at base + poff[k] */
	uint64_t frame_size;    /* the smallest buffer: what every frame fits in */
	uint32_t count;         /* buffers */
	struct vbuf *bufs;
	uint32_t queued, out;
	int exportable;
	int streaming;
	int lost;
	int have_seq;
	uint32_t last_seq;
	uint64_t seq;
	struct rkv_source_stats st;
};

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static const char *fcc(uint32_t fourcc, char buf[5])
{
	return rkv_fourcc_str(fourcc, buf);
}

/* printf onto the end of @buf (@len bytes, *@at used), truncating. */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at = *at + (size_t)n < len ? *at + (size_t)n : len - 1;
}

/* A rate of @den / @num frames a second, as "25", "12.5" or "29.97". */
static void rate_str(char *buf, size_t len, uint32_t num, uint32_t den)
{
	uint64_t whole, frac;

	if (num == 0) {
		snprintf(buf, len, "?");
		return;
	}
	whole = den / num;
	frac = (uint64_t)(den % num) * 100 / num;
	if (frac == 0)
		snprintf(buf, len, "%llu", (unsigned long long)whole);
	else if (frac % 10 == 0)
		snprintf(buf, len, "%llu.%llu", (unsigned long long)whole,
			 (unsigned long long)(frac / 10));
	else
		snprintf(buf, len, "%llu.%02llu", (unsigned long long)whole,
			 (unsigned long long)frac);
}

/* "ENOTTY" for the errors an ioctl a driver lacks or refuses gives, else
 * the error's text. */
static const char *errname(int err)
{
	switch (err) {
	case ENOTTY:
		return "ENOTTY";
	case EINVAL:
		return "EINVAL";
	case ENOMEM:
		return "ENOMEM";
	case EIO:
		return "EIO";
	default:
		return strerror(err);
	}
}

/* ---- what the device offers, for errbuf -------------------------------------- */

/* "@60" for the highest rate of @pixfmt at @w x @h, or "". */
static void max_rate(int fd, uint32_t pixfmt, uint32_t w, uint32_t h, char *out, size_t len)
{
	struct v4l2_frmivalenum iv;
	uint32_t num = 0, den = 0;
	char r[24];

	out[0] = '\0';
	for (uint32_t i = 0; i < 64; i++) {
		memset(&iv, 0, sizeof(iv));
		iv.index = i;
		iv.pixel_format = pixfmt;
		iv.width = w;
		iv.height = h;
		if (xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv))
			break;
		if (iv.type != V4L2_FRMIVAL_TYPE_DISCRETE) {
			num = iv.stepwise.min.numerator;
			den = iv.stepwise.min.denominator;
			break;
		}
		/* the shortest interval: num/den smallest */
		if (iv.discrete.denominator && iv.discrete.numerator &&
		    (num == 0 || (uint64_t)iv.discrete.numerator * den <
				 (uint64_t)num * iv.discrete.denominator)) {
			num = iv.discrete.numerator;
			den = iv.discrete.denominator;
		}
	}
	if (num && den) {
		rate_str(r, sizeof(r), num, den);
		snprintf(out, len, "@%s", r);
	}
}

/* "320x180@60,640x480@25" (or "16x16-4096x2160") for @pixfmt, or "". */
static void describe_sizes(int fd, uint32_t pixfmt, char *out, size_t len)
{
	struct v4l2_frmsizeenum fs;
	size_t at = 0;
	char rate[32];

	out[0] = '\0';
	for (uint32_t i = 0;; i++) {
		memset(&fs, 0, sizeof(fs));
		fs.index = i;
		fs.pixel_format = pixfmt;
		if (xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &fs))
			break;
		if (i == 12) {
			append(out, len, &at, ",...");
			break;
		}
		if (fs.type != V4L2_FRMSIZE_TYPE_DISCRETE) {
			max_rate(fd, pixfmt, fs.stepwise.max_width, fs.stepwise.max_height, rate,
				 sizeof(rate));
			append(out, len, &at, "%s%ux%u-%ux%u%s", i ? "," : "", fs.stepwise.min_width,
			       fs.stepwise.min_height, fs.stepwise.max_width, fs.stepwise.max_height,
			       rate);
			break;
		}
		max_rate(fd, pixfmt, fs.discrete.width, fs.discrete.height, rate, sizeof(rate));
		append(out, len, &at, "%s%ux%u%s", i ? "," : "", fs.discrete.width,
		       fs.discrete.height, rate);
	}
}

/* "offers YUYV,NV12 320x180@60,640x480@25; GREY 640x480@30 (and 70
 * formats this library does not take)": the formats it can hand out,
 * those with the same sizes and rates together. */
static void describe(int fd, int mplane, const uint32_t *offered, uint32_t n, char *out,
		     size_t len)
{
	struct group {
		char fmts[64];
		size_t at;
		char sizes[320];
	};
	enum { MAX_GROUPS = 8 };
	struct group *g = calloc(MAX_GROUPS, sizeof(*g));
	char sizes[320], b[5];
	uint32_t ng = 0, others = 0;
	size_t at = 0;

	out[0] = '\0';
	if (!g) {
		snprintf(out, len, "offers %u formats", n);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k;
		if (!map_v4l2(offered[i], mplane)) {
			others++;
			continue;
		}
		describe_sizes(fd, offered[i], sizes, sizeof(sizes));
		for (k = 0; k < ng; k++)
			if (strcmp(g[k].sizes, sizes) == 0)
				break;
		if (k == ng) {
			if (ng == MAX_GROUPS) {
				others++;
				continue;
			}
			snprintf(g[k].sizes, sizeof(g[k].sizes), "%s", sizes);
			ng++;
		}
		append(g[k].fmts, sizeof(g[k].fmts), &g[k].at, "%s%s", g[k].at ? "," : "",
		       fcc(offered[i], b));
	}
	if (ng == 0)
		append(out, len, &at, "offers no format this library takes");
	else
		append(out, len, &at, "offers ");
	for (uint32_t k = 0; k < ng; k++)
		append(out, len, &at, "%s%s %s", k ? "; " : "", g[k].fmts,
		       g[k].sizes[0] ? g[k].sizes : "(sizes not listed)");
	if (others)
		append(out, len, &at, " (and %u format%s this library does not take)", others,
		       others == 1 ? "" : "s");
	free(g);
}

/* ---- buffers ----------------------------------------------------------------- */

static void prep_buf(const struct v4l2_src *v, struct v4l2_buffer *b, struct v4l2_plane *pl,
		     uint32_t index)
{
	memset(b, 0, sizeof(*b));
	b->type = v->type;
	b->memory = V4L2_MEMORY_MMAP;
	b->index = index;
	if (v->mplane) {
		memset(pl, 0, sizeof(*pl) * VIDEO_MAX_PLANES);
		b->m.planes = pl;
		b->length = VIDEO_MAX_PLANES;
	}
}

static int qbuf(struct v4l2_src *v, uint32_t i)
{
	struct v4l2_buffer b;
	struct v4l2_plane pl[VIDEO_MAX_PLANES];

	prep_buf(v, &b, pl, i);
	return xioctl(v->fd, VIDIOC_QBUF, &b);
}

/* The source broke: say so once, and -ENODEV. */
static int lose(struct v4l2_src *v)
{
	if (!v->lost) {
		v->lost = 1;
		v->st.errors++;
	}
	return -ENODEV;
}

/* The planes of a raw frame whose memory plane k starts at @mem[k], from
 * the driver's row pitches, as V4L2 defines its formats: in a one-buffer
 * format chroma follows luma at bytesperline * height, and I420's chroma
 * rows are half the luma pitch. Returns the end of the last plane. */
static uint64_t raw_planes(const struct v4l2_src *v, struct rkv_frame *f, const uint64_t *mem)
{
	const uint64_t h = v->height, h2 = (h + 1) / 2;
	const uint64_t bpl[3] = { v->bpl[0], v->bpl[1], v->bpl[2] };
	struct rkv_plane *p = f->planes;
	uint64_t end = 0;

	memset(f->planes, 0, sizeof(f->planes));
	f->fourcc = v->fmt->rkv;
	f->width = v->width;
	f->height = v->height;
	switch (v->fmt->rkv) {
	case RKV_FMT_NV12:
	case RKV_FMT_NV16: {
		uint64_t crows = v->fmt->rkv == RKV_FMT_NV12 ? h2 : h;
		p[0] = (struct rkv_plane){ .offset = mem[0], .stride = (uint32_t)bpl[0],
					   .size = bpl[0] * h };
		if (v->nmem == 2)
			p[1] = (struct rkv_plane){ .offset = mem[1], .stride = (uint32_t)bpl[1],
						   .size = bpl[1] * crows };
		else
			p[1] = (struct rkv_plane){ .offset = mem[0] + bpl[0] * h,
						   .stride = (uint32_t)bpl[0], .size = bpl[0] * crows };
		f->num_planes = 2;
		break;
	}
	case RKV_FMT_I420:
		p[0] = (struct rkv_plane){ .offset = mem[0], .stride = (uint32_t)bpl[0],
					   .size = bpl[0] * h };
		if (v->nmem == 3) {
			p[1] = (struct rkv_plane){ .offset = mem[1], .stride = (uint32_t)bpl[1],
						   .size = bpl[1] * h2 };
			p[2] = (struct rkv_plane){ .offset = mem[2], .stride = (uint32_t)bpl[2],
						   .size = bpl[2] * h2 };
		} else {
			uint64_t c = bpl[0] / 2;
			p[1] = (struct rkv_plane){ .offset = mem[0] + bpl[0] * h,
						   .stride = (uint32_t)c, .size = c * h2 };
			p[2] = (struct rkv_plane){ .offset = p[1].offset + c * h2,
						   .stride = (uint32_t)c, .size = c * h2 };
		}
		f->num_planes = 3;
		break;
	default:
		p[0] = (struct rkv_plane){ .offset = mem[0], .stride = (uint32_t)bpl[0],
					   .size = bpl[0] * h };
		f->num_planes = 1;
		break;
	}
	for (uint32_t i = 0; i < f->num_planes; i++)
		if (p[i].offset + p[i].size > end)
			end = p[i].offset + p[i].size;
	return end;
}

static void unmap_all(struct v4l2_src *v)
{
	for (uint32_t i = 0; i < v->count; i++)
		if (v->bufs[i].base)
			munmap(v->bufs[i].base, v->bufs[i].span);
}

/*
 * Map buffer @i: one mapping, or for one buffer per plane a reserved
 * range with each memory plane mapped at its poff[]. The mappings are not
 * inherited by fork(): a child's copy would hold the device's file open
 * (a mapping references it) after close, its queue would stay busy, and
 * opening the device again (a camera's reopen after an error) would fail
 * with EBUSY until the child exited.
 */
static int map_buf(struct v4l2_src *v, uint32_t i, const struct v4l2_buffer *b,
		   const struct v4l2_plane *pl)
{
	struct vbuf *vb = &v->bufs[i];
	void *m;

	if (!v->mplane || v->nmem == 1) {
		size_t len = v->mplane ? pl[0].length : b->length;
		uint32_t off = v->mplane ? pl[0].m.mem_offset : b->m.offset;
		m = mmap(NULL, len, PROT_READ, MAP_SHARED, v->fd, off);
		if (m == MAP_FAILED)
			return -errno;
		vb->base = m;
		vb->span = len;
		(void)madvise(m, len, MADV_DONTFORK); /* best effort: it only helps */
		return 0;
	}
	m = mmap(NULL, (size_t)v->frame_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	vb->base = m;
	vb->span = (size_t)v->frame_size;
	(void)madvise(m, vb->span, MADV_DONTFORK); /* the reserve's gaps */
	for (uint32_t k = 0; k < v->nmem; k++) {
		void *at = (uint8_t *)m + v->poff[k];
		void *got = mmap(at, pl[k].length, PROT_READ, MAP_SHARED | MAP_FIXED, v->fd,
				 pl[k].m.mem_offset);
		if (got == MAP_FAILED)
			return -errno; /* unmap_all() takes the whole range */
		(void)madvise(got, pl[k].length, MADV_DONTFORK); /* a new mapping: advise again */
	}
	return 0;
}

/* ---- open -------------------------------------------------------------------- */

struct open_ctx {
	const struct rkv_source_config *cfg;
	char path[PATH_MAX];
	uint32_t offered[MAX_OFFERED];
	uint32_t noffered;
	char notes[256];
	size_t notes_at;
};

/* Fail open with -ENOTSUP: @why, then what the device offers. */
static int refuse(struct v4l2_src *v, struct open_ctx *c, const char *why)
{
	char offers[1024];

	describe(v->fd, v->mplane, c->offered, c->noffered, offers, sizeof(offers));
	rkv__set_reason(c->cfg->errbuf, c->cfg->errbuf_len, "v4l2 %s: %s; it %s", c->path, why,
			offers);
	return -ENOTSUP;
}

static int open_device(struct v4l2_src *v, struct open_ctx *c)
{
	const struct rkv_source_config *cfg = c->cfg;
	const char *uri = cfg->uri ? cfg->uri : "";
	char name[PATH_MAX];
	struct stat st;
	struct v4l2_capability cap;
	uint32_t caps;
	int r;

	if (!uri[0]) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"v4l2: no device named (v4l2:/dev/videoN, or a /dev/v4l/by-id/ name)");
		return -EINVAL;
	}
	if (strchr(uri, '/'))
		snprintf(name, sizeof(name), "%s", uri);
	else
		snprintf(name, sizeof(name), "/dev/v4l/by-id/%s", uri);
	if (!realpath(name, c->path)) {
		r = -errno;
		if (r == -ENOENT || r == -ENOTDIR) {
			rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2: no such device: %s", name);
			return -ENOENT;
		}
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2: %s: %s", name, strerror(-r));
		return r == -EACCES ? -EACCES : -EIO;
	}
	v->fd = open(c->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (v->fd < 0) {
		r = -errno;
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2: cannot open %s: %s", c->path,
				strerror(-r));
		switch (r) {
		case -ENOENT:
		case -ENXIO:
		case -ENODEV:
			return -ENOENT;
		case -EACCES:
		case -EPERM:
			return -EACCES;
		case -EBUSY:
		case -ENOMEM:
		case -EMFILE:
		case -ENFILE:
			return r;
		default:
			return -EIO;
		}
	}
	memset(&cap, 0, sizeof(cap));
	if (fstat(v->fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
	    xioctl(v->fd, VIDIOC_QUERYCAP, &cap) < 0) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2: %s is not a V4L2 device",
				c->path);
		return -ENOTSUP;
	}
	caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
	if (caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE) {
		v->mplane = 1;
		v->type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	} else if (caps & V4L2_CAP_VIDEO_CAPTURE) {
		v->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	} else {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"v4l2: %s (%.32s) is not a video capture device", c->path,
				(const char *)cap.card);
		return -ENOTSUP;
	}
	if (!(caps & V4L2_CAP_STREAMING)) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"v4l2: %s (%.32s) cannot stream (no V4L2_CAP_STREAMING)", c->path,
				(const char *)cap.card);
		return -ENOTSUP;
	}
	for (uint32_t i = 0; i < MAX_OFFERED; i++) {
		struct v4l2_fmtdesc d;
		memset(&d, 0, sizeof(d));
		d.index = i;
		d.type = v->type;
		if (xioctl(v->fd, VIDIOC_ENUM_FMT, &d))
			break;
		c->offered[c->noffered++] = d.pixelformat;
	}
	return 0;
}

static int offered(const struct open_ctx *c, uint32_t v4l2)
{
	for (uint32_t i = 0; i < c->noffered; i++)
		if (c->offered[i] == v4l2)
			return 1;
	return 0;
}

/* Which V4L2 format serves RKV format @want (0: the current one, @cur, if
 * this backend can take it, else the first offered that it can). */
static const struct fmt_map *choose_format(const struct v4l2_src *v, const struct open_ctx *c,
					   uint32_t want, uint32_t cur)
{
	const struct fmt_map *m;

	if (want == 0) {
		m = map_v4l2(cur, v->mplane);
		if (m)
			return m;
		for (uint32_t i = 0; i < c->noffered; i++)
			if ((m = map_v4l2(c->offered[i], v->mplane)))
				return m;
		return NULL;
	}
	for (int pass = 0; pass < 2; pass++) {
		/* one buffer first, unless a test asks for the "M" formats */
		int multi = rkv__v4l2_prefer_multibuffer ? pass == 0 : pass == 1;
		for (size_t i = 0; i < NMAPS; i++) {
			m = &fmt_maps[i];
			if (m->rkv != want || (m->nmem > 1) != multi || (m->nmem > 1 && !v->mplane))
				continue;
			if (offered(c, m->v4l2))
				return m;
		}
	}
	return NULL;
}

/* Read the format the driver has now into @v (pixel format into *@pix). */
static int get_format(struct v4l2_src *v, uint32_t *pix, uint32_t *nplanes)
{
	struct v4l2_format f;
	int r;

	memset(&f, 0, sizeof(f));
	f.type = v->type;
	r = xioctl(v->fd, VIDIOC_G_FMT, &f);
	if (r)
		return r;
	memset(v->bpl, 0, sizeof(v->bpl));
	memset(v->sizeimage, 0, sizeof(v->sizeimage));
	if (v->mplane) {
		*pix = f.fmt.pix_mp.pixelformat;
		*nplanes = f.fmt.pix_mp.num_planes;
		v->width = f.fmt.pix_mp.width;
		v->height = f.fmt.pix_mp.height;
		for (uint32_t k = 0; k < f.fmt.pix_mp.num_planes && k < VIDEO_MAX_PLANES; k++) {
			v->bpl[k] = f.fmt.pix_mp.plane_fmt[k].bytesperline;
			v->sizeimage[k] = f.fmt.pix_mp.plane_fmt[k].sizeimage;
		}
	} else {
		*pix = f.fmt.pix.pixelformat;
		*nplanes = 1;
		v->width = f.fmt.pix.width;
		v->height = f.fmt.pix.height;
		v->bpl[0] = f.fmt.pix.bytesperline;
		v->sizeimage[0] = f.fmt.pix.sizeimage;
	}
	return 0;
}

static int negotiate(struct v4l2_src *v, struct open_ctx *c, struct rkv_source_info *info)
{
	const struct rkv_source_config *cfg = c->cfg;
	struct v4l2_format f;
	struct v4l2_streamparm parm;
	uint32_t cur, nplanes, want_w, want_h;
	char why[200], b1[5], b2[5], r1[24], r2[24];
	int r, rate_set = 0;

	if ((cfg->width == 0) != (cfg->height == 0)) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"v4l2: give both width and height, or neither");
		return -EINVAL;
	}
	r = get_format(v, &cur, &nplanes);
	if (r) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2 %s: VIDIOC_G_FMT: %s", c->path,
				strerror(-r));
		return r == -ENODEV ? -ENOENT : -EIO;
	}
	v->fmt = choose_format(v, c, cfg->fourcc, cur);
	if (!v->fmt) {
		if (cfg->fourcc)
			snprintf(why, sizeof(why), "no %s format", fcc(cfg->fourcc, b1));
		else
			snprintf(why, sizeof(why), "no format this library takes");
		return refuse(v, c, why);
	}
	want_w = cfg->width ? cfg->width : v->width;
	want_h = cfg->height ? cfg->height : v->height;

	memset(&f, 0, sizeof(f));
	f.type = v->type;
	if (v->mplane) {
		f.fmt.pix_mp.width = want_w;
		f.fmt.pix_mp.height = want_h;
		f.fmt.pix_mp.pixelformat = v->fmt->v4l2;
		f.fmt.pix_mp.field = V4L2_FIELD_NONE;
		f.fmt.pix_mp.num_planes = (uint8_t)v->fmt->nmem;
	} else {
		f.fmt.pix.width = want_w;
		f.fmt.pix.height = want_h;
		f.fmt.pix.pixelformat = v->fmt->v4l2;
		f.fmt.pix.field = V4L2_FIELD_NONE;
	}
	r = xioctl(v->fd, VIDIOC_S_FMT, &f);
	if (r == -EBUSY) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"v4l2 %s: the device is in use (VIDIOC_S_FMT: busy)", c->path);
		return -EBUSY;
	}
	if (r == -ENODEV) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2 %s: the device went away",
				c->path);
		return -ENOENT;
	}
	if (r) {
		snprintf(why, sizeof(why), "VIDIOC_S_FMT %s %ux%u: %s", fcc(v->fmt->v4l2, b1), want_w,
			 want_h, strerror(-r));
		return refuse(v, c, why);
	}

	/* The rate, where the driver takes one. */
	memset(&parm, 0, sizeof(parm));
	parm.type = v->type;
	if (xioctl(v->fd, VIDIOC_G_PARM, &parm) == 0 &&
	    (parm.parm.capture.capability & V4L2_CAP_TIMEPERFRAME)) {
		parm.parm.capture.timeperframe.numerator = cfg->fps_den;
		parm.parm.capture.timeperframe.denominator = cfg->fps_num;
		r = xioctl(v->fd, VIDIOC_S_PARM, &parm);
		rate_set = r == 0;
		if (r) {
			append(c->notes, sizeof(c->notes), &c->notes_at,
			       "%sVIDIOC_S_PARM failed (%s): the device runs at its own rate",
			       c->notes_at ? "; " : "", strerror(-r));
			memset(&parm, 0, sizeof(parm));
			parm.type = v->type;
			xioctl(v->fd, VIDIOC_G_PARM, &parm);
		}
	} else {
		append(c->notes, sizeof(c->notes), &c->notes_at,
		       "%sthe driver does not set a frame rate (VIDIOC_S_PARM): it runs at its own",
		       c->notes_at ? "; " : "");
	}
	struct v4l2_fract tpf = parm.parm.capture.timeperframe;

	/* What the driver chose, after both. */
	r = get_format(v, &cur, &nplanes);
	if (r) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2 %s: VIDIOC_G_FMT: %s", c->path,
				strerror(-r));
		return -EIO;
	}
	if (cur != v->fmt->v4l2 || nplanes != v->fmt->nmem) {
		snprintf(why, sizeof(why), "asked for %s, the driver chose %s (%u planes)",
			 fcc(v->fmt->v4l2, b1), fcc(cur, b2), nplanes);
		return refuse(v, c, why);
	}
	if ((cfg->width && v->width != cfg->width) || (cfg->height && v->height != cfg->height)) {
		snprintf(why, sizeof(why), "%s %ux%u cannot be had (the driver chose %ux%u)",
			 fcc(v->fmt->v4l2, b1), cfg->width, cfg->height, v->width, v->height);
		return refuse(v, c, why);
	}
	if (v->width == 0 || v->height == 0) {
		snprintf(why, sizeof(why), "the driver chose a size of %ux%u", v->width, v->height);
		return refuse(v, c, why);
	}
	if (tpf.numerator && tpf.denominator) {
		/* within 1% (29.97 for 30 is fine; 25 is not) */
		double want = (double)cfg->fps_num / cfg->fps_den;
		double got = (double)tpf.denominator / tpf.numerator;
		double diff = got > want ? got - want : want - got;
		if (rate_set && diff > want / 100) {
			rate_str(r1, sizeof(r1), cfg->fps_den, cfg->fps_num);
			rate_str(r2, sizeof(r2), tpf.numerator, tpf.denominator);
			snprintf(why, sizeof(why), "%s %ux%u at %s fps cannot be had (the driver chose %s)",
				 fcc(v->fmt->v4l2, b1), v->width, v->height, r1, r2);
			return refuse(v, c, why);
		}
		info->fps_num = tpf.denominator;
		info->fps_den = tpf.numerator;
	} else {
		info->fps_num = cfg->fps_num;
		info->fps_den = cfg->fps_den;
	}
	v->nmem = v->fmt->nmem;
	for (uint32_t k = 0; k < v->nmem; k++)
		if (v->bpl[k] == 0 && !is_encoded(v->fmt->rkv)) {
			snprintf(why, sizeof(why), "the driver gave no bytesperline for %s",
				 fcc(v->fmt->v4l2, b1));
			return refuse(v, c, why);
		}
	return 0;
}

static int setup_buffers(struct v4l2_src *v, struct open_ctx *c)
{
	const struct rkv_source_config *cfg = c->cfg;
	struct v4l2_requestbuffers rb;
	struct v4l2_buffer b;
	struct v4l2_plane pl[VIDEO_MAX_PLANES];
	uint64_t minlen[VIDEO_MAX_PLANES] = { 0 }, maxlen[VIDEO_MAX_PLANES] = { 0 };
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int r, mono = 1;

	memset(&rb, 0, sizeof(rb));
	rb.count = cfg->buffers;
	rb.type = v->type;
	rb.memory = V4L2_MEMORY_MMAP;
	r = xioctl(v->fd, VIDIOC_REQBUFS, &rb);
	if (r || rb.count == 0) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"v4l2 %s: VIDIOC_REQBUFS (%u MMAP buffers): %s", c->path, cfg->buffers,
				r ? strerror(-r) : "no buffers");
		return r == -EBUSY ? -EBUSY : r == -ENOMEM || r == 0 ? -ENOMEM : -EIO;
	}
	v->count = rb.count;
	v->bufs = calloc(v->count, sizeof(*v->bufs));
	if (!v->bufs)
		return -ENOMEM;

	/* The plane lengths first: one buffer per plane needs them to lay
	 * the planes out side by side, the same way in every buffer. */
	for (uint32_t i = 0; i < v->count; i++) {
		prep_buf(v, &b, pl, i);
		r = xioctl(v->fd, VIDIOC_QUERYBUF, &b);
		if (r) {
			rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2 %s: VIDIOC_QUERYBUF: %s",
					c->path, strerror(-r));
			return -EIO;
		}
		if ((b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) != V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
			mono = 0;
		for (uint32_t k = 0; k < v->nmem; k++) {
			uint64_t len = v->mplane ? pl[k].length : b.length;
			if (i == 0 || len < minlen[k])
				minlen[k] = len;
			if (len > maxlen[k])
				maxlen[k] = len;
		}
	}
	if (v->nmem == 1) {
		/* the smallest buffer: every frame fits in it */
		v->frame_size = minlen[0];
	} else {
		/* memory planes side by side, each at a page boundary */
		uint64_t at = 0;
		for (uint32_t k = 0; k < v->nmem; k++) {
			v->poff[k] = at;
			at += (maxlen[k] + page - 1) & ~(page - 1);
		}
		v->frame_size = at;
	}
	for (uint32_t i = 0; i < v->count; i++) {
		prep_buf(v, &b, pl, i);
		r = xioctl(v->fd, VIDIOC_QUERYBUF, &b);
		if (!r)
			r = map_buf(v, i, &b, pl);
		if (r) {
			rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
					"v4l2 %s: mapping buffer %u: %s", c->path, i, strerror(-r));
			return r == -ENOMEM ? -ENOMEM : -EIO;
		}
	}
	if (!mono)
		append(c->notes, sizeof(c->notes), &c->notes_at,
		       "%sthe driver's timestamps are not CLOCK_MONOTONIC: frames carry the "
		       "time they were dequeued", c->notes_at ? "; " : "");

	/* Can the buffers be exported? Ask once for one, and let it go. Why
	 * not goes into the notes: a camera says why it copies. */
	if (!(cfg->flags & RKV_SOURCE_NO_EXPORT) && v->nmem == 1) {
		struct v4l2_exportbuffer e;
		memset(&e, 0, sizeof(e));
		e.type = v->type;
		e.index = 0;
		e.flags = O_RDONLY | O_CLOEXEC;
		r = xioctl(v->fd, VIDIOC_EXPBUF, &e);
		if (r == 0) {
			close(e.fd);
			v->exportable = 1;
		} else {
			append(c->notes, sizeof(c->notes), &c->notes_at,
			       "%sits buffers cannot be exported (VIDIOC_EXPBUF: %s)",
			       c->notes_at ? "; " : "", errname(-r));
		}
	} else if (!(cfg->flags & RKV_SOURCE_NO_EXPORT)) {
		append(c->notes, sizeof(c->notes), &c->notes_at,
		       "%sits buffers are not exported (%u memory planes a frame)",
		       c->notes_at ? "; " : "", v->nmem);
	}
	return 0;
}

static void v4l2_free(struct v4l2_src *v)
{
	if (!v)
		return;
	if (v->bufs) {
		unmap_all(v);
		free(v->bufs);
	}
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

static int v4l2_open(rkv_source *s, const struct rkv_source_config *cfg,
		     struct rkv_source_info *info)
{
	struct open_ctx *c = calloc(1, sizeof(*c));
	struct v4l2_src *v = calloc(1, sizeof(*v));
	int r;

	if (!c || !v) {
		free(c);
		free(v);
		return -ENOMEM;
	}
	v->fd = -1;
	c->cfg = cfg;
	memset(info, 0, sizeof(*info));
	r = open_device(v, c);
	if (!r)
		r = negotiate(v, c, info);
	if (!r)
		r = setup_buffers(v, c);
	if (!r) {
		struct rkv_frame *l = &info->layout;
		uint64_t mem[VIDEO_MAX_PLANES];
		char b[5];

		for (uint32_t k = 0; k < VIDEO_MAX_PLANES; k++)
			mem[k] = v->poff[k];
		memset(l, 0, sizeof(*l));
		if (is_encoded(v->fmt->rkv)) {
			l->fourcc = v->fmt->rkv;
			l->width = v->width;
			l->height = v->height;
		} else {
			l->bytes_used = raw_planes(v, l, mem);
			if (v->nmem == 1 && v->sizeimage[0] > l->bytes_used)
				l->bytes_used = v->sizeimage[0];
			if (rkv_frame_check(l, v->frame_size)) {
				rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
						"v4l2 %s: the driver's %s %ux%u layout (%u bytes per "
						"line, %u per image, buffers of %llu) is not one this "
						"library can describe", c->path, fcc(v->fmt->v4l2, b),
						v->width, v->height, v->bpl[0], v->sizeimage[0],
						(unsigned long long)v->frame_size);
				r = -ENOTSUP;
			}
		}
	}
	if (r) {
		v4l2_free(v);
		free(c);
		return r;
	}
	info->fourcc = v->fmt->rkv;
	info->width = v->width;
	info->height = v->height;
	info->nbufs = v->exportable ? v->count : 0;
	info->frame_size = v->frame_size;
	snprintf(info->device, sizeof(info->device), "%.*s", (int)sizeof(info->device) - 1,
		 c->path);
	if (c->notes_at)
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "v4l2 %s: %s", c->path, c->notes);
	free(c);
	s->priv = v;
	return 0;
}

/* ---- streaming --------------------------------------------------------------- */

static int v4l2_export_mode(rkv_source *s, int *fds, uint64_t *offsets, uint32_t n, int mode)
{
	struct v4l2_src *v = s->priv;

	if (!v->exportable || n != v->count)
		return -ENOTSUP;
	for (uint32_t i = 0; i < n; i++)
		fds[i] = -1;
	for (uint32_t i = 0; i < n; i++) {
		struct v4l2_exportbuffer e;
		int r;

		memset(&e, 0, sizeof(e));
		e.type = v->type;
		e.index = i;
		e.plane = 0;
		e.flags = (uint32_t)(mode | O_CLOEXEC);
		r = xioctl(v->fd, VIDIOC_EXPBUF, &e);
		if (r) {
			for (uint32_t k = 0; k < i; k++) {
				close(fds[k]);
				fds[k] = -1;
			}
			return r == -ENOTTY || r == -EINVAL ? -ENOTSUP : r;
		}
		fds[i] = e.fd;
		/* Whole buffers: the frames' planes count the data_offset. */
		if (offsets)
			offsets[i] = 0;
	}
	return 0;
}

static int v4l2_export(rkv_source *s, int *fds, uint64_t *offsets, uint32_t n)
{
	return v4l2_export_mode(s, fds, offsets, n, O_RDWR);
}

static int v4l2_export_ro(rkv_source *s, int *fds, uint32_t n)
{
	return v4l2_export_mode(s, fds, NULL, n, O_RDONLY);
}

static void all_idle(struct v4l2_src *v)
{
	for (uint32_t i = 0; i < v->count; i++)
		v->bufs[i].state = B_IDLE;
	v->queued = 0;
	v->out = 0;
}

static int v4l2_start(rkv_source *s)
{
	struct v4l2_src *v = s->priv;
	uint32_t type = v->type;
	int r = 0;

	if (v->lost)
		return -ENODEV;
	for (uint32_t i = 0; i < v->count && !r; i++) {
		if (v->bufs[i].state != B_IDLE)
			continue;
		r = qbuf(v, i);
		if (!r) {
			v->bufs[i].state = B_QUEUED;
			v->queued++;
		}
	}
	if (!r)
		r = xioctl(v->fd, VIDIOC_STREAMON, &type);
	if (r) {
		/* Take every buffer back, so that start can be tried again. */
		xioctl(v->fd, VIDIOC_STREAMOFF, &type);
		all_idle(v);
		if (r == -ENODEV)
			return lose(v);
		return r;
	}
	v->streaming = 1;
	v->have_seq = 0;
	return 0;
}

static int v4l2_stop(rkv_source *s)
{
	struct v4l2_src *v = s->priv;
	uint32_t type = v->type;
	int r = 0;

	if (v->streaming)
		r = xioctl(v->fd, VIDIOC_STREAMOFF, &type);
	v->streaming = 0;
	all_idle(v);
	return v->lost ? 0 : r;
}

static int v4l2_fd(rkv_source *s)
{
	struct v4l2_src *v = s->priv;

	return v->fd;
}

static void track_seq(struct v4l2_src *v, uint32_t seq)
{
	if (!v->have_seq) {
		v->seq = seq;
		v->have_seq = 1;
	} else {
		uint32_t d = seq - v->last_seq;
		if (d == 0 || d >= 0x80000000u) {
			v->seq++; /* repeated or backwards: not a gap */
		} else {
			v->seq += d;
			v->st.dropped += d - 1; /* what the driver lost */
		}
	}
	v->last_seq = seq;
}

/* Describe buffer @i, just dequeued as @b, in @f. -EBADMSG: broken. */
static int fill(const struct v4l2_src *v, uint32_t i, const struct v4l2_buffer *b,
		const struct v4l2_plane *pl, struct rkv_source_frame *f)
{
	const struct vbuf *vb = &v->bufs[i];
	struct rkv_frame *fr = &f->frame;
	uint64_t used;

	memset(f, 0, sizeof(*f));
	if (b->flags & V4L2_BUF_FLAG_ERROR)
		return -EBADMSG;
	if (is_encoded(v->fmt->rkv)) {
		uint64_t off = v->mplane ? pl[0].data_offset : 0;
		used = v->mplane ? pl[0].bytesused : b->bytesused;
		if (used > vb->span || off > used)
			return -EBADMSG;
		used -= off;
		f->data = vb->base + off;
		fr->fourcc = v->fmt->rkv;
		fr->width = v->width;
		fr->height = v->height;
		fr->bytes_used = used;
		if (v->fmt->rkv == RKV_FMT_JPEG) {
			if (!rkv__v4l2_jpeg_complete(f->data, used))
				return -EBADMSG;
			fr->flags |= RKV_FRAME_KEYFRAME;
		} else if (b->flags & V4L2_BUF_FLAG_KEYFRAME) {
			fr->flags |= RKV_FRAME_KEYFRAME;
		}
	} else {
		uint64_t mem[VIDEO_MAX_PLANES] = { 0 }, end;
		for (uint32_t k = 0; k < v->nmem; k++)
			mem[k] = v->poff[k] + (v->mplane ? pl[k].data_offset : 0);
		end = raw_planes(v, fr, mem);
		if (v->nmem == 1)
			used = v->mplane ? pl[0].bytesused : b->bytesused;
		else
			used = pl[v->nmem - 1].bytesused ? v->poff[v->nmem - 1] +
							   pl[v->nmem - 1].bytesused
							 : 0;
		if (used == 0) /* a driver that does not say: the whole image */
			used = end;
		fr->bytes_used = used;
		if (rkv_frame_check(fr, vb->span))
			return -EBADMSG;
		f->data = vb->base;
	}
	f->buf = v->exportable ? (int32_t)i : -1;
	return 0;
}

/* Buffer @b came out of the driver: hand it out in @f (0), or re-queue it
 * as broken (-EAGAIN), or the source broke (-ENODEV). */
static int take(struct v4l2_src *v, const struct v4l2_buffer *b, const struct v4l2_plane *pl,
		struct rkv_source_frame *f)
{
	uint32_t i = b->index;

	if (i >= v->count || v->bufs[i].state != B_QUEUED)
		return lose(v); /* not ours to get: the driver is confused */
	v->bufs[i].state = B_IDLE;
	v->queued--;
	track_seq(v, b->sequence);
	if (fill(v, i, b, pl, f)) {
		v->st.dropped++;
		if (qbuf(v, i))
			return lose(v);
		v->bufs[i].state = B_QUEUED;
		v->queued++;
		return -EAGAIN;
	}
	f->frame.seq = v->seq;
	if ((b->flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
		f->frame.timestamp_ns = (int64_t)b->timestamp.tv_sec * 1000000000 +
					(int64_t)b->timestamp.tv_usec * 1000;
	else
		f->frame.timestamp_ns = rkv__now_ns();
	v->bufs[i].state = B_OUT;
	v->out++;
	v->st.frames++;
	return 0;
}

static int v4l2_next(rkv_source *s, struct rkv_source_frame *f, int64_t timeout_ns)
{
	struct v4l2_src *v = s->priv;
	int64_t deadline = rkv__deadline(timeout_ns);
	uint32_t limit = v->exportable ? v->count : 1;
	int pollerr = 0;

	if (v->lost)
		return -ENODEV;
	if (!v->streaming)
		return -EINVAL;
	if (v->out >= limit || v->queued == 0)
		return -EBUSY;
	for (;;) {
		struct v4l2_buffer b;
		struct v4l2_plane pl[VIDEO_MAX_PLANES];
		struct pollfd pfd = { .fd = v->fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		int64_t now;
		int r;

		prep_buf(v, &b, pl, 0);
		r = xioctl(v->fd, VIDIOC_DQBUF, &b);
		if (r == 0) {
			r = take(v, &b, pl, f);
			if (r != -EAGAIN)
				return r;
			pollerr = 0;
			if (v->queued == 0)
				return -EBUSY;
			continue;
		}
		/* ENODEV (gone), EIO (a streaming error), EPIPE (the last
		 * buffer was sent), or anything else: the stream is over. A
		 * POLLERR that DQBUF does not explain is too. */
		if (r != -EAGAIN || pollerr)
			return lose(v);
		now = rkv__now_ns();
		if (now >= deadline)
			return timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
		if (deadline != INT64_MAX) {
			ts.tv_sec = (deadline - now) / 1000000000;
			ts.tv_nsec = (deadline - now) % 1000000000;
			tsp = &ts;
		}
		r = ppoll(&pfd, 1, tsp, NULL);
		if (r < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		if (r > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
			pollerr = 1;
	}
}

/* The buffer frame @f is in, or -1. */
static int find_buf(const struct v4l2_src *v, const struct rkv_source_frame *f)
{
	const uint8_t *p = f->data;

	for (uint32_t i = 0; i < v->count; i++) {
		const struct vbuf *vb = &v->bufs[i];
		if (p && p >= vb->base && p < vb->base + vb->span)
			return (int)i;
	}
	return -1;
}

static int v4l2_done(rkv_source *s, struct rkv_source_frame *f)
{
	struct v4l2_src *v = s->priv;
	int i = find_buf(v, f);

	if (i < 0 || v->bufs[i].state != B_OUT || (f->buf >= 0 && f->buf != i))
		return -EINVAL;
	v->bufs[i].state = B_IDLE;
	v->out--;
	if (v->lost || !v->streaming)
		return 0;
	/* The frame is given back either way; a buffer the driver does not
	 * take back breaks the stream, which next() reports. */
	if (qbuf(v, (uint32_t)i)) {
		lose(v);
		return 0;
	}
	v->bufs[i].state = B_QUEUED;
	v->queued++;
	return 0;
}

static int v4l2_stats(rkv_source *s, struct rkv_source_stats *st)
{
	struct v4l2_src *v = s->priv;

	*st = v->st;
	return 0;
}

static void v4l2_close(rkv_source *s)
{
	struct v4l2_src *v = s->priv;

	if (!v)
		return;
	if (v->streaming)
		v4l2_stop(s);
	v4l2_free(v);
	s->priv = NULL;
}

const struct rkv_source_ops rkv__source_v4l2 = {
	.size = sizeof(struct rkv_source_ops),
	.name = "v4l2",
	.open = v4l2_open,
	.export_buffers = v4l2_export,
	.start = v4l2_start,
	.fd = v4l2_fd,
	.next = v4l2_next,
	.done = v4l2_done,
	.stop = v4l2_stop,
	.close = v4l2_close,
	.stats = v4l2_stats,
	.export_ro = v4l2_export_ro,
};
