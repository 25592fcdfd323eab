/* SPDX-License-Identifier: MIT */
/*
 * service.c - the producer's service thread: it accepts connections (and
 * turns away, at once, peers the pool does not admit), hands hellos to
 * attach.c, and watches every consumer's lease and process so that one that
 * leaves or dies gives its slots back at once. Also what a forked child
 * does with a producer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool/producer.h"

/* ==== fork ================================================================
 *
 * A child forked from a producer's process inherits the attach socket,
 * pending connections and every consumer's lease. Left open there, they
 * would keep the pool's name taken and dead consumers' slots pinned for as
 * long as the child lives. So the child closes them at once: the child is
 * not the producer, and its copy of the handle only accepts
 * rkv_producer_destroy() (which frees memory). Its mapping of the pool is
 * made read-only: the child cannot write a slot a consumer reads.
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static rkv_producer *live;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&live_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&live_lock); }

static void fork_child(void)
{
	for (rkv_producer *p = live; p; p = p->next_live) {
		p->thread_started = 0; /* the thread was not copied */
		if (p->listen_fd >= 0)
			close(p->listen_fd);
		p->listen_fd = -1;
		for (int i = 0; i < MAX_PENDING; i++) {
			if (p->pending[i].fd >= 0)
				close(p->pending[i].fd);
			p->pending[i].fd = -1;
		}
		for (int i = 0; i < MAX_REJECT; i++) {
			if (p->reject[i].fd >= 0)
				close(p->reject[i].fd);
			p->reject[i].fd = -1;
		}
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			struct cons *c = &p->cons[i];
			if (c->state != CS_FREE && c->sock >= 0) {
				close(c->sock);
				c->sock = -1;
			}
		}
		if (p->hdr)
			mprotect(p->hdr, p->pool_size, PROT_READ);
	}
	pthread_mutex_unlock(&live_lock);
}

static void atfork_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void service_live_add(rkv_producer *p)
{
	pthread_once(&atfork_once, atfork_init);
	pthread_mutex_lock(&live_lock);
	p->next_live = live;
	live = p;
	pthread_mutex_unlock(&live_lock);
}

void service_live_remove(rkv_producer *p)
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

/* ==== connections ========================================================= */

static void pending_drop(rkv_producer *p, int i)
{
	epoll_ctl(p->ep, EPOLL_CTL_DEL, p->pending[i].fd, NULL);
	close(p->pending[i].fd);
	p->pending[i].fd = -1;
}

static void reject_drop(rkv_producer *p, int i)
{
	char buf[128];

	/* Read what it sent first: closing a socket with unread data makes
	 * the peer's next read fail with ECONNRESET instead of our answer. */
	while (recv(p->reject[i].fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
	}
	epoll_ctl(p->ep, EPOLL_CTL_DEL, p->reject[i].fd, NULL);
	close(p->reject[i].fd);
	p->reject[i].fd = -1;
}

/*
 * A refused peer keeps its connection until it has said its hello (or for
 * a moment): then it reads our answer, not a reset. Refused peers have a
 * table of their own, so however many there are they never take an
 * admitted peer's place; the oldest makes room.
 */
static void reject_keep(rkv_producer *p, int fd)
{
	int slot = 0;
	int64_t oldest = INT64_MAX;

	for (int i = 0; i < MAX_REJECT; i++) {
		if (p->reject[i].fd < 0) {
			slot = i;
			break;
		}
		if (p->reject[i].since < oldest) {
			oldest = p->reject[i].since;
			slot = i;
		}
	}
	if (p->reject[slot].fd >= 0)
		reject_drop(p, slot);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
				  .data.u64 = MKTAG(TAG_REJECT, (uint32_t)slot, 0) };
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	p->reject[slot].fd = fd;
	p->reject[slot].since = rkv__now_ns();
}

