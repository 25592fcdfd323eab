/* SPDX-License-Identifier: MIT */
/*
 * rkv/source.h - where frames come from: a test pattern, a V4L2 device, a
 * media URI (files, RTSP, HTTP MJPEG through GStreamer).
 *
 * A source is opened from a config, says what it produces (format, size,
 * rate, the largest frame), and then hands out frames one at a time: each
 * frame stays the source's until rkv_source_done() gives it back (for V4L2,
 * that is when its buffer goes back to the driver). A source that can
 * export its buffers as DMA-BUF fds (V4L2 MMAP with VIDIOC_EXPBUF) says so,
 * and frames then name the buffer they are in: the camera makes those fds
 * the pool's slots and publishes without a copy.
 *
 * Backends are const ops tables (struct rkv_source_ops) that begin with
 * their size; methods are appended over time and a missing one means
 * -ENOTSUP. The built-in backends are chosen by the URI's scheme:
 *   "testpattern" (or "testpattern:"), the default;
 *   "v4l2:/dev/videoN", "v4l2:/dev/v4l/by-id/...", or a bare "/dev/..." path
 *   (links are resolved; "v4l2:NAME" without a slash is /dev/v4l/by-id/NAME);
 *   anything with "://" (file://, rtsp://, http://) or a file path ending in a
 *   media extension (.mp4, .mkv, .avi, .mjpeg, ...): the media backend, a
 *   module loaded at run time where it was built (see "the media source"
 *   below).
 *
 * Errors: every call returns 0 (or a count) or a negative errno and never
 * prints, aborts or exits; cfg->errbuf, if given, receives a sentence saying
 * why open failed (for a format the device refuses: what it offers), and
 * after a successful open any notes (a rate the driver does not set; why
 * the buffers are not exported, e.g. "VIDIOC_EXPBUF: ENOTTY"), or "".
 *
 * Threads: a source is used by one thread at a time.
 */
#ifndef RKV_SOURCE_H
#define RKV_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rkv_source rkv_source;

/* rkv_source_config.flags */
#define RKV_SOURCE_LOOP      (1u << 0) /* media files: start again at the end */
#define RKV_SOURCE_NO_EXPORT (1u << 1) /* do not export buffers (the copy path) */

struct rkv_source_config {
	uint32_t size;          /* 0 or sizeof(struct rkv_source_config) */
	uint32_t fourcc;        /* RKV_FMT_*; 0: the source's default */
	uint32_t width, height; /* 0: the source's default */
	uint32_t fps_num;       /* frames per fps_den seconds; 0: the default (30) */
	uint32_t fps_den;       /* 0 = 1 */
	uint32_t buffers;       /* buffers the source keeps (V4L2: REQBUFS); 0 = 4 */
	uint32_t flags;         /* RKV_SOURCE_* */
	const char *uri;        /* see above; NULL = "testpattern" */
	const char *decoder;    /* media: the decoder element (e.g. "mppvideodec");
				 * NULL: GStreamer picks (decodebin) */
	char *errbuf;           /* optional: why open failed, NUL-terminated */
	size_t errbuf_len;
};

/* What an open source produces. */
struct rkv_source_info {
	uint32_t fourcc;
	uint32_t width, height;
	uint32_t fps_num, fps_den;
	uint32_t nbufs;          /* buffers rkv_source_export() can hand out; 0: none */
	uint32_t pad0;
	uint64_t frame_size;     /* the largest frame, in bytes: a pool slot's capacity */
	struct rkv_frame layout; /* raw formats: fourcc, size and planes of every frame */
	char backend[16];        /* "testpattern", "v4l2", "media" */
	char device[64];         /* what it opened (a path, a URI), NUL-terminated */
};

/* A frame, the source's until rkv_source_done(). */
struct rkv_source_frame {
	struct rkv_frame frame;  /* seq, timestamp (CLOCK_MONOTONIC ns), format, planes,
				  * bytes_used, flags */
	const void *data;        /* frame.bytes_used bytes; valid until done */
	int32_t buf;             /* the exported buffer it is in (0..nbufs-1), or -1 */
	uint32_t pad0;
	uint64_t reserved[2];
};

struct rkv_source_stats {
	uint64_t frames;         /* frames handed out */
	uint64_t dropped;        /* frames the source dropped: broken (V4L2_BUF_FLAG_ERROR,
				  * truncated JPEG), or a gap in the driver's sequence */
	uint64_t errors;         /* errors that stopped capture (device lost, stream error) */
	uint64_t reopens;        /* successful reopens after an error */
};

