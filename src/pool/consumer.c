/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - the consumer side of a pool.
 *
 * The hot path is lock-free and syscall-free while the producer is awake:
 * take an entry from the ready ring (or the mailbox, or a group cell), check
 * it, hand out a view; on release, push the slot index on the release ring.
 * The consumer sleeps only when there is nothing to take, and then on its
 * eventfd, the attach socket and the producer's pidfd together, so the
 * producer's death wakes it as surely as a frame does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool/internal.h"

#define ATTACH_TIMEOUT_MS 5000

struct rkv_consumer {
	int sock;                   /* the lease */
	int pidfd;                  /* the producer process, or -1 */
	int efd;                    /* the producer wakes us here */
	int prod_efd;               /* we wake the producer here */
	int ep;                     /* epoll set: the blocking wait and rkv_consumer_fd() */
	uint32_t id, policy, depth, max_held;
	int64_t spin_ns;

	const struct rkv_wire_pool *pool;
	uint64_t pool_size;
	const struct rkv_wire_slot *slots;
	const uint8_t *data;
	uint32_t nslots;
	uint64_t capacity, stride;

	struct rkv_wire_chan *chan;
	uint64_t chan_size;
	const uint64_t *ready;
	uint32_t *release;
	uint32_t ready_mask, release_mask;
	uint64_t head;              /* our ready_head */
	uint64_t tail_seen;         /* last ready_tail read: no re-read until we catch up */
	uint64_t rel_tail;          /* our release_tail */

	struct rkv_wire_group *grp;
	uint64_t grp_size;
	uint64_t *cells;
	uint32_t grp_mask;

	uint32_t *held;             /* per slot: the view token, 0 if not held */
	uint32_t nheld;
	uint32_t next_token;
	uint64_t taken;
	int gone;                   /* 0, -EPIPE (producer gone) or -ECONNRESET (evicted) */
	int fd_mode;                /* rkv_consumer_fd() was called: arm on -EAGAIN */
	uint32_t signalled;         /* the producer sleep we last woke */
};

/* ==== attach ============================================================== */

static int opts_check(const struct rkv_consumer_opts *o)
{
	if (!o || o->policy < RKV_POLICY_BLOCK || o->policy > RKV_POLICY_GROUP)
		return -EINVAL;
	if (o->queue_depth > RKV_MAX_DEPTH || o->max_held > RKV_MAX_DEPTH || o->spin_ns < 0)
		return -EINVAL;
	if (o->flags & ~(RKV_CONSUMER_ANY_OWNER | RKV_GROUP_BLOCK))
		return -EINVAL;
	if (o->policy == RKV_POLICY_GROUP &&
	    (!o->group || !o->group[0] || strlen(o->group) >= RKV_LABEL_MAX))
		return -EINVAL;
	if (o->policy != RKV_POLICY_GROUP && o->group && o->group[0])
		return -EINVAL;
	if (o->label && strlen(o->label) >= RKV_LABEL_MAX)
		return -EINVAL;
	return 0;
}

int rkv__pool_connect(const char *name, const struct rkv_wire_hello *hello, int any_owner,
		      struct rkv_wire_welcome *w, int *fds, int *nfds, char *why, size_t why_len)
{
	struct sockaddr_un sun;
	uint32_t sunlen;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	struct pollfd pfd;
	ssize_t n;
	int fd, r;

