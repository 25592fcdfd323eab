/* SPDX-License-Identifier: MIT */
/*
 * unit_imgops_hw.c - the hardware backends' plumbing, against the stand-in
 * vendor libraries the suite builds (tests/standin/): loading, each probe
 * step's failure named in rkv_imgops_info, each refusal counted by reason
 * with the CPU backend doing the work, import by DMA-BUF fd (a memfd here)
 * and by address, and results byte-identical to the CPU backend's.
 *
 * And rkv-imgops-check, the board owner's command, against the stand-ins:
 * every operation done by the hardware backend and identical to the CPU's.
 *
 * Usage: unit_imgops_hw RGA_STANDIN RGA_STANDIN_WITHOUT_IMCHECK MPP_STANDIN
 *                       MPP_STANDIN_WITHOUT_PACKET_POS RKV_IMGOPS_CHECK
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rkv/imgops.h>

#include "imgops/mpp_abi.h"
#include "imgops/rga_abi.h"
#include "standin/standin.h"
#include "test.h"

static const char *rga_lib, *rga_lib_noimcheck, *mpp_lib, *mpp_lib_nopos, *check_tool;

/* ---- images in memfds ------------------------------------------------------ */

struct img {
	struct rkv_image im;
	uint8_t *buf;
	size_t len;
	int fd;
};

/* An image laid out as RGA wants it (64-byte strides, 16-row planes; 24-bit
 * RGB rows 16-byte aligned, so that they hold a whole number of pixels for
 * the widths used here), in a memfd mapped shared; @with_fd: the image
 * carries the fd. */
static void img_new(struct img *m, uint32_t fourcc, uint32_t w, uint32_t h, int with_fd)
{
	int64_t n;

	memset(m, 0, sizeof(*m));
	n = rkv_frame_layout_aligned(&m->im.frame, fourcc, w, h,
				     fourcc == RKV_FMT_RGB24 || fourcc == RKV_FMT_BGR24 ? 16 : 64, 16, 1);
	CHECK_OK(n);
	m->len = (size_t)n;
	m->fd = memfd_create("img", MFD_CLOEXEC);
	CHECK(m->fd >= 0);
	CHECK_OK(ftruncate(m->fd, (off_t)m->len));
	m->buf = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	CHECK(m->buf != MAP_FAILED);
	m->im.data = m->buf;
	m->im.capacity = m->len;
	m->im.fd = with_fd ? m->fd : -1;
}

/* The same with rows of no padding at all (rkv_imgops_image). */
static void img_tight(struct img *m, uint32_t fourcc, uint32_t w, uint32_t h)
{
	int64_t n = rkv_imgops_image(&m->im, fourcc, w, h, NULL, 0);

	CHECK_OK(n);
	memset(m, 0, sizeof(*m));
	m->len = (size_t)n;
	m->fd = -1;
	m->buf = malloc(m->len);
	CHECK(m->buf);
	CHECK_EQ(rkv_imgops_image(&m->im, fourcc, w, h, m->buf, m->len), n);
}

static void img_free(struct img *m)
{
	if (m->fd >= 0) {
		munmap(m->buf, m->len);
		close(m->fd);
	} else {
		free(m->buf);
	}
	memset(m, 0, sizeof(*m));
}

static _Thread_local uint64_t rng = 0x2545f4914f6cdd1dull;

/* Smooth gradients with noise: scaling and conversion have work to do. */
static void img_fill(struct img *m)
{
	for (size_t i = 0; i < m->len; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		m->buf[i] = (uint8_t)((i * 7 / 64) + (rng >> 60));
	}
}

/* Whether the pixels (not the row padding) of @a and @b are the same. */
static int same_pixels(const struct img *a, const struct img *b)
{
	const struct rkv_frame *f = &a->im.frame;

	for (uint32_t p = 0; p < f->num_planes; p++) {
		uint32_t row = f->planes[p].stride, rows = f->height;
		const uint8_t *x = a->buf + f->planes[p].offset, *y = b->buf + b->im.frame.planes[p].offset;

		/* Bytes of one row of pixels, and rows, of plane p. */
		switch (f->fourcc) {
		case RKV_FMT_NV12: row = f->width; rows = p ? f->height / 2 : f->height; break;
		case RKV_FMT_NV16: row = f->width; break;
		case RKV_FMT_I420: row = p ? f->width / 2 : f->width; rows = p ? f->height / 2 : f->height; break;
		case RKV_FMT_YUYV: row = 2 * f->width; break;
		case RKV_FMT_RGB24: case RKV_FMT_BGR24: row = 3 * f->width; break;
		default: row = 4 * f->width; break;
		}
		for (uint32_t r = 0; r < rows; r++)
			if (memcmp(x + (size_t)r * f->planes[p].stride,
				   y + (size_t)r * b->im.frame.planes[p].stride, row) != 0)
				return 0;
	}
	return 1;
}

/* ---- contexts ------------------------------------------------------------ */

static rkv_imgops *open_ctx(const char *backend, struct rkv_imgops_info *info)
{
	struct rkv_imgops_config cfg = { .size = sizeof(cfg), .backend = backend };
	rkv_imgops *ctx;

	CHECK_OK(rkv_imgops_open(&cfg, &ctx));
	CHECK_OK(rkv_imgops_info(ctx, info, sizeof(*info)));
	return ctx;
}

