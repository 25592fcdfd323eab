/* SPDX-License-Identifier: MIT */
/*
 * source/media.c - the media source: video files (MP4, MKV, AVI, MJPEG),
 * RTSP and HTTP MJPEG through GStreamer, ending in an appsink. Built as the
 * module rkv-media.so (source/media.h says why); rkv/source.h has the
 * contract.
 *
 * The pipeline is
 *     uridecodebin ! videoconvert ! videoscale ! appsink     (raw formats)
 *     uridecodebin ! jpegparse ! appsink                     (RKV_FMT_JPEG)
 * uridecodebin picks the source element from the URI (filesrc, rtspsrc,
 * souphttpsrc), the demuxer and the decoder; cfg->decoder narrows the
 * decoders it may pick to that one element (autoplug-select), so a board's
 * hardware decoder (mppvideodec) is a configuration change. videoconvert
 * and videoscale pass buffers through untouched when the decoder already
 * makes the format and size asked for, and for format 0 the appsink takes
 * any format this library knows, so the decoder's own one is kept. For
 * JPEG, uridecodebin stops at image/jpeg: an MJPEG stream is published as
 * it comes, never decoded.
 *
 * Threads. The caller's thread (one at a time, rkv/source.h) owns the
 * pipeline: it builds it, changes its state, reads its bus and tears it
 * down. GStreamer's streaming threads run three callbacks here: a new
 * sample (taken from the appsink at once, stamped and queued in our ring),
 * a new pad of uridecodebin (linked), and a bus message (only signals).
 * What they share with the caller is under m->lock. The ring's samples
 * are handed out by next() and kept, mapped, until done(). An eventfd
 * says "a sample or a bus message came", a timerfd "a reconnection is
 * due"; the fd the caller polls is an epoll set of the two.
 *
 * Files play at their own rate (appsink sync): a streaming thread that
 * finds the ring full waits for room, so no frame of a file is lost to a
 * slow reader. Live streams (every URI but file://) are not held back:
 * the oldest queued frame makes room and is counted as dropped, and its
 * sequence number is skipped. A live stream that fails (an error on the
 * bus, the stream ending, or no frame for 5 s) is torn down and built
 * again after a backoff of 0.1 s doubling to 5 s, inside next(): the
 * caller sees no frames meanwhile, stats count the error and the reopen.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "source/media.h"
#include "source/source.h"

#define NS_PER_S        1000000000LL
#define OPEN_TIMEOUT_NS (10 * NS_PER_S) /* preroll, or a live stream's first frame */
#define BACKOFF_MIN_NS  (NS_PER_S / 10)
#define BACKOFF_MAX_NS  (5 * NS_PER_S)
#define RTSP_LATENCY_MS 200u            /* rtspsrc's jitter buffer (its default: 2 s) */
#define NET_TIMEOUT_S   5u              /* connect / read timeouts of network sources */
#define STALL_NS        (5 * NS_PER_S)  /* a live stream without a frame this long is lost */
#define MAX_FRAMES      64u             /* cfg->buffers' limit (source.c) */

/* uridecodebin's autoplug-select answers (GstAutoplugSelectResult). */
enum { SELECT_TRY = 0, SELECT_SKIP = 2 };

static const struct {
	uint32_t rkv;
	GstVideoFormat gst;
} formats[] = {
	{ RKV_FMT_NV12, GST_VIDEO_FORMAT_NV12 },   { RKV_FMT_I420, GST_VIDEO_FORMAT_I420 },
	{ RKV_FMT_YUYV, GST_VIDEO_FORMAT_YUY2 },   { RKV_FMT_NV16, GST_VIDEO_FORMAT_NV16 },
	{ RKV_FMT_RGB24, GST_VIDEO_FORMAT_RGB },   { RKV_FMT_BGR24, GST_VIDEO_FORMAT_BGR },
	{ RKV_FMT_RGBA, GST_VIDEO_FORMAT_RGBA },   { RKV_FMT_GREY, GST_VIDEO_FORMAT_GRAY8 },
};

struct queued {
	GstSample *sample;
	int64_t ts;
	uint64_t seq;
};

struct out {
	GstSample *sample;          /* NULL: free */
	GstBuffer *buf;
	GstMapInfo map;
	uint8_t *copy;              /* a repacked frame (frame_size bytes), kept for reuse */
	const void *data;
	uint64_t seq;
};

struct media {
	/* Set at open, then only read (by every thread). */
	char uri[1024];             /* what uridecodebin opens (file:// for a path) */
	char decoder[128];          /* "": uridecodebin's choice */
	int live, loop, jpeg, http;
	uint32_t cap;               /* frames queued or out at once: cfg->buffers */
	GstCaps *want;              /* the appsink's caps: what was asked for, then pinned */
	uint32_t fourcc, width, height;
	struct rkv_frame layout;    /* raw: every frame's (tight rows) */
	GstVideoInfo vinfo;         /* raw: the pinned caps' */
	uint64_t frame_size;
	int efd, tfd, epfd;

	/* The caller's thread only. */
	GstElement *pipe, *sink;
	int started, ended, broken; /* broken: a file failed: -ENODEV */
	int down, retrying;         /* live: torn down, and since then no frame */
	int64_t backoff, retry_at;
	int64_t armed_at;           /* the timerfd's expiry (0: disarmed) */
	struct out outs[MAX_FRAMES];
	uint32_t nout;
	uint64_t frames, errors, reopens;

	/* Shared with the streaming threads. */
	pthread_mutex_t lock;
	pthread_cond_t room;
	struct queued ring[MAX_FRAMES];
	uint32_t head, count;
	int accepting;              /* started: queue samples (else they are let go) */
	int flushing;               /* stopping: no streaming thread may wait */
	int video_pads;             /* video streams linked in this pipeline */
	GstMessage *error;          /* the pipeline's first error, not yet acted on */
	int eos;                    /* the pipeline ended, not yet acted on */
	char fail[256];             /* why a streaming thread found it cannot work */
	int fail_code;
	uint64_t next_seq, dropped;
	int64_t last_arrival;       /* live: when a sample last came (or the pipeline was built) */
};

