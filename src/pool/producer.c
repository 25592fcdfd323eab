/* SPDX-License-Identifier: MIT */
/*
 * producer.c - the producer side of a pool.
 *
 * All ownership lives here, in the producer's private memory: a reference
 * count per slot, and per consumer a bitmap of the slots it holds or has
 * queued. Shared memory only carries requests (slot indices in rings), and
 * every one of them is checked against these books before it is believed. A
 * consumer can therefore lie, scribble or die at any instruction and the
 * worst it can do is lose its own frames: it is evicted and its slots return.
 *
 * Two threads touch the books: the caller's (loan, publish) and the service
 * thread (attach, detach, crash). One mutex guards them. The caller's hot
 * path takes it uncontended, which costs two atomic operations and no
 * syscall; it is dropped whenever the caller sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

/* ==== fork ================================================================
 *
 * A child forked from a producer's process inherits the attach socket and
 * every consumer's lease. Left open there, they would keep the pool's name
 * taken and dead consumers' slots pinned for as long as the child lives.
 * So the child closes them at once: the child is not the producer. Its copy
 * of the handle only accepts rkv_producer_destroy() (which frees memory).
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static rkv_producer *live;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&live_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&live_lock); }

static void fork_child(void)
{
	for (rkv_producer *p = live; p; p = p->next_live) {
		p->forked = 1;
		p->thread_started = 0; /* the thread was not copied */
		if (p->listen_fd >= 0)
			close(p->listen_fd);
		p->listen_fd = -1;
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			struct cons *c = &p->cons[i];
			if (c->active && c->sock >= 0) {
				close(c->sock);
				c->sock = -1;
			}
		}
	}
	pthread_mutex_unlock(&live_lock);
}

static void atfork_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void live_add(rkv_producer *p)
{
	pthread_once(&atfork_once, atfork_init);
	pthread_mutex_lock(&live_lock);
	p->next_live = live;
	live = p;
	pthread_mutex_unlock(&live_lock);
}

static void live_remove(rkv_producer *p)
{
	pthread_mutex_lock(&live_lock);
	for (rkv_producer **pp = &live; *pp; pp = &(*pp)->next_live) {
		if (*pp == p) {
			*pp = p->next_live;
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);
}

static inline int bit_test(const uint64_t *m, uint32_t i) { return (m[i >> 6] >> (i & 63)) & 1; }
static inline void bit_set(uint64_t *m, uint32_t i) { m[i >> 6] |= 1ull << (i & 63); }
static inline void bit_clear(uint64_t *m, uint32_t i) { m[i >> 6] &= ~(1ull << (i & 63)); }

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* ==== slot books ========================================================== */

static void slot_unref(rkv_producer *p, uint32_t s)
{
	if (--p->refs[s] == 0) {
		p->free_stack[p->nfree++] = s;
		STORE_RLX(&p->hdr->slots_free, p->nfree);
	}
}

/* Counters live in the producer's books and are mirrored into the stats
 * table as they change, so readers never see them lag. */
static void count_delivered(struct cons *c)
{
	c->delivered++;
	STORE_RLX(&c->st->delivered, c->delivered);
}

static void count_dropped(struct cons *c)
{
	c->dropped++;
	STORE_RLX(&c->st->dropped, c->dropped);
}

static void cons_stats(struct cons *c)
{
	struct rkv_wire_cstats *st = c->st;

	STORE_RLX(&st->outstanding, c->outstanding);
	STORE_RLX(&st->delivered, c->delivered);
	STORE_RLX(&st->dropped, c->dropped);
	STORE_RLX(&st->replaced, c->replaced);
	/* "taken" is the consumer's own count; it is only shown, never trusted. */
	STORE_RLX(&st->received, LOAD_RLX(&c->chan->taken));
}

static void cons_remove(rkv_producer *p, struct cons *c, int evicted);

/* Drop whatever the group holds for @member: cells it claimed and we have
 * not yet moved into its own books. */
static void group_forget_member(rkv_producer *p, struct group *g, struct cons *m)
{
	for (uint32_t s = 0; s < p->nslots; s++) {
		if (!bit_test(g->queued, s))
			continue;
		uint64_t pos = g->pos[s];
		uint64_t cell = LOAD_ACQ(&g->cells[pos & g->mask]);
		if (RKV_CELL_TAG(cell) == (uint32_t)pos && RKV_CELL_SLOT(cell) == s &&
		    RKV_CELL_OWNER(cell) == m->id + 1) {
			bit_clear(g->queued, s);
			g->nqueued--;
			slot_unref(p, s);
		}
	}
}

static void group_destroy(rkv_producer *p, struct group *g)
{
	for (uint32_t s = 0; s < p->nslots; s++) {
		if (bit_test(g->queued, s)) {
			bit_clear(g->queued, s);
			slot_unref(p, s);
		}
	}
	g->nqueued = 0;
	if (g->g)
		rkv__unmap(g->g, g->size);
	if (g->fd >= 0)
		close(g->fd);
	g->g = NULL;
	g->fd = -1;
	g->used = 0;
	g->members = 0;
}

/* A cell at position @pos was claimed by a member: the slot in it now
 * belongs to that member's books. */
static void group_settle(rkv_producer *p, struct group *g, uint64_t pos, uint64_t cell);

/*
 * Read @c's release ring and return the slots it names. Anything that does
 * not match our books (a slot out of range, one it does not hold, a ring
 * index that ran ahead) is a protocol violation: the consumer is evicted.
 * Returns 0, or -1 when @c was evicted.
 */
static int cons_drain(rkv_producer *p, struct cons *c)
{
	uint64_t t = LOAD_ACQ(&c->chan->release_tail);
	uint64_t n = t - c->rel_head;

	if (n == 0)
		return 0;
	if (n > (uint64_t)c->release_mask + 1)
		goto bad;
	for (uint64_t i = c->rel_head; i != t; i++) {
		uint32_t s = c->release[i & c->release_mask];
		if (s >= p->nslots)
			goto bad;
		if (!bit_test(c->owned, s) && c->group) {
			/* A group member releasing a frame it claimed that we
			 * have not settled yet: settle it now. */
			struct group *g = c->group;
			if (!bit_test(g->queued, s))
				goto bad;
			uint64_t pos = g->pos[s];
			uint64_t cell = LOAD_ACQ(&g->cells[pos & g->mask]);
			if (RKV_CELL_TAG(cell) != (uint32_t)pos || RKV_CELL_SLOT(cell) != s ||
			    RKV_CELL_OWNER(cell) != c->id + 1)
				goto bad;
			bit_clear(g->queued, s);
			g->nqueued--;
			bit_set(c->owned, s);
			c->outstanding++;
			count_delivered(c);
		}
		if (!bit_test(c->owned, s))
			goto bad;
		bit_clear(c->owned, s);
		c->outstanding--;
		slot_unref(p, s);
	}
	c->rel_head = t;
	STORE_REL(&c->chan->release_head, t);
	return 0;
bad:
	cons_remove(p, c, 1);
	return -1;
}

static void group_settle(rkv_producer *p, struct group *g, uint64_t pos, uint64_t cell)
{
	uint32_t s = RKV_CELL_SLOT(cell);
	uint32_t owner = RKV_CELL_OWNER(cell);
	struct cons *m;

	if (s >= p->nslots || !bit_test(g->queued, s) || g->pos[s] != pos)
		return; /* already settled (released, or its member died) */
	m = (owner >= 1 && owner <= p->max_consumers) ? &p->cons[owner - 1] : NULL;
	if (!m || !m->active || m->group != g) {
		/* Claimed by nobody we know: a member scribbled on the queue.
		 * The group is one trust domain; the frame goes back. */
		bit_clear(g->queued, s);
		g->nqueued--;
		slot_unref(p, s);
		return;
	}
	/* Settle the member's releases first (this frame may be among them),
	 * so that its books hold only frames it really still has. If it is
	 * evicted there, its claimed frames, this one too, went back. */
	if (cons_drain(p, m) < 0)
		return;
	if (!bit_test(g->queued, s) || g->pos[s] != pos)
		return;
	bit_clear(g->queued, s);
	g->nqueued--;
	if (m->outstanding + 1 > m->max_held) {
		/* More frames than it declared it would ever hold. Any member
		 * can write any owner byte, so this is no proof against the
		 * member it names: give the slot back, evict nobody. */
		slot_unref(p, s);
		return;
	}
	bit_set(m->owned, s);
	m->outstanding++;
	count_delivered(m);
}

static void drain_all(rkv_producer *p)
{
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->cons[i].active)
			cons_drain(p, &p->cons[i]);
}

