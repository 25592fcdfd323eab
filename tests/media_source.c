/* SPDX-License-Identifier: MIT */
/*
 * media_source.c - the media source (rkv-media.so, through rkv_source_*)
 * against real media: files it makes with gst-launch-1.0 in a temporary
 * directory, and servers on loopback it starts itself (media_server: an
 * RTSP server of gst-rtsp-server, an HTTP MJPEG server).
 *
 *   media_source MEDIA_SERVER SCENARIO     (MEDIA_SERVER "": the live ones skip)
 *
 * Scenarios (one per test, see tests/meson.build):
 *   files         MP4, MKV (H.264), AVI (MJPEG) and multipart MJPEG files,
 *                 by path and by file:// URI: every frame, once, in order,
 *                 of the file's size and a format of ours; the end is -EPIPE;
 *                 scaled and converted on request; through the poll fd
 *   exact         every byte of every frame, from a raw (y4m) file it
 *                 writes, at a width whose GStreamer rows are padded
 *                 (copied out into tight rows) and at one whose are not;
 *                 a file that breaks midway gives its frames before it,
 *                 then -ENODEV
 *   loop          RKV_SOURCE_LOOP: past the end, sequence numbers go on
 *   jpeg          MJPEG published undecoded (RKV_FMT_JPEG), whole JPEGs;
 *                 an H.264 file refused for JPEG
 *   decoder       cfg->decoder: the named decoder is used, one that cannot
 *                 decode the stream, or no such element, is refused
 *   errors        no such file, not a video, a format we do not make, an
 *                 RTSP server that is not there: clear refusals
 *   rtsp_tcp      RTSP interleaved in TCP (rtspt://)
 *   rtsp_udp      RTSP over UDP (rtspu://)
 *   rtsp_restart  the RTSP server killed and started again on its port:
 *                 no frames meanwhile, then frames again; errors and
 *                 reopens counted (rtsp_restart_udp: the same over UDP)
 *   rtsp_stall    the RTSP server stopped (SIGSTOP: the connection stays
 *                 open, nothing comes): lost after 5 s, frames again once
 *                 it goes on (SIGCONT)
 *   http          HTTP MJPEG: decoded, and passed through as JPEG; the
 *                 server killed and started again
 *   no_module     RKV_MEDIA_MODULE naming no file, and (no_module_foreign)
 *                 a library that is no media module: -ENOTSUP, saying so;
 *                 which URIs are media at all
 *
 * RKV_MEDIA_MODULE names the module to load (tests/meson.build sets it).
 * Exit 77 (skip) when a GStreamer piece the scenario needs is missing.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <rkv/source.h>

#include "source/media.h"
#include "test.h"

extern char **environ;

static char dir[256];
static const char *server_exe;

/* ---- helpers ------------------------------------------------------------- */

