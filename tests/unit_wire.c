/* SPDX-License-Identifier: MIT */
/*
 * unit_wire.c - pin the shared-memory and socket layouts.
 *
 * Every number below is written out by hand on purpose: a layout change,
 * however innocent, must fail this test, and whoever makes it must bump
 * RKV_WIRE_VERSION and update the numbers here. Besides each field's offset
 * and size, the test pins each field's type (a uint32_t that becomes an
 * int32_t changes what a reader of another version sees) and that the fields
 * tile the struct with no hidden padding.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <rkv/frame.h>
#include <rkv/pool.h>

#include "pool/wire.h"
#include "test.h"

struct field {
	const char *name;
	size_t offset, want_offset;
	size_t size, want_size;
	int type_ok;
};

/* The type tags below use the decayed type for arrays (char[64] -> char *). */
#define TYPE_IS(expr, T) _Generic((expr), T : 1, default : 0)
#define FIELD(S, f, off, sz, T)                                                \
	{ #S "." #f, offsetof(struct S, f), (off), sizeof(((struct S *)0)->f), (sz), \
	  TYPE_IS(((struct S *)0)->f, T) }

/* Check each field, and that consecutive fields leave no gap and the last one
 * ends at the struct's end (so nothing was added between them unseen). */
static void check_fields(const char *what, const struct field *fs, size_t n,
			 size_t size, size_t want_size)
{
	if (size != want_size)
		FAIL("sizeof(struct %s) = %zu, expected %zu", what, size, want_size);
	size_t end = 0;
	for (size_t i = 0; i < n; i++) {
		const struct field *f = &fs[i];
		if (f->offset != f->want_offset)
			FAIL("offsetof(%s) = %zu, expected %zu", f->name, f->offset, f->want_offset);
		if (f->size != f->want_size)
			FAIL("sizeof(%s) = %zu, expected %zu", f->name, f->size, f->want_size);
		if (!f->type_ok)
			FAIL("%s has another type than the pinned one", f->name);
		if (f->offset != end)
			FAIL("%s: gap or overlap before it: starts at %zu, previous field ends at %zu",
			     f->name, f->offset, end);
		end = f->offset + f->size;
	}
	if (end != size)
		FAIL("struct %s: fields end at %zu, struct is %zu bytes", what, end, size);
}

