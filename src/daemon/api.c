/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API's request handling (api.h): everything a request means,
 * with no HTTP server in sight, so that a fuzzer can drive it directly.
 * Camera work goes through the camera's control channel (rkv/control.h),
 * the board's operations (board.h) and the preview hub (hub.h); nothing a
 * client sends reaches any of them unchecked.
 */
#include "api.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <rkv/control.h>
#include <rkv/imgops.h>
#include <rkv/pool.h>

#include "www.h"

#define STATUS_TIMEOUT_NS   (1000ll * 1000000ll)
#define CONTROL_TIMEOUT_NS  (3000ll * 1000000ll)
#define SNAPSHOT_TIMEOUT_NS (15000ll * 1000000ll)
#define LATEST_WAIT_NS      (3000ll * 1000000ll)
#define SAMPLES_MAX 256
#define CONSUMERS_MAX 64
#define SNAPSHOTS_LIST_MAX 2000

/* A consumer's frame count when last seen, for its fps. */
struct sample {
	char camera[RKVD_NAME_MAX + 16];   /* the pool's name */
	uint32_t id;
	int32_t pid;
	uint64_t received;
	int64_t at_ns;
	double fps;               /* < 0: not known yet */
	int64_t used_ns;
};

struct rkvd_api {
	const struct rkvd_board *board;
	struct rkvd_events *events;
	struct rkvd_hub *hub;
	char *token;
	pthread_mutex_t lock;     /* samples */
	struct sample samples[SAMPLES_MAX];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ---- answers ---------------------------------------------------------------- */

void rkvd_answer_clear(struct rkvd_answer *a)
{
	if (!a)
		return;
	free(a->body);
	rkvd_jpeg_put(a->jpeg);
	if (a->fd >= 0)
		close(a->fd);
	memset(a, 0, sizeof(*a));
	a->fd = -1;
}

/* Answer @o (consumed) as JSON with @status. */
static int answer_json(struct rkvd_answer *a, int status, struct json_object *o)
{
	if (!o)
		return -ENOMEM;
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char *body = s ? strdup(s) : NULL;
	json_object_put(o);
	if (!body)
		return -ENOMEM;
	free(a->body);
	a->kind = RKVD_ANSWER_BUFFER;
	a->status = status;
	a->content_type = "application/json";
	a->body = body;
	a->len = strlen(body);
	return 0;
}

int rkvd_api_error(struct rkvd_answer *a, int status, const char *msg)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "status", json_object_new_int(status));
	return answer_json(a, status, o);
}

static int errorf(struct rkvd_answer *a, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int errorf(struct rkvd_answer *a, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rkvd_api_error(a, status, msg);
}

/* ---- small helpers ------------------------------------------------------------- */

bool rkvd_api_token_equal(const char *a, size_t la, const char *b, size_t lb)
{
	/* Every byte of @a is looked at whatever matches, against @b cycled,
	 * so the time says nothing about where @a and @b differ. */
	unsigned diff = (unsigned)(la != lb);
	if (lb == 0)
		return false;
	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i % lb];
	return diff == 0;
}

static bool valid_name(const char *s, size_t n)
{
	if (n == 0 || n >= RKVD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static const char *state_name(enum rkvd_proc_state s)
{
	switch (s) {
	case RKVD_PROC_STOPPED: return "stopped";
	case RKVD_PROC_STARTING: return "starting";
	case RKVD_PROC_RUNNING: return "running";
	case RKVD_PROC_BACKOFF: return "backoff";
	}
	return "unknown";
}

/* A whole number lo..hi, digits only; -1 when it is not. */
static long parse_uint(const char *s, long lo, long hi)
{
	long v = 0;
	if (!s || !*s || strlen(s) > 9)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v < lo || v > hi ? -1 : v;
}

static const char *req_arg(const struct rkvd_request *req, const char *key)
{
	return req->arg ? req->arg(req->ctx, key) : NULL;
}

static const char *req_header(const struct rkvd_request *req, const char *key)
{
	return req->header ? req->header(req->ctx, key) : NULL;
}

/* The board's cameras into @all (RKVD_CAMERAS_MAX), strings terminated;
 * their number, or an error answer in @a (and then -1 or -ENOMEM). */
static int list_cameras(struct rkvd_api *api, struct rkvd_proc_info *all, struct rkvd_answer *a)
{
	int n = api->board->ops->cameras(api->board->ctx, all, RKVD_CAMERAS_MAX);
	if (n < 0) {
		int err = errorf(a, 500, "the board's cameras: %s", strerror(-n));
		return err ? err : -1;
	}
	if (n > RKVD_CAMERAS_MAX)
		n = RKVD_CAMERAS_MAX;
	for (int i = 0; i < n; i++) {
		all[i].name[RKVD_NAME_MAX - 1] = '\0';
		all[i].save_dir[sizeof(all[i].save_dir) - 1] = '\0';
	}
	return n;
}

/* The board's state of camera @name into @info; false when unknown. */
static bool find_camera(struct rkvd_api *api, const char *name, struct rkvd_proc_info *info)
{
	struct rkvd_proc_info all[RKVD_CAMERAS_MAX];
	struct rkvd_answer scratch = { .fd = -1 };
	int n = list_cameras(api, all, &scratch);
	rkvd_answer_clear(&scratch);
	for (int i = 0; i < n; i++)
		if (strcmp(all[i].name, name) == 0) {
			*info = all[i];
			return true;
		}
	return false;
}

bool rkvd_api_camera_online(struct rkvd_api *api, const char *name)
{
	struct rkvd_proc_info info;
	return find_camera(api, name, &info) && info.state == RKVD_PROC_RUNNING;
}

/*
 * Send @request to camera @camera; the answer parsed into *@out. Returns 0
 * (the camera said ok), or an error answer already in @a: 503 when the
 * camera cannot be reached, 502/409/400 for its own refusal. *@errno_out
 * gets the camera's errno for a refusal (0 otherwise).
 */
static int control(struct rkvd_answer *a, const char *camera, const char *request,
		   int64_t timeout_ns, struct json_object **out, int *cam_errno)
{
	char *reply = malloc(RKV_CONTROL_REPLY_MAX);
	struct json_object *o, *ok, *v;

	*out = NULL;
	if (cam_errno)
		*cam_errno = 0;
	if (!reply)
		return -ENOMEM;
	ssize_t n = rkv_control_call(camera, request, reply, RKV_CONTROL_REPLY_MAX, timeout_ns);
	if (n < 0) {
		free(reply);
		int err = errorf(a, 503, "camera %s does not answer: %s", camera, strerror((int)-n));
		a->offline = true;
		return err ? err : 1;
	}
	o = json_tokener_parse(reply);
	free(reply);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "ok", &ok)) {
		json_object_put(o);
		int err = errorf(a, 502, "camera %s gave an answer that is not its protocol's", camera);
		return err ? err : 1;
	}
	if (!json_object_get_boolean(ok)) {
		const char *why = json_object_object_get_ex(o, "error", &v) ? json_object_get_string(v)
									    : "no reason given";
		int e = json_object_object_get_ex(o, "errno", &v) ? json_object_get_int(v) : 0;
		int status = e == EBUSY || e == ENOTSUP || e == ENODEV || e == EALREADY ? 409
			     : e == EINVAL ? 400 : 502;
		if (cam_errno)
			*cam_errno = e;
		int err = errorf(a, status, "camera %s: %s", camera, why ? why : "refused");
		json_object_put(o);
		return err ? err : 1;
	}
	*out = o;
	return 0;
}

