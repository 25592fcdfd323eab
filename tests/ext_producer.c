/* SPDX-License-Identifier: MIT */
/*
 * ext_producer.c - a pool whose slots are external fds, as a camera's
 * DMA-BUFs are, for tests/python/test_external.py: creates pool argv[1]
 * with 4 slots, slot i at byte offset (i + 1) * 4096 of memfd i (sealed
 * against growing and shrinking, as a DMA-BUF cannot change size), and
 * publishes 64x48 NV12 frames whose every byte is seq & 0xff, about 200 a
 * second, until stdin closes or 30 s pass. Prints "ready" once the pool
 * exists. Consumers get the slots' fds and offsets with each frame, which
 * is what the Python binding's frame.fd and frame.offset carry.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rkv/pool.h>

#define SLOTS 4
#define W 64
#define H 48

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	struct rkv_frame f;
	int64_t size = rkv_frame_layout(&f, RKV_FMT_NV12, W, H, 1);
	if (size < 0)
		return 1;
	int fds[SLOTS];
	uint64_t offs[SLOTS];
	unsigned char *maps[SLOTS];
	for (int i = 0; i < SLOTS; i++) {
		offs[i] = (uint64_t)(i + 1) * 4096;
		size_t len = (size_t)offs[i] + (size_t)size;
		fds[i] = memfd_create("ext-slot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fds[i] < 0 || ftruncate(fds[i], (off_t)len) < 0 ||
		    fcntl(fds[i], F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)
			return 1;
		maps[i] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (maps[i] == MAP_FAILED)
			return 1;
		memset(maps[i], 0xee, (size_t)offs[i]); /* not frame bytes */
	}
	struct rkv_pool_opts po = {
		.slot_count = SLOTS, .slot_capacity = (uint64_t)size,
		.slot_fds = fds, .slot_offsets = offs,
	};
	rkv_producer *p;
	int r = rkv_producer_create(argv[1], &po, &p);
	if (r) {
		fprintf(stderr, "ext_producer: %s\n", strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (uint64_t seq = 0; seq < 6000; seq++) {
		struct pollfd in = { .fd = 0, .events = POLLIN };
		if (poll(&in, 1, 5) > 0)
			break; /* stdin closed (or written to): done */
		struct rkv_loan l;
		r = rkv_producer_loan(p, &l, 0);
		if (r == -EAGAIN || r == -ETIMEDOUT)
			continue; /* every slot held: skip this frame */
		if (r) {
			fprintf(stderr, "ext_producer: loan: %s\n", strerror(-r));
			break;
		}
		/* Written through the producer's own mapping of the fd, as a
		 * device would fill its buffer. */
		memset(maps[l.slot] + offs[l.slot], (int)(seq & 0xff), (size_t)size);
		f.seq = seq;
		f.timestamp_ns = 0;
		r = rkv_producer_publish(p, &l, &f);
		if (r < 0) {
			fprintf(stderr, "ext_producer: publish: %s\n", strerror(-r));
			break;
		}
	}
	rkv_producer_destroy(p);
	return 0;
}