	*nfds = 0;
	if (rkv__sock_addr(name, &sun, &sunlen) < 0) {
		rkv__set_reason(why, why_len, "invalid pool name");
		return -EINVAL;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sunlen) < 0) {
		r = -errno;
		close(fd);
		if (r == -ECONNREFUSED || r == -ENOENT) {
			rkv__set_reason(why, why_len, "no producer serves pool '%s'", name);
			return -ENOENT;
		}
		rkv__set_reason(why, why_len, "cannot connect to pool '%s': %s", name, strerror(-r));
		return r;
	}
	/* Make sure it is a producer we trust before believing its memory. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 ||
	    (!any_owner && cr.uid != geteuid() && cr.uid != 0)) {
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' is served by uid %u, not by us", name,
				(unsigned)cr.uid);
		return -EACCES;
	}
	r = rkv__send_msg(fd, hello, sizeof(*hello), NULL, 0);
	if (r) {
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' hung up: %s", name, strerror(-r));
		return r == -EPIPE ? -ENOENT : r;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	do
		r = poll(&pfd, 1, ATTACH_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' did not answer within %d ms", name,
				ATTACH_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	n = rkv__recv_msg(fd, w, sizeof(*w), fds, RKV_WELCOME_FDS_MAX, nfds);
	if (n <= 0) {
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' closed the connection", name);
		return n == 0 ? -ENOENT : (int)n;
	}
	if ((size_t)n != sizeof(*w)) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' answered %zd bytes, expected %zu", name,
				n, sizeof(*w));
		return -EPROTO;
	}
	return fd;
}

/* Does memfd @fd refuse to shrink? A producer that could shrink the memory
 * under us could make our next read fault. */
static int sealed(int fd)
{
	int s = fcntl(fd, F_GET_SEALS);
	return s >= 0 && (s & F_SEAL_SHRINK);
}

/*
 * One epoll set serves both the blocking wait and rkv_consumer_fd(). The
 * eventfd is edge-triggered: every signal is a new edge, so it never needs
 * reading, which keeps a syscall off the wake-up path.
 */
#define EV_WAKE 1u
#define EV_LEASE 2u
#define EV_PRODUCER 3u

static int make_epoll(rkv_consumer *c)
{
	struct epoll_event e1 = { .events = EPOLLIN | EPOLLET, .data.u32 = EV_WAKE };
	struct epoll_event e2 = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = EV_LEASE };
	struct epoll_event e3 = { .events = EPOLLIN, .data.u32 = EV_PRODUCER };

	c->ep = epoll_create1(EPOLL_CLOEXEC);
	if (c->ep < 0)
		return -errno;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->efd, &e1) < 0 ||
	    epoll_ctl(c->ep, EPOLL_CTL_ADD, c->sock, &e2) < 0 ||
	    (c->pidfd >= 0 && epoll_ctl(c->ep, EPOLL_CTL_ADD, c->pidfd, &e3) < 0))
		return -errno;
	return 0;
}

