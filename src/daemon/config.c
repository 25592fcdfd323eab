/* SPDX-License-Identifier: MIT */
/*
 * The board's configuration (rkv/daemon.h): YAML read with libyaml's
 * document API, checked against a table of fields per section.
 *
 * The file is input from outside: it is read whole up to a size limit
 * (RKVD_CONFIG_BYTES_MAX), libyaml bounds its own nesting, and the walk
 * below only descends into the sections it knows, so the work done is
 * bounded by the file's size. Every error names the file, the line, the
 * field's path and what was expected, and the config being built is
 * thrown away whole: the caller gets a complete config or none.
 */
#include <rkv/daemon.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <yaml.h>

#include <rkv/pool.h>

/* ---- the parse context and its errors --------------------------------------- */

struct ctx {
	const char *file;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static __attribute__((format(printf, 4, 5))) int fail(struct ctx *x, const yaml_node_t *n,
						       const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->err && x->errlen) {
		if (n && path)
			snprintf(x->err, x->errlen, "%s:%zu: %s: %s", x->file,
				 (size_t)n->start_mark.line + 1, path, msg);
		else if (n)
			snprintf(x->err, x->errlen, "%s:%zu: %s", x->file,
				 (size_t)n->start_mark.line + 1, msg);
		else
			snprintf(x->err, x->errlen, "%s: %s", x->file, msg);
	}
	return -EINVAL;
}

/* What a node holds, for "got ..." in messages: a scalar quoted (cut short,
 * unprintable bytes escaped), else the kind of node. */
static const char *shown(const yaml_node_t *n, char *buf, size_t len)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (n->type != YAML_SCALAR_NODE)
		return "nothing";
	size_t o = 0;
	const unsigned char *v = n->data.scalar.value;
	size_t vl = n->data.scalar.length;
	buf[o++] = '"';
	for (size_t i = 0; i < vl && o + 8 < len; i++) {
		if (i == 40) {
			o += (size_t)snprintf(buf + o, len - o, "...");
			break;
		}
		if (v[i] == '"' || v[i] == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\%c", v[i]);
		else if (v[i] < 0x20 || v[i] >= 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", v[i]);
		else
			buf[o++] = (char)v[i];
	}
	snprintf(buf + o, len - o, "\"");
	return buf;
}

static yaml_node_t *node(struct ctx *x, int index)
{
	return yaml_document_get_node(x->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A plain (unquoted) empty scalar, ~ or null: "not given", the default. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* ---- value checks ------------------------------------------------------------ */

static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool fourcc_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 4)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* host:port, host an IPv4 address, [IPv6] or a name. */
static bool listen_ok(const char *s, bool *loopback)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || strlen(colon + 1) == 0 || strlen(colon + 1) > 5)
		return false;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || !isdigit((unsigned char)colon[1]))
		return false;
	size_t hl = (size_t)(colon - s);
	char host[256];
	if (hl >= sizeof(host))
		return false;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (host[0] == '[') {
		if (hl < 3 || host[hl - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < hl; i++)
			if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
				return false;
		*loopback = !strcmp(host, "[::1]");
		return true;
	}
	for (size_t i = 0; i < hl; i++)
		if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-')
			return false;
	*loopback = !strcmp(host, "localhost") || !strncmp(host, "127.", 4);
	return true;
}

/* ---- the field tables --------------------------------------------------------- */

enum ftype { F_STR, F_U32, F_BOOL, F_DBL, F_MAP, F_OWN /* the caller's to read */ };

/* String fields: what "" means and what the value must look like. */
enum fstr {
	S_ANY,          /* printable text */
	S_NULLABLE,     /* printable text; "" stores NULL */
	S_FOURCC,       /* "" stores NULL */
	S_ELEMENT,      /* a GStreamer element name; "" stores NULL */
	S_LABEL,        /* a group label; "" stores NULL */
	S_TOKEN,        /* no spaces; "" stores NULL */
};

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	uint32_t min, max;            /* numbers; strings: max length */
	enum fstr str;
	const char *const *choices;   /* strings: the only values allowed */
	const char *expect;           /* what the message says was expected */
	const struct field *sub;      /* F_MAP */
};

static const char *const backends[] = { "auto", "cpu", "rga", "mpp", NULL };
static const char *const flips[] = { "", "h", "v", "hv", NULL };
static const char *const save_formats[] = { "jpeg", "png", NULL };
static const char *const policies[] = { "block", "drop", "latest", "group", NULL };