/* The camera's status, or NULL when it does not answer. */
static struct json_object *camera_status(const char *camera)
{
	struct rkvd_answer scratch = { .fd = -1 };
	struct json_object *st = NULL;
	control(&scratch, camera, "{\"cmd\":\"status\"}", STATUS_TIMEOUT_NS, &st, NULL);
	rkvd_answer_clear(&scratch);
	return st;
}

static bool json_bool_at(struct json_object *o, const char *k1, const char *k2, bool dflt)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, k1, &v))
		return dflt;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return dflt;
	return json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : dflt;
}

/* Copy member @key of @from into @to (when there). */
static void copy_member(struct json_object *to, struct json_object *from, const char *key)
{
	struct json_object *v;
	if (from && json_object_object_get_ex(from, key, &v))
		json_object_object_add(to, key, json_object_get(v));
}

/* The request body as a JSON object; NULL (an answer in @a) otherwise. */
static struct json_object *body_object(const struct rkvd_request *req, struct rkvd_answer *a,
				       int *err)
{
	*err = 0;
	if (!req->body || req->body_len == 0) {
		*err = rkvd_api_error(a, 400, "this request needs a JSON object as its body");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(16);
	if (!tok) {
		*err = -ENOMEM;
		return NULL;
	}
	struct json_object *o = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	/* Everything after the object must be blank. */
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	bool trailing = false;
	for (size_t i = used; o && i < req->body_len; i++)
		if (!isspace((unsigned char)req->body[i]))
			trailing = true;
	if (!o || jerr != json_tokener_success || trailing || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*err = rkvd_api_error(a, 400, "the body is not one JSON object");
		return NULL;
	}
	return o;
}

/* ---- GET /, /api/version, /api/cameras, /api/stats -------------------------------- */

static int get_page(struct rkvd_answer *a)
{
	char *body = malloc(rkvd_index_html_len);
	if (!body)
		return -ENOMEM;
	memcpy(body, rkvd_index_html, rkvd_index_html_len);
	a->status = 200;
	a->kind = RKVD_ANSWER_BUFFER;
	a->content_type = "text/html; charset=utf-8";
	a->body = body;
	a->len = rkvd_index_html_len;
	return 0;
}

static int get_version(struct rkvd_answer *a)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "version", json_object_new_string(rkv_version()));
	json_object_object_add(o, "api", json_object_new_int(RKVD_API_VERSION));
	return answer_json(a, 200, o);
}

/* What /api/cameras and /api/stats both say of camera @c, whose status
 * is @st (NULL: it does not answer). */
static struct json_object *camera_head(const struct rkvd_proc_info *c, struct json_object *st)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "state", json_object_new_string(state_name(c->state)));
	json_object_object_add(o, "online", json_object_new_boolean(st != NULL));
	json_object_object_add(o, "restarts", json_object_new_int64(c->restarts));
	json_object_object_add(o, "capturing",
			       json_object_new_boolean(json_bool_at(st, "capturing", NULL, false)));
	json_object_object_add(o, "preview",
			       json_object_new_boolean(json_bool_at(st, "preview", "on", false)));
	return o;
}

static uint64_t json_u64(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	int64_t x = json_object_get_int64(v);
	return x < 0 ? 0 : (uint64_t)x;
}

