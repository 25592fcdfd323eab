/* SPDX-License-Identifier: MIT */
/*
 * producer.h - the producer's private state, shared by its source files:
 *
 *   producer.c  create and destroy, loan, publish, the producer's waits
 *   deliver.c   handing one frame to each consumer by its policy
 *   ledger.c    who holds which slot: references, what consumers give back,
 *               evictions and forgetting a consumer (deferred to the end of
 *               the operation that decided it)
 *   attach.c    a new consumer: its hello, its resources, its welcome
 *   service.c   the service thread (accept, leases, crashes) and fork
 *
 * Delivery calls into the ledger, never the other way round: the ledger
 * only marks a consumer doomed, and ledger_reap() forgets doomed consumers
 * once no list is being walked.
 */
#ifndef RKV_POOL_PRODUCER_H
#define RKV_POOL_PRODUCER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool/internal.h"

#define PAGE 4096u
#define MAX_PENDING 16            /* admitted connections that have not said hello yet */
#define PENDING_TTL_NS 2000000000 /* a silent connection is dropped after 2 s */
#define DEFAULT_BLOCK_TIMEOUT_NS 1000000000

/* epoll tags: kind in the top byte, generation and index below */
#define TAG_STOP    1u
#define TAG_LISTEN  2u
#define TAG_PENDING 3u
#define TAG_CONS    4u
#define TAG_SVC     5u /* the service thread's wake-up of the producer */
#define TAG_WAKE    6u /* a consumer's wake socket */
#define TAG_REJECT  7u /* a refused peer, until it has read our answer */
#define MAX_REJECT  32
#define MKTAG(kind, idx, gen) (((uint64_t)(kind) << 56) | ((uint64_t)((gen) & 0xffffffu) << 24) | (idx))
#define TAG_KIND(t) ((uint32_t)((t) >> 56))
#define TAG_IDX(t)  ((uint32_t)((t) & 0xffffffu))
#define TAG_GEN(t)  ((uint32_t)(((t) >> 24) & 0xffffffu))

struct group;

/* What the producer remembers of a frame it queued to a consumer, for the
 * consumer's lag (the slot itself may be rewritten once it is released). */
struct lagrec {
	uint64_t pub;             /* pub_seq */
	uint64_t seq;             /* frame.seq */
	int64_t ts;               /* frame.timestamp_ns */
};

enum cons_state {
	CS_FREE = 0,
	CS_ACTIVE,   /* receives frames (from the moment it is admitted) */
	CS_DOOMED,   /* left, died or evicted: forgotten at the next ledger_reap() */
};

/* The producer's view of one consumer. */
struct cons {
	int state;                /* enum cons_state */
	uint32_t id;
	uint32_t gen;             /* bumped at every attach into this entry */
	uint32_t token;           /* group owner token (RKV_TOKEN) */
	uint32_t policy, depth, max_held, flags;
	int sock;                 /* the lease */
	int pidfd;                /* the attaching process, to see it die */
	int wake;                 /* our end of the wake socketpair: the consumer wakes us */
	int wake_pipe;            /* write end of the pipe that wakes the consumer */
	int wake_keep;            /* its read end: kept so a write never meets a pipe
				   * without readers (SIGPIPE); never read */
	int32_t doom_code;        /* -ECONNRESET when evicted, else 0 */
	int welcoming;            /* the service thread is sending its welcome on sock:
				   * forgetting it must not close sock (attach.c does) */
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
	int wake_pending;         /* got a frame in this publish: check its flag */
	struct rkv_wire_cstats *st;
	/* lag (ledger_cons_lag): */
	uint64_t attach_pub;      /* p->published when it was admitted */
	struct lagrec *hist;      /* block, drop: the frame queued at ready position
				   * pos is hist[pos & hist_mask] (more entries than
				   * the queue is deep, so the newest taken one stays) */
	uint32_t hist_mask, hist_size;
	struct lagrec mb;         /* latest: the frame last put in its mailbox */
	struct lagrec took;       /* latest, group: the newest frame it took */
	int mb_put, took_any;
};

#define NO_SLOT UINT32_MAX

/* A consumer group: one shared queue, and the producer's own record of
 * what it put where (the queue's memory is member-writable). */
struct group {
	int used;
	int corrupt;              /* a member scribbled on the queue: evict them all */
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
	uint32_t *at;             /* per cell: the slot we queued there last, or NO_SLOT */
	uint64_t *queued;         /* slots the group owns: in a cell, claimed or not */
	uint64_t *pos;            /* per slot: the position it was queued at */
	uint32_t nqueued;
	uint32_t next_wake;       /* round-robin start when waking a member */
	uint64_t delivered, dropped, claimed;
	struct rkv_wire_gstats *st;
};

struct pending {
	int fd;
	pid_t pid;
	int64_t since;
};

/* An external slot (DMA-BUF or any mappable fd the caller supplied). */
struct ext_slot {
	int fd;                   /* our dup */
	int ro_fd;                /* what consumers get */
	uint64_t offset, size;
	uint8_t *map;             /* with RKV_POOL_CPU_WRITE: the fd mapped read-write */
	int sync;                 /* DMA_BUF_IOCTL_SYNC works on it */
};

struct rkv_producer {
	pthread_mutex_t lock;
	char name[RKV_NAME_MAX + 1];
	uint32_t nslots;
	uint32_t max_consumers;
	uint32_t max_loans;
	uint32_t flags;
	int64_t block_timeout_ns;
	gid_t access_gid;
	uid_t uid;
	pid_t pid;
	uint64_t capacity, stride;
	uint32_t fork_gen;        /* rkv__fork_gen when made: another value = a forked copy */

