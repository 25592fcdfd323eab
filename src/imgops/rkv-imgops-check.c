/* SPDX-License-Identifier: MIT */
/*
 * rkv-imgops-check - the one command a board owner runs to check the
 * hardware image backends: it opens the rga and mpp backends (printing
 * each probe's result), runs each hardware operation on a test picture
 * through the hardware backend and through the CPU backend, compares the
 * two and prints both speeds.
 *
 *   rkv-imgops-check [--size WxH] [--runs N] [--backend rga|mpp|all]
 *                    [--heap PATH | --memfd | --no-dmabuf]
 *
 * Pictures live in DMA-BUFs from a dma-heap when the board has one
 * (/dev/dma_heap/system-dma32, else /dev/dma_heap/system; --heap names
 * another), so the zero-copy import path is the one checked; --no-dmabuf
 * uses plain memory (import by address), --memfd memfds (the test suite's
 * stand-ins take those as DMA-BUFs; real drivers do not).
 *
 * Comparisons: a crop, a rotation and a flip must give the CPU's bytes
 * exactly; a scale and a YUV to RGB conversion must come within a PSNR of
 * the CPU's (30 dB and 35 dB: RGA filters and rounds its own way); a JPEG
 * is decoded and must be within 3 dB of the CPU's JPEG in PSNR against
 * the source picture. An operation the hardware backend hands to the CPU
 * is a failure too (the line says why).
 *
 * Exit: 0 when every operation of every backend that probed well passed,
 * 1 when one failed, 2 for a usage error, 77 when no backend asked for
 * could be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>

#include <rkv/imgops.h>

enum mem { MEM_PLAIN, MEM_MEMFD, MEM_HEAP };

static enum mem mem = MEM_HEAP;
static const char *heap;
static int runs = 10;

/* ---- pictures ------------------------------------------------------------- */

struct pic {
	struct rkv_image im;
	uint8_t *p;
	size_t len;
	int fd;
	enum mem kind;
};

static int pic_alloc(struct pic *x, size_t len, enum mem kind)
{
	x->len = len;
	x->fd = -1;
	x->kind = kind;
	if (kind == MEM_PLAIN) {
		x->p = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
		return x->p ? 0 : -ENOMEM;
	}
	if (kind == MEM_MEMFD) {
		x->fd = memfd_create("rkv-imgops-check", MFD_CLOEXEC);
		if (x->fd < 0 || ftruncate(x->fd, (off_t)len) < 0)
			return -errno;
	} else {
		struct dma_heap_allocation_data a = { .len = len, .fd_flags = O_RDWR | O_CLOEXEC };
		int h = open(heap, O_RDWR | O_CLOEXEC);

		if (h < 0)
			return -errno;
		if (ioctl(h, DMA_HEAP_IOCTL_ALLOC, &a) < 0) {
			int e = errno;

			close(h);
			return -e;
		}
		close(h);
		x->fd = (int)a.fd;
	}
	x->p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
	if (x->p == MAP_FAILED) {
		x->p = NULL;
		return -errno;
	}
	return 0;
}