static int run_wait(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Skip the test unless every GStreamer element named is installed. */
static void need(const char *const *elements)
{
	for (; *elements; elements++) {
		char *argv[] = { "gst-inspect-1.0", "--exists", (char *)*elements, NULL };
		int r = run_wait(argv);
		if (r != 0) {
			printf("SKIP: GStreamer element %s is missing%s\n", *elements,
			       r < 0 ? " (no gst-inspect-1.0: install gstreamer1.0-tools)" : "");
			exit(TEST_SKIP);
		}
	}
}

/* Make dir/@name with gst-launch-1.0: @frames frames of videotestsrc at
 * 320x240, 30 fps, through @tail (encoder ! muxer). */
static const char *make_media(const char *name, int frames, const char *tail)
{
	static char path[512];
	char cmd[1024], nbuf[32];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(nbuf, sizeof(nbuf), "num-buffers=%d", frames);
	snprintf(cmd, sizeof(cmd),
		 "gst-launch-1.0 -q videotestsrc %s ! video/x-raw,format=I420,width=320,height=240,"
		 "framerate=30/1 ! %s ! filesink location='%s'",
		 nbuf, tail, path);
	char *argv[] = { "sh", "-c", cmd, NULL };
	if (run_wait(argv) != 0)
		FAIL("could not make %s: %s", name, cmd);
	return path;
}

static const char *make_mp4(int frames)
{
	return make_media("clip.mp4", frames,
			  "x264enc speed-preset=ultrafast key-int-max=10 threads=1 ! h264parse ! mp4mux");
}

static struct rkv_source_config config(const char *uri, uint32_t fourcc, uint32_t w, uint32_t h,
				       uint32_t flags, char *err, size_t errlen)
{
	struct rkv_source_config c = {
		.size = sizeof(c), .uri = uri, .fourcc = fourcc, .width = w, .height = h,
		.flags = flags, .errbuf = err, .errbuf_len = errlen,
	};
	err[0] = 0;
	return c;
}

static rkv_source *open_ok(const struct rkv_source_config *c, struct rkv_source_info *info)
{
	rkv_source *s;
	int r = rkv_source_open(c, &s, info);

	if (r)
		FAIL("open %s: %s (%s)", c->uri, strerror(-r), c->errbuf ? c->errbuf : "");
	CHECK_STR(info->backend, "media");
	return s;
}

static void expect_refused(const struct rkv_source_config *c, int err, const char *words)
{
	rkv_source *s = NULL;
	struct rkv_source_info info;
	int r = rkv_source_open(c, &s, &info);

	if (r != -err)
		FAIL("open %s: %d (%s), expected -%d (%s); errbuf: %s", c->uri, r,
		     r ? strerror(-r) : "opened", err, strerror(err), c->errbuf);
	CHECK(s == NULL);
	if (!strstr(c->errbuf, words))
		FAIL("open %s: errbuf \"%s\" does not say \"%s\"", c->uri, c->errbuf, words);
	printf("  refused as expected: %s\n", c->errbuf);
}

static int is_ours(uint32_t fourcc)
{
	return fourcc == RKV_FMT_NV12 || fourcc == RKV_FMT_I420 || fourcc == RKV_FMT_YUYV ||
	       fourcc == RKV_FMT_NV16 || fourcc == RKV_FMT_RGB24 || fourcc == RKV_FMT_BGR24 ||
	       fourcc == RKV_FMT_RGBA || fourcc == RKV_FMT_GREY;
}

/* Check one frame against what the source said it makes. */
static void check_frame(const struct rkv_source_info *info, const struct rkv_source_frame *f)
{
	CHECK_UINT(f->frame.fourcc, ==, info->fourcc);
	CHECK_UINT(f->frame.width, ==, info->width);
	CHECK_UINT(f->frame.height, ==, info->height);
	CHECK_OK(rkv_frame_check(&f->frame, info->frame_size));
	CHECK(f->data != NULL);
	CHECK_INT(f->buf, ==, -1);
	CHECK_INT(f->frame.timestamp_ns, >, 0);
	CHECK_INT(f->frame.timestamp_ns, <=, test_now_ns());
	if (info->fourcc == RKV_FMT_JPEG) {
		const uint8_t *p = f->data;
		uint64_t n = f->frame.bytes_used;
		CHECK_UINT(n, >, 4);
		CHECK(p[0] == 0xFF && p[1] == 0xD8);
		CHECK(p[n - 2] == 0xFF && p[n - 1] == 0xD9);
		CHECK(f->frame.flags & RKV_FRAME_KEYFRAME);
	} else {
		/* every byte readable, and every frame exactly the layout said */
		CHECK_UINT(f->frame.bytes_used, ==, info->frame_size);
		CHECK(memcmp(f->frame.planes, info->layout.planes, sizeof(info->layout.planes)) == 0);
		volatile uint8_t sum = 0;
		for (uint64_t i = 0; i < f->frame.bytes_used; i += 61)
			sum += ((const uint8_t *)f->data)[i];
		(void)sum;
	}
}

/* Read frames until the end (-EPIPE) or @max of them; each checked, the
 * sequence rising by one from @seq0 (files drop nothing). Returns how many. */
static int read_all(rkv_source *s, const struct rkv_source_info *info, int max, uint64_t seq0,
		    int via_fd)
{
	int n = 0, fd = rkv_source_fd(s);
	int64_t last_ts = 0;

	CHECK_INT(fd, >=, 0);
	while (n < max) {
		struct rkv_source_frame f;
		int r;

		if (via_fd) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			CHECK_INT(poll(&p, 1, 10000), ==, 1);
			r = rkv_source_next(s, &f, 0);
			if (r == -EAGAIN)
				continue;
		} else {
			r = rkv_source_next(s, &f, 10000000000LL);
		}
		if (r == -EPIPE)
			break;
		CHECK_OK(r);
		check_frame(info, &f);
		CHECK_UINT(f.frame.seq, ==, seq0 + (uint64_t)n);
		CHECK_INT(f.frame.timestamp_ns, >=, last_ts);
		last_ts = f.frame.timestamp_ns;
		CHECK_OK(rkv_source_done(s, &f));
		n++;
	}
	return n;
}

/* Read @n frames of a live stream: each checked, in order, possibly with
 * gaps (a live source drops the oldest when the reader falls behind, and
 * counts it). Returns the last sequence number. */
static uint64_t read_live(rkv_source *s, const struct rkv_source_info *info, int n)
{
	uint64_t last = 0;

	for (int i = 0; i < n; i++) {
		struct rkv_source_frame f;
		CHECK_OK(rkv_source_next(s, &f, 10000000000LL));
		check_frame(info, &f);
		if (i)
			CHECK_UINT(f.frame.seq, >, last);
		last = f.frame.seq;
		CHECK_OK(rkv_source_done(s, &f));
	}
	return last;
}

/* ---- servers ------------------------------------------------------------- */

struct server {
	pid_t pid;
	int port;
};

static struct server server_start(const char *kind, int port, int w, int h)
{
	char pbuf[16], wbuf[16], hbuf[16], line[64];
	posix_spawn_file_actions_t fa;
	struct server sv = { 0 };
	int pfd[2], got = 0;
	int64_t deadline = test_now_ns() + 20000000000LL;