/* ==== small helpers ===================================================== */

/* (librkv's own rkv__set_reason() and rkv__now_ns() are hidden inside it:
 * the module has its copies.) */

static void reason(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void reason(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	/* Fails only when the counter is saturated: it is readable anyway. */
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;
}

static void drain_fd(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n;
}

/* A streaming thread's verdict that the pipeline cannot work (the first
 * one counts), for the caller's thread to act on. */
static void set_fail(struct media *m, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_fail(struct media *m, int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	if (!m->fail_code) {
		va_start(ap, fmt);
		vsnprintf(m->fail, sizeof(m->fail), fmt, ap);
		va_end(ap);
		m->fail_code = code;
	}
	pthread_mutex_unlock(&m->lock);
	signal_fd(m->efd);
}

static const char *caps_name(const GstCaps *caps)
{
	return caps && gst_caps_get_size(caps) ? gst_structure_get_name(gst_caps_get_structure(caps, 0))
					       : "";
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* An error message from the bus as -errno and a sentence. */
static int bus_error(const struct media *m, GstMessage *msg, char *why, size_t len)
{
	GError *err = NULL;
	gchar *dbg = NULL;
	int r = -EIO;
	const char *what = "cannot play";

	gst_message_parse_error(msg, &err, &dbg);
	if (err->domain == GST_RESOURCE_ERROR) {
		if (err->code == GST_RESOURCE_ERROR_NOT_FOUND) {
			r = -ENOENT;
			what = "not found:";
		} else if (err->code == GST_RESOURCE_ERROR_NOT_AUTHORIZED) {
			r = -EACCES;
			what = "not allowed:";
		} else if (m->live) {
			r = -ECONNREFUSED;
			what = "cannot connect to";
		} else {
			what = "cannot read";
		}
	} else if ((err->domain == GST_CORE_ERROR && (err->code == GST_CORE_ERROR_MISSING_PLUGIN ||
						     err->code == GST_CORE_ERROR_NEGOTIATION)) ||
		   (err->domain == GST_STREAM_ERROR && err->code != GST_STREAM_ERROR_FAILED)) {
		r = -ENOTSUP;
		what = "cannot decode";
	} else if (dbg && strstr(dbg, "not-negotiated")) {
		r = -ENOTSUP;
		what = "unsupported caps (not-negotiated) from";
	}
	reason(why, len, "%s %s: %s%s%s%s", what, m->uri, err->message,
	       m->decoder[0] ? " (decoder " : "", m->decoder, m->decoder[0] ? ")" : "");
	g_error_free(err);
	g_free(dbg);
	return r;
}

/* ==== streaming-thread callbacks ======================================== */

/* appsink: a sample. Taken at once, stamped with its arrival time. */
static GstFlowReturn on_sample(GstAppSink *sink, gpointer ud)
{
	struct media *m = ud;
	GstSample *s = gst_app_sink_pull_sample(sink), *old = NULL;
	int64_t ts = now_ns();
	uint32_t at;

	if (!s)
		return GST_FLOW_FLUSHING;
	pthread_mutex_lock(&m->lock);
	m->last_arrival = ts;
	while (!m->live && m->accepting && !m->flushing && m->count == m->cap)
		pthread_cond_wait(&m->room, &m->lock);
	if (!m->accepting || m->flushing) {
		pthread_mutex_unlock(&m->lock);
		gst_sample_unref(s);
		return GST_FLOW_OK;
	}
	if (m->count == m->cap) { /* live: the oldest makes room */
		old = m->ring[m->head].sample;
		m->head = (m->head + 1) % m->cap;
		m->count--;
		m->dropped++;
	}
	at = (m->head + m->count) % m->cap;
	m->ring[at] = (struct queued){ .sample = s, .ts = ts, .seq = m->next_seq++ };
	m->count++;
	pthread_mutex_unlock(&m->lock);
	if (old)
		gst_sample_unref(old);
	signal_fd(m->efd);
	return GST_FLOW_OK;
}

/* Every message of the pipeline's bus comes here, on the thread that
 * posts it. The two that matter are kept for the caller's thread, and
 * none is queued on the bus: nobody would pop the others, and the caller
 * must not be woken before what woke it is there to be read. */
static GstBusSyncReply on_message(GstBus *bus, GstMessage *msg, gpointer ud)
{
	struct media *m = ud;
	GstMessageType t = GST_MESSAGE_TYPE(msg);

	(void)bus;
	if (t == GST_MESSAGE_ERROR || t == GST_MESSAGE_EOS) {
		pthread_mutex_lock(&m->lock);
		if (t == GST_MESSAGE_EOS)
			m->eos = 1;
		else if (!m->error)
			m->error = gst_message_ref(msg);
		pthread_mutex_unlock(&m->lock);
		signal_fd(m->efd);
	}
	gst_message_unref(msg); /* GST_BUS_DROP: the handler frees it */
	return GST_BUS_DROP;
}

/* A stream that is not the video we take goes to a fakesink, so that its
 * demuxer does not stop for want of a link. */
static void to_fakesink(GstElement *pipe, GstPad *pad)
{
	GstElement *fs = gst_element_factory_make("fakesink", NULL);
	GstPad *sp;

	if (!fs)
		return;
	g_object_set(fs, "sync", FALSE, "async", FALSE, NULL);
	gst_bin_add(GST_BIN(pipe), fs);
	gst_element_sync_state_with_parent(fs);
	sp = gst_element_get_static_pad(fs, "sink");
	gst_pad_link(pad, sp);
	gst_object_unref(sp);
}

static void on_pad(GstElement *src, GstPad *pad, gpointer ud)
{
	struct media *m = ud;
	GstElement *pipe = GST_ELEMENT(gst_element_get_parent(src)), *head;
	GstCaps *caps = gst_pad_get_current_caps(pad);
	const char *name;
	int first;

	if (!caps)
		caps = gst_pad_query_caps(pad, NULL);
	name = caps_name(caps);
	if (!pipe)
		goto out;
	if (!starts(name, "video/") && !starts(name, "image/")) {
		to_fakesink(pipe, pad);
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	first = m->video_pads++ == 0;
	pthread_mutex_unlock(&m->lock);
	if (!first) { /* a second video stream: the first one is the source */
		to_fakesink(pipe, pad);
		goto out;
	}
	if (m->jpeg && strcmp(name, "image/jpeg") != 0) {
		set_fail(m, -ENOTSUP, "%s is not MJPEG (it decodes to %s): ask for a raw format, "
			 "not JPEG", m->uri, name);
		to_fakesink(pipe, pad);
		goto out;
	}
	head = gst_bin_get_by_name(GST_BIN(pipe), "head");
	if (head) {
		GstPad *sp = gst_element_get_static_pad(head, "sink");
		GstPadLinkReturn lr = gst_pad_link(pad, sp);

		if (lr != GST_PAD_LINK_OK)
			set_fail(m, -ENOTSUP, "cannot take %s's video (%s): %s", m->uri, name,
				 gst_pad_link_get_name(lr));
		gst_object_unref(sp);
		gst_object_unref(head);
	}
out:
	if (caps)
		gst_caps_unref(caps);
	if (pipe)
		gst_object_unref(pipe);
}

static void on_no_more_pads(GstElement *src, gpointer ud)
{
	struct media *m = ud;
	int none;

	(void)src;
	pthread_mutex_lock(&m->lock);
	none = m->video_pads == 0;
	pthread_mutex_unlock(&m->lock);
	if (none)
		set_fail(m, -ENOTSUP, "no video stream in %s", m->uri);
}

static void on_unknown_type(GstElement *src, GstPad *pad, GstCaps *caps, gpointer ud)
{
	struct media *m = ud;
	const char *name = caps_name(caps);

	(void)src;
	(void)pad;
	if (m->jpeg && starts(name, "video/x-raw"))
		set_fail(m, -ENOTSUP, "%s is not MJPEG: ask for a raw format, not JPEG", m->uri);
	else if (starts(name, "video/") || starts(name, "image/"))
		set_fail(m, -ENOTSUP, "no decoder for %s's %s%s%s%s", m->uri, name,
			 m->decoder[0] ? " (the decoder asked for is " : "", m->decoder,
			 m->decoder[0] ? ")" : "");
}

/* Stop decoding at what is not video: audio and subtitles are not decoded
 * for nothing (their pads go to a fakesink). */
static gboolean on_continue(GstElement *src, GstPad *pad, GstCaps *caps, gpointer ud)
{
	const char *name = caps_name(caps);

	(void)src;
	(void)pad;
	(void)ud;
	return !starts(name, "audio/") && !starts(name, "text/") && !starts(name, "subpicture/");
}

/* cfg->decoder: every other decoder is skipped. */
static int on_select(GstElement *src, GstPad *pad, GstCaps *caps, GstElementFactory *f, gpointer ud)
{
	struct media *m = ud;

	(void)src;
	(void)pad;
	(void)caps;
	if (m->decoder[0] && gst_element_factory_list_is_type(f, GST_ELEMENT_FACTORY_TYPE_DECODER) &&
	    strcmp(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)), m->decoder) != 0)
		return SELECT_SKIP;
	return SELECT_TRY;
}

static int has_prop(GstElement *e, const char *name)
{
	return g_object_class_find_property(G_OBJECT_GET_CLASS(e), name) != NULL;
}

/* The source element uridecodebin made: network timeouts, RTSP latency. */
static void on_source(GstElement *src, GstElement *source, gpointer ud)
{
	(void)src;
	(void)ud;
	if (has_prop(source, "latency") && has_prop(source, "tcp-timeout")) { /* rtspsrc */
		g_object_set(source, "latency", RTSP_LATENCY_MS, "drop-on-latency", TRUE,
			     "tcp-timeout", (guint64)NET_TIMEOUT_S * 1000000, NULL);
	} else if (has_prop(source, "is-live") && has_prop(source, "timeout")) { /* souphttpsrc */
		g_object_set(source, "is-live", TRUE, "timeout", NET_TIMEOUT_S, NULL);
	}
}

/* An element decodebin added: a multipart demuxer (MJPEG over HTTP, an
 * .mjpeg file) is told its stream is one and stays one. Otherwise it
 * never says that no more streams will come, and decodebin, waiting for
 * that, exposes nothing of a stream that never ends. */
static void on_element(GstBin *bin, GstBin *sub, GstElement *e, gpointer ud)
{
	GstElementFactory *f = gst_element_get_factory(e);

	(void)bin;
	(void)sub;
	(void)ud;
	if (f && strcmp(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)), "multipartdemux") == 0)
		g_object_set(e, "single-stream", TRUE, NULL);
}

