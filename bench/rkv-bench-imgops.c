/* SPDX-License-Identifier: MIT */
/*
 * rkv-bench-imgops - what the image layer's CPU backend costs, each
 * operation measured three ways in the same run on the same machine:
 *
 *   seam     through rkv/imgops.h (a context with the CPU backend);
 *   direct   the same work as bare libyuv / TurboJPEG calls, with no
 *            RKVision code around them: the practical floor;
 *   ffmpeg   the same operation by the ffmpeg program (swscale, and its
 *            mjpeg encoder), one thread, if ffmpeg is installed.
 *
 * Operations, on a 1080p NV12 camera-like picture (gradients, edges and
 * fine texture, so the JPEG encoder has real work):
 *   scale     1080p NV12 -> 640x360 NV12, bilinear
 *   convert   1080p NV12 -> RGB24
 *   jpeg1080  1080p NV12 -> JPEG q80
 *   jpeg360   640x360 I420 -> JPEG q80
 *   preview   1080p NV12 -> 640x360 JPEG q80 (scale, then encode)
 *
 * Figures are CPU time per frame (this thread's, CLOCK_THREAD_CPUTIME_ID;
 * for ffmpeg the child's user + system time), the median of several rounds,
 * so a neighbour on a shared machine that takes the CPU away costs wall
 * time, not the figure. Seam and direct run back to back in each round,
 * and seam/direct is the median of the rounds' own ratios: a neighbour
 * that fights for the memory bus slows both halves of a round alike. ffmpeg's figure is its run's CPU time less that of
 * the same run doing nothing to the frames (reading the raw file and
 * passing the frames to the null muxer), divided by the frame count. Its
 * JPEG quality is set with -q:v 3, about what TurboJPEG's q80 gives.
 *
 *   rkv-bench-imgops [--quick] [--no-ffmpeg] [--rounds N]
 *
 * Targets (printed beside the figures, not asserted): the seam within 10%
 * of the direct call on every operation; at least 2x faster than ffmpeg on
 * scale and preview.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libyuv.h>
#include <turbojpeg.h>

#include <rkv/imgops.h>

extern char **environ;

#define W  1920
#define H  1080
#define SW 640
#define SH 360
#define QUALITY 80

enum { OP_SCALE, OP_CONVERT, OP_JPEG1080, OP_JPEG360, OP_PREVIEW, OPS };

static const char *const op_names[OPS] = {
	"scale 1080p NV12 -> 640x360",
	"convert 1080p NV12 -> RGB24",
	"JPEG 1080p q80 (from NV12)",
	"JPEG 640x360 q80 (from I420)",
	"preview 1080p NV12 -> 640x360 JPEG",
};

/* ---- helpers -------------------------------------------------------------- */

