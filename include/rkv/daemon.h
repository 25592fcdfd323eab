/* SPDX-License-Identifier: MIT */
/*
 * rkv/daemon.h - the board's configuration: what rkvd runs.
 *
 * One YAML file (parsed with libyaml) describes the cameras, the HTTP API
 * and the algorithm processes; every field has a default, and no file at
 * all means one test-pattern camera "cam0". The shape follows frigate's:
 *
 *   api:
 *     listen: 127.0.0.1:8080        # "" : no TCP listener
 *     unix_socket: /run/rkvd.sock   # default $XDG_RUNTIME_DIR/rkvd.sock,
 *                                   #   else /tmp/rkvd-<uid>.sock; "" : none
 *     token: s3cret                 # required when listen is not loopback
 *   cameras:
 *     cam0:
 *       source: testpattern         # any rkv-camera --source
 *       width: 640                  # 0 / absent: the source's
 *       height: 480
 *       format: NV12                # "" : the source's
 *       fps: 30
 *       slots: 8
 *       backend: auto               # auto, cpu, rga, mpp
 *       decoder: mppvideodec        # media sources: the GStreamer decoder
 *       loop: false                 # media files: play again at the end
 *       rotate: 0                   # 0, 90, 180, 270
 *       flip: ""                    # "", h, v, hv
 *       preview: {enabled: true, width: 640, height: 0, fps: 10, quality: 75}
 *       save: {dir: /var/lib/rkv, format: jpeg, quality: 85, every: 0,
 *              max_mb: 0}
 *   algorithms:
 *     motion:
 *       camera: cam0
 *       policy: latest              # block, drop, latest, group
 *       group: ""                   # with policy group
 *       command: python3 examples/python/motion.py
 *
 * A field left empty (or given as ~ or null) keeps its default. Sources
 * other than testpattern have no default size or format: the source's own.
 * An algorithm with policy group and no group joins the group named after
 * itself.
 *
 * Errors: functions return 0 or a negative errno and never print, abort or
 * exit. A file that cannot be used gives -EINVAL (-EFBIG when larger than
 * RKVD_CONFIG_BYTES_MAX; or the errno of the failed open or read) and a
 * message in @err naming the file, the line, the field and what was
 * expected ("board.yaml:7: cameras.cam0.fps: expected a whole number
 * 1..1000, got \"fast\""). Refused: YAML syntax errors, more than one
 * document, unknown sections and fields, a field given twice, values of
 * the wrong kind or out of range, bad or repeated names, an algorithm on
 * an unknown camera, a non-loopback listen without a token. Nothing is
 * half-applied: a config is returned whole or not at all.
 */
#ifndef RKV_DAEMON_H
#define RKV_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RKVD_NAME_MAX 48   /* camera and algorithm names: [A-Za-z0-9_-], 1..47 */
#define RKVD_CAMERA_NAME_LEN 40 /* a camera's name at most: its pool NAME.preview fits */
#define RKVD_CAMERAS_MAX 16
#define RKVD_ALGORITHMS_MAX 32
#define RKVD_CONFIG_BYTES_MAX (256 * 1024) /* a larger file is refused (-EFBIG) */

struct rkvd_preview_config {
	bool enabled;          /* default true */
	uint32_t width;        /* default 640; bounding box, 0 leaves a side free */
	uint32_t height;       /* default 0 */
	uint32_t fps;          /* default 10 */
	uint32_t quality;      /* default 75 */
};

struct rkvd_save_config {
	char *dir;             /* NULL: rkv-camera's default */
	char *format;          /* "jpeg" (default) or "png" */
	uint32_t quality;      /* 0: rkv-camera's default */
	double every;          /* seconds between periodic saves; 0: none */
	uint32_t max_mb;       /* 0: no cap */
};