#define P(f) offsetof(struct rkvd_preview_config, f)
static const struct field preview_fields[] = {
	{ "enabled", F_BOOL, P(enabled), 0, 0, 0, NULL, NULL, NULL },
	{ "width", F_U32, P(width), 0, 8192, 0, NULL, NULL, NULL },
	{ "height", F_U32, P(height), 0, 8192, 0, NULL, NULL, NULL },
	{ "fps", F_U32, P(fps), 1, 1000, 0, NULL, NULL, NULL },
	{ "quality", F_U32, P(quality), 1, 100, 0, NULL, NULL, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};
#undef P

#define S(f) offsetof(struct rkvd_save_config, f)
static const struct field save_fields[] = {
	{ "dir", F_STR, S(dir), 0, 200, S_NULLABLE, NULL, "a directory path of at most 200 bytes", NULL },
	{ "format", F_STR, S(format), 0, 8, S_ANY, save_formats, "jpeg or png", NULL },
	{ "quality", F_U32, S(quality), 0, 100, 0, NULL, NULL, NULL },
	{ "every", F_DBL, S(every), 0, 86400, 0, NULL, NULL, NULL },
	{ "max_mb", F_U32, S(max_mb), 0, 1048576, 0, NULL, NULL, NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};
#undef S

#define C(f) offsetof(struct rkvd_camera_config, f)
static const struct field camera_fields[] = {
	{ "source", F_STR, C(source), 1, 1024, S_ANY, NULL,
	  "a source (testpattern, v4l2:/dev/videoN, a file, rtsp://...)", NULL },
	{ "width", F_U32, C(width), 0, 16384, 0, NULL, NULL, NULL },
	{ "height", F_U32, C(height), 0, 16384, 0, NULL, NULL, NULL },
	{ "format", F_STR, C(format), 0, 4, S_FOURCC, NULL,
	  "a fourcc of 1..4 capital letters and digits (NV12, YUYV, ...)", NULL },
	{ "fps", F_U32, C(fps), 1, 1000, 0, NULL, NULL, NULL },
	{ "slots", F_U32, C(slots), 2, 64, 0, NULL, NULL, NULL },
	{ "backend", F_STR, C(backend), 0, 8, S_ANY, backends, "auto, cpu, rga or mpp", NULL },
	{ "decoder", F_STR, C(decoder), 0, 64, S_ELEMENT, NULL,
	  "a GStreamer element name ([A-Za-z0-9_-], at most 64 bytes)", NULL },
	{ "loop", F_BOOL, C(loop), 0, 0, 0, NULL, NULL, NULL },
	{ "rotate", F_U32, C(rotate), 0, 270, 0, NULL, NULL, NULL },
	{ "flip", F_STR, C(flip), 0, 2, S_NULLABLE, flips, "\"\", h, v or hv", NULL },
	{ "preview", F_MAP, C(preview), 0, 0, 0, NULL, NULL, preview_fields },
	{ "save", F_MAP, C(save), 0, 0, 0, NULL, NULL, save_fields },
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};
#undef C

#define A(f) offsetof(struct rkvd_algorithm_config, f)
static const struct field algorithm_fields[] = {
	/* a char array that must name a camera: parse_algorithm() reads it */
	{ "camera", F_OWN, 0, 0, 0, 0, NULL, NULL, NULL },
	{ "policy", F_STR, A(policy), 0, 8, S_ANY, policies, "block, drop, latest or group", NULL },
	{ "group", F_STR, A(group), 0, RKV_LABEL_MAX - 1, S_LABEL, NULL,
	  "a group name of [A-Za-z0-9_-], at most 31 bytes", NULL },
	{ "command", F_STR, A(command), 1, 4096, S_ANY, NULL, "a shell command", NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};
#undef A

#define I(f) offsetof(struct rkvd_api_config, f)
static const struct field api_fields[] = {
	{ "listen", F_STR, I(listen), 0, 300, S_ANY, NULL,
	  "host:port (127.0.0.1:8080, [::1]:8080, 0.0.0.0:80) or \"\"", NULL },
	{ "unix_socket", F_STR, I(unix_socket), 0, 107, S_ANY, NULL,
	  "a socket path of at most 107 bytes or \"\"", NULL },
	{ "token", F_STR, I(token), 0, 256, S_TOKEN, NULL,
	  "a token of at most 256 printable bytes without spaces", NULL },
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};
#undef I

/* ---- scalars into fields -------------------------------------------------------- */

static int set_str(struct ctx *x, const struct field *f, const yaml_node_t *v, const char *path,
		   char **dst)
{
	char got[160];
	const char *s = scalar(v);
	size_t n = v->data.scalar.length;
	bool bad = strlen(s) != n || n > f->max || n < f->min || !printable(s);

	if (!bad && f->choices) {
		bad = true;
		for (const char *const *c = f->choices; *c; c++)
			if (!strcmp(*c, s))
				bad = false;
	}
	if (!bad && n) {
		switch (f->str) {
		case S_FOURCC:
			bad = !fourcc_ok(s);
			break;
		case S_ELEMENT:
		case S_LABEL:
			bad = !name_ok(s, f->max);
			break;
		case S_TOKEN:
			for (const char *p = s; *p; p++)
				if (*p == ' ')
					bad = true;
			break;
		default:
			break;
		}
	}
	if (bad) {
		if (f->expect)
			return fail(x, v, path, "expected %s, got %s", f->expect, shown(v, got, sizeof(got)));
		return fail(x, v, path, "expected text of %u..%u printable bytes, got %s", f->min,
			    f->max, shown(v, got, sizeof(got)));
	}
	free(*dst);
	*dst = NULL;
	if (n == 0 && f->str != S_ANY)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static int set_u32(struct ctx *x, const struct field *f, const yaml_node_t *v, const char *path,
		   uint32_t *dst)
{
	char got[160];
	const char *s = scalar(v);
	size_t n = v->data.scalar.length;
	bool ok = n > 0 && n <= 10 && strlen(s) == n && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	unsigned long long val = 0;

	for (size_t i = 0; ok && i < n; i++) {
		ok = isdigit((unsigned char)s[i]);
		val = val * 10 + (unsigned)(s[i] - '0');
	}
	if (!ok || val < f->min || val > f->max)
		return fail(x, v, path, "expected a whole number %u..%u, got %s", f->min, f->max,
			    shown(v, got, sizeof(got)));
	*dst = (uint32_t)val;
	return 0;
}

static int set_bool(struct ctx *x, const yaml_node_t *v, const char *path, bool *dst)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL };
	char got[160];

	if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		for (int i = 0; yes[i]; i++)
			if (!strcmp(scalar(v), yes[i])) {
				*dst = true;
				return 0;
			}
		for (int i = 0; no[i]; i++)
			if (!strcmp(scalar(v), no[i])) {
				*dst = false;
				return 0;
			}
	}
	return fail(x, v, path, "expected true or false, got %s", shown(v, got, sizeof(got)));
}

static int set_double(struct ctx *x, const struct field *f, const yaml_node_t *v,
		      const char *path, double *dst)
{
	char got[160];
	const char *s = scalar(v);
	char *end = NULL;
	double d = 0;
	bool ok = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strlen(s) == v->data.scalar.length &&
		  (isdigit((unsigned char)s[0]) || s[0] == '.');

	if (ok) {
		d = strtod(s, &end);
		ok = end != s && !*end && isfinite(d) && d >= f->min && d <= f->max;
	}
	if (!ok)
		return fail(x, v, path, "expected a number of seconds %u..%u, got %s", f->min, f->max,
			    shown(v, got, sizeof(got)));
	*dst = d;
	return 0;
}

static int join(struct ctx *x, const yaml_node_t *at, char *out, size_t len, const char *a,
		const char *b)
{
	if ((size_t)snprintf(out, len, "%s%s%s", a, *a && *b ? "." : "", b) >= len)
		return fail(x, at, a, "a key too long");
	return 0;
}

/* A mapping's keys must be scalars (in messages: their text). */
static int key_of(struct ctx *x, const yaml_node_pair_t *p, const char *path, const yaml_node_t **k,
		  const yaml_node_t **v)
{
	char got[160];
	*k = node(x, p->key);
	*v = node(x, p->value);
	if (!*k || !*v)
		return fail(x, NULL, NULL, "a broken YAML document");
	if ((*k)->type != YAML_SCALAR_NODE || strlen(scalar(*k)) != (*k)->data.scalar.length)
		return fail(x, *k, *path ? path : "(top level)", "expected a name as the key, got %s",
			    shown(*k, got, sizeof(got)));
	return 0;
}

/*
 * Fill @obj from mapping @m by @fields: unknown keys, repeated keys and
 * values of the wrong kind are errors. A null value keeps the default.
 */
static int set_fields(struct ctx *x, const yaml_node_t *m, const char *path,
		      const struct field *fields, void *obj, uint32_t *seen_out)
{
	char got[160], sub[256];
	uint32_t seen = 0;
	int r;

	if (is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return fail(x, m, path, "expected a mapping of fields, got %s", shown(m, got, sizeof(got)));
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const yaml_node_t *k, *v;
		if ((r = key_of(x, p, path, &k, &v)))
			return r;
		const struct field *f;
		int i = 0;
		for (f = fields; f->key && strcmp(f->key, scalar(k)); f++)
			i++;
		if ((r = join(x, k, sub, sizeof(sub), path, scalar(k))))
			return r;
		if (!f->key) {
			char known[256] = "";
			for (const struct field *g = fields; g->key; g++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
					 g == fields ? "" : ", ", g->key);
			return fail(x, k, sub, "unknown field (expected one of: %s)", known);
		}
		if (seen & (1u << i))
			return fail(x, k, sub, "given twice");
		seen |= 1u << i;
		if (f->type == F_OWN)
			continue;
		if (f->type == F_MAP) {
			if ((r = set_fields(x, v, sub, f->sub, (char *)obj + f->off, NULL)))
				return r;
			continue;
		}
		if (is_null(v))
			continue;
		if (v->type != YAML_SCALAR_NODE) {
			const char *what = f->type == F_U32 ? "a whole number" :
					   f->type == F_BOOL ? "true or false" :
					   f->type == F_DBL ? "a number" : "text";
			return fail(x, v, sub, "expected %s, got %s", what, shown(v, got, sizeof(got)));
		}
		void *dst = (char *)obj + f->off;
		switch (f->type) {
		case F_STR:
			r = set_str(x, f, v, sub, dst);
			break;
		case F_U32:
			r = set_u32(x, f, v, sub, dst);
			break;
		case F_BOOL:
			r = set_bool(x, v, sub, dst);
			break;
		case F_DBL:
			r = set_double(x, f, v, sub, dst);
			break;
		default:
			r = -EINVAL;
		}
		if (r)
			return r;
	}
	if (seen_out)
		*seen_out = seen;
	return 0;
}

static const yaml_node_t *find_key(struct ctx *x, const yaml_node_t *m, const char *key,
				   const yaml_node_t **keynode)
{
	if (m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node(x, p->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), key)) {
			if (keynode)
				*keynode = k;
			return node(x, p->value);
		}
	}
	return NULL;
}

