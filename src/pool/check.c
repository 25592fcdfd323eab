/* SPDX-License-Identifier: MIT */
/*
 * check.c - validation of shared areas written by another process.
 *
 * A consumer maps what the producer hands it and believes none of it until
 * these checks pass: every offset and size must lie inside the memfd, areas
 * must not overlap, counts must be within the library's limits. After that,
 * the indices the consumer reads at run time are still checked one by one.
 */
#include <errno.h>
#include <string.h>

#include "pool/internal.h"

#define BAD(...)                                          \
	do {                                              \
		rkv__set_reason(why, why_len, __VA_ARGS__); \
		return -EPROTO;                           \
	} while (0)

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

/* Does [off, off + len) fit inside @size without overflow? */
static int fits(uint64_t off, uint64_t len, uint64_t size)
{
	uint64_t end;
	return !__builtin_add_overflow(off, len, &end) && end <= size;
}

int rkv__pool_check(const struct rkv_wire_pool *h, uint64_t size, char *why, size_t why_len)
{
	uint64_t slots_len, stats_len, gstats_len, data_len;
	int external;

	if (size < sizeof(*h))
		BAD("pool area of %llu bytes is smaller than its header", (unsigned long long)size);
	if (h->magic != RKV_MAGIC_POOL)
		BAD("pool area has magic %#x, not %#x: not an RKVision pool", h->magic, RKV_MAGIC_POOL);
	if (h->version != RKV_WIRE_VERSION)
		BAD("pool layout version %u; this library speaks %u", h->version, RKV_WIRE_VERSION);
	if (h->header_size != sizeof(*h))
		BAD("pool header size %u, expected %zu", h->header_size, sizeof(*h));
	if (h->total_size != size)
		BAD("pool header says %llu bytes, the memory has %llu",
		    (unsigned long long)h->total_size, (unsigned long long)size);
	if (h->slot_count == 0 || h->slot_count > RKV_MAX_SLOTS)
		BAD("pool slot count %u out of range", h->slot_count);
	if (h->max_consumers == 0 || h->max_consumers > RKV_MAX_CONSUMERS)
		BAD("pool consumer limit %u out of range", h->max_consumers);
	external = (h->flags & RKV_WIRE_POOL_EXTERNAL) != 0;
	if (h->slot_capacity == 0 || (!external && (h->slot_stride < h->slot_capacity || h->slot_stride % 64)) ||
	    (external && h->slot_stride != 0))
		BAD("pool slot capacity %llu / stride %llu inconsistent",
		    (unsigned long long)h->slot_capacity, (unsigned long long)h->slot_stride);
	if (!memchr(h->name, '\0', sizeof(h->name)))
		BAD("pool name is not terminated");

	slots_len = (uint64_t)h->slot_count * sizeof(struct rkv_wire_slot);
	stats_len = (uint64_t)h->max_consumers * sizeof(struct rkv_wire_cstats);
	gstats_len = (uint64_t)h->max_consumers * sizeof(struct rkv_wire_gstats);
	if (__builtin_mul_overflow(h->slot_stride, (uint64_t)h->slot_count, &data_len))
		BAD("pool slot data size overflows");
	if (h->slots_offset < sizeof(*h) || h->slots_offset % 64 || !fits(h->slots_offset, slots_len, size))
		BAD("pool slot descriptors at %llu lie outside the area", (unsigned long long)h->slots_offset);
	if (h->stats_offset % 64 || h->stats_offset < h->slots_offset + slots_len ||
	    !fits(h->stats_offset, stats_len, size))
		BAD("pool stats table at %llu overlaps or lies outside the area",
		    (unsigned long long)h->stats_offset);
	if (h->gstats_offset % 64 || h->gstats_offset < h->stats_offset + stats_len ||
	    !fits(h->gstats_offset, gstats_len, size))
		BAD("pool group stats table at %llu overlaps or lies outside the area",
		    (unsigned long long)h->gstats_offset);
	if (h->data_offset % 4096 || h->data_offset < h->gstats_offset + gstats_len ||
	    !fits(h->data_offset, data_len, size))
		BAD("pool slot data at %llu overlaps or lies outside the area",
		    (unsigned long long)h->data_offset);
	return 0;
}