/* The consumer's fps from its frame count's change since the last look. */
static double consumer_fps(struct rkvd_api *api, const char *camera,
			   const struct rkv_consumer_stats *cs, int64_t now)
{
	struct sample *s = NULL, *oldest = &api->samples[0];
	double fps;

	pthread_mutex_lock(&api->lock);
	for (int i = 0; i < SAMPLES_MAX; i++) {
		struct sample *x = &api->samples[i];
		if (x->camera[0] && x->id == cs->id && x->pid == cs->pid &&
		    strcmp(x->camera, camera) == 0) {
			s = x;
			break;
		}
		if (x->used_ns < oldest->used_ns)
			oldest = x;
	}
	if (!s) {
		s = oldest;
		snprintf(s->camera, sizeof(s->camera), "%.*s", RKVD_NAME_MAX - 1, camera);
		s->id = cs->id;
		s->pid = cs->pid;
		s->received = cs->received;
		s->at_ns = now;
		s->fps = -1;
	} else if (now - s->at_ns >= 500000000ll && cs->received >= s->received) {
		s->fps = (double)(cs->received - s->received) * 1e9 / (double)(now - s->at_ns);
		s->received = cs->received;
		s->at_ns = now;
	}
	s->used_ns = now;
	fps = s->fps;
	pthread_mutex_unlock(&api->lock);
	return fps;
}

/* Pool @pool's consumers, appended to @arr. */
static void consumers_json(struct rkvd_api *api, const char *pool, struct json_object *arr)
{
	struct rkv_consumer_stats *cs = calloc(CONSUMERS_MAX, sizeof(*cs));
	if (!cs)
		return;
	int n = rkv_pool_stats(pool, NULL, 0, cs, CONSUMERS_MAX, sizeof(*cs));
	if (n > CONSUMERS_MAX)
		n = CONSUMERS_MAX;
	int64_t now = now_ns();
	for (int i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		cs[i].label[sizeof(cs[i].label) - 1] = '\0';
		json_object_object_add(o, "pool", json_object_new_string(pool));
		json_object_object_add(o, "id", json_object_new_int64(cs[i].id));
		json_object_object_add(o, "label", json_object_new_string(cs[i].label));
		json_object_object_add(o, "pid", json_object_new_int(cs[i].pid));
		json_object_object_add(o, "policy", json_object_new_string(rkv_policy_name(cs[i].policy)));
		double fps = consumer_fps(api, pool, &cs[i], now);
		json_object_object_add(o, "fps", fps < 0 ? NULL : json_object_new_double(fps));
		json_object_object_add(o, "received", json_object_new_int64((int64_t)cs[i].received));
		json_object_object_add(o, "drops", json_object_new_int64((int64_t)cs[i].dropped));
		json_object_object_add(o, "lag", json_object_new_int64((int64_t)cs[i].lag));
		json_object_array_add(arr, o);
	}
	free(cs);
}

/* /api/cameras' members beyond camera_head(). */
static void camera_config_members(struct rkvd_api *api, struct json_object *o,
				  const struct rkvd_proc_info *c, struct json_object *st)
{
	char cfg[4096];
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "save_dir", json_object_new_string(c->save_dir));
	int len = api->board->ops->camera_config_json(api->board->ctx, c->name, cfg, sizeof(cfg));
	json_object_object_add(o, "config", len > 0 ? json_tokener_parse(cfg) : NULL);
	copy_member(o, st, "width");
	copy_member(o, st, "height");
	copy_member(o, st, "format");
	copy_member(o, st, "source");
}

/* /api/stats' members beyond camera_head(). */
static void camera_stats_members(struct rkvd_api *api, struct json_object *o,
				 const struct rkvd_proc_info *c, struct json_object *st)
{
	struct json_object *v, *w;
	copy_member(o, st, "capture_fps");
	copy_member(o, st, "publish_fps");
	copy_member(o, st, "captured");
	copy_member(o, st, "published");
	struct json_object *drops = json_object_new_object();
	uint64_t src = json_u64(st, "source_dropped"), pool = json_u64(st, "pool_dropped"),
		 skipped = json_u64(st, "skipped");
	json_object_object_add(drops, "source", json_object_new_int64((int64_t)src));
	json_object_object_add(drops, "pool", json_object_new_int64((int64_t)pool));
	json_object_object_add(drops, "skipped", json_object_new_int64((int64_t)skipped));
	json_object_object_add(o, "drops", json_object_new_int64((int64_t)(src + pool)));
	json_object_object_add(o, "drops_detail", drops);
	/* The image backend the camera's preview (else its saver) uses. */
	const char *backend = NULL;
	if (st && ((json_object_object_get_ex(st, "preview", &v) &&
		    json_object_object_get_ex(v, "imgops", &w)) ||
		   (json_object_object_get_ex(st, "save", &v) &&
		    json_object_object_get_ex(v, "imgops", &w))) &&
	    json_object_object_get_ex(w, "backend", &v))
		backend = json_object_get_string(v);
	json_object_object_add(o, "backend", backend ? json_object_new_string(backend) : NULL);
	/* The consumers of its pool and of its preview pool. */
	struct json_object *arr = json_object_new_array();
	if (st && arr) {
		char pool_name[RKVD_NAME_MAX + 16];
		consumers_json(api, c->name, arr);
		snprintf(pool_name, sizeof(pool_name), "%.*s.preview", RKVD_NAME_MAX - 1, c->name);
		consumers_json(api, pool_name, arr);
	}
	json_object_object_add(o, "consumers", arr);
}