/* ---- defaults ------------------------------------------------------------------- */

static int camera_defaults(struct rkvd_camera_config *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->fps = 30;
	c->slots = 8;
	c->preview = (struct rkvd_preview_config){ .enabled = true, .width = 640, .height = 0,
						   .fps = 10, .quality = 75 };
	c->source = strdup("testpattern");
	c->backend = strdup("auto");
	c->save.format = strdup("jpeg");
	return c->source && c->backend && c->save.format ? 0 : -ENOMEM;
}

static void camera_free(struct rkvd_camera_config *c)
{
	free(c->source);
	free(c->format);
	free(c->backend);
	free(c->decoder);
	free(c->flip);
	free(c->save.dir);
	free(c->save.format);
}

static void algorithm_free(struct rkvd_algorithm_config *a)
{
	free(a->policy);
	free(a->group);
	free(a->command);
}

const char *rkvd_default_socket(char *buf, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (rt && rt[0] == '/' && strlen(rt) + sizeof("/rkvd.sock") <= len)
		snprintf(buf, len, "%s/rkvd.sock", rt);
	else
		snprintf(buf, len, "/tmp/rkvd-%u.sock", (unsigned)getuid());
	return buf;
}

static struct rkvd_config *config_new(void)
{
	char sock[128];
	struct rkvd_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->api.listen = strdup("127.0.0.1:8080");
	cfg->api.unix_socket = strdup(rkvd_default_socket(sock, sizeof(sock)));
	if (!cfg->api.listen || !cfg->api.unix_socket) {
		rkvd_config_free(cfg);
		return NULL;
	}
	return cfg;
}