int rkv__chan_check(const struct rkv_wire_chan *c, uint64_t size, uint32_t id,
		    uint32_t slot_count, char *why, size_t why_len)
{
	(void)slot_count;
	if (size < sizeof(*c))
		BAD("chan area of %llu bytes is smaller than its header", (unsigned long long)size);
	if (c->magic != RKV_MAGIC_CHAN)
		BAD("chan area has magic %#x, not %#x", c->magic, RKV_MAGIC_CHAN);
	if (c->version != RKV_WIRE_VERSION)
		BAD("chan layout version %u; this library speaks %u", c->version, RKV_WIRE_VERSION);
	if (c->header_size != sizeof(*c))
		BAD("chan header size %u, expected %zu", c->header_size, sizeof(*c));
	if (c->total_size != size)
		BAD("chan header says %llu bytes, the memory has %llu",
		    (unsigned long long)c->total_size, (unsigned long long)size);
	if (c->id != id)
		BAD("chan belongs to consumer %u, not %u", c->id, id);
	if (c->policy < RKV_POLICY_BLOCK || c->policy > RKV_POLICY_GROUP)
		BAD("chan policy %u unknown", c->policy);
	if (!is_pow2(c->ready_size) || c->ready_size > 2 * RKV_MAX_DEPTH ||
	    !is_pow2(c->release_size) || c->release_size > 8 * RKV_MAX_DEPTH)
		BAD("chan ring sizes %u/%u invalid", c->ready_size, c->release_size);
	if (c->max_held == 0 || c->max_held > RKV_MAX_DEPTH || c->queue_depth == 0 ||
	    c->queue_depth > RKV_MAX_DEPTH ||
	    ((c->policy == RKV_POLICY_BLOCK || c->policy == RKV_POLICY_DROP) &&
	     c->queue_depth > c->ready_size))
		BAD("chan depth %u / held %u invalid", c->queue_depth, c->max_held);
	if (c->ready_offset < sizeof(*c) || c->ready_offset % 8 ||
	    !fits(c->ready_offset, 8ull * c->ready_size, size))
		BAD("chan ready ring lies outside the area");
	if (c->release_offset % 4 || c->release_offset < c->ready_offset + 8ull * c->ready_size ||
	    !fits(c->release_offset, 4ull * c->release_size, size))
		BAD("chan release ring overlaps or lies outside the area");
	return 0;
}

int rkv__group_check(const struct rkv_wire_group *g, uint64_t size, uint32_t ring,
		     char *why, size_t why_len)
{
	if (size < sizeof(*g))
		BAD("group area of %llu bytes is smaller than its header", (unsigned long long)size);
	if (g->magic != RKV_MAGIC_GROUP)
		BAD("group area has magic %#x, not %#x", g->magic, RKV_MAGIC_GROUP);
	if (g->version != RKV_WIRE_VERSION)
		BAD("group layout version %u; this library speaks %u", g->version, RKV_WIRE_VERSION);
	if (g->header_size != sizeof(*g))
		BAD("group header size %u, expected %zu", g->header_size, sizeof(*g));
	if (g->total_size != size)
		BAD("group header says %llu bytes, the memory has %llu",
		    (unsigned long long)g->total_size, (unsigned long long)size);
	if (!is_pow2(ring) || ring > 2 * RKV_MAX_DEPTH)
		BAD("group ring size %u invalid", ring);
	if (g->ring_size != ring)
		BAD("group header says %u cells, the producer said %u", g->ring_size, ring);
	if (g->cells_offset != sizeof(*g) || !fits(g->cells_offset, 8ull * ring, size))
		BAD("group cells lie outside the area");
	return 0;
}
