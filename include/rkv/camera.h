/* SPDX-License-Identifier: MIT */
/*
 * rkv/camera.h - one camera: a source publishing every frame into a pool,
 * and a control channel other processes call (rkv/control.h).
 *
 * The camera opens its source, creates pool @pool (by default its name)
 * sized for the source's largest frame, and then, in rkv_camera_run(),
 * takes each frame from the source and publishes it, at most at the rate
 * asked for (frames beyond it are not published). The frame descriptor
 * carries the source's capture time and sequence number.
 *
 * Two paths; stats.zero_copy and stats.path say which one runs, and why.
 *
 * Zero-copy (a source that exports its buffers, V4L2 MMAP with
 * VIDIOC_EXPBUF, unless RKV_CAMERA_COPY): the source gets slots + 2
 * buffers, exported as DMA-BUFs, and they are the pool's slots (slot i is
 * buffer i; consumers get read-only exports and the fd with each view). A
 * frame captured in buffer i is published as slot i and stays out of the
 * driver until no consumer holds it or has it queued: then it is queued
 * to the driver again (rkv_producer_reclaim()), at once if nobody took
 * it. The budget: the pool's max_loans is 3 (the frame being published,
 * and two buffers the driver always keeps), so consumers may pin slots - 1
 * buffers, as on the copy path, and a consumer beyond that is refused at
 * attach; the driver cannot starve while consumers keep to it. Should it
 * starve anyway (every buffer out), it stops delivering until one comes
 * back, stats.starved counts it, and control requests are answered
 * meanwhile. Frames not published (above the rate, capture stopped) go
 * straight back to the driver.
 *
 * Copy (any other source, RKV_CAMERA_COPY, or a device that cannot
 * export): frames are copied into slots in the pool's own memory.
 *
 * A source that breaks (device lost, stream error) is closed and opened
 * again with backoff (0.1 s doubling to 5 s); consumers see no frames
 * meanwhile and stay attached. On the zero-copy path the pool's slots are
 * the lost source's buffers, which stay valid (a DMA-BUF lives as long as
 * anything holds it) but which the new one cannot fill: the pool is kept,
 * with the same slots and the same consumers, and the reopened source's
 * frames are copied into those buffers by the CPU (stats.zero_copy 0,
 * stats.path says so). Frames consumers hold across the loss stay
 * readable and unchanged. Once no consumer is attached (looked at once a
 * second, and at each reopen; the preview's worker does not count, it
 * attaches again), nobody holds those slots: the camera
 * closes the source, opens it again for zero-copy and makes the pool
 * again, with the same name, on the new buffers (not counted in
 * stats.reopens). A consumer attaching at that moment may see the old
 * pool end (-EPIPE, or -ENOENT from attach): it attaches again.
 *
 * The preview (rkv_camera_config.preview_width/height): the camera also
 * publishes small JPEGs of its frames into a second pool, "<pool>.preview"
 * (so the pool's name must leave room for ".preview"), at most
 * preview_fps a second. The size keeps the frames' aspect ratio: the
 * largest that fits preview_width x preview_height (a 0 leaves that side
 * free), never larger than the frames, each side rounded down to an even
 * number (the JPEGs are 4:2:0); then rotate 90 or 270 swaps the two (a
 * 1280x720 camera with 320x180, or 320x0, gives 320x180, and 180x320
 * turned by 90). Nothing is encoded while no consumer is attached to the
 * preview pool (looked at 5 times a second) or while it is switched off
 * (rkv_camera_preview(), the control channel's "preview"). The work runs
 * in a thread of its own, with its own image context (@backend): it reads
 * the camera's pool as an in-process consumer with policy latest, attached
 * only while the preview is encoding (it is then one of the pool's
 * consumers, labelled "preview"), so it holds at most one frame beside its
 * mailbox's; the pool gets 2 more slots for it (zero-copy: 2 more driver
 * buffers), so other consumers keep their budget. The capture thread hands
 * it a frame only when it is idle and a preview is due; one due while it is
 * busy is skipped (stats.preview_skipped), and capture never waits for it.
 *
 * Errors: 0 or a negative errno; nothing prints, aborts or exits.
 * Threads: rkv_camera_run() runs in one thread; rkv_camera_stop() may be
 * called from any thread or a signal handler; rkv_camera_stats() from any
 * thread.
 */
