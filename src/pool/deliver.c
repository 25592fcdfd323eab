/* SPDX-License-Identifier: MIT */
/*
 * deliver.c - handing one published frame to one consumer, by its policy,
 * and waking the consumers that got one.
 *
 * Each deliver_* function looks at what the consumer (or group) can take,
 * writes the entry, records the slot in the ledger and says DELIVERED, FULL
 * (no room: the caller decides between dropping and waiting) or GONE (the
 * consumer is doomed, possibly just now for breaking the protocol; the
 * ledger forgets it when the publish is over). Runs with the producer's
 * lock held.
 */
#include <errno.h>

#include "pool/producer.h"

/* Has @c room for one more frame? Re-reads its head, and its releases when
 * that is what stands in the way. 1, 0, or -1 when @c is doomed. */
static int ring_room(rkv_producer *p, struct cons *c)
{
	/* M2: acquire, pairs with take_ring's release of ready_head: the consumer read the
	 * entries before h before we overwrite them. */
	uint64_t h = LOAD_ACQ(&c->chan->ready_head);

	if (h - c->head > c->tail - c->head) {
		ledger_evict(p, c); /* its head ran backwards or past our tail */
		return -1;
	}
	c->head = h;
	if (c->tail - h >= c->depth)
		return 0;
	if (c->outstanding >= c->depth + c->max_held && ledger_drain(p, c) < 0)
		return -1;
	return c->outstanding < c->depth + c->max_held;
}

int deliver_ring(rkv_producer *p, struct cons *c, uint32_t s, uint64_t entry)
{
	int room;

	if (!cons_live(c))
		return GONE;
	room = ring_room(p, c);
	if (room < 0)
		return GONE;
	if (!room)
		return FULL;
	/* M1: relaxed; the release of ready_tail below makes it visible. */
	STORE_RLX(&c->ready[c->tail & c->ready_mask], entry);
	c->hist[c->tail & c->hist_mask] = lagrec_of(p, s);
	c->tail++;
	/* M1: release, pairs with take_ring's acquire: the descriptor and data (written at
	 * publish) and the entry are seen with the tail. */
	STORE_REL(&c->chan->ready_tail, c->tail);
	ledger_give(p, c, s);
	c->wake_pending = 1;
	return DELIVERED;
}

