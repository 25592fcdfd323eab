/* SPDX-License-Identifier: MIT */
/*
 * rkv/control.h - calling a camera's functions from another process.
 *
 * Every camera (rkv/camera.h) answers requests on its control channel, an
 * abstract Unix socket "\0rkvision-ctl/<camera>" of the camera's network
 * namespace, open to the camera's own user (and root) only. A request is
 * one message holding one JSON object, at most RKV_CONTROL_REQUEST_MAX
 * bytes; the answer is one message holding one JSON object, at most
 * RKV_CONTROL_REPLY_MAX bytes. Requests:
 *
 *   {"cmd": "status"}                  the camera's state and counters
 *                                      (with a preview: "preview", its state,
 *                                      counters and image backend; "save"
 *                                      and, encoding, "encoder": theirs)
 *   {"cmd": "capture", "on": true}     start (true) or stop (false) publishing
 *   {"cmd": "fps", "fps": 15}          publish at most this many frames a
 *                                      second (0: every frame the source gives)
 *   {"cmd": "snapshot"}                save the next full-resolution frame
 *                                      into the camera's save directory
 *                                      (rkv/camera.h, struct rkv_camera_save,
 *                                      names the file); answered once written:
 *                                      "path", "seq", "format", "bytes",
 *                                      "width", "height", "pixels" (the
 *                                      frame's fourcc), "timestamp_ns"
 *       optional fields:  "path": "/abs/file"  that file instead (the camera's
 *                                      user writes it, replacing one there)
 *                         "format": "jpeg", "png" or "raw"; default: the
 *                                      path's extension (.jpg, .jpeg, .png;
 *                                      any other is raw), without a path the
 *                                      camera's save format
 *                         "quality": JPEG 1..100, PNG zlib level 0..9
 *                         "seq": N     frame N instead of the next one: a
 *                                      frame to come, or one captured
 *                                      already whose bytes the camera still
 *                                      has (a consumer holds it or has it
 *                                      queued, or its slot was not used
 *                                      again; among the last 64 published;
 *                                      not with encoded frames);
 *                                      else an error answer, ENODATA (also
 *                                      when the source skips frame N)
 *                                      One snapshot at a time per connection
 *                                      (EBUSY); a save dropped because the
 *                                      saver was behind answers ECANCELED
 *   {"cmd": "preview", "on": true}     switch the JPEG preview on (true) or
 *                                      off (false); an error for a camera
 *                                      without one (rkv/camera.h, "The
 *                                      preview")
 *
 * Answers: {"ok": true, ...} with what was asked, or {"ok": false,
 * "error": "a sentence", "errno": N}. A malformed, oversized or unknown
 * request gets such an answer and the camera goes on serving; several
 * clients may be connected at once; a client that does not read its
 * answers is disconnected rather than slowing the camera down.
 */
#ifndef RKV_CONTROL_H
#define RKV_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RKV_CONTROL_REQUEST_MAX 4096
#define RKV_CONTROL_REPLY_MAX   65536

/*
 * Send @request (a JSON object) to camera @camera and wait up to
 * @timeout_ns (-1: forever) for the answer, written NUL-terminated into
 * @reply (@reply_len bytes). Returns the answer's length, or -ENOENT (no
 * such camera), -EACCES (another user's camera), -EMSGSIZE (request or
 * answer too long), -ETIMEDOUT, -EINTR, -EPROTO (the camera hung up), or
 * -EINVAL.
 */
ssize_t rkv_control_call(const char *camera, const char *request, char *reply,
			 size_t reply_len, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* RKV_CONTROL_H */