int rkv__consumer_adopt(int sock, const struct rkv_wire_welcome *w, size_t wlen,
			int *fds, int nfds, const struct rkv_consumer_opts *opts,
			rkv_consumer **out)
{
	char *why = opts ? opts->errbuf : NULL;
	size_t why_len = opts ? opts->errbuf_len : 0;
	rkv_consumer *c = NULL;
	int want, r;
	void *base;

	*out = NULL;
	if (!w || wlen != sizeof(*w) || w->magic != RKV_MAGIC_WELCOME) {
		rkv__set_reason(why, why_len, "the producer's answer is not an RKVision welcome");
		r = -EPROTO;
		goto fail_fds;
	}
	if (w->version != RKV_WIRE_VERSION) {
		rkv__set_reason(why, why_len, "the producer speaks layout version %u, we speak %u",
				w->version, RKV_WIRE_VERSION);
		r = -EPROTO;
		goto fail_fds;
	}
	if (w->status != 0) {
		char reason[sizeof(w->reason) + 1];
		memcpy(reason, w->reason, sizeof(w->reason));
		reason[sizeof(w->reason)] = '\0';
		rkv__set_reason(why, why_len, "%s", reason[0] ? reason : "refused by the producer");
		r = w->status < 0 && w->status > -4096 ? w->status : -EPROTO;
		goto fail_fds;
	}
	want = opts->policy == RKV_POLICY_GROUP ? 5 : 4;
	if (nfds != want || (uint32_t)nfds != w->nfds) {
		rkv__set_reason(why, why_len, "the producer passed %d descriptors, expected %d", nfds, want);
		r = -EPROTO;
		goto fail_fds;
	}
	if (w->id >= RKV_MAX_CONSUMERS) {
		rkv__set_reason(why, why_len, "the producer gave consumer id %u", w->id);
		r = -EPROTO;
		goto fail_fds;
	}
	for (int i = 0; i < nfds; i++) {
		if ((i < 2 || i == 4) && !sealed(fds[i])) {
			rkv__set_reason(why, why_len, "the producer's shared memory is not sealed");
			r = -EPROTO;
			goto fail_fds;
		}
	}

	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto fail_fds;
	}
	c->sock = sock;
	c->ep = -1;
	c->pidfd = -1;
	{
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == 0 && cr.pid > 0 &&
		    cr.pid != getpid()) {
			int pfd = rkv__pidfd_open(cr.pid);
			c->pidfd = pfd >= 0 ? pfd : -1;
		}
	}
	c->efd = fds[2];
	c->prod_efd = fds[3];
	c->id = w->id;
	c->policy = opts->policy;
	c->spin_ns = opts->spin_ns;

	/* The pool: read-only, and checked before anything in it is used. */
	r = rkv__map(fds[0], w->pool_size, 0, &base);
	if (r) {
		rkv__set_reason(why, why_len, "cannot map the pool: %s", strerror(-r));
		goto fail_c;
	}
	c->pool = base;
	c->pool_size = w->pool_size;
	r = rkv__pool_check(c->pool, c->pool_size, why, why_len);
	if (r)
		goto fail_c;
	if (c->id >= c->pool->max_consumers) {
		rkv__set_reason(why, why_len, "consumer id %u is beyond the pool's %u consumers",
				c->id, c->pool->max_consumers);
		r = -EPROTO;
		goto fail_c;
	}
	c->nslots = c->pool->slot_count;
	c->capacity = c->pool->slot_capacity;
	c->stride = c->pool->slot_stride;
	c->slots = (const struct rkv_wire_slot *)((const uint8_t *)base + c->pool->slots_offset);
	c->data = (const uint8_t *)base + c->pool->data_offset;

	r = rkv__map(fds[1], w->chan_size, 1, &base);
	if (r) {
		rkv__set_reason(why, why_len, "cannot map the chan: %s", strerror(-r));
		goto fail_c;
	}
	c->chan = base;
	c->chan_size = w->chan_size;
	r = rkv__chan_check(c->chan, c->chan_size, c->id, c->nslots, why, why_len);
	if (r)
		goto fail_c;
	if (c->chan->policy != opts->policy) {
		rkv__set_reason(why, why_len, "the producer set up policy %u, we asked for %u",
				c->chan->policy, opts->policy);
		r = -EPROTO;
		goto fail_c;
	}
	c->depth = c->chan->queue_depth;
	c->max_held = c->chan->max_held;
	c->ready = (const uint64_t *)((uint8_t *)base + c->chan->ready_offset);
	c->release = (uint32_t *)((uint8_t *)base + c->chan->release_offset);
	c->ready_mask = c->chan->ready_size - 1;
	c->release_mask = c->chan->release_size - 1;
	c->head = LOAD_ACQ(&c->chan->ready_head);
	c->tail_seen = c->head;
	c->rel_tail = LOAD_ACQ(&c->chan->release_tail);

	if (nfds == 5) {
		r = rkv__map(fds[4], w->group_size, 1, &base);
		if (r) {
			rkv__set_reason(why, why_len, "cannot map the group queue: %s", strerror(-r));
			goto fail_c;
		}
		c->grp = base;
		c->grp_size = w->group_size;
		r = rkv__group_check(c->grp, c->grp_size, why, why_len);
		if (r)
			goto fail_c;
		c->cells = (uint64_t *)((uint8_t *)base + c->grp->cells_offset);
		c->grp_mask = c->grp->ring_size - 1;
	}

	c->held = calloc(c->nslots, sizeof(*c->held));
	if (!c->held) {
		r = -ENOMEM;
		goto fail_c;
	}
	r = make_epoll(c);
	if (r) {
		rkv__set_reason(why, why_len, "cannot set up waiting: %s", strerror(-r));
		goto fail_c;
	}
	/* The mappings keep the memory; the descriptors are no longer needed. */
	close(fds[0]);
	close(fds[1]);
	if (nfds == 5)
		close(fds[4]);
	*out = c;
	return 0;