static void stats(rkv_imgops *ctx, struct rkv_imgops_stats *st)
{
	CHECK_OK(rkv_imgops_stats(ctx, st, sizeof(*st)));
}

static void record(const char *lib, struct rkv_standin_record *rec)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
	rkv_standin_record_fn fn;

	CHECK(h);
	fn = (rkv_standin_record_fn)(uintptr_t)dlsym(h, "rkv_standin_record");
	CHECK(fn);
	fn(rec);
	dlclose(h);
}

/* The RGA environment: the stand-in, a device node that exists, nothing
 * failing. */
static void rga_env(void)
{
	setenv("RKV_RGA_LIB", rga_lib, 1);
	setenv("RKV_RGA_DEV", "/dev/null", 1);
	unsetenv("RKV_STANDIN_FAIL");
	unsetenv("RKV_STANDIN_RGA_VERSION");
}

/* The MPP environment likewise. */
static void mpp_env(void)
{
	setenv("RKV_MPP_LIB", mpp_lib, 1);
	setenv("RKV_MPP_DEV", "/dev/null", 1);
	unsetenv("RKV_STANDIN_FAIL");
}

/* ---- the ABI ------------------------------------------------------------- */

static void test_abi(void)
{
#if UINTPTR_MAX == UINT64_MAX
	/* librga 1.10's rga_buffer_t and friends on LP64 (aarch64). */
	CHECK_EQ(sizeof(struct rkv_rga_buffer), 96);
	CHECK_EQ(offsetof(struct rkv_rga_buffer, fd), 16);
	CHECK_EQ(offsetof(struct rkv_rga_buffer, format), 36);
	CHECK_EQ(offsetof(struct rkv_rga_buffer, rd_mode), 48);
	CHECK_EQ(offsetof(struct rkv_rga_buffer, colorkey_range), 56);
	CHECK_EQ(offsetof(struct rkv_rga_buffer, nn), 64);
	CHECK_EQ(offsetof(struct rkv_rga_buffer, rop_code), 88);
	CHECK_EQ(offsetof(struct rkv_rga_buffer, handle), 92);
	/* MPP 1.0's MppBufferInfo and MppApi on LP64. */
	CHECK_EQ(sizeof(struct rkv_mpp_buffer_info), 40);
	CHECK_EQ(offsetof(struct rkv_mpp_buffer_info, size), 8);
	CHECK_EQ(offsetof(struct rkv_mpp_buffer_info, fd), 32);
	CHECK_EQ(offsetof(struct rkv_mpp_api, encode_put_frame), 40);
	CHECK_EQ(offsetof(struct rkv_mpp_api, encode_get_packet), 48);
	CHECK_EQ(offsetof(struct rkv_mpp_api, control), 112);
	CHECK_EQ(sizeof(struct rkv_mpp_api), 184);
#endif
	CHECK_EQ(sizeof(struct rkv_rga_rect), 16);
	CHECK_EQ(sizeof(struct rkv_rga_handle_param), 12);
}

/* ---- probing ------------------------------------------------------------- */

/* Open @backend and expect it refused with @why in the info. */
static void expect_refused_by(const char *backend, const char *why)
{
	struct rkv_imgops_info info;
	rkv_imgops *ctx = open_ctx(backend, &info);

	CHECK_EQ(info.nbackends, 1);
	CHECK_STR(info.backends[0], "cpu");
	if (!strstr(info.refused, why))
		FAIL("refused \"%s\", expected \"%s\"", info.refused, why);
	rkv_imgops_close(ctx);
}

static void expect_refused(const char *why)
{
	expect_refused_by("rga", why);
}

static void test_probe(void)
{
	struct rkv_imgops_info info;
	struct rkv_standin_record rec;
	rkv_imgops *ctx;

	rga_env();
	setenv("RKV_RGA_DEV", "/nonexistent/rga", 1);
	expect_refused("rga: device /nonexistent/rga: No such file or directory");
	rga_env();
	setenv("RKV_RGA_LIB", "/nonexistent/librga.so.2", 1);
	expect_refused("rga: cannot load /nonexistent/librga.so.2: ");
	setenv("RKV_RGA_LIB", rga_lib_noimcheck, 1);
	expect_refused("rga: symbol imcheck_t missing from ");
	rga_env();
	setenv("RKV_STANDIN_RGA_VERSION", "none here", 1);
	expect_refused("rga: querystring(RGA_VERSION) names no RGA core");
	rga_env();
	setenv("RKV_STANDIN_FAIL", "import", 1);
	expect_refused("rga: test job: importbuffer failed");
	setenv("RKV_STANDIN_FAIL", "check", 1);
	expect_refused("rga: test job: imcheck refused it");
	setenv("RKV_STANDIN_FAIL", "job", 1);
	expect_refused("rga: test job: improcess failed: failed (stand-in)");

	/* All well: rga, then the CPU; "auto" puts it first too. */
	rga_env();
	ctx = open_ctx("rga", &info);
	if (info.nbackends != 2)
		FAIL("refused: %s", info.refused);
	CHECK_STR(info.backends[0], "rga");
	CHECK_STR(info.backends[1], "cpu");
	CHECK_STR(info.refused, "");
	rkv_imgops_close(ctx);
	ctx = open_ctx("auto", &info);
	CHECK_STR(info.backends[0], "rga");
	CHECK_STR(info.backends[info.nbackends - 1], "cpu");
	rkv_imgops_close(ctx);
	ctx = open_ctx("cpu", &info);
	CHECK_EQ(info.nbackends, 1);
	rkv_imgops_close(ctx);
	/* Every probe released what it imported. */
	record(rga_lib, &rec);
	CHECK_EQ(rec.live, 0);
	CHECK_UINT(rec.jobs, >=, 2);
}