#ifndef RKV_CAMERA_H
#define RKV_CAMERA_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/pool.h>
#include <rkv/source.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rkv_camera rkv_camera;
struct rkv_camera_save;
struct rkv_imgops_info;
struct rkv_imgops_stats;

/* rkv_camera_config.flags */
#define RKV_CAMERA_PAUSED (1u << 0) /* start with publishing stopped */
#define RKV_CAMERA_COPY   (1u << 1) /* the copy path, even where zero-copy could run */
#define RKV_CAMERA_PREVIEW_OFF  (1u << 2) /* start with the preview switched off */
#define RKV_CAMERA_PREVIEW_TIME (1u << 3) /* draw the capture's wall-clock time on the preview */

/* rkv_camera_config.flip (the values of rkv/imgops.h's RKV_FLIP_*) */
#define RKV_CAMERA_FLIP_H (1u << 0) /* mirror left-right */
#define RKV_CAMERA_FLIP_V (1u << 1) /* upside down */

struct rkv_camera_config {
	uint32_t size;             /* 0 or sizeof(struct rkv_camera_config) */
	uint32_t flags;            /* RKV_CAMERA_* */
	const char *name;          /* the camera's name (its control channel); required;
				    * a pool name's characters */
	const char *pool;          /* the pool; NULL: the camera's name */
	uint32_t slots;            /* pool slots; 0 = 8 (zero-copy: the source's buffers
				    * are slots + 2, and so are the pool's slots) */
	uint32_t max_consumers;    /* 0 = 16 */
	struct rkv_source_config source; /* what to capture (uri, format, size, fps) */
	char *errbuf;              /* optional: why create failed */
	size_t errbuf_len;
	/* saving images (struct rkv_camera_save, below) */
	const struct rkv_camera_save *save; /* NULL: the defaults */
	/* encoded frames (below) */
	uint32_t encode;           /* 0: raw frames; RKV_FMT_JPEG: JPEG-encoded ones */
	uint32_t encode_quality;   /* 1..100; 0 = 85 */
	/* from here on: since the preview (a config whose size ends before
	 * preview_width has no preview, no rotation and the "auto" backend) */
	uint32_t preview_width;    /* the preview's bounding box (see "The preview"); */
	uint32_t preview_height;   /*   0 x 0: no preview */
	uint32_t preview_fps;      /* previews a second at most; 0 = 10 */
	uint32_t preview_quality;  /* JPEG quality 1..100; 0 = 75 */
	uint32_t rotate;           /* 0, 90, 180 or 270 degrees clockwise, then */
	uint32_t flip;             /* RKV_CAMERA_FLIP_*: for the preview and saved images */
	const char *backend;       /* image backend (rkv/imgops.h): "auto" (NULL), "cpu",
				    * "rga", "mpp" */
};