fail_c:
	/* c owns sock, efd and prod_efd now; the memfds are still ours. */
	close(fds[0]);
	close(fds[1]);
	if (nfds == 5)
		close(fds[4]);
	rkv_consumer_detach(c);
	return r;
fail_fds:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (sock >= 0)
		close(sock);
	return r;
}

int rkv_consumer_attach(const char *name, const struct rkv_consumer_opts *opts, rkv_consumer **out)
{
	struct rkv_wire_hello h;
	struct rkv_wire_welcome w;
	int fds[RKV_WELCOME_FDS_MAX], nfds, sock, r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	r = opts_check(opts);
	if (r) {
		if (opts)
			rkv__set_reason(opts->errbuf, opts->errbuf_len, "invalid consumer options");
		return r;
	}
	if (rkv__name_check(name)) {
		rkv__set_reason(opts->errbuf, opts->errbuf_len, "invalid pool name");
		return -EINVAL;
	}
	memset(&h, 0, sizeof(h));
	h.magic = RKV_MAGIC_HELLO;
	h.version = RKV_WIRE_VERSION;
	h.kind = RKV_HELLO_CONSUMER;
	h.policy = opts->policy;
	h.queue_depth = opts->queue_depth;
	h.max_held = opts->max_held;
	h.flags = opts->flags & RKV_GROUP_BLOCK;
	if (opts->label)
		snprintf(h.label, sizeof(h.label), "%s", opts->label);
	if (opts->group)
		snprintf(h.group, sizeof(h.group), "%s", opts->group);

	sock = rkv__pool_connect(name, &h, opts->flags & RKV_CONSUMER_ANY_OWNER, &w, fds, &nfds,
				 opts->errbuf, opts->errbuf_len);
	if (sock < 0)
		return sock;
	return rkv__consumer_adopt(sock, &w, sizeof(w), fds, nfds, opts, out);
}

void rkv_consumer_detach(rkv_consumer *c)
{
	if (!c)
		return;
	/* Saying goodbye is the detach: the producer takes back every slot
	 * we held or had queued, as it would after a crash. Closing alone is
	 * not enough when a forked child still holds a copy of the socket. */
	if (c->sock >= 0) {
		int32_t bye = 0;
		send(c->sock, &bye, sizeof(bye), MSG_DONTWAIT | MSG_NOSIGNAL);
		close(c->sock);
	}
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->efd >= 0)
		close(c->efd);
	if (c->prod_efd >= 0)
		close(c->prod_efd);
	if (c->ep >= 0)
		close(c->ep);
	if (c->pool)
		rkv__unmap((void *)c->pool, c->pool_size);
	if (c->chan)
		rkv__unmap(c->chan, c->chan_size);
	if (c->grp)
		rkv__unmap(c->grp, c->grp_size);
	free(c->held);
	free(c);
}

/* ==== taking frames ======================================================= */

/* The producer puts a new nonzero value in producer_waiting each time it
 * goes to sleep; signal each sleep once. */
static void wake_producer(rkv_consumer *c)
{
	uint32_t w;

	FENCE();
	w = LOAD_RLX(&c->pool->producer_waiting);
	if (w && w != c->signalled) {
		c->signalled = w;
		rkv__efd_signal(c->prod_efd);
	}
}