/*
 * The backend interface. A backend keeps its state behind s->priv (see
 * src/source/); these are not called directly but through rkv_source_*.
 */
struct rkv_source_ops {
	uint32_t size;          /* sizeof(struct rkv_source_ops) of the backend's build */
	uint32_t pad0;
	const char *name;
	int (*open)(rkv_source *s, const struct rkv_source_config *cfg,
		    struct rkv_source_info *info);
	int (*export_buffers)(rkv_source *s, int *fds, uint64_t *offsets, uint32_t n);
	int (*start)(rkv_source *s);
	int (*fd)(rkv_source *s);
	int (*next)(rkv_source *s, struct rkv_source_frame *f, int64_t timeout_ns);
	int (*done)(rkv_source *s, struct rkv_source_frame *f);
	int (*stop)(rkv_source *s);
	void (*close)(rkv_source *s);
	int (*stats)(rkv_source *s, struct rkv_source_stats *st);
	int (*export_ro)(rkv_source *s, int *fds, uint32_t n);
};

/*
 * Open the source @cfg names (cfg NULL: the default test pattern) and fill
 * @info with what it produces. On success *@out owns it until
 * rkv_source_close(). Errors: -EINVAL (config), -E2BIG (config larger than
 * this library knows, with unknown non-zero bytes), -ENOENT (no such
 * device or file), -ENOTSUP (the format, size or rate cannot be had: errbuf
 * says what can; or no backend for the URI), -EACCES, -EBUSY (the device is
 * in use), -ENOMEM, -EIO.
 */
int rkv_source_open(const struct rkv_source_config *cfg, rkv_source **out,
		    struct rkv_source_info *info);

/*
 * Export the source's buffers as DMA-BUF fds: @n (info->nbufs) fds into
 * @fds, each frame's data at @offsets[i] in fds[i] (@offsets may be NULL).
 * Read-write exports; the caller owns the fds (close them). Before start.
 * -ENOTSUP when the source cannot (no buffers, the driver cannot export,
 * RKV_SOURCE_NO_EXPORT).
 */
int rkv_source_export(rkv_source *s, int *fds, uint64_t *offsets, uint32_t n);

/*
 * The same buffers exported again, read-only (V4L2: VIDIOC_EXPBUF with
 * O_RDONLY): what a pool hands its consumers (rkv_pool_opts.slot_ro_fds),
 * since a DMA-BUF cannot be reopened read-only and a read-only export cannot
 * be mapped writable. @n fds into @fds, at the offsets rkv_source_export()
 * gives; the caller owns them. Before start. -ENOTSUP as for
 * rkv_source_export().
 */
int rkv_source_export_ro(rkv_source *s, int *fds, uint32_t n);

/* Start producing frames. 0, or -errno. */
int rkv_source_start(rkv_source *s);

/* A file descriptor that is readable when rkv_source_next() may have a frame
 * (poll it with the camera's other fds). Owned by @s. -ENOTSUP if none. */
int rkv_source_fd(rkv_source *s);

/*
 * The next frame: 0 = do not wait, a limit in ns, or -1 (forever). The
 * frame is the source's until rkv_source_done(); a source keeps at most
 * info->nbufs frames out at once (without exported buffers: as many as it
 * has, the test pattern cfg->buffers), and then returns -EBUSY. The test
 * pattern paces itself to its rate; a device paces itself. Errors: -EAGAIN
 * (none yet, no wait), -ETIMEDOUT, -EINTR, -EBUSY, -ENODEV (the device is
 * gone or broke: stop and close it, and open it again later), -EPIPE (a
 * media source ended and does not loop; it stays so, and its fd stays
 * readable).
 */
int rkv_source_next(rkv_source *s, struct rkv_source_frame *f, int64_t timeout_ns);

/* Give frame @f back (V4L2: its buffer goes back to the driver). */
int rkv_source_done(rkv_source *s, struct rkv_source_frame *f);

/* Stop producing frames; frames out must be given back first. */
int rkv_source_stop(rkv_source *s);

/* Counters, into @st of @size bytes. */
int rkv_source_stats(rkv_source *s, struct rkv_source_stats *st, size_t size);

/* Stop and free everything; @s may be NULL. */
void rkv_source_close(rkv_source *s);

/* ---- the media source ---------------------------------------------------- */

