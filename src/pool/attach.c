/* SPDX-License-Identifier: MIT */
/*
 * attach.c - the producer's service thread: it admits consumers (checking
 * who they are and whether the slot budget can serve them), and it watches
 * every consumer's lease and process so that one that leaves or dies gives
 * its slots back at once. Also what a forked child does with a producer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool/producer.h"

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

void rkv__live_add(rkv_producer *p)
{
	pthread_once(&atfork_once, atfork_init);
	pthread_mutex_lock(&live_lock);
	p->next_live = live;
	live = p;
	pthread_mutex_unlock(&live_lock);
}

void rkv__live_remove(rkv_producer *p)
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
		rkv__drain_all(p);
		for (uint32_t i = 0; i < p->max_consumers; i++)
			if (p->cons[i].active)
				rkv__cons_stats(&p->cons[i]);
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
	rkv__rebuild_lists(p);

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
		rkv__cons_remove(p, c, 0);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u64 = MKTAG(TAG_CONS, c->id, c->gen) };
		if (epoll_ctl(p->ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
			c->sock = -1;
			rkv__cons_remove(p, c, 0);
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
				rkv__cons_remove(p, c, 0);
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
		rkv__group_destroy(p, g);
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

void *rkv__service_main(void *arg)
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
					rkv__cons_remove(p, c, 0); /* hung up, died, or spoke out of turn */
				pthread_mutex_unlock(&p->lock);
			}
		}
	}
}