/* ==== the pipeline (the caller's thread) ================================ */

static void clear_ring(struct media *m)
{
	GstSample *gone[MAX_FRAMES];
	uint32_t n = 0;

	pthread_mutex_lock(&m->lock);
	while (m->count) {
		gone[n++] = m->ring[m->head].sample;
		m->head = (m->head + 1) % m->cap;
		m->count--;
	}
	pthread_cond_broadcast(&m->room);
	pthread_mutex_unlock(&m->lock);
	while (n)
		gst_sample_unref(gone[--n]);
}

static void teardown(struct media *m)
{
	if (!m->pipe)
		return;
	pthread_mutex_lock(&m->lock);
	m->flushing = 1; /* a streaming thread waiting for room lets go */
	pthread_cond_broadcast(&m->room);
	pthread_mutex_unlock(&m->lock);
	gst_element_set_state(m->pipe, GST_STATE_NULL);
	gst_object_unref(m->pipe);
	m->pipe = m->sink = NULL;
	clear_ring(m);
	pthread_mutex_lock(&m->lock);
	m->flushing = 0;
	m->video_pads = 0;
	m->fail[0] = 0;
	m->fail_code = 0;
	if (m->error)
		gst_message_unref(m->error);
	m->error = NULL;
	m->eos = 0;
	pthread_mutex_unlock(&m->lock);
}

