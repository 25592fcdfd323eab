/* SPDX-License-Identifier: MIT */
/*
 * unit_version.c - rkv/version.h's macros agree with each other and with
 * rkv_version(). Linked against the shared library, as a program using the
 * installed headers and library would be.
 */
#include <stdio.h>
#include <string.h>

#include <rkv/pool.h>
#include <rkv/version.h>

#include "test.h"

/* Every macro works in #if. This release is 0.2.0, and versions only grow. */
#if !RKV_VERSION_AT_LEAST(0, 2, 0)
#error "RKV_VERSION_AT_LEAST(0, 2, 0) is false in #if"
#endif
#if RKV_VERSION_NUMBER != RKV_VERSION_MAJOR * 10000 + RKV_VERSION_MINOR * 100 + RKV_VERSION_PATCH
#error "RKV_VERSION_NUMBER is not MAJOR * 10000 + MINOR * 100 + PATCH"
#endif
#if RKV_VERSION_MINOR > 99 || RKV_VERSION_PATCH > 99
#error "RKV_VERSION_MINOR and RKV_VERSION_PATCH must be 0..99"
#endif

static void test_string(void)
{
	/* A string literal: it concatenates with others. */
	static const char s[] = "" RKV_VERSION_STRING "";
	char want[32];

	snprintf(want, sizeof want, "%d.%d.%d", RKV_VERSION_MAJOR, RKV_VERSION_MINOR,
		 RKV_VERSION_PATCH);
	CHECK_STR(s, want);
	CHECK(rkv_version() != NULL);
	/* The library this program runs with is the one built with these headers. */
	CHECK_STR(rkv_version(), RKV_VERSION_STRING);
}

static void test_at_least(void)
{
	const int maj = RKV_VERSION_MAJOR, min = RKV_VERSION_MINOR, pat = RKV_VERSION_PATCH;

	CHECK_EQ(RKV_VERSION_NUMBER, maj * 10000 + min * 100 + pat);
	CHECK(RKV_VERSION_AT_LEAST(0, 0, 0));
	CHECK(RKV_VERSION_AT_LEAST(0, 2, 0));
	CHECK(RKV_VERSION_AT_LEAST(maj, min, pat));
	CHECK(!RKV_VERSION_AT_LEAST(maj, min, pat + 1));
	CHECK(!RKV_VERSION_AT_LEAST(maj, min + 1, 0));
	CHECK(!RKV_VERSION_AT_LEAST(maj + 1, 0, 0));
	if (pat > 0)
		CHECK(RKV_VERSION_AT_LEAST(maj, min, pat - 1));
	if (min > 0)
		CHECK(RKV_VERSION_AT_LEAST(maj, min - 1, 99));
	if (maj > 0)
		CHECK(RKV_VERSION_AT_LEAST(maj - 1, 99, 99));
}

int main(void)
{
	test_watchdog(20);
	test_string();
	test_at_least();
	printf("unit_version: ok (%s, RKV_VERSION_NUMBER %d)\n", rkv_version(), RKV_VERSION_NUMBER);
	return 0;
}
