/* SPDX-License-Identifier: MIT */
/*
 * imgcheck - what save_test.py and encode_test.py ask of saved and
 * published images, answered as one JSON line on stdout.
 *
 *   imgcheck file IMAGE RAW FOURCC WxH SEQ
 *       RAW must be exactly test-pattern frame SEQ (rkv_testpattern_verify);
 *       IMAGE (a PNG or a JPEG) is decoded and compared with it: a PNG in
 *       RGB24 against RAW converted to RGB24 ("exact": every byte equal),
 *       a JPEG in RAW's format (PSNR over every byte, in dB).
 *   imgcheck pool POOL CAMERA WxH FRAMES RAWFILE
 *       attach to POOL (JPEG frames from rkv-camera --encode jpeg) and
 *       decode FRAMES frames with rkv_imgops_decode_view() into NV12 and
 *       RGB24 of WxH and into NV12 of half that, checking their geometry;
 *       meanwhile ask CAMERA for a raw snapshot (into RAWFILE) of a frame
 *       to come, which must be exactly the test pattern's, and compare the
 *       pool's JPEG of the same frame with it (PSNR of its NV12 decode).
 *       Views the producer could forge are refused: bytes_used beyond the
 *       capacity (-EINVAL), a truncated JPEG and one whose size is not the
 *       descriptor's (-EBADMSG).
 *   imgcheck hold POOL SECONDS RAWFILE
 *       attach to POOL (latest), acquire one frame, write its bytes into
 *       RAWFILE, print {"seq": N} and hold the frame SECONDS before
 *       releasing it: a frame a consumer holds, for a snapshot of it.
 * Exit status 0 when it could look (the caller judges the figures), 1 with
 * a message on stderr when it could not.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rkv/control.h>
#include <rkv/imgops.h>
#include <rkv/pool.h>
#include <rkv/source.h>

static void die(const char *fmt, const char *arg, int err)
{
	fprintf(stderr, "imgcheck: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "%s%s\n", err ? ": " : "", err ? strerror(err) : "");
	exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		die("cannot read %s", path, errno);
	b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
		die("cannot read %s", path, errno);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
	double se = 0;

	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		se += d * d;
	}
	return se == 0 ? 999.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
}

/* @raw (frame @f) must be exactly the test pattern's frame. */
static void verify_pattern(const struct rkv_frame *f, const void *raw)
{
	int64_t v = rkv_testpattern_verify(f, raw);

	if (v != 0) {
		char b[64];
		snprintf(b, sizeof b, "%" PRId64, v);
		die("the raw frame is not the test pattern's (verify: %s)", b, 0);
	}
}

static uint32_t fourcc_of(const char *s)
{
	char b[4] = { ' ', ' ', ' ', ' ' };
	size_t n = strlen(s);

	if (n == 0 || n > 4)
		die("bad fourcc %s", s, 0);
	memcpy(b, s, n);
	return RKV_FOURCC(b[0], b[1], b[2], b[3]);
}

