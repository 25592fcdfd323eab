/* SPDX-License-Identifier: MIT */
/*
 * imgops/cpu_pixels.c - conversion, scaling, rotation and mirroring with
 * libyuv, and the scratch pictures between those steps.
 *
 * Conversions: libyuv has a direct function for many pairs of formats but
 * not for all, so the pairs it has are the edges of a small graph and a
 * conversion follows the shortest path (a breadth-first search over nine
 * nodes, cheaper than the copy of one row). Edges are listed so that, of
 * paths of equal length, the one keeping the most chroma comes first:
 * 4:2:2 and RGB sources go through I422 or BGRA before I420.
 *
 * A transform is: scale in the source's own format where libyuv can (so a
 * 1080p NV12 frame shrinks before anything else touches it), rotate and
 * mirror in I420, I422 or a 4-byte format, then convert to the destination.
 * The last step of all writes into the destination itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libyuv.h>
#include <libyuv/scale_rgb.h> /* RGBScale: libyuv.h does not include it */

#include "imgops/cpu.h"

typedef struct rkv__view view;

/* ---- geometry ------------------------------------------------------------- */

static int nplanes(int pix)
{
	switch (pix) {
	case RKV__PIX_NV12:
	case RKV__PIX_NV16:
		return 2;
	case RKV__PIX_I420:
	case RKV__PIX_I422:
		return 3;
	default:
		return 1;
	}
}

/* Bytes in a row and rows of plane @i of a @w x @h picture of @pix. */
static void plane_geom(int pix, int w, int h, int i, int *row, int *rows)
{
	int cw = (w + 1) / 2, ch = (h + 1) / 2;

	*rows = h;
	switch (pix) {
	case RKV__PIX_NV12:
		*row = i ? 2 * cw : w;
		*rows = i ? ch : h;
		break;
	case RKV__PIX_NV16:
		*row = i ? 2 * cw : w;
		break;
	case RKV__PIX_I420:
		*row = i ? cw : w;
		*rows = i ? ch : h;
		break;
	case RKV__PIX_I422:
		*row = i ? cw : w;
		break;
	case RKV__PIX_YUYV:
		*row = 4 * cw;
		break;
	case RKV__PIX_RGB24:
	case RKV__PIX_BGR24:
		*row = 3 * w;
		break;
	default: /* RGBA, BGRA */
		*row = 4 * w;
		break;
	}
}

int rkv__cpu_tmp(struct rkv__cpu *c, int pix, int w, int h, view *v)
{
	size_t off[3], need = 0;
	unsigned k = c->next++ % RKV__CPU_SCRATCH;

	memset(v, 0, sizeof(*v));
	v->pix = pix;
	v->w = w;
	v->h = h;
	for (int i = 0; i < nplanes(pix); i++) {
		int row, rows;

		plane_geom(pix, w, h, i, &row, &rows);
		/* 64-byte rows and planes: libyuv's widest loads stay aligned. */
		v->s[i] = (row + 63) & ~63;
		off[i] = need;
		need += ((size_t)v->s[i] * (size_t)rows + 63) & ~(size_t)63;
	}
	if (c->scratch[k].cap < need) {
		void *p = NULL;

		if (posix_memalign(&p, 64, need))
			return -ENOMEM;
		free(c->scratch[k].p);
		c->scratch[k].p = p;
		c->scratch[k].cap = need;
	}
	for (int i = 0; i < nplanes(pix); i++)
		v->p[i] = c->scratch[k].p + off[i];
	return 0;
}

static void copy_view(const view *s, const view *d)
{
	for (int i = 0; i < nplanes(s->pix); i++) {
		int row, rows;

		plane_geom(s->pix, s->w, s->h, i, &row, &rows);
		CopyPlane(s->p[i], s->s[i], d->p[i], d->s[i], row, rows);
	}
}

/* ---- the conversion graph ------------------------------------------------- */