void rkvd_config_free(struct rkvd_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->api.listen);
	free(cfg->api.unix_socket);
	free(cfg->api.token);
	for (uint32_t i = 0; i < cfg->n_cameras; i++)
		camera_free(&cfg->cameras[i]);
	for (uint32_t i = 0; i < cfg->n_algorithms; i++)
		algorithm_free(&cfg->algorithms[i]);
	free(cfg);
}

/* The bit of field @key in set_fields()'s @seen_out. */
static uint32_t seen_bit(const struct field *fields, const char *key)
{
	for (uint32_t i = 0; fields[i].key; i++)
		if (!strcmp(fields[i].key, key))
			return 1u << i;
	return 0;
}

/* The test pattern's own size and format when none is given (@seen: the
 * camera's fields given in the file). 0, or -ENOMEM. */
static int testpattern_defaults(struct rkvd_camera_config *c, uint32_t seen)
{
	if (strcmp(c->source, "testpattern"))
		return 0;
	if (!(seen & (seen_bit(camera_fields, "width") | seen_bit(camera_fields, "height")))) {
		c->width = 640;
		c->height = 480;
	}
	if (!c->format && !(seen & seen_bit(camera_fields, "format")) && !(c->format = strdup("NV12")))
		return -ENOMEM;
	return 0;
}

/* The one camera of a config that names none: cam0 on the test pattern. */
static int default_camera(struct rkvd_config *cfg)
{
	int r;

	cfg->n_cameras = 1;
	if ((r = camera_defaults(&cfg->cameras[0], "cam0")))
		return r;
	return testpattern_defaults(&cfg->cameras[0], 0);
}

int rkvd_config_default(struct rkvd_config **out)
{
	if (!out)
		return -EINVAL;
	struct rkvd_config *cfg = config_new();
	if (!cfg || default_camera(cfg)) {
		rkvd_config_free(cfg);
		return -ENOMEM;
	}
	*out = cfg;
	return 0;
}

