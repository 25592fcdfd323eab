/* SPDX-License-Identifier: MIT */
/* A C producer for bench_python.py: creates pool argv[1] (4 slots of
 * argv[3] bytes, or "1080p": 1920x1080 RGB24 frames), waits for one consumer, prints "ready", then publishes
 * argv[2] frames as fast as the consumers let it (policy block sets the
 * pace). Frame i carries i & 0xff in its first byte, or in every byte
 * when argv[4] is "fill" (the torn-frame check). Exits 0 once every frame
 * is published, or when the consumer went away (publish fails). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rkv/pool.h>

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	long n = atol(argv[2]);
	struct rkv_frame f = { .fourcc = RKV_FMT_BYTES };
	size_t size;
	if (strcmp(argv[3], "1080p") == 0) {
		int64_t r = rkv_frame_layout(&f, RKV_FMT_RGB24, 1920, 1080, 1);
		if (r < 0)
			return 1;
		size = (size_t)r;
	} else {
		size = (size_t)atol(argv[3]);
		f.bytes_used = size;
	}
	int fill = argc > 4 && strcmp(argv[4], "fill") == 0;
	struct rkv_pool_opts o = {
		.slot_count = 4, .slot_capacity = size < 4096 ? 4096 : size,
		.block_timeout_ns = 5000000000LL,
	};
	rkv_producer *p;
	int rc = rkv_producer_create(argv[1], &o, &p);
	if (rc < 0) {
		fprintf(stderr, "c_producer: create %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	if (rkv_producer_wait_consumers(p, 1, 10000000000LL) < 0) {
		rkv_producer_destroy(p);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (long i = 0; i < n; i++) {
		struct rkv_loan l;
		if (rkv_producer_loan(p, &l, 5000000000LL) < 0)
			break;
		unsigned char *d = l.data;
		if (fill)
			memset(d, (int)(i & 0xff), size);
		else
			d[0] = (unsigned char)(i & 0xff);
		f.seq = (uint64_t)i;
		if (rkv_producer_publish(p, &l, &f) < 0)
			break;
	}
	rkv_producer_destroy(p);
	return 0;
}
