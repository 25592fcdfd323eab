/* SPDX-License-Identifier: MIT */
/*
 * producer.h - the producer's private state, shared by its source files:
 * producer.c (create, loan, publish), books.c (who holds which slot, and
 * consumers leaving) and attach.c (the service thread: attach, detach,
 * crashes, fork).
 */
#ifndef RKV_POOL_PRODUCER_H
#define RKV_POOL_PRODUCER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool/internal.h"

#define PAGE 4096u
#define MAX_PENDING 16            /* connections that have not said hello yet */
#define PENDING_TTL_NS 2000000000 /* a silent connection is dropped after 2 s */
#define DEFAULT_BLOCK_TIMEOUT_NS 1000000000

/* epoll tags: kind in the top byte, index and generation below */
#define TAG_STOP    1u
#define TAG_LISTEN  2u
#define TAG_PENDING 3u
#define TAG_CONS    4u
#define MKTAG(kind, idx, gen) (((uint64_t)(kind) << 56) | ((uint64_t)(gen) << 24) | (idx))

struct group;

/* The producer's view of one consumer. */
struct cons {
	int active;
	uint32_t id;
	uint32_t gen;             /* bumped at every attach into this entry */
	uint32_t policy, depth, max_held, flags;
	int sock;                 /* the lease */
	int pidfd;                /* the consumer process, to see it die */
	int efd;                  /* wakes the consumer */
	struct rkv_wire_chan *chan;
	uint64_t chan_size;
	uint64_t *ready;
	uint32_t *release;
	uint32_t ready_mask, release_mask;
	uint64_t tail;            /* our ready_tail */
	uint64_t head;            /* last ready_head we checked */
	uint64_t rel_head;        /* our release_head */
	uint32_t outstanding;     /* bits set in owned */
	uint64_t *owned;          /* slots queued to or held by this consumer */
	struct group *group;
	uint64_t delivered, dropped, replaced;
	int wake;                 /* got a frame in this publish: check its flag */
	struct rkv_wire_cstats *st;
};

/* A consumer group: one shared queue, one private record of what is in it. */
struct group {
	int used;
	uint32_t gen;             /* bumped at every creation in this entry */
	char name[RKV_LABEL_MAX];
	uint32_t members;
	uint32_t flags;           /* RKV_GROUP_BLOCK */
	uint32_t ring_size, mask;
	int fd;
	struct rkv_wire_group *g;
	uint64_t size;
	uint64_t *cells;
	uint64_t tail;
	uint64_t *queued;         /* slots the group owns: in a cell, claimed or not */
	uint64_t *pos;            /* per slot: the position it was queued at */
	uint32_t nqueued;
	uint32_t next_wake;       /* round-robin start when waking a member */
};

struct pending {
	int fd;
	int64_t since;
};

struct rkv_producer {
	pthread_mutex_t lock;
	pthread_cond_t attached;
	char name[RKV_NAME_MAX + 1];
	uint32_t nslots;
	uint32_t max_consumers;
	uint32_t max_loans;
	uint32_t flags;
	int64_t block_timeout_ns;
	gid_t access_gid;
	uint64_t capacity, stride;

	int pool_fd;
	int pool_ro_fd;           /* what consumers get */
	struct rkv_wire_pool *hdr;
	uint64_t pool_size;
	struct rkv_wire_slot *slots;
	struct rkv_wire_cstats *stats;
	uint8_t *data;

	int listen_fd, prod_efd, stop_efd, ep;
	pthread_t thread;
	int thread_started;

	uint32_t *refs;
	uint32_t *free_stack;
	uint32_t nfree;
	uint32_t *loan_token;     /* nonzero while loaned */
	uint32_t nloans;
	uint32_t next_token;
	uint64_t published;
	uint32_t sleep_gen;       /* the last value put in producer_waiting */

	struct cons *cons;
	struct group *groups;
	uint32_t nconsumers;
	uint32_t words;           /* 64-bit words in a slot bitmap */
	uint32_t *waitlist;       /* publish: consumers (or groups) still full */
	uint32_t *waitgen;        /* ... and the generation of each consumer */
	uint32_t *list;           /* active consumers outside groups, for publish */
	uint32_t nlist;
	uint32_t *glist;          /* groups in use */
	uint32_t ngroups;

	struct pending pending[MAX_PENDING];

	rkv_producer *next_live;  /* in the process's list, for fork */
	int forked;               /* this is a forked child's copy */
};

static inline int bit_test(const uint64_t *m, uint32_t i) { return (m[i >> 6] >> (i & 63)) & 1; }
static inline void bit_set(uint64_t *m, uint32_t i) { m[i >> 6] |= 1ull << (i & 63); }
static inline void bit_clear(uint64_t *m, uint32_t i) { m[i >> 6] &= ~(1ull << (i & 63)); }

static inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* ==== per-frame book-keeping, inlined into the publish path ============ */

static inline void rkv__slot_unref(rkv_producer *p, uint32_t s)
{
	if (--p->refs[s] == 0) {
		p->free_stack[p->nfree++] = s;
		STORE_RLX(&p->hdr->slots_free, p->nfree);
	}
}

/* Counters live in the producer's books and are mirrored into the stats
 * table as they change, so readers never see them lag. */
static inline void rkv__count_delivered(struct cons *c)
{
	c->delivered++;
	STORE_RLX(&c->st->delivered, c->delivered);
}

static inline void rkv__count_dropped(struct cons *c)
{
	c->dropped++;
	STORE_RLX(&c->st->dropped, c->dropped);
}

/* ==== books.c ============================================================ */

void rkv__cons_stats(struct cons *c);
void rkv__group_forget_member(rkv_producer *p, struct group *g, struct cons *m);
void rkv__group_destroy(rkv_producer *p, struct group *g);
int rkv__cons_drain(rkv_producer *p, struct cons *c);
void rkv__group_settle(rkv_producer *p, struct group *g, uint64_t pos, uint64_t cell);
void rkv__drain_all(rkv_producer *p);
void rkv__wake_producer(rkv_producer *p);
void rkv__rebuild_lists(rkv_producer *p);
void rkv__cons_remove(rkv_producer *p, struct cons *c, int evicted);

/* ==== attach.c =========================================================== */

void *rkv__service_main(void *arg);
void rkv__live_add(rkv_producer *p);
void rkv__live_remove(rkv_producer *p);

#endif /* RKV_POOL_PRODUCER_H */