/* ==== consumers come and go =============================================== */

static void wake_producer(rkv_producer *p)
{
	if (LOAD_RLX(&p->hdr->producer_waiting))
		rkv__efd_signal(p->prod_efd);
}

/* The publish path walks these lists instead of every table entry. */
static void rebuild_lists(rkv_producer *p)
{
	p->nlist = 0;
	p->ngroups = 0;
	for (uint32_t i = 0; i < p->max_consumers; i++) {
		if (p->cons[i].active && p->cons[i].policy != RKV_POLICY_GROUP)
			p->list[p->nlist++] = i;
		if (p->groups[i].used)
			p->glist[p->ngroups++] = i;
	}
}

/*
 * Forget consumer @c and give back every slot it held or had queued. Called
 * with the lock held, by the service thread when the lease breaks, or by
 * either thread when @c broke the protocol (@evicted).
 */
static void cons_remove(rkv_producer *p, struct cons *c, int evicted)
{
	struct group *g = c->group;

	if (!c->active)
		return;
	if (evicted) {
		/* Mark the chan first, so the consumer hands out nothing
		 * more from it once its slots start going back; then tell it
		 * why before the connection goes. */
		STORE_REL(&c->chan->evicted, 1);
		int32_t code = -ECONNRESET;
		send(c->sock, &code, sizeof(code), MSG_DONTWAIT | MSG_NOSIGNAL);
		STORE_RLX(&p->hdr->evictions, LOAD_RLX(&p->hdr->evictions) + 1);
	}
	if (g)
		group_forget_member(p, g, c);
	for (uint32_t s = 0; s < p->nslots; s++) {
		if (bit_test(c->owned, s)) {
			bit_clear(c->owned, s);
			slot_unref(p, s);
		}
	}
	c->outstanding = 0;
	if (g && --g->members == 0)
		group_destroy(p, g);
	c->group = NULL;
	if (c->sock >= 0) {
		epoll_ctl(p->ep, EPOLL_CTL_DEL, c->sock, NULL);
		close(c->sock);
	}
	if (c->pidfd >= 0) {
		epoll_ctl(p->ep, EPOLL_CTL_DEL, c->pidfd, NULL);
		close(c->pidfd);
	}
	if (c->efd >= 0)
		close(c->efd);
	if (c->chan)
		rkv__unmap(c->chan, c->chan_size);
	c->sock = c->efd = c->pidfd = -1;
	c->chan = NULL;
	c->active = 0;
	STORE_RLX(&c->st->active, 0);
	STORE_RLX(&c->st->outstanding, 0);
	p->nconsumers--;
	STORE_RLX(&p->hdr->consumers, p->nconsumers);
	rebuild_lists(p);
	wake_producer(p);
}

/* Slots the attached consumers and the producer may pin at worst. */
static uint64_t budget_used(rkv_producer *p)
{
	uint64_t used = p->max_loans;

	for (uint32_t i = 0; i < p->max_consumers; i++) {
		struct cons *c = &p->cons[i];
		if (!c->active)
			continue;
		if (c->policy == RKV_POLICY_GROUP)
			used += c->max_held;
		else
			used += c->depth + c->max_held;
	}
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->groups[i].used)
			used += p->groups[i].ring_size;
	return used;
}

static struct group *group_find(rkv_producer *p, const char *name)
{
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->groups[i].used && strcmp(p->groups[i].name, name) == 0)
			return &p->groups[i];
	return NULL;
}

static int group_create(rkv_producer *p, struct group *g, const char *name,
			uint32_t ring_size, uint32_t flags)
{
	uint64_t size = align_up(sizeof(struct rkv_wire_group) + 8ull * ring_size, PAGE);
	int fd = rkv__memfd_create("rkv-group", size);
	void *base;
	int r;

	if (fd < 0)
		return fd;
	r = rkv__map(fd, size, 1, &base);
	if (r) {
		close(fd);
		return r;
	}
	memset(g->queued, 0, p->words * 8);
	g->used = 1;
	g->gen++;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->members = 0;
	g->flags = flags;
	g->ring_size = ring_size;
	g->mask = ring_size - 1;
	g->fd = fd;
	g->g = base;
	g->size = size;
	g->cells = (uint64_t *)((uint8_t *)base + sizeof(struct rkv_wire_group));
	g->tail = 0;
	g->nqueued = 0;
	g->next_wake = 0;
	g->g->magic = RKV_MAGIC_GROUP;
	g->g->version = RKV_WIRE_VERSION;
	g->g->header_size = sizeof(struct rkv_wire_group);
	g->g->ring_size = ring_size;
	g->g->total_size = size;
	g->g->cells_offset = sizeof(struct rkv_wire_group);
	/* Position p's cell carries tag p; before the first lap a cell has
	 * never been written, which the tag of position p - ring_size marks
	 * as "claimed" so the producer may fill it. */
	for (uint32_t i = 0; i < ring_size; i++)
		g->cells[i] = RKV_CELL((uint32_t)(i - ring_size), 0xff, 0xffffff);
	return 0;
}