/*
 * The media source ("media"): video files, RTSP and HTTP MJPEG, decoded by
 * GStreamer (uridecodebin; souphttpsrc ! decodebin for http) into an
 * appsink. GStreamer lives in a module of its own, rkv-media.so, installed
 * in <libdir>/rkv/ and loaded (once per process) the first time a media
 * URI is opened; the environment variable RKV_MEDIA_MODULE names another
 * file. librkv itself needs libc alone: without the module, or without
 * GStreamer, open is -ENOTSUP and errbuf says what is missing.
 *
 * URIs: a file path with a media extension (.mp4, .m4v, .mov, .mkv, .webm,
 * .avi, .mjpeg, .mjpg, .ts, .m2ts, .mpg, .mpeg, .flv, .ogv, .h264, .264,
 * .h265, .265, .hevc) or file:///path (the file must exist: -ENOENT);
 * rtsp://host[:port]/path (UDP, and TCP when UDP does not get through),
 * rtspt:// (RTP interleaved in the TCP connection only), rtspu:// (UDP
 * only); http:// or https:// (MJPEG, multipart/x-mixed-replace); any other
 * URI GStreamer has a source element for. Every URI but file:// is live.
 *
 * Decoding: cfg->decoder names the decoder element, e.g. "mppvideodec" on
 * Rockchip boards (the vendor BSP's hardware decoder) or "avdec_h264";
 * every other decoder is skipped, so a stream it cannot decode fails to
 * open (-ENOTSUP, "no decoder for ..."). It must be an element GStreamer's
 * decodebin would consider (rank marginal or above, as mppvideodec is);
 * no such element is -ENOTSUP, an element that is no decoder -EINVAL.
 * NULL: decodebin picks by rank.
 *
 * Formats: cfg->fourcc NV12, I420, YUYV, NV16, RGB24, BGR24, RGBA, GREY
 * (converted and scaled to cfg->width x cfg->height, each 0 meaning the
 * stream's), or 0: the decoder's own format when it is one of these, else
 * the nearest of them; or JPEG: an MJPEG stream's frames as they come,
 * never decoded (flags RKV_FRAME_KEYFRAME; a stream that is not MJPEG is
 * -ENOTSUP, and so is a size). Other fourccs are -ENOTSUP. Raw frames
 * have exactly info->layout (tight rows; a decoder's padded rows are
 * copied out, otherwise a frame is the decoded buffer itself, mapped).
 * info->frame_size: raw, the layout's size; JPEG, width * height * 3 +
 * 64 KiB, and a larger JPEG is dropped (counted), never cut. info's rate
 * is the stream's (cfg's rate where the stream says none); the source
 * does not change it.
 *
 * Open waits (at most 10 s) until the format is known: a file is prerolled,
 * a live stream connected and its first frame decoded (what a live stream
 * sends before start() is let go). Errors: -ENOENT (no such file, or a
 * server's "not found"), -ECONNREFUSED (cannot connect), -EACCES,
 * -ENOTSUP (no video in it, no decoder for it, unsupported caps),
 * -ETIMEDOUT (nothing within 10 s), -EINVAL (not a valid URI, not a file);
 * errbuf says which and why.
 *
 * Frames: seq counts every frame that reached the source, from 0, and goes
 * on across a loop, a stop and a start and a reconnection; timestamp_ns
 * is the CLOCK_MONOTONIC time the decoded frame reached the source (not
 * mapped from the stream's PTS). info->nbufs is 0 (no DMA-BUF export);
 * up to cfg->buffers (default 4) frames are queued or out at once.
 *   - Files play at their own rate, and a file waits for a slow reader:
 *     no frame is lost. At the end, next() is -EPIPE; with
 *     RKV_SOURCE_LOOP the file starts again (a flushing seek to 0, or
 *     opened anew where it cannot seek), seamlessly. A file that breaks
 *     (a decoding error) is -ENODEV, counted in errors, once the frames
 *     queued before it are handed out (a frame still on its way may be
 *     lost).
 *   - Live streams are not held back: when cfg->buffers frames wait, the
 *     oldest is dropped (counted in dropped, its seq skipped). A stream
 *     that fails, ends or sends no frame for 5 s (the server went away
 *     or hangs, the connection dropped, a camera unplugged) is counted in
 *     errors and connected again inside next(), after
 *     0.1 s doubling to 5 s between attempts (rkv_source_fd() wakes the
 *     caller when an attempt is due); the first frame after it counts in
 *     reopens. Meanwhile next() gives no frames, and no error. stop()
 *     disconnects; start() connects again.
 * rkv_source_fd() is readable while a frame waits, an end or an error
 * is to be reported, or a reconnection is due.
 */