/* One wrapper per libyuv function, by the shape of its arguments:
 * B = Y + interleaved CbCr, P = three planes, K = one packed plane. */
#define EDGE_BK(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], s->p[1], s->s[1], d->p[0], d->s[0], s->w, \
			  s->h);                                                     \
	}
#define EDGE_BP(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], s->p[1], s->s[1], d->p[0], d->s[0], d->p[1], \
			  d->s[1], d->p[2], d->s[2], s->w, s->h);                    \
	}
#define EDGE_PB(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], s->p[1], s->s[1], s->p[2], s->s[2], d->p[0], \
			  d->s[0], d->p[1], d->s[1], s->w, s->h);                    \
	}
#define EDGE_PK(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], s->p[1], s->s[1], s->p[2], s->s[2], d->p[0], \
			  d->s[0], s->w, s->h);                                      \
	}
#define EDGE_PP(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], s->p[1], s->s[1], s->p[2], s->s[2], d->p[0], \
			  d->s[0], d->p[1], d->s[1], d->p[2], d->s[2], s->w, s->h);  \
	}
#define EDGE_KP(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], d->p[0], d->s[0], d->p[1], d->s[1], d->p[2], \
			  d->s[2], s->w, s->h);                                      \
	}
#define EDGE_KB(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], d->p[0], d->s[0], d->p[1], d->s[1], s->w, \
			  s->h);                                                     \
	}
#define EDGE_KK(fn)                                                              \
	static int e_##fn(const view *s, const view *d)                          \
	{                                                                        \
		return fn(s->p[0], s->s[0], d->p[0], d->s[0], s->w, s->h);       \
	}

EDGE_BP(NV12ToI420)
EDGE_BK(NV12ToRAW)
EDGE_BK(NV12ToRGB24)
EDGE_BK(NV12ToABGR)
EDGE_BK(NV12ToARGB)
EDGE_PB(I420ToNV12)
EDGE_PP(I420ToI422)
EDGE_PP(I422ToI420)
EDGE_PK(I420ToYUY2)
EDGE_PK(I420ToRAW)
EDGE_PK(I420ToRGB24)
EDGE_PK(I420ToABGR)
EDGE_PK(I420ToARGB)
EDGE_PK(I422ToYUY2)
EDGE_PK(I422ToRAW)
EDGE_PK(I422ToRGB24)
EDGE_PK(I422ToABGR)
EDGE_PK(I422ToARGB)
EDGE_KP(YUY2ToI422)
EDGE_KP(YUY2ToI420)
EDGE_KB(YUY2ToNV12)
EDGE_KK(YUY2ToARGB)
EDGE_KP(RAWToI420)
EDGE_KP(RGB24ToI420)
EDGE_KP(ABGRToI420)
EDGE_KP(ARGBToI420)
EDGE_KP(ARGBToI422)
EDGE_KB(ARGBToNV12)
EDGE_KB(ABGRToNV12)
EDGE_KK(ARGBToYUY2)
EDGE_KK(RAWToARGB)
EDGE_KK(RGB24ToARGB)
EDGE_KK(ABGRToARGB)
EDGE_KK(ARGBToRAW)
EDGE_KK(ARGBToRGB24)
EDGE_KK(ARGBToABGR)
EDGE_KK(RAWToRGB24) /* swaps R and B: RGB24 <-> BGR24 both ways */

/* NV16 <-> I422: the luma is copied, the chroma (de)interleaved. */
static int e_NV16ToI422(const view *s, const view *d)
{
	CopyPlane(s->p[0], s->s[0], d->p[0], d->s[0], s->w, s->h);
	SplitUVPlane(s->p[1], s->s[1], d->p[1], d->s[1], d->p[2], d->s[2], (s->w + 1) / 2, s->h);
	return 0;
}