	if (!server_exe[0]) {
		printf("SKIP: media_server was not built (no libgstrtspserver-1.0-dev)\n");
		exit(TEST_SKIP);
	}
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	snprintf(wbuf, sizeof(wbuf), "%d", w);
	snprintf(hbuf, sizeof(hbuf), "%d", h);
	char *argv[] = { (char *)server_exe, (char *)kind, pbuf, wbuf, hbuf, NULL };
	CHECK_OK(pipe(pfd) ? -errno : 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	if (posix_spawn(&sv.pid, server_exe, &fa, NULL, argv, environ) != 0)
		FAIL("cannot start %s", server_exe);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	/* "ready PORT", or the server's end */
	while (got < (int)sizeof(line) - 1 && !memchr(line, '\n', (size_t)got)) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int64_t left = (deadline - test_now_ns()) / 1000000;
		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			FAIL("media_server %s did not get ready", kind);
		ssize_t k = read(pfd[0], line + got, sizeof(line) - 1 - (size_t)got);
		if (k <= 0)
			break;
		got += (int)k;
		line[got] = 0;
	}
	close(pfd[0]);
	line[got] = 0;
	if (sscanf(line, "ready %d", &sv.port) != 1) {
		int st;
		waitpid(sv.pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_SKIP) {
			printf("SKIP: media_server %s: a GStreamer element is missing\n", kind);
			exit(TEST_SKIP);
		}
		FAIL("media_server %s said \"%s\"", kind, line);
	}
	return sv;
}

static void server_stop(struct server *sv, int sig)
{
	int st;

	if (sv->pid <= 0)
		return;
	kill(sv->pid, sig);
	waitpid(sv->pid, &st, 0);
	sv->pid = 0;
}

static struct server the_server;

static void stop_server_at_exit(void)
{
	server_stop(&the_server, SIGKILL);
}

/* ---- scenarios ----------------------------------------------------------- */