static void pic_free(struct pic *x)
{
	if (x->kind == MEM_PLAIN) {
		free(x->p);
	} else {
		if (x->p)
			munmap(x->p, x->len);
		if (x->fd >= 0)
			close(x->fd);
	}
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

/* CPU access to a DMA-BUF is bracketed so its caches agree with devices. */
static void cpu_access(const struct pic *x, int begin)
{
	struct dma_buf_sync s = {
		.flags = (begin ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END) | DMA_BUF_SYNC_RW,
	};

	if (x->kind == MEM_HEAP && x->fd >= 0)
		ioctl(x->fd, DMA_BUF_IOCTL_SYNC, &s);
}

/* A raw picture laid out as RGA and MPP want it: 64-byte strides (24-bit
 * RGB: a multiple of 16 pixels), 16-row planes, in memory of @kind. */
static int pic_raw(struct pic *x, uint32_t fourcc, uint32_t w, uint32_t h, enum mem kind)
{
	struct rkv_frame f;
	int64_t n;
	int r;

	if (fourcc == RKV_FMT_RGB24) {
		n = rkv_frame_layout(&f, fourcc, w, h, 1);
		if (n < 0)
			return (int)n;
		f.planes[0].stride = ((w + 15) & ~15u) * 3;
		f.planes[0].size = (uint64_t)f.planes[0].stride * h;
		f.bytes_used = f.planes[0].size;
		n = (int64_t)f.bytes_used;
	} else {
		n = rkv_frame_layout_aligned(&f, fourcc, w, h, 64, 16, 1);
		if (n < 0)
			return (int)n;
	}
	if ((r = pic_alloc(x, (size_t)n, kind)) < 0)
		return r;
	memset(&x->im, 0, sizeof(x->im));
	x->im.frame = f;
	x->im.data = x->p;
	x->im.capacity = (uint64_t)n;
	x->im.fd = x->fd;
	return 0;
}

static int pic_jpeg(struct pic *x, uint32_t w, uint32_t h)
{
	size_t n = (size_t)rkv_imgops_jpeg_bound(w, h);
	int r;

	x->fd = -1;
	x->kind = MEM_PLAIN;
	x->len = n;
	x->p = malloc(n);
	if (!x->p)
		return -ENOMEM;
	r = (int)rkv_imgops_image(&x->im, RKV_FMT_JPEG, 0, 0, x->p, n);
	return r < 0 ? r : 0;
}

/* The test picture: gradients, a grid and fine detail, so that scaling,
 * conversion and compression all have something to get wrong. */
static void fill_nv12(struct pic *x)
{
	const struct rkv_frame *f = &x->im.frame;
	uint8_t *y = x->p + f->planes[0].offset, *uv = x->p + f->planes[1].offset;

	cpu_access(x, 1);
	for (uint32_t r = 0; r < f->height; r++)
		for (uint32_t c = 0; c < f->width; c++) {
			unsigned v = 16 + (c * 200 / f->width + r * 19 / f->height);

			if (c % 64 < 2 || r % 64 < 2)
				v = 235;
			else if ((c / 8 + r / 8) % 2 && c > f->width / 2 && r > f->height / 2)
				v = (v + 80) % 220 + 16;
			y[(size_t)r * f->planes[0].stride + c] = (uint8_t)v;
		}
	for (uint32_t r = 0; r < f->height / 2; r++)
		for (uint32_t c = 0; c < f->width / 2; c++) {
			uv[(size_t)r * f->planes[1].stride + 2 * c] = (uint8_t)(16 + c * 224 / (f->width / 2));
			uv[(size_t)r * f->planes[1].stride + 2 * c + 1] =
				(uint8_t)(16 + r * 224 / (f->height / 2));
		}
	cpu_access(x, 0);
}

/* Squared error and samples over the pixels of two raw pictures alike. */
static double psnr(const struct pic *a, const struct pic *b)
{
	const struct rkv_frame *f = &a->im.frame;
	double se = 0, n = 0;

	for (uint32_t p = 0; p < f->num_planes; p++) {
		uint32_t row = f->width, rows = f->height;

		if (f->fourcc == RKV_FMT_RGB24)
			row = 3 * f->width;
		else if (p && f->fourcc == RKV_FMT_I420)
			row /= 2;
		if (p && f->fourcc != RKV_FMT_RGB24)
			rows /= 2;
		for (uint32_t r = 0; r < rows; r++) {
			const uint8_t *x = a->p + f->planes[p].offset + (size_t)r * f->planes[p].stride;
			const uint8_t *y = b->p + b->im.frame.planes[p].offset +
					   (size_t)r * b->im.frame.planes[p].stride;

			for (uint32_t c = 0; c < row; c++) {
				double d = (double)x[c] - (double)y[c];

				se += d * d;
			}
			n += row;
		}
	}
	return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 * n / se);
}