/*
 * Accept what is waiting. Credentials are checked here, before the peer
 * can take a place: a peer the pool does not admit is answered and closed
 * at once, so however fast it connects it never displaces an admitted one
 * (the pending table holds admitted peers only, and the backlog drains as
 * fast as the kernel queues).
 */
static void accept_all(rkv_producer *p)
{
	/* Bounded per round: under a flood of connections the loop returns
	 * to epoll, and hellos already waiting are served in between. */
	for (int round = 0; round < 64; round++) {
		int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int slot = -1;
		int64_t oldest = INT64_MAX;
		pid_t pid = 0;
		struct rkv_wire_welcome w;

		if (fd < 0)
			return; /* EAGAIN, or a transient error: epoll will tell again */
		memset(&w, 0, sizeof(w));
		w.magic = RKV_MAGIC_WELCOME;
		w.version = RKV_WIRE_VERSION;
		w.status = attach_admitted(p, fd, &pid, w.reason, sizeof(w.reason));
		if (w.status) {
			rkv__send_msg(fd, &w, sizeof(w), NULL, 0, MSG_DONTWAIT);
			reject_keep(p, fd);
			continue;
		}
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
		/* Full of silent admitted connections (the pool's own users):
		 * the oldest makes room. */
		if (p->pending[slot].fd >= 0)
			pending_drop(p, slot);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u64 = MKTAG(TAG_PENDING, (uint32_t)slot, 0) };
		if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		p->pending[slot].fd = fd;
		p->pending[slot].pid = pid;
		p->pending[slot].since = rkv__now_ns();
	}
}

static void on_pending(rkv_producer *p, uint32_t idx, uint32_t events)
{
	int fd = p->pending[idx].fd;
	char b;

	/* Not a whole hello yet (and still connected): wait for more. */
	if (!(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) &&
	    recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN)
		return;
	epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
	p->pending[idx].fd = -1;
	attach_handle(p, fd, p->pending[idx].pid);
}

/* A consumer's lease or process spoke: it left, died, or said goodbye
 * (anything sent on a lease ends it). */
static void on_consumer(rkv_producer *p, uint32_t idx, uint32_t gen)
{
	pthread_mutex_lock(&p->lock);
	if (idx < p->max_consumers) {
		struct cons *c = &p->cons[idx];
		if (c->state == CS_ACTIVE && c->gen == gen)
			ledger_drop(p, c);
		ledger_reap(p);
	}
	pthread_mutex_unlock(&p->lock);
}

void *service_main(void *arg)
{
	rkv_producer *p = arg;
	struct epoll_event evs[16];

	for (;;) {
		int64_t deadline = INT64_MAX;
		int64_t now = rkv__now_ns();

		for (int i = 0; i < MAX_PENDING; i++) {
			if (p->pending[i].fd < 0)
				continue;
			if (now - p->pending[i].since > PENDING_TTL_NS)
				pending_drop(p, i);
			else
				deadline = now + 500000000;
		}
		for (int i = 0; i < MAX_REJECT; i++) {
			if (p->reject[i].fd < 0)
				continue;
			if (now - p->reject[i].since > PENDING_TTL_NS / 4)
				reject_drop(p, i);
			else
				deadline = now + 100000000;
		}
		int n = rkv__epoll_wait(p->ep, evs, 16, deadline);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint32_t idx = TAG_IDX(tag);

			switch (TAG_KIND(tag)) {
			case TAG_STOP:
				return NULL;
			case TAG_LISTEN:
				accept_all(p);
				break;
			case TAG_PENDING:
				if (idx < MAX_PENDING && p->pending[idx].fd >= 0)
					on_pending(p, idx, evs[i].events);
				break;
			case TAG_REJECT:
				if (idx < MAX_REJECT && p->reject[idx].fd >= 0)
					reject_drop(p, (int)idx);
				break;
			case TAG_CONS:
				on_consumer(p, idx, TAG_GEN(tag));
				break;
			default:
				break;
			}
		}
	}
}