/* Admit the peer on @fd if its credentials match the pool's access rule. */
static int peer_admitted(rkv_producer *p, int fd, pid_t *pid, char *why, size_t len)
{
	struct ucred cr;
	socklen_t crl = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
		rkv__set_reason(why, len, "cannot read the peer's credentials");
		return -EACCES;
	}
	*pid = cr.pid;
	if (cr.uid == geteuid())
		return 0;
	if (p->flags & RKV_POOL_GROUP_ACCESS) {
		gid_t groups[256];
		socklen_t gl = sizeof(groups);
		if (cr.gid == p->access_gid)
			return 0;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0) {
			for (size_t i = 0; i < gl / sizeof(gid_t); i++)
				if (groups[i] == p->access_gid)
					return 0;
		}
		rkv__set_reason(why, len, "uid %u is neither the pool's owner nor in group %u",
				(unsigned)cr.uid, (unsigned)p->access_gid);
		return -EACCES;
	}
	rkv__set_reason(why, len, "pool '%s' admits only uid %u, not uid %u", p->name,
			(unsigned)geteuid(), (unsigned)cr.uid);
	return -EACCES;
}

static int label_ok(const char *s)
{
	return memchr(s, '\0', RKV_LABEL_MAX) != NULL;
}

/*
 * Handle one hello on connection @fd: check it, set up the consumer, answer.
 * Returns 1 if @fd became a consumer's lease, 0 if it should be closed.
 */
static int handle_hello(rkv_producer *p, int fd)
{
	struct rkv_wire_hello h;
	struct rkv_wire_welcome w;
	int fds[RKV_WELCOME_FDS_MAX], nfds = 0, junk[4], njunk;
	ssize_t n;
	pid_t pid = 0;
	struct cons *c = NULL;
	struct group *g = NULL;
	int new_group = 0;
	int chan_fd = -1, efd = -1;
	uint32_t depth, held, ready_size, release_size, need_group = 0;
	uint64_t chan_size;
	void *base;
	int r;

	memset(&w, 0, sizeof(w));
	w.magic = RKV_MAGIC_WELCOME;
	w.version = RKV_WIRE_VERSION;

	n = rkv__recv_msg(fd, &h, sizeof(h), junk, 4, &njunk);
	for (int i = 0; i < njunk; i++)
		close(junk[i]);
	if (n == -EAGAIN)
		return 2; /* not yet */
	if (n != (ssize_t)sizeof(h) || h.magic != RKV_MAGIC_HELLO) {
		r = -EPROTO;
		rkv__set_reason(w.reason, sizeof(w.reason), "not an RKVision attach request");
		goto answer;
	}
	if (h.version != RKV_WIRE_VERSION) {
		r = -EPROTO;
		rkv__set_reason(w.reason, sizeof(w.reason),
				"consumer speaks layout version %u, pool '%s' version %u",
				h.version, p->name, RKV_WIRE_VERSION);
		goto answer;
	}
	r = peer_admitted(p, fd, &pid, w.reason, sizeof(w.reason));
	if (r)
		goto answer;

	if (h.kind == RKV_HELLO_OBSERVER) {
		/* Bring the counters up to date first: releases sit in rings
		 * until the producer reads them. */
		pthread_mutex_lock(&p->lock);
		drain_all(p);
		for (uint32_t i = 0; i < p->max_consumers; i++)
			if (p->cons[i].active)
				cons_stats(&p->cons[i]);
		pthread_mutex_unlock(&p->lock);
		fds[nfds++] = p->pool_ro_fd;
		w.pool_size = p->pool_size;
		w.nfds = (uint32_t)nfds;
		rkv__send_msg(fd, &w, sizeof(w), fds, nfds);
		return 0;
	}
	if (h.kind != RKV_HELLO_CONSUMER || h.policy < RKV_POLICY_BLOCK ||
	    h.policy > RKV_POLICY_GROUP || !label_ok(h.label) || !label_ok(h.group)) {
		r = -EINVAL;
		rkv__set_reason(w.reason, sizeof(w.reason), "malformed attach request");
		goto answer;
	}
	depth = h.queue_depth ? h.queue_depth : 2;
	held = h.max_held ? h.max_held : 1;
	if (h.policy == RKV_POLICY_LATEST)
		depth = 1;
	if (depth > RKV_MAX_DEPTH || held > RKV_MAX_DEPTH) {
		r = -EINVAL;
		rkv__set_reason(w.reason, sizeof(w.reason), "queue depth and max held are limited to %u",
				RKV_MAX_DEPTH);
		goto answer;
	}

	pthread_mutex_lock(&p->lock);
	if (p->nconsumers >= p->max_consumers) {
		r = -EUSERS;
		rkv__set_reason(w.reason, sizeof(w.reason), "pool '%s' already has its %u consumers",
				p->name, p->max_consumers);
		goto unlock;
	}
	if (h.policy == RKV_POLICY_GROUP) {
		if (!h.group[0]) {
			r = -EINVAL;
			rkv__set_reason(w.reason, sizeof(w.reason), "a group consumer needs a group name");
			goto unlock;
		}
		g = group_find(p, h.group);
		if (g) {
			if ((h.queue_depth && rkv__pow2_at_least(h.queue_depth) != g->ring_size) ||
			    (h.flags & RKV_GROUP_BLOCK) != g->flags) {
				r = -EINVAL;
				rkv__set_reason(w.reason, sizeof(w.reason),
						"group '%s' has queue depth %u and %s; this member asks otherwise",
						g->name, g->ring_size,
						g->flags ? "blocks when full" : "drops when full");
				goto unlock;
			}
			depth = g->ring_size;
		} else {
			depth = rkv__pow2_at_least(depth);
			need_group = depth;
		}
	}
	{
		uint64_t used = budget_used(p);
		uint64_t need = need_group + held +
				(h.policy == RKV_POLICY_GROUP ? 0 : depth);
		if (used + need > p->nslots) {
			r = -ENOSPC;
			rkv__set_reason(w.reason, sizeof(w.reason),
					"pool '%s' has %u slots; the producer's loans and the %u attached "
					"consumers may pin %llu; this %s consumer may pin %llu more "
					"(queue %u + held %u): create the pool with at least %llu slots",
					p->name, p->nslots, p->nconsumers, (unsigned long long)used,
					rkv_policy_name(h.policy), (unsigned long long)need,
					h.policy == RKV_POLICY_GROUP ? need_group : depth, held,
					(unsigned long long)(used + need));
			goto unlock;
		}
	}
	for (uint32_t i = 0; i < p->max_consumers; i++) {
		if (!p->cons[i].active) {
			c = &p->cons[i];
			break;
		}
	}
	if (h.policy == RKV_POLICY_GROUP && !g) {
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			if (!p->groups[i].used) {
				g = &p->groups[i];
				break;
			}
		}
		r = group_create(p, g, h.group, depth, h.flags & RKV_GROUP_BLOCK);
		if (r) {
			rkv__set_reason(w.reason, sizeof(w.reason), "cannot create the group queue");
			g = NULL;
			goto unlock;
		}
		new_group = 1;
	}

	/* The chan: rings sized so an honest consumer can never overflow its
	 * release ring (it never has more to give back than it may pin). */
	ready_size = rkv__pow2_at_least(h.policy == RKV_POLICY_LATEST || h.policy == RKV_POLICY_GROUP ? 1 : depth);
	release_size = rkv__pow2_at_least(depth + held + 1);
	chan_size = align_up(sizeof(struct rkv_wire_chan) + 8ull * ready_size + 4ull * release_size, PAGE);
	chan_fd = rkv__memfd_create("rkv-chan", chan_size);
	if (chan_fd < 0) {
		r = chan_fd;
		goto fail_group;
	}
	r = rkv__map(chan_fd, chan_size, 1, &base);
	if (r)
		goto fail_group;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0) {
		r = -errno;
		rkv__unmap(base, chan_size);
		goto fail_group;
	}

	c->active = 1;
	c->gen = (c->gen + 1) & 0xffffffu;
	c->policy = h.policy;
	c->depth = depth;
	c->max_held = held;
	c->flags = h.flags;
	c->sock = fd;
	c->efd = efd;
	c->chan = base;
	c->chan_size = chan_size;
	c->ready = (uint64_t *)((uint8_t *)base + sizeof(struct rkv_wire_chan));
	c->release = (uint32_t *)((uint8_t *)c->ready + 8ull * ready_size);
	c->ready_mask = ready_size - 1;
	c->release_mask = release_size - 1;
	c->tail = c->head = c->rel_head = 0;
	c->outstanding = 0;
	memset(c->owned, 0, p->words * 8);
	c->group = g;
	c->delivered = c->dropped = c->replaced = 0;
	c->wake = 0;

	memset(base, 0, sizeof(struct rkv_wire_chan));
	c->chan->magic = RKV_MAGIC_CHAN;
	c->chan->version = RKV_WIRE_VERSION;
	c->chan->header_size = sizeof(struct rkv_wire_chan);
	c->chan->id = c->id;
	c->chan->policy = h.policy;
	c->chan->ready_size = ready_size;
	c->chan->release_size = release_size;
	c->chan->queue_depth = depth;
	c->chan->max_held = held;
	c->chan->total_size = chan_size;
	c->chan->ready_offset = sizeof(struct rkv_wire_chan);
	c->chan->release_offset = sizeof(struct rkv_wire_chan) + 8ull * ready_size;
	c->chan->mailbox = RKV_MAILBOX_EMPTY;

	memset(c->st, 0, sizeof(*c->st));
	c->st->id = c->id;
	c->st->policy = h.policy;
	c->st->pid = pid;
	c->st->queue_depth = depth;
	c->st->max_held = held;
	memcpy(c->st->label, h.label, RKV_LABEL_MAX);
	memcpy(c->st->group, h.group, RKV_LABEL_MAX);
	STORE_REL(&c->st->active, 1);
	if (g)
		g->members++;
	p->nconsumers++;
	STORE_RLX(&p->hdr->consumers, p->nconsumers);
	rebuild_lists(p);

	w.status = 0;
	w.id = c->id;
	fds[nfds++] = p->pool_ro_fd;
	fds[nfds++] = chan_fd;
	fds[nfds++] = efd;
	fds[nfds++] = p->prod_efd;
	if (g)
		fds[nfds++] = g->fd;
	w.nfds = (uint32_t)nfds;
	w.pool_size = p->pool_size;
	w.chan_size = chan_size;
	w.group_size = g ? g->size : 0;
	r = rkv__send_msg(fd, &w, sizeof(w), fds, nfds);
	close(chan_fd);
	if (r) {
		/* It hung up before hearing the answer. */
		c->sock = -1;
		cons_remove(p, c, 0);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u64 = MKTAG(TAG_CONS, c->id, c->gen) };
		if (epoll_ctl(p->ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
			c->sock = -1;
			cons_remove(p, c, 0);
			pthread_mutex_unlock(&p->lock);
			return 0;
		}
		/* Watch the process too, unless it is us (threads in one
		 * process) or out of our sight (another pid namespace). */
		if (pid > 0 && pid != getpid()) {
			c->pidfd = rkv__pidfd_open(pid);
			if (c->pidfd >= 0 && epoll_ctl(p->ep, EPOLL_CTL_ADD, c->pidfd, &ev) < 0) {
				close(c->pidfd);
				c->pidfd = -1;
			}
			if (c->pidfd == -ESRCH) {
				/* Gone already, before we could watch it. */
				c->pidfd = -1;
				cons_remove(p, c, 0);
				pthread_mutex_unlock(&p->lock);
				return 1;
			}
			if (c->pidfd < 0)
				c->pidfd = -1;
		}
	}
	pthread_cond_broadcast(&p->attached);
	pthread_mutex_unlock(&p->lock);
	return 1;