/* Ready ring (block, drop). Returns 1 and *@e, 0 if empty, -EPROTO. */
static int take_ring(rkv_consumer *c, uint64_t *e)
{
	if (c->head == c->tail_seen) {
		uint64_t t = LOAD_ACQ(&c->chan->ready_tail);
		if (t - c->head > (uint64_t)c->ready_mask + 1)
			return -EPROTO;
		c->tail_seen = t;
		if (t == c->head)
			return 0;
	}
	*e = c->ready[c->head & c->ready_mask];
	c->head++;
	STORE_REL(&c->chan->ready_head, c->head);
	return 1;
}

static int take_latest(rkv_consumer *c, uint64_t *e)
{
	if (LOAD_RLX(&c->chan->mailbox) == RKV_MAILBOX_EMPTY)
		return 0;
	*e = __atomic_exchange_n(&c->chan->mailbox, RKV_MAILBOX_EMPTY, __ATOMIC_ACQ_REL);
	return *e != RKV_MAILBOX_EMPTY;
}

/* Claim the oldest unclaimed cell of the group queue (see wire.h). */
static int take_group(rkv_consumer *c, uint64_t *e)
{
	uint32_t me = c->id + 1;

	for (int tries = 0; tries < 1024; tries++) {
		uint64_t h = LOAD_ACQ(&c->grp->head);
		uint64_t t = LOAD_ACQ(&c->grp->tail);
		if (h == t)
			return 0;
		if (t - h > (uint64_t)c->grp_mask + 1) {
			/* A head past the tail, or more than a lap behind it:
			 * only a scribbling member does that. Restart from the
			 * oldest position the queue can hold; the loop below
			 * skips what is claimed there. */
			uint64_t oldest = t > c->grp_mask + 1 ? t - (c->grp_mask + 1) : 0;
			__atomic_compare_exchange_n(&c->grp->head, &h, oldest, 0,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			continue;
		}
		uint64_t *cellp = &c->cells[h & c->grp_mask];
		uint64_t cell = LOAD_ACQ(cellp);
		int32_t age = (int32_t)(RKV_CELL_TAG(cell) - (uint32_t)h);
		if (age > 0 || (age == 0 && RKV_CELL_OWNER(cell) != 0)) {
			/* Claimed already (and maybe refilled): help head on. */
			__atomic_compare_exchange_n(&c->grp->head, &h, h + 1, 0,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			continue;
		}
		if (age < 0)
			continue; /* a stale head; read again */
		uint64_t mine = RKV_CELL(RKV_CELL_TAG(cell), me, RKV_CELL_SLOT(cell));
		if (__atomic_compare_exchange_n(cellp, &cell, mine, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			__atomic_compare_exchange_n(&c->grp->head, &h, h + 1, 0,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			*e = RKV_ENTRY(RKV_CELL_TAG(cell), RKV_CELL_SLOT(cell));
			return 2; /* the tag is the position, not the publish count */
		}
	}
	return 0;
}

static int take(rkv_consumer *c, uint64_t *e)
{
	switch (c->policy) {
	case RKV_POLICY_LATEST:
		return take_latest(c, e);
	case RKV_POLICY_GROUP:
		return take_group(c, e);
	default:
		return take_ring(c, e);
	}
}

static void wait_events(rkv_consumer *c, const struct timespec *tsp);

/* Give slot @s back to the producer: 0, or 1 when nobody is left to take
 * it (the view is simply forgotten), or -EPROTO. */
static int push_release(rkv_consumer *c, uint32_t s)
{
	uint64_t h = LOAD_ACQ(&c->chan->release_head);

	if (c->rel_tail - h > c->release_mask) {
		/* The producer never lets an honest consumer get here, unless
		 * it stopped reading our ring because it evicted us or died:
		 * then there is nobody to give the slot back to. */
		static const struct timespec zero;
		if (!c->gone)
			wait_events(c, &zero);
		return c->gone ? 1 : -EPROTO;
	}
	c->release[c->rel_tail & c->release_mask] = s;
	c->rel_tail++;
	STORE_REL(&c->chan->release_tail, c->rel_tail);
	wake_producer(c);
	return 0;
}

/*
 * Turn entry @e into a view. The slot index and the descriptor come from the
 * producer's memory: both are checked, and a frame that fails goes back.
 */
static int make_view(rkv_consumer *c, uint64_t e, int tag_is_pos, struct rkv_view *v)
{
	uint32_t s = RKV_ENTRY_SLOT(e);
	struct rkv_wire_slot d;

	if (s >= c->nslots || c->held[s])
		return -EPROTO; /* not a slot we can give back either */
	memcpy(&d, &c->slots[s], sizeof(d));
	if ((!tag_is_pos && (uint32_t)d.pub_seq != RKV_ENTRY_TAG(e)) ||
	    rkv_frame_check(&d.frame, c->capacity)) {
		push_release(c, s);
		return -EPROTO;
	}
	if (++c->next_token == 0)
		c->next_token = 1;
	c->held[s] = c->next_token;
	c->nheld++;
	c->taken++;
	STORE_RLX(&c->chan->taken, c->taken);
	v->data = c->data + (uint64_t)s * c->stride;
	v->frame = d.frame;
	v->capacity = c->capacity;
	v->slot = s;
	v->token = c->next_token;
	return 0;
}

/* One non-blocking attempt. 0 with a view, -EAGAIN, or another error. */
static int try_acquire(rkv_consumer *c, struct rkv_view *v)
{
	uint64_t e;
	int r;

	if (c->gone == -ECONNRESET)
		return -ECONNRESET; /* evicted: our queue is no longer protected */
	r = take(c, &e);
	if (r < 0)
		return r;
	if (r == 0)
		return -EAGAIN;
	if (LOAD_ACQ(&c->chan->evicted)) {
		/* The producer took our slots back: what we just took may be
		 * rewritten any moment. */
		c->gone = -ECONNRESET;
		return -ECONNRESET;
	}
	r = make_view(c, e, r == 2, v);
	/* Taking made room in a queue the producer may be waiting on (not
	 * so for a mailbox). Checked after the view is made, to keep the
	 * fence off the frame's way to the caller. */
	if (c->policy != RKV_POLICY_LATEST)
		wake_producer(c);
	return r;
}

/* Read what the producer said on the lease, if anything. */
static void check_lease(rkv_consumer *c, short revents, short pid_revents)
{
	int32_t code;
	ssize_t n;

	if (pid_revents & POLLIN)
		c->gone = c->gone ? c->gone : -EPIPE;
	if (!(revents & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)))
		return;
	n = recv(c->sock, &code, sizeof(code), MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(code) && code == -ECONNRESET)
		c->gone = -ECONNRESET;
	else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		c->gone = c->gone ? c->gone : -EPIPE;
	else if (revents & (POLLHUP | POLLERR | POLLRDHUP))
		c->gone = c->gone ? c->gone : -EPIPE;
}

/* Announce that we are about to sleep, then look once more (Dekker with the
 * producer's wake_consumers). */
static int arm(rkv_consumer *c, struct rkv_view *v)
{
	int r;

	STORE_RLX(&c->chan->consumer_waiting, 1);
	FENCE();
	r = try_acquire(c, v);
	if (r != -EAGAIN)
		STORE_RLX(&c->chan->consumer_waiting, 0);
	return r;
}

/* Wait on the epoll set (eventfd edge-triggered, lease, producer pidfd) for
 * at most @tsp (NULL: forever), and note what the lease said. */
static void wait_events(rkv_consumer *c, const struct timespec *tsp)
{
	/* epoll_pwait2 (ns timeouts) came in Linux 5.11; the RK3588 vendor
	 * kernel is 5.10, and valgrind 3.19 does not know it either. Without
	 * it, wait in whole milliseconds, rounded up so a wait never ends
	 * early. */
	static int no_pwait2;
	struct epoll_event ev[4];
	int n = -1;

	if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		n = epoll_pwait2(c->ep, ev, 4, tsp, NULL);
		if (n < 0 && errno == ENOSYS)
			__atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
	}
	if (__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
		int ms = -1;
		if (tsp) {
			int64_t ns = (int64_t)tsp->tv_sec * 1000000000 + tsp->tv_nsec;
			ms = ns > (int64_t)INT32_MAX * 1000000 ? INT32_MAX : (int)((ns + 999999) / 1000000);
		}
		n = epoll_wait(c->ep, ev, 4, ms);
	}

	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == EV_LEASE)
			check_lease(c, (short)ev[i].events, 0);
		else if (ev[i].data.u32 == EV_PRODUCER)
			check_lease(c, 0, POLLIN);
		/* EV_WAKE needs nothing: it is edge-triggered, so the eventfd
		 * is never read, and every signal makes a new edge. */
	}
}

