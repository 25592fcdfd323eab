/* SPDX-License-Identifier: MIT */
/*
 * preview_check - preview_test.py's eyes: takes JPEG frames from a
 * camera's preview pool, decodes each with the image layer and says what
 * it found, one JSON object a line.
 *
 *   preview_check POOL.preview --frames N [--full POOL] [--rotate DEG]
 *                 [--flip h|v|hv] [--hold-ms MS] [--seconds S] [--skip-rows N]
 *
 * For every preview frame: seq, width, height, bytes, whether it decoded,
 * the luma's standard deviation (a picture, not a flat field) and, with
 * --full, the PSNR of its luma against the CPU backend's own downscale of
 * the same full-resolution frame (found by seq among the camera pool's
 * recent frames, which this copies as they come), over the rows from
 * --skip-rows on (a timestamp's box above them). --hold-ms keeps each
 * preview frame that long before releasing it: a slow consumer.
 * Exit status: 0, 1 (an error: said on stderr), 2 (usage).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rkv/imgops.h>
#include <rkv/pool.h>

#define RING 16

struct copy {
	uint64_t seq;
	int used;
	struct rkv_frame frame;
	uint8_t *data;
	uint64_t cap;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000) };

	nanosleep(&ts, NULL);
}

/* Copy every frame waiting in the camera's pool into the ring. */
static void drain(rkv_consumer *full, struct copy *ring, unsigned *next)
{
	struct rkv_view v;

	while (full && rkv_consumer_acquire(full, &v, 0) == 0) {
		struct copy *c = &ring[*next % RING];
		(*next)++;
		if (c->cap < v.frame.bytes_used) {
			free(c->data);
			c->data = malloc(v.frame.bytes_used);
			c->cap = c->data ? v.frame.bytes_used : 0;
		}
		if (c->data) {
			memcpy(c->data, v.data, v.frame.bytes_used);
			c->frame = v.frame;
			c->seq = v.frame.seq;
			c->used = 1;
		}
		rkv_consumer_release(full, &v);
	}
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
	double se = 0;

	for (size_t i = 0; i < n; i++)
		se += (double)(a[i] - b[i]) * (a[i] - b[i]);
	return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
}

static double stddev(const uint8_t *a, size_t n)
{
	double s = 0, s2 = 0;

	for (size_t i = 0; i < n; i++) {
		s += a[i];
		s2 += (double)a[i] * a[i];
	}
	return sqrt(s2 / (double)n - (s / (double)n) * (s / (double)n));
}