/*
 * Encoded frames (@encode RKV_FMT_JPEG): every frame the camera publishes
 * is a JPEG of the full frame (fourcc RKV_FMT_JPEG, the source's width and
 * height, bytes_used its length; seq, timestamp_ns and flags as the
 * source's, with RKV_FRAME_KEYFRAME). The pool is the copy path's, its
 * slots rkv_imgops_jpeg_bound() of the frame size (stats.fourcc says
 * JPEG). A consumer decodes a frame into the format and size it wants
 * with rkv_imgops_decode_view() (rkv/imgops.h). The encoding runs on a
 * thread of its own, not the capture thread: the capture thread copies
 * the frame (~0.3 ms for 1080p NV12) and goes on, and when the encoder is
 * slower than the source (a 1080p JPEG costs ~4 ms of CPU), frames waiting
 * for it are replaced by newer ones (stats.encode_skipped): the pool then
 * gets the newest frames at the rate the encoder keeps up with. Snapshots
 * are taken from the raw frames.
 *
 * Saving images. A snapshot request (rkv/control.h) saves one full-
 * resolution frame as JPEG, PNG or raw bytes, either into a file the
 * request names or into the save directory, as
 *     <camera>-<YYYYMMDD>-<HHMMSS>.<mmm>-<seq, 6 digits or more>.<jpg|png|raw>
 * (the frame's capture time, UTC), e.g. cam0-20261201-235901.123-000042.jpg.
 * Periodic saves (@every_ns) go there too, and @max_bytes caps what the
 * camera's own files there take: after each save into the directory the
 * oldest of them are removed until they fit (the newest is always kept).
 *
 * Saving never slows capture: the capture thread copies the frame (one
 * memcpy, ~0.3 ms for 1080p NV12) into a buffer of the saver's and goes
 * on; a worker thread with its own image context encodes and writes it.
 * At most @queue copies wait for the worker; one more, and the oldest
 * waiting fails with an error answer (errno ECANCELED) rather than
 * anything waiting for the disk. A file is written under a temporary
 * name in its directory (O_TMPFILE where the file system has it), synced,
 * renamed into place and the directory synced, so no partial file is
 * ever left: a full disk or an unwritable directory gives an error
 * answer and counts in stats.save_errors.
 */
struct rkv_camera_save {
	uint32_t size;             /* 0 or sizeof(struct rkv_camera_save) */
	uint32_t format;           /* RKV_FMT_JPEG (0: that) or RKV_FMT_PNG: periodic saves,
				    * and requests that name none */
	uint32_t quality;          /* JPEG: 1..100 (0 = 85); PNG: zlib level 1..9 (0 = 1) */
	uint32_t queue;            /* frames copied and waiting for the worker; 0 = 4, at most 64 */
	const char *dir;           /* NULL: $XDG_RUNTIME_DIR/rkv, else /tmp/rkv-<uid>; made
				    * (mode 0700, one level) if missing */
	int64_t every_ns;          /* save a frame this often; 0: never */
	uint64_t max_bytes;        /* cap on the camera's files in @dir; 0: none */
	uint64_t reserved[4];      /* zero */
};

struct rkv_camera_stats {
	uint64_t captured;         /* frames the source gave */
	uint64_t published;        /* frames published into the pool */
	uint64_t skipped;          /* frames not published: above the rate asked for, or
				    * publishing stopped */
	uint64_t source_dropped;   /* frames the source dropped (broken, lost, late) */
	uint64_t pool_dropped;     /* frames no free slot could take */
	uint64_t source_errors;    /* times the source broke */
	uint64_t reopens;          /* times the source was opened again after that */
	uint64_t snapshots;        /* snapshots written */
	double capture_fps;        /* over the last second */
	double publish_fps;
	uint32_t zero_copy;        /* 1: frames are published in the source's buffers */
	uint32_t capturing;        /* 0 while publishing is stopped */
	uint32_t width, height, fourcc;
	uint32_t fps;              /* the publishing rate asked for; 0: every frame */
	int32_t pid;
	uint32_t pad0;
	char source[96];           /* the source's backend and device */
	char pool[RKV_NAME_MAX + 1];
	/* from here on: since zero-copy came (a smaller size still works) */
	char path[160];            /* "zero-copy: ...", or "copy: " and why */
	uint64_t starved;          /* zero-copy: times every buffer was out of the
				    * driver (consumers and the camera held them all) */
	uint32_t buffers;          /* zero-copy: the driver's buffers (the pool's slots) */
	uint32_t held;             /* zero-copy: buffers out of the driver now (in
				    * consumers' hands, or queued to them) */
	uint32_t pad1;
	/* saving and encoding (a smaller size still works) */
	uint64_t save_errors;      /* saves that failed (disk full, unwritable, ...) */
	uint64_t save_dropped;     /* saves given up: the queue was full */
	uint64_t encode_skipped;   /* encoded frames: replaced while waiting for the encoder
				    * (also counted in skipped) */
	/* from here on: since the preview (all 0 without one) */
	uint64_t preview_encoded;  /* JPEGs published into the preview pool */
	uint64_t preview_skipped;  /* frames due for the preview that found it busy */
	uint64_t preview_errors;   /* previews that failed (image work, the pool) */
	uint32_t preview_on;       /* switched on (rkv_camera_preview()) */
	uint32_t preview_active;   /* on, and a consumer attached: encoding */
	uint32_t preview_width, preview_height; /* the JPEGs' size */
	uint32_t preview_fps, preview_quality;
};

