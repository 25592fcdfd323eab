/* SPDX-License-Identifier: MIT */
/*
 * ledger.c - the producer's books: which consumer holds which slot, reading
 * what consumers give back, and forgetting consumers.
 *
 * The ledger never calls back into delivery. When it finds that a consumer
 * broke the protocol, or the service thread sees one leave, the consumer is
 * only marked doomed (it gets nothing more from then on); ledger_reap(),
 * called at the end of each operation once no list is being walked, gives
 * its slots back and forgets it. Every function runs with the producer's
 * lock held.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool/producer.h"

/*
 * How far behind @c is (pool.h, struct rkv_consumer_stats), from our own
 * books: the frames we queued to it, and how far its ready_head says it
 * took them, believed only between the head we last checked and our tail.
 * Whatever it writes, lag stays within the frames published since it
 * attached. Group members: their group's unclaimed frames (the caller
 * settled the claimed ones).
 */
static void cons_lag(rkv_producer *p, struct cons *c, uint64_t *lag, uint64_t *last_seq,
		     int64_t *oldest)
{
	const struct lagrec *last = NULL;
	struct group *g = c->group;

	*last_seq = 0;
	*oldest = 0;
	if (g) {
		*lag = g->nqueued;
		for (uint32_t s = 0; s < p->nslots && g->nqueued; s++) {
			int64_t ts = p->slots[s].frame.timestamp_ns;
			if (bit_test(g->queued, s) && (*oldest == 0 || ts < *oldest))
				*oldest = ts;
		}
		if (c->took_any)
			*last_seq = c->took.seq;
		return;
	}
	if (c->policy == RKV_POLICY_LATEST) {
		if (c->mb_put) {
			/* M3: acquire, pairs with take_latest's exchange (EMPTY: it took
			 * what we put). */
			if (LOAD_ACQ(&c->chan->mailbox) == RKV_MAILBOX_EMPTY) {
				c->took = c->mb; /* it took the last one we put */
				c->took_any = 1;
			} else {
				*oldest = c->mb.ts;
			}
		}
		if (c->took_any)
			last = &c->took;
	} else {
		/* M2: acquire, pairs with take_ring's release of ready_head; checked
		 * against our own books below. */
		uint64_t h = LOAD_ACQ(&c->chan->ready_head);
		if (h - c->head > c->tail - c->head)
			h = c->head; /* not where it can be: the last head we checked */
		if (h != 0)
			last = &c->hist[(h - 1) & c->hist_mask];
		if (h != c->tail)
			*oldest = c->hist[h & c->hist_mask].ts;
	}
	*lag = p->published - (last ? last->pub : c->attach_pub);
	if (last)
		*last_seq = last->seq;
}

void ledger_cons_stats(rkv_producer *p, struct cons *c)
{
	struct rkv_wire_cstats *st = c->st;
	uint64_t lag, last_seq;
	int64_t oldest;

	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&st->outstanding, c->outstanding);
	STORE_RLX(&st->delivered, c->delivered);
	STORE_RLX(&st->dropped, c->dropped);
	STORE_RLX(&st->replaced, c->replaced);
	/* "taken" is the consumer's own count; it is only shown, never trusted. */
	STORE_RLX(&st->received, LOAD_RLX(&c->chan->taken));
	cons_lag(p, c, &lag, &last_seq, &oldest);
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&st->lag, lag);
	STORE_RLX(&st->last_seq, last_seq);
	STORE_RLX(&st->oldest_ts, oldest);
}

/* Move a group frame that member @m claimed into @m's own books. */
static void group_to_member(rkv_producer *p, struct group *g, struct cons *m, uint32_t s)
{
	bit_clear(g->queued, s);
	g->nqueued--;
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&g->st->queued, g->nqueued);
	g->claimed++;
	STORE_RLX(&g->st->claimed, g->claimed);
	bit_set(m->owned, s);
	m->outstanding++;
	m->delivered++;
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&m->st->delivered, m->delivered);
	if (!m->took_any || p->slots[s].pub_seq > m->took.pub) {
		m->took = lagrec_of(p, s);
		m->took_any = 1;
	}
}