static int e_I422ToNV16(const view *s, const view *d)
{
	CopyPlane(s->p[0], s->s[0], d->p[0], d->s[0], s->w, s->h);
	MergeUVPlane(s->p[1], s->s[1], s->p[2], s->s[2], d->p[1], d->s[1], (s->w + 1) / 2, s->h);
	return 0;
}

enum {
	NV12 = RKV__PIX_NV12, NV16 = RKV__PIX_NV16, I420 = RKV__PIX_I420, YUYV = RKV__PIX_YUYV,
	RGB24 = RKV__PIX_RGB24, BGR24 = RKV__PIX_BGR24, RGBA = RKV__PIX_RGBA,
	I422 = RKV__PIX_I422, BGRA = RKV__PIX_BGRA,
};

static const struct edge {
	int8_t from, to;
	int (*fn)(const view *s, const view *d);
} edges[] = {
	{ NV16, I422, e_NV16ToI422 },
	{ YUYV, I422, e_YUY2ToI422 },
	{ YUYV, NV12, e_YUY2ToNV12 },
	{ YUYV, I420, e_YUY2ToI420 },
	{ YUYV, BGRA, e_YUY2ToARGB },
	{ I422, NV16, e_I422ToNV16 },
	{ I422, YUYV, e_I422ToYUY2 },
	{ I422, RGB24, e_I422ToRAW },
	{ I422, BGR24, e_I422ToRGB24 },
	{ I422, RGBA, e_I422ToABGR },
	{ I422, BGRA, e_I422ToARGB },
	{ I422, I420, e_I422ToI420 },
	{ NV12, I420, e_NV12ToI420 },
	{ NV12, RGB24, e_NV12ToRAW },
	{ NV12, BGR24, e_NV12ToRGB24 },
	{ NV12, RGBA, e_NV12ToABGR },
	{ NV12, BGRA, e_NV12ToARGB },
	{ I420, NV12, e_I420ToNV12 },
	{ I420, YUYV, e_I420ToYUY2 },
	{ I420, RGB24, e_I420ToRAW },
	{ I420, BGR24, e_I420ToRGB24 },
	{ I420, RGBA, e_I420ToABGR },
	{ I420, BGRA, e_I420ToARGB },
	{ I420, I422, e_I420ToI422 },
	{ RGB24, BGR24, e_RAWToRGB24 },
	{ BGR24, RGB24, e_RAWToRGB24 },
	{ RGB24, BGRA, e_RAWToARGB },
	{ BGR24, BGRA, e_RGB24ToARGB },
	{ RGBA, BGRA, e_ABGRToARGB },
	{ RGBA, NV12, e_ABGRToNV12 },
	{ RGB24, I420, e_RAWToI420 },
	{ BGR24, I420, e_RGB24ToI420 },
	{ RGBA, I420, e_ABGRToI420 },
	{ BGRA, RGB24, e_ARGBToRAW },
	{ BGRA, BGR24, e_ARGBToRGB24 },
	{ BGRA, RGBA, e_ARGBToABGR },
	{ BGRA, I422, e_ARGBToI422 },
	{ BGRA, YUYV, e_ARGBToYUY2 },
	{ BGRA, NV12, e_ARGBToNV12 },
	{ BGRA, I420, e_ARGBToI420 },
};
#define NEDGES (sizeof(edges) / sizeof(edges[0]))
#define MAXPATH 4

/* The edges from @from to @to, shortest first found; returns their number
 * (0 when there is no path; the graph has one between every two formats). */