#define CHECK_FIELDS(S, want_size, ...)                                        \
	do {                                                                   \
		static const struct field fs_[] = { __VA_ARGS__ };             \
		check_fields(#S, fs_, sizeof fs_ / sizeof fs_[0], sizeof(struct S), want_size); \
	} while (0)

static void test_frame(void)
{
	CHECK_FIELDS(rkv_plane, 24,
		FIELD(rkv_plane, offset, 0, 8, uint64_t),
		FIELD(rkv_plane, stride, 8, 4, uint32_t),
		FIELD(rkv_plane, pad0, 12, 4, uint32_t),
		FIELD(rkv_plane, size, 16, 8, uint64_t));
	CHECK_FIELDS(rkv_frame, 192,
		FIELD(rkv_frame, seq, 0, 8, uint64_t),
		FIELD(rkv_frame, timestamp_ns, 8, 8, int64_t),
		FIELD(rkv_frame, fourcc, 16, 4, uint32_t),
		FIELD(rkv_frame, width, 20, 4, uint32_t),
		FIELD(rkv_frame, height, 24, 4, uint32_t),
		FIELD(rkv_frame, flags, 28, 4, uint32_t),
		FIELD(rkv_frame, bytes_used, 32, 8, uint64_t),
		FIELD(rkv_frame, num_planes, 40, 4, uint32_t),
		FIELD(rkv_frame, pad0, 44, 4, uint32_t),
		FIELD(rkv_frame, planes, 48, 96, struct rkv_plane *),
		FIELD(rkv_frame, user, 144, 8, uint64_t),
		FIELD(rkv_frame, reserved, 152, 40, uint64_t *));
	CHECK_EQ(_Alignof(struct rkv_frame), 8);
	CHECK_EQ(RKV_MAX_PLANES, 4);

	/* values that travel in descriptors */
	CHECK_UINT(RKV_FMT_NONE, ==, 0);
	CHECK_UINT(RKV_FMT_NV12, ==, 0x3231564eu);
	CHECK_UINT(RKV_FMT_I420, ==, 0x32315559u);
	CHECK_UINT(RKV_FMT_YUYV, ==, 0x56595559u);
	CHECK_UINT(RKV_FMT_RGB24, ==, 0x33424752u);
	CHECK_UINT(RKV_FMT_BGR24, ==, 0x33524742u);
	CHECK_UINT(RKV_FMT_GREY, ==, 0x59455247u);
	CHECK_UINT(RKV_FMT_JPEG, ==, 0x4745504au);
	CHECK_UINT(RKV_FMT_H264, ==, 0x34363248u);
	CHECK_UINT(RKV_FMT_BYTES, ==, 0x45545942u);
	CHECK_UINT(RKV_FRAME_KEYFRAME, ==, 1);
	CHECK_UINT(RKV_FRAME_ERROR, ==, 2);
}

static void test_pool_area(void)
{
	CHECK_FIELDS(rkv_wire_pool, 320,
		FIELD(rkv_wire_pool, magic, 0, 4, uint32_t),
		FIELD(rkv_wire_pool, version, 4, 4, uint32_t),
		FIELD(rkv_wire_pool, header_size, 8, 4, uint32_t),
		FIELD(rkv_wire_pool, slot_count, 12, 4, uint32_t),
		FIELD(rkv_wire_pool, slot_capacity, 16, 8, uint64_t),
		FIELD(rkv_wire_pool, slot_stride, 24, 8, uint64_t),
		FIELD(rkv_wire_pool, slots_offset, 32, 8, uint64_t),
		FIELD(rkv_wire_pool, stats_offset, 40, 8, uint64_t),
		FIELD(rkv_wire_pool, data_offset, 48, 8, uint64_t),
		FIELD(rkv_wire_pool, total_size, 56, 8, uint64_t),
		FIELD(rkv_wire_pool, max_consumers, 64, 4, uint32_t),
		FIELD(rkv_wire_pool, producer_pid, 68, 4, int32_t),
		FIELD(rkv_wire_pool, producer_uid, 72, 4, uint32_t),
		FIELD(rkv_wire_pool, flags, 76, 4, uint32_t),
		FIELD(rkv_wire_pool, name, 80, 64, char *),
		FIELD(rkv_wire_pool, gstats_offset, 144, 8, uint64_t),
		FIELD(rkv_wire_pool, pad0, 152, 40, uint8_t *),
		FIELD(rkv_wire_pool, producer_waiting, 192, 4, uint32_t),
		FIELD(rkv_wire_pool, pad1, 196, 60, uint8_t *),
		FIELD(rkv_wire_pool, closed, 256, 4, uint32_t),
		FIELD(rkv_wire_pool, slots_free, 260, 4, uint32_t),
		FIELD(rkv_wire_pool, consumers, 264, 4, uint32_t),
		FIELD(rkv_wire_pool, groups, 268, 4, uint32_t),
		FIELD(rkv_wire_pool, published, 272, 8, uint64_t),
		FIELD(rkv_wire_pool, producer_waits, 280, 8, uint64_t),
		FIELD(rkv_wire_pool, refused, 288, 8, uint64_t),
		FIELD(rkv_wire_pool, block_timeouts, 296, 8, uint64_t),
		FIELD(rkv_wire_pool, evictions, 304, 8, uint64_t),
		FIELD(rkv_wire_pool, pad3, 312, 8, uint8_t *));
	/* a pool name and its NUL fit the name field */
	CHECK_UINT(RKV_NAME_MAX, ==, 48);
	CHECK_UINT(RKV_NAME_MAX + 1, <=, sizeof(((struct rkv_wire_pool *)0)->name));

	CHECK_FIELDS(rkv_wire_slot, 256,
		FIELD(rkv_wire_slot, frame, 0, 192, struct rkv_frame),
		FIELD(rkv_wire_slot, pub_seq, 192, 8, uint64_t),
		FIELD(rkv_wire_slot, ext_offset, 200, 8, uint64_t),
		FIELD(rkv_wire_slot, ext_size, 208, 8, uint64_t),
		FIELD(rkv_wire_slot, pad0, 216, 40, uint8_t *));

	CHECK_FIELDS(rkv_wire_cstats, 192,
		FIELD(rkv_wire_cstats, active, 0, 4, uint32_t),
		FIELD(rkv_wire_cstats, id, 4, 4, uint32_t),
		FIELD(rkv_wire_cstats, policy, 8, 4, uint32_t),
		FIELD(rkv_wire_cstats, pid, 12, 4, int32_t),
		FIELD(rkv_wire_cstats, queue_depth, 16, 4, uint32_t),
		FIELD(rkv_wire_cstats, max_held, 20, 4, uint32_t),
		FIELD(rkv_wire_cstats, outstanding, 24, 4, uint32_t),
		FIELD(rkv_wire_cstats, pad0, 28, 4, uint32_t),
		FIELD(rkv_wire_cstats, delivered, 32, 8, uint64_t),
		FIELD(rkv_wire_cstats, received, 40, 8, uint64_t),
		FIELD(rkv_wire_cstats, dropped, 48, 8, uint64_t),
		FIELD(rkv_wire_cstats, replaced, 56, 8, uint64_t),
		FIELD(rkv_wire_cstats, label, 64, 32, char *),
		FIELD(rkv_wire_cstats, group, 96, 32, char *),
		FIELD(rkv_wire_cstats, lag, 128, 8, uint64_t),
		FIELD(rkv_wire_cstats, last_seq, 136, 8, uint64_t),
		FIELD(rkv_wire_cstats, oldest_ts, 144, 8, int64_t),
		FIELD(rkv_wire_cstats, pad1, 152, 40, uint8_t *));
	CHECK_UINT(RKV_LABEL_MAX, ==, 32);

	CHECK_FIELDS(rkv_wire_gstats, 128,
		FIELD(rkv_wire_gstats, active, 0, 4, uint32_t),
		FIELD(rkv_wire_gstats, members, 4, 4, uint32_t),
		FIELD(rkv_wire_gstats, ring_size, 8, 4, uint32_t),
		FIELD(rkv_wire_gstats, queued, 12, 4, uint32_t),
		FIELD(rkv_wire_gstats, delivered, 16, 8, uint64_t),
		FIELD(rkv_wire_gstats, dropped, 24, 8, uint64_t),
		FIELD(rkv_wire_gstats, claimed, 32, 8, uint64_t),
		FIELD(rkv_wire_gstats, pad0, 40, 8, uint8_t *),
		FIELD(rkv_wire_gstats, name, 48, 32, char *),
		FIELD(rkv_wire_gstats, pad1, 80, 48, uint8_t *));
}

static void test_chan_area(void)
{
	CHECK_FIELDS(rkv_wire_chan, 448,
		FIELD(rkv_wire_chan, magic, 0, 4, uint32_t),
		FIELD(rkv_wire_chan, version, 4, 4, uint32_t),
		FIELD(rkv_wire_chan, header_size, 8, 4, uint32_t),
		FIELD(rkv_wire_chan, id, 12, 4, uint32_t),
		FIELD(rkv_wire_chan, policy, 16, 4, uint32_t),
		FIELD(rkv_wire_chan, ready_size, 20, 4, uint32_t),
		FIELD(rkv_wire_chan, release_size, 24, 4, uint32_t),
		FIELD(rkv_wire_chan, queue_depth, 28, 4, uint32_t),
		FIELD(rkv_wire_chan, max_held, 32, 4, uint32_t),
		FIELD(rkv_wire_chan, pad0, 36, 4, uint32_t),
		FIELD(rkv_wire_chan, total_size, 40, 8, uint64_t),
		FIELD(rkv_wire_chan, ready_offset, 48, 8, uint64_t),
		FIELD(rkv_wire_chan, release_offset, 56, 8, uint64_t),
		FIELD(rkv_wire_chan, ready_tail, 64, 8, uint64_t),
		FIELD(rkv_wire_chan, evicted, 72, 4, uint32_t),
		FIELD(rkv_wire_chan, pad1, 76, 4, uint32_t),
		FIELD(rkv_wire_chan, attach_pub, 80, 8, uint64_t),
		FIELD(rkv_wire_chan, pad2, 88, 40, uint8_t *),
		FIELD(rkv_wire_chan, ready_head, 128, 8, uint64_t),
		FIELD(rkv_wire_chan, taken, 136, 8, uint64_t),
		FIELD(rkv_wire_chan, pad3, 144, 48, uint8_t *),
		FIELD(rkv_wire_chan, consumer_waiting, 192, 4, uint32_t),
		FIELD(rkv_wire_chan, pad4, 196, 60, uint8_t *),
		FIELD(rkv_wire_chan, mailbox, 256, 8, uint64_t),
		FIELD(rkv_wire_chan, pad5, 264, 56, uint8_t *),
		FIELD(rkv_wire_chan, release_tail, 320, 8, uint64_t),
		FIELD(rkv_wire_chan, pad6, 328, 56, uint8_t *),
		FIELD(rkv_wire_chan, release_head, 384, 8, uint64_t),
		FIELD(rkv_wire_chan, pad7, 392, 56, uint8_t *));
	/* the one-writer indexes each own a cache line */
	CHECK_EQ(RKV_CACHELINE, 64);
}

static void test_group_area(void)
{
	CHECK_FIELDS(rkv_wire_group, 192,
		FIELD(rkv_wire_group, magic, 0, 4, uint32_t),
		FIELD(rkv_wire_group, version, 4, 4, uint32_t),
		FIELD(rkv_wire_group, header_size, 8, 4, uint32_t),
		FIELD(rkv_wire_group, ring_size, 12, 4, uint32_t),
		FIELD(rkv_wire_group, total_size, 16, 8, uint64_t),
		FIELD(rkv_wire_group, cells_offset, 24, 8, uint64_t),
		FIELD(rkv_wire_group, pad0, 32, 32, uint8_t *),
		FIELD(rkv_wire_group, head, 64, 8, uint64_t),
		FIELD(rkv_wire_group, pad1, 72, 56, uint8_t *),
		FIELD(rkv_wire_group, tail, 128, 8, uint64_t),
		FIELD(rkv_wire_group, pad2, 136, 56, uint8_t *));
}

static void test_messages(void)
{
	CHECK_FIELDS(rkv_wire_hello, 96,
		FIELD(rkv_wire_hello, magic, 0, 4, uint32_t),
		FIELD(rkv_wire_hello, version, 4, 4, uint32_t),
		FIELD(rkv_wire_hello, kind, 8, 4, uint32_t),
		FIELD(rkv_wire_hello, policy, 12, 4, uint32_t),
		FIELD(rkv_wire_hello, queue_depth, 16, 4, uint32_t),
		FIELD(rkv_wire_hello, max_held, 20, 4, uint32_t),
		FIELD(rkv_wire_hello, flags, 24, 4, uint32_t),
		FIELD(rkv_wire_hello, pad0, 28, 4, uint32_t),
		FIELD(rkv_wire_hello, label, 32, 32, char *),
		FIELD(rkv_wire_hello, group, 64, 32, char *));
	CHECK_FIELDS(rkv_wire_welcome, 216,
		FIELD(rkv_wire_welcome, magic, 0, 4, uint32_t),
		FIELD(rkv_wire_welcome, version, 4, 4, uint32_t),
		FIELD(rkv_wire_welcome, status, 8, 4, int32_t),
		FIELD(rkv_wire_welcome, id, 12, 4, uint32_t),
		FIELD(rkv_wire_welcome, nfds, 16, 4, uint32_t),
		FIELD(rkv_wire_welcome, group_ring, 20, 4, uint32_t),
		FIELD(rkv_wire_welcome, pool_size, 24, 8, uint64_t),
		FIELD(rkv_wire_welcome, chan_size, 32, 8, uint64_t),
		FIELD(rkv_wire_welcome, group_size, 40, 8, uint64_t),
		FIELD(rkv_wire_welcome, token, 48, 4, uint32_t),
		FIELD(rkv_wire_welcome, ext_slots, 52, 4, uint32_t),
		FIELD(rkv_wire_welcome, reason, 56, 160, char *));
	CHECK_FIELDS(rkv_wire_slotfds, 16,
		FIELD(rkv_wire_slotfds, magic, 0, 4, uint32_t),
		FIELD(rkv_wire_slotfds, first, 4, 4, uint32_t),
		FIELD(rkv_wire_slotfds, count, 8, 4, uint32_t),
		FIELD(rkv_wire_slotfds, pad0, 12, 4, uint32_t));
	CHECK_EQ(RKV_HELLO_CONSUMER, 1);
	CHECK_EQ(RKV_HELLO_OBSERVER, 2);
	CHECK_EQ(RKV_WELCOME_FDS_MAX, 5);
	CHECK_EQ(RKV_SLOTFDS_MAX, 64);

	/* policies and flags travel in the hello */
	CHECK_EQ(RKV_POLICY_BLOCK, 1);
	CHECK_EQ(RKV_POLICY_DROP, 2);
	CHECK_EQ(RKV_POLICY_LATEST, 3);
	CHECK_EQ(RKV_POLICY_GROUP, 4);
	CHECK_UINT(RKV_CONSUMER_ANY_OWNER, ==, 1);
	CHECK_UINT(RKV_GROUP_BLOCK, ==, 2);
	CHECK_UINT(RKV_POOL_GROUP_ACCESS, ==, 1);
}

/* Magics read as their four letters in memory (little-endian). */
static void check_magic(uint32_t magic, uint32_t want, const char *letters)
{
	CHECK_UINT(magic, ==, want);
	char got[5] = { 0 };
	memcpy(got, &magic, 4);
	CHECK_STR(got, letters);
}

static void test_magics(void)
{
	CHECK_UINT(RKV_WIRE_VERSION, ==, 3);
	check_magic(RKV_MAGIC_POOL, 0x4c4f4f50u, "POOL");
	check_magic(RKV_MAGIC_CHAN, 0x4e414843u, "CHAN");
	check_magic(RKV_MAGIC_GROUP, 0x50524f47u, "GORP");
	check_magic(RKV_MAGIC_HELLO, 0x4f4c4548u, "HELO");
	check_magic(RKV_MAGIC_WELCOME, 0x434c4557u, "WELC");
	check_magic(RKV_MAGIC_SLOTFDS, 0x53444653u, "SFDS");
	/* all different, so no area can be taken for another */
	const uint32_t m[] = { RKV_MAGIC_POOL, RKV_MAGIC_CHAN, RKV_MAGIC_GROUP,
			       RKV_MAGIC_HELLO, RKV_MAGIC_WELCOME, RKV_MAGIC_SLOTFDS };
	for (size_t i = 0; i < 6; i++)
		for (size_t j = i + 1; j < 6; j++)
			CHECK_UINT(m[i], !=, m[j]);
}

static void test_entries(void)
{
	/* exact bit positions */
	CHECK_UINT(RKV_ENTRY(0x01020304u, 0x05060708u), ==, 0x0102030405060708u);
	CHECK_UINT(RKV_CELL(0x01020304u, 0x0506u, 0x0708u), ==, 0x0102030405060708u);
	CHECK_UINT(RKV_MAILBOX_EMPTY, ==, UINT64_MAX);

	static const uint64_t tags[] = { 0, 1, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu };
	static const uint32_t slots[] = { 0, 1, 4095, RKV_MAX_SLOTS - 1, 0xffffu };
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		for (size_t j = 0; j < sizeof slots / sizeof slots[0]; j++) {
			uint64_t e = RKV_ENTRY(tags[i], slots[j]);
			CHECK_UINT(RKV_ENTRY_TAG(e), ==, tags[i]);
			CHECK_UINT(RKV_ENTRY_SLOT(e), ==, slots[j]);
			/* an entry of a real slot is never the empty mailbox */
			CHECK_UINT(e, !=, RKV_MAILBOX_EMPTY);
			for (uint32_t owner = 0; owner <= 0xffff; owner += 0x3333) {
				uint64_t c = RKV_CELL(tags[i], owner, slots[j]);
				CHECK_UINT(RKV_CELL_TAG(c), ==, tags[i]);
				CHECK_UINT(RKV_CELL_OWNER(c), ==, owner);
				CHECK_UINT(RKV_CELL_SLOT(c), ==, slots[j]);
			}
		}
	}
	CHECK_UINT(RKV_ENTRY_SLOT(RKV_ENTRY(0, UINT32_MAX)), ==, UINT32_MAX);
	/* the tag is the low 32 bits of a 64-bit position */
	CHECK_UINT(RKV_ENTRY_TAG(RKV_ENTRY(0x1234567890ull, 5)), ==, 0x34567890u);
	CHECK_UINT(RKV_CELL_TAG(RKV_CELL(0x1234567890ull, 1, 5)), ==, 0x34567890u);
	/* fields do not bleed into each other */
	CHECK_UINT(RKV_CELL(0, 0x1ffff, 0), ==, RKV_CELL(0, 0xffff, 0));
	CHECK_UINT(RKV_CELL(0, 0, 0x1ffffu), ==, RKV_CELL(0, 0, 0xffffu));
	CHECK_UINT(RKV_CELL_OWNER(RKV_CELL(0xffffffffu, 0, 0xffffu)), ==, 0);
	/* every slot index fits a cell */
	CHECK_UINT(RKV_MAX_SLOTS - 1, <=, 0xffffu);
	/* owner tokens: never 0 (unclaimed) nor RKV_CELL_NEVER, the id in the
	 * low 6 bits, and one id's tokens differ from attach to attach */
	for (uint32_t id = 0; id < RKV_MAX_CONSUMERS; id++) {
		for (uint32_t gen = 0; gen < 3000; gen++) {
			uint32_t t = RKV_TOKEN(id, gen);
			CHECK_UINT(t, !=, 0);
			CHECK_UINT(t, !=, RKV_CELL_NEVER);
			CHECK_UINT(t, <=, 0xffff);
			CHECK_UINT(t & 63u, ==, id);
			CHECK_UINT(t, !=, RKV_TOKEN(id, gen + 1));
		}
	}
}