static void scenario_files(void)
{
	static const char *const els[] = { "x264enc", "h264parse", "mp4mux", "matroskamux",
					   "jpegenc", "avimux", "multipartmux", "avdec_h264",
					   "jpegdec", "qtdemux", "matroskademux", "avidemux",
					   "multipartdemux", NULL };
	struct {
		const char *name, *tail;
		int uri;
	} files[] = {
		{ "clip.mp4", "x264enc speed-preset=ultrafast key-int-max=10 threads=1 ! h264parse ! mp4mux", 0 },
		{ "clip.mkv", "x264enc speed-preset=ultrafast key-int-max=10 threads=1 ! h264parse ! matroskamux", 1 },
		{ "clip.avi", "jpegenc ! avimux", 0 },
		{ "clip.mjpeg", "jpegenc ! multipartmux", 1 },
	};
	char err[512], uri[600];

	need(els);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *path = make_media(files[i].name, 12, files[i].tail);
		struct rkv_source_info info;
		struct rkv_source_config c;
		rkv_source *s;
		int n;

		snprintf(uri, sizeof(uri), "file://%s", path);
		c = config(files[i].uri ? uri : path, 0, 0, 0, 0, err, sizeof(err));
		s = open_ok(&c, &info);
		char fcc[5];
		printf("  %s: %s %ux%u %u/%u fps, frames of %" PRIu64 " bytes, device %s\n",
		       files[i].name, rkv_fourcc_str(info.fourcc, fcc), info.width, info.height,
		       info.fps_num, info.fps_den, info.frame_size, info.device);
		CHECK(is_ours(info.fourcc));
		CHECK_UINT(info.width, ==, 320);
		CHECK_UINT(info.height, ==, 240);
		CHECK_UINT(info.nbufs, ==, 0);
		CHECK(strncmp(info.device, "file://", 7) == 0);
		CHECK_OK(rkv_frame_check(&info.layout, info.frame_size));
		CHECK_UINT(info.layout.bytes_used, ==, info.frame_size);
		CHECK_OK(rkv_source_start(s));
		n = read_all(s, &info, 100, 0, (int)i % 2);
		CHECK_EQ(n, 12);
		struct rkv_source_frame f;
		CHECK_ERR(rkv_source_next(s, &f, 0), EPIPE); /* and it stays ended */
		struct rkv_source_stats st;
		CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
		CHECK_UINT(st.frames, ==, 12);
		CHECK_UINT(st.dropped, ==, 0);
		CHECK_UINT(st.errors, ==, 0);
		rkv_source_close(s);
	}

	/* converted and scaled on request, each format of ours */
	const char *mp4 = make_mp4(6);
	const uint32_t fmts[] = { RKV_FMT_NV12, RKV_FMT_I420, RKV_FMT_YUYV, RKV_FMT_NV16,
				  RKV_FMT_RGB24, RKV_FMT_BGR24, RKV_FMT_RGBA, RKV_FMT_GREY };
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		uint32_t w = i % 2 ? 160 : 318, h = i % 2 ? 120 : 178;
		struct rkv_source_config c = config(mp4, fmts[i], w, h, 0, err, sizeof(err));
		struct rkv_source_info info;
		rkv_source *s = open_ok(&c, &info);
		struct rkv_frame want;

		CHECK_UINT(info.fourcc, ==, fmts[i]);
		CHECK_UINT(info.width, ==, w);
		CHECK_UINT(info.height, ==, h);
		CHECK_INT(rkv_frame_layout(&want, fmts[i], w, h, 1), ==, (int64_t)info.frame_size);
		CHECK(memcmp(want.planes, info.layout.planes, sizeof(want.planes)) == 0);
		CHECK_OK(rkv_source_start(s));
		CHECK_EQ(read_all(s, &info, 100, 0, 0), 6);
		rkv_source_close(s);
	}

	/* stop and start: the file goes on where it was; frames out first */
	{
		const char *mp4b = make_mp4(20);
		struct rkv_source_config c = config(mp4b, 0, 0, 0, 0, err, sizeof(err));
		struct rkv_source_info info;
		rkv_source *s = open_ok(&c, &info);
		struct rkv_source_frame f;
		int n = 0;

		CHECK_OK(rkv_source_start(s));
		CHECK_OK(rkv_source_next(s, &f, 10000000000LL));
		CHECK_ERR(rkv_source_stop(s), EBUSY);
		CHECK_OK(rkv_source_done(s, &f));
		CHECK_OK(rkv_source_stop(s));
		CHECK_OK(rkv_source_start(s));
		uint64_t last = f.frame.seq;
		for (;;) {
			int r = rkv_source_next(s, &f, 10000000000LL);
			if (r == -EPIPE)
				break;
			CHECK_OK(r);
			CHECK_UINT(f.frame.seq, >, last);
			last = f.frame.seq;
			CHECK_OK(rkv_source_done(s, &f));
			n++;
		}
		/* a frame on its way at the stop may be lost, no more */
		CHECK_INT(n, >=, 18);
		CHECK_INT(n, <=, 19);
		rkv_source_close(s);
	}

	/* frames out at once: up to cfg->buffers, then -EBUSY */
	{
		struct rkv_source_config c = config(mp4, 0, 0, 0, 0, err, sizeof(err));
		struct rkv_source_frame f[3];
		struct rkv_source_info info;
		rkv_source *s;

		c.buffers = 2;
		s = open_ok(&c, &info);
		CHECK_OK(rkv_source_start(s));
		CHECK_OK(rkv_source_next(s, &f[0], 10000000000LL));
		CHECK_OK(rkv_source_next(s, &f[1], 10000000000LL));
		CHECK_ERR(rkv_source_next(s, &f[2], 10000000000LL), EBUSY);
		CHECK_ERR(rkv_source_done(s, &f[2]), EINVAL);
		CHECK_OK(rkv_source_done(s, &f[0]));
		CHECK_OK(rkv_source_next(s, &f[2], 10000000000LL));
		CHECK_UINT(f[2].frame.seq, ==, 2);
		CHECK_OK(rkv_source_done(s, &f[1]));
		CHECK_OK(rkv_source_done(s, &f[2]));
		rkv_source_close(s);
		/* closed with frames out: everything goes */
		s = open_ok(&c, &info);
		CHECK_OK(rkv_source_start(s));
		CHECK_OK(rkv_source_next(s, &f[0], 10000000000LL));
		rkv_source_close(s);
	}
}

/* The byte at (x, y) of plane p of frame i of the exact scenario. */
static uint8_t exact_px(int i, int p, uint32_t x, uint32_t y)
{
	return (uint8_t)(x * 7 + y * 13 + (uint32_t)i * 29 + (uint32_t)p * 101);
}

/* Write y4m file @path (I420, tight rows, as the format has them): @n
 * frames at @w x @h of exact_px(); frame @bad (if below @n) with a broken
 * frame header. */
static void write_y4m(const char *path, uint32_t w, uint32_t h, int n, int bad)
{
	uint32_t cw = (w + 1) / 2, ch = (h + 1) / 2;
	const uint32_t rows[3] = { h, ch, ch }, bytes[3] = { w, cw, cw };
	FILE *fp = fopen(path, "wb");

	CHECK(fp != NULL);
	fprintf(fp, "YUV4MPEG2 W%u H%u F30:1 Ip A1:1 C420jpeg\n", w, h);
	for (int i = 0; i < n; i++) {
		fputs(i == bad ? "FRAMX\n" : "FRAME\n", fp);
		for (int p = 0; p < 3; p++)
			for (uint32_t y = 0; y < rows[p]; y++)
				for (uint32_t x = 0; x < bytes[p]; x++)
					fputc(exact_px(i, p, x, y), fp);
	}
	CHECK_OK(fclose(fp) ? -errno : 0);
}

/* Decode a y4m file of @n frames at @w x @h through the source and
 * compare every byte of every frame. */