static void group_take_back(rkv_producer *p, struct group *g, uint32_t s)
{
	bit_clear(g->queued, s);
	g->nqueued--;
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&g->st->queued, g->nqueued);
	ledger_unref(p, s);
}

/*
 * Read @c's release ring and return the slots it names. Anything that does
 * not match our books (a slot out of range, one it does not hold, a ring
 * index that ran ahead) is a protocol violation: the consumer is evicted.
 * Returns 0, or -1 when @c is doomed.
 */
int ledger_drain(rkv_producer *p, struct cons *c)
{
	uint64_t t, n;

	if (!cons_live(c))
		return -1;
	/* M5: acquire, pairs with push_release's release of release_tail: the consumer's
	 * reads of those slots happened before we reuse them. */
	t = LOAD_ACQ(&c->chan->release_tail);
	n = t - c->rel_head;
	if (n == 0)
		return 0;
	if (n > (uint64_t)c->release_mask + 1)
		goto bad;
	for (uint64_t i = c->rel_head; i != t; i++) {
		/* M5: ordered by the acquire of release_tail; read once into s, then
		 * checked. */
		uint32_t s = LOAD_RLX(&c->release[i & c->release_mask]);
		if (s >= p->nslots)
			goto bad;
		if (!bit_test(c->owned, s) && c->group) {
			/* A group member releasing a frame it claimed that we
			 * have not settled yet: settle it now. */
			struct group *g = c->group;
			if (!bit_test(g->queued, s))
				goto bad;
			uint64_t pos = g->pos[s];
			/* M4: acquire, pairs with the member's claim (take_group's
			 * compare-and-swap); read once, then checked. */
			uint64_t cell = LOAD_ACQ(&g->cells[pos & g->mask]);
			if (RKV_CELL_TAG(cell) != (uint32_t)pos || RKV_CELL_SLOT(cell) != s ||
			    RKV_CELL_OWNER(cell) != c->token)
				goto bad;
			group_to_member(p, g, c, s);
		}
		if (!bit_test(c->owned, s))
			goto bad;
		bit_clear(c->owned, s);
		c->outstanding--;
		ledger_unref(p, s);
	}
	c->rel_head = t;
	/* M5: release, pairs with push_release's acquire of release_head: we read the
	 * entries before it overwrites them. */
	STORE_REL(&c->chan->release_head, t);
	return 0;
bad:
	ledger_evict(p, c);
	return -1;
}

void ledger_drain_all(rkv_producer *p)
{
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (cons_live(&p->cons[i]))
			ledger_drain(p, &p->cons[i]);
}

/*
 * The cell of position @pos, where we queued slot @s, was claimed (@cell
 * carries the claimer's token): the slot now belongs to that member's
 * books. A token naming no live member of @g is a claim made late by a
 * member that is gone (or a scribble): the slot comes back.
 */
void ledger_settle(rkv_producer *p, struct group *g, uint64_t pos, uint32_t s, uint64_t cell)
{
	uint32_t token = RKV_CELL_OWNER(cell);
	uint32_t id = token & 63u;
	struct cons *m = id < p->max_consumers ? &p->cons[id] : NULL;

	if (!bit_test(g->queued, s) || g->pos[s] != pos)
		return; /* already settled */
	if (!m || !cons_live(m) || m->group != g || m->token != token) {
		group_take_back(p, g, s);
		return;
	}
	/* Settle the member's releases first (this frame may be among them),
	 * so that its books hold only frames it really still has. */
	if (ledger_drain(p, m) < 0 || !bit_test(g->queued, s) || g->pos[s] != pos) {
		if (bit_test(g->queued, s) && g->pos[s] == pos)
			group_take_back(p, g, s);
		return;
	}
	if (m->outstanding + 1 > m->max_held) {
		/* More frames than it declared it would ever hold. Any member
		 * can write any token, so this is no proof against the member
		 * it names: give the slot back, evict nobody. */
		group_take_back(p, g, s);
		return;
	}
	group_to_member(p, g, m, s);
}

