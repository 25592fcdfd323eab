/* SPDX-License-Identifier: MIT */
/*
 * guard_producer.c - a pool with external slots (memfds standing in for
 * DMA-BUFs, as in unit_pool.c) for tests/python/test_guard.py, which
 * publishes on demand (tests/ext_producer.c publishes on its own, at fixed
 * page-aligned offsets):
 *
 *   guard_producer NAME SLOTS CAPACITY OFFSET
 *
 * Slot i is memfd i from byte OFFSET (not page-aligned, so that views
 * carry an fd_offset inside a page). Prints "ready" once the pool exists.
 * Then, for each line "B" on stdin (a byte value), loans a slot, fills all
 * CAPACITY bytes with B, publishes it as BYTES and prints "published N"
 * (N: the consumers it went to). Ends at the end of stdin.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rkv/pool.h>

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	unsigned slots = (unsigned)atoi(argv[2]);
	uint64_t cap = strtoull(argv[3], NULL, 0), off = strtoull(argv[4], NULL, 0);
	if (slots == 0 || slots > 16 || cap == 0)
		return 2;
	int fds[16];
	uint64_t offs[16];
	for (unsigned i = 0; i < slots; i++) {
		fds[i] = memfd_create("guard_producer", MFD_CLOEXEC);
		offs[i] = off;
		if (fds[i] < 0 || ftruncate(fds[i], (off_t)(off + cap)) < 0) {
			perror("guard_producer: memfd");
			return 1;
		}
	}
	struct rkv_pool_opts po = {
		.slot_count = slots, .slot_capacity = cap, .flags = RKV_POOL_CPU_WRITE,
		.block_timeout_ns = 5000000000LL, .slot_fds = fds, .slot_offsets = offs,
	};
	rkv_producer *p;
	int r = rkv_producer_create(argv[1], &po, &p);
	if (r < 0) {
		fprintf(stderr, "guard_producer: create: %s\n", strerror(-r));
		return 1;
	}
	for (unsigned i = 0; i < slots; i++)
		close(fds[i]);
	printf("ready\n");
	fflush(stdout);
	char line[64];
	uint64_t seq = 0;
	while (fgets(line, sizeof line, stdin)) {
		struct rkv_loan l;
		r = rkv_producer_loan(p, &l, 5000000000LL);
		if (r < 0) {
			fprintf(stderr, "guard_producer: loan: %s\n", strerror(-r));
			break;
		}
		memset(l.data, atoi(line) & 0xff, cap);
		struct rkv_frame f = { .seq = seq++, .fourcc = RKV_FMT_BYTES, .bytes_used = cap };
		r = rkv_producer_publish(p, &l, &f);
		if (r < 0) {
			fprintf(stderr, "guard_producer: publish: %s\n", strerror(-r));
			break;
		}
		printf("published %d\n", r);
		fflush(stdout);
	}
	rkv_producer_destroy(p);
	return 0;
}