/* GET /api/cameras (@stats false) or /api/stats. */
static int get_cameras(struct rkvd_api *api, struct rkvd_answer *a, bool stats)
{
	struct rkvd_proc_info all[RKVD_CAMERAS_MAX];
	int n = list_cameras(api, all, a);
	if (n < 0)
		return n == -1 ? 0 : n;
	struct json_object *arr = json_object_new_array();
	if (!arr)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct rkvd_proc_info *c = &all[i];
		struct json_object *st = c->state == RKVD_PROC_RUNNING ? camera_status(c->name) : NULL;
		struct json_object *o = camera_head(c, st);
		if (stats)
			camera_stats_members(api, o, c, st);
		else
			camera_config_members(api, o, c, st);
		json_object_put(st);
		json_object_array_add(arr, o);
	}
	if (!stats)
		return answer_json(a, 200, arr);
	struct json_object *root = json_object_new_object();
	if (!root) {
		json_object_put(arr);
		return -ENOMEM;
	}
	json_object_object_add(root, "cameras", arr);
	return answer_json(a, 200, root);
}

/* ---- GET /api/events -------------------------------------------------------------- */

static int get_events(struct rkvd_api *api, const struct rkvd_request *req, struct rkvd_answer *a)
{
	const char *last = req_header(req, "Last-Event-ID");
	const char *after = req_arg(req, "after");
	long v;

	a->after = rkvd_events_last(api->events);
	if (after || last) {
		v = parse_uint(after ? after : last, 0, 999999999);
		if (v < 0)
			return rkvd_api_error(a, 400, "after / Last-Event-ID: expected a whole number");
		a->after = (uint64_t)v;
	}
	a->status = 200;
	a->kind = RKVD_ANSWER_EVENTS;
	a->content_type = "text/event-stream";
	return 0;
}

/* ---- latest.jpg -------------------------------------------------------------- */

/* Scale @w x @h to height @want keeping the aspect ratio; even sides. */
static void fit_height(uint32_t w, uint32_t h, uint32_t want, uint32_t *ow, uint32_t *oh)
{
	uint64_t nw = h ? ((uint64_t)w * want + h / 2) / h : want;
	*oh = want & ~1u;
	*ow = (uint32_t)nw & ~1u;
	if (*oh < 2)
		*oh = 2;
	if (*ow < 2)
		*ow = 2;
}

/* Encode raw @src as JPEG into a new buffer of @a. */
static int encode_answer(rkv_imgops *ops, const struct rkv_image *src, uint32_t quality,
			 struct rkvd_answer *a)
{
	uint64_t cap = rkv_imgops_jpeg_bound(src->frame.width, src->frame.height);
	char *buf = cap ? malloc(cap) : NULL;
	struct rkv_image dst;
	if (!buf)
		return -ENOMEM;
	rkv_imgops_image(&dst, RKV_FMT_JPEG, src->frame.width, src->frame.height, buf, cap);
	struct rkv_jpeg_params p = { .quality = quality };
	int err = rkv_imgops_jpeg_encode(ops, src, &dst, &p);
	if (err) {
		free(buf);
		return errorf(a, 500, "encoding the image: %s", strerror(-err));
	}
	a->status = 200;
	a->kind = RKVD_ANSWER_BUFFER;
	a->content_type = "image/jpeg";
	a->body = buf;
	a->len = dst.frame.bytes_used;
	return 0;
}

/* A raw I420 image of @w x @h with fresh bytes (freed by the caller). */
static int i420_image(struct rkv_image *img, uint32_t w, uint32_t h)
{
	uint64_t need = (uint64_t)w * h * 3 / 2;
	void *p = malloc(need);
	if (!p)
		return -ENOMEM;
	int64_t n = rkv_imgops_image(img, RKV_FMT_I420, w, h, p, need);
	if (n < 0) {
		free(p);
		return (int)n;
	}
	return 0;
}

/* From the full-resolution pool: one frame decoded at height @h. */
static int latest_full(const char *camera, rkv_imgops *ops, uint32_t h, uint32_t quality,
		       struct rkvd_answer *a)
{
	struct rkv_consumer_opts o = {
		.size = sizeof(o),
		.policy = RKV_POLICY_LATEST,
		.attach_timeout_ns = 1000000000ll,
		.label = "rkvd-http-full",
	};
	rkv_consumer *c = NULL;
	struct rkv_view v;
	struct rkv_image img = { .data = NULL };
	int err = rkv_consumer_attach(camera, &o, &c);
	if (err) {
		a->offline = err == -ENOENT;
		return errorf(a, err == -ENOENT ? 503 : 500, "camera %s's pool: %s", camera,
			      strerror(-err));
	}
	err = rkv_consumer_acquire(c, &v, LATEST_WAIT_NS);
	if (err) {
		rkv_consumer_detach(c);
		return errorf(a, err == -ETIMEDOUT ? 409 : 503,
			      "no frame from camera %s (is capture stopped?): %s", camera,
			      strerror(-err));
	}
	uint32_t fw = v.frame.width, fh = v.frame.height;
	if (v.frame.fourcc == RKV_FMT_JPEG && v.data) {
		err = rkv_imgops_jpeg_size(ops, v.data, v.frame.bytes_used, &fw, &fh);
		if (err)
			fw = fh = 0;
	}
	if (fw == 0 || fh == 0) {
		rkv_consumer_release(c, &v);
		rkv_consumer_detach(c);
		return errorf(a, 502, "camera %s's frame has no size", camera);
	}
	uint32_t ow, oh;
	fit_height(fw, fh, h < fh ? h : fh, &ow, &oh);
	err = i420_image(&img, ow, oh);
	if (!err)
		err = rkv_imgops_decode_view(ops, &v, &img);
	rkv_consumer_release(c, &v);
	rkv_consumer_detach(c);
	if (err == -ENOMEM) {
		free(img.data);
		return err;
	}
	if (err) {
		free(img.data);
		return errorf(a, 502, "camera %s's frame cannot be read: %s", camera, strerror(-err));
	}
	err = encode_answer(ops, &img, quality, a);
	free(img.data);
	return err;
}