/* ==== consumers leave ===================================================== */

static void doom(rkv_producer *p, struct cons *c)
{
	if (c->state != CS_ACTIVE)
		return;
	c->state = CS_DOOMED;
	p->ndoomed++;
}

/*
 * @c broke the protocol. Mark its chan first, so it hands out nothing more
 * once its slots start going back, and tell it why on the lease (never
 * blocking: the lease is a socket the consumer could stop reading).
 */
void ledger_evict(rkv_producer *p, struct cons *c)
{
	if (!cons_live(c))
		return;
	/* M8: release, pairs with the consumer's acquire of evicted: the slots were taken
	 * back before it learns so. */
	STORE_REL(&c->chan->evicted, 1);
	c->doom_code = -ECONNRESET;
	send(c->sock, &c->doom_code, sizeof(c->doom_code), MSG_DONTWAIT | MSG_NOSIGNAL);
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). (The load reads our own store.) */
	STORE_RLX(&p->hdr->evictions, LOAD_RLX(&p->hdr->evictions) + 1);
	doom(p, c);
}

/* @c left or died (the service thread saw its lease or process end). */
void ledger_drop(rkv_producer *p, struct cons *c)
{
	doom(p, c);
}

/* A member scribbled on @g's queue: no frame in it can be trusted, and any
 * member could have done it. The group is one trust domain: all go. */
void ledger_group_corrupt(rkv_producer *p, struct group *g)
{
	if (g->corrupt)
		return;
	g->corrupt = 1;
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->cons[i].group == g)
			ledger_evict(p, &p->cons[i]);
}

void ledger_group_destroy(rkv_producer *p, struct group *g)
{
	for (uint32_t s = 0; s < p->nslots; s++) {
		if (bit_test(g->queued, s)) {
			bit_clear(g->queued, s);
			ledger_unref(p, s);
		}
	}
	g->nqueued = 0;
	/* M9: the entry is no longer shown; release orders it after the last
	 * counters written. */
	if (g->st)
		STORE_REL(&g->st->active, 0);
	if (g->g)
		rkv__unmap(g->g, g->size);
	if (g->fd >= 0)
		close(g->fd);
	g->g = NULL;
	g->fd = -1;
	g->used = 0;
	g->corrupt = 0;
	g->members = 0;
}

/*
 * Forget @c now: give back every slot it held or had queued (and group
 * frames it claimed), close its descriptors. Only ledger_reap() and the
 * service thread (for a consumer that never became active) call this.
 */