int rkv_consumer_acquire(rkv_consumer *c, struct rkv_view *v, int64_t timeout_ns)
{
	static const struct timespec zero;
	int64_t deadline = INT64_MAX;
	int r;

	if (!c || !v)
		return -EINVAL;
	if (c->nheld >= c->max_held) {
		/* Say why if the lease broke: an evicted consumer may be
		 * unable to give its views back. */
		if (!c->gone)
			wait_events(c, &zero);
		return c->gone == -ECONNRESET ? -ECONNRESET : -EBUSY;
	}
	r = try_acquire(c, v);
	if (r != -EAGAIN)
		return r;

	if (timeout_ns > 0 || c->spin_ns > 0) {
		int64_t now = rkv__now_ns();
		if (timeout_ns >= 0)
			deadline = now + timeout_ns;
		if (c->spin_ns > 0 && !c->gone) {
			int64_t stop = now + c->spin_ns < deadline ? now + c->spin_ns : deadline;
			for (;;) {
				for (int k = 0; k < 32; k++) {
					rkv__cpu_relax();
					r = try_acquire(c, v);
					if (r != -EAGAIN)
						return r;
				}
				if (rkv__now_ns() >= stop)
					break;
			}
		}
	}

	for (;;) {
		struct timespec ts;

		if (c->gone) {
			/* Frames queued before the producer went are whole. */
			r = c->gone == -EPIPE ? try_acquire(c, v) : c->gone;
			return r == -EAGAIN ? c->gone : r;
		}
		if (timeout_ns == 0 && !c->fd_mode) {
			/* Polling without the fd: nobody will wait on the
			 * eventfd, so do not ask the producer to signal it;
			 * only look at the lease. */
			wait_events(c, &zero);
			if (c->gone)
				continue;
			return -EAGAIN;
		}
		r = arm(c, v);
		if (r != -EAGAIN)
			return r;
		if (timeout_ns == 0) {
			/* Non-blocking: take the pending events off the fd (so a
			 * poller is not woken again for them) and look at the
			 * lease, for the producer's death. */
			wait_events(c, &zero);
			if (c->gone)
				continue;
			return -EAGAIN;
		}
		if (deadline != INT64_MAX) {
			int64_t left = deadline - rkv__now_ns();
			if (left <= 0) {
				STORE_RLX(&c->chan->consumer_waiting, 0);
				return -ETIMEDOUT;
			}
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
		}
		wait_events(c, deadline != INT64_MAX ? &ts : NULL);
		r = try_acquire(c, v);
		if (r != -EAGAIN) {
			STORE_RLX(&c->chan->consumer_waiting, 0);
			return r;
		}
	}
}