static int latest_jpg(struct rkvd_api *api, const struct rkvd_request *req,
		      const struct rkvd_proc_info *cam, struct rkvd_answer *a)
{
	const char *hs = req_arg(req, "h"), *qs = req_arg(req, "quality");
	long h = 0, q = 75;
	struct rkvd_jpeg *j = NULL;
	int err;

	if (hs && (h = parse_uint(hs, 16, 4096)) < 0)
		return rkvd_api_error(a, 400, "h: expected a height 16..4096");
	if (qs && (q = parse_uint(qs, 1, 100)) < 0)
		return rkvd_api_error(a, 400, "quality: expected 1..100");
	if (cam->state != RKVD_PROC_RUNNING) {
		a->status = 503;
		a->kind = RKVD_ANSWER_JPEG;
		a->content_type = "image/jpeg";
		a->offline = true;
		a->jpeg = rkvd_hub_placeholder(api->hub);
		return 0;
	}
	err = rkvd_hub_wait(api->hub, cam->name, 0, LATEST_WAIT_NS, &j);
	if (err == -ENOMEM)
		return err;
	if (err) {
		struct json_object *st = camera_status(cam->name);
		bool capturing = json_bool_at(st, "capturing", NULL, false);
		bool preview = json_bool_at(st, "preview", "on", false);
		json_object_put(st);
		if (!st) {
			a->offline = true;
			return errorf(a, 503, "camera %s does not answer", cam->name);
		}
		if (!preview)
			return errorf(a, 409, "camera %s's preview is off", cam->name);
		if (!capturing)
			return errorf(a, 409, "camera %s's capture is stopped", cam->name);
		return errorf(a, 503, "no preview of camera %s came: %s", cam->name, strerror(-err));
	}
	if (!hs && !qs) {
		a->status = 200;
		a->kind = RKVD_ANSWER_JPEG;
		a->content_type = "image/jpeg";
		a->jpeg = j;
		return 0;
	}
	rkv_imgops *ops = NULL;
	struct rkv_imgops_config cfg = { .size = sizeof(cfg), .backend = "auto" };
	err = rkv_imgops_open(&cfg, &ops);
	if (err) {
		rkvd_jpeg_put(j);
		return err == -ENOMEM ? err : errorf(a, 500, "image layer: %s", strerror(-err));
	}
	uint32_t jw, jh;
	err = rkv_imgops_jpeg_size(ops, j->data, j->len, &jw, &jh);
	if (err) {
		err = errorf(a, 502, "camera %s's preview is not a JPEG", cam->name);
		goto out;
	}
	if (h > (long)jh) {
		err = latest_full(cam->name, ops, (uint32_t)h, (uint32_t)q, a);
		goto out;
	}
	uint32_t ow, oh;
	fit_height(jw, jh, h ? (uint32_t)h : jh, &ow, &oh);
	struct rkv_image src, img;
	rkv_imgops_image(&src, RKV_FMT_JPEG, jw, jh, j->data, j->len);
	err = i420_image(&img, ow, oh);
	if (err)
		goto out;
	err = rkv_imgops_jpeg_decode(ops, &src, &img);
	if (err == 0)
		err = encode_answer(ops, &img, (uint32_t)q, a);
	else if (err != -ENOMEM)
		err = errorf(a, 502, "camera %s's preview cannot be decoded: %s", cam->name,
			     strerror(-err));
	free(img.data);
out:
	rkv_imgops_close(ops);
	rkvd_jpeg_put(j);
	return err;
}

/* ---- snapshots ------------------------------------------------------------------ */

static void iso_time(time_t t, long nsec, char *buf, size_t len)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", nsec / 1000000);
}

