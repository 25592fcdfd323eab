/* SPDX-License-Identifier: MIT */
/*
 * source/testpattern.c - the test-pattern source: synthetic frames at any
 * size and rate, every byte of which a consumer can check with
 * rkv_testpattern_verify() (rkv/source.h says what a frame shows).
 *
 * One definition of the picture serves both sides. The picture is a stack
 * of layers (background, moving box, ticker column, text box), and each
 * layer is painted one row of one plane at a time by the *_row functions
 * below, through one painter (span()) that knows the formats. verify()
 * paints the rows it expects with them and compares.
 *
 * The source paints the background at open (it has two kinds of rows a
 * plane, the bars' and the ramp's, so two rows a plane are all it keeps),
 * and each buffer starts as a copy of it. A frame then costs only what
 * changes: the box of the frame the buffer last held is restored from the
 * background rows, and the box, the ticker and the text of the new frame
 * are painted over it, in the layers' order. The ticker and the text box
 * cover the same pixels in every frame, so painting them replaces the old
 * ones, and the box never enters either; nothing else differs from the
 * background. The text's rows come in blocks of s alike, so one row of
 * each block is painted and copied; the ticker and the text are grey, so
 * in NV12 and I420 their chroma is painted once per buffer and stays.
 *
 * Pacing: frame n is due at base + floor((n - seq0 + 1) * fps_den * 10^9 /
 * fps_num) ns, base and seq0 being the clock and the next sequence number
 * at start(). Every due time is computed from base, never by adding periods
 * up, so the rounding of a period that is not a whole number of
 * nanoseconds never accumulates.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "frame/font5x7.h"
#include "pool/internal.h"
#include "source/source.h"

#define TP_MAX_DIM   16384u
#define TP_MAX_BUFS  64u
#define NS_PER_S     ((uint64_t)1000000000)

/* ---- geometry: everything that follows from (fourcc, width, height) ---- */

enum kind { K_NV12, K_I420, K_YUYV, K_RGB, K_BGR };

/* A colour as the format stores it: Y, Cb, Cr, or the three bytes of a
 * pixel in memory order. */
struct col {
	uint8_t a, b, c;
};

#define TEXT_CELLS 22u /* "N " or "T " and 20 characters */
#define TIME_FIRST 2u  /* the time's first cell on line 1 */

struct geom {
	uint32_t w, h;
	enum kind kind;
	uint32_t nplanes;
	uint32_t vsub[3];        /* image rows per row of each plane */
	uint32_t s;              /* text scale: a font pixel is s x s */
	uint32_t tick_w;         /* the ticker: columns [0, tick_w) */
	uint32_t box;            /* the moving box's side */
	uint32_t box_y;          /* its top row's least: below the text box */
	uint32_t box_lx, box_ly; /* its travel, right of the ticker */
	uint32_t box_vx, box_vy; /* its step per frame */
	uint32_t bars_h;         /* rows of colour bars; the ramp below */
	int text;                /* the text box fits */
	uint32_t text_x, text_y, text_w, text_h;
	struct col tick[128];    /* the ticker's greys */
	struct col black, white; /* the text's */
};

static struct col mkcol(const struct geom *g, uint32_t r, uint32_t gr, uint32_t b);
static struct col grey(const struct geom *g, uint32_t v);

static uint32_t even(uint32_t v)
{
	return v & ~1u;
}

/* Fill @g for a frame of @fourcc at @w x @h. NULL, or why the test pattern
 * does not make that frame. */
static const char *geom_init(struct geom *g, uint32_t fourcc, uint32_t w, uint32_t h)
{
	uint32_t m;

	memset(g, 0, sizeof(*g));
	g->vsub[0] = g->vsub[1] = g->vsub[2] = 1;
	switch (fourcc) {
	case RKV_FMT_NV12:
		g->kind = K_NV12;
		g->nplanes = 2;
		g->vsub[1] = 2;
		break;
	case RKV_FMT_I420:
		g->kind = K_I420;
		g->nplanes = 3;
		g->vsub[1] = g->vsub[2] = 2;
		break;
	case RKV_FMT_YUYV:
		g->kind = K_YUYV;
		g->nplanes = 1;
		break;
	case RKV_FMT_RGB24:
		g->kind = K_RGB;
		g->nplanes = 1;
		break;
	case RKV_FMT_BGR24:
		g->kind = K_BGR;
		g->nplanes = 1;
		break;
	default:
		return "the test pattern makes NV12, YUYV, I420, RGB24 and BGR24";
	}
	if (w == 0 || h == 0 || w > TP_MAX_DIM || h > TP_MAX_DIM)
		return "the test pattern's width and height are 1 to 16384";
	if ((g->kind == K_NV12 || g->kind == K_I420) && (w % 2 || h % 2))
		return "NV12 and I420 need an even width and height";
	if (g->kind == K_YUYV && w % 2)
		return "YUYV needs an even width";
	g->w = w;
	g->h = h;

	m = w < h ? w : h;
	g->s = m / 240 ? m / 240 : 1;
	g->tick_w = 8 * g->s < w ? 8 * g->s : w;
	g->box = even(m / 6) ? even(m / 6) : 2;
	g->box_lx = w > g->tick_w + g->box ? w - g->tick_w - g->box : 0;
	g->box_vx = even(w / 96) ? even(w / 96) : 2;
	g->box_vy = even(h / 64) ? even(h / 64) : 2;
	g->bars_h = even((uint32_t)((uint64_t)h * 2 / 3));
	g->text_x = 10 * g->s;
	g->text_y = 2 * g->s;
	g->text_w = (2 + 6 * TEXT_CELLS) * g->s;
	g->text_h = 18 * g->s;
	g->text = g->text_x + g->text_w <= w && g->text_y + g->text_h <= h;
	g->box_y = g->text ? g->text_y + g->text_h : 0;
	g->box_ly = h > g->box_y + g->box ? h - g->box_y - g->box : 0;
	for (uint32_t i = 0; i < 128; i++)
		g->tick[i] = grey(g, 2 * i);
	g->black = grey(g, 0);
	g->white = grey(g, 255);
	return NULL;
}