int main(int argc, char **argv)
{
	const char *pool = NULL, *full_pool = NULL;
	uint32_t frames = 10, rotate = 0, flip = 0, hold_ms = 0, seconds = 20, skip = 0;
	struct copy ring[RING];
	unsigned next = 0;
	rkv_consumer *pc = NULL, *full = NULL;
	rkv_imgops *ops = NULL;
	char err[256] = "";
	int r, result = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (a[0] != '-' && !pool) {
			pool = a;
			continue;
		}
		if (!v)
			goto usage;
		if (!strcmp(a, "--frames"))
			frames = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--full"))
			full_pool = v;
		else if (!strcmp(a, "--rotate"))
			rotate = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--flip"))
			flip = (strchr(v, 'h') ? RKV_FLIP_H : 0) | (strchr(v, 'v') ? RKV_FLIP_V : 0);
		else if (!strcmp(a, "--hold-ms"))
			hold_ms = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--seconds"))
			seconds = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--skip-rows"))
			skip = (uint32_t)strtoul(v, NULL, 10);
		else
			goto usage;
		i++;
	}
	if (!pool)
		goto usage;
	memset(ring, 0, sizeof(ring));
	struct rkv_imgops_config ic = { .size = sizeof(ic), .backend = "cpu" };
	r = rkv_imgops_open(&ic, &ops);
	if (r) {
		fprintf(stderr, "preview_check: imgops: %s\n", strerror(-r));
		return 1;
	}
	if (full_pool) {
		struct rkv_consumer_opts fo = { .policy = RKV_POLICY_DROP, .queue_depth = 4,
						.label = "preview_check full", .errbuf = err,
						.errbuf_len = sizeof(err) };
		r = rkv_consumer_attach(full_pool, &fo, &full);
		if (r) {
			fprintf(stderr, "preview_check: %s: %s\n", full_pool, err[0] ? err : strerror(-r));
			rkv_imgops_close(ops);
			return 1;
		}
	}
	struct rkv_consumer_opts po = { .policy = RKV_POLICY_LATEST, .label = "preview_check",
					.errbuf = err, .errbuf_len = sizeof(err) };
	r = rkv_consumer_attach(pool, &po, &pc);
	if (r) {
		fprintf(stderr, "preview_check: %s: %s\n", pool, err[0] ? err : strerror(-r));
		rkv_consumer_detach(full);
		rkv_imgops_close(ops);
		return 1;
	}
	int64_t end = now_ns() + (int64_t)seconds * 1000000000;
	uint32_t got = 0;
	while (got < frames && now_ns() < end) {
		struct rkv_view v;
		drain(full, ring, &next);
		r = rkv_consumer_acquire(pc, &v, 0);
		if (r == -EAGAIN) {
			sleep_ns(2000000);
			continue;
		}
		if (r) {
			fprintf(stderr, "preview_check: %s: %s\n", pool, strerror(-r));
			result = 1;
			break;
		}
		drain(full, ring, &next); /* the full frame came before its preview */
		got++;
		uint32_t w = 0, h = 0;
		int ok = v.frame.fourcc == RKV_FMT_JPEG &&
			 rkv_imgops_jpeg_size(ops, v.data, v.frame.bytes_used, &w, &h) == 0 &&
			 w == v.frame.width && h == v.frame.height;
		double sd = -1, ps = -1;
		uint8_t *y = NULL, *ref = NULL;
		if (ok) {
			uint64_t len = (uint64_t)w * h * 3 / 2;
			struct rkv_image src, dst;
			y = malloc(len);
			ref = malloc(len);
			rkv_imgops_image(&src, RKV_FMT_JPEG, w, h, (void *)v.data, v.frame.bytes_used);
			rkv_imgops_image(&dst, RKV_FMT_I420, w, h, y, len);
			ok = y && ref && rkv_imgops_jpeg_decode(ops, &src, &dst) == 0;
			if (ok)
				sd = stddev(y, (size_t)w * h);
			for (int k = 0; ok && full && k < RING; k++) {
				if (!ring[k].used || ring[k].seq != v.frame.seq)
					continue;
				struct rkv_image fs = { .frame = ring[k].frame, .data = ring[k].data,
							.capacity = ring[k].cap, .fd = -1 };
				struct rkv_image rd;
				struct rkv_transform t = { .rotate = rotate, .flip = flip,
							   .filter = RKV_FILTER_BOX };
				rkv_imgops_image(&rd, RKV_FMT_I420, w, h, ref, len);
				if (rkv_imgops_transform(ops, &fs, &rd, &t) == 0 && skip < h)
					ps = psnr(y + (size_t)skip * w, ref + (size_t)skip * w,
						  (size_t)w * (h - skip));
			}
		}
		printf("{\"seq\":%llu,\"width\":%u,\"height\":%u,\"bytes\":%llu,\"decoded\":%s,"
		       "\"stddev\":%.2f,\"psnr\":%.2f}\n",
		       (unsigned long long)v.frame.seq, v.frame.width, v.frame.height,
		       (unsigned long long)v.frame.bytes_used, ok ? "true" : "false", sd, ps);
		fflush(stdout);
		free(y);
		free(ref);
		if (hold_ms)
			sleep_ns((int64_t)hold_ms * 1000000);
		rkv_consumer_release(pc, &v);
	}
	for (int k = 0; k < RING; k++)
		free(ring[k].data);
	rkv_consumer_detach(pc);
	rkv_consumer_detach(full);
	rkv_imgops_close(ops);
	return result;
usage:
	fprintf(stderr, "usage: preview_check POOL --frames N [--full POOL] [--rotate DEG] "
		"[--flip h|v|hv] [--hold-ms MS] [--seconds S] [--skip-rows N]\n");
	return 2;
}
