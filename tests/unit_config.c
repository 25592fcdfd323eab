/* SPDX-License-Identifier: MIT */
/*
 * The board's configuration (rkv/daemon.h): defaults, every class of error
 * with its message (file:line: field: what was expected), equality of
 * cameras, the JSON of a camera, and loading from files.
 */
#include "test.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <rkv/daemon.h>

static struct rkvd_config *parse_ok(const char *text)
{
	struct rkvd_config *cfg = NULL;
	char err[512];
	int r = rkvd_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof(err));
	if (r)
		FAIL("parse of <<%s>> = %d: %s", text, r, err);
	return cfg;
}

/* @text must be refused with a message starting with @want. */
static void parse_bad(const char *text, const char *want)
{
	struct rkvd_config *cfg = (struct rkvd_config *)0x1;
	char err[512];
	int r = rkvd_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof(err));
	if (r != -EINVAL)
		FAIL("parse of <<%s>> = %d, expected -EINVAL (%s)", text, r, err);
	if (cfg != (struct rkvd_config *)0x1)
		FAIL("a failed parse wrote its output");
	if (strncmp(err, want, strlen(want)))
		FAIL("parse of <<%s>>:\n  message: %s\n  expected: %s...", text, err, want);
}

static void check_default_camera(const struct rkvd_camera_config *c)
{
	CHECK_STR(c->name, "cam0");
	CHECK_STR(c->source, "testpattern");
	CHECK_EQ(c->width, 640);
	CHECK_EQ(c->height, 480);
	CHECK_STR(c->format, "NV12");
	CHECK_EQ(c->fps, 30);
	CHECK_EQ(c->slots, 8);
	CHECK_STR(c->backend, "auto");
	CHECK(!c->decoder && !c->flip && !c->loop && !c->rotate);
	CHECK(c->preview.enabled);
	CHECK_EQ(c->preview.width, 640);
	CHECK_EQ(c->preview.height, 0);
	CHECK_EQ(c->preview.fps, 10);
	CHECK_EQ(c->preview.quality, 75);
	CHECK(!c->save.dir);
	CHECK_STR(c->save.format, "jpeg");
	CHECK(c->save.quality == 0 && c->save.every == 0 && c->save.max_mb == 0);
}

static void test_defaults(void)
{
	struct rkvd_config *cfg;
	CHECK_OK(rkvd_config_default(&cfg));
	CHECK(!cfg->path);
	CHECK_EQ(cfg->n_cameras, 1);
	CHECK_EQ(cfg->n_algorithms, 0);
	check_default_camera(&cfg->cameras[0]);
	CHECK_STR(cfg->api.listen, "127.0.0.1:8080");
	CHECK(cfg->api.unix_socket[0] == '/');
	CHECK(!cfg->api.token);
	rkvd_config_free(cfg);

	/* an empty file, comments only, and an explicit null: the default too */
	const char *empties[] = { "", "# nothing\n", "~\n", "cameras:\n", "---\n" };
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		cfg = parse_ok(empties[i]);
		CHECK_STR(cfg->path, "t.yaml");
		CHECK_EQ(cfg->n_cameras, 1);
		check_default_camera(&cfg->cameras[0]);
		rkvd_config_free(cfg);
	}
	/* a camera with no settings gets every default */
	cfg = parse_ok("cameras:\n  cam0:\n");
	check_default_camera(&cfg->cameras[0]);
	rkvd_config_free(cfg);
	/* a source other than the test pattern: its own size and format */
	cfg = parse_ok("cameras:\n  usb:\n    source: v4l2:/dev/video0\n");
	CHECK_EQ(cfg->cameras[0].width, 0);
	CHECK(!cfg->cameras[0].format);
	rkvd_config_free(cfg);
}

