/* SPDX-License-Identifier: MIT */
/* What bench_python.py's C consumers read of a frame: one byte every
 * @stride bytes (0: the first byte only); returns their sum. */
#ifndef RKV_BENCH_PY_TOUCH_H
#define RKV_BENCH_PY_TOUCH_H
#include <stddef.h>
#include <rkv/pool.h>

static inline unsigned touch(const struct rkv_view *v, size_t stride)
{
	const unsigned char *d = v->data;
	unsigned sum = 0;
	if (!stride)
		return d[0];
	for (size_t i = 0; i < v->frame.bytes_used; i += stride)
		sum += d[i];
	return sum;
}
#endif