static void die(const char *what, int r)
{
	fprintf(stderr, "rkv-bench-imgops: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("malloc", ENOMEM);
	return p;
}

/* A camera-like 1080p picture: gradients, a few hard edges, and fine
 * texture from a fixed pseudo-random series. */
static void make_scene(uint8_t *y, uint8_t *uv)
{
	uint32_t s = 12345;

	for (int r = 0; r < H; r++)
		for (int c = 0; c < W; c++) {
			int v = 30 + c * 150 / W + r * 40 / H;

			if ((c / 240 + r / 270) % 3 == 0)
				v += 40;
			s = s * 1103515245u + 12345u;
			v += (int)(s >> 28) - 8;
			y[r * W + c] = (uint8_t)(v < 16 ? 16 : v > 235 ? 235 : v);
		}
	for (int r = 0; r < H / 2; r++)
		for (int c = 0; c < W / 2; c++) {
			uv[r * W + 2 * c] = (uint8_t)(100 + c * 60 / (W / 2));
			uv[r * W + 2 * c + 1] = (uint8_t)(150 - r * 50 / (H / 2));
		}
}

/* ---- the work, both ways ---------------------------------------------------- */

struct bufs {
	/* source */
	uint8_t *nv12;
	struct rkv_image src1080;
	/* destinations */
	uint8_t *small_nv12, *small_i420, *rgb, *i420_1080, *jpeg;
	struct rkv_image small_nv12_im, small_i420_im, rgb_im, jpeg_im;
	unsigned long jpeg_cap;
	unsigned long last_len[2][OPS];
	rkv_imgops *ctx;
	tjhandle tj;
};

static unsigned long direct_jpeg(struct bufs *b, const uint8_t *y, const uint8_t *u,
				 const uint8_t *v, int w, int h)
{
	const unsigned char *planes[3] = { y, u, v };
	int strides[3] = { w, w / 2, w / 2 };
	unsigned char *out = b->jpeg;
	unsigned long len = b->jpeg_cap;

	if (tjCompressFromYUVPlanes(b->tj, planes, w, strides, h, TJSAMP_420, &out, &len, QUALITY,
				    TJFLAG_NOREALLOC) != 0)
		die("tjCompressFromYUVPlanes", EINVAL);
	return len;
}

static unsigned long run_direct(struct bufs *b, int op)
{
	const uint8_t *y = b->nv12, *uv = b->nv12 + W * H;
	uint8_t *sy = b->small_nv12, *suv = b->small_nv12 + SW * SH;
	uint8_t *iy = b->small_i420, *iu = iy + SW * SH, *iv = iu + SW * SH / 4;
	uint8_t *ly = b->i420_1080, *lu = ly + W * H, *lv = lu + W * H / 4;

	switch (op) {
	case OP_SCALE:
		NV12Scale(y, W, uv, W, W, H, sy, SW, suv, SW, SW, SH, kFilterBilinear);
		return 0;
	case OP_CONVERT:
		NV12ToRAW(y, W, uv, W, b->rgb, W * 3, W, H);
		return 0;
	case OP_JPEG1080:
		NV12ToI420(y, W, uv, W, ly, W, lu, W / 2, lv, W / 2, W, H);
		return direct_jpeg(b, ly, lu, lv, W, H);
	case OP_JPEG360:
		return direct_jpeg(b, iy, iu, iv, SW, SH);
	default: /* OP_PREVIEW */
		NV12Scale(y, W, uv, W, W, H, sy, SW, suv, SW, SW, SH, kFilterBilinear);
		NV12ToI420(sy, SW, suv, SW, iy, SW, iu, SW / 2, iv, SW / 2, SW, SH);
		return direct_jpeg(b, iy, iu, iv, SW, SH);
	}
}

static unsigned long run_seam(struct bufs *b, int op)
{
	struct rkv_jpeg_params q = { .quality = QUALITY };
	int r = 0;

	b->jpeg_im.capacity = b->jpeg_cap;
	switch (op) {
	case OP_SCALE:
		r = rkv_imgops_transform(b->ctx, &b->src1080, &b->small_nv12_im, NULL);
		break;
	case OP_CONVERT:
		r = rkv_imgops_transform(b->ctx, &b->src1080, &b->rgb_im, NULL);
		break;
	case OP_JPEG1080:
		r = rkv_imgops_jpeg_encode(b->ctx, &b->src1080, &b->jpeg_im, &q);
		break;
	case OP_JPEG360:
		r = rkv_imgops_jpeg_encode(b->ctx, &b->small_i420_im, &b->jpeg_im, &q);
		break;
	default: /* OP_PREVIEW */
		r = rkv_imgops_transform(b->ctx, &b->src1080, &b->small_i420_im, NULL);
		if (r == 0)
			r = rkv_imgops_jpeg_encode(b->ctx, &b->small_i420_im, &b->jpeg_im, &q);
		break;
	}
	if (r < 0)
		die(op_names[op], r);
	return op >= OP_JPEG1080 ? (unsigned long)b->jpeg_im.frame.bytes_used : 0;
}

/* ---- ffmpeg ------------------------------------------------------------------ */

/* Run ffmpeg with @args (after the input options) over @frames frames of
 * @path; its CPU time in ns, or a negative value when it failed. */
static double ffmpeg_cpu(const char *path, int w, int h, const char *pix, int frames,
			 const char *const *args)
{
	char size[32], nfr[16];
	const char *argv[48];
	int n = 0, status;
	struct rusage ru;
	pid_t pid;

	snprintf(size, sizeof(size), "%dx%d", w, h);
	snprintf(nfr, sizeof(nfr), "%d", frames);
	const char *head[] = { "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
			       "-threads", "1", "-filter_threads", "1", "-f", "rawvideo",
			       "-pix_fmt", pix, "-s", size, "-i", path, "-frames:v", nfr };
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		argv[n++] = head[i];
	for (int i = 0; args[i] && n < 44; i++)
		argv[n++] = args[i];
	argv[n++] = "-threads";
	argv[n++] = "1";
	argv[n++] = "-f";
	argv[n++] = "null";
	argv[n++] = "-";
	argv[n] = NULL;
	if (posix_spawnp(&pid, "ffmpeg", NULL, NULL, (char *const *)argv, environ) != 0)
		return -1;
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static int write_frames(const char *path, const uint8_t *frame, size_t len, int frames)
{
	FILE *f = fopen(path, "wb");
	int ok = f != NULL;

	for (int i = 0; ok && i < frames; i++)
		ok = fwrite(frame, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* ffmpeg's CPU time per frame for each operation (ms; < 0: not measured). */
static void measure_ffmpeg(const struct bufs *b, int frames, int rounds, double out[OPS])
{
	char big[] = "/tmp/rkv-bench-imgops-XXXXXX", small[64];
	int fd = mkstemp(big);
	static const char *const none[] = { NULL };
	static const char *const scale[] = { "-vf", "scale=640:360:flags=bilinear", "-pix_fmt",
					     "nv12", NULL };
	static const char *const convert[] = { "-pix_fmt", "rgb24", NULL };
	static const char *const mjpeg[] = { "-pix_fmt", "yuv420p", "-strict", "-1", "-c:v",
					     "mjpeg", "-q:v", "3", NULL };
	static const char *const preview[] = { "-vf", "scale=640:360:flags=bilinear", "-pix_fmt",
					       "yuv420p", "-strict", "-1", "-c:v", "mjpeg", "-q:v",
					       "3", NULL };

	for (int i = 0; i < OPS; i++)
		out[i] = -1;
	if (fd < 0)
		return;
	close(fd);
	snprintf(small, sizeof(small), "%s.i420", big);
	if (write_frames(big, b->nv12, (size_t)W * H * 3 / 2, frames) < 0 ||
	    write_frames(small, b->small_i420, (size_t)SW * SH * 3 / 2, frames) < 0)
		goto done;

	double *v[OPS];
	for (int i = 0; i < OPS; i++)
		v[i] = xmalloc(sizeof(double) * (size_t)rounds);
	int ok = 1;
	for (int r = 0; r < rounds && ok; r++) {
		double base = ffmpeg_cpu(big, W, H, "nv12", frames, none);
		double base_s = ffmpeg_cpu(small, SW, SH, "yuv420p", frames, none);
		double t[OPS] = {
			ffmpeg_cpu(big, W, H, "nv12", frames, scale),
			ffmpeg_cpu(big, W, H, "nv12", frames, convert),
			ffmpeg_cpu(big, W, H, "nv12", frames, mjpeg),
			ffmpeg_cpu(small, SW, SH, "yuv420p", frames, mjpeg),
			ffmpeg_cpu(big, W, H, "nv12", frames, preview),
		};
		ok = base >= 0 && base_s >= 0;
		for (int i = 0; i < OPS && ok; i++) {
			ok = t[i] >= 0;
			v[i][r] = (t[i] - (i == OP_JPEG360 ? base_s : base)) / frames / 1e6;
		}
	}
	for (int i = 0; i < OPS; i++) {
		if (ok)
			out[i] = median(v[i], rounds);
		free(v[i]);
	}
done:
	unlink(big);
	unlink(small);
}

/* ---- main ------------------------------------------------------------------- */

static void machine(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown CPU");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			char *m = strchr(line, ':') + 2;

			m[strcspn(m, "\n")] = '\0';
			snprintf(buf, len, "%s", m);
			break;
		}
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	int rounds = 15, iters = 3, frames = 60, use_ffmpeg = 1;
	double block_ms = 25;
	struct bufs b;
	char cpu[160];
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			rounds = 3;
			iters = 2;
			block_ms = 5;
			frames = 10;
		} else if (!strcmp(argv[i], "--no-ffmpeg")) {
			use_ffmpeg = 0;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
			if (rounds < 1)
				rounds = 1;
		} else {
			fprintf(stderr, "usage: rkv-bench-imgops [--quick] [--no-ffmpeg] [--rounds N]\n");
			return 2;
		}
	}

	memset(&b, 0, sizeof(b));
	b.nv12 = xmalloc((size_t)W * H * 3 / 2);
	b.small_nv12 = xmalloc((size_t)SW * SH * 3 / 2);
	b.small_i420 = xmalloc((size_t)SW * SH * 3 / 2);
	b.i420_1080 = xmalloc((size_t)W * H * 3 / 2);
	b.rgb = xmalloc((size_t)W * H * 3);
	b.jpeg_cap = tjBufSize(W, H, TJSAMP_420);
	b.jpeg = tjAlloc((int)b.jpeg_cap);
	b.tj = tjInitCompress();
	if (!b.jpeg || !b.tj)
		die("TurboJPEG", ENOMEM);
	make_scene(b.nv12, b.nv12 + W * H);
	rkv_imgops_image(&b.src1080, RKV_FMT_NV12, W, H, b.nv12, (uint64_t)W * H * 3 / 2);
	rkv_imgops_image(&b.small_nv12_im, RKV_FMT_NV12, SW, SH, b.small_nv12,
			 (uint64_t)SW * SH * 3 / 2);
	rkv_imgops_image(&b.small_i420_im, RKV_FMT_I420, SW, SH, b.small_i420,
			 (uint64_t)SW * SH * 3 / 2);
	rkv_imgops_image(&b.rgb_im, RKV_FMT_RGB24, W, H, b.rgb, (uint64_t)W * H * 3);
	rkv_imgops_image(&b.jpeg_im, RKV_FMT_JPEG, 0, 0, b.jpeg, b.jpeg_cap);
	struct rkv_imgops_config cfg = { .size = sizeof(cfg), .backend = "cpu" };
	if ((r = rkv_imgops_open(&cfg, &b.ctx)) < 0)
		die("rkv_imgops_open", r);
	/* The 640x360 I420 picture jpeg360 encodes (and ffmpeg reads). */
	if ((r = rkv_imgops_transform(b.ctx, &b.src1080, &b.small_i420_im, NULL)) < 0)
		die("preparing the 640x360 picture", r);

	machine(cpu, sizeof(cpu));
	printf("rkv-bench-imgops: %s, %ld cores online; CPU time per frame, median of %d rounds\n",
	       cpu, sysconf(_SC_NPROCESSORS_ONLN), rounds);

	/* Seam and direct alternate round by round, so both see the same
	 * machine; each warms the caches with one call before it is timed. */
	double seam[OPS], direct[OPS], ratio[OPS], ff[OPS];
	double *rv = xmalloc(sizeof(double) * (size_t)rounds);
	double *sv = xmalloc(sizeof(double) * (size_t)rounds);
	double *dv = xmalloc(sizeof(double) * (size_t)rounds);
	for (int op = 0; op < OPS; op++) {
		/* Enough calls for a round to last about @block_ms, so timer
		 * ticks and interrupts are lost in it. */
		double t0 = cpu_ns();
		run_direct(&b, op);
		run_direct(&b, op);
		double one = (cpu_ns() - t0) / 2 / 1e6;
		int n = one > 0 ? (int)(block_ms / one) : iters;

		if (n < iters)
			n = iters;
		if (n > 2000)
			n = 2000;
		for (int k = 0; k < rounds; k++) {
			/* Who goes first changes every round: the first of the two
			 * finds the caches as the last operation left them. */
			for (int w = 0; w < 2; w++) {
				int seam_now = (k + w) % 2 == 0;
				double start;

				b.last_len[seam_now ? 0 : 1][op] =
					seam_now ? run_seam(&b, op) : run_direct(&b, op);
				start = cpu_ns();
				for (int i = 0; i < n; i++)
					seam_now ? run_seam(&b, op) : run_direct(&b, op);
				(seam_now ? sv : dv)[k] = (cpu_ns() - start) / n / 1e6;
			}
		}
		/* The ratio of each round's pair, whose two halves ran back to
		 * back under the same load, then the median of those. */
		for (int k = 0; k < rounds; k++)
			rv[k] = sv[k] / dv[k];
		ratio[op] = median(rv, rounds);
		seam[op] = median(sv, rounds);
		direct[op] = median(dv, rounds);
	}
	free(sv);
	free(dv);
	free(rv);
	for (int op = 0; op < OPS; op++)
		ff[op] = -1;
	if (use_ffmpeg)
		measure_ffmpeg(&b, frames, rounds < 5 ? rounds : 5, ff);

	printf("\n%-36s %9s %9s %8s %9s %9s\n", "operation", "seam ms", "direct ms", "seam/dir",
	       "ffmpeg ms", "ffmpeg/seam");
	for (int op = 0; op < OPS; op++) {
		printf("%-36s %9.3f %9.3f %8.3f", op_names[op], seam[op], direct[op], ratio[op]);
		if (ff[op] > 0)
			printf(" %9.3f %8.2fx", ff[op], ff[op] / seam[op]);
		else
			printf(" %9s %9s", "-", "-");
		if (b.last_len[0][op])
			printf("   (JPEG %lu bytes seam, %lu direct)", b.last_len[0][op],
			       b.last_len[1][op]);
		printf("\n");
	}
	printf("\ntargets: seam/direct <= 1.10 on every operation; ffmpeg/seam >= 2 on scale and "
	       "preview\n");
	int met = 1;
	for (int op = 0; op < OPS; op++)
		met &= ratio[op] <= 1.10;
	printf("  seam within 10%% of direct: %s\n", met ? "met" : "NOT met");
	if (ff[OP_SCALE] > 0 && ff[OP_PREVIEW] > 0)
		printf("  2x ffmpeg on scale and preview: %s\n",
		       ff[OP_SCALE] / seam[OP_SCALE] >= 2 && ff[OP_PREVIEW] / seam[OP_PREVIEW] >= 2
			       ? "met"
			       : "NOT met");
	else
		printf("  ffmpeg: %s\n", use_ffmpeg ? "not found or failed; not compared" : "skipped");

	rkv_imgops_close(b.ctx);
	tjDestroy(b.tj);
	tjFree(b.jpeg);
	free(b.nv12);
	free(b.small_nv12);
	free(b.small_i420);
	free(b.i420_1080);
	free(b.rgb);
	return 0;
}