static void test_full(void)
{
	struct rkvd_config *cfg = parse_ok(
		"api:\n"
		"  listen: 0.0.0.0:8081\n"
		"  unix_socket: \"\"\n"
		"  token: s3cret\n"
		"cameras:\n"
		"  front:\n"
		"    source: rtsp://10.0.0.2/stream\n"
		"    width: 1920\n"
		"    height: 1080\n"
		"    format: NV12\n"
		"    fps: 25\n"
		"    slots: 12\n"
		"    backend: rga\n"
		"    decoder: mppvideodec\n"
		"    loop: yes\n"
		"    rotate: 90\n"
		"    flip: hv\n"
		"    preview: {enabled: true, width: 0, height: 360, fps: 5, quality: 60}\n"
		"    save: {dir: /var/lib/rkv, format: png, quality: 3, every: 2.5, max_mb: 100}\n"
		"  back:\n"
		"    preview: {enabled: false}\n"
		"    flip: \"\"\n"
		"algorithms:\n"
		"  motion:\n"
		"    camera: front\n"
		"    command: python3 motion.py\n"
		"  workers:\n"
		"    camera: back\n"
		"    policy: group\n"
		"    command: ./w\n"
		"  named:\n"
		"    camera: back\n"
		"    policy: group\n"
		"    group: g1\n"
		"    command: ./w\n");
	CHECK_STR(cfg->api.listen, "0.0.0.0:8081");
	CHECK_STR(cfg->api.unix_socket, "");
	CHECK_STR(cfg->api.token, "s3cret");
	CHECK_EQ(cfg->n_cameras, 2);
	const struct rkvd_camera_config *c = rkvd_config_camera(cfg, "front");
	CHECK(c == &cfg->cameras[0]);
	CHECK_STR(c->source, "rtsp://10.0.0.2/stream");
	CHECK(c->width == 1920 && c->height == 1080 && c->fps == 25 && c->slots == 12);
	CHECK_STR(c->backend, "rga");
	CHECK_STR(c->decoder, "mppvideodec");
	CHECK(c->loop && c->rotate == 90);
	CHECK_STR(c->flip, "hv");
	CHECK(c->preview.enabled && c->preview.width == 0 && c->preview.height == 360);
	CHECK(c->preview.fps == 5 && c->preview.quality == 60);
	CHECK_STR(c->save.dir, "/var/lib/rkv");
	CHECK_STR(c->save.format, "png");
	CHECK(c->save.quality == 3 && c->save.every == 2.5 && c->save.max_mb == 100);
	c = rkvd_config_camera(cfg, "back");
	CHECK(!c->preview.enabled && !c->flip);
	CHECK(!rkvd_config_camera(cfg, "nope"));
	CHECK_EQ(cfg->n_algorithms, 3);
	CHECK_STR(cfg->algorithms[0].name, "motion");
	CHECK_STR(cfg->algorithms[0].camera, "front");
	CHECK_STR(cfg->algorithms[0].policy, "latest");
	CHECK(!cfg->algorithms[0].group);
	CHECK_STR(cfg->algorithms[0].command, "python3 motion.py");
	CHECK_STR(cfg->algorithms[1].group, "workers"); /* defaults to its name */
	CHECK_STR(cfg->algorithms[2].group, "g1");
	rkvd_config_free(cfg);
}