/* Bytes in a row of plane @p. */
static uint64_t row_bytes(const struct geom *g, uint32_t p)
{
	switch (g->kind) {
	case K_NV12:
		return g->w;
	case K_I420:
		return p ? g->w / 2 : g->w;
	case K_YUYV:
		return 2 * (uint64_t)g->w;
	default:
		return 3 * (uint64_t)g->w;
	}
}

/* Rows in plane @p. */
static uint32_t plane_rows(const struct geom *g, uint32_t p)
{
	return g->h / g->vsub[p];
}

/* The rows [*r0, *r1) of plane @p that show image rows [y0, y1). */
static void rows_of(const struct geom *g, uint32_t p, uint32_t y0, uint32_t y1, uint32_t *r0,
		    uint32_t *r1)
{
	uint32_t v = g->vsub[p];

	if (y1 > g->h)
		y1 = g->h;
	if (y0 > y1)
		y0 = y1;
	*r0 = (y0 + v - 1) / v;
	*r1 = (y1 + v - 1) / v;
}

/* ---- colours and the painter ------------------------------------------------- */

/* RGB to the format's colour: BT.601, limited range, in integers (a grey
 * has Cb = Cr = 128 exactly). */
static struct col mkcol(const struct geom *g, uint32_t r, uint32_t gr, uint32_t b)
{
	struct col c;

	if (g->kind == K_RGB)
		return (struct col){ (uint8_t)r, (uint8_t)gr, (uint8_t)b };
	if (g->kind == K_BGR)
		return (struct col){ (uint8_t)b, (uint8_t)gr, (uint8_t)r };
	c.a = (uint8_t)(((66 * r + 129 * gr + 25 * b + 128) >> 8) + 16);
	/* + 128 << 8 keeps the sums positive: no shift of a negative number */
	c.b = (uint8_t)((int32_t)(-38 * (int32_t)r - 74 * (int32_t)gr + 112 * (int32_t)b + 128 +
				  32768) >> 8);
	c.c = (uint8_t)((int32_t)(112 * (int32_t)r - 94 * (int32_t)gr - 18 * (int32_t)b + 128 +
				  32768) >> 8);
	return c;
}

static struct col grey(const struct geom *g, uint32_t v)
{
	return mkcol(g, v, v, v);
}

/* @n bytes at @d, the @len-byte pattern @pat over and over (@n a multiple
 * of @len). Long runs copy what is already written, doubling each time. */
static void fill(uint8_t *d, const uint8_t *pat, size_t len, size_t n)
{
	size_t done;

	if (n < 64) {
		for (done = 0; done < n; done += len)
			memcpy(d + done, pat, len);
		return;
	}
	memcpy(d, pat, len);
	for (done = len; done < n; done *= 2)
		memcpy(d + done, d, done < n - done ? done : n - done);
}

/*
 * Paint pixels [x0, x1) of row @row of plane @p with @c. A chroma sample
 * covers two pixels across (and, 4:2:0, two rows down: the callers give a
 * chroma row the colour of its upper image row); it takes the colour of
 * its left pixel, so it is painted when that pixel is in [x0, x1).
 */
static void span(const struct geom *g, uint32_t p, uint8_t *row, uint32_t x0, uint32_t x1,
		 struct col c)
{
	uint32_t k0, k1, x, k;

	if (x1 > g->w)
		x1 = g->w;
	if (x0 >= x1)
		return;
	k0 = (x0 + 1) / 2; /* the chroma samples k with 2k in [x0, x1) */
	k1 = (x1 + 1) / 2;
	switch (g->kind) {
	case K_NV12:
		if (p == 0)
			memset(row + x0, c.a, x1 - x0);
		else
			fill(row + 2 * k0, (const uint8_t[]){ c.b, c.c }, 2, 2 * (size_t)(k1 - k0));
		break;
	case K_I420:
		if (p == 0)
			memset(row + x0, c.a, x1 - x0);
		else if (k1 > k0)
			memset(row + k0, p == 1 ? c.b : c.c, k1 - k0);
		break;
	case K_YUYV:
		if (x0 % 2 == 0 && x1 % 2 == 0) { /* whole pairs */
			fill(row + 2 * (size_t)x0, (const uint8_t[]){ c.a, c.b, c.a, c.c }, 4,
			     2 * (size_t)(x1 - x0));
			break;
		}
		for (x = x0; x < x1; x++)
			row[2 * x] = c.a;
		for (k = k0; k < k1; k++) {
			row[4 * k + 1] = c.b;
			row[4 * k + 3] = c.c;
		}
		break;
	case K_RGB:
	case K_BGR:
		fill(row + 3 * (size_t)x0, (const uint8_t[]){ c.a, c.b, c.c }, 3,
		     3 * (size_t)(x1 - x0));
		break;
	}
}

/* The bytes of a row of plane @p that span() may write for pixels
 * [x0, x1): [*b0, *b1). */