void ledger_forget(rkv_producer *p, struct cons *c)
{
	struct group *g = c->group;

	if (c->state == CS_FREE)
		return;
	/* Before any slot goes back: a consumer that is still alive must not
	 * hand out what is queued to it from now on (after a destroy it may:
	 * those frames stay whole). */
	/* M8: release, pairs with the consumer's acquire of evicted: the slots were
	 * taken back before it learns so. */
	if (c->chan && c->doom_code != -EPIPE)
		STORE_REL(&c->chan->evicted, c->doom_code == -ECONNRESET ? 1u : 2u);
	if (g) {
		for (uint32_t s = 0; s < p->nslots; s++) {
			if (!bit_test(g->queued, s))
				continue;
			uint64_t pos = g->pos[s];
			/* M4: acquire, pairs with the member's claim (take_group's
			 * compare-and-swap); read once, then checked. */
			uint64_t cell = LOAD_ACQ(&g->cells[pos & g->mask]);
			if (RKV_CELL_TAG(cell) == (uint32_t)pos && RKV_CELL_SLOT(cell) == s &&
			    RKV_CELL_OWNER(cell) == c->token)
				group_take_back(p, g, s);
		}
	}
	for (uint32_t s = 0; s < p->nslots; s++) {
		if (bit_test(c->owned, s)) {
			bit_clear(c->owned, s);
			ledger_unref(p, s);
		}
	}
	c->outstanding = 0;
	if (g) {
		g->members--;
		/* M10: counters, one writer, each read alone as a number: relaxed suffices
		 * (docs/pool.md, Memory ordering). */
		STORE_RLX(&g->st->members, g->members);
		if (g->members == 0)
			ledger_group_destroy(p, g);
	}
	c->group = NULL;
	if (c->state == CS_DOOMED)
		p->ndoomed--;
	if (c->sock >= 0) {
		epoll_ctl(p->ep, EPOLL_CTL_DEL, c->sock, NULL);
		/* Say why, where it is not a crash (a consumer that is still
		 * alive learns that its lease ended, and how). */
		int32_t code = c->doom_code ? c->doom_code : -ENOTCONN;
		if (code != -ECONNRESET) /* an eviction told it already */
			send(c->sock, &code, sizeof(code), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (!c->welcoming)
			close(c->sock);
	}
	if (c->pidfd >= 0) {
		epoll_ctl(p->ep, EPOLL_CTL_DEL, c->pidfd, NULL);
		close(c->pidfd);
	}
	if (c->wake >= 0) {
		epoll_ctl(p->wake_ep, EPOLL_CTL_DEL, c->wake, NULL);
		close(c->wake);
	}
	if (c->wake_pipe >= 0)
		close(c->wake_pipe);
	if (c->wake_keep >= 0)
		close(c->wake_keep);
	if (c->chan)
		rkv__unmap(c->chan, c->chan_size);
	c->sock = c->wake = c->wake_pipe = c->wake_keep = c->pidfd = -1;
	c->welcoming = 0;
	c->chan = NULL;
	c->state = CS_FREE;
	c->doom_code = 0;
	/* M9: relaxed: an observer that still sees 1 reads the departing consumer's last
	 * counters, valid numbers all; the next user of the entry sets it with release
	 * (attach.c). */
	STORE_RLX(&c->st->active, 0);
	STORE_RLX(&c->st->outstanding, 0);
	p->nconsumers--;
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&p->hdr->consumers, p->nconsumers);
}

/* The publish path walks these lists instead of every table entry. */
void ledger_rebuild_lists(rkv_producer *p)
{
	uint32_t ng = 0;

	p->nlist = 0;
	p->ngroups = 0;
	for (uint32_t i = 0; i < p->max_consumers; i++) {
		if (cons_live(&p->cons[i]) && p->cons[i].policy != RKV_POLICY_GROUP)
			p->list[p->nlist++] = i;
		if (p->groups[i].used) {
			p->glist[p->ngroups++] = i;
			ng++;
		}
	}
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&p->hdr->groups, ng);
}

/* Forget every doomed consumer. The end of every operation that may have
 * doomed one calls this, once no list is being walked. */
void ledger_reap(rkv_producer *p)
{
	if (p->ndoomed == 0)
		return;
	for (uint32_t i = 0; i < p->max_consumers && p->ndoomed; i++)
		if (p->cons[i].state == CS_DOOMED)
			ledger_forget(p, &p->cons[i]);
	ledger_rebuild_lists(p);
	ledger_wake_producer(p);
}

/* Slots came back outside the producer's thread: wake it if it sleeps. */
void ledger_wake_producer(rkv_producer *p)
{
	/* M7: our own flag (the producer's thread writes it under the lock we hold):
	 * relaxed reads it. */
	if (LOAD_RLX(&p->hdr->producer_waiting))
		rkv__efd_signal(p->svc_efd);
}