static void exact_y4m(uint32_t w, uint32_t h, int n)
{
	uint32_t cw = (w + 1) / 2, ch = (h + 1) / 2;
	const uint32_t rows[3] = { h, ch, ch }, bytes[3] = { w, cw, cw };
	char err[512], uri[600], path[512];
	struct rkv_source_info info;
	struct rkv_source_frame f;

	snprintf(path, sizeof(path), "%s/exact-%ux%u.y4m", dir, w, h);
	write_y4m(path, w, h, n, n);
	snprintf(uri, sizeof(uri), "file://%s", path);
	struct rkv_source_config c = config(uri, RKV_FMT_I420, 0, 0, 0, err, sizeof(err));
	rkv_source *s = open_ok(&c, &info);
	CHECK_UINT(info.width, ==, w);
	CHECK_UINT(info.height, ==, h);
	CHECK_UINT(info.frame_size, ==, (uint64_t)w * h + 2ull * cw * ch);
	CHECK_OK(rkv_source_start(s));
	for (int i = 0; i < n; i++) {
		CHECK_OK(rkv_source_next(s, &f, 10000000000LL));
		check_frame(&info, &f);
		CHECK_UINT(f.frame.seq, ==, (uint64_t)i);
		for (int p = 0; p < 3; p++)
			for (uint32_t y = 0; y < rows[p]; y++) {
				const uint8_t *row = (const uint8_t *)f.data + f.frame.planes[p].offset +
						     (uint64_t)y * f.frame.planes[p].stride;
				for (uint32_t x = 0; x < bytes[p]; x++)
					if (row[x] != exact_px(i, p, x, y))
						FAIL("%ux%u frame %d plane %d (%u, %u): %u, not %u", w, h,
						     i, p, x, y, row[x], exact_px(i, p, x, y));
			}
		CHECK_OK(rkv_source_done(s, &f));
	}
	CHECK_ERR(rkv_source_next(s, &f, 10000000000LL), EPIPE);
	rkv_source_close(s);
	printf("  %ux%u: %d frames, every byte as written\n", w, h, n);
}

static void scenario_exact(void)
{
	static const char *const els[] = { "y4mdec", NULL };

	need(els);
	/* GStreamer's I420 rows at width 320 are ours: the buffer is handed
	 * out as it is. At 318 they are 320 and 160 bytes, ours 318 and 159:
	 * the frame is copied out into tight rows. */
	exact_y4m(320, 240, 3);
	exact_y4m(318, 178, 3);

	/* a file that breaks after two good frames: -ENODEV, and it stays so */
	char err[512], uri[600], path[512];
	struct rkv_source_info info;
	struct rkv_source_frame f;
	struct rkv_source_stats st;
	int n = 0, r;

	snprintf(path, sizeof(path), "%s/broken.y4m", dir);
	write_y4m(path, 64, 48, 4, 2);
	snprintf(uri, sizeof(uri), "file://%s", path);
	struct rkv_source_config c = config(uri, 0, 0, 0, RKV_SOURCE_LOOP, err, sizeof(err));
	rkv_source *s = open_ok(&c, &info);
	CHECK_OK(rkv_source_start(s));
	while ((r = rkv_source_next(s, &f, 10000000000LL)) == 0) {
		CHECK_OK(rkv_source_done(s, &f));
		n++;
	}
	CHECK_EQ(r, -ENODEV);
	/* The error can overtake the second frame: the parser meets the
	 * broken header while that frame waits in the sink for its time. */
	CHECK_INT(n, >=, 1);
	CHECK_INT(n, <=, 2);
	struct pollfd pf = { .fd = rkv_source_fd(s), .events = POLLIN };
	CHECK_EQ(poll(&pf, 1, 0), 1);
	CHECK_ERR(rkv_source_next(s, &f, 0), ENODEV);
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	CHECK_UINT(st.frames, ==, (uint64_t)n);
	CHECK_UINT(st.errors, ==, 1);
	rkv_source_close(s);
	printf("  a broken file: %d frame(s), then -ENODEV\n", n);
}

static void scenario_loop(void)
{
	static const char *const els[] = { "x264enc", "h264parse", "mp4mux", "avdec_h264",
					   "jpegenc", "avimux", NULL };
	char err[512];

	need(els);
	const char *paths[] = { make_mp4(8), make_media("clip.avi", 8, "jpegenc ! avimux") };
	for (size_t i = 0; i < 2; i++) {
		struct rkv_source_config c = config(paths[i], 0, 0, 0, RKV_SOURCE_LOOP, err,
						    sizeof(err));
		struct rkv_source_info info;
		rkv_source *s = open_ok(&c, &info);
		struct rkv_source_stats st;

		CHECK_OK(rkv_source_start(s));
		/* three times through, and a bit: never -EPIPE, every frame */
		CHECK_EQ(read_all(s, &info, 28, 0, (int)i), 28);
		CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
		CHECK_UINT(st.frames, ==, 28);
		CHECK_UINT(st.dropped, ==, 0);
		CHECK_UINT(st.errors, ==, 0);
		rkv_source_close(s);
	}
}