static void span_bytes(const struct geom *g, uint32_t p, uint32_t x0, uint32_t x1, uint64_t *b0,
		       uint64_t *b1)
{
	uint64_t k0, k1;

	if (x1 > g->w)
		x1 = g->w;
	if (x0 > x1)
		x0 = x1;
	k0 = (x0 + 1) / 2;
	k1 = (x1 + 1) / 2;
	switch (g->kind) {
	case K_NV12:
		*b0 = p ? 2 * k0 : x0;
		*b1 = p ? 2 * k1 : x1;
		break;
	case K_I420:
		*b0 = p ? k0 : x0;
		*b1 = p ? k1 : x1;
		break;
	case K_YUYV:
		*b0 = 4 * (uint64_t)(x0 / 2);
		*b1 = 4 * k1;
		break;
	default:
		*b0 = 3 * (uint64_t)x0;
		*b1 = 3 * (uint64_t)x1;
		break;
	}
}

/* ---- the font (frame/font5x7.h, shared with the camera's preview) ----------- */

static const uint8_t *glyph(char ch)
{
	return rkv__glyph5x7(ch);
}

/* What a time cell may hold (verify tries each). */
static const char time_glyphs[] = " 0123456789.";

/* ---- the layers ------------------------------------------------------------------ */

/* What one frame shows beyond the background. */
struct scene {
	uint64_t seq;
	uint32_t bx, by;
	struct col box_col;
	char line[2][TEXT_CELLS + 1];
};

static const uint8_t bar_rgb[8][3] = {
	{ 191, 191, 191 }, { 191, 191, 0 }, { 0, 191, 191 }, { 0, 191, 0 },
	{ 191, 0, 191 },   { 191, 0, 0 },   { 0, 0, 191 },   { 0, 0, 0 },
};

static const uint8_t box_rgb[6][3] = {
	{ 255, 0, 0 },   { 0, 255, 0 },   { 0, 0, 255 },
	{ 0, 255, 255 }, { 255, 0, 255 }, { 255, 255, 0 },
};

/* A triangle wave: 0 up to @len and back, one step per unit of @t. */
static uint32_t tri(uint64_t t, uint32_t len)
{
	uint64_t m;

	if (len == 0)
		return 0;
	m = t % (2 * (uint64_t)len);
	return (uint32_t)(m <= len ? m : 2 * (uint64_t)len - m);
}

/* Where frame @seq's box is: its top left corner, both even. */
static void box_at(const struct geom *g, uint64_t seq, uint32_t *bx, uint32_t *by)
{
	*bx = g->tick_w + even(tri(seq * g->box_vx, g->box_lx));
	*by = g->box_y + even(tri(seq * g->box_vy, g->box_ly));
}

/* The scene of frame @seq; @ts_ns is the time it shows. */
static void scene_init(const struct geom *g, struct scene *sc, uint64_t seq, int64_t ts_ns)
{
	uint64_t ts = ts_ns > 0 ? (uint64_t)ts_ns : 0;
	const uint8_t *rgb = box_rgb[(seq / 16) % 6];

	sc->seq = seq;
	box_at(g, seq, &sc->bx, &sc->by);
	sc->box_col = mkcol(g, rgb[0], rgb[1], rgb[2]);
	memset(sc->line, 0, sizeof(sc->line)); /* cells past the end: blank */
	snprintf(sc->line[0], sizeof(sc->line[0]), "N %" PRIu64, seq);
	snprintf(sc->line[1], sizeof(sc->line[1]), "T %" PRIu64 ".%09" PRIu64, ts / NS_PER_S,
		 ts % NS_PER_S);
}

static uint32_t bar_x(const struct geom *g, uint32_t i)
{
	return i >= 8 ? g->w : even((uint32_t)((uint64_t)g->w * i / 8));
}

/* Each layer paints its part of image row @y into @row, row y / vsub of
 * plane @p (callers pass only the image rows that plane samples). */
static void bg_row(const struct geom *g, uint32_t p, uint8_t *row, uint32_t y)
{
	if (y < g->bars_h) {
		for (uint32_t i = 0; i < 8; i++)
			span(g, p, row, bar_x(g, i), bar_x(g, i + 1),
			     mkcol(g, bar_rgb[i][0], bar_rgb[i][1], bar_rgb[i][2]));
		return;
	}
	for (uint32_t x = 0; x < g->w; x++) {
		uint32_t v = g->w > 1 ? (uint32_t)((uint64_t)x * 255 / (g->w - 1)) : 0;
		span(g, p, row, x, x + 1, grey(g, v));
	}
}

static void box_row(const struct geom *g, const struct scene *sc, uint32_t p, uint8_t *row,
		    uint32_t y)
{
	if (y >= sc->by && y - sc->by < g->box)
		span(g, p, row, sc->bx, sc->bx + g->box, sc->box_col);
}

/* Row y's grey is 2 * ((y - seq) mod 128): it changes in every row from one
 * frame to the next, so a frame torn between two writes fails where it tore. */
static void ticker_row(const struct geom *g, const struct scene *sc, uint32_t p, uint8_t *row,
		       uint32_t y)
{
	span(g, p, row, 0, g->tick_w, g->tick[((uint64_t)y - sc->seq) & 127]);
}

/* The text's character cells: cell @c of line @l is 6 s x 8 s pixels at
 * (cell_x(), line_y()); its glyph, 5 x 7 font pixels of s x s, at its top
 * left. */
static uint32_t cell_x(const struct geom *g, uint32_t c)
{
	return g->text_x + g->s + c * 6 * g->s;
}

static uint32_t line_y(const struct geom *g, uint32_t l)
{
	return g->text_y + g->s + l * 8 * g->s;
}