/* ---- byte-identical results ---------------------------------------------- */

struct tcase {
	uint32_t sf, sw, sh, df, dw, dh;
	struct rkv_transform t;
};

/* The filter RGA uses (average to shrink, bilinear otherwise), for the CPU
 * backend to do the same. */
static uint32_t rga_filter(const struct tcase *c)
{
	int turned = c->t.rotate == 90 || c->t.rotate == 270;
	uint32_t cw = c->t.crop_w ? c->t.crop_w : c->sw, ch = c->t.crop_h ? c->t.crop_h : c->sh;
	uint32_t sw = turned ? ch : cw, sh = turned ? cw : ch;

	return c->dw < sw || c->dh < sh ? RKV_FILTER_BOX : RKV_FILTER_BILINEAR;
}

static const struct tcase cases[] = {
	{ RKV_FMT_NV12, 1280, 720, RKV_FMT_NV12, 640, 360, { 0 } },
	{ RKV_FMT_NV12, 640, 480, RKV_FMT_RGB24, 640, 480, { 0 } },
	{ RKV_FMT_NV12, 640, 368, RKV_FMT_NV12, 368, 640, { .rotate = 90 } },
	{ RKV_FMT_I420, 640, 480, RKV_FMT_I420, 320, 240,
	  { .crop_x = 64, .crop_y = 32, .crop_w = 320, .crop_h = 240 } },
	{ RKV_FMT_YUYV, 320, 240, RKV_FMT_NV12, 320, 240, { 0 } },
	{ RKV_FMT_RGBA, 320, 240, RKV_FMT_RGBA, 320, 240, { .flip = RKV_FLIP_H } },
	{ RKV_FMT_RGB24, 160, 120, RKV_FMT_BGR24, 320, 240, { 0 } },
	{ RKV_FMT_NV16, 320, 240, RKV_FMT_NV16, 320, 240, { .flip = RKV_FLIP_V } },
	{ RKV_FMT_NV12, 320, 240, RKV_FMT_RGBA, 240, 320, { .rotate = 270 } },
	{ RKV_FMT_BGR24, 640, 480, RKV_FMT_I420, 160, 96, { .rotate = 180 } },
};

/* Run @c through @hw and the CPU, @src_fd/@dst_fd: images carry their fds;
 * check the bytes agree and the RGA did it. */
static void run_case(rkv_imgops *hw, rkv_imgops *cpu, const struct tcase *c, int src_fd,
		     int dst_fd)
{
	struct rkv_imgops_stats a, b;
	struct rkv_standin_record r0, r1;
	struct rkv_transform t = c->t;
	struct img s, d, e;

	img_new(&s, c->sf, c->sw, c->sh, src_fd);
	img_new(&d, c->df, c->dw, c->dh, dst_fd);
	img_new(&e, c->df, c->dw, c->dh, 0);
	img_fill(&s);
	record(rga_lib, &r0);
	stats(hw, &a);
	CHECK_OK(rkv_imgops_transform(hw, &s.im, &d.im, &c->t));
	stats(hw, &b);
	record(rga_lib, &r1);
	if (b.done_by[0][RKV_IMGOPS_OP_TRANSFORM] != a.done_by[0][RKV_IMGOPS_OP_TRANSFORM] + 1)
		FAIL("case %.4s %ux%u -> %.4s %ux%u: not done by rga", (char *)&c->sf, c->sw, c->sh,
		     (char *)&c->df, c->dw, c->dh);
	CHECK_EQ(r1.jobs, r0.jobs + 1);
	CHECK_EQ(r1.imports_fd - r0.imports_fd, src_fd + dst_fd);
	CHECK_EQ(r1.imports_va - r0.imports_va, 2 - src_fd - dst_fd);
	CHECK_EQ(r1.jobs_fd_src - r0.jobs_fd_src, src_fd);
	CHECK_EQ(r1.jobs_fd_dst - r0.jobs_fd_dst, dst_fd);
	CHECK_EQ(r1.live, 0);

	t.filter = rga_filter(c);
	CHECK_OK(rkv_imgops_transform(cpu, &s.im, &e.im, &t));
	if (!same_pixels(&d, &e))
		FAIL("case %.4s %ux%u -> %.4s %ux%u: rga and cpu differ", (char *)&c->sf, c->sw,
		     c->sh, (char *)&c->df, c->dw, c->dh);
	img_free(&s);
	img_free(&d);
	img_free(&e);
}

