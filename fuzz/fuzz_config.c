/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - the daemon's config parser (rkvd_config_parse).
 *
 * Whatever bytes the file holds, the parser returns a config or an error:
 * never a crash. On an error the output is untouched and the message is a
 * NUL-terminated line that names the file; on success every camera has a
 * valid name, the counts are within their limits, every algorithm reads a
 * configured camera, and the camera's command line and JSON can be made.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <rkv/daemon.h>

#include "fuzz_util.h"

static const char *const seeds[] = {
	"cameras:\n  cam0:\n    fps: 15\n",
	("api:\n  listen: 0.0.0.0:8080\n  token: t\ncameras:\n  a:\n    source: rtsp://h/x\n"
	 "    width: 1280\n    height: 720\n    decoder: mppvideodec\n    backend: rga\n"
	 "    preview: {width: 0, height: 360, fps: 5}\n    save: {dir: /tmp/x, every: 1.5}\n"),
	("cameras:\n  a: &x {fps: 5, rotate: 90, flip: hv}\n  b: *x\nalgorithms:\n"
	 "  m:\n    camera: a\n    policy: group\n    command: rkv watch $RKV_POOL\n"),
	"cameras: {a: {}, b: {loop: yes, format: YUYV, save: {format: png, quality: 3}}}\n",
};

size_t fuzz_seed_input(uint8_t *buf, size_t cap, unsigned variant)
{
	return fuzz_seed_text(seeds, sizeof(seeds) / sizeof(seeds[0]), buf, cap, variant);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rkvd_args args;
	static char json[8192];
	struct rkvd_config *cfg = (struct rkvd_config *)&args;
	char err[512];
	int r;

	memset(err, 0xa5, sizeof(err));
	r = rkvd_config_parse("f.yaml", (const char *)data, size, &cfg, err, sizeof(err));
	if (r) {
		if (cfg != (struct rkvd_config *)&args)
			fuzz_die("a failed parse (%d) wrote its output", r);
		if (r != -EINVAL && r != -EFBIG && r != -ENOMEM)
			fuzz_die("parse returned %d", r);
		if (!memchr(err, '\0', sizeof(err)) || strncmp(err, "f.yaml", 6))
			fuzz_die("the message does not name the file: %.80s", err);
		return 0;
	}
	if (cfg->n_cameras < 1 || cfg->n_cameras > RKVD_CAMERAS_MAX ||
	    cfg->n_algorithms > RKVD_ALGORITHMS_MAX)
		fuzz_die("counts %u cameras, %u algorithms", cfg->n_cameras, cfg->n_algorithms);
	for (uint32_t i = 0; i < cfg->n_cameras; i++) {
		const struct rkvd_camera_config *c = &cfg->cameras[i];
		size_t n = strnlen(c->name, sizeof(c->name));
		if (n == 0 || n > RKVD_CAMERA_NAME_LEN || strspn(c->name,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n)
			fuzz_die("camera name \"%.60s\"", c->name);
		if (rkvd_config_camera(cfg, c->name) != c)
			fuzz_die("camera \"%s\" twice", c->name);
		if (rkvd_camera_args(c, "rkv-camera", &args))
			fuzz_die("camera \"%s\": no command line", c->name);
		if (!rkvd_camera_config_equal(c, c))
			fuzz_die("camera \"%s\" differs from itself", c->name);
		if (rkvd_camera_config_json(c, json, sizeof(json)) <= 0)
			fuzz_die("camera \"%s\": no JSON", c->name);
	}
	for (uint32_t i = 0; i < cfg->n_algorithms; i++) {
		const struct rkvd_algorithm_config *a = &cfg->algorithms[i];
		if (!rkvd_config_camera(cfg, a->camera) || !a->command || !a->policy)
			fuzz_die("algorithm \"%.60s\" is incomplete", a->name);
	}
	rkvd_config_free(cfg);
	return 0;
}
