/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c - rkvd's HTTP request handling (src/daemon/api.c): routing,
 * the token check, query parameters, JSON bodies.
 *
 * An input is a request in a text form of our own (libmicrohttpd's
 * parsing is not what is fuzzed, only what we do with its results):
 *
 *   byte 0         bit 0: reached through a non-loopback listener (needs
 *                  the token); bit 1: the body was over the limit
 *   METHOD SP PATH[?QUERY] LF     QUERY: k=v&k=v (taken as decoded)
 *   Name: value LF ...            headers
 *   LF
 *   body                          the rest
 *
 * The board has two cameras that exist nowhere else: "fuzzcam0", said to
 * be running (its control channel and pools are absent, so every call to
 * it fails at once), and "fuzzcam1", stopped; their save directory is a
 * temporary one with two files, a symbolic link to a file outside it and
 * a directory. Invariants: every answer has a status of api.h's table; an
 * error is JSON whose "status" is the answer's; a file served is one of
 * the two regular files in the directory; a request that needs the token
 * and lacks it is answered 401.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "daemon/api.h"
#include "fuzz_util.h"

#define TOKEN "fuzz-token"
#define MAX_ARGS 16
#define MAX_HEADERS 16

static const char *const seeds[] = {
	"\x00GET /api/version\n\n",
	"\x00GET /api/cameras\n\n",
	"\x00GET /api/stats\n\n",
	"\x00GET /api/events\nLast-Event-ID: 3\n\n",
	"\x00GET /api/fuzzcam1/latest.jpg?h=120&quality=50\n\n",
	"\x00GET /api/fuzzcam0/stream.mjpeg\n\n",
	"\x00POST /api/fuzzcam0/snapshot\n\n",
	"\x00GET /api/fuzzcam0/snapshots\n\n",
	"\x00GET /api/fuzzcam0/snapshots/fuzzcam0-1.jpg\n\n",
	"\x00GET /api/fuzzcam0/snapshots/fuzzcam0-link.jpg\n\n",
	"\x00POST /api/fuzzcam0/preview\nContent-Type: application/json\n\n{\"on\": true}",
	"\x00POST /api/fuzzcam1/capture\n\n{\"action\": \"stop\"}",
	"\x00PUT /api/fuzzcam0/fps\n\n{\"fps\": 15}",
	"\x00POST /api/fuzzcam0/restart\n\n",
	"\x01GET /api/version\nAuthorization: Bearer " TOKEN "\n\n",
	"\x01GET /api/stats?token=" TOKEN "\n\n",
	"\x02PUT /api/fuzzcam0/fps\n\n{\"fps\": 15}",
};

size_t fuzz_seed_input(uint8_t *buf, size_t cap, unsigned variant)
{
	unsigned i = variant % (sizeof(seeds) / sizeof(seeds[0]));
	const char *s = seeds[i];
	size_t n = 1 + strlen(s + 1);

	if (n > cap)
		n = cap;
	memcpy(buf, s, n);
	return n;
}

/* ---- the board ------------------------------------------------------------- */

static char save_dir[256];
static char outside[300];
static ino_t file_inodes[2];
static const char *const planted[] = {
	"fuzzcam0-1.jpg", "fuzzcam0-2.png", "fuzzcam0-link.jpg",
};

static int op_cameras(void *ctx, struct rkvd_proc_info *out, size_t n)
{
	(void)ctx;
	for (size_t i = 0; i < 2 && i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(out[i].name, sizeof(out[i].name), "fuzzcam%zu", i);
		out[i].state = i == 0 ? RKVD_PROC_RUNNING : RKVD_PROC_STOPPED;
		out[i].pid = i == 0 ? 1 : 0;
		out[i].last_status = -1;
		snprintf(out[i].save_dir, sizeof(out[i].save_dir), "%s", save_dir);
	}
	return 2;
}

static int op_config_json(void *ctx, const char *name, char *buf, size_t len)
{
	(void)ctx;
	if (strcmp(name, "fuzzcam0") && strcmp(name, "fuzzcam1"))
		return -ENOENT;
	int n = snprintf(buf, len, "{\"name\":\"%s\",\"source\":\"testpattern\"}", name);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static int op_restart(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "fuzzcam0") && strcmp(name, "fuzzcam1") ? -ENOENT : 0;
}

static const struct rkvd_board_ops ops = {
	.cameras = op_cameras,
	/* .algorithms: the HTTP API does not ask for them. */
	.camera_config_json = op_config_json,
	.restart = op_restart,
};
static const struct rkvd_board board = { .ops = &ops };

static struct rkvd_api *api;

static void put_file(const char *name, ino_t *ino)
{
	char path[512];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", save_dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fuzz_die("cannot write %s", path);
	fputs("\xff\xd8 not much of a JPEG \xff\xd9", f);
	fclose(f);
	stat(path, &sb);
	*ino = sb.st_ino;
}