/* ---- the test pattern ---------------------------------------------------- */

/*
 * The test-pattern source ("testpattern", the default): synthetic frames at
 * any size and rate, every byte of which a consumer can check.
 *
 * Formats NV12 (the default), YUYV, I420, RGB24 and BGR24; width and height
 * 1..16384, each 0 meaning its default (640, 480); NV12 and I420 need an
 * even width and height, YUYV an even width; other formats and sizes are
 * -ENOTSUP. Rate: fps_num / fps_den frames a second (default 30), up to
 * 10^9 (-ENOTSUP above). Rows are tight: info->layout is
 * rkv_frame_layout(fourcc, width, height, 1). The source draws into
 * cfg->buffers (default 4, at most 64) buffers of its own, in turn; they
 * are not exported (info->nbufs is 0, a frame's buf is -1), and
 * rkv_source_next() is -EBUSY while all of them are out. A frame's bytes
 * stay as they are until rkv_source_done().
 *
 * Pacing, on CLOCK_MONOTONIC: the first frame is due a period after
 * start(), each next one a period later, every due time reckoned from
 * start() (absolute deadlines: a period that is not a whole number of
 * nanoseconds does not drift), and a frame's timestamp_ns is its due time.
 * seq counts from 0 (and goes on after a stop and a start); flags and user
 * are 0. next() hands a frame out once it is due; a caller more than a
 * period late gets the latest frame due, and the ones in between are
 * skipped and counted in rkv_source_stats' dropped, so the stream stays
 * real-time (seq jumps). rkv_source_fd() is a timerfd, readable once the
 * next frame is due (and not while all buffers are out, nor stopped).
 *
 * Content, painted in this order (the exact geometry is in
 * src/source/testpattern.c), with s = max(1, min(width, height) / 240):
 *   - background: eight vertical colour bars (75% white, yellow, cyan,
 *     green, magenta, red, blue, black) over the top two thirds, a grey ramp
 *     from black to white, left to right, below;
 *   - a box min(width, height) / 6 wide (even, at least 2) in one of six
 *     colours, bouncing across and down with seq, right of the ticker and
 *     below the text;
 *   - the ticker, the leftmost min(width, 8 s) columns: image row y is grey
 *     level 2 * ((y - seq) mod 128), different in every row from the frames
 *     before and after, so a frame torn between two writes shows it;
 *   - where it fits (134 s x 18 s at (10 s, 2 s); at s = 1 in frames from
 *     144 x 20): a black box with two lines of white 5 x 7 characters
 *     scaled by s, "N <seq>" and "T <timestamp_ns as seconds.nanoseconds>".
 * Colours are RGB; the YUV formats convert them as BT.601 limited range, a
 * chroma sample taking the colour of the top-left pixel it covers.
 *
 * All of it but the time digits is a function of (seq, fourcc, width,
 * height): verify recomputes it and compares every byte. The time, which
 * the frame's number does not fix, is 20 character cells after "T " (the
 * second text line, in plane 0; every other byte of those rows is
 * compared): verify accepts in each cell any one of its glyphs (blank, 0-9,
 * '.') drawn exactly, and compares the cell's bytes with that one. So every
 * byte is checked, a damaged digit included, but not which time the digits
 * read (verify tries the frame's timestamp_ns first, to be quick; any
 * other time passes too, only more slowly). Frames too small for the text
 * differ between sequence numbers in the ticker and the box alone.
 */

/*
 * Check a test-pattern frame: @f describes it (seq, fourcc, width, height
 * and the planes; any layout rkv_frame_check(f, f->bytes_used) accepts, so
 * a frame copied into rows with a larger stride is checked too, without its
 * padding) and @data holds its bytes. Returns 0 if they are exactly that
 * frame, or the offset + 1 of the first byte that differs (planes in order,
 * each from its top row), or -EINVAL (@f or @data NULL, not a format or
 * size the test pattern makes, or a descriptor rkv_frame_check refuses), or
 * -ENOMEM.
 */
int64_t rkv_testpattern_verify(const struct rkv_frame *f, const void *data);

#ifdef __cplusplus
}
#endif

#endif /* RKV_SOURCE_H */
