/* SPDX-License-Identifier: MIT */
/*
 * fuzz_util.h - what the fuzz targets and their replay driver share.
 */
#ifndef RKV_FUZZ_UTIL_H
#define RKV_FUZZ_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest seed input a target hands to the replay generator. */
#define FUZZ_SEED_MAX 1024

/*
 * Each target provides this: write a valid input (one that drives the
 * target down its successful path) into @buf, at most @cap bytes, and
 * return its length. @variant picks among the target's seeds (any value).
 */
size_t fuzz_seed_input(uint8_t *buf, size_t cap, unsigned variant);

/* fuzz_seed_input() for a target whose seeds are the @n strings @seeds. */
static inline size_t fuzz_seed_text(const char *const *seeds, size_t n, uint8_t *buf, size_t cap,
				    unsigned variant)
{
	const char *s = seeds[variant % n];
	size_t len = strlen(s);

	if (len > cap)
		len = cap;
	memcpy(buf, s, len);
	return len;
}

/* A broken invariant: say which, then abort() so the fuzzer saves the input. */
static inline __attribute__((noreturn, format(printf, 1, 2))) void fuzz_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("FUZZ INVARIANT BROKEN: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
	abort();
}

/* Reads an input front to back; past the end every read gives zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline int fuzz_more(const struct fuzz_in *in)
{
	return in->n > 0;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v = fuzz_u8(in);
	return (uint16_t)(v | (uint16_t)fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = fuzz_u16(in);
	return v | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = fuzz_u32(in);
	return v | (uint64_t)fuzz_u32(in) << 32;
}

/* Copy up to @len input bytes to @dst; returns how many there were. */
static inline size_t fuzz_bytes(struct fuzz_in *in, void *dst, size_t len)
{
	if (len > in->n)
		len = in->n;
	memcpy(dst, in->p, len);
	in->p += len;
	in->n -= len;
	return len;
}

/* A little-endian writer for building seed inputs. */
struct fuzz_out {
	uint8_t *p;
	size_t n, cap;
};

static inline void fuzz_put8(struct fuzz_out *o, unsigned v)
{
	if (o->n < o->cap)
		o->p[o->n] = (uint8_t)v;
	o->n++;
}

static inline void fuzz_put16(struct fuzz_out *o, unsigned v)
{
	fuzz_put8(o, v & 0xff);
	fuzz_put8(o, (v >> 8) & 0xff);
}

static inline void fuzz_put64(struct fuzz_out *o, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		fuzz_put8(o, (unsigned)(v >> (8 * i)) & 0xff);
}

static inline size_t fuzz_out_len(const struct fuzz_out *o)
{
	return o->n < o->cap ? o->n : o->cap;
}

/* Frame payloads that say which frame they are: byte i of frame @seq. */
static inline uint8_t fuzz_frame_byte(uint64_t seq, uint64_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8) + (seq >> 8));
}

static inline uint64_t fuzz_frame_len(uint64_t seq, uint64_t capacity)
{
	uint64_t n = 64 + (seq * 977u) % capacity;
	return n > capacity ? capacity : n;
}

static inline void fuzz_frame_fill(uint8_t *d, uint64_t seq, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		d[i] = fuzz_frame_byte(seq, i);
}

/* Index of the first wrong byte, or -1 when all @len bytes are right. */
static inline int64_t fuzz_frame_bad(const uint8_t *d, uint64_t seq, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (d[i] != fuzz_frame_byte(seq, i))
			return (int64_t)i;
	return -1;
}

#endif /* RKV_FUZZ_UTIL_H */
