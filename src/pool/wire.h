/* SPDX-License-Identifier: MIT */
/*
 * wire.h - the pool's shared-memory and socket layouts.
 *
 * Everything here crosses a process boundary, so it is a wire protocol:
 * fixed-width types only, explicit padding, a magic and a layout version in
 * front of every area and message, and sizes and offsets pinned by
 * static_assert here and by tests/unit_wire.c. Little-endian only, like every
 * board this runs on; a version change is needed for any layout change.
 *
 * Three kinds of shared memory, each a sealed memfd passed over the attach
 * socket with SCM_RIGHTS:
 *
 *   pool   header, per-slot descriptors, per-consumer stats, slot data.
 *          Written by the producer only; consumers map it read-only and the
 *          memfd carries F_SEAL_FUTURE_WRITE, so no consumer can write it.
 *   chan   one per consumer: its ready ring (producer -> consumer), its
 *          release ring (consumer -> producer), its latest mailbox and wake
 *          flags. Shared by exactly two processes; each index has one writer.
 *   group  one per consumer group: the group's shared queue of cells.
 *
 * The producer trusts none of what consumers can write: every index, count
 * and slot number it reads from a chan or group area is checked against its
 * own private book-keeping before use.
 */
#ifndef RKV_POOL_WIRE_H
#define RKV_POOL_WIRE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#define RKV_WIRE_VERSION     3u
#define RKV_MAGIC_POOL       0x4c4f4f50u /* "POOL" */
#define RKV_MAGIC_CHAN       0x4e414843u /* "CHAN" */
#define RKV_MAGIC_GROUP      0x50524f47u /* "GORP" in memory */
#define RKV_MAGIC_HELLO      0x4f4c4548u /* "HELO" */
#define RKV_MAGIC_WELCOME    0x434c4557u /* "WELC" */
#define RKV_MAGIC_SLOTFDS    0x53444653u /* "SFDS" */

#define RKV_CACHELINE 64

/* ---- pool area ------------------------------------------------------------ */

struct rkv_wire_pool {
	/* fixed at creation */
	uint32_t magic;
	uint32_t version;
	uint32_t header_size;    /* sizeof(struct rkv_wire_pool) */
	uint32_t slot_count;
	uint64_t slot_capacity;
	uint64_t slot_stride;    /* distance between slot data starts, page multiple */
	uint64_t slots_offset;   /* struct rkv_wire_slot[slot_count] */
	uint64_t stats_offset;   /* struct rkv_wire_cstats[max_consumers] */
	uint64_t data_offset;    /* slot 0's data, page aligned */
	uint64_t total_size;     /* the memfd's size */
	uint32_t max_consumers;
	int32_t producer_pid;
	uint32_t producer_uid;
	uint32_t flags;          /* RKV_POOL_* the producer was created with, RKV_WIRE_POOL_* */
	char name[64];           /* NUL-terminated */
	uint64_t gstats_offset;  /* struct rkv_wire_gstats[max_consumers] */
	uint8_t pad0[40];
	/* offset 192, a cache line of its own: consumers read it on every
	 * frame, so nothing the producer writes per frame may share it */
	uint32_t producer_waiting; /* nonzero while the producer sleeps; a new value each sleep */
	uint8_t pad1[60];
	/* offset 256: counters, written by the producer */
	uint32_t closed;           /* nonzero: rkv_producer_destroy() ran */
	uint32_t slots_free;
	uint32_t consumers;
	uint32_t groups;
	uint64_t published;
	uint64_t producer_waits;
	uint64_t refused;
	uint64_t block_timeouts;
	uint64_t evictions;
	uint8_t pad3[8];
};
static_assert(sizeof(struct rkv_wire_pool) == 320, "pool header size");
static_assert(offsetof(struct rkv_wire_pool, name) == 80, "pool name offset");
static_assert(offsetof(struct rkv_wire_pool, gstats_offset) == 144, "pool group stats offset");

/* rkv_wire_pool.flags, beside the public RKV_POOL_* bits */
#define RKV_WIRE_POOL_EXTERNAL (1u << 16) /* slot data lives in per-slot fds, not in this area */
static_assert(offsetof(struct rkv_wire_pool, producer_waiting) == 192, "pool wait flag offset");
static_assert(offsetof(struct rkv_wire_pool, closed) == 256, "pool counters offset");

/* One slot's descriptor: what the producer last published in it. */
struct rkv_wire_slot {
	struct rkv_frame frame;
	uint64_t pub_seq;        /* the pool's publish counter for this frame */
	uint64_t ext_offset;     /* external slots: where the data starts in the slot's fd */
	uint64_t ext_size;       /* external slots: the fd's size */
	uint8_t pad0[40];
};
static_assert(sizeof(struct rkv_frame) == 192, "frame descriptor size");
static_assert(sizeof(struct rkv_wire_slot) == 256, "slot descriptor size");