static void test_identical(void)
{
	struct rkv_imgops_info info;
	rkv_imgops *hw, *cpu;

	rga_env();
	hw = open_ctx("rga", &info);
	CHECK_STR(info.backends[0], "rga");
	cpu = open_ctx("cpu", &info);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_case(hw, cpu, &cases[i], 1, 1);  /* zero-copy: both by fd */
		run_case(hw, cpu, &cases[i], 0, 0);  /* both by address */
		run_case(hw, cpu, &cases[i], 1, 0);
	}
	rkv_imgops_close(hw);
	rkv_imgops_close(cpu);
}

/* An fd whose bytes do not begin at the image's first byte cannot be
 * described to librga (imports take no offset): by address instead. */
static void test_fd_offset(void)
{
	struct rkv_imgops_info info;
	struct rkv_standin_record r0, r1;
	rkv_imgops *hw;
	struct img s, d;

	rga_env();
	hw = open_ctx("rga", &info);
	img_new(&s, RKV_FMT_RGBA, 64, 64, 1);
	img_new(&d, RKV_FMT_RGBA, 32, 32, 1);
	img_fill(&s);
	s.im.fd_offset = 4096;
	record(rga_lib, &r0);
	CHECK_OK(rkv_imgops_transform(hw, &s.im, &d.im, NULL));
	record(rga_lib, &r1);
	CHECK_EQ(r1.imports_fd - r0.imports_fd, 1);
	CHECK_EQ(r1.imports_va - r0.imports_va, 1);
	img_free(&s);
	img_free(&d);
	rkv_imgops_close(hw);
}

/* ---- refusals, counted by reason ------------------------------------------ */

/* Transform @s into @d through @hw: the CPU must do it after the rga
 * backend refused with @why, and the result must be the CPU's. */
static void expect_fallback(rkv_imgops *hw, struct img *s, struct img *d,
			    const struct rkv_transform *t, uint32_t why)
{
	struct rkv_imgops_stats a, b;
	struct rkv_imgops_info info;
	rkv_imgops *cpu = open_ctx("cpu", &info);
	struct img e = *d;

	stats(hw, &a);
	CHECK_OK(rkv_imgops_transform(hw, &s->im, &d->im, t));
	stats(hw, &b);
	CHECK_EQ(b.fallbacks[RKV_IMGOPS_OP_TRANSFORM], a.fallbacks[RKV_IMGOPS_OP_TRANSFORM] + 1);
	if (b.reasons[why] != a.reasons[why] + 1)
		FAIL("reason %u not counted", why);
	CHECK_EQ(b.done_by[1][RKV_IMGOPS_OP_TRANSFORM], a.done_by[1][RKV_IMGOPS_OP_TRANSFORM] + 1);
	e.buf = malloc(d->len);
	CHECK(e.buf);
	e.im.data = e.buf;
	e.fd = -1;
	CHECK_OK(rkv_imgops_transform(cpu, &s->im, &e.im, t));
	CHECK(same_pixels(d, &e));
	free(e.buf);
	rkv_imgops_close(cpu);
}