fail_group:
	if (chan_fd >= 0)
		close(chan_fd);
	if (new_group)
		group_destroy(p, g);
	rkv__set_reason(w.reason, sizeof(w.reason), "out of resources: %s", strerror(-r));
unlock:
	pthread_mutex_unlock(&p->lock);
answer:
	w.status = r;
	rkv__send_msg(fd, &w, sizeof(w), NULL, 0);
	return 0;
}

/* ==== the service thread ================================================== */

static void pending_drop(rkv_producer *p, int i)
{
	epoll_ctl(p->ep, EPOLL_CTL_DEL, p->pending[i].fd, NULL);
	close(p->pending[i].fd);
	p->pending[i].fd = -1;
}

static void accept_all(rkv_producer *p)
{
	for (;;) {
		int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int slot = -1;
		int64_t oldest = INT64_MAX;

		if (fd < 0)
			return; /* EAGAIN, or a transient error: epoll will tell again */
		for (int i = 0; i < MAX_PENDING; i++) {
			if (p->pending[i].fd < 0) {
				slot = i;
				break;
			}
			if (p->pending[i].since < oldest) {
				oldest = p->pending[i].since;
				slot = i;
			}
		}
		/* Full of silent connections: the oldest makes room. */
		if (p->pending[slot].fd >= 0)
			pending_drop(p, slot);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u64 = MKTAG(TAG_PENDING, (uint32_t)slot, 0) };
		if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		p->pending[slot].fd = fd;
		p->pending[slot].since = rkv__now_ns();
	}
}