static GstElement *make(const char *factory, const char *name, const char *package, char *why,
			size_t len)
{
	GstElement *e = gst_element_factory_make(factory, name);

	if (!e)
		reason(why, len, "GStreamer's %s element is missing (install %s)", factory, package);
	return e;
}

/* Build the pipeline and set it going (@state: PAUSED to preroll a file,
 * PLAYING otherwise). */
static int build(struct media *m, GstState state, char *why, size_t len)
{
	GstElement *src, *head, *scale = NULL, *http = NULL;
	GstAppSinkCallbacks cb = { .new_sample = on_sample };
	GstCaps *stop;
	GstBus *bus;

	pthread_mutex_lock(&m->lock);
	m->last_arrival = now_ns(); /* the watchdog gives a new stream its time */
	pthread_mutex_unlock(&m->lock);
	m->pipe = gst_pipeline_new("rkv-media");
	/* HTTP: souphttpsrc ! decodebin, since uridecodebin puts a download
	 * buffer (queue2) behind a network stream, and over a never-ending
	 * multipart stream it waits to fill it before anything plays. */
	if (m->http) {
		http = make("souphttpsrc", "source", "gstreamer1.0-plugins-good", why, len);
		src = make("decodebin", "src", "gstreamer1.0-plugins-base", why, len);
	} else {
		src = make("uridecodebin", "src", "gstreamer1.0-plugins-base", why, len);
	}
	head = m->jpeg ? make("jpegparse", "head", "gstreamer1.0-plugins-bad", why, len)
		       : make("videoconvert", "head", "gstreamer1.0-plugins-base", why, len);
	if (!m->jpeg)
		scale = make("videoscale", NULL, "gstreamer1.0-plugins-base", why, len);
	m->sink = make("appsink", "sink", "gstreamer1.0-plugins-base", why, len);
	if (!m->pipe || !src || !head || (!m->jpeg && !scale) || !m->sink || (m->http && !http)) {
		GstElement *made[] = { src, head, scale, m->sink, http };
		for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
			if (made[i])
				gst_object_unref(made[i]);
		if (m->pipe)
			gst_object_unref(m->pipe);
		m->pipe = m->sink = NULL;
		return -ENOTSUP;
	}
	gst_bin_add_many(GST_BIN(m->pipe), src, head, m->sink, NULL);
	if (scale)
		gst_bin_add(GST_BIN(m->pipe), scale);
	if (http)
		gst_bin_add(GST_BIN(m->pipe), http);
	if (!(scale ? gst_element_link_many(head, scale, m->sink, NULL)
		    : gst_element_link(head, m->sink)) ||
	    (http && !gst_element_link(http, src))) {
		reason(why, len, "cannot link GStreamer's elements");
		teardown(m);
		return -EIO;
	}
	stop = gst_caps_from_string(m->jpeg ? "image/jpeg; video/x-raw(ANY)" : "video/x-raw(ANY)");
	g_object_set(src, "caps", stop, NULL);
	gst_caps_unref(stop);
	if (http) {
		g_object_set(http, "location", m->uri, NULL);
		on_source(src, http, m);
	} else {
		g_object_set(src, "uri", m->uri, NULL);
		g_signal_connect(src, "source-setup", G_CALLBACK(on_source), m);
	}
	g_signal_connect(m->pipe, "deep-element-added", G_CALLBACK(on_element), m);
	g_signal_connect(src, "pad-added", G_CALLBACK(on_pad), m);
	g_signal_connect(src, "no-more-pads", G_CALLBACK(on_no_more_pads), m);
	g_signal_connect(src, "unknown-type", G_CALLBACK(on_unknown_type), m);
	g_signal_connect(src, "autoplug-continue", G_CALLBACK(on_continue), m);
	g_signal_connect(src, "autoplug-select", G_CALLBACK(on_select), m);
	g_object_set(m->sink, "caps", m->want, "sync", !m->live, "max-buffers", 1u, "drop", FALSE,
		     "enable-last-sample", FALSE, NULL);
	gst_app_sink_set_callbacks(GST_APP_SINK(m->sink), &cb, m, NULL);
	bus = gst_element_get_bus(m->pipe);
	gst_bus_set_sync_handler(bus, on_message, m, NULL);
	gst_object_unref(bus);
	if (gst_element_set_state(m->pipe, state) == GST_STATE_CHANGE_FAILURE) {
		int r = -EIO;

		reason(why, len, "cannot play %s", m->uri);
		pthread_mutex_lock(&m->lock);
		if (m->error)
			r = bus_error(m, m->error, why, len);
		pthread_mutex_unlock(&m->lock);
		teardown(m);
		return r;
	}
	return 0;
}

/* Wait until the appsink's caps are known (a file prerolled, a live
 * stream's first frame decoded) and return them, or fail with the reason. */
static int wait_caps(struct media *m, GstCaps **out, char *why, size_t len)
{
	int64_t deadline = now_ns() + OPEN_TIMEOUT_NS;
	GstPad *pad = gst_element_get_static_pad(m->sink, "sink");
	int r = 0;

	for (;;) {
		struct pollfd p = { .fd = m->efd, .events = POLLIN };
		struct timespec step = { .tv_nsec = 20000000 };

		*out = gst_pad_get_current_caps(pad);
		if (*out)
			break;
		pthread_mutex_lock(&m->lock);
		if (m->error) {
			r = bus_error(m, m->error, why, len);
		} else if (m->fail_code) {
			r = m->fail_code;
			reason(why, len, "%s", m->fail);
		} else if (m->eos) {
			r = -ENOTSUP;
			reason(why, len, "%s ended before its first frame", m->uri);
		}
		pthread_mutex_unlock(&m->lock);
		if (r)
			break;
		if (now_ns() > deadline) {
			r = -ETIMEDOUT;
			reason(why, len, "no video from %s within %lld s", m->uri,
			       (long long)(OPEN_TIMEOUT_NS / NS_PER_S));
			break;
		}
		/* Caps come without a signal: look again at least every 20 ms. */
		if (ppoll(&p, 1, &step, NULL) > 0)
			drain_fd(m->efd);
	}
	gst_object_unref(pad);
	return r;
}