	int pool_fd;
	int pool_ro_fd;           /* what consumers get */
	struct rkv_wire_pool *hdr;
	uint64_t pool_size;
	struct rkv_wire_slot *slots;
	struct rkv_wire_cstats *stats;
	struct rkv_wire_gstats *gstats;
	uint8_t *data;
	struct ext_slot *ext;     /* NULL: slots live in the pool memfd */

	int listen_fd, stop_efd, ep;
	int wake_ep;              /* the producer's sleep: wake sockets + svc_efd; rkv_producer_fd() */
	int svc_efd;              /* the service thread wakes the producer; never shared */
	int attach_efd;           /* the service thread tells wait_consumers; never shared */
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
	int armed;                /* producer_waiting set for rkv_producer_fd(), or a
				   * wait ended: wake-ups may be pending */

	struct cons *cons;
	struct group *groups;
	uint32_t nconsumers;      /* JOINING, ACTIVE and DOOMED entries */
	uint32_t ndoomed;
	uint32_t words;           /* 64-bit words in a slot bitmap */
	uint32_t *waitlist;       /* publish: consumers (or groups) still full */
	uint32_t *waitgen;        /* ... and the generation of each */
	uint32_t *list;           /* active consumers outside groups, for publish */
	uint32_t nlist;
	uint32_t *glist;          /* groups in use */
	uint32_t ngroups;

	struct pending pending[MAX_PENDING];
	struct pending reject[MAX_REJECT];

	rkv_producer *next_live;  /* in the process's list, for fork */
};

static inline int bit_test(const uint64_t *m, uint32_t i) { return (m[i >> 6] >> (i & 63)) & 1; }
static inline void bit_set(uint64_t *m, uint32_t i) { m[i >> 6] |= 1ull << (i & 63); }
static inline void bit_clear(uint64_t *m, uint32_t i) { m[i >> 6] &= ~(1ull << (i & 63)); }

static inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static inline int producer_forked(const rkv_producer *p)
{
	return p->fork_gen != LOAD_RLX(&rkv__fork_gen);
}

/* ==== ledger.c: per-frame book-keeping, inlined into the publish path ==== */

static inline void ledger_unref(rkv_producer *p, uint32_t s)
{
	if (--p->refs[s] == 0) {
		p->free_stack[p->nfree++] = s;
		STORE_RLX(&p->hdr->slots_free, p->nfree);
	}
}

/* Slot @s is now queued to (or held by) consumer @c. */
static inline void ledger_give(rkv_producer *p, struct cons *c, uint32_t s)
{
	bit_set(c->owned, s);
	c->outstanding++;
	p->refs[s]++;
	c->delivered++;
	STORE_RLX(&c->st->delivered, c->delivered);
}

static inline void ledger_count_dropped(struct cons *c)
{
	c->dropped++;
	STORE_RLX(&c->st->dropped, c->dropped);
}

static inline void ledger_group_dropped(struct group *g)
{
	g->dropped++;
	STORE_RLX(&g->st->dropped, g->dropped);
}

/* What the lag figures need of the frame in slot @s (just published, or
 * still owned by whoever takes it). */
static inline struct lagrec lagrec_of(const rkv_producer *p, uint32_t s)
{
	struct lagrec r = { p->slots[s].pub_seq, p->slots[s].frame.seq,
			    p->slots[s].frame.timestamp_ns };
	return r;
}

static inline int cons_live(const struct cons *c)
{
	return c->state == CS_ACTIVE;
}

void ledger_cons_stats(rkv_producer *p, struct cons *c);
int ledger_drain(rkv_producer *p, struct cons *c);
void ledger_drain_all(rkv_producer *p);
void ledger_settle(rkv_producer *p, struct group *g, uint64_t pos, uint32_t s, uint64_t cell);
void ledger_evict(rkv_producer *p, struct cons *c);
void ledger_drop(rkv_producer *p, struct cons *c);
void ledger_group_corrupt(rkv_producer *p, struct group *g);
void ledger_reap(rkv_producer *p);
void ledger_forget(rkv_producer *p, struct cons *c);
void ledger_group_destroy(rkv_producer *p, struct group *g);
void ledger_rebuild_lists(rkv_producer *p);
void ledger_wake_producer(rkv_producer *p);

/* ==== deliver.c ========================================================== */

enum { DELIVERED, FULL, GONE };

int deliver_ring(rkv_producer *p, struct cons *c, uint32_t s, uint64_t entry);
int deliver_latest(rkv_producer *p, struct cons *c, uint32_t s, uint64_t entry);
int deliver_group(rkv_producer *p, struct group *g, uint32_t s);
void deliver_wake_group(rkv_producer *p, struct group *g);
void deliver_wake_consumers(rkv_producer *p);

/* ==== producer.c ========================================================= */

/* Read every release ring, settle claimed group frames, mirror counters. */
void producer_refresh(rkv_producer *p);

/* ==== attach.c / service.c =============================================== */

void attach_handle(rkv_producer *p, int fd, pid_t pid);
int attach_admitted(rkv_producer *p, int fd, pid_t *pid, char *why, size_t len);
void *service_main(void *arg);
void service_live_add(rkv_producer *p);
void service_live_remove(rkv_producer *p);

#endif /* RKV_POOL_PRODUCER_H */