/* The font row of line @l that image row @y shows, or 7 (none). */
static uint32_t font_row(const struct geom *g, uint32_t l, uint32_t y)
{
	uint32_t ly = line_y(g, l);

	return y < ly || (y - ly) / g->s >= 7 ? 7 : (y - ly) / g->s;
}

/* The set pixels of font row @fr of glyph @ch in the cell at @cx: a span
 * for each run of set bits. */
static void glyph_row(const struct geom *g, uint32_t p, uint8_t *row, uint32_t cx, char ch,
		      uint32_t fr)
{
	uint32_t bits = fr < 7 ? glyph(ch)[fr] : 0, s = g->s;

	for (uint32_t i = 0, j; i < 5; i = j) {
		for (j = i + 1; j < 5 && !(bits & (0x10u >> i)) == !(bits & (0x10u >> j));)
			j++;
		if (bits & (0x10u >> i))
			span(g, p, row, cx + i * s, cx + j * s, g->white);
	}
}

/* The text box: black, and the glyphs of both lines in white. */
static void text_row(const struct geom *g, const struct scene *sc, uint32_t p, uint8_t *row,
		     uint32_t y)
{
	if (!g->text || y < g->text_y || y - g->text_y >= g->text_h)
		return;
	span(g, p, row, g->text_x, g->text_x + g->text_w, g->black);
	for (uint32_t l = 0; l < 2; l++) {
		uint32_t fr = font_row(g, l, y);

		if (fr == 7)
			continue;
		for (uint32_t c = 0; c < TEXT_CELLS && sc->line[l][c]; c++)
			glyph_row(g, p, row, cell_x(g, c), sc->line[l][c], fr);
	}
}

/* What text_row() paints in the columns of cell @c of line @l, alone: the
 * same bytes there, and nothing outside them. For a row of that line. */
static void cell_row(const struct geom *g, const struct scene *sc, uint32_t p, uint8_t *row,
		     uint32_t y, uint32_t l, uint32_t c)
{
	uint32_t cx = cell_x(g, c);

	span(g, p, row, cx, cx + 6 * g->s, g->black);
	glyph_row(g, p, row, cx, sc->line[l][c], font_row(g, l, y));
}

/* The background has two rows of each plane, one in the bars and one in
 * the ramp: paint them into @bars and @ramp (row_bytes() each). */
static void bg_rows(const struct geom *g, uint32_t p, uint8_t *bars, uint8_t *ramp)
{
	bg_row(g, p, bars, 0);
	bg_row(g, p, ramp, g->bars_h);
}

/* Row @r of plane @p of the frame @sc shows, from scratch (with that
 * plane's bg_rows()). */
static void render_row(const struct geom *g, const struct scene *sc, uint32_t p, uint32_t r,
		       uint8_t *row, const uint8_t *bars, const uint8_t *ramp)
{
	uint32_t y = r * g->vsub[p];

	memcpy(row, y < g->bars_h ? bars : ramp, (size_t)row_bytes(g, p));
	box_row(g, sc, p, row, y);
	ticker_row(g, sc, p, row, y);
	text_row(g, sc, p, row, y);
}

/* ---- pacing arithmetic --------------------------------------------------------- */

/* floor(a * b / d), or UINT64_MAX when that does not fit in 64 bits:
 * 64 x 64 -> 128-bit product and a long division by the 32-bit @d in
 * 32-bit steps (no __int128: 32-bit ARM has none). */
static uint64_t muldiv(uint64_t a, uint64_t b, uint32_t d)
{
	const uint64_t m32 = 0xffffffffu;
	uint64_t ll = (a & m32) * (b & m32), lh = (a & m32) * (b >> 32);
	uint64_t hl = (a >> 32) * (b & m32), hh = (a >> 32) * (b >> 32);
	uint64_t mid = (ll >> 32) + (lh & m32) + (hl & m32);
	uint64_t lo = (ll & m32) | (mid << 32);
	uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	uint64_t n[4] = { hi >> 32, hi & m32, lo >> 32, lo & m32 }, q[4], rem = 0;

	for (int i = 0; i < 4; i++) {
		uint64_t cur = (rem << 32) | n[i];
		q[i] = cur / d;
		rem = cur % d;
	}
	if (q[0] || q[1])
		return UINT64_MAX;
	return (q[2] << 32) | q[3];
}

/* ---- the source ------------------------------------------------------------------ */

struct tp_buf {
	uint8_t *data;
	uint64_t seq;  /* the frame it holds, when drawn */
	char line[2][TEXT_CELLS + 1]; /* and that frame's text */
	int drawn;
	int out;
};

struct tp {
	struct geom g;
	struct rkv_frame layout;
	uint64_t size;
	uint8_t *bg[3][2];             /* each plane's background rows: bars, ramp */
	uint8_t *tick[3];              /* each plane's ticker rows, all 128 of them: */
	uint64_t tick_b0[3], tick_len[3]; /* where in a row, how long */
	uint32_t nbufs, rr;            /* rr: where the round robin goes on */
	struct tp_buf bufs[TP_MAX_BUFS];
	uint64_t period_num;           /* fps_den * 10^9: a period is this / fps_num ns */
	uint32_t fps_num;
	int64_t base;                  /* the clock at start() */
	uint64_t seq0;                 /* next_seq at start() */
	uint64_t next_seq;
	int started;
	int tfd;
	int tfd_used;                  /* rkv_source_fd() was asked for: keep it armed */
	uint64_t frames, dropped;
};