static void test_refusals(void)
{
	struct rkv_imgops_info info;
	struct rkv_imgops_stats a, b;
	rkv_imgops *hw;
	struct img s, d, j;
	struct rkv_transform t = { 0 };

	rga_env();
	hw = open_ctx("rga", &info);

	/* Pictures RGA cannot take, each with the reason it must give. */
	static const struct {
		const char *what;
		uint32_t fourcc, sw, sh, dw, dh;
		int tight; /* rows of no padding (else RGA's alignment) */
		uint32_t why;
	} geometry[] = {
		{ "100-pixel NV12 rows, unpadded", RKV_FMT_NV12, 100, 64, 100, 64, 1,
		  RKV_IMGOPS_WHY_ALIGN },
		{ "a picture one row tall", RKV_FMT_RGBA, 64, 1, 64, 1, 0, RKV_IMGOPS_WHY_SIZE },
		{ "8200 columns", RKV_FMT_RGBA, 8200, 16, 4100, 16, 0, RKV_IMGOPS_WHY_SIZE },
		{ "an enlargement past 16x", RKV_FMT_RGBA, 32, 32, 64, 640, 0, RKV_IMGOPS_WHY_SIZE },
	};
	for (size_t i = 0; i < sizeof(geometry) / sizeof(geometry[0]); i++) {
		printf("unit_imgops_hw: rga refuses %s\n", geometry[i].what);
		if (geometry[i].tight) {
			img_tight(&s, geometry[i].fourcc, geometry[i].sw, geometry[i].sh);
			img_tight(&d, geometry[i].fourcc, geometry[i].dw, geometry[i].dh);
		} else {
			img_new(&s, geometry[i].fourcc, geometry[i].sw, geometry[i].sh, 1);
			img_new(&d, geometry[i].fourcc, geometry[i].dw, geometry[i].dh, 1);
		}
		img_fill(&s);
		expect_fallback(hw, &s, &d, NULL, geometry[i].why);
		img_free(&s);
		img_free(&d);
	}

	/* A reduction past 1/16: 1280 -> 64 columns. */
	img_new(&s, RKV_FMT_NV12, 1280, 720, 1);
	img_new(&d, RKV_FMT_NV12, 64, 360, 1);
	img_fill(&s);
	expect_fallback(hw, &s, &d, NULL, RKV_IMGOPS_WHY_SIZE);
	img_free(&d);

	/* Parameters: nearest neighbour; a rotation with a flip. */
	img_new(&d, RKV_FMT_NV12, 640, 360, 1);
	t.filter = RKV_FILTER_NEAREST;
	expect_fallback(hw, &s, &d, &t, RKV_IMGOPS_WHY_PARAMS);
	img_free(&d);
	img_new(&d, RKV_FMT_NV12, 720, 1280, 1);
	t = (struct rkv_transform){ .rotate = 90, .flip = RKV_FLIP_H };
	expect_fallback(hw, &s, &d, &t, RKV_IMGOPS_WHY_PARAMS);
	img_free(&d);

	/* librga's own check refusing a job: "other". */
	img_new(&d, RKV_FMT_NV12, 640, 360, 1);
	setenv("RKV_STANDIN_FAIL", "check", 1);
	expect_fallback(hw, &s, &d, NULL, RKV_IMGOPS_WHY_OTHER);
	/* An import that fails: memory it cannot reach. */
	setenv("RKV_STANDIN_FAIL", "import", 1);
	expect_fallback(hw, &s, &d, NULL, RKV_IMGOPS_WHY_MEMORY);
	/* A job the engine takes and fails is an error, not a fallback. */
	setenv("RKV_STANDIN_FAIL", "job", 1);
	stats(hw, &a);
	CHECK_ERR(rkv_imgops_transform(hw, &s.im, &d.im, NULL), EIO);
	stats(hw, &b);
	CHECK_EQ(b.errors[RKV_IMGOPS_OP_TRANSFORM], a.errors[RKV_IMGOPS_OP_TRANSFORM] + 1);
	CHECK_EQ(b.fallbacks[RKV_IMGOPS_OP_TRANSFORM], a.fallbacks[RKV_IMGOPS_OP_TRANSFORM]);
	unsetenv("RKV_STANDIN_FAIL");

	/* JPEG and PNG: no such methods, the CPU encodes. */
	j.len = (size_t)rkv_imgops_png_bound(RKV_FMT_NV12, 640, 360);
	j.buf = malloc(j.len);
	CHECK(j.buf);
	CHECK_OK(rkv_imgops_image(&j.im, RKV_FMT_JPEG, 0, 0, j.buf, j.len));
	stats(hw, &a);
	CHECK_OK(rkv_imgops_jpeg_encode(hw, &d.im, &j.im, NULL));
	CHECK_OK(rkv_imgops_png_encode(hw, &d.im, &j.im, NULL));
	stats(hw, &b);
	CHECK_EQ(b.reasons[RKV_IMGOPS_WHY_METHOD], a.reasons[RKV_IMGOPS_WHY_METHOD] + 2);
	free(j.buf);
	img_free(&d);
	rkv_imgops_close(hw);

	/* RGA2 cores alone on a machine with more than 4 GiB: an image
	 * without an fd may lie out of reach; one with an fd is taken. */
	setenv("RKV_STANDIN_RGA_VERSION", "RGA_2_Enhance", 1);
	hw = open_ctx("rga", &info);
	CHECK_STR(info.backends[0], "rga");
	if ((uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) > (1ull << 32)) {
		img_new(&d, RKV_FMT_NV12, 640, 360, 0);
		expect_fallback(hw, &s, &d, NULL, RKV_IMGOPS_WHY_MEMORY);
		img_free(&d);
		img_new(&d, RKV_FMT_NV12, 640, 360, 1);
		stats(hw, &a);
		CHECK_OK(rkv_imgops_transform(hw, &s.im, &d.im, NULL));
		stats(hw, &b);
		CHECK_EQ(b.done_by[0][RKV_IMGOPS_OP_TRANSFORM],
			 a.done_by[0][RKV_IMGOPS_OP_TRANSFORM] + 1);
		img_free(&d);
	} else {
		printf("unit_imgops_hw: 4 GiB of RAM or less here: the RGA2 reach rule not checked\n");
	}
	rkv_imgops_close(hw);
	img_free(&s);
	rga_env();
}

/* ---- mpp ------------------------------------------------------------------ */