/* ---- sections ---------------------------------------------------------------------- */

static int parse_camera(struct ctx *x, struct rkvd_config *cfg, const yaml_node_t *k,
			const yaml_node_t *v, const char *path)
{
	char got[160];
	struct rkvd_camera_config *c = &cfg->cameras[cfg->n_cameras];
	uint32_t seen = 0;
	int r;

	if (!name_ok(scalar(k), RKVD_CAMERA_NAME_LEN))
		return fail(x, k, path, "a camera's name is 1..%d of A-Z a-z 0-9 _ -, got %s",
			    RKVD_CAMERA_NAME_LEN, shown(k, got, sizeof(got)));
	for (uint32_t i = 0; i < cfg->n_cameras; i++)
		if (!strcmp(cfg->cameras[i].name, scalar(k)))
			return fail(x, k, path, "a second camera of that name");
	if (cfg->n_cameras == RKVD_CAMERAS_MAX)
		return fail(x, k, path, "more than %d cameras", RKVD_CAMERAS_MAX);
	cfg->n_cameras++; /* counted now, so that a failure frees what it holds */
	if ((r = camera_defaults(c, scalar(k))))
		return r;
	if ((r = set_fields(x, v, path, camera_fields, c, &seen)))
		return r;
	if ((r = testpattern_defaults(c, seen)))
		return r;
	if (!c->width != !c->height)
		return fail(x, v, path, "width and height go together (both, or neither for the "
			    "source's size), got %ux%u", c->width, c->height);
	if (c->rotate % 90)
		return fail(x, v, path, "rotate: expected 0, 90, 180 or 270, got %u", c->rotate);
	if (c->preview.enabled && !c->preview.width && !c->preview.height)
		return fail(x, v, path, "preview: width and height are both 0 (one may be 0, "
			    "to keep the aspect ratio)");
	bool png = !strcmp(c->save.format, "png");
	if (c->save.quality > (png ? 9u : 100u))
		return fail(x, v, path, "save.quality: expected %s, got %u",
			    png ? "a PNG zlib level 0..9" : "a JPEG quality 0..100", c->save.quality);
	return 0;
}

static int parse_algorithm(struct ctx *x, struct rkvd_config *cfg, const yaml_node_t *k,
			   const yaml_node_t *v, const char *path)
{
	char got[160], sub[256];
	struct rkvd_algorithm_config *a = &cfg->algorithms[cfg->n_algorithms];
	int r;

	if (!name_ok(scalar(k), RKVD_NAME_MAX - 1))
		return fail(x, k, path, "an algorithm's name is 1..%d of A-Z a-z 0-9 _ -, got %s",
			    RKVD_NAME_MAX - 1, shown(k, got, sizeof(got)));
	for (uint32_t i = 0; i < cfg->n_algorithms; i++)
		if (!strcmp(cfg->algorithms[i].name, scalar(k)))
			return fail(x, k, path, "a second algorithm of that name");
	if (cfg->n_algorithms == RKVD_ALGORITHMS_MAX)
		return fail(x, k, path, "more than %d algorithms", RKVD_ALGORITHMS_MAX);
	cfg->n_algorithms++;
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", scalar(k));

	if ((r = set_fields(x, v, path, algorithm_fields, a, NULL)))
		return r;
	/* camera: into the fixed array, and it must be one of the board's */
	const yaml_node_t *cv = find_key(x, v, "camera", NULL);
	if ((r = join(x, v, sub, sizeof(sub), path, "camera")))
		return r;
	if (!cv || is_null(cv))
		return fail(x, v, sub, "missing: the camera whose pool it reads");
	if (cv->type != YAML_SCALAR_NODE || !name_ok(scalar(cv), RKVD_CAMERA_NAME_LEN))
		return fail(x, cv, sub, "expected a camera's name, got %s", shown(cv, got, sizeof(got)));
	if (!rkvd_config_camera(cfg, scalar(cv))) {
		char known[RKVD_CAMERAS_MAX * RKVD_NAME_MAX] = "";
		for (uint32_t i = 0; i < cfg->n_cameras; i++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
				 i ? ", " : "", cfg->cameras[i].name);
		return fail(x, cv, sub, "expected one of the cameras (%s), got %s", known,
			    shown(cv, got, sizeof(got)));
	}
	snprintf(a->camera, sizeof(a->camera), "%s", scalar(cv));
	if (!a->command) {
		join(x, v, sub, sizeof(sub), path, "command");
		return fail(x, v, sub, "missing: the shell command to run");
	}
	if (!a->policy && !(a->policy = strdup("latest")))
		return -ENOMEM;
	if (!strcmp(a->policy, "group")) {
		if (!a->group) {
			if (strlen(a->name) >= RKV_LABEL_MAX)
				return fail(x, v, path, "policy group: give a group (the name is "
					    "longer than a group's %d bytes)", RKV_LABEL_MAX - 1);
			if (!(a->group = strdup(a->name)))
				return -ENOMEM;
		}
	} else if (a->group) {
		return fail(x, v, path, "group: only with policy group (policy is %s)", a->policy);
	}
	return 0;
}