/* Offsets from base: floor(m * period), saturated. */
static uint64_t periods(const struct tp *t, uint64_t m)
{
	return muldiv(m, t->period_num, t->fps_num);
}

/* When frame @seq (>= seq0) is due. */
static int64_t due_of(const struct tp *t, uint64_t seq)
{
	uint64_t off = periods(t, seq - t->seq0 + 1);

	if (off > (uint64_t)(INT64_MAX - t->base))
		return INT64_MAX;
	return t->base + (int64_t)off;
}

/* The last frame due at @now, given that next_seq is due. */
static uint64_t due_at(const struct tp *t, int64_t now)
{
	uint64_t e = (uint64_t)(now - t->base), m;
	double est = (double)e * (double)t->fps_num / (double)t->period_num;

	/* A floating-point guess, then exact steps to the answer: the largest
	 * m with periods(m) <= e. */
	m = est >= 1 && est < 4e18 ? (uint64_t)est : 1;
	while (m > 1 && periods(t, m) > e)
		m--;
	while (periods(t, m + 1) <= e)
		m++;
	m = t->seq0 + m - 1;
	return m > t->next_seq ? m : t->next_seq;
}

static struct tp_buf *free_buf(struct tp *t)
{
	for (uint32_t i = 0; i < t->nbufs; i++) {
		struct tp_buf *b = &t->bufs[(t->rr + i) % t->nbufs];
		if (!b->out)
			return b;
	}
	return NULL;
}

/* The timerfd, when it is in use: armed for the next frame's due time
 * while the source runs and a buffer is free, disarmed otherwise (setting
 * it also clears an expiry it had). */