static void cleanup(void)
{
	char path[512];
	for (size_t i = 0; i < sizeof(planted) / sizeof(planted[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", save_dir, planted[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/fuzzcam0-dir.jpg", save_dir);
	rmdir(path);
	rmdir(save_dir);
	unlink(outside);
}

static void setup(void)
{
	static struct rkvd_events *events;
	static struct rkvd_hub *hub;
	char path[512];

	snprintf(save_dir, sizeof(save_dir), "/tmp/rkv-fuzz-http-%d", (int)getpid());
	snprintf(outside, sizeof(outside), "%s-outside.jpg", save_dir);
	mkdir(save_dir, 0700);
	atexit(cleanup);
	put_file(planted[0], &file_inodes[0]);
	put_file(planted[1], &file_inodes[1]);
	FILE *f = fopen(outside, "w");
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/%s", save_dir, planted[2]);
	if (symlink(outside, path) && errno != EEXIST)
		fuzz_die("symlink: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/fuzzcam0-dir.jpg", save_dir);
	mkdir(path, 0700);
	if (rkvd_events_new(16, &events) || rkvd_hub_new(&hub) ||
	    rkvd_api_new(&board, events, hub, TOKEN, &api))
		fuzz_die("cannot set up the API");
}

/* ---- one request ------------------------------------------------------------- */

struct parsed {
	const char *keys[MAX_ARGS], *vals[MAX_ARGS];
	int nargs;
	const char *hkeys[MAX_HEADERS], *hvals[MAX_HEADERS];
	int nheaders;
};

static const char *lookup(const char *const *keys, const char *const *vals, int n,
			  const char *key, int (*cmp)(const char *, const char *))
{
	for (int i = 0; i < n; i++)
		if (cmp(keys[i], key) == 0)
			return vals[i];
	return NULL;
}

static const char *get_arg(void *ctx, const char *key)
{
	struct parsed *p = ctx;
	return lookup(p->keys, p->vals, p->nargs, key, strcmp);
}

static const char *get_header(void *ctx, const char *key)
{
	struct parsed *p = ctx;
	return lookup(p->hkeys, p->hvals, p->nheaders, key, strcasecmp);
}

static const int statuses[] = { 200, 202, 400, 401, 404, 405, 409, 413, 500, 502, 503 };

static void check_answer(const struct rkvd_request *req, const struct rkvd_answer *a,
			 bool has_token)
{
	bool known = false;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		known |= a->status == statuses[i];
	if (!known)
		fuzz_die("status %d", a->status);
	if (req->need_token && !has_token && a->status != 401)
		fuzz_die("no token, yet answered %d", a->status);
	if (a->kind == RKVD_ANSWER_BUFFER && a->content_type &&
	    strcmp(a->content_type, "application/json") == 0) {
		char *text = strndup(a->body, a->len);
		struct json_object *o = text ? json_tokener_parse(text) : NULL, *st;
		if (!o)
			fuzz_die("an answer that is not JSON: %.200s", text);
		if (a->status >= 400 && (!json_object_object_get_ex(o, "status", &st) ||
					 json_object_get_int(st) != a->status))
			fuzz_die("an error whose \"status\" is not %d: %.200s", a->status, text);
		json_object_put(o);
		free(text);
	}
	if (a->kind == RKVD_ANSWER_FILE) {
		struct stat sb;
		if (a->fd < 0 || fstat(a->fd, &sb) || !S_ISREG(sb.st_mode) ||
		    (sb.st_ino != file_inodes[0] && sb.st_ino != file_inodes[1]))
			fuzz_die("served a file that is not one of the camera's");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!api)
		setup();
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	size_t tlen = size - 1;

	struct parsed p = { .nargs = 0 };
	struct rkvd_request req = {
		.arg = get_arg, .header = get_header, .ctx = &p,
		.need_token = flags & 1, .body_too_large = (flags & 2) != 0,
	};
	/* The request line. */
	char *line_end = memchr(text, '\n', tlen);
	char *body_at = line_end ? line_end + 1 : text + tlen;
	if (line_end)
		*line_end = '\0';
	char *sp = strchr(text, ' ');
	req.method = text;
	req.path = "";
	if (sp) {
		*sp = '\0';
		req.path = sp + 1;
		char *q = strchr(sp + 1, '?');
		if (q) {
			*q++ = '\0';
			while (q && *q && p.nargs < MAX_ARGS) {
				char *amp = strchr(q, '&');
				if (amp)
					*amp++ = '\0';
				char *eq = strchr(q, '=');
				if (eq)
					*eq++ = '\0';
				p.keys[p.nargs] = q;
				p.vals[p.nargs++] = eq ? eq : "";
				q = amp;
			}
		}
	}
	/* Headers, up to an empty line; the rest is the body. */
	char *end = text + tlen;
	while (body_at < end && *body_at != '\n') {
		char *nl = memchr(body_at, '\n', (size_t)(end - body_at));
		char *next = nl ? nl + 1 : end;
		if (nl)
			*nl = '\0';
		char *colon = strchr(body_at, ':');
		if (colon && p.nheaders < MAX_HEADERS) {
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ')
				v++;
			p.hkeys[p.nheaders] = body_at;
			p.hvals[p.nheaders++] = v;
		}
		body_at = next;
	}
	if (body_at < end && *body_at == '\n')
		body_at++;
	req.body = body_at < end ? body_at : NULL;
	req.body_len = body_at < end ? (size_t)(end - body_at) : 0;

	const char *auth = get_header(&p, "Authorization"), *tok = get_arg(&p, "token");
	bool has_token = (auth && strcmp(auth, "Bearer " TOKEN) == 0) ||
			 (!(auth && strncasecmp(auth, "Bearer ", 7) == 0) && tok &&
			  strcmp(tok, TOKEN) == 0);
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *t = auth + 7;
		while (*t == ' ')
			t++;
		has_token = strcmp(t, TOKEN) == 0;
	}

	struct rkvd_answer a;
	if (rkvd_api_handle(api, &req, &a) == 0) {
		check_answer(&req, &a, has_token);
		rkvd_answer_clear(&a);
	}
	free(text);
	return 0;
}