static void test_errors(void)
{
	/* syntax */
	parse_bad("cameras:\n  cam0:\n    fps: [1\n", "t.yaml:4: YAML syntax: ");
	parse_bad("a: b\n---\nc: d\n", "t.yaml:3: a second YAML document");
	/* shapes */
	parse_bad("- 1\n- 2\n", "t.yaml:1: (top level): expected a mapping of api, cameras");
	parse_bad("camera:\n  x: 1\n", "t.yaml:1: camera: unknown section (expected api, cameras or algorithms)");
	parse_bad("cameras: {}\napi: {}\ncameras: {}\n", "t.yaml:3: cameras: given twice");
	parse_bad("cameras: [a, b]\n", "t.yaml:1: cameras: expected a mapping of names to settings, got a list");
	parse_bad("cameras: {}\n", "t.yaml:1: cameras: no camera");
	parse_bad("cameras:\n  cam0: 5\n", "t.yaml:2: cameras.cam0: expected a mapping of fields, got \"5\"");
	/* unknown keys and repeated keys */
	parse_bad("cameras:\n  cam0:\n    fsp: 5\n",
		  "t.yaml:3: cameras.cam0.fsp: unknown field (expected one of: source, width");
	parse_bad("cameras:\n  cam0:\n    preview: {fps: 5, size: 3}\n",
		  "t.yaml:3: cameras.cam0.preview.size: unknown field (expected one of: enabled, width");
	parse_bad("cameras:\n  cam0:\n    fps: 5\n    fps: 6\n", "t.yaml:4: cameras.cam0.fps: given twice");
	/* wrong types and ranges */
	parse_bad("cameras:\n  cam0:\n    fps: fast\n",
		  "t.yaml:3: cameras.cam0.fps: expected a whole number 1..1000, got \"fast\"");
	parse_bad("cameras:\n  cam0:\n    fps: 0\n",
		  "t.yaml:3: cameras.cam0.fps: expected a whole number 1..1000, got \"0\"");
	parse_bad("cameras:\n  cam0:\n    fps: -3\n", "t.yaml:3: cameras.cam0.fps: expected a whole number");
	parse_bad("cameras:\n  cam0:\n    fps: 99999999999999\n", "t.yaml:3: cameras.cam0.fps: expected a whole number");
	parse_bad("cameras:\n  cam0:\n    fps: \"30\"\n", "t.yaml:3: cameras.cam0.fps: expected a whole number");
	parse_bad("cameras:\n  cam0:\n    fps: {a: 1}\n",
		  "t.yaml:3: cameras.cam0.fps: expected a whole number, got a mapping");
	parse_bad("cameras:\n  cam0:\n    slots: 1\n", "t.yaml:3: cameras.cam0.slots: expected a whole number 2..64");
	parse_bad("cameras:\n  cam0:\n    loop: maybe\n",
		  "t.yaml:3: cameras.cam0.loop: expected true or false, got \"maybe\"");
	parse_bad("cameras:\n  cam0:\n    backend: gpu\n",
		  "t.yaml:3: cameras.cam0.backend: expected auto, cpu, rga or mpp, got \"gpu\"");
	parse_bad("cameras:\n  cam0:\n    flip: x\n", "t.yaml:3: cameras.cam0.flip: expected \"\", h, v or hv");
	parse_bad("cameras:\n  cam0:\n    format: nv12\n", "t.yaml:3: cameras.cam0.format: expected a fourcc");
	parse_bad("cameras:\n  cam0:\n    decoder: \"a b\"\n", "t.yaml:3: cameras.cam0.decoder: expected a GStreamer");
	parse_bad("cameras:\n  cam0:\n    source: \"\"\n", "t.yaml:3: cameras.cam0.source: expected a source");
	parse_bad("cameras:\n  cam0:\n    source: \"a\\0b\"\n", "t.yaml:3: cameras.cam0.source: expected a source");
	parse_bad("cameras:\n  cam0:\n    source: \"a\\nb\"\n", "t.yaml:3: cameras.cam0.source: expected a source");
	parse_bad("cameras:\n  cam0:\n    rotate: 45\n", "t.yaml:3: cameras.cam0: rotate: expected 0, 90, 180 or 270");
	parse_bad("cameras:\n  cam0:\n    width: 640\n", "t.yaml:3: cameras.cam0: width and height go together");
	parse_bad("cameras:\n  cam0:\n    preview: {width: 0}\n",
		  "t.yaml:3: cameras.cam0: preview: width and height are both 0");
	parse_bad("cameras:\n  cam0:\n    save: {format: png, quality: 50}\n",
		  "t.yaml:3: cameras.cam0: save.quality: expected a PNG zlib level 0..9, got 50");
	parse_bad("cameras:\n  cam0:\n    save: {every: soon}\n",
		  "t.yaml:3: cameras.cam0.save.every: expected a number of seconds 0..86400, got \"soon\"");
	parse_bad("cameras:\n  cam0:\n    save: {every: nan}\n", "t.yaml:3: cameras.cam0.save.every: expected a number");
	parse_bad("cameras:\n  cam0:\n    save: {format: gif}\n", "t.yaml:3: cameras.cam0.save.format: expected jpeg or png");
	/* names */
	parse_bad("cameras:\n  \"a/b\": {}\n", "t.yaml:2: cameras.a/b: a camera's name is 1..40 of A-Z a-z 0-9 _ -, got \"a/b\"");
	parse_bad("cameras:\n  \"\": {}\n", "t.yaml:2: cameras: a camera's name is 1..40");
	parse_bad("cameras:\n  abcdefghijabcdefghijabcdefghijabcdefghijX: {}\n",
		  "t.yaml:2: cameras.abcdefghijabcdefghijabcdefghijabcdefghijX: a camera's name is 1..40");
	parse_bad("cameras:\n  ? [a]\n  : {}\n", "t.yaml:2: cameras: expected a name as the key, got a list");
	/* duplicate names (libyaml keeps both keys) */
	parse_bad("cameras:\n  a: {}\n  b: {}\n  a: {fps: 5}\n", "t.yaml:4: cameras.a: a second camera of that name");
	parse_bad("cameras:\n  a: {}\nalgorithms:\n  x: {camera: a, command: c}\n  x: {camera: a, command: c}\n",
		  "t.yaml:5: algorithms.x: a second algorithm of that name");
	/* algorithms */
	parse_bad("cameras:\n  a: {}\nalgorithms:\n  x:\n    camera: b\n    command: c\n",
		  "t.yaml:5: algorithms.x.camera: expected one of the cameras (a), got \"b\"");
	parse_bad("algorithms:\n  x:\n    command: c\n", "t.yaml:3: algorithms.x.camera: missing");
	parse_bad("algorithms:\n  x:\n    camera: cam0\n", "t.yaml:3: algorithms.x.command: missing");
	parse_bad("algorithms:\n  x: {camera: cam0, command: c, policy: fast}\n",
		  "t.yaml:2: algorithms.x.policy: expected block, drop, latest or group, got \"fast\"");
	parse_bad("algorithms:\n  x: {camera: cam0, command: c, group: g}\n",
		  "t.yaml:2: algorithms.x: group: only with policy group (policy is latest)");
	parse_bad("algorithms:\n  x: {camera: cam0, command: c, policy: group, group: \"a b\"}\n",
		  "t.yaml:2: algorithms.x.group: expected a group name");
	parse_bad("algorithms:\n  abcdefghijabcdefghijabcdefghijabc: {camera: cam0, command: c, policy: group}\n",
		  "t.yaml:2: algorithms.abcdefghijabcdefghijabcdefghijabc: policy group: give a group");
	/* the API */
	parse_bad("api:\n  listen: 0.0.0.0:8080\n",
		  "t.yaml:2: api.listen: 0.0.0.0:8080 is not a loopback address: api.token is required");
	parse_bad("api:\n  listen: \"[::]:80\"\n", "t.yaml:2: api.listen: [::]:80 is not a loopback address");
	parse_bad("api:\n  listen: localhost\n", "t.yaml:2: api.listen: expected host:port");
	parse_bad("api:\n  listen: \"127.0.0.1:99999\"\n", "t.yaml:2: api.listen: expected host:port");
	parse_bad("api:\n  unix_socket: rel.sock\n", "t.yaml:2: api.unix_socket: expected an absolute path");
	parse_bad("api:\n  token: \"a b\"\n  listen: 1.2.3.4:80\n", "t.yaml:2: api.token: expected a token");
	parse_bad("api:\n  port: 80\n", "t.yaml:2: api.port: unknown field (expected one of: listen, unix_socket, token)");

	/* loopback listeners need no token; others do, and have one here */
	struct rkvd_config *cfg = parse_ok("api: {listen: \"[::1]:8080\"}\n");
	rkvd_config_free(cfg);
	cfg = parse_ok("api: {listen: \"localhost:80\", unix_socket: /run/x.sock}\n");
	rkvd_config_free(cfg);
	cfg = parse_ok("api: {listen: \"\"}\n");
	CHECK_STR(cfg->api.listen, "");
	rkvd_config_free(cfg);
}