static void arm(struct tp *t)
{
	struct itimerspec its;
	int64_t due;

	if (!t->tfd_used)
		return;
	memset(&its, 0, sizeof(its));
	if (t->started && free_buf(t)) {
		due = due_of(t, t->next_seq);
		its.it_value.tv_sec = (time_t)(due / (int64_t)NS_PER_S);
		its.it_value.tv_nsec = (long)(due % (int64_t)NS_PER_S);
	}
	/* Cannot fail with a valid fd and value; a failure would only leave
	 * the fd quiet, and next() does not depend on it. */
	(void)timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static uint8_t *prow(const struct tp *t, uint8_t *base, uint32_t p, uint32_t r)
{
	return base + t->layout.planes[p].offset + (uint64_t)r * t->layout.planes[p].stride;
}

/* The background of row @r of plane @p. */
static const uint8_t *bg_of(const struct tp *t, uint32_t p, uint32_t r)
{
	return t->bg[p][r * t->g.vsub[p] < t->g.bars_h ? 0 : 1];
}

/* Paint the text of @sc into rows of plane @p of buffer @b. The text's
 * rows come in blocks of s alike (a font pixel is s rows high): the first
 * row of each block is painted, the others copied from it. */
static void draw_text(struct tp *t, struct tp_buf *b, const struct scene *sc, uint32_t p)
{
	const struct geom *g = &t->g;
	uint32_t r0, r1, first = 0, q, q_first = UINT32_MAX;
	uint64_t b0, b1;

	rows_of(g, p, g->text_y, g->text_y + g->text_h, &r0, &r1);
	span_bytes(g, p, g->text_x, g->text_x + g->text_w, &b0, &b1);
	for (uint32_t r = r0; r < r1; r++) {
		q = (r * g->vsub[p] - g->text_y) / g->s;
		if (q == q_first) {
			memcpy(prow(t, b->data, p, r) + b0, prow(t, b->data, p, first) + b0,
			       b1 - b0);
			continue;
		}
		text_row(g, sc, p, prow(t, b->data, p, r), r * g->vsub[p]);
		first = r;
		q_first = q;
	}
}

/* The same, over a buffer that holds the text b->line: only the cells
 * that show another glyph are painted (cell_row() paints exactly what
 * text_row() does in a cell's columns), then copied down their block. */
static void update_text(struct tp *t, struct tp_buf *b, const struct scene *sc, uint32_t p)
{
	const struct geom *g = &t->g;

	for (uint32_t l = 0; l < 2; l++) {
		uint32_t c0 = TEXT_CELLS, c1 = 0, r0, r1, first = 0, q, q_first = UINT32_MAX;
		uint32_t ly = line_y(g, l);
		uint64_t b0, b1;

		for (uint32_t c = 0; c < TEXT_CELLS; c++)
			if (glyph(b->line[l][c]) != glyph(sc->line[l][c])) {
				c0 = c < c0 ? c : c0;
				c1 = c;
			}
		if (c0 == TEXT_CELLS)
			continue;
		/* The columns from the first changed cell to the end of the
		 * last one; those between hold the same in every row of a
		 * block, so copying them too changes nothing. */
		span_bytes(g, p, cell_x(g, c0), cell_x(g, c1) + 6 * g->s, &b0, &b1);
		rows_of(g, p, ly, ly + 7 * g->s, &r0, &r1);
		for (uint32_t r = r0; r < r1; r++) {
			uint8_t *row = prow(t, b->data, p, r);

			q = (r * g->vsub[p] - ly) / g->s;
			if (q == q_first) {
				memcpy(row + b0, prow(t, b->data, p, first) + b0, b1 - b0);
				continue;
			}
			for (uint32_t c = c0; c <= c1; c++)
				if (glyph(b->line[l][c]) != glyph(sc->line[l][c]))
					cell_row(g, sc, p, row, r * g->vsub[p], l, c);
			first = r;
			q_first = q;
		}
	}
}

/* Turn buffer @b, which holds the background or frame b->seq, into frame
 * @seq (showing @ts). */
static void draw(struct tp *t, struct tp_buf *b, uint64_t seq, int64_t ts)
{
	const struct geom *g = &t->g;
	struct scene sc;
	uint32_t p, r, r0, r1;
	uint64_t b0, b1;

	if (b->drawn) {
		/* Only the old box differs from the background outside the
		 * ticker and the text box, which are painted again below. */
		uint32_t bx, by;

		box_at(g, b->seq, &bx, &by);
		for (p = 0; p < g->nplanes; p++) {
			span_bytes(g, p, bx, bx + g->box, &b0, &b1);
			rows_of(g, p, by, by + g->box, &r0, &r1);
			for (r = r0; r < r1 && b1 > b0; r++)
				memcpy(prow(t, b->data, p, r) + b0, bg_of(t, p, r) + b0, b1 - b0);
		}
	}
	scene_init(g, &sc, seq, ts);
	for (p = 0; p < g->nplanes; p++) {
		/* The box's rows are alike, and it starts and ends on an even
		 * column (or the frame's edge, even where it matters): its
		 * first row painted, and exactly span_bytes() of it copied. */
		rows_of(g, p, sc.by, sc.by + g->box, &r0, &r1);
		span_bytes(g, p, sc.bx, sc.bx + g->box, &b0, &b1);
		for (r = r0; r < r1; r++) {
			if (r == r0)
				box_row(g, &sc, p, prow(t, b->data, p, r), r * g->vsub[p]);
			else if (b1 > b0)
				memcpy(prow(t, b->data, p, r) + b0, prow(t, b->data, p, r0) + b0,
				       b1 - b0);
		}
		/* The ticker and the text are grey: in NV12 and I420 their
		 * chroma is the same in every frame, and nothing else paints
		 * those bytes (the box keeps right of the one and below the
		 * other). Once painted, it stays. */
		if (p > 0 && g->kind != K_YUYV && b->drawn)
			continue;
		/* ticker_row(), from the rows it paints, made at open: row r
		 * shows grey (r * vsub - seq) mod 128 */
		uint8_t *d = prow(t, b->data, p, 0) + t->tick_b0[p];
		size_t len = (size_t)t->tick_len[p], stride = t->layout.planes[p].stride;
		uint32_t grey_at = (uint32_t)(0 - seq) & 127, rows = plane_rows(g, p);
		for (r = 0; r < rows; r++, d += stride, grey_at = (grey_at + g->vsub[p]) & 127)
			memcpy(d, t->tick[p] + grey_at * len, len);
		if (!g->text)
			continue;
		if (b->drawn)
			update_text(t, b, &sc, p);
		else
			draw_text(t, b, &sc, p);
	}
	b->seq = seq;
	memcpy(b->line, sc.line, sizeof(b->line));
	b->drawn = 1;
}

/* The ticker's 128 rows of each plane, as ticker_row() paints them. */
static int make_ticks(struct tp *t)
{
	const struct geom *g = &t->g;
	uint64_t b1, total = 0, max = 0;
	struct scene sc;
	uint8_t *row;

	for (uint32_t p = 0; p < g->nplanes; p++) {
		span_bytes(g, p, 0, g->tick_w, &t->tick_b0[p], &b1);
		t->tick_len[p] = b1 - t->tick_b0[p];
		total += 128 * t->tick_len[p];
		max = row_bytes(g, p) > max ? row_bytes(g, p) : max;
	}
	t->tick[0] = malloc((size_t)total);
	row = malloc((size_t)max);
	if (!t->tick[0] || !row) {
		free(row);
		return -ENOMEM;
	}
	memset(&sc, 0, sizeof(sc)); /* seq 0: row y gets grey y */
	for (uint32_t p = 0; p < g->nplanes; p++) {
		if (p)
			t->tick[p] = t->tick[p - 1] + 128 * t->tick_len[p - 1];
		for (uint32_t y = 0; y < 128; y++) {
			ticker_row(g, &sc, p, row, y);
			memcpy(t->tick[p] + y * t->tick_len[p], row + t->tick_b0[p],
			       (size_t)t->tick_len[p]);
		}
	}
	free(row);
	return 0;
}

static void tp_free(struct tp *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nbufs; i++)
		free(t->bufs[i].data);
	free(t->bg[0][0]);
	free(t->tick[0]);
	if (t->tfd >= 0)
		close(t->tfd);
	free(t);
}

static int tp_open(rkv_source *s, const struct rkv_source_config *cfg,
		   struct rkv_source_info *info)
{
	uint32_t fourcc = cfg->fourcc ? cfg->fourcc : RKV_FMT_NV12;
	uint32_t w = cfg->width ? cfg->width : 640, h = cfg->height ? cfg->height : 480;
	const char *why;
	struct tp *t;
	int64_t size;
	uint64_t bg_bytes = 0;
	char name[5];