static void scenario_jpeg(void)
{
	static const char *const els[] = { "jpegenc", "avimux", "multipartmux", "jpegparse",
					   "x264enc", "h264parse", "mp4mux", NULL };
	char err[512];

	need(els);
	const char *avi = make_media("clip.avi", 10, "jpegenc ! avimux");
	struct rkv_source_config c = config(avi, RKV_FMT_JPEG, 0, 0, 0, err, sizeof(err));
	struct rkv_source_info info;
	rkv_source *s = open_ok(&c, &info);

	CHECK_UINT(info.fourcc, ==, RKV_FMT_JPEG);
	CHECK_UINT(info.width, ==, 320);
	CHECK_UINT(info.height, ==, 240);
	CHECK_UINT(info.frame_size, >=, 320 * 240 * 3);
	CHECK_OK(rkv_source_start(s));
	CHECK_EQ(read_all(s, &info, 100, 0, 0), 10);
	rkv_source_close(s);

	const char *mj = make_media("clip.mjpeg", 10, "jpegenc ! multipartmux");
	c = config(mj, RKV_FMT_JPEG, 0, 0, RKV_SOURCE_LOOP, err, sizeof(err));
	s = open_ok(&c, &info);
	CHECK_OK(rkv_source_start(s));
	CHECK_EQ(read_all(s, &info, 25, 0, 1), 25);
	rkv_source_close(s);

	/* H.264 cannot be had as JPEG, nor JPEG scaled */
	c = config(make_mp4(5), RKV_FMT_JPEG, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, ENOTSUP, "not MJPEG");
	c = config(avi, RKV_FMT_JPEG, 160, 120, 0, err, sizeof(err));
	expect_refused(&c, ENOTSUP, "undecoded");
}

static void scenario_decoder(void)
{
	static const char *const els[] = { "x264enc", "h264parse", "mp4mux", "avdec_h264",
					   "jpegdec", NULL };
	char err[512];

	need(els);
	const char *mp4 = make_mp4(6);
	struct rkv_source_config c = config(mp4, 0, 0, 0, 0, err, sizeof(err));
	struct rkv_source_info info;
	rkv_source *s;

	c.decoder = "avdec_h264";
	s = open_ok(&c, &info);
	CHECK_OK(rkv_source_start(s));
	CHECK_EQ(read_all(s, &info, 100, 0, 0), 6);
	rkv_source_close(s);

	c.decoder = "jpegdec"; /* a decoder, not of H.264 */
	expect_refused(&c, ENOTSUP, "jpegdec");
	c.decoder = "mppvideodec-not-here";
	expect_refused(&c, ENOTSUP, "no GStreamer element named 'mppvideodec-not-here'");
	c.decoder = "videoconvert";
	expect_refused(&c, EINVAL, "not a decoder");
}

static void scenario_errors(void)
{
	static const char *const els[] = { "x264enc", "h264parse", "mp4mux", "rtspsrc", NULL };
	char err[512], path[512], uri[600];
	struct rkv_source_config c;

	need(els);
	snprintf(path, sizeof(path), "%s/nothing.mp4", dir);
	c = config(path, 0, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, ENOENT, "no such file");
	snprintf(uri, sizeof(uri), "file://%s", path);
	c = config(uri, 0, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, ENOENT, "no such file");

	/* not a video: text in a .mp4 */
	snprintf(path, sizeof(path), "%s/text.mp4", dir);
	FILE *fp = fopen(path, "w");
	CHECK(fp != NULL);
	for (int i = 0; i < 200; i++)
		fprintf(fp, "this is not a video, line %d\n", i);
	fclose(fp);
	c = config(path, 0, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, ENOTSUP, path);

	c = config(make_mp4(3), RKV_FMT_H264, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, ENOTSUP, "not H264");
	c = config(dir, 0, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, ENOTSUP, "no source for"); /* a directory is no media */
	c = config("file:///", 0, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, EINVAL, "not a file");
	c = config("rtsp://[bad", 0, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, ENOENT, "Invalid RTSP URI");
	c = config("no such scheme://x", 0, 0, 0, 0, err, sizeof(err));
	expect_refused(&c, EINVAL, "not a valid URI");

	/* nobody listens on this port (bound, never listening) */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)) ? -errno : 0);
	CHECK_OK(getsockname(fd, (struct sockaddr *)&a, &alen) ? -errno : 0);
	snprintf(uri, sizeof(uri), "rtspt://127.0.0.1:%d/test", ntohs(a.sin_port));
	c = config(uri, 0, 0, 0, 0, err, sizeof(err));
	int64_t t0 = test_now_ns();
	expect_refused(&c, ECONNREFUSED, "cannot connect");
	CHECK_INT(test_now_ns() - t0, <, 10000000000LL);
	close(fd);
}

/* Wait up to @secs for @s's error count to reach @n, taking (and
 * counting) what frames still come; returns the last sequence number. */