/* ---- timing -------------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One operation on a context, as the harness runs it. */
struct op {
	const char *name;
	uint32_t dst_fourcc, dw, dh; /* 0 fourcc: JPEG */
	struct rkv_transform t;
	double min_psnr;             /* INFINITY: exact; 0: JPEG rule */
};

static int run(rkv_imgops *ctx, const struct op *o, struct pic *src, struct pic *dst)
{
	static const struct rkv_jpeg_params q = { .quality = 80 };

	if (!o->dst_fourcc)
		return rkv_imgops_jpeg_encode(ctx, &src->im, &dst->im, &q);
	return rkv_imgops_transform(ctx, &src->im, &dst->im, &o->t);
}

/* Median milliseconds of @runs calls of @o on @ctx; *@err: the first error. */
static double timed(rkv_imgops *ctx, const struct op *o, struct pic *src, struct pic *dst,
		    int cpu, int *err)
{
	double t[256];
	int n = runs < 256 ? runs : 256;

	*err = 0;
	for (int i = 0; i < n; i++) {
		double t0;
		int r;

		if (cpu) {
			cpu_access(src, 1);
			cpu_access(dst, 1);
		}
		t0 = now_ms();
		r = run(ctx, o, src, dst);
		t[i] = now_ms() - t0;
		if (cpu) {
			cpu_access(dst, 0);
			cpu_access(src, 0);
		}
		if (r < 0 && !*err)
			*err = r;
	}
	qsort(t, (size_t)n, sizeof(t[0]), cmp_double);
	return t[n / 2];
}

static const char *const why_names[] = { "no such method", "format", "size", "alignment",
					 "memory", "parameters", "other" };

/* Decode @jpeg into I420 @out with the CPU. */
static int decode(rkv_imgops *cpu, struct pic *jpeg, struct pic *out)
{
	return rkv_imgops_jpeg_decode(cpu, &jpeg->im, &out->im);
}

/* Run @o through @hw and @cpu and compare; 0 when it passed. */
static int check_op(const char *bname, rkv_imgops *hw, rkv_imgops *cpu, const struct op *o,
		    struct pic *src)
{
	struct pic a = { .fd = -1 }, b = { .fd = -1 }, da = { .fd = -1 }, db = { .fd = -1 },
		   s420 = { .fd = -1 }; /* MEM_PLAIN, nothing held: pic_free is a no-op */
	struct rkv_imgops_stats s0, s1;
	uint32_t opi = o->dst_fourcc ? RKV_IMGOPS_OP_TRANSFORM : RKV_IMGOPS_OP_JPEG_ENCODE;
	double ms_hw, ms_cpu, score = 0;
	char cmp[96] = "";
	int err, pass = 0, r;