static void test_mpp_probe(void)
{
	struct rkv_imgops_info info;
	struct rkv_standin_record rec;
	rkv_imgops *ctx;

	mpp_env();
	setenv("RKV_MPP_DEV", "/nonexistent/mpp_service", 1);
	expect_refused_by("mpp", "mpp: device /nonexistent/mpp_service: No such file or directory");
	mpp_env();
	setenv("RKV_MPP_LIB", "/nonexistent/librockchip_mpp.so.1", 1);
	expect_refused_by("mpp", "mpp: cannot load /nonexistent/librockchip_mpp.so.1: ");
	setenv("RKV_MPP_LIB", mpp_lib_nopos, 1);
	expect_refused_by("mpp", "mpp: symbol mpp_packet_get_pos missing from ");
	mpp_env();
	setenv("RKV_STANDIN_FAIL", "import", 1);
	expect_refused_by("mpp", "mpp: test encode: no MPP buffer for the picture");
	setenv("RKV_STANDIN_FAIL", "job", 1);
	expect_refused_by("mpp", "mpp: test encode: the encoder failed the frame");

	mpp_env();
	ctx = open_ctx("mpp", &info);
	if (info.nbackends != 2)
		FAIL("refused: %s", info.refused);
	CHECK_STR(info.backends[0], "mpp");
	CHECK_STR(info.backends[1], "cpu");
	rkv_imgops_close(ctx);
	/* Both: "auto" tries rga, then mpp, then the CPU. */
	rga_env();
	mpp_env();
	ctx = open_ctx("auto", &info);
	CHECK_EQ(info.nbackends, 3);
	CHECK_STR(info.backends[0], "rga");
	CHECK_STR(info.backends[1], "mpp");
	CHECK_STR(info.backends[2], "cpu");
	CHECK_STR(info.refused, "");
	rkv_imgops_close(ctx);
	record(mpp_lib, &rec);
	CHECK_EQ(rec.live, 0);
}

/* Encode @s through @hw (mpp first) and the CPU: the same JPEG, by MPP. */
static void jpeg_case(rkv_imgops *hw, rkv_imgops *cpu, struct img *s,
		      const struct rkv_jpeg_params *p, int by_fd)
{
	uint64_t cap = rkv_imgops_jpeg_bound(s->im.frame.width, s->im.frame.height);
	struct rkv_imgops_stats a, b;
	struct rkv_standin_record r0, r1;
	struct img j, k;

	j.buf = malloc(cap);
	k.buf = malloc(cap);
	CHECK(j.buf && k.buf);
	CHECK_OK(rkv_imgops_image(&j.im, RKV_FMT_JPEG, 0, 0, j.buf, cap));
	CHECK_OK(rkv_imgops_image(&k.im, RKV_FMT_JPEG, 0, 0, k.buf, cap));
	record(mpp_lib, &r0);
	stats(hw, &a);
	CHECK_OK(rkv_imgops_jpeg_encode(hw, &s->im, &j.im, p));
	stats(hw, &b);
	record(mpp_lib, &r1);
	CHECK_EQ(b.done_by[0][RKV_IMGOPS_OP_JPEG_ENCODE], a.done_by[0][RKV_IMGOPS_OP_JPEG_ENCODE] + 1);
	CHECK_EQ(r1.jobs, r0.jobs + 1);
	CHECK_EQ(r1.jobs_fd_src - r0.jobs_fd_src, by_fd);
	CHECK_EQ(r1.imports_fd - r0.imports_fd, by_fd);
	CHECK_EQ(r1.live - r0.live, 0);
	CHECK_OK(rkv_imgops_jpeg_encode(cpu, &s->im, &k.im, p));
	CHECK_EQ(j.im.frame.fourcc, RKV_FMT_JPEG);
	CHECK_EQ(j.im.frame.width, s->im.frame.width);
	CHECK_EQ(j.im.frame.bytes_used, k.im.frame.bytes_used);
	if (memcmp(j.buf, k.buf, k.im.frame.bytes_used) != 0)
		FAIL("%.4s %ux%u: mpp and cpu JPEGs differ", (char *)&s->im.frame.fourcc,
		     s->im.frame.width, s->im.frame.height);
	free(j.buf);
	free(k.buf);
}

static void test_mpp_identical(void)
{
	static const uint32_t fmts[] = { RKV_FMT_NV12, RKV_FMT_I420, RKV_FMT_NV16, RKV_FMT_YUYV };
	struct rkv_jpeg_params q80 = { .quality = 80 }, q30 = { .quality = 30 };
	struct rkv_imgops_info info;
	rkv_imgops *hw, *cpu;
	struct img s;

	mpp_env();
	hw = open_ctx("mpp", &info);
	cpu = open_ctx("cpu", &info);
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
		for (int fd = 0; fd < 2; fd++) {
			img_new(&s, fmts[i], 640, 360, fd);
			img_fill(&s);
			jpeg_case(hw, cpu, &s, &q80, fd);
			jpeg_case(hw, cpu, &s, NULL, fd);
			img_free(&s);
			img_new(&s, fmts[i], 176, 144, fd);
			img_fill(&s);
			jpeg_case(hw, cpu, &s, &q30, fd);
			img_free(&s);
		}
	rkv_imgops_close(hw);
	rkv_imgops_close(cpu);
}