/* What the first caps say: the format, the size, the layout, and the caps
 * every later frame (after a loop or a reconnection) is made to have. */
static int learn(struct media *m, GstCaps *caps, const struct rkv_source_config *cfg,
		 struct rkv_source_info *info, char *why, size_t len)
{
	const GstStructure *st = gst_caps_get_structure(caps, 0);
	int w = 0, h = 0, fn = 0, fd = 1;

	memset(info, 0, sizeof(*info));
	if (m->jpeg) {
		if (!gst_structure_get_int(st, "width", &w) || !gst_structure_get_int(st, "height", &h) ||
		    w <= 0 || h <= 0) {
			reason(why, len, "cannot tell the size of %s's JPEG frames", m->uri);
			return -ENOTSUP;
		}
		gst_structure_get_fraction(st, "framerate", &fn, &fd);
		m->fourcc = RKV_FMT_JPEG;
		/* No JPEG of a w x h image is larger than its 24-bit pixels plus
		 * its headers, short of a broken encoder; a larger one is
		 * dropped (and counted), never cut. */
		m->frame_size = (uint64_t)w * (uint64_t)h * 3 + 65536;
		m->layout.fourcc = RKV_FMT_JPEG;
	} else {
		uint32_t i;
		int64_t size;

		if (!gst_video_info_from_caps(&m->vinfo, caps)) {
			reason(why, len, "unsupported caps from %s", m->uri);
			return -ENOTSUP;
		}
		for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
			if (formats[i].gst == GST_VIDEO_INFO_FORMAT(&m->vinfo))
				break;
		if (i == sizeof(formats) / sizeof(formats[0])) {
			reason(why, len, "unsupported caps from %s: %s", m->uri,
			       gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&m->vinfo)));
			return -ENOTSUP;
		}
		w = GST_VIDEO_INFO_WIDTH(&m->vinfo);
		h = GST_VIDEO_INFO_HEIGHT(&m->vinfo);
		fn = GST_VIDEO_INFO_FPS_N(&m->vinfo);
		fd = GST_VIDEO_INFO_FPS_D(&m->vinfo);
		m->fourcc = formats[i].rkv;
		size = rkv_frame_layout(&m->layout, m->fourcc, (uint32_t)w, (uint32_t)h, 1);
		if (size <= 0) {
			reason(why, len, "unsupported size from %s: %dx%d", m->uri, w, h);
			return -ENOTSUP;
		}
		m->frame_size = (uint64_t)size;
		/* Pinned: after a reconnection the stream is scaled and
		 * converted to what the caller was told. */
		gst_caps_unref(m->want);
		m->want = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING,
					      gst_video_format_to_string(formats[i].gst), "width",
					      G_TYPE_INT, w, "height", G_TYPE_INT, h, NULL);
		g_object_set(m->sink, "caps", m->want, NULL);
	}
	m->width = (uint32_t)w;
	m->height = (uint32_t)h;
	info->fourcc = m->fourcc;
	info->width = m->width;
	info->height = m->height;
	if (fn > 0 && fd > 0) {
		info->fps_num = (uint32_t)fn;
		info->fps_den = (uint32_t)fd;
	} else { /* a stream that does not say (MJPEG over HTTP) */
		info->fps_num = cfg->fps_num;
		info->fps_den = cfg->fps_den;
	}
	info->nbufs = 0;
	info->frame_size = m->frame_size;
	info->layout = m->layout;
	/* What it opened, cut to fit (a long URI's start says the most). */
	memcpy(info->device, m->uri, strnlen(m->uri, sizeof(info->device) - 1));
	return 0;
}

/* ==== reading the bus, reconnecting, looping (the caller's thread) ====== */

static void arm_retry(struct media *m, int64_t at)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (at) {
		its.it_value.tv_sec = (time_t)(at / NS_PER_S);
		its.it_value.tv_nsec = (long)(at % NS_PER_S);
	}
	timerfd_settime(m->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	m->armed_at = at;
}

/* A live stream broke: down, and up again after the backoff. */
static void lost(struct media *m)
{
	teardown(m);
	if (!m->retrying)
		m->errors++;
	m->retrying = 1;
	m->down = 1;
	m->backoff = m->backoff ? m->backoff * 2 : BACKOFF_MIN_NS;
	if (m->backoff > BACKOFF_MAX_NS)
		m->backoff = BACKOFF_MAX_NS;
	m->retry_at = now_ns() + m->backoff;
	arm_retry(m, m->retry_at);
}

/* The watchdog of a live stream that is up: a stream that sends nothing
 * for STALL_NS (a camera unplugged, a server that hangs: TCP may say
 * nothing for minutes) is lost. The timerfd wakes the caller at the
 * deadline, re-armed only when it expired, not for every frame. */
static void watch_stall(struct media *m)
{
	int64_t now, last;

	if (!m->live || !m->started || !m->pipe)
		return;
	now = now_ns();
	pthread_mutex_lock(&m->lock);
	last = m->last_arrival;
	pthread_mutex_unlock(&m->lock);
	if (now - last >= STALL_NS)
		lost(m);
	else if (m->armed_at == 0 || m->armed_at <= now)
		arm_retry(m, last + STALL_NS);
}

/* A file ended: from the start again (a flushing seek; a pipeline built
 * anew where the file cannot seek). */
static void rewind_file(struct media *m)
{
	if (gst_element_seek_simple(m->pipe, GST_FORMAT_TIME,
				    GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT, 0))
		return;
	teardown(m);
	if (build(m, GST_STATE_PLAYING, NULL, 0))
		m->broken = 1;
}