	if (o->dst_fourcc)
		r = pic_raw(&a, o->dst_fourcc, o->dw, o->dh, mem) < 0 ? -1
		    : pic_raw(&b, o->dst_fourcc, o->dw, o->dh, mem);
	else
		r = pic_jpeg(&a, src->im.frame.width, src->im.frame.height) < 0 ? -1
		    : pic_jpeg(&b, src->im.frame.width, src->im.frame.height);
	if (r < 0) {
		printf("%-34s %-4s cannot allocate the destination\n", o->name, bname);
		goto out;
	}
	rkv_imgops_stats(hw, &s0, sizeof(s0));
	ms_hw = timed(hw, o, src, &a, 0, &err);
	rkv_imgops_stats(hw, &s1, sizeof(s1));
	if (err < 0) {
		printf("%-34s %-4s error: %s\n", o->name, bname, strerror(-err));
		goto out;
	}
	if (s1.done_by[0][opi] - s0.done_by[0][opi] != (uint64_t)runs) {
		const char *why = "?";

		for (uint32_t w = 0; w < sizeof(why_names) / sizeof(why_names[0]); w++)
			if (s1.reasons[w] != s0.reasons[w])
				why = why_names[w];
		printf("%-34s %-4s refused by the backend (%s): the CPU did it\n", o->name, bname,
		       why);
		goto out;
	}
	ms_cpu = timed(cpu, o, src, &b, 1, &err);
	if (err < 0) {
		printf("%-34s cpu  error: %s\n", o->name, strerror(-err));
		goto out;
	}
	cpu_access(&a, 1);
	cpu_access(&b, 1);
	if (o->dst_fourcc) {
		score = psnr(&a, &b);
		if (isinf(score))
			snprintf(cmp, sizeof(cmp), "identical");
		else
			snprintf(cmp, sizeof(cmp), "PSNR %.1f dB (%s %.0f)", score,
				 isinf(o->min_psnr) ? "must be identical" : "min",
				 isinf(o->min_psnr) ? 0.0 : o->min_psnr);
		pass = score >= o->min_psnr;
	} else if (a.im.frame.bytes_used == b.im.frame.bytes_used &&
		   memcmp(a.p, b.p, a.im.frame.bytes_used) == 0) {
		snprintf(cmp, sizeof(cmp), "identical (%llu bytes)",
			 (unsigned long long)a.im.frame.bytes_used);
		pass = 1;
	} else {
		uint32_t w = src->im.frame.width, h = src->im.frame.height;
		double pa, pb;

		/* Decoded pictures are the CPU's alone: plain memory. */
		if (pic_raw(&da, RKV_FMT_I420, w, h, MEM_PLAIN) < 0 ||
		    pic_raw(&db, RKV_FMT_I420, w, h, MEM_PLAIN) < 0 ||
		    pic_raw(&s420, RKV_FMT_I420, w, h, MEM_PLAIN) < 0 || decode(cpu, &a, &da) < 0 ||
		    decode(cpu, &b, &db) < 0 ||
		    rkv_imgops_transform(cpu, &src->im, &s420.im, NULL) < 0) {
			snprintf(cmp, sizeof(cmp), "the JPEG does not decode");
		} else {
			pa = psnr(&da, &s420);
			pb = psnr(&db, &s420);
			snprintf(cmp, sizeof(cmp), "PSNR %.1f dB vs cpu %.1f dB, %llu vs %llu bytes", pa,
				 pb, (unsigned long long)a.im.frame.bytes_used,
				 (unsigned long long)b.im.frame.bytes_used);
			pass = pa >= pb - 3;
		}
	}
	cpu_access(&b, 0);
	cpu_access(&a, 0);
	printf("%-34s %-4s %8.3f ms  cpu %8.3f ms  %s: %s\n", o->name, bname, ms_hw, ms_cpu, cmp,
	       pass ? "pass" : "FAIL");
out:
	pic_free(&a);
	pic_free(&b);
	pic_free(&da);
	pic_free(&db);
	pic_free(&s420);
	return pass ? 0 : -1;
}

/* ---- main ------------------------------------------------------------------ */