int rkv_consumer_release(rkv_consumer *c, struct rkv_view *v)
{
	uint32_t s;
	int r;

	if (!c || !v)
		return -EINVAL;
	s = v->slot;
	if (s >= c->nslots || v->token == 0 || c->held[s] != v->token)
		return -EINVAL;
	r = push_release(c, s);
	if (r < 0)
		return r;
	c->held[s] = 0;
	c->nheld--;
	memset(v, 0, sizeof(*v));
	return 0;
}

/* Is anything waiting to be taken? (A hint: it may be gone when we look.) */
static int peek(rkv_consumer *c)
{
	switch (c->policy) {
	case RKV_POLICY_LATEST:
		return LOAD_RLX(&c->chan->mailbox) != RKV_MAILBOX_EMPTY;
	case RKV_POLICY_GROUP:
		return LOAD_RLX(&c->grp->head) != LOAD_RLX(&c->grp->tail);
	default:
		return LOAD_RLX(&c->chan->ready_tail) != c->head;
	}
}

int rkv_consumer_fd(rkv_consumer *c)
{
	if (!c)
		return -EINVAL;
	if (!c->fd_mode) {
		/* From now on the producer signals every frame we sleep
		 * through; and if frames are already waiting, the fd says so
		 * at once, so a poll before the first acquire cannot hang. */
		c->fd_mode = 1;
		STORE_RLX(&c->chan->consumer_waiting, 1);
		FENCE();
		if (peek(c))
			rkv__efd_signal(c->efd);
	}
	return c->ep;
}