/* One consumer's counters, kept by the producer for any observer. */
struct rkv_wire_cstats {
	uint32_t active;         /* 0: entry unused */
	uint32_t id;
	uint32_t policy;
	int32_t pid;
	uint32_t queue_depth;
	uint32_t max_held;
	uint32_t outstanding;
	uint32_t pad0;
	uint64_t delivered;
	uint64_t received;
	uint64_t dropped;
	uint64_t replaced;
	char label[RKV_LABEL_MAX];
	char group[RKV_LABEL_MAX];
	/* offset 128: how far behind it is, as of the producer's last
	 * refresh (its stats call, or an observer's visit) */
	uint64_t lag;            /* rkv_consumer_stats.lag */
	uint64_t last_seq;       /* frame.seq of the newest frame it acquired */
	int64_t oldest_ts;       /* capture time of its oldest unread frame; 0: none */
	uint8_t pad1[40];
};
static_assert(sizeof(struct rkv_wire_cstats) == 192, "consumer stats size");

/* One consumer group's counters, kept by the producer. */
struct rkv_wire_gstats {
	uint32_t active;         /* 0: entry unused */
	uint32_t members;
	uint32_t ring_size;
	uint32_t queued;         /* frames in the group queue, claimed or not, not yet settled */
	uint64_t delivered;      /* frames queued to the group */
	uint64_t dropped;        /* frames the group missed: queue full, or block timeout */
	uint64_t claimed;        /* frames members took */
	uint8_t pad0[8];
	char name[RKV_LABEL_MAX];
	uint8_t pad1[48];
};
static_assert(sizeof(struct rkv_wire_gstats) == 128, "group stats size");

/* ---- chan area ------------------------------------------------------------ */

/*
 * Each index has exactly one writer and sits in its own cache line, so the
 * two sides never false-share. Positions are free-running 64-bit counters;
 * a ring's entry for position p is ring[p & (size - 1)].
 */
struct rkv_wire_chan {
	uint32_t magic;
	uint32_t version;
	uint32_t header_size;     /* sizeof(struct rkv_wire_chan) */
	uint32_t id;              /* consumer id, index into the stats table */
	uint32_t policy;
	uint32_t ready_size;      /* entries in the ready ring, power of two */
	uint32_t release_size;    /* entries in the release ring, power of two */
	uint32_t queue_depth;
	uint32_t max_held;
	uint32_t pad0;
	uint64_t total_size;
	uint64_t ready_offset;    /* uint64_t ready[ready_size] */
	uint64_t release_offset;  /* uint32_t release[release_size] */
	/* offset 64: written by the producer */
	uint64_t ready_tail;
	uint32_t evicted;         /* 1: evicted, 2: lease ended; its slots were taken back */
	uint32_t pad1;
	uint64_t attach_pub;      /* the pool's publish count when it was admitted */
	uint8_t pad2[40];
	/* offset 128: written by the consumer */
	uint64_t ready_head;
	uint64_t taken;           /* frames acquired, for stats */
	uint8_t pad3[48];
	/* offset 192: set by the consumer before it sleeps, cleared by the waker */
	uint32_t consumer_waiting;
	uint8_t pad4[60];
	/* offset 256: latest mailbox, exchanged by both */
	uint64_t mailbox;
	uint8_t pad5[56];
	/* offset 320: written by the consumer */
	uint64_t release_tail;
	uint8_t pad6[56];
	/* offset 384: written by the producer */
	uint64_t release_head;
	uint8_t pad7[56];
};
static_assert(sizeof(struct rkv_wire_chan) == 448, "chan header size");
static_assert(offsetof(struct rkv_wire_chan, ready_tail) == 64, "chan ready_tail");
static_assert(offsetof(struct rkv_wire_chan, evicted) == 72, "chan evicted");
static_assert(offsetof(struct rkv_wire_chan, ready_head) == 128, "chan ready_head");
static_assert(offsetof(struct rkv_wire_chan, consumer_waiting) == 192, "chan waiting");
static_assert(offsetof(struct rkv_wire_chan, mailbox) == 256, "chan mailbox");
static_assert(offsetof(struct rkv_wire_chan, release_tail) == 320, "chan release_tail");
static_assert(offsetof(struct rkv_wire_chan, release_head) == 384, "chan release_head");

/* A ready-ring or mailbox entry: the low 32 bits of the frame's pub_seq
 * (checked against the slot descriptor) and the slot index. */
#define RKV_ENTRY(tag, slot)  (((uint64_t)(uint32_t)(tag) << 32) | (uint32_t)(slot))
#define RKV_ENTRY_TAG(e)      ((uint32_t)((e) >> 32))
#define RKV_ENTRY_SLOT(e)     ((uint32_t)(e))
#define RKV_MAILBOX_EMPTY     UINT64_MAX

/* ---- group area ----------------------------------------------------------- */

