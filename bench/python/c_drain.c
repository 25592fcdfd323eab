/* SPDX-License-Identifier: MIT */
/*
 * The C side of bench_python.py's guard section: the consumer's own cost
 * per frame, with no waiting for the producer in it.
 *
 *   rkv-bench-c-drain NAME SIZE FRAMES BATCH [STRIDE]
 *
 * Creates pool NAME (BATCH + 2 slots of SIZE bytes) and attaches a block
 * consumer with a queue of BATCH. Then, until FRAMES frames are read:
 * publishes BATCH frames (not timed), and takes them, reading one byte
 * every STRIDE bytes of each (absent or 0: the first byte only), and
 * releases them (timed). The first WARM batches are not timed (the
 * first touch of each slot's pages). Prints "frames seconds sum".
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rkv/pool.h>

#include "touch.h"

#define WARM 4

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	size_t size = (size_t)atol(argv[2]);
	long frames = atol(argv[3]);
	unsigned batch = (unsigned)atoi(argv[4]);
	size_t stride = argc > 5 ? (size_t)atol(argv[5]) : 0;
	if (size == 0 || frames <= 0 || batch == 0)
		return 2;
	struct rkv_pool_opts po = { .slot_count = batch + 2, .slot_capacity = size };
	struct rkv_consumer_opts co = { .policy = RKV_POLICY_BLOCK, .queue_depth = batch };
	rkv_producer *p;
	rkv_consumer *c;
	if (rkv_producer_create(argv[1], &po, &p) < 0)
		return 1;
	if (rkv_consumer_attach(argv[1], &co, &c) < 0) {
		rkv_producer_destroy(p);
		return 1;
	}
	unsigned char *src = calloc(1, size);
	if (!src)
		return 1;
	unsigned sum = 0;
	long got = 0, done = -WARM * (long)batch;
	double spent = 0;
	while (done < frames) {
		for (unsigned i = 0; i < batch; i++) {
			struct rkv_frame f = { .seq = (uint64_t)(got + i), .fourcc = RKV_FMT_BYTES };
			src[0] = (unsigned char)(got + i);
			if (rkv_producer_publish_copy(p, src, size, &f, RKV_WAIT_FOREVER) < 0)
				return 1;
		}
		double t0 = now();
		for (unsigned i = 0; i < batch; i++) {
			struct rkv_view v;
			if (rkv_consumer_acquire(c, &v, RKV_WAIT_FOREVER) < 0)
				return 1;
			sum += touch(&v, stride);
			rkv_consumer_release(c, &v);
		}
		if (done >= 0)
			spent += now() - t0;
		got += batch;
		done += batch;
	}
	printf("%ld %.6f %u\n", done, spent, sum);
	free(src);
	rkv_consumer_detach(c);
	rkv_producer_destroy(p);
	return 0;
}
