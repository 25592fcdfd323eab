/* SPDX-License-Identifier: MIT */
/*
 * camera/save.h - the camera's saver: snapshot requests and periodic
 * saves, encoded and written by a worker thread (private; rkv/camera.h
 * says what a user sees).
 *
 * The camera thread owns the requests that wait for a frame; it calls
 * rkv__saver_frame() with every frame captured, which copies the frame
 * once for each request it satisfies and hands the copies to the worker.
 * The worker's answers come back through rkv__saver_fd() (an eventfd in
 * the camera's epoll set) and rkv__saver_answer(), so only the camera
 * thread ever touches a client's socket.
 */
#ifndef RKV_CAMERA_SAVE_H
#define RKV_CAMERA_SAVE_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/camera.h>

struct json_object;

#define RKV_SAVE_PATH_MAX 512

/* One snapshot request, as the control channel gives it. */
struct rkv__save_req {
	uint32_t format;   /* RKV_FMT_JPEG, RKV_FMT_PNG, or 0: raw bytes */
	uint32_t quality;  /* JPEG 1..100, PNG level 0..9; UINT32_MAX: the camera's */
	int has_seq;       /* save frame @seq, not the next one */
	uint64_t seq;
	char path[RKV_SAVE_PATH_MAX]; /* absolute file, or "": the save directory */
};

/*
 * Read a snapshot request's fields from @o (a JSON object: "path",
 * "format", "quality", "seq"; see rkv/control.h) into @req. Returns 0, or
 * -EINVAL with a sentence in @why.
 */
int rkv__save_parse(struct json_object *o, struct rkv__save_req *req, char *why, size_t why_len);

typedef struct rkv__saver rkv__saver;

/* Make a saver for camera @camera as @cfg says (NULL: defaults) and start
 * its worker. JPEG and PNG saves are turned @rotate degrees clockwise (0,
 * 90, 180, 270) and then flipped as @flip says (RKV_FLIP_* of
 * rkv/imgops.h), the camera's orientation; raw saves are the frame as
 * captured. @backend is the image backend (rkv/imgops.h; NULL: "auto").
 * 0, -EINVAL (@why says which field), -ENOMEM, or what
 * pthread_create or eventfd give. */
int rkv__saver_open(rkv__saver **out, const char *camera, const struct rkv_camera_save *cfg,
		    uint32_t rotate, uint32_t flip, const char *backend, char *why, size_t why_len);

/* Stop the worker (after the save it is doing), fail what waits, free. */
void rkv__saver_close(rkv__saver *s);

/* Readable when rkv__saver_answer() has something. */
int rkv__saver_fd(const rkv__saver *s);

/*
 * Camera thread: request @req for client @tag (nonzero), the camera's
 * newest frame so far being @last_seq (-1: none yet). Returns 0 (answered
 * later, by rkv__saver_answer), or -errno with an error answer in @reply.
 */
int rkv__saver_want(rkv__saver *s, const struct rkv__save_req *req, uint64_t tag,
		    int64_t last_seq, char *reply, size_t reply_len);

/*
 * Camera thread: request @req for client @tag (nonzero) of frame @f, one
 * captured already and still in the camera's hands (its @f->bytes_used
 * bytes at @data, copied before this returns). Returns 0 (answered later,
 * by rkv__saver_answer), or -errno with an error answer in @reply.
 */
int rkv__saver_want_frame(rkv__saver *s, const struct rkv__save_req *req, uint64_t tag,
			  const struct rkv_frame *f, const void *data, char *reply,
			  size_t reply_len);

/* Camera thread: client @tag is gone; its request is forgotten. */
void rkv__saver_cancel(rkv__saver *s, uint64_t tag);

/* Camera thread: frame @f (@data, f->bytes_used bytes) was captured. */
void rkv__saver_frame(rkv__saver *s, const struct rkv_frame *f, const void *data);

/*
 * Camera thread: take one finished answer: 1 with its client's tag in *@tag
 * (0: a periodic save, nobody to tell) and the answer in @reply; 0 when
 * there is none.
 */
int rkv__saver_answer(rkv__saver *s, uint64_t *tag, char *reply, size_t reply_len);

/* Counters, any thread. */
void rkv__saver_stats(rkv__saver *s, uint64_t *saved, uint64_t *errors, uint64_t *dropped);

/* The worker's image context, for rkv_imgops_info() and
 * rkv_imgops_stats() from any thread. */
const struct rkv_imgops *rkv__saver_ops(const rkv__saver *s);

/* The directory saves go to. */
const char *rkv__saver_dir(const rkv__saver *s);

/* ---- encoded frames (encode.c): rkv-camera --encode jpeg ---------------- */

typedef struct rkv__encoder rkv__encoder;

/* Start an encoder thread publishing JPEGs of @quality (1..100) into @p,
 * whose slots must hold rkv_imgops_jpeg_bound() of the frames. It is @p's
 * only user from then on (but for stats). 0, -ENOMEM or what
 * rkv_imgops_open and pthread_create give. */
int rkv__encoder_open(rkv__encoder **out, rkv_producer *p, uint32_t quality,
		      const char *backend);

/* Stop the thread (after the frame it is encoding) and free. */
void rkv__encoder_close(rkv__encoder *e);

/* Camera thread: frame @f (@data) is to be published encoded. */
void rkv__encoder_frame(rkv__encoder *e, const struct rkv_frame *f, const void *data);

/* Counters, any thread: published, replaced before they were encoded, not
 * published (no free slot, or an encoding error). */
void rkv__encoder_stats(rkv__encoder *e, uint64_t *encoded, uint64_t *skipped, uint64_t *failed);

/* The encoder thread's image context, as rkv__saver_ops(). */
const struct rkv_imgops *rkv__encoder_ops(const rkv__encoder *e);

#endif /* RKV_CAMERA_SAVE_H */
