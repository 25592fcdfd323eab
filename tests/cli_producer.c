/* SPDX-License-Identifier: MIT */
/*
 * cli_producer.c - a pool for tests/cli_test.py to look at: creates pool
 * argv[1], prints "ready" once it exists, publishes small frames at about
 * 200 per second until stdin closes or 30 s pass.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rkv/pool.h>

int main(int argc, char **argv)
{
	struct rkv_pool_opts po = { .slot_count = 8, .slot_capacity = 4096 };
	rkv_producer *p;
	int r;

	if (argc != 2)
		return 2;
	r = rkv_producer_create(argv[1], &po, &p);
	if (r) {
		fprintf(stderr, "cli_producer: %s\n", strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (uint64_t seq = 0; seq < 30 * 200; seq++) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		struct rkv_frame f = { .seq = seq, .fourcc = RKV_FMT_BYTES };
		char buf[64];
		int n = snprintf(buf, sizeof buf, "frame %llu", (unsigned long long)seq);
		r = rkv_producer_publish_copy(p, buf, (size_t)n, &f, 1000000000LL);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "cli_producer: publish: %s\n", strerror(-r));
			break;
		}
		if (poll(&pfd, 1, 5) > 0)
			break; /* stdin closed or spoke: done */
	}
	rkv_producer_destroy(p);
	return 0;
}
