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

#include "pool/producer.h"

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
	rkv__live_remove(p);
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
				rkv__cons_remove(p, &p->cons[i], 0);
		for (uint32_t i = 0; i < p->max_consumers; i++)
			free(p->cons[i].owned);
	}
	if (p->groups) {
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			if (p->groups[i].used)
				rkv__group_destroy(p, &p->groups[i]);
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
	r = -pthread_create(&p->thread, NULL, rkv__service_main, p);
	if (r)
		goto fail;
	p->thread_started = 1;
	rkv__live_add(p);
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
		rkv__drain_all(p);
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
	rkv__slot_unref(p, loan->slot);
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
		rkv__cons_remove(p, c, 1); /* its head ran backwards or past our tail */
		return -1;
	}
	c->head = h;
	if (c->tail - h >= c->depth)
		return 0;
	if (c->outstanding >= c->depth + c->max_held && rkv__cons_drain(p, c) < 0)
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
	rkv__count_delivered(c);
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
			if (c->outstanding >= 1 + c->max_held && rkv__cons_drain(p, c) < 0)
				return GONE;
			if (c->outstanding >= 1 + c->max_held)
				return FULL;
		} else {
			uint32_t os = RKV_ENTRY_SLOT(old);
			if (os >= p->nslots || !bit_test(c->owned, os)) {
				rkv__cons_remove(p, c, 1);
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
			rkv__slot_unref(p, os);
			c->replaced++;
			STORE_RLX(&c->st->replaced, c->replaced);
		}
		bit_set(c->owned, s);
		c->outstanding++;
		p->refs[s]++;
		rkv__count_delivered(c);
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
		rkv__group_settle(p, g, prev, c);
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
				rkv__slot_unref(p, i);
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
			rkv__count_dropped(&p->cons[k]);
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
			rkv__count_dropped(c);
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
					rkv__count_dropped(&p->cons[w]);
				STORE_RLX(&p->hdr->block_timeouts, LOAD_RLX(&p->hdr->block_timeouts) + 1);
			}
			break;
		}
	}

	rkv__slot_unref(p, s); /* the loan's reference */
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
	rkv__drain_all(p);
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->cons[i].active)
			rkv__cons_stats(&p->cons[i]);
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
	rkv__drain_all(p);
	n = (int)p->nfree;
	pthread_mutex_unlock(&p->lock);
	return n;
}