	if (cfg->uri && cfg->uri[0]) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"the test pattern takes no options (got '%s')", cfg->uri);
		return -EINVAL;
	}
	why = geom_init(&(struct geom){ 0 }, fourcc, w, h);
	if (why) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len, "%s, not %s %ux%u", why,
				rkv_fourcc_str(fourcc, name), w, h);
		return -ENOTSUP;
	}
	if (cfg->fps_num == 0 || cfg->fps_den == 0 || cfg->buffers == 0 ||
	    cfg->buffers > TP_MAX_BUFS) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"invalid test pattern configuration (rate %u/%u, %u buffers)",
				cfg->fps_num, cfg->fps_den, cfg->buffers);
		return -EINVAL;
	}
	if (cfg->fps_num > (uint64_t)cfg->fps_den * NS_PER_S) {
		rkv__set_reason(cfg->errbuf, cfg->errbuf_len,
				"the test pattern runs at up to 10^9 frames a second, not %u/%u",
				cfg->fps_num, cfg->fps_den);
		return -ENOTSUP;
	}

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->tfd = -1;
	geom_init(&t->g, fourcc, w, h);
	size = rkv_frame_layout(&t->layout, fourcc, w, h, 1);
	if (size <= 0) { /* 16384 x 16384 RGB: 805 MB, a size_t even on 32 bits */
		tp_free(t);
		return -EINVAL;
	}
	t->size = (uint64_t)size;
	/* The background: two rows a plane, in one block. */
	for (uint32_t p = 0; p < t->g.nplanes; p++)
		bg_bytes += 2 * row_bytes(&t->g, p);
	t->bg[0][0] = malloc((size_t)bg_bytes);
	if (!t->bg[0][0])
		goto nomem;
	for (uint32_t p = 0, at = 0; p < t->g.nplanes; p++) {
		uint32_t n = (uint32_t)row_bytes(&t->g, p);

		t->bg[p][0] = t->bg[0][0] + at;
		t->bg[p][1] = t->bg[p][0] + n;
		at += 2 * n;
		bg_rows(&t->g, p, t->bg[p][0], t->bg[p][1]);
	}
	if (make_ticks(t))
		goto nomem;
	for (t->nbufs = 0; t->nbufs < cfg->buffers; t->nbufs++) {
		void *d = NULL;
		if (posix_memalign(&d, 64, (size_t)t->size))
			goto nomem;
		t->bufs[t->nbufs].data = d;
		for (uint32_t p = 0; p < t->g.nplanes; p++)
			for (uint32_t r = 0; r < plane_rows(&t->g, p); r++)
				memcpy(prow(t, d, p, r), bg_of(t, p, r),
				       (size_t)row_bytes(&t->g, p));
	}
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->tfd < 0) {
		int e = errno;
		tp_free(t);
		return -e;
	}
	t->period_num = (uint64_t)cfg->fps_den * NS_PER_S;
	t->fps_num = cfg->fps_num;

	memset(info, 0, sizeof(*info));
	info->fourcc = fourcc;
	info->width = w;
	info->height = h;
	info->fps_num = cfg->fps_num;
	info->fps_den = cfg->fps_den;
	info->nbufs = 0;
	info->frame_size = t->size;
	info->layout = t->layout;
	snprintf(info->device, sizeof(info->device), "testpattern");
	s->priv = t;
	return 0;
nomem:
	tp_free(t);
	return -ENOMEM;
}

static int tp_start(rkv_source *s)
{
	struct tp *t = s->priv;

	t->base = rkv__now_ns();
	t->seq0 = t->next_seq;
	t->started = 1;
	arm(t);
	return 0;
}

static int tp_fd(rkv_source *s)
{
	struct tp *t = s->priv;

	t->tfd_used = 1;
	arm(t);
	return t->tfd;
}

static int tp_next(rkv_source *s, struct rkv_source_frame *f, int64_t timeout_ns)
{
	struct tp *t = s->priv;
	struct tp_buf *b = free_buf(t);
	int64_t now, due;
	uint64_t seq;

	if (!b)
		return -EBUSY;
	now = rkv__now_ns();
	due = due_of(t, t->next_seq);
	if (now < due) {
		struct timespec ts;
		int64_t wake = due, limit;
		int r;

		if (timeout_ns == 0)
			return -EAGAIN;
		if (timeout_ns > 0 && !__builtin_add_overflow(now, timeout_ns, &limit) &&
		    limit < wake)
			wake = limit;
		ts.tv_sec = (time_t)(wake / (int64_t)NS_PER_S);
		ts.tv_nsec = (long)(wake % (int64_t)NS_PER_S);
		r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (r)
			return -r;
		now = rkv__now_ns();
		if (now < due)
			return -ETIMEDOUT;
	}
	/* More than a period late: the frames in between are skipped. */
	seq = due_at(t, now);
	t->dropped += seq - t->next_seq;
	due = due_of(t, seq);
	draw(t, b, seq, due);
	b->out = 1;
	t->rr = (uint32_t)(b - t->bufs + 1) % t->nbufs;
	t->next_seq = seq + 1;
	t->frames++;

	memset(f, 0, sizeof(*f));
	f->frame = t->layout;
	f->frame.seq = seq;
	f->frame.timestamp_ns = due;
	f->frame.user = 0;
	f->data = b->data;
	f->buf = -1;
	arm(t);
	return 0;
}

static int tp_done(rkv_source *s, struct rkv_source_frame *f)
{
	struct tp *t = s->priv;

	for (uint32_t i = 0; i < t->nbufs; i++) {
		struct tp_buf *b = &t->bufs[i];
		if (b->out && b->data == f->data && b->seq == f->frame.seq) {
			b->out = 0;
			arm(t);
			return 0;
		}
	}
	return -EINVAL;
}

static int tp_stop(rkv_source *s)
{
	struct tp *t = s->priv;

	t->started = 0;
	arm(t);
	return 0;
}

static void tp_close(rkv_source *s)
{
	tp_free(s->priv);
	s->priv = NULL;
}

static int tp_stats(rkv_source *s, struct rkv_source_stats *st)
{
	struct tp *t = s->priv;

	st->frames = t->frames;
	st->dropped = t->dropped;
	st->errors = 0;
	st->reopens = 0;
	return 0;
}