static int usage(void)
{
	fprintf(stderr, "usage: rkv-imgops-check [--size WxH] [--runs N] [--backend rga|mpp|all]\n"
			"                        [--heap PATH | --memfd | --no-dmabuf]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *want = "all";
	uint32_t W = 1920, H = 1080;
	struct rkv_imgops_config cc = { .size = sizeof(cc), .backend = "cpu" };
	rkv_imgops *cpu;
	struct pic src = { .fd = -1 };
	int opened = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			if (sscanf(argv[++i], "%ux%u", &W, &H) != 2 || W < 64 || H < 64 || W > 8192 ||
			    H > 8192 || W % 2 || H % 2)
				return usage();
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = atoi(argv[++i]);
			if (runs < 1 || runs > 256)
				return usage();
		} else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			want = argv[++i];
			if (strcmp(want, "rga") && strcmp(want, "mpp") && strcmp(want, "all"))
				return usage();
		} else if (!strcmp(argv[i], "--heap") && i + 1 < argc) {
			heap = argv[++i];
		} else if (!strcmp(argv[i], "--memfd")) {
			mem = MEM_MEMFD;
		} else if (!strcmp(argv[i], "--no-dmabuf")) {
			mem = MEM_PLAIN;
		} else {
			return usage();
		}
	}
	if (mem == MEM_HEAP && !heap)
		heap = access("/dev/dma_heap/system-dma32", R_OK | W_OK) == 0 ? "/dev/dma_heap/system-dma32"
		       : access("/dev/dma_heap/system", R_OK | W_OK) == 0      ? "/dev/dma_heap/system"
										: NULL;
	if (mem == MEM_HEAP && !heap)
		mem = MEM_PLAIN;
	if (rkv_imgops_open(&cc, &cpu) < 0) {
		fprintf(stderr, "rkv-imgops-check: cannot open the CPU backend\n");
		return 1;
	}
	if (pic_raw(&src, RKV_FMT_NV12, W, H, mem) < 0) {
		fprintf(stderr, "rkv-imgops-check: cannot allocate a %ux%u picture%s%s\n", W, H,
			mem == MEM_HEAP ? " from " : "", mem == MEM_HEAP ? heap : "");
		return 1;
	}
	fill_nv12(&src);
	printf("rkv-imgops-check: %ux%u NV12 test picture, median of %d runs, memory: %s%s\n", W, H,
	       runs, mem == MEM_HEAP ? "DMA-BUF from " : mem == MEM_MEMFD ? "memfd" : "plain (no fd)",
	       mem == MEM_HEAP ? heap : "");

	const uint32_t sw = (W / 3) & ~1u, sh = (H / 3) & ~1u;
	const struct op rga_ops[] = {
		{ "scale NV12 -> 1/3 size NV12", RKV_FMT_NV12, sw, sh,
		  { .filter = RKV_FILTER_BOX }, 30 },
		{ "convert NV12 -> RGB24", RKV_FMT_RGB24, W, H, { 0 }, 35 },
		{ "rotate 90 NV12", RKV_FMT_NV12, H, W, { .rotate = 90 }, INFINITY },
		{ "crop NV12 (a third, centred)", RKV_FMT_NV12, sw, sh,
		  { .crop_x = sw, .crop_y = sh, .crop_w = sw, .crop_h = sh }, INFINITY },
		{ "flip NV12 left-right", RKV_FMT_NV12, W, H, { .flip = RKV_FLIP_H }, INFINITY },
	};
	const struct op mpp_ops[] = {
		{ "JPEG q80 from NV12", 0, 0, 0, { 0 }, 0 },
	};
	const struct {
		const char *name;
		const struct op *ops;
		size_t n;
	} backends[] = {
		{ "rga", rga_ops, sizeof(rga_ops) / sizeof(rga_ops[0]) },
		{ "mpp", mpp_ops, sizeof(mpp_ops) / sizeof(mpp_ops[0]) },
	};

	for (size_t b = 0; b < sizeof(backends) / sizeof(backends[0]); b++) {
		struct rkv_imgops_config hc = { .size = sizeof(hc), .backend = backends[b].name };
		struct rkv_imgops_info info;
		rkv_imgops *hw;

		if (strcmp(want, "all") && strcmp(want, backends[b].name))
			continue;
		if (rkv_imgops_open(&hc, &hw) < 0 || rkv_imgops_info(hw, &info, sizeof(info)) < 0) {
			printf("%s: cannot open a context\n", backends[b].name);
			failed = 1;
			continue;
		}
		if (strcmp(info.backends[0], backends[b].name) != 0) {
			printf("%s: not available: %s\n", backends[b].name, info.refused);
			rkv_imgops_close(hw);
			continue;
		}
		printf("%s: probe passed\n", backends[b].name);
		opened++;
		for (size_t i = 0; i < backends[b].n; i++)
			if (check_op(backends[b].name, hw, cpu, &backends[b].ops[i], &src) < 0)
				failed = 1;
		rkv_imgops_close(hw);
	}
	pic_free(&src);
	rkv_imgops_close(cpu);
	if (!opened) {
		printf("rkv-imgops-check: no hardware backend could be opened\n");
		return 77;
	}
	printf("rkv-imgops-check: %s\n", failed ? "FAILED" : "all passed");
	return failed ? 1 : 0;
}