static int find_path(int from, int to, const struct edge *path[MAXPATH])
{
	int via[RKV__PIX_COUNT], queue[RKV__PIX_COUNT], head = 0, tail = 0, n = 0;

	for (int i = 0; i < RKV__PIX_COUNT; i++)
		via[i] = -1;
	via[from] = (int)NEDGES; /* the start: reached, by no edge */
	queue[tail++] = from;
	while (head < tail && via[to] < 0) {
		int at = queue[head++];

		for (size_t e = 0; e < NEDGES; e++)
			if (edges[e].from == at && via[edges[e].to] < 0) {
				via[edges[e].to] = (int)e;
				queue[tail++] = edges[e].to;
			}
	}
	if (via[to] < 0)
		return 0;
	for (int at = to; at != from; at = edges[via[at]].from)
		n++;
	if (n > MAXPATH)
		return 0;
	for (int at = to, i = n - 1; at != from; at = edges[via[at]].from, i--)
		path[i] = &edges[via[at]];
	return n;
}

int rkv__cpu_convert(struct rkv__cpu *c, const view *s, const view *d)
{
	const struct edge *path[MAXPATH];
	view cur = *s, next;
	int n, r;

	if (s->pix == d->pix) {
		copy_view(s, d);
		return 0;
	}
	n = find_path(s->pix, d->pix, path);
	if (n == 0)
		return -ENOTSUP;
	for (int i = 0; i < n; i++) {
		if (i + 1 < n) {
			r = rkv__cpu_tmp(c, path[i]->to, s->w, s->h, &next);
			if (r < 0)
				return r;
		} else {
			next = *d;
		}
		if (path[i]->fn(&cur, &next) != 0)
			return -EINVAL;
		cur = next;
	}
	return 0;
}

/* ---- scaling, rotation, mirroring ----------------------------------------- */

/* The format to scale a picture of @pix in: its own where libyuv scales it. */
static int scale_pix(int pix)
{
	switch (pix) {
	case NV16:
	case YUYV:
		return I422;
	default:
		return pix;
	}
}

static int scale(const view *s, const view *d, uint32_t filter)
{
	enum FilterMode f = filter == RKV_FILTER_BOX       ? kFilterBox
			    : filter == RKV_FILTER_NEAREST ? kFilterNone
							   : kFilterBilinear;

	switch (s->pix) {
	case NV12:
		return NV12Scale(s->p[0], s->s[0], s->p[1], s->s[1], s->w, s->h, d->p[0], d->s[0],
				 d->p[1], d->s[1], d->w, d->h, f);
	case I420:
		return I420Scale(s->p[0], s->s[0], s->p[1], s->s[1], s->p[2], s->s[2], s->w, s->h,
				 d->p[0], d->s[0], d->p[1], d->s[1], d->p[2], d->s[2], d->w, d->h, f);
	case I422:
		return I422Scale(s->p[0], s->s[0], s->p[1], s->s[1], s->p[2], s->s[2], s->w, s->h,
				 d->p[0], d->s[0], d->p[1], d->s[1], d->p[2], d->s[2], d->w, d->h, f);
	case RGB24:
	case BGR24: /* the three bytes are filtered alike, whatever their order */
		return RGBScale(s->p[0], s->s[0], s->w, s->h, d->p[0], d->s[0], d->w, d->h, f);
	default: /* RGBA, BGRA: likewise, four bytes */
		return ARGBScale(s->p[0], s->s[0], s->w, s->h, d->p[0], d->s[0], d->w, d->h, f);
	}
}

/* The format to rotate or mirror a picture of @pix in. */
static int orient_pix(int pix)
{
	switch (pix) {
	case NV12:
	case I420:
		return I420;
	case NV16:
	case YUYV:
	case I422:
		return I422;
	case RGBA:
		return RGBA;
	default:
		return BGRA;
	}
}

