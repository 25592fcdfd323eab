/* SPDX-License-Identifier: MIT */
/*
 * replay.c - run a libFuzzer target without libFuzzer.
 *
 *   <target>_replay [-n N] [-s SEED] [PATH...]
 *
 * Each PATH is a file (one input) or a directory (every regular file in it,
 * in name order; a missing directory is skipped with a note, so an empty
 * corpus needs no placeholder). Then, when no PATH was given or -n was,
 * N inputs (default 2000, times RKV_TEST_SCALE, at least 50) come from a
 * deterministic generator: the target's valid seed inputs verbatim, those
 * seeds with bytes flipped, inserted, overwritten, cut or spliced, and
 * plain random bytes. Any crash or abort() in the target fails the run;
 * exit 0 means every input returned.
 *
 * The generator is not a fuzzer (it learns nothing); it only makes sure
 * every ordinary and sanitizer build runs the targets over a spread of
 * inputs that reach past the first checks.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1u << 20)

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: fixed, tiny, and the same on every machine */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(REPLAY_MAX_INPUT);
	if (!buf) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path, unsigned *count)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT) {
			fprintf(stderr, "replay: %s: not there, skipped\n", path);
			return 0;
		}
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}

	DIR *d = opendir(path);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				r = -1;
				break;
			}
			names = nn;
		}
		size_t len = strlen(path) + strlen(e->d_name) + 2;
		names[n] = malloc(len);
		if (!names[n]) {
			r = -1;
			break;
		}
		snprintf(names[n], len, "%s/%s", path, e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			(*count)++;
			if (run_file(names[i]) < 0)
				r = -1;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* One generated input into @buf (REPLAY_MAX_INPUT bytes); returns its length. */
static size_t generate(uint8_t *buf, uint64_t i)
{
	uint8_t seed[FUZZ_SEED_MAX];
	size_t n;
	unsigned mode = (unsigned)(i % 8);

	if (mode == 7) {
		/* plain random bytes */
		n = rnd_below(512);
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)rnd();
		return n;
	}
	n = fuzz_seed_input(seed, sizeof(seed), (unsigned)rnd());
	if (n > sizeof(seed))
		n = sizeof(seed);
	memcpy(buf, seed, n);
	if (mode == 0)
		return n; /* a valid seed verbatim */

	unsigned edits = 1 + (unsigned)rnd_below(mode == 6 ? 32 : 6);
	for (unsigned k = 0; k < edits; k++) {
		switch (rnd_below(6)) {
		case 0: /* flip a bit */
			if (n)
				buf[rnd_below(n)] ^= (uint8_t)(1u << rnd_below(8));
			break;
		case 1: /* an interesting byte value */
			if (n) {
				static const uint8_t vals[] = { 0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x10 };
				buf[rnd_below(n)] = vals[rnd_below(sizeof(vals))];
			}
			break;
		case 2: /* insert random bytes */
			if (n < 4096) {
				size_t at = rnd_below(n + 1), len = 1 + rnd_below(16);
				memmove(buf + at + len, buf + at, n - at);
				for (size_t j = 0; j < len; j++)
					buf[at + j] = (uint8_t)rnd();
				n += len;
			}
			break;
		case 3: /* cut the tail */
			n = rnd_below(n + 1);
			break;
		case 4: /* overwrite a run with random bytes */
			if (n) {
				size_t at = rnd_below(n), len = 1 + rnd_below(8);
				for (size_t j = 0; j < len && at + j < n; j++)
					buf[at + j] = (uint8_t)rnd();
			}
			break;
		default: { /* splice in part of another seed */
			size_t m = fuzz_seed_input(seed, sizeof(seed), (unsigned)rnd());
			if (m > sizeof(seed))
				m = sizeof(seed);
			if (m && n < 4096) {
				size_t from = rnd_below(m), len = 1 + rnd_below(m - from);
				size_t at = rnd_below(n + 1);
				memmove(buf + at + len, buf + at, n - at);
				memcpy(buf + at, seed + from, len);
				n += len;
			}
			break;
		}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	uint64_t n_gen = 0, seed = 0x524b56f22ull;
	int gen_given = 0, paths = 0, opt_end = 0;
	unsigned files = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (!opt_end && strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			n_gen = strtoull(argv[++i], NULL, 0);
			gen_given = 1;
		} else if (!opt_end && strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
		} else if (!opt_end && strcmp(argv[i], "--") == 0) {
			opt_end = 1;
		} else if (!opt_end && argv[i][0] == '-') {
			fprintf(stderr, "usage: %s [-n N] [-s SEED] [PATH...]\n", argv[0]);
			return 2;
		} else {
			paths++;
			if (run_path(argv[i], &files) < 0)
				rc = 1;
		}
	}
	if (paths)
		fprintf(stderr, "replay: %u corpus inputs done\n", files);

	if (!paths || gen_given) {
		const char *s = getenv("RKV_TEST_SCALE");
		double k = s ? strtod(s, NULL) : 1.0;
		uint64_t want = gen_given ? n_gen : 2000;
		/* sanitizer builds scale the count down, never below 50 */
		n_gen = k > 0 ? (uint64_t)((double)want * k) : want;
		if (n_gen < 50)
			n_gen = want < 50 ? want : 50;

		uint8_t *buf = malloc(REPLAY_MAX_INPUT);
		if (!buf)
			return 1;
		rng_state = seed ? seed : 1;
		for (uint64_t i = 0; i < n_gen; i++) {
			size_t len = generate(buf, i);
			LLVMFuzzerTestOneInput(buf, len);
		}
		free(buf);
		fprintf(stderr, "replay: %" PRIu64 " generated inputs done (seed %#" PRIx64 ")\n",
			n_gen, seed);
	}
	return rc;
}