static void test_limits(void)
{
	/* 16 cameras fit; the 17th is refused, on its line */
	char text[8192];
	size_t o = snprintf(text, sizeof(text), "cameras:\n");
	for (int i = 0; i < RKVD_CAMERAS_MAX; i++)
		o += snprintf(text + o, sizeof(text) - o, "  c%d: {}\n", i);
	struct rkvd_config *cfg = parse_ok(text);
	CHECK_EQ(cfg->n_cameras, RKVD_CAMERAS_MAX);
	rkvd_config_free(cfg);
	snprintf(text + o, sizeof(text) - o, "  c99: {}\n");
	parse_bad(text, "t.yaml:18: cameras.c99: more than 16 cameras");

	o = snprintf(text, sizeof(text), "algorithms:\n");
	for (int i = 0; i <= RKVD_ALGORITHMS_MAX; i++)
		o += snprintf(text + o, sizeof(text) - o, "  a%d: {camera: cam0, command: x}\n", i);
	parse_bad(text, "t.yaml:34: algorithms.a32: more than 32 algorithms");

	/* a text over the size limit: -EFBIG, before any parsing */
	size_t big = RKVD_CONFIG_BYTES_MAX + 1;
	char *huge = malloc(big);
	CHECK(huge);
	memset(huge, '#', big);
	char err[256];
	cfg = NULL;
	CHECK_ERR(rkvd_config_parse("t.yaml", huge, big, &cfg, err, sizeof(err)), EFBIG);
	CHECK(!cfg);
	CHECK(strstr(err, "t.yaml: larger than"));
	free(huge);

	/* deep nesting in an unknown place, and aliases: refused, no crash */
	char deep[20000];
	o = snprintf(deep, sizeof(deep), "cameras:\n  cam0:\n    source: ");
	for (int i = 0; i < 5000; i++)
		deep[o++] = '[';
	deep[o] = 0;
	CHECK_ERR(rkvd_config_parse("t.yaml", deep, o, &cfg, err, sizeof(err)), EINVAL);
	cfg = parse_ok("cameras:\n  a: &x {fps: 5}\n  b: *x\n");
	CHECK(cfg->n_cameras == 2 && cfg->cameras[1].fps == 5);
	rkvd_config_free(cfg);

	/* a NULL @err is fine */
	CHECK_ERR(rkvd_config_parse("t.yaml", "x: [", 4, &cfg, NULL, 0), EINVAL);
}