static void *service_main(void *arg)
{
	rkv_producer *p = arg;
	struct epoll_event evs[16];

	for (;;) {
		int timeout = -1;
		int64_t now = rkv__now_ns();

		for (int i = 0; i < MAX_PENDING; i++) {
			if (p->pending[i].fd < 0)
				continue;
			if (now - p->pending[i].since > PENDING_TTL_NS)
				pending_drop(p, i);
			else
				timeout = 500;
		}
		int n = epoll_wait(p->ep, evs, 16, timeout);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint32_t kind = (uint32_t)(tag >> 56);
			uint32_t idx = (uint32_t)(tag & 0xffffffu);
			uint32_t gen = (uint32_t)((tag >> 24) & 0xffffffu);

			if (kind == TAG_STOP)
				return NULL;
			if (kind == TAG_LISTEN) {
				accept_all(p);
			} else if (kind == TAG_PENDING && idx < MAX_PENDING && p->pending[idx].fd >= 0) {
				int fd = p->pending[idx].fd;
				int r = handle_hello(p, fd);
				if (r == 2 && !(evs[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
					continue;
				p->pending[idx].fd = -1;
				if (r != 1) {
					epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
					close(fd);
				}
			} else if (kind == TAG_CONS && idx < p->max_consumers) {
				pthread_mutex_lock(&p->lock);
				struct cons *c = &p->cons[idx];
				if (c->active && c->gen == gen)
					cons_remove(p, c, 0); /* hung up, died, or spoke out of turn */
				pthread_mutex_unlock(&p->lock);
			}
		}
	}
}

/* ==== create / destroy ==================================================== */

/* A forked child's copy: let go of descriptors and memory, touch nothing
 * shared (the pool is the parent's). */
static void destroy_forked_copy(rkv_producer *p)
{
	for (uint32_t i = 0; p->cons && i < p->max_consumers; i++) {
		struct cons *c = &p->cons[i];
		if (c->active) {
			if (c->sock >= 0)
				close(c->sock);
			close(c->efd);
			if (c->pidfd >= 0)
				close(c->pidfd);
			rkv__unmap(c->chan, c->chan_size);
		}
	}
	for (uint32_t i = 0; p->groups && i < p->max_consumers; i++) {
		if (p->groups[i].used) {
			rkv__unmap(p->groups[i].g, p->groups[i].size);
			close(p->groups[i].fd);
		}
		p->groups[i].used = 0;
	}
	for (uint32_t i = 0; p->cons && i < p->max_consumers; i++)
		p->cons[i].active = 0;
	p->hdr = NULL; /* no "closed" mark: the parent still serves the pool */
}

void rkv_producer_destroy(rkv_producer *p)
{
	if (!p)
		return;
	live_remove(p);
	if (p->forked) {
		void *hdr = p->hdr;
		destroy_forked_copy(p);
		rkv__unmap(hdr, p->pool_size);
	}
	if (p->thread_started) {
		rkv__efd_signal(p->stop_efd);
		pthread_join(p->thread, NULL);
	}
	/* The name goes first, so a new producer can start at once. */
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	for (int i = 0; i < MAX_PENDING; i++)
		if (p->pending[i].fd >= 0)
			close(p->pending[i].fd);
	if (p->hdr)
		STORE_REL(&p->hdr->closed, 1);
	if (p->cons) {
		for (uint32_t i = 0; i < p->max_consumers; i++)
			if (p->cons[i].active)
				cons_remove(p, &p->cons[i], 0);
		for (uint32_t i = 0; i < p->max_consumers; i++)
			free(p->cons[i].owned);
	}
	if (p->groups) {
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			if (p->groups[i].used)
				group_destroy(p, &p->groups[i]);
			free(p->groups[i].queued);
			free(p->groups[i].pos);
		}
	}
	if (p->hdr)
		rkv__unmap(p->hdr, p->pool_size);
	if (p->pool_fd >= 0)
		close(p->pool_fd);
	if (p->pool_ro_fd >= 0)
		close(p->pool_ro_fd);
	if (p->prod_efd >= 0)
		close(p->prod_efd);
	if (p->stop_efd >= 0)
		close(p->stop_efd);
	if (p->ep >= 0)
		close(p->ep);
	free(p->cons);
	free(p->groups);
	free(p->refs);
	free(p->free_stack);
	free(p->loan_token);
	free(p->waitlist);
	free(p->waitgen);
	free(p->list);
	free(p->glist);
	pthread_cond_destroy(&p->attached);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Where things go in the pool area: header, slot descriptors, consumer
 * stats, then page-aligned slot data. */
static int layout(rkv_producer *p, uint64_t *slots_off, uint64_t *stats_off, uint64_t *data_off)
{
	uint64_t total;

	*slots_off = sizeof(struct rkv_wire_pool);
	*stats_off = *slots_off + (uint64_t)p->nslots * sizeof(struct rkv_wire_slot);
	*data_off = align_up(*stats_off + (uint64_t)p->max_consumers * sizeof(struct rkv_wire_cstats), PAGE);
	if (p->capacity > (UINT64_MAX >> 16))
		return -EINVAL;
	p->stride = align_up(p->capacity, PAGE);
	if (__builtin_mul_overflow(p->stride, (uint64_t)p->nslots, &total) ||
	    __builtin_add_overflow(total, *data_off, &total) || total > (uint64_t)INT64_MAX)
		return -EINVAL;
	p->pool_size = total;
	return 0;
}

int rkv_producer_create(const char *name, const struct rkv_pool_opts *opts, rkv_producer **out)
{
	rkv_producer *p;
	struct sockaddr_un sun;
	uint32_t sunlen;
	pthread_condattr_t ca;
	uint64_t slots_off, stats_off, data_off;
	void *base;
	int r;

	if (!out || !opts || rkv__name_check(name))
		return -EINVAL;
	*out = NULL;
	if (opts->slot_count == 0 || opts->slot_count > RKV_MAX_SLOTS || opts->slot_capacity == 0 ||
	    opts->max_consumers > RKV_MAX_CONSUMERS ||
	    (opts->flags & ~RKV_POOL_GROUP_ACCESS) ||
	    (opts->block_timeout_ns < 0 && opts->block_timeout_ns != RKV_WAIT_FOREVER) ||
	    opts->max_loans > opts->slot_count)
		return -EINVAL;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pool_fd = p->pool_ro_fd = p->listen_fd = p->prod_efd = p->stop_efd = p->ep = -1;
	for (int i = 0; i < MAX_PENDING; i++)
		p->pending[i].fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->attached, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->nslots = opts->slot_count;
	p->max_consumers = opts->max_consumers ? opts->max_consumers : 16;
	p->max_loans = opts->max_loans ? opts->max_loans : 1;
	p->flags = opts->flags;
	p->block_timeout_ns = opts->block_timeout_ns ? opts->block_timeout_ns : DEFAULT_BLOCK_TIMEOUT_NS;
	p->access_gid = opts->access_gid >= 0 ? (gid_t)opts->access_gid : getegid();
	p->capacity = opts->slot_capacity;
	p->words = (p->nslots + 63) / 64;

	r = layout(p, &slots_off, &stats_off, &data_off);
	if (r)
		goto fail;

	/* Bind the name first: a second producer learns at once that it lost. */
	p->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->listen_fd < 0) {
		r = -errno;
		goto fail;
	}
	rkv__sock_addr(name, &sun, &sunlen);
	if (bind(p->listen_fd, (struct sockaddr *)&sun, sunlen) < 0 || listen(p->listen_fd, 64) < 0) {
		r = -errno;
		goto fail;
	}

	r = rkv__memfd_create("rkv-pool", p->pool_size);
	if (r < 0)
		goto fail;
	p->pool_fd = r;
	r = rkv__map(p->pool_fd, p->pool_size, 1, &base);
	if (r)
		goto fail;
	p->hdr = base;
	/* Consumers get the pool through a read-only descriptor, and where
	 * the kernel has F_SEAL_FUTURE_WRITE (5.1) the memfd refuses any new
	 * writable mapping as well. Older kernels (RK3566 boards still ship
	 * 4.19) keep only the read-only descriptor. */
	r = rkv__memfd_seal_readonly(p->pool_fd);
	if (r && r != -EINVAL)
		goto fail;
	p->pool_ro_fd = rkv__reopen_readonly(p->pool_fd);
	if (p->pool_ro_fd < 0) {
		r = p->pool_ro_fd;
		goto fail;
	}
	p->slots = (struct rkv_wire_slot *)((uint8_t *)base + slots_off);
	p->stats = (struct rkv_wire_cstats *)((uint8_t *)base + stats_off);
	p->data = (uint8_t *)base + data_off;

	p->hdr->magic = RKV_MAGIC_POOL;
	p->hdr->version = RKV_WIRE_VERSION;
	p->hdr->header_size = sizeof(struct rkv_wire_pool);
	p->hdr->slot_count = p->nslots;
	p->hdr->slot_capacity = p->capacity;
	p->hdr->slot_stride = p->stride;
	p->hdr->slots_offset = slots_off;
	p->hdr->stats_offset = stats_off;
	p->hdr->data_offset = data_off;
	p->hdr->total_size = p->pool_size;
	p->hdr->max_consumers = p->max_consumers;
	p->hdr->producer_pid = getpid();
	p->hdr->producer_uid = geteuid();
	p->hdr->flags = p->flags;
	snprintf(p->hdr->name, sizeof(p->hdr->name), "%s", name);
	p->hdr->slots_free = p->nslots;

	p->refs = calloc(p->nslots, sizeof(*p->refs));
	p->free_stack = calloc(p->nslots, sizeof(*p->free_stack));
	p->loan_token = calloc(p->nslots, sizeof(*p->loan_token));
	p->waitlist = calloc(p->max_consumers, sizeof(*p->waitlist));
	p->waitgen = calloc(p->max_consumers, sizeof(*p->waitgen));
	p->list = calloc(p->max_consumers, sizeof(*p->list));
	p->glist = calloc(p->max_consumers, sizeof(*p->glist));
	p->cons = calloc(p->max_consumers, sizeof(*p->cons));
	p->groups = calloc(p->max_consumers, sizeof(*p->groups));
	if (!p->refs || !p->free_stack || !p->loan_token || !p->waitlist || !p->waitgen || !p->list || !p->glist || !p->cons || !p->groups) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < p->max_consumers; i++) {
		struct cons *c = &p->cons[i];
		c->id = i;
		c->sock = c->efd = c->pidfd = -1;
		c->st = &p->stats[i];
		c->owned = calloc(p->words, 8);
		p->groups[i].fd = -1;
		p->groups[i].queued = calloc(p->words, 8);
		p->groups[i].pos = calloc(p->nslots, 8);
		if (!c->owned || !p->groups[i].queued || !p->groups[i].pos) {
			r = -ENOMEM;
			goto fail;
		}
	}
	/* Slot 0 on top of the stack: the first frames reuse warm memory. */
	for (uint32_t i = 0; i < p->nslots; i++)
		p->free_stack[i] = p->nslots - 1 - i;
	p->nfree = p->nslots;

	p->prod_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->prod_efd < 0 || p->stop_efd < 0 || p->ep < 0) {
		r = -errno;
		goto fail;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = MKTAG(TAG_STOP, 0, 0) };
		struct epoll_event ev2 = { .events = EPOLLIN, .data.u64 = MKTAG(TAG_LISTEN, 0, 0) };
		if (epoll_ctl(p->ep, EPOLL_CTL_ADD, p->stop_efd, &ev) < 0 ||
		    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->listen_fd, &ev2) < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = -pthread_create(&p->thread, NULL, service_main, p);
	if (r)
		goto fail;
	p->thread_started = 1;
	live_add(p);
	*out = p;
	return 0;