/* Everything the eventfd and the timerfd may have announced but frames:
 * errors, the end of the stream, a reconnection that is due. 0, or
 * -ENODEV when a file broke. */
static int service(struct media *m)
{
	GstMessage *err;
	int fail, eos;

	drain_fd(m->efd);
	drain_fd(m->tfd);
	if (m->down && m->started && now_ns() >= m->retry_at) {
		m->down = 0;
		arm_retry(m, 0);
		if (build(m, GST_STATE_PLAYING, NULL, 0))
			lost(m);
	}
	if (!m->pipe) {
		if (m->broken)
			signal_fd(m->efd);
		return m->broken ? -ENODEV : 0;
	}
	pthread_mutex_lock(&m->lock);
	err = m->error;
	m->error = NULL;
	fail = m->fail_code || err;
	eos = m->eos;
	m->eos = 0;
	pthread_mutex_unlock(&m->lock);
	if (err)
		gst_message_unref(err);
	if (fail || (eos && m->live)) { /* a live stream that ends is a connection lost */
		if (m->live) {
			lost(m);
		} else {
			m->errors++;
			m->broken = 1;
		}
	} else if (eos) {
		if (m->loop)
			rewind_file(m);
		else
			m->ended = 1;
	}
	watch_stall(m);
	if (m->broken) /* reported on every call: the fd stays readable */
		signal_fd(m->efd);
	return m->broken ? -ENODEV : 0;
}

/* ==== frames ============================================================ */

/* Copy a frame whose rows GStreamer laid out otherwise (a decoder's
 * padded strides, GStreamer's 4-byte row rounding) into @o's own buffer,
 * in the tight layout every frame has. */
static int repack(struct media *m, struct out *o)
{
	GstVideoFrame vf;

	if (!o->copy) {
		o->copy = malloc((size_t)m->frame_size);
		if (!o->copy)
			return -ENOMEM;
	}
	if (!gst_video_frame_map(&vf, &m->vinfo, o->buf, GST_MAP_READ))
		return -EBADMSG;
	for (uint32_t p = 0; p < m->layout.num_planes; p++) {
		const struct rkv_plane *pl = &m->layout.planes[p];
		uint32_t rows = (uint32_t)(pl->size / pl->stride);
		const uint8_t *src = GST_VIDEO_FRAME_PLANE_DATA(&vf, p);
		int sstride = GST_VIDEO_FRAME_PLANE_STRIDE(&vf, p);

		for (uint32_t r = 0; r < rows; r++)
			memcpy(o->copy + pl->offset + (uint64_t)r * pl->stride,
			       src + (int64_t)r * sstride, pl->stride);
	}
	gst_video_frame_unmap(&vf);
	o->data = o->copy;
	return 0;
}

/* Does buffer @buf hold its planes exactly where m->layout says? */
static int tight(const struct media *m, GstBuffer *buf, gsize size)
{
	GstVideoMeta *vm = gst_buffer_get_video_meta(buf);

	if (size < m->frame_size)
		return 0;
	for (uint32_t p = 0; p < m->layout.num_planes; p++) {
		gsize off = vm ? vm->offset[p] : GST_VIDEO_INFO_PLANE_OFFSET(&m->vinfo, p);
		gint stride = vm ? vm->stride[p] : GST_VIDEO_INFO_PLANE_STRIDE(&m->vinfo, p);

		if (off != m->layout.planes[p].offset || stride < 0 ||
		    (uint32_t)stride != m->layout.planes[p].stride)
			return 0;
	}
	return 1;
}

/* Hand queued sample @q out as @f. -EAGAIN: it was unusable (dropped and
 * counted); -ENOMEM. */