static void test_equal(void)
{
	struct rkvd_config *a = parse_ok("cameras:\n  cam0: {}\n  c1: {fps: 15}\n");
	struct rkvd_config *b = parse_ok(
		"cameras:\n"
		"  cam0: {source: testpattern, width: 640, height: 480, format: NV12, fps: 30,\n"
		"         slots: 8, backend: auto, loop: false, rotate: 0, flip: \"\",\n"
		"         preview: {enabled: true, width: 640, height: 0, fps: 10, quality: 75},\n"
		"         save: {format: jpeg, quality: 0, every: 0, max_mb: 0}}\n"
		"  c1: {fps: 16}\n");
	/* defaults written out are the same camera; another fps is not */
	CHECK(rkvd_camera_config_equal(&a->cameras[0], &b->cameras[0]));
	CHECK(!rkvd_camera_config_equal(&a->cameras[1], &b->cameras[1]));
	CHECK(!rkvd_camera_config_equal(&a->cameras[0], &a->cameras[1]));
	const char *changes[] = {
		"source: x.mp4", "width: 320\n    height: 240", "format: YUYV", "slots: 4", "backend: cpu",
		"decoder: avdec_h264", "loop: true", "rotate: 180", "flip: h", "preview: {enabled: false}",
		"preview: {width: 320}", "preview: {height: 100}", "preview: {fps: 11}",
		"preview: {quality: 50}", "save: {dir: /tmp/x}", "save: {format: png}",
		"save: {quality: 90}", "save: {every: 1}", "save: {max_mb: 5}",
	};
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "cameras:\n  cam0:\n    %s\n", changes[i]);
		struct rkvd_config *c = parse_ok(text);
		if (rkvd_camera_config_equal(&a->cameras[0], &c->cameras[0]))
			FAIL("\"%s\" is not a change", changes[i]);
		rkvd_config_free(c);
	}
	/* algorithms */
	struct rkvd_config *x = parse_ok("algorithms: {m: {camera: cam0, command: a}}\n");
	struct rkvd_config *y = parse_ok("algorithms: {m: {camera: cam0, command: a, policy: latest}}\n");
	struct rkvd_config *z = parse_ok("algorithms: {m: {camera: cam0, command: b}}\n");
	CHECK(rkvd_algorithm_config_equal(&x->algorithms[0], &y->algorithms[0]));
	CHECK(!rkvd_algorithm_config_equal(&x->algorithms[0], &z->algorithms[0]));
	rkvd_config_free(x);
	rkvd_config_free(y);
	rkvd_config_free(z);

	/* the command line */
	struct rkvd_args args;
	CHECK_OK(rkvd_camera_args(&a->cameras[1], "/bin/rkv-camera", &args));
	char line[1024] = "";
	for (int i = 0; i < args.argc; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s", i ? " " : "", args.argv[i]);
	CHECK(!args.argv[args.argc]);
	CHECK_STR(line, "/bin/rkv-camera --name c1 --source testpattern --size 640x480 --format NV12 "
			"--fps 15 --slots 8 --backend auto --preview 640x0 --preview-fps 10 "
			"--preview-quality 75 --save-format jpeg --quiet");
	rkvd_config_free(a);
	rkvd_config_free(b);
}