/*
 * The group queue. The producer writes cell[p & mask] for position p with
 * owner 0 and advances tail. A member claims position h by compare-and-swap
 * of the cell from owner 0 to its owner token, then helps head past h. The
 * owner stamp in the cell is what lets the producer tell, after a member
 * dies, which claimed frames were that member's. A token names one
 * attachment (consumer id and a generation), not a table entry, so a claim
 * made late by a member that is gone is never settled into the books of a
 * newcomer that reuses its id. The producer keeps its own record of the slot
 * it queued at each position and believes only that.
 *
 *   cell = tag:32 (low bits of the position) | owner:16 | slot:16
 */
struct rkv_wire_group {
	uint32_t magic;
	uint32_t version;
	uint32_t header_size;     /* sizeof(struct rkv_wire_group) */
	uint32_t ring_size;       /* cells, power of two */
	uint64_t total_size;
	uint64_t cells_offset;    /* uint64_t cells[ring_size] */
	uint8_t pad0[32];
	/* offset 64: advanced by the members */
	uint64_t head;
	uint8_t pad1[56];
	/* offset 128: written by the producer */
	uint64_t tail;
	uint8_t pad2[56];
};
static_assert(sizeof(struct rkv_wire_group) == 192, "group header size");
static_assert(offsetof(struct rkv_wire_group, head) == 64, "group head");
static_assert(offsetof(struct rkv_wire_group, tail) == 128, "group tail");

#define RKV_CELL(tag, owner, slot) \
	(((uint64_t)(uint32_t)(tag) << 32) | ((uint64_t)((owner) & 0xffffu) << 16) | ((slot) & 0xffffu))
#define RKV_CELL_TAG(c)   ((uint32_t)((c) >> 32))
#define RKV_CELL_OWNER(c) ((uint32_t)(((c) >> 16) & 0xffffu))
#define RKV_CELL_SLOT(c)  ((uint32_t)((c) & 0xffffu))
#define RKV_CELL_NEVER    0xffffu /* owner of a cell never written yet */
static_assert(RKV_MAX_SLOTS <= 0xffff, "slot numbers fit a cell");
static_assert(RKV_MAX_CONSUMERS <= 64, "owner tokens keep the id in 6 bits");

/* A member's owner token: its consumer id in the low 6 bits, a generation
 * of 1..1022 above; never 0 (unclaimed) nor RKV_CELL_NEVER. */
#define RKV_TOKEN(id, gen) ((uint32_t)(((1u + (gen) % 1022u) << 6) | ((id) & 63u)))

/* ---- attach socket messages ----------------------------------------------- */

#define RKV_HELLO_CONSUMER 1u
#define RKV_HELLO_OBSERVER 2u

/* consumer -> producer, the first and only message on a new connection */
struct rkv_wire_hello {
	uint32_t magic;
	uint32_t version;
	uint32_t kind;            /* RKV_HELLO_* */
	uint32_t policy;
	uint32_t queue_depth;
	uint32_t max_held;
	uint32_t flags;
	uint32_t pad0;
	char label[RKV_LABEL_MAX];
	char group[RKV_LABEL_MAX];
};
static_assert(sizeof(struct rkv_wire_hello) == 96, "hello size");

/*
 * producer -> consumer, the answer; fds ride along with SCM_RIGHTS in the
 * order pool, chan, wake pipe, wake socket, group (as present). The wake
 * pipe's read end is how the producer wakes this consumer (it writes the
 * write end, which it alone holds, non-blocking); the wake socket, one end
 * of a socketpair private to this consumer, is how the consumer wakes the
 * producer (send with MSG_DONTWAIT). Neither side's wake-up depends on a
 * file description the other can change, nor can either read the other's
 * wake-ups (an eventfd shared by SCM_RIGHTS allowed both).
 * For a pool with external slots, ext_slots messages follow, each a
 * struct rkv_wire_slotfds with its fds, slot by slot.
 */
#define RKV_WELCOME_FDS_MAX 5
struct rkv_wire_welcome {
	uint32_t magic;
	uint32_t version;
	int32_t status;           /* 0, or a negative errno */
	uint32_t id;
	uint32_t nfds;
	uint32_t group_ring;      /* the group queue's cells (the group header is member-writable) */
	uint64_t pool_size;
	uint64_t chan_size;
	uint64_t group_size;
	uint32_t token;           /* group: this member's owner token */
	uint32_t ext_slots;       /* slot fds that follow in rkv_wire_slotfds messages */
	char reason[160];         /* NUL-terminated, why status is not 0 */
};
static_assert(sizeof(struct rkv_wire_welcome) == 216, "welcome size");

#define RKV_SLOTFDS_MAX 64
struct rkv_wire_slotfds {
	uint32_t magic;
	uint32_t first;           /* slot of the first fd */
	uint32_t count;           /* fds in this message */
	uint32_t pad0;
};
static_assert(sizeof(struct rkv_wire_slotfds) == 16, "slot fds message size");

#endif /* RKV_POOL_WIRE_H */