static int cmd_file(char **argv)
{
	size_t ilen, rlen;
	uint8_t *img = slurp(argv[0], &ilen), *raw = slurp(argv[1], &rlen);
	uint32_t fcc = fourcc_of(argv[2]), w, h;
	struct rkv_image src, dec;
	rkv_imgops *ops;
	int64_t need;

	if (sscanf(argv[3], "%ux%u", &w, &h) != 2)
		die("bad size %s", argv[3], 0);
	need = rkv_imgops_image(&src, fcc, w, h, raw, rlen);
	if (need < 0 || (uint64_t)need != rlen)
		die("the raw file %s is not one frame of that size", argv[1], 0);
	src.frame.seq = strtoull(argv[4], NULL, 10);
	verify_pattern(&src.frame, raw);
	if (rkv_imgops_open(NULL, &ops))
		die("no image context%s", "", 0);
	if (ilen > 8 && !memcmp(img, "\x89PNG", 4)) {
		png_image pi;
		memset(&pi, 0, sizeof pi);
		pi.version = PNG_IMAGE_VERSION;
		if (!png_image_begin_read_from_memory(&pi, img, ilen))
			die("not a PNG: %s", argv[0], 0);
		pi.format = PNG_FORMAT_RGB;
		size_t n = PNG_IMAGE_SIZE(pi);
		uint8_t *rgb = malloc(n), *ref = malloc(n);
		if (!rgb || !ref || !png_image_finish_read(&pi, NULL, rgb, 0, NULL))
			die("cannot decode the PNG %s", argv[0], 0);
		if (pi.width == w && pi.height == h) {
			rkv_imgops_image(&dec, RKV_FMT_RGB24, w, h, ref, n);
			if (rkv_imgops_transform(ops, &src, &dec, NULL))
				die("cannot convert the raw frame%s", "", 0);
		}
		printf("{\"format\":\"png\",\"width\":%u,\"height\":%u,\"exact\":%s}\n", pi.width,
		       pi.height, pi.width == w && pi.height == h && !memcmp(rgb, ref, n) ? "true" : "false");
		free(rgb);
		free(ref);
	} else {
		struct rkv_image jpg;
		uint32_t jw, jh;
		rkv_imgops_image(&jpg, RKV_FMT_JPEG, 1, 1, img, ilen);
		if (rkv_imgops_jpeg_size(ops, img, ilen, &jw, &jh))
			die("not a JPEG: %s", argv[0], 0);
		jpg.frame.width = jw;
		jpg.frame.height = jh;
		uint8_t *out = malloc(rlen);
		double p = 0;
		if (jw == w && jh == h) {
			rkv_imgops_image(&dec, fcc, w, h, out, rlen);
			if (rkv_imgops_jpeg_decode(ops, &jpg, &dec))
				die("cannot decode the JPEG %s", argv[0], 0);
			p = psnr(out, raw, rlen);
		}
		printf("{\"format\":\"jpeg\",\"width\":%u,\"height\":%u,\"psnr\":%.2f}\n", jw, jh, p);
		free(out);
	}
	rkv_imgops_close(ops);
	free(img);
	free(raw);
	return 0;
}

struct snap {
	const char *camera, *path;
	uint64_t seq;
	char reply[RKV_CONTROL_REPLY_MAX];
	ssize_t r;
};

static void *snap_thread(void *arg)
{
	struct snap *s = arg;
	char req[700];

	snprintf(req, sizeof req, "{\"cmd\":\"snapshot\",\"format\":\"raw\",\"seq\":%" PRIu64
		 ",\"path\":\"%s\"}", s->seq, s->path);
	s->r = rkv_control_call(s->camera, req, s->reply, sizeof s->reply, 30000000000LL);
	return NULL;
}

