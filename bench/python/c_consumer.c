/* SPDX-License-Identifier: MIT */
/* A block consumer in C for bench_python.py: attaches to pool argv[1],
 * takes argv[2] frames, reading one byte every argv[3] bytes of each (absent
 * or 0: the first byte only), and prints "frames seconds sum", timed from
 * the first frame to the last. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <rkv/pool.h>

#include "touch.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[2]);
	size_t stride = argc > 3 ? (size_t)atol(argv[3]) : 0;
	struct rkv_consumer_opts co = { .policy = RKV_POLICY_BLOCK };
	rkv_consumer *c;
	struct rkv_view v;
	if (rkv_consumer_attach(argv[1], &co, &c) < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	unsigned sum = 0;
	long got = 0;
	double t0 = 0;
	while (got < n && rkv_consumer_acquire(c, &v, RKV_WAIT_FOREVER) == 0) {
		if (got == 0)
			t0 = now();
		sum += touch(&v, stride);
		rkv_consumer_release(c, &v);
		got++;
	}
	double t = now() - t0;
	printf("%ld %.6f %u\n", got - 1, t, sum);
	rkv_consumer_detach(c);
	return 0;
}