fail:
	rkv_producer_destroy(p);
	return r;
}

/* ==== loan ================================================================ */

/*
 * Before the producer sleeps it spins this long re-checking: a consumer that
 * is awake gives room back within a few hundred nanoseconds, and a sleep and
 * wake-up on each frame would cost microseconds and a syscall on both sides.
 * Short enough to be noise for a camera (20 us in a 33 ms frame period).
 */
#define PRODUCER_SPIN_NS 20000

static int64_t deadline_of(int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return INT64_MAX;
	return rkv__now_ns() + timeout_ns;
}

/*
 * One step of waiting for a condition the caller just found false. The first
 * PRODUCER_SPIN_NS are spent spinning (lock held; the service thread can
 * wait that long). After that: announce the sleep (producer_waiting), let
 * the caller look once more (@recheck, Dekker with the consumers' release
 * and take paths), then sleep on the eventfd until a consumer signals it or
 * @deadline passes. Returns 1 if the recheck succeeded, 0 to look again,
 * -ETIMEDOUT.
 */
static int producer_wait(rkv_producer *p, int64_t *spin_until, int64_t deadline,
			 int (*recheck)(rkv_producer *, void *), void *arg)
{
	struct pollfd pfd = { .fd = p->prod_efd, .events = POLLIN };
	struct timespec ts, *tsp = NULL;
	int64_t now = rkv__now_ns();
	int n;

	if (now >= deadline)
		return -ETIMEDOUT;
	if (*spin_until == 0)
		*spin_until = now + PRODUCER_SPIN_NS;
	if (now < *spin_until) {
		for (int i = 0; i < 64; i++)
			rkv__cpu_relax();
		return 0;
	}
	/* A new value per sleep: a consumer signals each sleep once, however
	 * many frames it takes or releases meanwhile. */
	if (++p->sleep_gen == 0)
		p->sleep_gen = 1;
	STORE_RLX(&p->hdr->producer_waiting, p->sleep_gen);
	FENCE();
	if (recheck(p, arg)) {
		STORE_RLX(&p->hdr->producer_waiting, 0);
		return 1;
	}
	if (deadline != INT64_MAX) {
		int64_t left = deadline - now;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	STORE_RLX(&p->hdr->producer_waits, LOAD_RLX(&p->hdr->producer_waits) + 1);
	pthread_mutex_unlock(&p->lock);
	n = ppoll(&pfd, 1, tsp, NULL);
	if (n > 0)
		rkv__efd_drain(p->prod_efd);
	pthread_mutex_lock(&p->lock);
	STORE_RLX(&p->hdr->producer_waiting, 0);
	return 0;
}

static int have_free_slot(rkv_producer *p, void *arg)
{
	(void)arg;
	if (p->nfree == 0)
		drain_all(p);
	return p->nfree > 0;
}

int rkv_producer_loan(rkv_producer *p, struct rkv_loan *loan, int64_t timeout_ns)
{
	int64_t deadline = 0, spin_until = 0;
	int r = 0;

	if (!p || !loan)
		return -EINVAL;
	if (p->forked)
		return -ECHILD;
	pthread_mutex_lock(&p->lock);
	if (p->nloans >= p->max_loans) {
		r = -EBUSY;
		goto out;
	}
	while (!have_free_slot(p, NULL)) {
		if (timeout_ns == 0) {
			r = -EAGAIN;
			break;
		}
		if (deadline == 0)
			deadline = deadline_of(timeout_ns);
		r = producer_wait(p, &spin_until, deadline, have_free_slot, NULL);
		if (r < 0)
			break;
		r = 0;
	}
	if (r) {
		STORE_RLX(&p->hdr->refused, LOAD_RLX(&p->hdr->refused) + 1);
		goto out;
	}
	{
		uint32_t s = p->free_stack[--p->nfree];
		STORE_RLX(&p->hdr->slots_free, p->nfree);
		p->refs[s] = 1; /* the loan's own reference */
		if (++p->next_token == 0)
			p->next_token = 1;
		p->loan_token[s] = p->next_token;
		p->nloans++;
		loan->data = p->data + (uint64_t)s * p->stride;
		loan->capacity = p->capacity;
		loan->slot = s;
		loan->token = p->next_token;
	}
out:
	pthread_mutex_unlock(&p->lock);
	return r;
}

static int loan_valid(rkv_producer *p, const struct rkv_loan *loan)
{
	return loan && loan->slot < p->nslots && loan->token != 0 &&
	       p->loan_token[loan->slot] == loan->token;
}

int rkv_producer_cancel(rkv_producer *p, struct rkv_loan *loan)
{
	if (!p)
		return -EINVAL;
	if (p->forked)
		return -ECHILD;
	pthread_mutex_lock(&p->lock);
	if (!loan_valid(p, loan)) {
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	p->loan_token[loan->slot] = 0;
	p->nloans--;
	slot_unref(p, loan->slot);
	pthread_mutex_unlock(&p->lock);
	memset(loan, 0, sizeof(*loan));
	return 0;
}

/* ==== publish ============================================================= */

enum { DELIVERED, FULL, GONE };

/* Has @c room for one more frame? Re-reads its head, and its releases when
 * that is what stands in the way. */
static int ring_room(rkv_producer *p, struct cons *c)
{
	uint64_t h = LOAD_ACQ(&c->chan->ready_head);

	if (h - c->head > c->tail - c->head) {
		cons_remove(p, c, 1); /* its head ran backwards or past our tail */
		return -1;
	}
	c->head = h;
	if (c->tail - h >= c->depth)
		return 0;
	if (c->outstanding >= c->depth + c->max_held && cons_drain(p, c) < 0)
		return -1;
	return c->outstanding < c->depth + c->max_held;
}

static int deliver_ring(rkv_producer *p, struct cons *c, uint32_t s, uint64_t entry)
{
	int room = ring_room(p, c);

	if (room < 0)
		return GONE;
	if (!room)
		return FULL;
	c->ready[c->tail & c->ready_mask] = entry;
	c->tail++;
	STORE_REL(&c->chan->ready_tail, c->tail);
	bit_set(c->owned, s);
	c->outstanding++;
	p->refs[s]++;
	count_delivered(c);
	c->wake = 1;
	return DELIVERED;
}

static int deliver_latest(rkv_producer *p, struct cons *c, uint32_t s, uint64_t entry)
{
	/* A consumer flipping its mailbox under us gets a few tries, then
	 * misses the frame; it cannot keep the producer here. */
	for (int tries = 0; tries < 16; tries++) {
		uint64_t old = LOAD_ACQ(&c->chan->mailbox);
		if (old == RKV_MAILBOX_EMPTY) {
			if (c->outstanding >= 1 + c->max_held && cons_drain(p, c) < 0)
				return GONE;
			if (c->outstanding >= 1 + c->max_held)
				return FULL;
		} else {
			uint32_t os = RKV_ENTRY_SLOT(old);
			if (os >= p->nslots || !bit_test(c->owned, os)) {
				cons_remove(p, c, 1);
				return GONE;
			}
		}
		if (!__atomic_compare_exchange_n(&c->chan->mailbox, &old, entry, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		if (old != RKV_MAILBOX_EMPTY) {
			/* Unread: it goes straight back. */
			uint32_t os = RKV_ENTRY_SLOT(old);
			bit_clear(c->owned, os);
			c->outstanding--;
			slot_unref(p, os);
			c->replaced++;
			STORE_RLX(&c->st->replaced, c->replaced);
		}
		bit_set(c->owned, s);
		c->outstanding++;
		p->refs[s]++;
		count_delivered(c);
		c->wake = 1;
		return DELIVERED;
	}
	return FULL;
}

static int deliver_group(rkv_producer *p, struct group *g, uint32_t s)
{
	uint64_t pos = g->tail;
	uint64_t prev = pos - g->ring_size;
	uint64_t *cell = &g->cells[pos & g->mask];
	uint64_t c = LOAD_ACQ(cell);

	if (RKV_CELL_TAG(c) == (uint32_t)prev) {
		if (RKV_CELL_OWNER(c) == 0)
			return FULL; /* the frame queued a lap ago is still unclaimed */
		group_settle(p, g, prev, c);
		if (!g->used)
			return GONE; /* its last member was evicted while settling */
	} else {
		/* Not the tag we wrote: a member scribbled on the cell. The
		 * frame that was queued there a lap ago is lost to the group;
		 * take its slot back. */
		for (uint32_t i = 0; i < p->nslots && g->nqueued; i++) {
			if (bit_test(g->queued, i) && g->pos[i] == prev) {
				bit_clear(g->queued, i);
				g->nqueued--;
				slot_unref(p, i);
			}
		}
	}
	STORE_REL(cell, RKV_CELL((uint32_t)pos, 0, s));
	g->tail = pos + 1;
	STORE_REL(&g->g->tail, g->tail);
	bit_set(g->queued, s);
	g->pos[s] = pos;
	g->nqueued++;
	p->refs[s]++;
	return DELIVERED;
}

/* Wake one sleeping member of @g, starting after the last one woken. */
static void group_wake(rkv_producer *p, struct group *g)
{
	FENCE();
	for (uint32_t k = 0; k < p->max_consumers; k++) {
		uint32_t i = (g->next_wake + k) % p->max_consumers;
		struct cons *c = &p->cons[i];
		if (!c->active || c->group != g)
			continue;
		if (LOAD_RLX(&c->chan->consumer_waiting) &&
		    __atomic_exchange_n(&c->chan->consumer_waiting, 0, __ATOMIC_ACQ_REL)) {
			rkv__efd_signal(c->efd);
			g->next_wake = i + 1;
			return;
		}
	}
}

/* A group's misses are counted on its first member (the group has no
 * counters of its own). */
static void group_dropped(rkv_producer *p, struct group *g)
{
	for (uint32_t k = 0; k < p->max_consumers; k++)
		if (p->cons[k].active && p->cons[k].group == g) {
			count_dropped(&p->cons[k]);
			return;
		}
}

static void wake_consumers(rkv_producer *p)
{
	FENCE();
	for (uint32_t k = 0; k < p->nlist; k++) {
		struct cons *c = &p->cons[p->list[k]];
		if (!c->wake)
			continue;
		c->wake = 0;
		if (LOAD_RLX(&c->chan->consumer_waiting) &&
		    __atomic_exchange_n(&c->chan->consumer_waiting, 0, __ATOMIC_ACQ_REL))
			rkv__efd_signal(c->efd);
	}
}

#define WAIT_GROUP 0x80000000u

struct publish_state {
	uint32_t slot;
	uint64_t entry;
	uint32_t nwait;
	int delivered;
};

/* Try the block consumers (and blocking groups) still waiting for room.
 * Returns 1 when none is left. */
static int retry_waiters(rkv_producer *p, void *arg)
{
	struct publish_state *ps = arg;
	uint32_t still = 0;

	for (uint32_t k = 0; k < ps->nwait; k++) {
		uint32_t w = p->waitlist[k];
		int r;
		if (w & WAIT_GROUP) {
			struct group *g = &p->groups[w & ~WAIT_GROUP];
			r = g->used && g->gen == p->waitgen[k] ? deliver_group(p, g, ps->slot) : GONE;
			if (r == DELIVERED)
				group_wake(p, g);
		} else {
			struct cons *c = &p->cons[w];
			/* A consumer that left while we slept is skipped: its
			 * entry is inactive now, or a newcomer's. */
			r = c->active && c->gen == p->waitgen[k] ? deliver_ring(p, c, ps->slot, ps->entry) : GONE;
		}
		if (r == DELIVERED) {
			ps->delivered++;
		} else if (r == FULL) {
			p->waitgen[still] = p->waitgen[k];
			p->waitlist[still++] = w;
		}
	}
	ps->nwait = still;
	wake_consumers(p);
	return still == 0;
}

int rkv_producer_publish(rkv_producer *p, struct rkv_loan *loan, const struct rkv_frame *f)
{
	struct publish_state ps = { 0 };
	struct rkv_frame fr;
	int64_t deadline = 0, spin_until = 0;
	uint32_t s;

	if (!p || !f)
		return -EINVAL;
	if (p->forked)
		return -ECHILD;
	fr = *f;
	if (rkv_frame_check(&fr, p->capacity))
		return -EINVAL;
	if (fr.timestamp_ns == 0)
		fr.timestamp_ns = rkv__now_ns();

	pthread_mutex_lock(&p->lock);
	if (!loan_valid(p, loan)) {
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	s = loan->slot;
	p->loan_token[s] = 0;
	p->nloans--;
	p->published++;
	p->slots[s].frame = fr;
	p->slots[s].pub_seq = p->published;
	ps.slot = s;
	ps.entry = RKV_ENTRY(p->published, s);
	/* The loan's reference keeps the slot ours until every consumer had
	 * its chance, including block consumers we may wait for below. */

	for (uint32_t k = 0; k < p->nlist; k++) {
		uint32_t i = p->list[k];
		struct cons *c = &p->cons[i];
		int r;
		if (c->policy == RKV_POLICY_LATEST)
			r = deliver_latest(p, c, s, ps.entry);
		else
			r = deliver_ring(p, c, s, ps.entry);
		if (r == DELIVERED) {
			ps.delivered++;
		} else if (r == FULL && c->policy == RKV_POLICY_BLOCK) {
			p->waitgen[ps.nwait] = c->gen;
			p->waitlist[ps.nwait++] = i;
		} else if (r == FULL) {
			count_dropped(c);
		}
	}
	for (uint32_t k = 0; k < p->ngroups; k++) {
		struct group *g = &p->groups[p->glist[k]];
		int r = g->used ? deliver_group(p, g, s) : GONE;
		if (r == DELIVERED) {
			ps.delivered++;
			group_wake(p, g);
		} else if (r == FULL && (g->flags & RKV_GROUP_BLOCK)) {
			p->waitgen[ps.nwait] = g->gen;
			p->waitlist[ps.nwait++] = p->glist[k] | WAIT_GROUP;
		} else if (r == FULL) {
			group_dropped(p, g);
		}
	}
	wake_consumers(p);

	/* Block consumers that were full: wait for room, up to the timeout. */
	while (ps.nwait > 0 && !retry_waiters(p, &ps)) {
		int r;
		if (deadline == 0)
			deadline = deadline_of(p->block_timeout_ns);
		r = producer_wait(p, &spin_until, deadline, retry_waiters, &ps);
		if (r == 1)
			break;
		if (r < 0) {
			for (uint32_t k = 0; k < ps.nwait; k++) {
				uint32_t w = p->waitlist[k];
				if (w & WAIT_GROUP)
					group_dropped(p, &p->groups[w & ~WAIT_GROUP]);
				else if (p->cons[w].active && p->cons[w].gen == p->waitgen[k])
					count_dropped(&p->cons[w]);
				STORE_RLX(&p->hdr->block_timeouts, LOAD_RLX(&p->hdr->block_timeouts) + 1);
			}
			break;
		}
	}

	slot_unref(p, s); /* the loan's reference */
	STORE_RLX(&p->hdr->published, p->published);
	pthread_mutex_unlock(&p->lock);
	memset(loan, 0, sizeof(*loan));
	return ps.delivered;
}

int rkv_producer_publish_copy(rkv_producer *p, const void *data, size_t len,
			      const struct rkv_frame *f, int64_t timeout_ns)
{
	struct rkv_loan loan;
	struct rkv_frame fr;
	int r;

	if (!p || !f || (!data && len))
		return -EINVAL;
	if (len > p->capacity)
		return -EMSGSIZE;
	fr = *f;
	if (fr.bytes_used == 0)
		fr.bytes_used = len;
	if (rkv_frame_check(&fr, p->capacity))
		return -EINVAL;
	r = rkv_producer_loan(p, &loan, timeout_ns);
	if (r)
		return r;
	memcpy(loan.data, data, len);
	r = rkv_producer_publish(p, &loan, &fr);
	if (r < 0)
		rkv_producer_cancel(p, &loan);
	return r;
}

/* ==== stats and hooks ===================================================== */

int rkv_producer_wait_consumers(rkv_producer *p, uint32_t n, int64_t timeout_ns)
{
	int64_t deadline;
	int r = 0;

	if (!p)
		return -EINVAL;
	if (p->forked)
		return -ECHILD;
	deadline = deadline_of(timeout_ns);
	pthread_mutex_lock(&p->lock);
	while (p->nconsumers < n) {
		if (timeout_ns == 0) {
			r = -EAGAIN;
			break;
		}
		if (deadline == INT64_MAX) {
			pthread_cond_wait(&p->attached, &p->lock);
			continue;
		}
		struct timespec ts = { .tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000 };
		if (pthread_cond_timedwait(&p->attached, &p->lock, &ts) == ETIMEDOUT &&
		    p->nconsumers < n) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int rkv_producer_stats(rkv_producer *p, struct rkv_pool_stats *st)
{
	if (!p || !st)
		return -EINVAL;
	if (p->forked)
		return -ECHILD;
	pthread_mutex_lock(&p->lock);
	drain_all(p);
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->cons[i].active)
			cons_stats(&p->cons[i]);
	rkv__pool_stats_read(p->hdr, st);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int rkv__producer_pool_area(rkv_producer *p, void **base, uint64_t *size)
{
	if (!p || !base || !size)
		return -EINVAL;
	*base = p->hdr;
	*size = p->pool_size;
	return 0;
}

int rkv__producer_free_slots(rkv_producer *p)
{
	int n;

	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	drain_all(p);
	n = (int)p->nfree;
	pthread_mutex_unlock(&p->lock);
	return n;
}