static int cmd_pool(char **argv)
{
	struct rkv_consumer_opts co = { .policy = RKV_POLICY_DROP, .queue_depth = 4, .max_held = 2 };
	uint32_t w, h, frames = (uint32_t)atoi(argv[3]);
	rkv_consumer *c;
	rkv_imgops *ops;
	struct rkv_view v, kept;
	struct snap snap = { .camera = argv[1], .path = argv[4] };
	pthread_t thr;
	int have_kept = 0, started = 0, r;
	uint64_t bytes = 0;

	if (sscanf(argv[2], "%ux%u", &w, &h) != 2 || frames == 0)
		die("bad size or count %s", argv[2], 0);
	size_t nv12 = (size_t)w * h * 3 / 2, rgb = (size_t)w * h * 3;
	uint8_t *a = malloc(nv12), *b = malloc(rgb), *q = malloc(nv12 / 4 + 16);
	struct rkv_image dn, dr, dq;
	rkv_imgops_image(&dn, RKV_FMT_NV12, w, h, a, nv12);
	rkv_imgops_image(&dr, RKV_FMT_RGB24, w, h, b, rgb);
	rkv_imgops_image(&dq, RKV_FMT_NV12, w / 2, h / 2, q, nv12 / 4 + 16);
	if (!a || !b || !q || rkv_imgops_open(NULL, &ops))
		die("out of memory%s", "", 0);
	r = rkv_consumer_attach(argv[0], &co, &c);
	if (r)
		die("cannot attach to %s", argv[0], -r);
	for (uint32_t n = 0; n < frames || (started && !have_kept); n++) {
		if (n > frames + 300)
			die("the snapshot's frame never came from %s", argv[0], 0);
		r = rkv_consumer_acquire(c, &v, 5000000000LL);
		if (r)
			die("no frame from %s", argv[0], -r);
		if (v.frame.fourcc != RKV_FMT_JPEG || v.frame.width != w || v.frame.height != h ||
		    v.frame.num_planes != 0 || !(v.frame.flags & RKV_FRAME_KEYFRAME))
			die("a frame of %s is not a whole JPEG of the size asked", argv[0], 0);
		bytes += v.frame.bytes_used;
		if ((r = rkv_imgops_decode_view(ops, &v, &dn)) || (r = rkv_imgops_decode_view(ops, &v, &dr)) ||
		    (r = rkv_imgops_decode_view(ops, &v, &dq)))
			die("cannot decode a frame of %s", argv[0], -r);
		if (!started) { /* a frame well ahead of this one, raw */
			snap.seq = v.frame.seq + 10;
			if (pthread_create(&thr, NULL, snap_thread, &snap))
				die("no thread%s", "", 0);
			started = 1;
		}
		if (!have_kept && v.frame.seq == snap.seq) {
			kept = v;
			have_kept = 1;
			continue;
		}
		/* forged views: what a broken producer could hand out */
		struct rkv_view f = v;
		f.frame.bytes_used = f.capacity + 1;
		if (rkv_imgops_decode_view(ops, &f, &dn) != -EINVAL)
			die("a view beyond its capacity was decoded%s", "", 0);
		f = v;
		f.frame.bytes_used = v.frame.bytes_used / 2;
		if (rkv_imgops_decode_view(ops, &f, &dn) != -EBADMSG)
			die("a truncated JPEG was decoded%s", "", 0);
		f = v;
		f.frame.width = w / 2;
		if (rkv_imgops_decode_view(ops, &f, &dn) != -EBADMSG)
			die("a JPEG whose size is not the descriptor's was decoded%s", "", 0);
		f.data = NULL;
		if (rkv_imgops_decode_view(ops, &f, &dn) != -EINVAL)
			die("a view without data was decoded%s", "", 0);
		rkv_consumer_release(c, &v);
	}
	pthread_join(thr, NULL);
	if (snap.r < 0 || !strstr(snap.reply, "\"ok\":true"))
		die("the raw snapshot failed: %s", snap.r < 0 ? strerror((int)-snap.r) : snap.reply, 0);
	size_t rlen;
	uint8_t *raw = slurp(snap.path, &rlen);
	struct rkv_image ri;
	if (rkv_imgops_image(&ri, RKV_FMT_NV12, w, h, raw, rlen) != (int64_t)rlen)
		die("the raw snapshot %s is not one NV12 frame", snap.path, 0);
	ri.frame.seq = snap.seq;
	verify_pattern(&ri.frame, raw);
	if ((r = rkv_imgops_decode_view(ops, &kept, &dn)))
		die("cannot decode frame %s", "kept", -r);
	printf("{\"frames\":%u,\"width\":%u,\"height\":%u,\"seq\":%" PRIu64 ",\"psnr\":%.2f,"
	       "\"jpeg_bytes\":%" PRIu64 "}\n", frames, w, h, snap.seq, psnr(a, raw, nv12),
	       bytes / frames);
	rkv_consumer_release(c, &kept);
	rkv_consumer_detach(c);
	rkv_imgops_close(ops);
	free(raw);
	free(a);
	free(b);
	free(q);
	return 0;
}

static int cmd_hold(char **argv)
{
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_LATEST };
	rkv_consumer *c;
	struct rkv_view v;
	FILE *f;
	int r = rkv_consumer_attach(argv[0], &o, &c);

	if (r)
		die("cannot attach to %s", argv[0], -r);
	r = rkv_consumer_acquire(c, &v, 10 * 1000000000ll);
	if (r)
		die("no frame from %s", argv[0], -r);
	f = fopen(argv[2], "wb");
	if (!f || fwrite(v.data, 1, v.frame.bytes_used, f) != v.frame.bytes_used || fclose(f))
		die("cannot write %s", argv[2], errno);
	printf("{\"seq\": %" PRIu64 ", \"bytes\": %" PRIu64 "}\n", v.frame.seq, v.frame.bytes_used);
	fflush(stdout);
	usleep((useconds_t)(atof(argv[1]) * 1e6));
	rkv_consumer_release(c, &v);
	rkv_consumer_detach(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "hold"))
		return cmd_hold(argv + 2);
	if (argc == 7 && !strcmp(argv[1], "file"))
		return cmd_file(argv + 2);
	if (argc == 7 && !strcmp(argv[1], "pool"))
		return cmd_pool(argv + 2);
	fprintf(stderr, "usage: imgcheck file IMAGE RAW FOURCC WxH SEQ\n"
			"       imgcheck pool POOL CAMERA WxH FRAMES RAWFILE\n"
			"       imgcheck hold POOL SECONDS RAWFILE\n");
	return 2;
}