/* Encode @s through @hw: the CPU must do it after mpp refused with @why. */
static void expect_jpeg_fallback(rkv_imgops *hw, struct img *s, const struct rkv_jpeg_params *p,
				 uint32_t why)
{
	uint64_t cap = rkv_imgops_jpeg_bound(s->im.frame.width, s->im.frame.height);
	struct rkv_imgops_stats a, b;
	struct img j;

	j.buf = malloc(cap);
	CHECK(j.buf);
	CHECK_OK(rkv_imgops_image(&j.im, RKV_FMT_JPEG, 0, 0, j.buf, cap));
	stats(hw, &a);
	CHECK_OK(rkv_imgops_jpeg_encode(hw, &s->im, &j.im, p));
	stats(hw, &b);
	CHECK_EQ(b.fallbacks[RKV_IMGOPS_OP_JPEG_ENCODE], a.fallbacks[RKV_IMGOPS_OP_JPEG_ENCODE] + 1);
	if (b.reasons[why] != a.reasons[why] + 1)
		FAIL("reason %u not counted", why);
	CHECK_EQ(b.done_by[1][RKV_IMGOPS_OP_JPEG_ENCODE], a.done_by[1][RKV_IMGOPS_OP_JPEG_ENCODE] + 1);
	CHECK_EQ(j.buf[0], 0xff);
	CHECK_EQ(j.buf[1], 0xd8);
	free(j.buf);
}

static void test_mpp_refusals(void)
{
	struct rkv_jpeg_params q100 = { .quality = 100 };
	struct rkv_imgops_stats a, b;
	struct rkv_imgops_info info;
	rkv_imgops *hw;
	struct img s, d;

	mpp_env();
	hw = open_ctx("mpp", &info);
	/* A format the encoder is not given: RGB. */
	img_new(&s, RKV_FMT_RGB24, 320, 240, 1);
	img_fill(&s);
	expect_jpeg_fallback(hw, &s, NULL, RKV_IMGOPS_WHY_FORMAT);
	img_free(&s);
	/* Too small. */
	img_new(&s, RKV_FMT_NV12, 8, 8, 1);
	img_fill(&s);
	expect_jpeg_fallback(hw, &s, NULL, RKV_IMGOPS_WHY_SIZE);
	img_free(&s);
	/* Too large. */
	img_new(&s, RKV_FMT_NV12, 8200, 16, 1);
	img_fill(&s);
	expect_jpeg_fallback(hw, &s, NULL, RKV_IMGOPS_WHY_SIZE);
	img_free(&s);
	/* A stride off the encoder's 8-pixel rule: 100-pixel rows. */
	img_tight(&s, RKV_FMT_NV12, 100, 64);
	img_fill(&s);
	expect_jpeg_fallback(hw, &s, NULL, RKV_IMGOPS_WHY_ALIGN);
	img_free(&s);
	/* Quality 100: past MPP's q_factor. */
	img_new(&s, RKV_FMT_NV12, 320, 240, 1);
	img_fill(&s);
	expect_jpeg_fallback(hw, &s, &q100, RKV_IMGOPS_WHY_PARAMS);
	/* An fd MPP will not import. */
	setenv("RKV_STANDIN_FAIL", "import", 1);
	expect_jpeg_fallback(hw, &s, NULL, RKV_IMGOPS_WHY_MEMORY);
	/* A frame the encoder fails is an error. */
	setenv("RKV_STANDIN_FAIL", "job", 1);
	d.len = (size_t)rkv_imgops_png_bound(RKV_FMT_NV12, 320, 240);
	d.buf = malloc(d.len);
	CHECK(d.buf);
	CHECK_OK(rkv_imgops_image(&d.im, RKV_FMT_JPEG, 0, 0, d.buf, d.len));
	stats(hw, &a);
	CHECK_ERR(rkv_imgops_jpeg_encode(hw, &s.im, &d.im, NULL), EIO);
	stats(hw, &b);
	CHECK_EQ(b.errors[RKV_IMGOPS_OP_JPEG_ENCODE], a.errors[RKV_IMGOPS_OP_JPEG_ENCODE] + 1);
	unsetenv("RKV_STANDIN_FAIL");
	/* Decoding, PNG and transforms: no such methods. */
	stats(hw, &a);
	CHECK_OK(rkv_imgops_png_encode(hw, &s.im, &d.im, NULL));
	stats(hw, &b);
	CHECK_EQ(b.reasons[RKV_IMGOPS_WHY_METHOD], a.reasons[RKV_IMGOPS_WHY_METHOD] + 1);
	free(d.buf);
	img_free(&s);
	rkv_imgops_close(hw);
}

/* ---- rkv-imgops-check ------------------------------------------------------ */

/* Run rkv-imgops-check with @args; its output into @out, its exit status
 * returned. */
