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
	st->closed = LOAD_ACQ(&h->closed);
}

int rkv_pool_stats(const char *name, struct rkv_pool_stats *pool,
		   struct rkv_consumer_stats *cons, uint32_t max)
{
	struct rkv_wire_hello h;
	struct rkv_wire_welcome w;
	int fds[RKV_WELCOME_FDS_MAX], nfds, sock, r, count = 0;
	const struct rkv_wire_pool *hdr;
	const struct rkv_wire_cstats *tab;
	void *base;

	if (rkv__name_check(name) || (max && !cons))
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	h.magic = RKV_MAGIC_HELLO;
	h.version = RKV_WIRE_VERSION;
	h.kind = RKV_HELLO_OBSERVER;
	sock = rkv__pool_connect(name, &h, 0, &w, fds, &nfds, NULL, 0);
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
	hdr = base;
	r = rkv__pool_check(hdr, w.pool_size, NULL, 0);
	if (r) {
		rkv__unmap(base, w.pool_size);
		goto out;
	}
	if (pool)
		rkv__pool_stats_read(hdr, pool);
	tab = (const struct rkv_wire_cstats *)((const uint8_t *)base + hdr->stats_offset);
	for (uint32_t i = 0; i < hdr->max_consumers; i++) {
		const struct rkv_wire_cstats *e = &tab[i];
		if (!LOAD_ACQ(&e->active))
			continue;
		if ((uint32_t)count < max) {
			struct rkv_consumer_stats *o = &cons[count];
			memset(o, 0, sizeof(*o));
			o->id = e->id;
			o->policy = e->policy;
			o->pid = e->pid;
			o->queue_depth = e->queue_depth;
			o->max_held = e->max_held;
			o->outstanding = LOAD_RLX(&e->outstanding);
			o->delivered = LOAD_RLX(&e->delivered);
			o->received = LOAD_RLX(&e->received);
			o->dropped = LOAD_RLX(&e->dropped);
			o->replaced = LOAD_RLX(&e->replaced);
			memcpy(o->label, e->label, RKV_LABEL_MAX);
			memcpy(o->group, e->group, RKV_LABEL_MAX);
			o->label[RKV_LABEL_MAX - 1] = o->group[RKV_LABEL_MAX - 1] = '\0';
		}
		count++;
	}
	rkv__unmap(base, w.pool_size);
	r = count;
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
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
