/* SPDX-License-Identifier: MIT */
/*
 * src/daemon/api.h - the HTTP API's request handling, apart from the HTTP
 * server: routing, token checks, parameters, JSON bodies and the answers.
 * http.c feeds it what libmicrohttpd parsed; fuzz/fuzz_http.c feeds it
 * anything at all.
 *
 * The routes (all answers JSON unless said otherwise; errors are
 * {"error": "a sentence", "status": N}):
 *
 *   GET  /                          the web page (text/html; also
 *                                     /index.html): src/daemon/www/
 *   GET  /api/version               {"version", "api"}
 *   GET  /api/cameras               [{name, state, online, pid, restarts,
 *                                     save_dir, config, capturing, preview}]
 *   GET  /api/stats                 {"cameras": [{name, online, restarts,
 *                                     capture_fps, publish_fps, drops,
 *                                     backend, consumers: [{id, label, pid,
 *                                     policy, fps, drops, lag}]}]}; a
 *                                     consumer's fps comes from its frame
 *                                     count's change since the previous
 *                                     call at least 0.5 s before (null on
 *                                     the first)
 *   GET  /api/events                Server-Sent Events (answer kind EVENTS)
 *   GET  /api/CAM/latest.jpg        the newest preview JPEG; ?h=16..4096 and
 *                                     ?quality=1..100 encode one on demand
 *                                     (from the preview, or from the
 *                                     full-resolution pool when h exceeds
 *                                     the preview's height; never larger
 *                                     than the camera's frames). A camera
 *                                     that is not running: 503 with
 *                                     "X-RKV-Offline: 1" and a placeholder
 *                                     JPEG as the body (an <img> still
 *                                     shows it)
 *   GET  /api/CAM/stream.mjpeg      multipart/x-mixed-replace (kind MJPEG)
 *   POST /api/CAM/snapshot          {"path", "name", "seq", "bytes", "width",
 *                                     "height"}; posts "snapshot_saved"
 *   GET  /api/CAM/snapshots         [{name, size, time, url}] of the camera's
 *                                     files in its save directory, by name
 *   GET  /api/CAM/snapshots/FILE    the file (FILE: [A-Za-z0-9._-], the
 *                                     camera's "CAM-" prefix, no leading
 *                                     dot; opened with O_NOFOLLOW beneath
 *                                     the directory, regular files only)
 *   POST /api/CAM/preview           body {"on": true|false}
 *   POST /api/CAM/capture           body {"on": true|false} or
 *                                     {"action": "start"|"stop"}
 *   PUT  /api/CAM/fps               body {"fps": 0..1000}
 *   POST /api/CAM/restart           the board restarts the camera's process
 *
 * Statuses: 400 malformed parameter or body, 401 token missing or wrong
 * (with "WWW-Authenticate: Bearer"), 404 unknown route, camera or file,
 * 405 wrong method (with "Allow"), 409 wrong state (capture stopped for a
 * snapshot, preview off for latest.jpg, a camera without a preview), 413
 * body over RKVD_API_BODY_MAX, 500 the daemon's own failure, 502 the camera
 * answered with an error, 503 camera offline (not running, or its control
 * channel does not answer).
 *
 * GET routes take HEAD as well.
 */
#ifndef RKVD_API_H
#define RKVD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rkv/daemon.h>

#include "board.h"
#include "events.h"
#include "hub.h"

#define RKVD_API_BODY_MAX 4096
#define RKVD_API_VERSION 1

/*
 * One request, as the HTTP server parsed it. Strings are NUL-terminated
 * and borrowed for the call. @path is the URL's path, already
 * percent-decoded, without the query. @arg and @header look a query
 * argument (decoded) or a header up by name (headers: case-insensitive)
 * and return NULL when it is absent; either may be NULL (none at all).
 */
struct rkvd_request {
	const char *method;
	const char *path;
	const char *(*arg)(void *ctx, const char *key);
	const char *(*header)(void *ctx, const char *key);
	void *ctx;
	const char *body;          /* body_len bytes, not NUL-terminated; may be NULL */
	size_t body_len;
	bool body_too_large;       /* more than RKVD_API_BODY_MAX came: answer 413 */
	bool need_token;           /* reached through a non-loopback listener */
};

enum rkvd_answer_kind {
	RKVD_ANSWER_BUFFER = 0,    /* @body, @len bytes of @content_type */
	RKVD_ANSWER_JPEG,          /* @jpeg's bytes, image/jpeg */
	RKVD_ANSWER_FILE,          /* @fd, @size bytes of @content_type */
	RKVD_ANSWER_MJPEG,         /* camera @camera's preview stream */
	RKVD_ANSWER_EVENTS,        /* events after sequence @after, as SSE */
};

/*
 * The answer. Owns @body (malloc), @jpeg (a reference) and @fd until
 * rkvd_answer_clear(), or until the server takes them over (and sets them
 * to NULL / -1). @content_type, @allow and @www_auth are static strings.
 */
struct rkvd_answer {
	int status;
	enum rkvd_answer_kind kind;
	const char *content_type;
	char *body;
	size_t len;
	struct rkvd_jpeg *jpeg;
	int fd;
	uint64_t size;
	char camera[RKVD_NAME_MAX];
	uint64_t after;
	bool offline;              /* send "X-RKV-Offline: 1" */
	const char *allow;         /* 405: the methods allowed */
	bool www_auth;             /* 401: send "WWW-Authenticate: Bearer" */
};

void rkvd_answer_clear(struct rkvd_answer *a);

struct rkvd_api;

/*
 * The handler over @board, @events and @hub (borrowed: they must outlive
 * it). @token (copied; NULL: none) is what requests with need_token must
 * show, as "Authorization: Bearer TOKEN" or "?token=TOKEN"; without one,
 * such requests are all refused with 401.
 */
int rkvd_api_new(const struct rkvd_board *board, struct rkvd_events *events,
		 struct rkvd_hub *hub, const char *token, struct rkvd_api **out);
void rkvd_api_free(struct rkvd_api *api);

/*
 * Answer @req into @a (cleared first). Returns 0 with @a filled (an error
 * status is an answer too), or -ENOMEM with @a cleared.
 */
int rkvd_api_handle(struct rkvd_api *api, const struct rkvd_request *req,
		    struct rkvd_answer *a);

/* Whether camera @name's process is running (the board says so). */
bool rkvd_api_camera_online(struct rkvd_api *api, const char *name);

/* An error answer's JSON for @status into @a (for the server's own use). */
int rkvd_api_error(struct rkvd_answer *a, int status, const char *msg);

/* @a and @b (lengths @la, @lb) equal, in a time that depends on @la only. */
bool rkvd_api_token_equal(const char *a, size_t la, const char *b, size_t lb);

#endif
