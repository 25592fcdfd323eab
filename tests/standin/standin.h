/* SPDX-License-Identifier: MIT */
/*
 * standin.h - what the stand-in vendor libraries (rga.c, mpp.c here) record
 * for the tests, read through rkv_standin_record() (dlsym it from the same
 * library the backend loaded).
 *
 * The stand-ins are configured by environment variables read at each call:
 *   RKV_STANDIN_FAIL   words: "import" (every import fails), "check"
 *                      (imcheck refuses), "job" (every job fails)
 *   RKV_STANDIN_RGA_VERSION  what querystring(RGA_VERSION) answers
 *                      (default "RGA_3, RGA_2_Enhance")
 */
#ifndef RKV_TESTS_STANDIN_H
#define RKV_TESTS_STANDIN_H

#include <stdint.h>

struct rkv_standin_record {
	uint64_t imports_fd;   /* buffers imported by DMA-BUF fd (and mmapped) */
	uint64_t imports_va;   /* buffers imported by virtual address */
	uint64_t imports_copy; /* buffers the caller allocated and copied into */
	uint64_t releases;     /* imports released */
	uint64_t live;         /* imports not released yet */
	uint64_t jobs;         /* jobs done */
	uint64_t jobs_fd_src;  /* ... whose source was read through an fd's mapping */
	uint64_t jobs_fd_dst;  /* ... whose destination was written through one */
};

typedef void (*rkv_standin_record_fn)(struct rkv_standin_record *out);

#endif /* RKV_TESTS_STANDIN_H */