/* A section of named entries (cameras, algorithms). */
static int parse_named(struct ctx *x, struct rkvd_config *cfg, const yaml_node_t *m,
		       const char *section,
		       int (*one)(struct ctx *, struct rkvd_config *, const yaml_node_t *,
				  const yaml_node_t *, const char *))
{
	char got[160], sub[256];
	int r;

	if (m->type != YAML_MAPPING_NODE)
		return fail(x, m, section, "expected a mapping of names to settings, got %s",
			    shown(m, got, sizeof(got)));
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const yaml_node_t *k, *v;
		if ((r = key_of(x, p, section, &k, &v)))
			return r;
		if ((r = join(x, k, sub, sizeof(sub), section, scalar(k))))
			return r;
		if ((r = one(x, cfg, k, v, sub)))
			return r;
	}
	return 0;
}

static int parse_api(struct ctx *x, struct rkvd_config *cfg, const yaml_node_t *m)
{
	const yaml_node_t *lk = NULL, *lv;
	bool loopback = true;
	int r;

	if ((r = set_fields(x, m, "api", api_fields, &cfg->api, NULL)))
		return r;
	lv = find_key(x, m, "listen", &lk);
	if (cfg->api.listen[0] && !listen_ok(cfg->api.listen, &loopback)) {
		char got[160];
		return fail(x, lv ? lv : m, "api.listen", "expected %s, got %s", api_fields[0].expect,
			    lv ? shown(lv, got, sizeof(got)) : "?");
	}
	if (!loopback && !cfg->api.token)
		return fail(x, lv ? lv : m, "api.listen",
			    "%s is not a loopback address: api.token is required with it",
			    cfg->api.listen);
	if (cfg->api.unix_socket[0] && cfg->api.unix_socket[0] != '/')
		return fail(x, find_key(x, m, "unix_socket", NULL), "api.unix_socket",
			    "expected an absolute path or \"\", got \"%s\"", cfg->api.unix_socket);
	return 0;
}

static int parse_root(struct ctx *x, struct rkvd_config *cfg, const yaml_node_t *root)
{
	static const char *const sections[] = { "api", "cameras", "algorithms", NULL };
	char got[160];
	const yaml_node_t *cams = NULL, *algs = NULL, *api = NULL;
	int r;

	if (root && !is_null(root)) {
		if (root->type != YAML_MAPPING_NODE)
			return fail(x, root, "(top level)", "expected a mapping of api, cameras and "
				    "algorithms, got %s", shown(root, got, sizeof(got)));
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top; p++) {
			const yaml_node_t *k, *v;
			if ((r = key_of(x, p, "", &k, &v)))
				return r;
			int i;
			for (i = 0; sections[i] && strcmp(sections[i], scalar(k)); i++)
				;
			if (!sections[i])
				return fail(x, k, scalar(k), "unknown section (expected api, cameras "
					    "or algorithms)");
			const yaml_node_t **slot = i == 0 ? &api : i == 1 ? &cams : &algs;
			if (*slot)
				return fail(x, k, scalar(k), "given twice");
			*slot = v;
		}
	}
	if (api && (r = parse_api(x, cfg, api)))
		return r;
	if (cams && !is_null(cams)) {
		if ((r = parse_named(x, cfg, cams, "cameras", parse_camera)))
			return r;
		if (cfg->n_cameras == 0)
			return fail(x, cams, "cameras", "no camera (leave the section out for the "
				    "default test-pattern camera cam0)");
	} else if ((r = default_camera(cfg))) {
		return r;
	}
	if (algs && !is_null(algs) && (r = parse_named(x, cfg, algs, "algorithms", parse_algorithm)))
		return r;
	return 0;
}