static uint64_t wait_errors(rkv_source *s, uint64_t n, double secs, uint64_t last)
{
	int64_t t0 = test_now_ns();
	struct rkv_source_stats st;
	int extra = 0;

	for (;;) {
		struct rkv_source_frame f;
		int r = rkv_source_next(s, &f, 100000000);
		if (r == 0) { /* what was on its way */
			CHECK_INT(++extra, <, 30);
			CHECK_UINT(f.frame.seq, >, last);
			last = f.frame.seq;
			CHECK_OK(rkv_source_done(s, &f));
			continue;
		}
		CHECK(r == -ETIMEDOUT || r == -EAGAIN);
		CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
		if (st.errors >= n)
			break;
		if (test_now_ns() - t0 > (int64_t)(secs * 1e9))
			FAIL("errors %" PRIu64 " after %.1f s, expected %" PRIu64, st.errors, secs, n);
	}
	CHECK_UINT(st.errors, ==, n);
	printf("  lost after %.2f s\n", (test_now_ns() - t0) / 1e9);
	return last;
}

/* Frames again (within 20 s), after a reconnection: in order after @last. */
static void wait_back(rkv_source *s, const struct rkv_source_info *info, uint64_t last)
{
	int64_t back = test_now_ns();
	struct rkv_source_frame f;
	struct rkv_source_stats st;
	int r;

	do
		r = rkv_source_next(s, &f, 500000000);
	while (r == -ETIMEDOUT && test_now_ns() - back < 20000000000LL);
	CHECK_OK(r);
	printf("  frames again after %.2f s\n", (test_now_ns() - back) / 1e9);
	check_frame(info, &f);
	CHECK_UINT(f.frame.seq, >, last);
	CHECK_OK(rkv_source_done(s, &f));
	read_live(s, info, 10);
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	CHECK_UINT(st.errors, ==, 1);
	CHECK_UINT(st.reopens, ==, 1);
}

static void rtsp_read(const char *scheme, int restart)
{
	static const char *const els[] = { "rtspsrc", "rtph264depay", "avdec_h264", "x264enc",
					   "rtph264pay", NULL };
	char err[512], uri[128];
	struct rkv_source_info info;
	struct rkv_source_stats st;
	rkv_source *s;

	need(els);
	the_server = server_start("rtsp", 0, 320, 240);
	int port = the_server.port;
	snprintf(uri, sizeof(uri), "%s://127.0.0.1:%d/test", scheme, port);
	struct rkv_source_config c = config(uri, RKV_FMT_NV12, 0, 0, 0, err, sizeof(err));
	int64_t t0 = test_now_ns();
	s = open_ok(&c, &info);
	printf("  %s: opened in %.2f s, %ux%u %u/%u fps\n", uri, (test_now_ns() - t0) / 1e9,
	       info.width, info.height, info.fps_num, info.fps_den);
	CHECK_UINT(info.fourcc, ==, RKV_FMT_NV12);
	CHECK_UINT(info.width, ==, 320);
	CHECK_UINT(info.height, ==, 240);
	CHECK_OK(rkv_source_start(s));

	t0 = test_now_ns();
	uint64_t last = read_live(s, &info, 20);
	double secs = (test_now_ns() - t0) / 1e9;
	printf("  20 frames in %.2f s (%.1f fps)\n", secs, 20 / secs);
	CHECK_OK(rkv_source_stats(s, &st, sizeof(st)));
	CHECK_UINT(st.frames, ==, 20);
	CHECK_UINT(last + 1, ==, st.frames + st.dropped);
	CHECK_UINT(st.errors, ==, 0);

	if (restart == 1) {
		/* the server goes away: no frames (and no error returned) while
		 * it is gone; then it comes back on the same port */
		server_stop(&the_server, SIGKILL);
		last = wait_errors(s, 1, 3, last);
		the_server = server_start("rtsp", port, 320, 240);
		wait_back(s, &info, last);
	} else if (restart == 2) {
		/* the server hangs: the connection stays, nothing comes */
		kill(the_server.pid, SIGSTOP);
		last = wait_errors(s, 1, 9, last);
		kill(the_server.pid, SIGCONT);
		wait_back(s, &info, last);
	}

	/* stop disconnects, start connects again */
	CHECK_OK(rkv_source_stop(s));
	CHECK_OK(rkv_source_start(s));
	struct rkv_source_frame f;
	CHECK_OK(rkv_source_next(s, &f, 10000000000LL));
	CHECK_OK(rkv_source_done(s, &f));
	rkv_source_close(s);
	server_stop(&the_server, SIGTERM);
}