int deliver_latest(rkv_producer *p, struct cons *c, uint32_t s, uint64_t entry)
{
	if (!cons_live(c))
		return GONE;
	/* A consumer flipping its mailbox under us gets a few tries, then
	 * misses the frame; it cannot keep the producer here. */
	for (int tries = 0; tries < 16; tries++) {
		/* M3: acquire, pairs with take_latest's exchange: EMPTY means the consumer
		 * has the entry we put last. */
		uint64_t old = LOAD_ACQ(&c->chan->mailbox);
		if (old == RKV_MAILBOX_EMPTY) {
			if (c->outstanding >= 1 + c->max_held && ledger_drain(p, c) < 0)
				return GONE;
			if (c->outstanding >= 1 + c->max_held)
				return FULL;
		} else {
			uint32_t os = RKV_ENTRY_SLOT(old);
			if (os >= p->nslots || !bit_test(c->owned, os)) {
				ledger_evict(p, c);
				return GONE;
			}
		}
		/* M3: acq_rel, pairs with take_latest's exchange: release carries the frame
		 * to it, acquire its take of the old entry; one word, so exactly one side
		 * gets an unread slot. */
		if (!__atomic_compare_exchange_n(&c->chan->mailbox, &old, entry, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		if (old == RKV_MAILBOX_EMPTY && c->mb_put) {
			c->took = c->mb; /* it took the last one we put */
			c->took_any = 1;
		}
		c->mb = lagrec_of(p, s);
		c->mb_put = 1;
		if (old != RKV_MAILBOX_EMPTY) {
			/* Unread: it goes straight back. */
			uint32_t os = RKV_ENTRY_SLOT(old);
			bit_clear(c->owned, os);
			c->outstanding--;
			ledger_unref(p, os);
			c->replaced++;
			/* M10: counters, one writer, each read alone as a number: relaxed
			 * suffices (docs/pool.md, Memory ordering). */
			STORE_RLX(&c->st->replaced, c->replaced);
		}
		ledger_give(p, c, s);
		c->wake_pending = 1;
		return DELIVERED;
	}
	return FULL;
}

/*
 * Queue slot @s at the group's next position. The cell there last held
 * position pos - ring_size, with the slot our own record says we put there.
 * If that frame is still the group's: unclaimed means the queue is full;
 * claimed (tag and slot as we wrote them, a nonzero owner) settles it into
 * the claimer's books; anything else is a member's scribble.
 */
int deliver_group(rkv_producer *p, struct group *g, uint32_t s)
{
	uint64_t pos = g->tail;
	uint64_t prev = pos - g->ring_size;
	uint32_t idx = (uint32_t)(pos & g->mask);
	uint32_t ps = g->at[idx];

	if (!g->used || g->corrupt)
		return GONE;
	if (ps != NO_SLOT && bit_test(g->queued, ps) && g->pos[ps] == prev) {
		/* M4: acquire, pairs with a member's claim (take_group's compare-and-swap,
		 * release). */
		uint64_t cell = LOAD_ACQ(&g->cells[idx]);
		if (cell == RKV_CELL((uint32_t)prev, 0, ps))
			return FULL; /* the frame queued a lap ago is still unclaimed */
		if (RKV_CELL_TAG(cell) == (uint32_t)prev && RKV_CELL_SLOT(cell) == ps &&
		    RKV_CELL_OWNER(cell) != 0 && RKV_CELL_OWNER(cell) != RKV_CELL_NEVER) {
			ledger_settle(p, g, prev, ps, cell);
		} else {
			ledger_group_corrupt(p, g);
			return GONE;
		}
	}
	/* M4: release, pairs with take_group's acquire of the cell: the frame is seen with
	 * the cell. */
	STORE_REL(&g->cells[idx], RKV_CELL((uint32_t)pos, 0, s));
	g->at[idx] = s;
	g->tail = pos + 1;
	/* M4: release, pairs with take_group's acquire of tail: the cell is seen with the
	 * tail. */
	STORE_REL(&g->g->tail, g->tail);
	bit_set(g->queued, s);
	g->pos[s] = pos;
	g->nqueued++;
	p->refs[s]++;
	g->delivered++;
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&g->st->delivered, g->delivered);
	STORE_RLX(&g->st->queued, g->nqueued);
	return DELIVERED;
}

/* Wake one sleeping member of @g, starting after the last one woken. */
void deliver_wake_group(rkv_producer *p, struct group *g)
{
	/* M6: the entries queued (M1, M3, M4) before the loads of consumer_waiting below;
	 * pairs with announce()'s fence (consumer.c). Store then load on both sides
	 * (Dekker): only the two full fences keep both from missing the other. */
	FENCE();
	for (uint32_t k = 0; k < p->max_consumers; k++) {
		uint32_t i = (g->next_wake + k) % p->max_consumers;
		struct cons *c = &p->cons[i];
		if (!cons_live(c) || c->group != g)
			continue;
		/* M6: a relaxed look, after the fence above; the exchange (acq_rel) clears
		 * the flag, so one waker writes the pipe. */
		if (LOAD_RLX(&c->chan->consumer_waiting) &&
		    __atomic_exchange_n(&c->chan->consumer_waiting, 0, __ATOMIC_ACQ_REL)) {
			rkv__wake_pipe(c->wake_pipe);
			g->next_wake = i + 1;
			return;
		}
	}
}

/* Wake every consumer that got a frame in this publish and sleeps. */
void deliver_wake_consumers(rkv_producer *p)
{
	/* M6: the entries queued (M1, M3, M4) before the loads of consumer_waiting below;
	 * pairs with announce()'s fence (consumer.c). Store then load on both sides
	 * (Dekker): only the two full fences keep both from missing the other. */
	WAKE_FENCE();
	for (uint32_t k = 0; k < p->nlist; k++) {
		struct cons *c = &p->cons[p->list[k]];
		if (!c->wake_pending)
			continue;
		c->wake_pending = 0;
		/* M6: a relaxed look, after the fence above; the exchange (acq_rel) clears
		 * the flag, so one waker writes the pipe. */
		if (cons_live(c) && LOAD_RLX(&c->chan->consumer_waiting) &&
		    __atomic_exchange_n(&c->chan->consumer_waiting, 0, __ATOMIC_ACQ_REL))
			rkv__wake_pipe(c->wake_pipe);
	}
}