static int hand_out(struct media *m, struct queued *q, struct rkv_source_frame *f)
{
	struct out *o = NULL;
	int r = 0;

	for (uint32_t i = 0; i < m->cap && !o; i++)
		if (!m->outs[i].sample)
			o = &m->outs[i];
	o->sample = q->sample;
	o->buf = gst_sample_get_buffer(q->sample);
	o->seq = q->seq;
	if (!o->buf || !gst_buffer_map(o->buf, &o->map, GST_MAP_READ)) {
		gst_sample_unref(o->sample);
		o->sample = NULL;
		r = -EAGAIN;
		goto drop;
	}
	memset(f, 0, sizeof(*f));
	f->frame = m->layout;
	if (m->jpeg) {
		if (o->map.size == 0 || o->map.size > m->frame_size)
			r = -EAGAIN;
		o->data = o->map.data;
		f->frame.width = m->width;
		f->frame.height = m->height;
		f->frame.bytes_used = o->map.size;
		f->frame.flags = RKV_FRAME_KEYFRAME;
	} else if (tight(m, o->buf, o->map.size)) {
		o->data = o->map.data;
	} else {
		r = repack(m, o);
	}
	if (r) {
		gst_buffer_unmap(o->buf, &o->map);
		gst_sample_unref(o->sample);
		o->sample = NULL;
		if (r != -EAGAIN && r != -EBADMSG)
			return r;
		r = -EAGAIN;
		goto drop;
	}
	f->frame.seq = q->seq;
	f->frame.timestamp_ns = q->ts;
	f->data = o->data;
	f->buf = -1;
	m->nout++;
	m->frames++;
	if (m->retrying) { /* the first frame since a reconnection */
		m->retrying = 0;
		m->backoff = 0;
		m->reopens++;
	}
	return 0;
drop:
	pthread_mutex_lock(&m->lock);
	m->dropped++;
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* ==== the ops =========================================================== */

static pthread_once_t gst_once = PTHREAD_ONCE_INIT;
static char gst_why[256];

static void gst_start(void)
{
	GError *err = NULL;

	if (!gst_init_check(NULL, NULL, &err)) {
		reason(gst_why, sizeof(gst_why), "GStreamer does not start: %s",
		       err ? err->message : "unknown error");
		g_clear_error(&err);
	}
}

static void media_free(struct media *m)
{
	if (!m)
		return;
	teardown(m);
	for (uint32_t i = 0; i < MAX_FRAMES; i++) {
		if (m->outs[i].sample) {
			gst_buffer_unmap(m->outs[i].buf, &m->outs[i].map);
			gst_sample_unref(m->outs[i].sample);
		}
		free(m->outs[i].copy);
	}
	if (m->want)
		gst_caps_unref(m->want);
	if (m->epfd >= 0)
		close(m->epfd);
	if (m->efd >= 0)
		close(m->efd);
	if (m->tfd >= 0)
		close(m->tfd);
	pthread_cond_destroy(&m->room);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The URI GStreamer is to open, from what the caller wrote: a path
 * (checked, made absolute) or a URI (a file:// one checked too). */
static int make_uri(struct media *m, const char *in, char *why, size_t len)
{
	char *path = NULL, *uri;
	struct stat st;
	int r = 0;

	if (strstr(in, "://")) {
		if (!gst_uri_is_valid(in)) {
			reason(why, len, "not a valid URI: '%s'", in);
			return -EINVAL;
		}
		if (starts(in, "file://"))
			path = gst_uri_get_location(in);
		memcpy(m->uri, in, strlen(in) + 1); /* source.c: under 512 bytes */
		m->live = !starts(in, "file://");
		m->http = starts(in, "http://") || starts(in, "https://");
	} else {
		path = g_strdup(in);
	}
	if (path) {
		if (stat(path, &st) != 0) {
			r = -errno;
			reason(why, len, "%s: %s", r == -ENOENT ? "no such file" : strerror(-r), path);
		} else if (!S_ISREG(st.st_mode)) {
			r = -EINVAL;
			reason(why, len, "not a file: %s", path);
		} else if (!strstr(in, "://")) {
			GError *err = NULL;

			uri = gst_filename_to_uri(path, &err);
			if (!uri) {
				r = -EINVAL;
				reason(why, len, "cannot make a URI of %s: %s", path,
				       err ? err->message : "?");
				g_clear_error(&err);
			} else {
				if (strlen(uri) >= sizeof(m->uri)) {
					r = -ENAMETOOLONG;
					reason(why, len, "path too long: %s", path);
				}
				snprintf(m->uri, sizeof(m->uri), "%s", uri);
				g_free(uri);
			}
		}
		g_free(path);
	}
	return r;
}

/* The appsink's caps for what the caller asked. */
static GstCaps *wanted_caps(const struct rkv_source_config *cfg)
{
	GstCaps *c;

	if (cfg->fourcc == RKV_FMT_JPEG)
		return gst_caps_new_empty_simple("image/jpeg");
	c = gst_caps_new_empty_simple("video/x-raw");
	if (cfg->fourcc) {
		for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
			if (formats[i].rkv == cfg->fourcc)
				gst_caps_set_simple(c, "format", G_TYPE_STRING,
						    gst_video_format_to_string(formats[i].gst), NULL);
	} else {
		GValue list = G_VALUE_INIT, v = G_VALUE_INIT;

		g_value_init(&list, GST_TYPE_LIST);
		g_value_init(&v, G_TYPE_STRING);
		for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
			g_value_set_string(&v, gst_video_format_to_string(formats[i].gst));
			gst_value_list_append_value(&list, &v);
		}
		gst_caps_set_value(c, "format", &list);
		g_value_unset(&v);
		g_value_unset(&list);
	}
	if (cfg->width)
		gst_caps_set_simple(c, "width", G_TYPE_INT, (int)cfg->width, NULL);
	if (cfg->height)
		gst_caps_set_simple(c, "height", G_TYPE_INT, (int)cfg->height, NULL);
	return c;
}

static int check_config(const struct rkv_source_config *cfg, char *why, size_t len)
{
	int known = cfg->fourcc == 0 || cfg->fourcc == RKV_FMT_JPEG;
	char name[5];

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		known |= formats[i].rkv == cfg->fourcc;
	if (!known) {
		reason(why, len, "the media source makes NV12, YU12 (I420), YUYV, NV16, RGB3, BGR3, "
		       "AB24 (RGBA), GREY or JPEG, not %s", rkv_fourcc_str(cfg->fourcc, name));
		return -ENOTSUP;
	}
	if (cfg->fourcc == RKV_FMT_JPEG && (cfg->width || cfg->height)) {
		reason(why, len, "JPEG frames pass through undecoded: their size cannot be changed "
		       "(ask for a raw format to scale)");
		return -ENOTSUP;
	}
	if (cfg->decoder && cfg->decoder[0]) {
		GstElementFactory *f = gst_element_factory_find(cfg->decoder);
		int dec;

		if (!f) {
			reason(why, len, "no GStreamer element named '%s' (gst-inspect-1.0 %s: is its "
			       "plugin installed?)", cfg->decoder, cfg->decoder);
			return -ENOTSUP;
		}
		dec = gst_element_factory_list_is_type(f, GST_ELEMENT_FACTORY_TYPE_DECODER);
		gst_object_unref(f);
		if (!dec) {
			reason(why, len, "GStreamer element '%s' is not a decoder", cfg->decoder);
			return -EINVAL;
		}
	}
	return 0;
}

static int media_open(rkv_source *s, const struct rkv_source_config *cfg,
		      struct rkv_source_info *info)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct media *m;
	GstCaps *caps = NULL;
	int r;

	pthread_once(&gst_once, gst_start);
	if (gst_why[0]) {
		reason(cfg->errbuf, cfg->errbuf_len, "media source not available: %s", gst_why);
		return -ENOTSUP;
	}
	if (!cfg->uri || !cfg->uri[0] || cfg->buffers == 0 || cfg->buffers > MAX_FRAMES) {
		reason(cfg->errbuf, cfg->errbuf_len, "invalid media source configuration");
		return -EINVAL;
	}
	r = check_config(cfg, cfg->errbuf, cfg->errbuf_len);
	if (r)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->efd = m->tfd = m->epfd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->room, NULL);
	r = make_uri(m, cfg->uri, cfg->errbuf, cfg->errbuf_len);
	if (r)
		goto fail;
	snprintf(m->decoder, sizeof(m->decoder), "%s", cfg->decoder ? cfg->decoder : "");
	m->loop = !!(cfg->flags & RKV_SOURCE_LOOP);
	m->jpeg = cfg->fourcc == RKV_FMT_JPEG;
	m->cap = cfg->buffers;
	m->want = wanted_caps(cfg);
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->efd < 0 || m->tfd < 0 || m->epfd < 0 ||
	    epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->efd, &ev) < 0 ||
	    epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->tfd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	/* A file prerolls (PAUSED: its first frame decoded, not shown); a live
	 * stream plays, and what comes before start() is let go. */
	r = build(m, m->live ? GST_STATE_PLAYING : GST_STATE_PAUSED, cfg->errbuf, cfg->errbuf_len);
	if (r)
		goto fail;
	r = wait_caps(m, &caps, cfg->errbuf, cfg->errbuf_len);
	if (r)
		goto fail;
	r = learn(m, caps, cfg, info, cfg->errbuf, cfg->errbuf_len);
	gst_caps_unref(caps);
	if (r)
		goto fail;
	s->priv = m;
	return 0;