/* ==== counters and hooks ================================================== */

int rkv_consumer_stats(rkv_consumer *c, struct rkv_consumer_stats *st)
{
	const struct rkv_wire_cstats *w;

	if (!c || !st)
		return -EINVAL;
	w = (const struct rkv_wire_cstats *)((const uint8_t *)c->pool + c->pool->stats_offset) + c->id;
	memset(st, 0, sizeof(*st));
	st->id = c->id;
	st->policy = c->policy;
	st->pid = getpid();
	st->queue_depth = c->depth;
	st->max_held = c->max_held;
	/* What we pin, from our own side: exact, where the producer's books
	 * lag until it reads our release ring. */
	st->outstanding = c->nheld;
	if (c->policy == RKV_POLICY_LATEST)
		st->outstanding += LOAD_RLX(&c->chan->mailbox) != RKV_MAILBOX_EMPTY;
	else if (c->policy != RKV_POLICY_GROUP)
		st->outstanding += (uint32_t)(LOAD_ACQ(&c->chan->ready_tail) - c->head);
	/* A group member's frames are the ones it claimed. */
	st->delivered = c->policy == RKV_POLICY_GROUP ? c->taken : LOAD_RLX(&w->delivered);
	st->received = c->taken;
	st->dropped = LOAD_RLX(&w->dropped);
	st->replaced = LOAD_RLX(&w->replaced);
	memcpy(st->label, w->label, RKV_LABEL_MAX);
	memcpy(st->group, w->group, RKV_LABEL_MAX);
	st->label[RKV_LABEL_MAX - 1] = st->group[RKV_LABEL_MAX - 1] = '\0';
	return 0;
}

int rkv_consumer_pool_stats(rkv_consumer *c, struct rkv_pool_stats *st)
{
	if (!c || !st)
		return -EINVAL;
	rkv__pool_stats_read(c->pool, st);
	return 0;
}

int rkv__consumer_chan_area(rkv_consumer *c, void **base, uint64_t *size)
{
	if (!c || !base || !size)
		return -EINVAL;
	*base = c->chan;
	*size = c->chan_size;
	return 0;
}

int rkv__consumer_group_area(rkv_consumer *c, void **base, uint64_t *size)
{
	if (!c || !base || !size)
		return -EINVAL;
	if (!c->grp)
		return -ENOENT;
	*base = c->grp;
	*size = c->grp_size;
	return 0;
}