/*
 * Make camera @cfg: open its source, create its pool and its control
 * channel. On success *@out owns them until rkv_camera_destroy(). Errors:
 * -EINVAL, -E2BIG, what rkv_source_open() and rkv_producer_create() return
 * (-EADDRINUSE: a live producer has the pool's name, or a live camera the
 * camera's).
 */
int rkv_camera_create(const struct rkv_camera_config *cfg, rkv_camera **out);

/*
 * Capture and publish until rkv_camera_stop(); answer control requests
 * meanwhile. A source that breaks (device lost) is closed and opened again
 * with backoff (0.1 s doubling to 5 s); consumers see no frames meanwhile.
 * Returns 0 after a stop, -EPIPE when the source ended (a media file
 * without RKV_SOURCE_LOOP: every frame of it was published; consumers
 * drain what is queued to them once the camera is destroyed), or -errno
 * for what cannot be survived.
 */
int rkv_camera_run(rkv_camera *c);

/* Make rkv_camera_run() return; async-signal-safe. */
void rkv_camera_stop(rkv_camera *c);

/* The camera's counters, into @st of @size bytes: sizeof *st, or the size
 * the struct had before path or before preview_encoded (what follows is
 * then left out). */
int rkv_camera_stats(rkv_camera *c, struct rkv_camera_stats *st, size_t size);

/*
 * Switch the preview on (@on nonzero) or off, from any thread. -ENOTSUP:
 * the camera has no preview; -EINVAL: @c is NULL.
 */
int rkv_camera_preview(rkv_camera *c, int on);

/* rkv_camera_imgops()'s @which: the camera's users of the image layer,
 * each with its own context (rkv/imgops.h) on its own thread */
#define RKV_CAMERA_IMGOPS_PREVIEW 0u /* the preview's worker */
#define RKV_CAMERA_IMGOPS_SAVE    1u /* the saver (snapshots, periodic saves) */
#define RKV_CAMERA_IMGOPS_ENCODE  2u /* the encoder (@encode RKV_FMT_JPEG) */
#define RKV_CAMERA_IMGOPS_USERS   3u

/*
 * What image user @which of @c got: its chain and why a hardware backend
 * was left out (rkv_imgops_info(), into @info of @info_size bytes) and its
 * counters (rkv_imgops_stats(), into @st of @st_size bytes); a size of 0
 * skips that one (its pointer may then be NULL), a prefix is fine. Any
 * thread, while the camera runs. 0; -ENOENT: @c has no such user (no
 * preview, not encoding); -EINVAL: @c NULL, an unknown @which, a NULL
 * pointer with a nonzero size, or a size the image layer refuses.
 */
int rkv_camera_imgops(rkv_camera *c, unsigned which, struct rkv_imgops_info *info,
		      size_t info_size, struct rkv_imgops_stats *st, size_t st_size);

/* Close the control channel, the pool and the source. @c may be NULL. */
void rkv_camera_destroy(rkv_camera *c);

#ifdef __cplusplus
}
#endif

#endif /* RKV_CAMERA_H */
