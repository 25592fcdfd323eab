/* SPDX-License-Identifier: MIT */
/*
 * pattern.h - frame contents a test can verify byte by byte.
 *
 * Word i of frame seq is base(seq) ^ (i * K_GOLD); the trailing bytes come
 * from the next word. Two different sequence numbers differ in every word,
 * so a frame that mixes two writes (a torn frame) cannot pass the check.
 */
#ifndef RKV_TEST_PATTERN_H
#define RKV_TEST_PATTERN_H

#include <stdint.h>
#include <string.h>

#define K_GOLD 0x9E3779B97F4A7C15ull

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static inline void fill_frame(void *dst, uint64_t len, uint64_t seq)
{
	uint8_t *d = dst;
	uint64_t base = mix64(seq ^ 0x5bd1e9955bd1e995ull), acc = 0;
	uint64_t n = len / 8, i;
	for (i = 0; i < n; i++) {
		uint64_t w = base ^ acc;
		memcpy(d + 8 * i, &w, 8);
		acc += K_GOLD;
	}
	uint64_t w = base ^ acc;
	for (uint64_t j = 0; j < len % 8; j++)
		d[8 * n + j] = (uint8_t)(w >> (8 * j));
}

static inline uint8_t expected_byte(uint64_t seq, uint64_t off)
{
	uint64_t base = mix64(seq ^ 0x5bd1e9955bd1e995ull);
	uint64_t w = base ^ ((off / 8) * K_GOLD);
	return (uint8_t)(w >> (8 * (off % 8)));
}

/* -1 if all @len bytes are what frame @seq holds, else the first bad offset. */
static inline int64_t check_frame(const void *src, uint64_t len, uint64_t seq)
{
	const uint8_t *s = src;
	uint64_t base = mix64(seq ^ 0x5bd1e9955bd1e995ull), acc = 0, diff = 0;
	uint64_t n = len / 8, i;
	for (i = 0; i < n; i++) {
		uint64_t w;
		memcpy(&w, s + 8 * i, 8);
		diff |= w ^ (base ^ acc);
		acc += K_GOLD;
	}
	uint64_t w = base ^ acc;
	for (uint64_t j = 0; j < len % 8; j++)
		diff |= (uint64_t)(s[8 * n + j] ^ (uint8_t)(w >> (8 * j)));
	if (diff == 0)
		return -1;
	for (uint64_t off = 0; off < len; off++)
		if (s[off] != expected_byte(seq, off))
			return (int64_t)off;
	return -1; /* changed under us while we looked: reported by the caller */
}

#endif /* RKV_TEST_PATTERN_H */
