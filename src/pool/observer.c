/* SPDX-License-Identifier: MIT */
/*
 * observer.c - reading a pool's counters from any process, and names.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "pool/internal.h"

void rkv__pool_stats_read(const struct rkv_wire_pool *h, struct rkv_pool_stats *st)
{
	memset(st, 0, sizeof(*st));
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). The fields read plainly here (capacity, counts,
	 * pid, flags) are written once, before the pool is shared. */
	st->published = LOAD_RLX(&h->published);
	st->producer_waits = LOAD_RLX(&h->producer_waits);
	st->refused = LOAD_RLX(&h->refused);
	st->block_timeouts = LOAD_RLX(&h->block_timeouts);
	st->evictions = LOAD_RLX(&h->evictions);
	st->slot_capacity = h->slot_capacity;
	st->slot_count = h->slot_count;
	st->slots_free = LOAD_RLX(&h->slots_free);
	st->consumers = LOAD_RLX(&h->consumers);
	st->max_consumers = h->max_consumers;
	st->producer_pid = h->producer_pid;
	/* M8: acquire, pairs with rkv_producer_destroy()'s release. */
	st->closed = LOAD_ACQ(&h->closed);
	st->groups = LOAD_RLX(&h->groups);
	st->external = (h->flags & RKV_WIRE_POOL_EXTERNAL) != 0;
}

/* Attach as an observer: map pool @name read-only, checked. Returns 0 with
 * *@base and *@size (unmap with rkv__unmap), or an attach error. */
static int observe(const char *name, const struct rkv_wire_pool **hdr, uint64_t *size)
{
	struct rkv_wire_hello h;
	struct rkv_wire_welcome w;
	int fds[RKV_WELCOME_FDS_MAX], nfds, sock, r;
	void *base;

	if (rkv__name_check(name))
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	h.magic = RKV_MAGIC_HELLO;
	h.version = RKV_WIRE_VERSION;
	h.kind = RKV_HELLO_OBSERVER;
	sock = rkv__pool_connect(name, &h, 0, 5000000000LL, &w, fds, &nfds, NULL, 0);
	if (sock < 0)
		return sock;
	close(sock);
	if (w.magic != RKV_MAGIC_WELCOME || w.version != RKV_WIRE_VERSION) {
		r = -EPROTO;
		goto out;
	}
	if (w.status) {
		r = w.status < 0 && w.status > -4096 ? w.status : -EPROTO;
		goto out;
	}
	if (nfds != 1) {
		r = -EPROTO;
		goto out;
	}
	r = rkv__map(fds[0], w.pool_size, 0, &base);
	if (r)
		goto out;
	{
		struct rkv_wire_pool copy;
		if (w.pool_size < sizeof(copy)) {
			rkv__unmap(base, w.pool_size);
			r = -EPROTO;
			goto out;
		}
		memcpy(&copy, base, sizeof(copy));
		r = rkv__pool_check(&copy, w.pool_size, NULL, 0);
		if (r) {
			rkv__unmap(base, w.pool_size);
			goto out;
		}
	}
	*hdr = base;
	*size = w.pool_size;
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
}

int rkv_pool_stats(const char *name, struct rkv_pool_stats *pool, size_t pool_size,
		   struct rkv_consumer_stats *cons, uint32_t max, size_t cons_size)
{
	const struct rkv_wire_pool *hdr;
	const struct rkv_wire_cstats *tab;
	uint64_t size, stats_offset;
	int64_t now;
	uint32_t maxc;
	int r, count = 0;