static int rotate(const view *s, const view *d, uint32_t deg)
{
	enum RotationMode m = (enum RotationMode)deg;

	switch (s->pix) {
	case NV12: /* into I420, in one pass */
		return NV12ToI420Rotate(s->p[0], s->s[0], s->p[1], s->s[1], d->p[0], d->s[0],
					d->p[1], d->s[1], d->p[2], d->s[2], s->w, s->h, m);
	case I420:
		return I420Rotate(s->p[0], s->s[0], s->p[1], s->s[1], s->p[2], s->s[2], d->p[0],
				  d->s[0], d->p[1], d->s[1], d->p[2], d->s[2], s->w, s->h, m);
	case I422:
		return I422Rotate(s->p[0], s->s[0], s->p[1], s->s[1], s->p[2], s->s[2], d->p[0],
				  d->s[0], d->p[1], d->s[1], d->p[2], d->s[2], s->w, s->h, m);
	default: /* RGBA, BGRA: any four bytes */
		return ARGBRotate(s->p[0], s->s[0], d->p[0], d->s[0], s->w, s->h, m);
	}
}

static int mirror(const view *s, const view *d)
{
	if (s->pix == RGBA || s->pix == BGRA)
		return ARGBMirror(s->p[0], s->s[0], d->p[0], d->s[0], s->w, s->h);
	for (int i = 0; i < 3; i++) { /* I420, I422: each plane on its own */
		int row, rows;

		plane_geom(s->pix, s->w, s->h, i, &row, &rows);
		MirrorPlane(s->p[i], s->s[i], d->p[i], d->s[i], row, rows);
	}
	return 0;
}

/* Where a step writes: the destination itself when this is the last step
 * and the format is the destination's, a scratch picture otherwise. */
static int step_out(struct rkv__cpu *c, int last, int pix, int w, int h, const view *dst, view *out)
{
	if (last && pix == dst->pix) {
		*out = *dst;
		return 0;
	}
	return rkv__cpu_tmp(c, pix, w, h, out);
}

int rkv__cpu_pipeline(struct rkv__cpu *c, const view *s, const view *d, uint32_t rot,
		      uint32_t flip, uint32_t filter)
{
	view cur = *s, next;
	int hflip = !!(flip & RKV_FLIP_H), tw, th, r, done = 0;

	/* A flip upside down is a half turn and a mirror: every one of the
	 * eight orientations is a rotation, then maybe a mirror. */
	if (flip & RKV_FLIP_V) {
		rot = (rot + 180) % 360;
		hflip ^= 1;
	}
	/* The size to scale to, before the rotation. */
	tw = rot == 90 || rot == 270 ? d->h : d->w;
	th = rot == 90 || rot == 270 ? d->w : d->h;

	if (cur.w != tw || cur.h != th) {
		int sp = scale_pix(cur.pix);

		if (sp != cur.pix) {
			if ((r = rkv__cpu_tmp(c, sp, cur.w, cur.h, &next)) < 0 ||
			    (r = rkv__cpu_convert(c, &cur, &next)) < 0)
				return r;
			cur = next;
		}
		done = !rot && !hflip && sp == d->pix;
		if ((r = step_out(c, done, sp, tw, th, d, &next)) < 0)
			return r;
		if (scale(&cur, &next, filter) != 0)
			return -EINVAL;
		cur = next;
	}
	if (rot || hflip) {
		int op = orient_pix(cur.pix);

		if (op != cur.pix && !(rot && cur.pix == NV12)) {
			if ((r = rkv__cpu_tmp(c, op, cur.w, cur.h, &next)) < 0 ||
			    (r = rkv__cpu_convert(c, &cur, &next)) < 0)
				return r;
			cur = next;
		}
		if (rot) {
			int w = rot == 180 ? cur.w : cur.h, h = rot == 180 ? cur.h : cur.w;

			done = !hflip && op == d->pix;
			if ((r = step_out(c, done, op, w, h, d, &next)) < 0)
				return r;
			if (rotate(&cur, &next, rot) != 0)
				return -EINVAL;
			cur = next;
		}
		if (hflip) {
			done = op == d->pix;
			if ((r = step_out(c, done, op, cur.w, cur.h, d, &next)) < 0)
				return r;
			if (mirror(&cur, &next) != 0)
				return -EINVAL;
			cur = next;
		}
	}
	return done ? 0 : rkv__cpu_convert(c, &cur, d);
}