fail:
	media_free(m);
	return r;
}

static int media_start(rkv_source *s)
{
	struct media *m = s->priv;
	char why[8];

	pthread_mutex_lock(&m->lock);
	m->accepting = 1;
	pthread_mutex_unlock(&m->lock);
	m->started = 1;
	if (!m->pipe && !m->down && !m->broken && build(m, GST_STATE_PLAYING, why, sizeof(why)))
		lost(m); /* live, after a stop: connecting again failed */
	else if (m->pipe && gst_element_set_state(m->pipe, GST_STATE_PLAYING) ==
				    GST_STATE_CHANGE_FAILURE)
		return -EIO;
	watch_stall(m);
	return 0;
}

static int media_stop(rkv_source *s)
{
	struct media *m = s->priv;

	pthread_mutex_lock(&m->lock);
	m->accepting = 0;
	pthread_cond_broadcast(&m->room);
	pthread_mutex_unlock(&m->lock);
	m->started = 0;
	if (m->live) { /* a stopped stream is disconnected; start connects again */
		teardown(m);
		m->down = 0;
		arm_retry(m, 0);
	} else if (m->pipe) {
		/* Paused where it is; the frames queued are the file's next
		 * ones (a frame on its way at the stop is let go). */
		gst_element_set_state(m->pipe, GST_STATE_PAUSED);
	}
	return 0;
}

static int media_fd(rkv_source *s)
{
	struct media *m = s->priv;

	return m->epfd;
}

static int media_next(rkv_source *s, struct rkv_source_frame *f, int64_t timeout_ns)
{
	struct media *m = s->priv;
	int64_t deadline = 0;

	if (m->nout >= m->cap)
		return -EBUSY;
	if (timeout_ns > 0 && __builtin_add_overflow(now_ns(), timeout_ns, &deadline))
		timeout_ns = -1;
	for (;;) {
		struct queued q = { 0 };
		int r = service(m), more = 0;

		/* A file that broke still hands out what came before. */
		if (r && r != -ENODEV)
			return r;
		pthread_mutex_lock(&m->lock);
		if (m->count) {
			q = m->ring[m->head];
			m->head = (m->head + 1) % m->cap;
			m->count--;
			more = m->count > 0;
			pthread_cond_signal(&m->room);
		}
		pthread_mutex_unlock(&m->lock);
		/* service() drained the eventfd: poll must still see what is
		 * left, the end of a file included (level-triggered). */
		if (more || m->ended)
			signal_fd(m->efd);
		if (q.sample) {
			int h = hand_out(m, &q, f);
			if (h != -EAGAIN)
				return h;
			continue;
		}
		if (r)
			return r;
		if (m->ended)
			return -EPIPE;
		if (timeout_ns == 0)
			return -EAGAIN;

		struct pollfd pfd = { .fd = m->epfd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		if (timeout_ns > 0) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
			ts.tv_sec = (time_t)(left / NS_PER_S);
			ts.tv_nsec = (long)(left % NS_PER_S);
			tsp = &ts;
		}
		if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno == EINTR)
			return -EINTR;
	}
}

static int media_done(rkv_source *s, struct rkv_source_frame *f)
{
	struct media *m = s->priv;
	int more;

	for (uint32_t i = 0; i < m->cap; i++) {
		struct out *o = &m->outs[i];

		if (o->sample && o->data == f->data && o->seq == f->frame.seq) {
			gst_buffer_unmap(o->buf, &o->map);
			gst_sample_unref(o->sample);
			o->sample = NULL;
			o->data = NULL;
			m->nout--;
			pthread_mutex_lock(&m->lock);
			more = m->count > 0;
			pthread_mutex_unlock(&m->lock);
			if (more)
				signal_fd(m->efd);
			return 0;
		}
	}
	return -EINVAL;
}

static void media_close(rkv_source *s)
{
	media_free(s->priv);
	s->priv = NULL;
}

static int media_stats(rkv_source *s, struct rkv_source_stats *st)
{
	struct media *m = s->priv;

	st->frames = m->frames;
	pthread_mutex_lock(&m->lock);
	st->dropped = m->dropped;
	pthread_mutex_unlock(&m->lock);
	st->errors = m->errors;
	st->reopens = m->reopens;
	return 0;
}

static const struct rkv_source_ops media_ops = {
	.size = sizeof(struct rkv_source_ops),
	.name = "media",
	.open = media_open,
	.start = media_start,
	.fd = media_fd,
	.next = media_next,
	.done = media_done,
	.stop = media_stop,
	.close = media_close,
	.stats = media_stats,
};

__attribute__((visibility("default"))) const struct rkv_source_ops *
rkv_media_source_ops(uint32_t abi, size_t source_size)
{
	if (abi != RKV_MEDIA_ABI || source_size != sizeof(struct rkv_source))
		return NULL;
	return &media_ops;
}