static int post_snapshot(struct rkvd_api *api, const struct rkvd_proc_info *cam,
			 struct rkvd_answer *a)
{
	struct json_object *st = NULL, *ans = NULL, *v;
	int err = control(a, cam->name, "{\"cmd\":\"status\"}", STATUS_TIMEOUT_NS, &st, NULL);
	if (err)
		return err < 0 ? err : 0;
	bool capturing = json_bool_at(st, "capturing", NULL, false);
	json_object_put(st);
	if (!capturing)
		return errorf(a, 409, "camera %s's capture is stopped: no frame to save", cam->name);
	err = control(a, cam->name, "{\"cmd\":\"snapshot\"}", SNAPSHOT_TIMEOUT_NS, &ans, NULL);
	if (err)
		return err < 0 ? err : 0;
	struct json_object *o = json_object_new_object();
	const char *path = json_object_object_get_ex(ans, "path", &v) ? json_object_get_string(v) : "";
	const char *slash = path ? strrchr(path, '/') : NULL;
	json_object_object_add(o, "camera", json_object_new_string(cam->name));
	json_object_object_add(o, "path", json_object_new_string(path ? path : ""));
	json_object_object_add(o, "name", json_object_new_string(slash ? slash + 1 : ""));
	copy_member(o, ans, "seq");
	copy_member(o, ans, "bytes");
	copy_member(o, ans, "width");
	copy_member(o, ans, "height");
	copy_member(o, ans, "format");
	json_object_put(ans);
	/* The event carries the answer's members but the camera, which
	 * rkvd_events_post() adds itself: the object's text without its
	 * braces and that first member. */
	struct json_object *ev = json_object_new_object();
	struct json_object_iterator it = json_object_iter_begin(o), end = json_object_iter_end(o);
	for (; ev && !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if (strcmp(json_object_iter_peek_name(&it), "camera") != 0)
			json_object_object_add(ev, json_object_iter_peek_name(&it),
					       json_object_get(json_object_iter_peek_value(&it)));
	const char *s = ev ? json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN) : NULL;
	if (s && strlen(s) > 2) {
		char fields[RKVD_EVENT_MAX];
		snprintf(fields, sizeof(fields), "%.*s", (int)(strlen(s) - 2), s + 1);
		rkvd_events_post(api->events, "snapshot_saved", cam->name, fields);
	}
	json_object_put(ev);
	return answer_json(a, 200, o);
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The camera's own file names: "CAM-" then [A-Za-z0-9._-]. */
static bool camera_file_name(const char *camera, const char *name)
{
	size_t cl = strlen(camera), n = strlen(name);
	if (n <= cl + 1 || n > NAME_MAX || strncmp(name, camera, cl) != 0 || name[cl] != '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' &&
		    name[i] != '-')
			return false;
	return strstr(name, "..") == NULL;
}

/* The save directory into *@dfd: 0; 1 when there is none yet (nothing
 * saved); 2 when @a holds an error answer; -ENOMEM. */
static int open_save_dir(const struct rkvd_proc_info *cam, struct rkvd_answer *a, int *dfd)
{
	*dfd = -1;
	if (!cam->save_dir[0])
		return 1;
	*dfd = open(cam->save_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd >= 0)
		return 0;
	if (errno == ENOENT)
		return 1;
	int err = errorf(a, 500, "camera %s's save directory: %s", cam->name, strerror(errno));
	return err ? err : 2;
}

static int get_snapshots(const struct rkvd_proc_info *cam, struct rkvd_answer *a)
{
	struct json_object *arr = json_object_new_array();
	char **names = NULL;
	size_t n = 0;
	int dfd;

	if (!arr)
		return -ENOMEM;
	int err = open_save_dir(cam, a, &dfd);
	if (err == 1)
		return answer_json(a, 200, arr);
	if (err) {
		json_object_put(arr);
		return err < 0 ? err : 0;
	}
	DIR *d = fdopendir(dfd);
	names = calloc(SNAPSHOTS_LIST_MAX, sizeof(*names));
	if (!d || !names) {
		if (d)
			closedir(d);
		else
			close(dfd);
		free(names);
		json_object_put(arr);
		return -ENOMEM;
	}
	for (struct dirent *e; (e = readdir(d)) && n < SNAPSHOTS_LIST_MAX;)
		if (camera_file_name(cam->name, e->d_name) && (names[n] = strdup(e->d_name)))
			n++;
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		if (fstatat(dirfd(d), names[i], &sb, AT_SYMLINK_NOFOLLOW) || !S_ISREG(sb.st_mode))
			continue;
		char when[40], url[RKVD_NAME_MAX + NAME_MAX + 32];
		iso_time(sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec, when, sizeof(when));
		snprintf(url, sizeof(url), "/api/%s/snapshots/%s", cam->name, names[i]);
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(names[i]));
		json_object_object_add(o, "size", json_object_new_int64(sb.st_size));
		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "url", json_object_new_string(url));
		json_object_array_add(arr, o);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return answer_json(a, 200, arr);
}

static const char *content_type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0))
		return "image/jpeg";
	if (dot && strcasecmp(dot, ".png") == 0)
		return "image/png";
	return "application/octet-stream";
}

static int get_snapshot_file(const struct rkvd_proc_info *cam, const char *name,
			     struct rkvd_answer *a)
{
	if (!camera_file_name(cam->name, name))
		return errorf(a, 404, "no such file of camera %s", cam->name);
	int dfd, err = open_save_dir(cam, a, &dfd);
	if (err == 1)
		return errorf(a, 404, "no such file of camera %s", cam->name);
	if (err)
		return err < 0 ? err : 0;
	/* O_NOFOLLOW: a symbolic link planted in the directory is not
	 * followed out of it; O_NONBLOCK: a FIFO there does not hang us. */
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	int oerr = errno;
	close(dfd);
	if (fd < 0)
		return errorf(a, oerr == ENOENT || oerr == ELOOP ? 404 : 500,
			      "file %s of camera %s: %s", name, cam->name,
			      oerr == ELOOP ? "a symbolic link, not served" : strerror(oerr));
	struct stat sb;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return errorf(a, 404, "file %s of camera %s is not a regular file", name, cam->name);
	}
	a->status = 200;
	a->kind = RKVD_ANSWER_FILE;
	a->content_type = content_type_of(name);
	a->fd = fd;
	a->size = (uint64_t)sb.st_size;
	return 0;
}

/* ---- camera controls ---------------------------------------------------------------- */

/* {"on": bool} or, with @actions, {"action": "start"|"stop"}. */
static int parse_on(const struct rkvd_request *req, struct rkvd_answer *a, bool actions, bool *on)
{
	int err;
	struct json_object *o = body_object(req, a, &err), *v;
	if (!o)
		return err ? err : 1;
	if (json_object_object_get_ex(o, "on", &v) && json_object_is_type(v, json_type_boolean)) {
		*on = json_object_get_boolean(v);
		json_object_put(o);
		return 0;
	}
	if (actions && json_object_object_get_ex(o, "action", &v) &&
	    json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		if (strcmp(s, "start") == 0 || strcmp(s, "stop") == 0) {
			*on = strcmp(s, "start") == 0;
			json_object_put(o);
			return 0;
		}
	}
	json_object_put(o);
	err = rkvd_api_error(a, 400, actions ? "expected {\"on\": true|false} or "
					       "{\"action\": \"start\"|\"stop\"}"
					     : "expected {\"on\": true|false}");
	return err ? err : 1;
}

