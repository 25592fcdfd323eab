/* SPDX-License-Identifier: MIT */
/*
 * camera/camera_private.h - what the camera's files share (private).
 */
#ifndef RKV_CAMERA_PRIVATE_H
#define RKV_CAMERA_PRIVATE_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <rkv/camera.h>

#include "camera/save.h"

struct json_object;
typedef struct rkv_imgops rkv_imgops;

#define RKV_CONTROL_PREFIX "rkvision-ctl/"

/* The abstract address of camera @camera's control channel; 0 or -EINVAL. */
int rkv__control_addr(const char *camera, struct sockaddr_un *sun, socklen_t *len);

/*
 * Answer one control request @req (@len bytes, not NUL-terminated) for
 * camera @c into @reply (NUL-terminated, at most @reply_len bytes). Returns
 * 1 for a snapshot request (*@snap holds it, checked as far as it can be
 * without the camera; the saver answers it), else 0. Never fails: a bad
 * request gets an error answer. The fuzz target calls it with c == NULL
 * (no camera: status answers from defaults).
 */
int rkv__camera_request(rkv_camera *c, const char *req, size_t len, char *reply,
			size_t reply_len, struct rkv__save_req *snap);

/*
 * How the camera's images are turned (rkv_camera_config.rotate and flip):
 * rotate 0/90/180/270 clockwise, then flip (RKV_CAMERA_FLIP_*, the values
 * of rkv_transform.flip), so both copy straight into a struct
 * rkv_transform. Applied to the preview and to saved images, never to the
 * pool's frames. Fixed at create; any thread may read it.
 */
struct rkv__orient {
	uint32_t rotate;
	uint32_t flip;
};

/* Camera @c's orientation, valid as long as @c. */
const struct rkv__orient *rkv__camera_orient(const rkv_camera *c);

/* The image backend @c was configured with ("auto", "cpu", "rga", "mpp"),
 * for rkv_imgops_config.backend; valid as long as @c. */
const char *rkv__camera_backend(const rkv_camera *c);

/*
 * Image context @ops's chain, what was refused and its counters, as the
 * status answer's "imgops" object (a new object the caller owns): backend,
 * chain, refused, done_by, calls, errors, fallbacks, fallbacks_by_op,
 * fallback_reasons. Reads only rkv_imgops_info() and rkv_imgops_stats(),
 * so any thread may call it while another uses @ops (imgops_json.c).
 */
struct json_object *rkv__imgops_json(const rkv_imgops *ops);

#endif /* RKV_CAMERA_PRIVATE_H */