int rkvd_config_parse(const char *name, const char *text, size_t len, struct rkvd_config **out,
		      char *err, size_t errlen)
{
	struct ctx x = { .file = name ? name : "(config)", .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct rkvd_config *cfg;
	int r;

	if (err && errlen)
		err[0] = 0;
	if (!out || (!text && len))
		return -EINVAL;
	if (len > RKVD_CONFIG_BYTES_MAX) {
		fail(&x, NULL, NULL, "larger than %d bytes", RKVD_CONFIG_BYTES_MAX);
		return -EFBIG;
	}
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
	if (!yaml_parser_load(&parser, &doc)) {
		if (parser.error == YAML_MEMORY_ERROR)
			r = -ENOMEM;
		else
			r = fail(&x, NULL, NULL, "%s", "");
		if (r == -EINVAL && err && errlen)
			snprintf(err, errlen, "%s:%zu: YAML syntax: %s%s%s", x.file,
				 (size_t)parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "not YAML",
				 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return r;
	}
	x.doc = &doc;
	r = 0;
	/* One document only: a second one would be ignored silently otherwise. */
	if (!yaml_parser_load(&parser, &extra)) {
		r = fail(&x, NULL, NULL, "%s", "");
		if (err && errlen)
			snprintf(err, errlen, "%s:%zu: YAML syntax: %s", x.file,
				 (size_t)parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "not YAML");
	} else {
		if (yaml_document_get_root_node(&extra))
			r = fail(&x, yaml_document_get_root_node(&extra), NULL,
				 "a second YAML document (one is expected)");
		yaml_document_delete(&extra);
	}
	cfg = NULL;
	if (!r && !(cfg = config_new()))
		r = -ENOMEM;
	if (!r)
		r = parse_root(&x, cfg, yaml_document_get_root_node(&doc));
	if (!r && name && !(cfg->path = strdup(name)))
		r = -ENOMEM;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (r) {
		if (r == -ENOMEM && err && errlen)
			snprintf(err, errlen, "%s: out of memory", x.file);
		rkvd_config_free(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

int rkvd_config_load(const char *path, struct rkvd_config **out, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	int fd, r;

	if (err && errlen)
		err[0] = 0;
	if (!path || !out)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		if (err && errlen)
			snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > RKVD_CONFIG_BYTES_MAX) {
		r = -EFBIG;
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %d bytes", path, RKVD_CONFIG_BYTES_MAX);
		goto out;
	}
	/* Read up to the limit plus one byte: a file growing while read is
	 * still refused when it passes the limit. */
	text = malloc(RKVD_CONFIG_BYTES_MAX + 1);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, text + got, RKVD_CONFIG_BYTES_MAX + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			if (err && errlen)
				snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0 || (got += (size_t)n) > RKVD_CONFIG_BYTES_MAX)
			break;
	}
	r = rkvd_config_parse(path, text, got, out, err, errlen);
out:
	free(text);
	close(fd);
	return r;
}

const struct rkvd_camera_config *rkvd_config_camera(const struct rkvd_config *cfg,
						    const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (uint32_t i = 0; i < cfg->n_cameras; i++)
		if (!strcmp(cfg->cameras[i].name, name))
			return &cfg->cameras[i];
	return NULL;
}

/* ---- the camera's command line, equality, JSON -------------------------------------- */

static __attribute__((format(printf, 2, 3))) int arg(struct rkvd_args *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->argc + 1 >= RKVD_ARGS_MAX)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(a->buf + a->used, sizeof(a->buf) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->buf) - a->used)
		return -ENOSPC;
	a->argv[a->argc++] = a->buf + a->used;
	a->argv[a->argc] = NULL;
	a->used += (size_t)n + 1;
	return 0;
}

int rkvd_camera_args(const struct rkvd_camera_config *c, const char *bin, struct rkvd_args *a)
{
	int r = 0;

	if (!c || !bin || !a)
		return -EINVAL;
	a->argc = 0;
	a->used = 0;
	a->argv[0] = NULL;
	r |= arg(a, "%s", bin);
	r |= arg(a, "--name") | arg(a, "%s", c->name);
	r |= arg(a, "--source") | arg(a, "%s", c->source ? c->source : "testpattern");
	if (c->width && c->height)
		r |= arg(a, "--size") | arg(a, "%ux%u", c->width, c->height);
	if (c->format)
		r |= arg(a, "--format") | arg(a, "%s", c->format);
	r |= arg(a, "--fps") | arg(a, "%u", c->fps);
	r |= arg(a, "--slots") | arg(a, "%u", c->slots);
	r |= arg(a, "--backend") | arg(a, "%s", c->backend ? c->backend : "auto");
	if (c->decoder)
		r |= arg(a, "--decoder") | arg(a, "%s", c->decoder);
	if (c->loop)
		r |= arg(a, "--loop");
	if (c->rotate)
		r |= arg(a, "--rotate") | arg(a, "%u", c->rotate);
	if (c->flip)
		r |= arg(a, "--flip") | arg(a, "%s", c->flip);
	if (c->preview.enabled) {
		r |= arg(a, "--preview") | arg(a, "%ux%u", c->preview.width, c->preview.height);
		r |= arg(a, "--preview-fps") | arg(a, "%u", c->preview.fps);
		r |= arg(a, "--preview-quality") | arg(a, "%u", c->preview.quality);
	}
	if (c->save.dir)
		r |= arg(a, "--save-dir") | arg(a, "%s", c->save.dir);
	if (c->save.format)
		r |= arg(a, "--save-format") | arg(a, "%s", c->save.format);
	if (c->save.quality)
		r |= arg(a, "--save-quality") | arg(a, "%u", c->save.quality);
	if (c->save.every > 0)
		r |= arg(a, "--save-every") | arg(a, "%.17g", c->save.every);
	if (c->save.max_mb)
		r |= arg(a, "--save-max-mb") | arg(a, "%u", c->save.max_mb);
	r |= arg(a, "--quiet");
	return r ? -ENOSPC : 0;
}