/* Send @request and answer with the camera's new state. */
static int control_answer(const struct rkvd_proc_info *cam, const char *request,
			  struct rkvd_answer *a)
{
	struct json_object *ans = NULL;
	int err = control(a, cam->name, request, CONTROL_TIMEOUT_NS, &ans, NULL);
	if (err)
		return err < 0 ? err : 0;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "camera", json_object_new_string(cam->name));
	json_object_object_add(o, "capturing",
			       json_object_new_boolean(json_bool_at(ans, "capturing", NULL, false)));
	json_object_object_add(o, "preview",
			       json_object_new_boolean(json_bool_at(ans, "preview", "on", false)));
	copy_member(o, ans, "fps");
	json_object_put(ans);
	return answer_json(a, 200, o);
}

static int post_switch(const struct rkvd_request *req, const struct rkvd_proc_info *cam,
		       struct rkvd_answer *a, const char *cmd)
{
	bool on;
	int err = parse_on(req, a, strcmp(cmd, "capture") == 0, &on);
	if (err)
		return err < 0 ? err : 0;
	char request[64];
	snprintf(request, sizeof(request), "{\"cmd\":\"%s\",\"on\":%s}", cmd, on ? "true" : "false");
	return control_answer(cam, request, a);
}

static int put_fps(const struct rkvd_request *req, const struct rkvd_proc_info *cam,
		   struct rkvd_answer *a)
{
	int err;
	struct json_object *o = body_object(req, a, &err), *v;
	if (!o)
		return err;
	int64_t fps = -1;
	if (json_object_object_get_ex(o, "fps", &v) && json_object_is_type(v, json_type_int))
		fps = json_object_get_int64(v);
	json_object_put(o);
	if (fps < 0 || fps > 1000)
		return rkvd_api_error(a, 400, "expected {\"fps\": 0..1000} (0: every frame)");
	char request[64];
	snprintf(request, sizeof(request), "{\"cmd\":\"fps\",\"fps\":%d}", (int)fps);
	return control_answer(cam, request, a);
}

static int post_restart(struct rkvd_api *api, const struct rkvd_proc_info *cam,
			struct rkvd_answer *a)
{
	int err = api->board->ops->restart(api->board->ctx, cam->name);
	if (err == -ENOENT)
		return errorf(a, 404, "no camera %s", cam->name);
	if (err)
		return errorf(a, 500, "restarting camera %s: %s", cam->name, strerror(-err));
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "camera", json_object_new_string(cam->name));
	json_object_object_add(o, "restarting", json_object_new_boolean(1));
	return answer_json(a, 202, o);
}

/* ---- routing ------------------------------------------------------------------- */

enum route {
	R_NONE, R_PAGE, R_VERSION, R_CAMERAS, R_STATS, R_EVENTS, R_LATEST, R_STREAM, R_SNAPSHOT,
	R_SNAPSHOTS, R_SNAPSHOT_FILE, R_PREVIEW, R_CAPTURE, R_FPS, R_RESTART,
	R_BAD_CAMERA,             /* a camera route, with a name that cannot be one */
};

static const struct {
	const char *name;
	enum route route;
	const char *method;       /* "GET" takes HEAD too */
} camera_routes[] = {
	{ "latest.jpg", R_LATEST, "GET" },
	{ "stream.mjpeg", R_STREAM, "GET" },
	{ "snapshot", R_SNAPSHOT, "POST" },
	{ "snapshots", R_SNAPSHOTS, "GET" },
	{ "preview", R_PREVIEW, "POST" },
	{ "capture", R_CAPTURE, "POST" },
	{ "fps", R_FPS, "PUT" },
	{ "restart", R_RESTART, "POST" },
};

/*
 * "CAMERA/what[/FILE]" (after "/api/"): the route, the camera's name into
 * @camera, the method it takes into *@want and FILE into *@file.
 */
static enum route camera_route(const char *p, char camera[RKVD_NAME_MAX], const char **want,
			       const char **file)
{
	enum route route = R_NONE;
	const char *s1 = strchr(p, '/');
	if (!s1)
		return R_NONE;
	size_t cl = (size_t)(s1 - p);
	const char *what = s1 + 1, *s2 = strchr(what, '/');
	size_t wl = s2 ? (size_t)(s2 - what) : strlen(what);
	for (size_t i = 0; i < sizeof(camera_routes) / sizeof(camera_routes[0]); i++)
		if (strlen(camera_routes[i].name) == wl &&
		    strncmp(camera_routes[i].name, what, wl) == 0) {
			route = camera_routes[i].route;
			*want = camera_routes[i].method;
		}
	if (s2) {
		if (route != R_SNAPSHOTS)
			return R_NONE;
		route = R_SNAPSHOT_FILE;
		*want = "GET";
		*file = s2 + 1;
	}
	if (route == R_NONE)
		return R_NONE;
	if (!valid_name(p, cl))
		return R_BAD_CAMERA;
	memcpy(camera, p, cl);
	camera[cl] = '\0';
	return route;
}

static bool method_ok(const char *have, const char *want)
{
	return strcmp(have, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(have, "HEAD") == 0);
}

/* An error answer made (1), or -ENOMEM. */
static int answered(int err)
{
	return err ? err : 1;
}