static void scenario_http(void)
{
	static const char *const els[] = { "souphttpsrc", "multipartdemux", "jpegdec",
					   "jpegparse", "jpegenc", NULL };
	char err[512], uri[128];
	struct rkv_source_info info;

	need(els);
	the_server = server_start("http", 0, 320, 240);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/stream.mjpeg", the_server.port);
	for (int jpeg = 0; jpeg < 2; jpeg++) {
		struct rkv_source_config c = config(uri, jpeg ? RKV_FMT_JPEG : 0, 0, 0, 0, err,
						    sizeof(err));
		rkv_source *s = open_ok(&c, &info);
		char fcc[5];

		printf("  %s: %s %ux%u\n", uri, rkv_fourcc_str(info.fourcc, fcc), info.width,
		       info.height);
		CHECK_UINT(info.fourcc, ==, jpeg ? RKV_FMT_JPEG : info.fourcc);
		CHECK(jpeg || is_ours(info.fourcc));
		CHECK_UINT(info.width, ==, 320);
		CHECK_UINT(info.height, ==, 240);
		CHECK_OK(rkv_source_start(s));
		uint64_t last = read_live(s, &info, 15);
		if (jpeg) { /* the server goes away and comes back */
			int port = the_server.port;
			server_stop(&the_server, SIGKILL);
			last = wait_errors(s, 1, 3, last);
			the_server = server_start("http", port, 320, 240);
			wait_back(s, &info, last);
		}
		rkv_source_close(s);
	}
	server_stop(&the_server, SIGTERM);
}

/* Before any media open: the module cannot be had. */
static void scenario_no_module(const char *module, const char *words)
{
	static const struct {
		const char *uri;
		int media;
	} uris[] = {
		{ "clip.mp4", 1 }, { "/a/b/CLIP.MKV", 1 }, { "x.mjpeg", 1 }, { "x.Avi", 1 },
		{ "rtsp://h/p", 1 }, { "http://h:8080/s", 1 }, { "file:///x", 1 },
		{ "clip.mp4.txt", 0 }, { "dir.mp4/clip", 0 }, { "/dev/video0", 0 },
		{ "testpattern", 0 }, { "noext", 0 }, { "", 0 },
	};
	char err[512];

	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++)
		if (rkv__source_is_media(uris[i].uri) != uris[i].media)
			FAIL("rkv__source_is_media(\"%s\") is not %d", uris[i].uri, uris[i].media);
	CHECK_OK(setenv(RKV_MEDIA_ENV, module, 1) ? -errno : 0);
	for (int i = 0; i < 2; i++) { /* the second open says the same, loading nothing */
		struct rkv_source_config c = config("clip.mp4", 0, 0, 0, 0, err, sizeof(err));
		expect_refused(&c, ENOTSUP, "media source not available");
		if (!strstr(err, module) || !strstr(err, words))
			FAIL("errbuf \"%s\" does not name %s, nor say \"%s\"", err, module, words);
	}
}

static void cleanup_dir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	char *argv[] = { "sh", "-c", cmd, NULL };
	run_wait(argv);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: media_source MEDIA_SERVER SCENARIO\n");
		return 2;
	}
	server_exe = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_watchdog(90);
	snprintf(dir, sizeof(dir), "%s/rkv-media-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		FAIL("mkdtemp: %s", strerror(errno));
	atexit(cleanup_dir);
	atexit(stop_server_at_exit);

	const char *sc = argv[2];
	if (!strcmp(sc, "no_module")) {
		char path[300];
		snprintf(path, sizeof(path), "%s/no-such-module.so", dir);
		scenario_no_module(path, "libgstreamer1.0-dev");
		printf("%s: ok\n", sc);
		return 0;
	}
	if (!strcmp(sc, "no_module_foreign")) { /* a library, not a media module */
		scenario_no_module(getenv("RKV_TEST_FOREIGN_LIB"), "not a media module");
		printf("%s: ok\n", sc);
		return 0;
	}

	/* the module itself first: a build without it skips, saying why */
	{
		char err[512];
		struct rkv_source_config c = config("rtsp://127.0.0.1:1/x", RKV_FMT_H264, 0, 0, 0,
						    err, sizeof(err));
		rkv_source *s;
		int r = rkv_source_open(&c, &s, NULL);
		if (r == -ENOTSUP && strstr(err, "not available")) {
			printf("SKIP: %s\n", err);
			return TEST_SKIP;
		}
	}

	if (!strcmp(sc, "files"))
		scenario_files();
	else if (!strcmp(sc, "exact"))
		scenario_exact();
	else if (!strcmp(sc, "loop"))
		scenario_loop();
	else if (!strcmp(sc, "jpeg"))
		scenario_jpeg();
	else if (!strcmp(sc, "decoder"))
		scenario_decoder();
	else if (!strcmp(sc, "errors"))
		scenario_errors();
	else if (!strcmp(sc, "rtsp_tcp"))
		rtsp_read("rtspt", 0);
	else if (!strcmp(sc, "rtsp_udp"))
		rtsp_read("rtspu", 0);
	else if (!strcmp(sc, "rtsp_restart"))
		rtsp_read("rtspt", 1);
	else if (!strcmp(sc, "rtsp_restart_udp"))
		rtsp_read("rtspu", 1);
	else if (!strcmp(sc, "rtsp_stall"))
		rtsp_read("rtspt", 2);
	else if (!strcmp(sc, "http"))
		scenario_http();
	else
		FAIL("no scenario %s", sc);
	printf("%s: ok\n", sc);
	return 0;
}