const struct rkv_source_ops rkv__source_testpattern = {
	.size = sizeof(struct rkv_source_ops),
	.name = "testpattern",
	.open = tp_open,
	.start = tp_start,
	.fd = tp_fd,
	.next = tp_next,
	.done = tp_done,
	.stop = tp_stop,
	.close = tp_close,
	.stats = tp_stats,
};

/* ---- verify ------------------------------------------------------------------------ */

/* The plane-0 bytes of pixel @x: [*off, *off + *n). */
static void px_bytes(const struct geom *g, uint32_t x, uint64_t *off, uint32_t *n)
{
	switch (g->kind) {
	case K_NV12:
	case K_I420:
		*off = x;
		*n = 1;
		break;
	case K_YUYV:
		*off = 2 * (uint64_t)x;
		*n = 1;
		break;
	default:
		*off = 3 * (uint64_t)x;
		*n = 3;
		break;
	}
}

enum { TIME_CELLS = TEXT_CELLS - TIME_FIRST, N_TIME_GLYPHS = sizeof(time_glyphs) - 1 };

/* For each time cell, how many of its plane-0 bytes in @data differ from
 * the text @sc shows. The text is the top layer and covers its box, so the
 * box's bytes are text_row()'s alone. */
static void time_misses(const struct geom *g, const struct scene *sc, const struct rkv_frame *f,
			const uint8_t *data, uint8_t *row, uint64_t miss[TIME_CELLS])
{
	uint32_t s = g->s, ly = line_y(g, 1);

	memset(miss, 0, TIME_CELLS * sizeof(miss[0]));
	for (uint32_t y = ly; y < ly + 7 * s; y++) {
		const uint8_t *got = data + f->planes[0].offset + (uint64_t)y * f->planes[0].stride;

		text_row(g, sc, 0, row, y);
		for (uint32_t c = 0; c < TIME_CELLS; c++) {
			uint32_t cx = cell_x(g, TIME_FIRST + c);
			for (uint32_t x = cx; x < cx + 6 * s; x++) {
				uint64_t off;
				uint32_t n;
				px_bytes(g, x, &off, &n);
				for (uint32_t i = 0; i < n; i++)
					miss[c] += got[off + i] != row[off + i];
			}
		}
	}
}

/*
 * Which glyph each time cell of @data holds (the time is the one thing
 * verify cannot work out from the frame's number): into sc->line[1], for
 * each cell the one of time_glyphs whose drawing differs from the cell's
 * bytes in the fewest. The glyphs drew luma or RGB bytes alone, in plane
 * 0; the rest of each row is compared by the caller. The frame's own
 * timestamp, which sc->line[1] shows on entry, is tried first: a frame
 * that still has the source's timestamp costs one pass.
 */
static void read_time(const struct geom *g, struct scene *sc, const struct rkv_frame *f,
		      const uint8_t *data, uint8_t *row)
{
	uint64_t miss[TIME_CELLS], best[TIME_CELLS];
	char guess[TIME_CELLS];
	int exact = 1;

	for (size_t i = strlen(sc->line[1]); i < TEXT_CELLS; i++)
		sc->line[1][i] = ' ';
	sc->line[1][TEXT_CELLS] = '\0';
	memcpy(guess, sc->line[1] + TIME_FIRST, TIME_CELLS);
	time_misses(g, sc, f, data, row, best);
	for (uint32_t c = 0; c < TIME_CELLS; c++)
		exact &= best[c] == 0;
	if (exact)
		return;
	for (uint32_t gi = 0; gi < N_TIME_GLYPHS; gi++) {
		memset(sc->line[1] + TIME_FIRST, time_glyphs[gi], TIME_CELLS);
		time_misses(g, sc, f, data, row, miss);
		for (uint32_t c = 0; c < TIME_CELLS; c++)
			if (miss[c] < best[c]) {
				best[c] = miss[c];
				guess[c] = time_glyphs[gi];
			}
	}
	memcpy(sc->line[1] + TIME_FIRST, guess, TIME_CELLS);
}

int64_t rkv_testpattern_verify(const struct rkv_frame *f, const void *data)
{
	struct geom g;
	struct scene sc;
	uint64_t max = 0;
	uint8_t *row, *bars, *ramp;
	int64_t ret = 0;

	if (!f || !data || geom_init(&g, f->fourcc, f->width, f->height) ||
	    f->num_planes != g.nplanes || rkv_frame_check(f, f->bytes_used))
		return -EINVAL;
	for (uint32_t p = 0; p < g.nplanes; p++)
		if (row_bytes(&g, p) > max)
			max = row_bytes(&g, p);
	row = malloc(3 * (size_t)max);
	if (!row)
		return -ENOMEM;
	bars = row + max;
	ramp = bars + max;
	scene_init(&g, &sc, f->seq, f->timestamp_ns);
	if (g.text)
		read_time(&g, &sc, f, data, row);
	for (uint32_t p = 0; p < g.nplanes && !ret; p++) {
		uint64_t n = row_bytes(&g, p);

		bg_rows(&g, p, bars, ramp);
		for (uint32_t r = 0; r < plane_rows(&g, p); r++) {
			uint64_t at = f->planes[p].offset + (uint64_t)r * f->planes[p].stride;
			const uint8_t *got = (const uint8_t *)data + at;

			render_row(&g, &sc, p, r, row, bars, ramp);
			if (memcmp(got, row, (size_t)n) == 0)
				continue;
			for (uint64_t i = 0; i < n; i++)
				if (got[i] != row[i]) {
					ret = (int64_t)(at + i + 1);
					break;
				}
			break;
		}
	}
	free(row);
	return ret;
}