static int auth(struct rkvd_api *api, const struct rkvd_request *req, struct rkvd_answer *a)
{
	const char *h = req_header(req, "Authorization"), *t = NULL;
	if (!req->need_token)
		return 0;
	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		t = h + 7;
		while (*t == ' ')
			t++;
	} else {
		t = req_arg(req, "token");
	}
	a->www_auth = true;
	if (!t || !*t)
		return answered(rkvd_api_error(a, 401, "a token is needed: Authorization: "
						       "Bearer TOKEN, or ?token=TOKEN"));
	if (!api->token || !rkvd_api_token_equal(t, strlen(t), api->token, strlen(api->token)))
		return answered(rkvd_api_error(a, 401, "the token is not the one configured"));
	a->www_auth = false;
	return 0;
}

int rkvd_api_handle(struct rkvd_api *api, const struct rkvd_request *req, struct rkvd_answer *a)
{
	enum route route = R_NONE;
	const char *want = "GET", *file = NULL;
	char camera[RKVD_NAME_MAX] = "";
	int err;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (!api || !req || !req->method || !req->path)
		return rkvd_api_error(a, 400, "malformed request");
	err = auth(api, req, a);
	if (err)
		goto done;
	if (req->body_too_large) {
		err = errorf(a, 413, "the body exceeds %d bytes", RKVD_API_BODY_MAX);
		goto done;
	}
	const char *p = req->path;
	if (strcmp(p, "/") == 0 || strcmp(p, "/index.html") == 0) {
		route = R_PAGE;
	} else if (strncmp(p, "/api/", 5) != 0) {
		route = R_NONE;
	} else if (strcmp(p += 5, "version") == 0) {
		route = R_VERSION;
	} else if (strcmp(p, "cameras") == 0) {
		route = R_CAMERAS;
	} else if (strcmp(p, "stats") == 0) {
		route = R_STATS;
	} else if (strcmp(p, "events") == 0) {
		route = R_EVENTS;
	} else {
		route = camera_route(p, camera, &want, &file);
		if (route == R_BAD_CAMERA) {
			err = errorf(a, 404, "no such camera (names are 1..%d of A-Z a-z 0-9 _ -)",
				     RKVD_NAME_MAX - 1);
			goto done;
		}
	}
	if (route == R_NONE) {
		err = errorf(a, 404, "no such resource");
		goto done;
	}
	if (!method_ok(req->method, want)) {
		a->allow = strcmp(want, "GET") == 0 ? "GET, HEAD" : want;
		err = errorf(a, 405, "%.200s takes %s, not %.16s", req->path, a->allow, req->method);
		goto done;
	}
	struct rkvd_proc_info cam;
	if (camera[0] && !find_camera(api, camera, &cam)) {
		err = errorf(a, 404, "no camera named %s", camera);
		goto done;
	}
	/* What needs the camera's process to be running. */
	if (camera[0] && cam.state != RKVD_PROC_RUNNING &&
	    (route == R_SNAPSHOT || route == R_PREVIEW || route == R_CAPTURE || route == R_FPS)) {
		a->offline = true;
		err = errorf(a, 503, "camera %s is offline (%s)", camera, state_name(cam.state));
		goto done;
	}
	switch (route) {
	case R_PAGE: err = get_page(a); break;
	case R_VERSION: err = get_version(a); break;
	case R_CAMERAS: err = get_cameras(api, a, false); break;
	case R_STATS: err = get_cameras(api, a, true); break;
	case R_EVENTS: err = get_events(api, req, a); break;
	case R_LATEST: err = latest_jpg(api, req, &cam, a); break;
	case R_STREAM:
		a->status = 200;
		a->kind = RKVD_ANSWER_MJPEG;
		a->content_type = "multipart/x-mixed-replace; boundary=rkvframe";
		snprintf(a->camera, sizeof(a->camera), "%s", camera);
		err = 0;
		break;
	case R_SNAPSHOT: err = post_snapshot(api, &cam, a); break;
	case R_SNAPSHOTS: err = get_snapshots(&cam, a); break;
	case R_SNAPSHOT_FILE: err = get_snapshot_file(&cam, file, a); break;
	case R_PREVIEW: err = post_switch(req, &cam, a, "preview"); break;
	case R_CAPTURE: err = post_switch(req, &cam, a, "capture"); break;
	case R_FPS: err = put_fps(req, &cam, a); break;
	case R_RESTART: err = post_restart(api, &cam, a); break;
	case R_NONE:
	case R_BAD_CAMERA: break;
	}
done:
	if (err < 0) {
		rkvd_answer_clear(a);
		return err;
	}
	if (!a->status)
		return rkvd_api_error(a, 500, "no answer was made");
	return 0;
}

/* ---- life --------------------------------------------------------------------- */

int rkvd_api_new(const struct rkvd_board *board, struct rkvd_events *events,
		 struct rkvd_hub *hub, const char *token, struct rkvd_api **out)
{
	if (!board || !board->ops || !board->ops->cameras || !board->ops->camera_config_json ||
	    !board->ops->restart || !events || !hub || !out)
		return -EINVAL;
	struct rkvd_api *api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	if (token && !(api->token = strdup(token))) {
		free(api);
		return -ENOMEM;
	}
	api->board = board;
	api->events = events;
	api->hub = hub;
	pthread_mutex_init(&api->lock, NULL);
	*out = api;
	return 0;
}

void rkvd_api_free(struct rkvd_api *api)
{
	if (!api)
		return;
	if (api->token)
		explicit_bzero(api->token, strlen(api->token));
	free(api->token);
	pthread_mutex_destroy(&api->lock);
	free(api);
}