static void test_json(void)
{
	struct rkvd_config *cfg = parse_ok("cameras:\n  front:\n    source: \"rtsp://h/a\\\"b\"\n    fps: 5\n"
		       "    save: {dir: /srv/x, every: 0.5}\n    preview: {enabled: off}\n");
	char buf[2048];
	int n = rkvd_camera_config_json(&cfg->cameras[0], buf, sizeof(buf));
	CHECK_INT(n, >, 0);
	CHECK_EQ(strlen(buf), n);
	json_object *o = json_tokener_parse(buf), *v, *s;
	CHECK(o);
	CHECK(json_object_object_get_ex(o, "name", &v));
	CHECK_STR(json_object_get_string(v), "front");
	CHECK(json_object_object_get_ex(o, "source", &v));
	CHECK_STR(json_object_get_string(v), "rtsp://h/a\"b");
	CHECK(json_object_object_get_ex(o, "fps", &v));
	CHECK_EQ(json_object_get_int(v), 5);
	CHECK(json_object_object_get_ex(o, "width", &v));
	CHECK_EQ(json_object_get_int(v), 0);
	CHECK(json_object_object_get_ex(o, "backend", &v));
	CHECK_STR(json_object_get_string(v), "auto");
	CHECK(json_object_object_get_ex(o, "preview", &s));
	CHECK(json_object_object_get_ex(s, "enabled", &v));
	CHECK(!json_object_get_boolean(v));
	CHECK(json_object_object_get_ex(o, "save", &s));
	CHECK(json_object_object_get_ex(s, "dir", &v));
	CHECK_STR(json_object_get_string(v), "/srv/x");
	CHECK(json_object_object_get_ex(s, "every", &v));
	CHECK(json_object_get_double(v) == 0.5);
	json_object_put(o);
	CHECK_ERR(rkvd_camera_config_json(&cfg->cameras[0], buf, 20), ENOSPC);
	rkvd_config_free(cfg);
}

static void test_load(void)
{
	char dir[] = "/tmp/unit_config.XXXXXX", path[128], err[512];
	struct rkvd_config *cfg = NULL;
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/board.yaml", dir);
	CHECK_ERR(rkvd_config_load(path, &cfg, err, sizeof(err)), ENOENT);
	CHECK(strstr(err, "board.yaml: cannot open: "));
	CHECK_ERR(rkvd_config_load(dir, &cfg, err, sizeof(err)), EISDIR);

	FILE *f = fopen(path, "w");
	CHECK(f);
	fputs("cameras:\n  a:\n    fps: 12\n  b:\n    fps: x\n", f);
	fclose(f);
	CHECK_ERR(rkvd_config_load(path, &cfg, err, sizeof(err)), EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:5: cameras.b.fps: expected a whole number 1..1000, got \"x\"", path);
	CHECK_STR(err, want);
	CHECK(!cfg);

	f = fopen(path, "w");
	fputs("cameras:\n  a:\n    fps: 12\n", f);
	fclose(f);
	CHECK_OK(rkvd_config_load(path, &cfg, err, sizeof(err)));
	CHECK_STR(cfg->path, path);
	CHECK_EQ(cfg->cameras[0].fps, 12);
	rkvd_config_free(cfg);

	/* too large on disk */
	CHECK_OK(truncate(path, RKVD_CONFIG_BYTES_MAX + 1));
	CHECK_ERR(rkvd_config_load(path, &cfg, err, sizeof(err)), EFBIG);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_watchdog(60);
	test_defaults();
	test_full();
	test_errors();
	test_limits();
	test_equal();
	test_json();
	test_load();
	return 0;
}