	/* A caller built before lag was appended passes the older size. */
	if ((max && (!cons || cons_size < offsetof(struct rkv_consumer_stats, lag))) ||
	    (pool && pool_size < sizeof(struct rkv_pool_stats)))
		return -EINVAL;
	r = observe(name, &hdr, &size);
	if (r)
		return r;
	if (pool) {
		struct rkv_pool_stats st;
		rkv__pool_stats_read(hdr, &st);
		rkv__copy_out(pool, pool_size, &st, sizeof(st), sizeof(st));
	}
	/* Checked: the header is the producer's and read-only to us. */
	now = rkv__now_ns();
	stats_offset = hdr->stats_offset;
	maxc = hdr->max_consumers;
	tab = (const struct rkv_wire_cstats *)((const uint8_t *)hdr + stats_offset);
	for (uint32_t i = 0; i < maxc; i++) {
		const struct rkv_wire_cstats *e = &tab[i];
		/* M9: acquire, pairs with attach's release of active: the entry's fields
		 * were written before. */
		if (!LOAD_ACQ(&e->active))
			continue;
		if ((uint32_t)count < max) {
			struct rkv_consumer_stats o;
			memset(&o, 0, sizeof(o));
			/* The producer rewrites an entry for a newcomer while we
			 * look (M9): every field is read once, atomically, and
			 * the strings are copied and terminated here. */
			o.id = LOAD_RLX(&e->id);
			o.policy = LOAD_RLX(&e->policy);
			o.pid = LOAD_RLX(&e->pid);
			o.queue_depth = LOAD_RLX(&e->queue_depth);
			o.max_held = LOAD_RLX(&e->max_held);
			/* M10: counters, one writer, each read alone as a number: relaxed
			 * suffices (docs/pool.md, Memory ordering). */
			o.outstanding = LOAD_RLX(&e->outstanding);
			o.delivered = LOAD_RLX(&e->delivered);
			o.received = LOAD_RLX(&e->received);
			o.dropped = LOAD_RLX(&e->dropped);
			o.replaced = LOAD_RLX(&e->replaced);
			rkv__load_bytes(o.label, e->label, RKV_LABEL_MAX);
			rkv__load_bytes(o.group, e->group, RKV_LABEL_MAX);
			o.label[RKV_LABEL_MAX - 1] = o.group[RKV_LABEL_MAX - 1] = '\0';
			/* M10: counters, one writer, each read alone as a number: relaxed
			 * suffices (docs/pool.md, Memory ordering). */
			o.lag = LOAD_RLX(&e->lag);
			o.last_seq = LOAD_RLX(&e->last_seq);
			int64_t ts = LOAD_RLX(&e->oldest_ts);
			o.queued_age_ns = ts > 0 && now > ts ? now - ts : 0;
			rkv__copy_out((char *)cons + (size_t)count * cons_size, cons_size, &o,
				      sizeof(o), offsetof(struct rkv_consumer_stats, lag));
		}
		count++;
	}
	rkv__unmap((void *)hdr, size);
	return count;
}

int rkv_pool_group_stats(const char *name, struct rkv_group_stats *groups, uint32_t max,
			 size_t size)
{
	const struct rkv_wire_pool *hdr;
	const struct rkv_wire_gstats *tab;
	uint64_t area;
	int r, count = 0;

	if (max && (!groups || size < sizeof(struct rkv_group_stats)))
		return -EINVAL;
	r = observe(name, &hdr, &area);
	if (r)
		return r;
	tab = (const struct rkv_wire_gstats *)((const uint8_t *)hdr + hdr->gstats_offset);
	for (uint32_t i = 0; i < hdr->max_consumers; i++) {
		const struct rkv_wire_gstats *e = &tab[i];
		/* M9: acquire, pairs with attach's release of active: the entry's fields
		 * were written before. */
		if (!LOAD_ACQ(&e->active))
			continue;
		if ((uint32_t)count < max) {
			struct rkv_group_stats o;
			memset(&o, 0, sizeof(o));
			/* M10: counters, one writer, each read alone as a number: relaxed
			 * suffices (docs/pool.md, Memory ordering). */
			o.members = LOAD_RLX(&e->members);
			/* as in rkv_pool_stats: read once, atomically */
			o.queue_depth = LOAD_RLX(&e->ring_size);
			o.queued = LOAD_RLX(&e->queued);
			o.delivered = LOAD_RLX(&e->delivered);
			o.dropped = LOAD_RLX(&e->dropped);
			o.claimed = LOAD_RLX(&e->claimed);
			rkv__load_bytes(o.name, e->name, RKV_LABEL_MAX);
			o.name[RKV_LABEL_MAX - 1] = '\0';
			rkv__copy_out((char *)groups + (size_t)count * size, size, &o, sizeof(o),
				      sizeof(o));
		}
		count++;
	}
	rkv__unmap((void *)hdr, area);
	return count;
}

static const char *const policy_names[] = {
	[RKV_POLICY_BLOCK] = "block",
	[RKV_POLICY_DROP] = "drop",
	[RKV_POLICY_LATEST] = "latest",
	[RKV_POLICY_GROUP] = "group",
};

const char *rkv_policy_name(uint32_t policy)
{
	if (policy >= RKV_POLICY_BLOCK && policy <= RKV_POLICY_GROUP)
		return policy_names[policy];
	return "?";
}

int rkv_policy_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = RKV_POLICY_BLOCK; i <= RKV_POLICY_GROUP; i++)
		if (strcmp(s, policy_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *rkv_version(void)
{
	return RKV_VERSION_STRING;
}