struct rkvd_camera_config {
	char name[RKVD_NAME_MAX];
	char *source;          /* default "testpattern" */
	uint32_t width, height;/* 0: the source's (default 640x480 for testpattern) */
	char *format;          /* NULL: the source's (default NV12 for testpattern) */
	uint32_t fps;          /* default 30 */
	uint32_t slots;        /* default 8 */
	char *backend;         /* "auto" (default), "cpu", "rga", "mpp" */
	char *decoder;         /* NULL: GStreamer picks */
	bool loop;
	uint32_t rotate;       /* 0, 90, 180, 270 */
	char *flip;            /* NULL, "h", "v", "hv" */
	struct rkvd_preview_config preview;
	struct rkvd_save_config save;
};

struct rkvd_algorithm_config {
	char name[RKVD_NAME_MAX];
	char camera[RKVD_NAME_MAX]; /* must name a configured camera */
	char *policy;          /* default "latest" */
	char *group;           /* NULL unless policy group (default: the algorithm's name) */
	char *command;         /* required; run with /bin/sh -c */
};

struct rkvd_api_config {
	char *listen;          /* "host:port"; default "127.0.0.1:8080"; "" none */
	char *unix_socket;     /* path; default see above; "" none */
	char *token;           /* NULL: none (refused with a non-loopback listen) */
};

struct rkvd_config {
	char *path;            /* the file read, NULL for the built-in default */
	struct rkvd_api_config api;
	uint32_t n_cameras;
	struct rkvd_camera_config cameras[RKVD_CAMERAS_MAX];
	uint32_t n_algorithms;
	struct rkvd_algorithm_config algorithms[RKVD_ALGORITHMS_MAX];
};

/* The built-in default: one test-pattern camera "cam0", the API's defaults. */
int rkvd_config_default(struct rkvd_config **out);

/*
 * Read @path. On success *@out is a new config (rkvd_config_free()); on
 * failure *@out is untouched and @err (@errlen bytes, may be NULL) says why.
 */
int rkvd_config_load(const char *path, struct rkvd_config **out, char *err,
		     size_t errlen);

/*
 * Parse @len bytes of YAML text; @name is used in messages. Any bytes are
 * safe here (the fuzz target's promise): the result is a config or an error.
 */
int rkvd_config_parse(const char *name, const char *text, size_t len,
		      struct rkvd_config **out, char *err, size_t errlen);

void rkvd_config_free(struct rkvd_config *cfg);

/*
 * The default api.unix_socket, where clients (the rkv tool) look for rkvd:
 * $XDG_RUNTIME_DIR/rkvd.sock, else /tmp/rkvd-<uid>.sock, into @buf (@len
 * bytes; 128 is enough). Returns @buf.
 */
const char *rkvd_default_socket(char *buf, size_t len);

/* true when algorithms @a and @b run the same command the same way. */
bool rkvd_algorithm_config_equal(const struct rkvd_algorithm_config *a,
				 const struct rkvd_algorithm_config *b);

/*
 * The directory camera @c saves into: save.dir, else rkv-camera's default
 * ($XDG_RUNTIME_DIR/rkv, else /tmp/rkv-UID). 0, or -ENOSPC.
 */
int rkvd_camera_save_dir(const struct rkvd_camera_config *c, char *buf, size_t len);

/* The camera named @name, or NULL. */
const struct rkvd_camera_config *rkvd_config_camera(const struct rkvd_config *cfg,
						    const char *name);

/*
 * The command line that runs camera @c: @bin (the rkv-camera program; not
 * copied, so it must outlive @out) then --name, --source, ... and --quiet.
 * The strings live in @out; argv is NULL-terminated. 0, or -ENOSPC.
 */
#define RKVD_ARGS_MAX 48
struct rkvd_args {
	char *argv[RKVD_ARGS_MAX];
	int argc;
	char buf[4096];
	size_t used;
};
int rkvd_camera_args(const struct rkvd_camera_config *c, const char *bin,
		     struct rkvd_args *out);

/* true when @a and @b would run the same rkv-camera (same arguments). */
bool rkvd_camera_config_equal(const struct rkvd_camera_config *a,
			      const struct rkvd_camera_config *b);

/*
 * The camera's configuration as one JSON object (the fields above, with
 * defaults filled in) into @buf; returns its length or -ENOSPC.
 */
int rkvd_camera_config_json(const struct rkvd_camera_config *c, char *buf,
			    size_t len);

#ifdef __cplusplus
}
#endif

#endif