static int run_tool(const char *args, char *out, size_t len)
{
	char cmd[1024];
	size_t n = 0;
	FILE *f;
	int st;

	/* In a cross build's test run the tool runs through the same emulator
	 * as this program (Meson names it, shell-quoted, in MESON_EXE_WRAPPER):
	 * the shell cannot run an ARM binary itself. */
	const char *wrap = getenv("MESON_EXE_WRAPPER");

	snprintf(cmd, sizeof(cmd), "%s '%s' %s 2>&1", wrap ? wrap : "", check_tool, args);
	f = popen(cmd, "r");
	CHECK(f);
	while (n + 1 < len && !feof(f)) {
		size_t k = fread(out + n, 1, len - 1 - n, f);

		if (k == 0)
			break;
		n += k;
	}
	out[n] = 0;
	st = pclose(f);
	CHECK(st != -1 && WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* How many lines of @out begin with @start and contain @has. */
static int lines(const char *out, const char *start, const char *has)
{
	int n = 0;

	for (const char *l = out; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[512];

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, l, len);
		line[len] = 0;
		if (strncmp(line, start, strlen(start)) == 0 && strstr(line, has))
			n++;
	}
	return n;
}

static void test_check_tool(void)
{
	static const char *const ops[] = { "scale NV12", "convert NV12 -> RGB24", "rotate 90",
					   "crop NV12", "flip NV12", "JPEG q80" };
	static char out[16384];
	int rc;

	rga_env();
	mpp_env();
	rc = run_tool("--memfd --size 640x360 --runs 2", out, sizeof(out));
	if (rc != 0)
		FAIL("rkv-imgops-check: exit %d:\n%s", rc, out);
	CHECK_EQ(lines(out, "rga: probe passed", ""), 1);
	CHECK_EQ(lines(out, "mpp: probe passed", ""), 1);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (lines(out, ops[i], " identical") != 1 || lines(out, ops[i], ": pass") != 1)
			FAIL("rkv-imgops-check: %s not identical:\n%s", ops[i], out);
	CHECK_EQ(lines(out, "", ": pass"), 6);
	CHECK_EQ(lines(out, "rkv-imgops-check: all passed", ""), 1);

	/* By address too. */
	rc = run_tool("--backend rga --no-dmabuf --size 320x240 --runs 1", out, sizeof(out));
	if (rc != 0 || lines(out, "", ": pass") != 5)
		FAIL("rkv-imgops-check by address: exit %d:\n%s", rc, out);

	/* No devices: each backend says why, exit 77. */
	setenv("RKV_RGA_DEV", "/nonexistent/rga", 1);
	setenv("RKV_MPP_DEV", "/nonexistent/mpp", 1);
	rc = run_tool("--runs 1", out, sizeof(out));
	CHECK_EQ(rc, 77);
	CHECK_EQ(lines(out, "rga: not available: rga: device /nonexistent/rga: No such file", ""),
		 1);
	CHECK_EQ(lines(out, "mpp: not available: mpp: device /nonexistent/mpp: ", ""), 1);

	/* A usage error. */
	CHECK_EQ(run_tool("--size 7x7", out, sizeof(out)), 2);
	rga_env();
	mpp_env();
}

/* ---- threads -------------------------------------------------------------- */

/* Contexts in several threads share the loaded library and nothing else. */
static void *worker(void *arg)
{
	struct rkv_imgops_info info;
	rkv_imgops *hw = open_ctx("auto", &info);
	struct rkv_imgops_stats st;
	struct img s, d, j;

	(void)arg;
	CHECK_STR(info.backends[0], "rga");
	CHECK_STR(info.backends[1], "mpp");
	img_new(&s, RKV_FMT_NV12, 320, 240, 1);
	img_new(&d, RKV_FMT_RGBA, 160, 120, 1);
	j.len = (size_t)rkv_imgops_jpeg_bound(320, 240);
	j.buf = malloc(j.len);
	CHECK(j.buf);
	CHECK_OK(rkv_imgops_image(&j.im, RKV_FMT_JPEG, 0, 0, j.buf, j.len));
	img_fill(&s);
	for (int i = 0; i < 20; i++) {
		CHECK_OK(rkv_imgops_transform(hw, &s.im, &d.im, NULL));
		CHECK_OK(rkv_imgops_jpeg_encode(hw, &s.im, &j.im, NULL));
	}
	stats(hw, &st);
	CHECK_EQ(st.done_by[0][RKV_IMGOPS_OP_TRANSFORM], 20);
	CHECK_EQ(st.done_by[1][RKV_IMGOPS_OP_JPEG_ENCODE], 20);
	free(j.buf);
	img_free(&s);
	img_free(&d);
	rkv_imgops_close(hw);
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[3];

	rga_env();
	mpp_env();
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, worker, NULL), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
}

int main(int argc, char **argv)
{
	void *keep, *keep_mpp;

	test_watchdog(300);
	if (argc < 6) {
		fprintf(stderr, "usage: %s RGA_STANDIN RGA_STANDIN_NOIMCHECK MPP_STANDIN "
				"MPP_STANDIN_NOPOS RKV_IMGOPS_CHECK\n", argv[0]);
		return 2;
	}
	rga_lib = argv[1];
	rga_lib_noimcheck = argv[2];
	mpp_lib = argv[3];
	mpp_lib_nopos = argv[4];
	check_tool = argv[5];
	/* Keep the stand-ins loaded between contexts, so their records last. */
	keep = dlopen(rga_lib, RTLD_NOW | RTLD_LOCAL);
	keep_mpp = dlopen(mpp_lib, RTLD_NOW | RTLD_LOCAL);
	CHECK(keep && keep_mpp);
	test_abi();
	test_probe();
	test_identical();
	test_fd_offset();
	test_refusals();
	test_mpp_probe();
	test_mpp_identical();
	test_mpp_refusals();
	test_threads();
	test_check_tool();
	dlclose(keep_mpp);
	dlclose(keep);
	printf("unit_imgops_hw: ok\n");
	return 0;
}