/* The widths a 32-bit build must have as well as a 64-bit one (meson.build
 * asks for them), and the alignment the wire structs get: a 64-bit atomic
 * access (LDREXD/STREXD on ARMv7) faults on a field that is not 8-byte
 * aligned, and every area starts page or cache-line aligned, so an 8-byte
 * struct alignment and the offsets pinned above put each uint64_t right. */
static void test_abi(void)
{
	CHECK_UINT(sizeof(time_t), ==, 8);
	CHECK_UINT(sizeof(off_t), ==, 8);
	CHECK_UINT(_Alignof(uint64_t), ==, 8);
	CHECK_UINT(_Alignof(struct rkv_wire_pool), ==, 8);
	CHECK_UINT(_Alignof(struct rkv_wire_slot), ==, 8);
	CHECK_UINT(_Alignof(struct rkv_wire_chan), ==, 8);
	CHECK_UINT(_Alignof(struct rkv_wire_group), ==, 8);
	CHECK_UINT(_Alignof(struct rkv_frame), ==, 8);
}

int main(void)
{
	test_watchdog(20);
	test_abi();
	test_frame();
	test_pool_area();
	test_chan_area();
	test_group_area();
	test_messages();
	test_magics();
	test_entries();
	printf("unit_wire: ok\n");
	return 0;
}