bool rkvd_camera_config_equal(const struct rkvd_camera_config *a,
			      const struct rkvd_camera_config *b)
{
	/* Compared by what they would run: two configs that differ only where
	 * rkv-camera cannot tell (a default written out or left out) are the
	 * same camera, and a reload leaves it alone. The argument blocks are
	 * large: static storage would not be thread-safe, so the heap. */
	struct rkvd_args *x = malloc(2 * sizeof(*x));
	bool same = false;

	if (!a || !b || !x) {
		free(x);
		return a == b;
	}
	if (!rkvd_camera_args(a, "", &x[0]) && !rkvd_camera_args(b, "", &x[1]) &&
	    x[0].argc == x[1].argc) {
		same = true;
		for (int i = 0; i < x[0].argc && same; i++)
			same = !strcmp(x[0].argv[i], x[1].argv[i]);
	}
	free(x);
	return same;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool rkvd_algorithm_config_equal(const struct rkvd_algorithm_config *a,
				 const struct rkvd_algorithm_config *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->camera, b->camera) &&
	       str_eq(a->policy, b->policy) && str_eq(a->group, b->group) &&
	       str_eq(a->command, b->command);
}

int rkvd_camera_save_dir(const struct rkvd_camera_config *c, char *buf, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	int n;

	if (c->save.dir && c->save.dir[0] == '/') {
		n = snprintf(buf, len, "%s", c->save.dir);
	} else if (c->save.dir) {
		char cwd[512];
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		n = snprintf(buf, len, "%s/%s", cwd, c->save.dir);
	} else if (rt && rt[0]) {
		n = snprintf(buf, len, "%s/rkv", rt);
	} else {
		n = snprintf(buf, len, "/tmp/rkv-%u", (unsigned)getuid());
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : json_object_new_string("");
}

int rkvd_camera_config_json(const struct rkvd_camera_config *c, char *buf, size_t len)
{
	json_object *o, *p, *s;
	char dir[512];
	int r;

	if (!c || !buf)
		return -EINVAL;
	o = json_object_new_object();
	p = json_object_new_object();
	s = json_object_new_object();
	if (!o || !p || !s) {
		json_object_put(o);
		json_object_put(p);
		json_object_put(s);
		return -ENOMEM;
	}
	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "source", jstr(c->source ? c->source : "testpattern"));
	json_object_object_add(o, "width", json_object_new_int64(c->width));
	json_object_object_add(o, "height", json_object_new_int64(c->height));
	json_object_object_add(o, "format", jstr(c->format));
	json_object_object_add(o, "fps", json_object_new_int64(c->fps));
	json_object_object_add(o, "slots", json_object_new_int64(c->slots));
	json_object_object_add(o, "backend", jstr(c->backend ? c->backend : "auto"));
	json_object_object_add(o, "decoder", jstr(c->decoder));
	json_object_object_add(o, "loop", json_object_new_boolean(c->loop));
	json_object_object_add(o, "rotate", json_object_new_int64(c->rotate));
	json_object_object_add(o, "flip", jstr(c->flip));
	json_object_object_add(p, "enabled", json_object_new_boolean(c->preview.enabled));
	json_object_object_add(p, "width", json_object_new_int64(c->preview.width));
	json_object_object_add(p, "height", json_object_new_int64(c->preview.height));
	json_object_object_add(p, "fps", json_object_new_int64(c->preview.fps));
	json_object_object_add(p, "quality", json_object_new_int64(c->preview.quality));
	json_object_object_add(o, "preview", p);
	json_object_object_add(s, "dir", jstr(rkvd_camera_save_dir(c, dir, sizeof(dir)) ? NULL : dir));
	json_object_object_add(s, "format", jstr(c->save.format ? c->save.format : "jpeg"));
	json_object_object_add(s, "quality", json_object_new_int64(c->save.quality));
	json_object_object_add(s, "every", json_object_new_double(c->save.every));
	json_object_object_add(s, "max_mb", json_object_new_int64(c->save.max_mb));
	json_object_object_add(o, "save", s);

	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = t ? strlen(t) : 0;
	if (!t)
		r = -ENOMEM;
	else if (n >= len)
		r = -ENOSPC;
	else {
		memcpy(buf, t, n + 1);
		r = (int)n;
	}
	json_object_put(o);
	return r;
}
