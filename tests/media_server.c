/* SPDX-License-Identifier: MIT */
/*
 * media_server - the live servers the media tests play from, on loopback:
 *
 *   media_server rtsp PORT WIDTH HEIGHT
 *       gst-rtsp-server serving rtsp://127.0.0.1:PORT/test, H.264 from
 *       videotestsrc + x264enc at 30 fps, over UDP or TCP as the client asks;
 *   media_server http PORT WIDTH HEIGHT
 *       HTTP MJPEG (multipart/x-mixed-replace of JPEGs from videotestsrc +
 *       jpegenc at 30 fps) on http://127.0.0.1:PORT/, one client at a time.
 *
 * PORT 0 picks a free port. Once serving, it prints "ready PORT" on
 * stdout. It runs until SIGTERM or SIGINT, or its parent (the test) ends,
 * and at most 120 s in any case. Exit status 77:
 * a GStreamer element it needs is missing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#define LIFETIME_S 120

static GMainLoop *loop;

static gboolean on_quit(gpointer ud)
{
	(void)ud;
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static int need(const char *const *elements)
{
	for (; *elements; elements++) {
		GstElementFactory *f = gst_element_factory_find(*elements);
		if (!f) {
			fprintf(stderr, "media_server: GStreamer element %s is missing\n", *elements);
			return 0;
		}
		gst_object_unref(f);
	}
	return 1;
}

static int serve_rtsp(const char *port, int w, int h)
{
	static const char *const els[] = { "videotestsrc", "x264enc", "rtph264pay", NULL };
	GstRTSPServer *server;
	GstRTSPMountPoints *mounts;
	GstRTSPMediaFactory *factory;
	char launch[512];

	if (!need(els))
		return 77;
	server = gst_rtsp_server_new();
	gst_rtsp_server_set_address(server, "127.0.0.1");
	gst_rtsp_server_set_service(server, port);
	snprintf(launch, sizeof(launch),
		 "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=%d,height=%d,"
		 "framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
		 "threads=1 ! rtph264pay name=pay0 pt=96 config-interval=1 )",
		 w, h);
	factory = gst_rtsp_media_factory_new();
	gst_rtsp_media_factory_set_launch(factory, launch);
	gst_rtsp_media_factory_set_shared(factory, TRUE);
	mounts = gst_rtsp_server_get_mount_points(server);
	gst_rtsp_mount_points_add_factory(mounts, "/test", factory);
	g_object_unref(mounts);
	if (gst_rtsp_server_attach(server, NULL) == 0) {
		fprintf(stderr, "media_server: cannot listen on 127.0.0.1:%s\n", port);
		return 1;
	}
	printf("ready %d\n", gst_rtsp_server_get_bound_port(server));
	fflush(stdout);
	g_main_loop_run(loop);
	g_object_unref(server);
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One client: read its request, then JPEGs until it goes. */
static void http_client(int fd, GstAppSink *sink)
{
	static const char head[] = "HTTP/1.0 200 OK\r\n"
				   "Content-Type: multipart/x-mixed-replace; boundary=rkvframe\r\n"
				   "Cache-Control: no-cache\r\n\r\n";
	char req[2048];
	size_t got = 0;

	while (got < sizeof(req) - 1) {
		ssize_t k = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (k <= 0)
			return;
		got += (size_t)k;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (write_all(fd, head, sizeof(head) - 1))
		return;
	for (;;) {
		GstSample *s = gst_app_sink_pull_sample(sink);
		GstBuffer *b = s ? gst_sample_get_buffer(s) : NULL;
		GstMapInfo map;
		char part[128];
		int bad = 1;

		if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
			int n = snprintf(part, sizeof(part),
					 "--rkvframe\r\nContent-Type: image/jpeg\r\n"
					 "Content-Length: %zu\r\n\r\n",
					 map.size);
			bad = write_all(fd, part, (size_t)n) || write_all(fd, map.data, map.size) ||
			      write_all(fd, "\r\n", 2);
			gst_buffer_unmap(b, &map);
		}
		if (s)
			gst_sample_unref(s);
		if (bad)
			return;
	}
}

static int serve_http(const char *port, int w, int h)
{
	static const char *const els[] = { "videotestsrc", "jpegenc", "appsink", NULL };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	GstElement *pipe;
	GstAppSink *sink;
	char launch[512];
	int one = 1, ls;

	if (!need(els))
		return 77;
	snprintf(launch, sizeof(launch),
		 "videotestsrc is-live=true pattern=ball ! video/x-raw,width=%d,height=%d,"
		 "framerate=30/1 ! jpegenc ! appsink name=sink max-buffers=1 drop=true sync=false",
		 w, h);
	pipe = gst_parse_launch(launch, NULL);
	if (!pipe)
		return 1;
	sink = GST_APP_SINK(gst_bin_get_by_name(GST_BIN(pipe), "sink"));
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)atoi(port));
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) < 0) {
		perror("media_server: listen");
		return 1;
	}
	gst_element_set_state(pipe, GST_STATE_PLAYING);
	printf("ready %d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			break;
		http_client(c, sink);
		close(c);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int w, h;

	if (argc != 5 || (w = atoi(argv[3])) <= 0 || (h = atoi(argv[4])) <= 0) {
		fprintf(stderr, "usage: media_server rtsp|http PORT WIDTH HEIGHT\n");
		return 2;
	}
	/* A test that fails _exits at once: the server goes with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
		return 1;
	gst_init(NULL, NULL);
	alarm(LIFETIME_S);
	if (!strcmp(argv[1], "rtsp")) {
		loop = g_main_loop_new(NULL, FALSE);
		g_unix_signal_add(SIGTERM, on_quit, NULL);
		g_unix_signal_add(SIGINT, on_quit, NULL);
		return serve_rtsp(argv[2], w, h);
	}
	if (!strcmp(argv[1], "http"))
		return serve_http(argv[2], w, h);
	fprintf(stderr, "media_server: rtsp or http, not %s\n", argv[1]);
	return 2;
}
