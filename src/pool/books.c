/* SPDX-License-Identifier: MIT */
/*
 * books.c - the producer's books: which consumer holds which slot, reading
 * what consumers give back, and forgetting a consumer that left, died or
 * broke the protocol. Every function runs with the producer's lock held.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool/producer.h"

void rkv__cons_stats(struct cons *c)
{
	struct rkv_wire_cstats *st = c->st;

	STORE_RLX(&st->outstanding, c->outstanding);
	STORE_RLX(&st->delivered, c->delivered);
	STORE_RLX(&st->dropped, c->dropped);
	STORE_RLX(&st->replaced, c->replaced);
	/* "taken" is the consumer's own count; it is only shown, never trusted. */
	STORE_RLX(&st->received, LOAD_RLX(&c->chan->taken));
}

/* Drop whatever the group holds for @member: cells it claimed and we have
 * not yet moved into its own books. */
void rkv__group_forget_member(rkv_producer *p, struct group *g, struct cons *m)
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
			rkv__slot_unref(p, s);
		}
	}
}

void rkv__group_destroy(rkv_producer *p, struct group *g)
{
	for (uint32_t s = 0; s < p->nslots; s++) {
		if (bit_test(g->queued, s)) {
			bit_clear(g->queued, s);
			rkv__slot_unref(p, s);
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

/*
 * Read @c's release ring and return the slots it names. Anything that does
 * not match our books (a slot out of range, one it does not hold, a ring
 * index that ran ahead) is a protocol violation: the consumer is evicted.
 * Returns 0, or -1 when @c was evicted.
 */
int rkv__cons_drain(rkv_producer *p, struct cons *c)
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
			rkv__count_delivered(c);
		}
		if (!bit_test(c->owned, s))
			goto bad;
		bit_clear(c->owned, s);
		c->outstanding--;
		rkv__slot_unref(p, s);
	}
	c->rel_head = t;
	STORE_REL(&c->chan->release_head, t);
	return 0;
bad:
	rkv__cons_remove(p, c, 1);
	return -1;
}

void rkv__group_settle(rkv_producer *p, struct group *g, uint64_t pos, uint64_t cell)
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
		rkv__slot_unref(p, s);
		return;
	}
	/* Settle the member's releases first (this frame may be among them),
	 * so that its books hold only frames it really still has. If it is
	 * evicted there, its claimed frames, this one too, went back. */
	if (rkv__cons_drain(p, m) < 0)
		return;
	if (!bit_test(g->queued, s) || g->pos[s] != pos)
		return;
	bit_clear(g->queued, s);
	g->nqueued--;
	if (m->outstanding + 1 > m->max_held) {
		/* More frames than it declared it would ever hold. Any member
		 * can write any owner byte, so this is no proof against the
		 * member it names: give the slot back, evict nobody. */
		rkv__slot_unref(p, s);
		return;
	}
	bit_set(m->owned, s);
	m->outstanding++;
	rkv__count_delivered(m);
}

void rkv__drain_all(rkv_producer *p)
{
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->cons[i].active)
			rkv__cons_drain(p, &p->cons[i]);
}

/* ==== consumers come and go =============================================== */

void rkv__wake_producer(rkv_producer *p)
{
	if (LOAD_RLX(&p->hdr->producer_waiting))
		rkv__efd_signal(p->prod_efd);
}

/* The publish path walks these lists instead of every table entry. */
void rkv__rebuild_lists(rkv_producer *p)
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
void rkv__cons_remove(rkv_producer *p, struct cons *c, int evicted)
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
		rkv__group_forget_member(p, g, c);
	for (uint32_t s = 0; s < p->nslots; s++) {
		if (bit_test(c->owned, s)) {
			bit_clear(c->owned, s);
			rkv__slot_unref(p, s);
		}
	}
	c->outstanding = 0;
	if (g && --g->members == 0)
		rkv__group_destroy(p, g);
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
	rkv__rebuild_lists(p);
	rkv__wake_producer(p);
}

