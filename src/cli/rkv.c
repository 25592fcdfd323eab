/* SPDX-License-Identifier: MIT */
/*
 * rkv - the command-line client.
 *
 *   rkv pools [--json]
 *   rkv watch POOL [--policy P] [--group G] [--depth N] [--frames N]
 *                  [--seconds S] [--json]
 *   rkv status [CAMERA] [--json]
 *   rkv capture CAMERA start|stop
 *   rkv fps CAMERA N
 *   rkv snapshot CAMERA [--format jpeg|png|raw] [--quality Q] [--seq N] [-o FILE]
 *                       [--json]
 *   rkv preview CAMERA on|off [--json]
 *   rkv cameras [--json]
 *   rkv restart CAMERA
 *
 * With rkvd running (its Unix socket: $RKVD_SOCKET, else the default of
 * rkv/daemon.h), status covers every camera of the board, the offline ones
 * too, and capture, fps, preview and snapshot go through rkvd's HTTP API
 * (libcurl) for the cameras it runs, so its event stream sees them;
 * cameras and restart need it. Without rkvd, the camera commands call each
 * camera's control channel and the pool commands need nothing at all.
 * Exit status: 0 done; 1 the command failed (no such pool, not admitted,
 * the producer went away); 2 bad usage. Errors go to stderr as one line.
 * --json output is made with json-c: one object for `pools`; for `watch`
 * one object per frame (a line each) and a summary object last. A consumer's
 * lag (pools, status) is the frames published after the newest one it
 * acquired (rkv/pool.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#if RKV_CLI_DAEMON
#include <curl/curl.h>
#endif

#include <rkv/control.h>
#include <rkv/daemon.h>
#include <rkv/frame.h>
#include <rkv/pool.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define MAX_POOLS 256
#define PATH_MAX_CLI 480
#define NAME_PREFIX "@rkvision/"
#define CTL_PREFIX "@rkvision-ctl/"

static const char *prog = "rkv";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rkv COMMAND [OPTIONS]\n"
		"\n"
		"commands:\n"
		"  pools [--json]          the live pools on this machine: producer, slots,\n"
		"                          consumers and their counters\n"
		"  watch POOL [OPTIONS]    attach to POOL, print every frame, then a summary\n"
		"                          (fps, latency, drops)\n"
		"      --policy P          block, drop, latest (default) or group\n"
		"      --group G           the group to join (with --policy group)\n"
		"      --depth N           queue depth (block, drop, group)\n"
		"      --frames N          stop after N frames\n"
		"      --seconds S         stop after S seconds\n"
		"      --json              one JSON object per frame, then the summary\n"
		"  status [CAMERA] [--json]\n"
		"                          a camera's state and counters, and its pool's\n"
		"                          consumers (every camera's without CAMERA)\n"
		"  capture CAMERA start|stop\n"
		"                          start or stop publishing frames\n"
		"  fps CAMERA N            publish at most N frames a second (0: all)\n"
		"  snapshot CAMERA [OPTIONS]\n"
		"                          save the next full-resolution frame into the\n"
		"                          camera's save directory (rkv-camera --save-dir)\n"
		"      --format F          jpeg, png or raw (default: -o FILE's extension,\n"
		"                          .jpg/.jpeg/.png, else raw; without -o the camera's\n"
		"                          --save-format)\n"
		"      --quality Q         JPEG 1..100, PNG zlib level 0..9\n"
		"      --seq N             frame N: one to come, or one still in the camera's\n"
		"                          pool (a consumer holds it, or its slot is unused)\n"
		"      -o FILE             into FILE instead (the camera writes it)\n"
		"      --json              the camera's answer (path, seq, ...) as JSON\n"
		"  preview CAMERA on|off [--json]\n"
		"                          switch the camera's JPEG preview (pool\n"
		"                          CAMERA's-pool.preview) on or off; it encodes only\n"
		"                          while a consumer is attached to that pool\n"
		"  cameras [--json]        the cameras rkvd runs: state, pid, restarts\n"
		"  restart CAMERA          have rkvd stop the camera's process and start it\n"
		"                          again\n"
		"  help                    this text\n"
		"\n"
		"With rkvd running ($RKVD_SOCKET, else its default socket), status lists\n"
		"every camera it runs, offline ones too, and capture, fps, preview and\n"
		"snapshot (without -o, --format, --quality or --seq) go through it.\n"
		"\n"
		"Exit status: 0 done, 1 the command failed, 2 bad usage.\n");
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

/* ==== pools ================================================================ */

/*
 * Live pools are listening abstract Unix sockets named "@rkvision/NAME" in
 * /proc/net/unix (of this network namespace, like the pools themselves).
 */
static int find_names(const char *prefix, char names[][RKV_NAME_MAX + 1], int max)
{
	FILE *f = fopen("/proc/net/unix", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -errno;
	if (!fgets(line, sizeof line, f)) { /* the header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof line, f)) {
		unsigned long flags, type, state;
		char path[256] = "";
		if (sscanf(line, "%*s %*s %*s %lx %lx %lx %*s %255s", &flags, &type, &state, path) != 4)
			continue;
		if (!(flags & 0x10000) || strncmp(path, prefix, strlen(prefix)) != 0)
			continue; /* not listening, or not ours */
		const char *name = path + strlen(prefix);
		if (!name[0] || strlen(name) > RKV_NAME_MAX)
			continue;
		int dup = 0;
		for (int i = 0; i < n; i++)
			dup |= strcmp(names[i], name) == 0;
		if (!dup && n < max)
			snprintf(names[n++], RKV_NAME_MAX + 1, "%s", name);
	}
	fclose(f);
	return n;
}

static struct json_object *consumer_json(const struct rkv_consumer_stats *c)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(c->id));
	json_object_object_add(o, "policy", json_object_new_string(rkv_policy_name(c->policy)));
	json_object_object_add(o, "pid", json_object_new_int64(c->pid));
	json_object_object_add(o, "label", json_object_new_string(c->label));
	if (c->group[0])
		json_object_object_add(o, "group", json_object_new_string(c->group));
	json_object_object_add(o, "queue_depth", json_object_new_int64(c->queue_depth));
	json_object_object_add(o, "max_held", json_object_new_int64(c->max_held));
	json_object_object_add(o, "outstanding", json_object_new_int64(c->outstanding));
	json_object_object_add(o, "delivered", json_object_new_int64((int64_t)c->delivered));
	json_object_object_add(o, "received", json_object_new_int64((int64_t)c->received));
	json_object_object_add(o, "dropped", json_object_new_int64((int64_t)c->dropped));
	json_object_object_add(o, "replaced", json_object_new_int64((int64_t)c->replaced));
	json_object_object_add(o, "lag", json_object_new_int64((int64_t)c->lag));
	json_object_object_add(o, "last_seq", json_object_new_int64((int64_t)c->last_seq));
	json_object_object_add(o, "queued_age_us", json_object_new_double(c->queued_age_ns / 1000.0));
	return o;
}

/* One line of text for consumer @c, indented under its pool or camera. */
static void consumer_line(const struct rkv_consumer_stats *c)
{
	printf("    #%-2u %-6s pid %-7d %-16s delivered %" PRIu64 "  received %" PRIu64
	       "  dropped %" PRIu64 "  replaced %" PRIu64 "  holding %u  lag %" PRIu64 "%s%s\n",
	       c->id, rkv_policy_name(c->policy), c->pid, c->label[0] ? c->label : "-", c->delivered,
	       c->received, c->dropped, c->replaced, c->outstanding, c->lag,
	       c->group[0] ? "  group " : "", c->group);
}

/* Consumers @cs (@n of them, as rkv_pool_stats counted) as a JSON array. */
static struct json_object *consumers_json(const struct rkv_consumer_stats *cs, int n)
{
	struct json_object *ca = json_object_new_array();

	for (int k = 0; k < n && k < RKV_MAX_CONSUMERS; k++)
		json_object_array_add(ca, consumer_json(&cs[k]));
	return ca;
}

static int cmd_pools(int argc, char **argv)
{
	static char names[MAX_POOLS][RKV_NAME_MAX + 1];
	int json = 0, n, failed = 0;
	struct json_object *all = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "%s pools: unknown option '%s'\n", prog, argv[i]);
			return EXIT_USAGE;
		}
	}
	n = find_names(NAME_PREFIX, names, MAX_POOLS);
	if (n < 0) {
		fprintf(stderr, "%s pools: cannot read /proc/net/unix: %s\n", prog, strerror(-n));
		return EXIT_FAIL;
	}
	if (json)
		all = json_object_new_array();
	else if (n == 0)
		printf("no pools\n");
	for (int i = 0; i < n; i++) {
		struct rkv_pool_stats ps;
		struct rkv_consumer_stats cs[RKV_MAX_CONSUMERS];
		int nc = rkv_pool_stats(names[i], &ps, sizeof ps, cs, RKV_MAX_CONSUMERS, sizeof cs[0]);
		if (json) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(names[i]));
			if (nc < 0) {
				json_object_object_add(o, "error", json_object_new_string(strerror(-nc)));
				json_object_array_add(all, o);
				continue;
			}
			json_object_object_add(o, "producer_pid", json_object_new_int64(ps.producer_pid));
			json_object_object_add(o, "slots", json_object_new_int64(ps.slot_count));
			json_object_object_add(o, "slot_capacity", json_object_new_int64((int64_t)ps.slot_capacity));
			json_object_object_add(o, "slots_free", json_object_new_int64(ps.slots_free));
			json_object_object_add(o, "external_slots", json_object_new_boolean(ps.external));
			json_object_object_add(o, "published", json_object_new_int64((int64_t)ps.published));
			json_object_object_add(o, "producer_waits", json_object_new_int64((int64_t)ps.producer_waits));
			json_object_object_add(o, "block_timeouts", json_object_new_int64((int64_t)ps.block_timeouts));
			json_object_object_add(o, "evictions", json_object_new_int64((int64_t)ps.evictions));
			json_object_object_add(o, "consumers", consumers_json(cs, nc));
			json_object_array_add(all, o);
			continue;
		}
		if (nc < 0) {
			printf("%-24s %s\n", names[i], strerror(-nc));
			failed++;
			continue;
		}
		printf("%-24s pid %-7d slots %u x %" PRIu64 " B (%u free%s)  published %" PRIu64
		       "  consumers %d\n",
		       names[i], ps.producer_pid, ps.slot_count, ps.slot_capacity, ps.slots_free,
		       ps.external ? ", external" : "", ps.published, nc);
		for (int k = 0; k < nc && k < RKV_MAX_CONSUMERS; k++)
			consumer_line(&cs[k]);
	}
	if (json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "pools", all);
		print_json(o);
		json_object_put(o);
	}
	(void)failed;
	return 0;
}

/* ==== watch ================================================================ */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int cmd_watch(int argc, char **argv)
{
	struct rkv_consumer_opts o = { .policy = RKV_POLICY_LATEST };
	const char *pool = NULL;
	uint32_t frames = 0, seconds = 0, depth = 0;
	int json = 0, r;
	char err[256] = "";
	int64_t *lat = NULL;
	size_t nlat = 0, cap = 0;
	uint64_t got = 0, bytes = 0, first_seq = 0, last_seq = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--policy") == 0 && v) {
			r = rkv_policy_parse(v);
			if (r < 0) {
				fprintf(stderr, "%s watch: unknown policy '%s'\n", prog, v);
				return EXIT_USAGE;
			}
			o.policy = (uint32_t)r;
			i++;
		} else if (strcmp(a, "--group") == 0 && v) {
			o.group = v;
			i++;
		} else if ((strcmp(a, "--frames") == 0 || strcmp(a, "--seconds") == 0 ||
			    strcmp(a, "--depth") == 0) && v) {
			uint32_t *dst = a[2] == 'f' ? &frames : a[2] == 's' ? &seconds : &depth;
			if (parse_u32(v, dst)) {
				fprintf(stderr, "%s watch: %s wants a number, not '%s'\n", prog, a, v);
				return EXIT_USAGE;
			}
			i++;
		} else if (a[0] != '-' && !pool) {
			pool = a;
		} else {
			fprintf(stderr, "%s watch: unknown or incomplete option '%s'\n", prog, a);
			return EXIT_USAGE;
		}
	}
	if (!pool) {
		fprintf(stderr, "%s watch: which pool? (rkv pools lists them)\n", prog);
		return EXIT_USAGE;
	}
	if (o.policy == RKV_POLICY_GROUP && !o.group) {
		fprintf(stderr, "%s watch: --policy group needs --group G\n", prog);
		return EXIT_USAGE;
	}
	o.queue_depth = depth;
	o.label = "rkv watch";
	o.errbuf = err;
	o.errbuf_len = sizeof err;

	/* Ctrl-C ends the watch with its summary: without SA_RESTART, the
	 * library's wait returns -EINTR. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rkv_consumer *c;
	r = rkv_consumer_attach(pool, &o, &c);
	if (r) {
		fprintf(stderr, "%s watch: %s: %s\n", prog, pool, err[0] ? err : strerror(-r));
		return EXIT_FAIL;
	}
	int64_t t0 = now_ns(), end = seconds ? t0 + (int64_t)seconds * 1000000000 : INT64_MAX;
	int result = 0;
	while (!stop && (!frames || got < frames)) {
		struct rkv_view v;
		int64_t left = end == INT64_MAX ? RKV_WAIT_FOREVER : end - now_ns();
		if (left <= 0 && end != INT64_MAX)
			break;
		r = rkv_consumer_acquire(c, &v, left);
		if (r == -EINTR || r == -ETIMEDOUT)
			continue;
		if (r) {
			fprintf(stderr, "%s watch: %s: %s\n", prog, pool,
				r == -EPIPE ? "the producer is gone" : strerror(-r));
			result = EXIT_FAIL;
			break;
		}
		int64_t l = now_ns() - v.frame.timestamp_ns;
		if (nlat == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			int64_t *n2 = ncap <= (1u << 22) ? realloc(lat, ncap * sizeof(*lat)) : NULL;
			if (n2) {
				lat = n2;
				cap = ncap;
			}
		}
		if (nlat < cap)
			lat[nlat++] = l;
		if (got == 0)
			first_seq = v.frame.seq;
		last_seq = v.frame.seq;
		got++;
		bytes += v.frame.bytes_used;
		char fcc[5];
		rkv_fourcc_str(v.frame.fourcc, fcc);
		if (json) {
			struct json_object *jo = json_object_new_object();
			json_object_object_add(jo, "seq", json_object_new_int64((int64_t)v.frame.seq));
			json_object_object_add(jo, "timestamp_ns", json_object_new_int64(v.frame.timestamp_ns));
			json_object_object_add(jo, "latency_us", json_object_new_double(l / 1000.0));
			json_object_object_add(jo, "format", json_object_new_string(fcc));
			json_object_object_add(jo, "width", json_object_new_int64(v.frame.width));
			json_object_object_add(jo, "height", json_object_new_int64(v.frame.height));
			json_object_object_add(jo, "bytes", json_object_new_int64((int64_t)v.frame.bytes_used));
			json_object_object_add(jo, "slot", json_object_new_int64(v.slot));
			json_object_object_add(jo, "keyframe",
					       json_object_new_boolean(!!(v.frame.flags & RKV_FRAME_KEYFRAME)));
			print_json(jo);
			json_object_put(jo);
		} else {
			printf("seq %-8" PRIu64 " %s %ux%u %8" PRIu64 " B  slot %-3u latency %9.1f us%s\n",
			       v.frame.seq, fcc, v.frame.width, v.frame.height, v.frame.bytes_used, v.slot,
			       l / 1000.0, v.frame.flags & RKV_FRAME_KEYFRAME ? "  key" : "");
		}
		fflush(stdout);
		rkv_consumer_release(c, &v);
	}
	double secs = (now_ns() - t0) / 1e9;
	struct rkv_consumer_stats st;
	memset(&st, 0, sizeof st);
	rkv_consumer_stats(c, &st, sizeof st);
	qsort(lat, nlat, sizeof(*lat), cmp_i64);
	double p50 = nlat ? lat[nlat / 2] / 1000.0 : 0, p99 = nlat ? lat[nlat * 99 / 100] / 1000.0 : 0;
	if (json) {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "summary", json_object_new_boolean(1));
		json_object_object_add(s, "pool", json_object_new_string(pool));
		json_object_object_add(s, "policy", json_object_new_string(rkv_policy_name(o.policy)));
		json_object_object_add(s, "frames", json_object_new_int64((int64_t)got));
		json_object_object_add(s, "seconds", json_object_new_double(secs));
		json_object_object_add(s, "fps", json_object_new_double(secs > 0 ? got / secs : 0));
		json_object_object_add(s, "latency_p50_us", json_object_new_double(p50));
		json_object_object_add(s, "latency_p99_us", json_object_new_double(p99));
		json_object_object_add(s, "first_seq", json_object_new_int64((int64_t)first_seq));
		json_object_object_add(s, "last_seq", json_object_new_int64((int64_t)last_seq));
		json_object_object_add(s, "dropped", json_object_new_int64((int64_t)st.dropped));
		json_object_object_add(s, "replaced", json_object_new_int64((int64_t)st.replaced));
		json_object_object_add(s, "bytes", json_object_new_int64((int64_t)bytes));
		print_json(s);
		json_object_put(s);
	} else {
		printf("%" PRIu64 " frames in %.2f s (%.1f fps), latency p50 %.1f us p99 %.1f us, "
		       "dropped %" PRIu64 ", replaced %" PRIu64 "\n",
		       got, secs, secs > 0 ? got / secs : 0, p50, p99, st.dropped, st.replaced);
	}
	free(lat);
	rkv_consumer_detach(c);
	return result;
}

/* ==== cameras ============================================================== */

/* Send @req to @camera; on success the answer's JSON object in *@out (put
 * it), else a message on stderr and EXIT_FAIL. */
static int call(const char *cmd, const char *camera, const char *req, struct json_object **out,
		int64_t timeout_ns)
{
	static char reply[RKV_CONTROL_REPLY_MAX];
	ssize_t n = rkv_control_call(camera, req, reply, sizeof reply, timeout_ns);
	struct json_object *o, *v;

	if (n < 0) {
		fprintf(stderr, "%s %s: %s: %s\n", prog, cmd, camera,
			n == -ENOENT ? "no such camera (rkv status lists them)" : strerror((int)-n));
		return EXIT_FAIL;
	}
	o = json_tokener_parse(reply);
	if (!o || !json_object_object_get_ex(o, "ok", &v)) {
		fprintf(stderr, "%s %s: %s: the camera's answer is not understood\n", prog, cmd, camera);
		json_object_put(o);
		return EXIT_FAIL;
	}
	if (!json_object_get_boolean(v)) {
		struct json_object *e;
		json_object_object_get_ex(o, "error", &e);
		fprintf(stderr, "%s %s: %s: %s\n", prog, cmd, camera,
			e ? json_object_get_string(e) : "refused");
		json_object_put(o);
		return EXIT_FAIL;
	}
	*out = o;
	return 0;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static double jdbl(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

/* One line for the camera's users of the image layer: the backend each
 * tried first, what was refused (said once while it is the same) and the
 * fallbacks to a later backend, all users together. */
static void print_images(struct json_object *o)
{
	static const char *const users[][2] = {
		{ "preview", "preview" }, { "save", "saves" }, { "encoder", "encoding" },
	};
	struct json_object *u, *ops;
	const char *said = "";
	int64_t fallbacks = 0;
	int n = 0;

	for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
		if (!json_object_object_get_ex(o, users[i][0], &u) || !json_object_is_type(u, json_type_object) ||
		    !json_object_object_get_ex(u, "imgops", &ops) || !json_object_is_type(ops, json_type_object))
			continue;
		const char *refused = jstr(ops, "refused");
		printf("%s%s by %s", n++ ? ", " : "    images: ", users[i][1], jstr(ops, "backend"));
		if (refused[0] && strcmp(refused, said) != 0) {
			printf(" (refused %s)", refused);
			said = refused;
		}
		fallbacks += jint(ops, "fallbacks");
	}
	if (n)
		printf(", %" PRId64 " fallback%s\n", fallbacks, fallbacks == 1 ? "" : "s");
}

/* ==== through rkvd ========================================================= */

#if RKV_CLI_DAEMON
struct answer_buf {
	char *p;
	size_t n;
};

/* libcurl's body sink: at most 8 MiB, more is a failed transfer. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct answer_buf *b = user;
	size_t len = size * nmemb;
	if (b->n + len > (8u << 20))
		return 0;
	char *p = realloc(b->p, b->n + len + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, len);
	b->p = p;
	b->n += len;
	p[b->n] = '\0';
	return len;
}

#endif

/* rkvd's Unix socket: $RKVD_SOCKET ("" : no daemon), else the default. */
static const char *daemon_socket(void)
{
	static char buf[128];
	const char *env = getenv("RKVD_SOCKET");
	if (env)
		return env;
#if RKV_CLI_DAEMON
	return rkvd_default_socket(buf, sizeof buf);
#else
	(void)buf;
	return "";
#endif
}

/*
 * @method @path to rkvd with @body (NULL: none), answered within
 * @timeout_ms. Returns the HTTP status with the answer's JSON in *@out
 * (NULL when it is not JSON; put it), -ENOENT when no rkvd answers on its
 * socket, or -EIO (the message is on stderr).
 */
static long daemon_call(const char *method, const char *path, const char *body,
			struct json_object **out, long timeout_ms)
{
	const char *sock = daemon_socket();
	*out = NULL;
#if !RKV_CLI_DAEMON
	(void)method, (void)path, (void)body, (void)timeout_ms, (void)sock;
	return -ENOENT; /* built without libcurl: no rkvd client */
#else
	struct answer_buf b = { NULL, 0 };
	struct curl_slist *hdr = NULL;
	char url[256];
	long status = -EIO;

	if (!sock[0] || access(sock, F_OK) != 0)
		return -ENOENT;
	CURL *c = curl_easy_init();
	if (!c) {
		fprintf(stderr, "%s: libcurl would not start\n", prog);
		return -EIO;
	}
	snprintf(url, sizeof url, "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		hdr = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_COULDNT_CONNECT) {
		status = -ENOENT; /* a socket file nobody listens on */
	} else if (rc != CURLE_OK) {
		fprintf(stderr, "%s: rkvd at %s: %s\n", prog, sock, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (b.p)
			*out = json_tokener_parse(b.p);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(b.p);
	return status;
#endif
}

/* The error rkvd answered (its "error" member), for @cmd on @camera. */
static int daemon_error(const char *cmd, const char *camera, long status, struct json_object *o)
{
	const char *e = o ? jstr(o, "error") : "";
	fprintf(stderr, "%s %s: %s: %s (HTTP %ld from rkvd)\n", prog, cmd, camera,
		e[0] ? e : "refused", status);
	json_object_put(o);
	return EXIT_FAIL;
}

/* rkvd's cameras (GET /api/cameras) into *@out, or -ENOENT without rkvd. */
static int daemon_cameras(struct json_object **out)
{
	struct json_object *o;
	long st = daemon_call("GET", "/api/cameras", NULL, &o, 10000);
	if (st < 0)
		return (int)st;
	if (st != 200 || !json_object_is_type(o, json_type_array)) {
		daemon_error("cameras", "rkvd", st, o);
		return -EIO;
	}
	*out = o;
	return 0;
}

/* rkvd's entry for @camera in @cams, or NULL. */
static struct json_object *daemon_find(struct json_object *cams, const char *camera)
{
	for (size_t i = 0; cams && i < json_object_array_length(cams); i++) {
		struct json_object *c = json_object_array_get_idx(cams, i);
		if (!strcmp(jstr(c, "name"), camera))
			return c;
	}
	return NULL;
}

/* Whether rkvd runs @camera: 1, 0 (no rkvd, or not one of its cameras),
 * or -EIO (rkvd answered nonsense; said on stderr). */
static int daemon_runs(const char *camera)
{
	struct json_object *cams;
	int r = daemon_cameras(&cams);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = daemon_find(cams, camera) != NULL;
	json_object_put(cams);
	return r;
}

/* What rkvd says of a camera: its process's state, pid and restarts. */
static struct json_object *daemon_summary(struct json_object *c)
{
	struct json_object *d = json_object_new_object();
	json_object_object_add(d, "state", json_object_new_string(jstr(c, "state")));
	json_object_object_add(d, "pid", json_object_new_int64(jint(c, "pid")));
	json_object_object_add(d, "restarts", json_object_new_int64(jint(c, "restarts")));
	return d;
}

static int cmd_cameras(int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "%s cameras: unknown option '%s'\n", prog, argv[i]);
			return EXIT_USAGE;
		}
	}
	struct json_object *cams;
	int r = daemon_cameras(&cams);
	if (r == -ENOENT) {
		fprintf(stderr, "%s cameras: no rkvd answers at %s (rkv status lists the cameras "
			"running without it)\n", prog, daemon_socket());
		return EXIT_FAIL;
	}
	if (r < 0)
		return EXIT_FAIL;
	if (json) {
		print_json(cams);
	} else {
		size_t n = json_object_array_length(cams);
		if (n == 0)
			printf("no cameras\n");
		for (size_t i = 0; i < n; i++) {
			struct json_object *c = json_object_array_get_idx(cams, i);
			printf("%s: %s, pid %" PRId64 ", restarts %" PRId64 ", %s, preview %s, "
			       "%s %" PRId64 "x%" PRId64 " %s, saves in %s\n",
			       jstr(c, "name"), jstr(c, "state"), jint(c, "pid"), jint(c, "restarts"),
			       jint(c, "capturing") ? "capturing" : "not capturing",
			       jint(c, "preview") ? "on" : "off", jstr(c, "source"), jint(c, "width"),
			       jint(c, "height"), jstr(c, "format"), jstr(c, "save_dir"));
		}
	}
	json_object_put(cams);
	return 0;
}

static int cmd_restart(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "%s restart: usage: rkv restart CAMERA\n", prog);
		return EXIT_USAGE;
	}
	char path[RKVD_NAME_MAX + 32];
	struct json_object *o;
	if (strlen(argv[1]) >= RKVD_NAME_MAX || strchr(argv[1], '/')) {
		fprintf(stderr, "%s restart: %s: no such camera\n", prog, argv[1]);
		return EXIT_FAIL;
	}
	snprintf(path, sizeof path, "/api/%s/restart", argv[1]);
	long st = daemon_call("POST", path, "{}", &o, 10000);
	if (st == -ENOENT) {
		fprintf(stderr, "%s restart: no rkvd answers at %s\n", prog, daemon_socket());
		return EXIT_FAIL;
	}
	if (st < 0)
		return EXIT_FAIL;
	if (st != 200 && st != 202)
		return daemon_error("restart", argv[1], st, o);
	printf("%s: restarting\n", argv[1]);
	json_object_put(o);
	return 0;
}

/*
 * @cmd on @camera through rkvd: @method @what with @body. Returns 0 with
 * the answer in *@out, 1 when rkvd does not run the camera (call it
 * directly), or EXIT_FAIL (said on stderr).
 */
static int via_daemon(const char *cmd, const char *camera, const char *method, const char *what,
		      const char *body, struct json_object **out, long timeout_ms)
{
	int runs = daemon_runs(camera);
	if (runs < 0)
		return EXIT_FAIL;
	if (!runs)
		return 1;
	char path[RKVD_NAME_MAX + 32];
	snprintf(path, sizeof path, "/api/%s/%s", camera, what);
	long st = daemon_call(method, path, body, out, timeout_ms);
	if (st < 0)
		return EXIT_FAIL;
	if (st != 200)
		return daemon_error(cmd, camera, st, *out);
	return 0;
}

static void print_status(struct json_object *o)
{
	printf("%s: %s, %" PRId64 "x%" PRId64 " %s, pool '%s', %s, %s path\n"
	       "    %s\n"
	       "    capture %.1f fps, publish %.1f fps (limit %s), consumers %" PRId64 "\n"
	       "    captured %" PRId64 ", published %" PRId64 ", skipped %" PRId64
	       ", pool dropped %" PRId64 ", source dropped %" PRId64 ", source errors %" PRId64
	       ", snapshots %" PRId64 "\n",
	       jstr(o, "camera"), jstr(o, "source"), jint(o, "width"), jint(o, "height"),
	       jstr(o, "format"), jstr(o, "pool"), jint(o, "capturing") ? "capturing" : "stopped",
	       jint(o, "zero_copy") ? "zero-copy" : "copy", jstr(o, "path"), jdbl(o, "capture_fps"),
	       jdbl(o, "publish_fps"), jint(o, "fps") ? jstr(o, "fps") : "none", jint(o, "consumers"),
	       jint(o, "captured"), jint(o, "published"), jint(o, "skipped"), jint(o, "pool_dropped"),
	       jint(o, "source_dropped"), jint(o, "source_errors"), jint(o, "snapshots"));
	struct json_object *p, *ops;
	if (json_object_object_get_ex(o, "preview", &p) && json_object_is_type(p, json_type_object)) {
		json_object_object_get_ex(p, "imgops", &ops);
		printf("    preview '%s': %s%s, %" PRId64 "x%" PRId64 " JPEG q%" PRId64 ", at most %" PRId64
		       " fps, encoded %" PRId64 ", skipped %" PRId64 ", errors %" PRId64
		       ", backend %s (fallbacks %" PRId64 ")%s%s\n",
		       jstr(p, "pool"), jint(p, "on") ? "on" : "off",
		       jint(p, "on") ? (jint(p, "active") ? ", encoding" : ", nobody watching") : "",
		       jint(p, "width"), jint(p, "height"), jint(p, "quality"), jint(p, "fps"),
		       jint(p, "encoded"), jint(p, "skipped"), jint(p, "errors"),
		       ops ? jstr(ops, "backend") : "?", ops ? jint(ops, "fallbacks") : 0,
		       jstr(p, "error")[0] ? "; last error: " : "", jstr(p, "error"));
	}
	print_images(o);
}

/* A camera rkvd runs that is not answering: its process's state. */
static void print_offline(const char *name, struct json_object *d)
{
	printf("%s: %s (rkvd: pid %" PRId64 ", restarts %" PRId64 ")\n", name, jstr(d, "state"),
	       jint(d, "pid"), jint(d, "restarts"));
}

static int cmd_status(int argc, char **argv)
{
	static char names[MAX_POOLS + RKVD_CAMERAS_MAX][RKV_NAME_MAX + 1];
	const char *camera = NULL;
	int json = 0, n = 0, result = 0;
	struct json_object *all = NULL, *cams = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] != '-' && !camera) {
			camera = argv[i];
		} else {
			fprintf(stderr, "%s status: unknown option '%s'\n", prog, argv[i]);
			return EXIT_USAGE;
		}
	}
	/* rkvd's cameras first, offline ones too; then any running alone. */
	int dr = daemon_cameras(&cams);
	if (dr < 0 && dr != -ENOENT)
		result = EXIT_FAIL;
	if (camera) {
		snprintf(names[0], sizeof names[0], "%.*s", RKV_NAME_MAX, camera);
		n = 1;
	} else {
		for (size_t i = 0; cams && i < json_object_array_length(cams) && n < RKVD_CAMERAS_MAX; i++)
			snprintf(names[n++], sizeof names[0], "%.*s", RKV_NAME_MAX,
				 jstr(json_object_array_get_idx(cams, i), "name"));
		int found = find_names(CTL_PREFIX, names + n, MAX_POOLS);
		if (found < 0) {
			fprintf(stderr, "%s status: cannot read /proc/net/unix: %s\n", prog, strerror(-found));
			json_object_put(cams);
			return EXIT_FAIL;
		}
		for (int i = n; i < n + found; i++) {
			if (daemon_find(cams, names[i])) /* listed already */
				names[i][0] = '\0';
		}
		n += found;
		if (n == 0 && !json)
			printf("no cameras\n");
	}
	if (json && !camera)
		all = json_object_new_array();
	for (int i = 0; i < n; i++) {
		static struct rkv_consumer_stats cs[RKV_MAX_CONSUMERS];
		struct json_object *o, *d = names[i][0] ? daemon_find(cams, names[i]) : NULL;
		struct json_object *online;
		if (!names[i][0])
			continue;
		if (d && (!json_object_object_get_ex(d, "online", &online) ||
			  !json_object_get_boolean(online))) {
			/* rkvd runs it but it does not answer now: say what rkvd knows */
			o = json_object_new_object();
			json_object_object_add(o, "camera", json_object_new_string(names[i]));
			json_object_object_add(o, "daemon", daemon_summary(d));
			if (json && camera)
				print_json(o);
			else if (json)
				json_object_array_add(all, json_object_get(o));
			else
				print_offline(names[i], d);
			json_object_put(o);
			continue;
		}
		if (call("status", names[i], "{\"cmd\":\"status\"}", &o, 5000000000LL)) {
			result = EXIT_FAIL;
			continue;
		}
		/* Each consumer of the camera's pool, read as an observer (the
		 * camera's answer counts them only). */
		int nc = rkv_pool_stats(jstr(o, "pool"), NULL, 0, cs, RKV_MAX_CONSUMERS, sizeof cs[0]);
		if (nc >= 0)
			json_object_object_add(o, "consumer_stats", consumers_json(cs, nc));
		if (d)
			json_object_object_add(o, "daemon", daemon_summary(d));
		if (json && camera) {
			print_json(o);
		} else if (json) {
			json_object_array_add(all, json_object_get(o));
		} else {
			print_status(o);
			if (d)
				printf("    rkvd: %s, restarts %" PRId64 "\n", jstr(d, "state"),
				       jint(d, "restarts"));
			for (int k = 0; k < nc && k < RKV_MAX_CONSUMERS; k++)
				consumer_line(&cs[k]);
		}
		json_object_put(o);
	}
	if (all) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "cameras", all);
		print_json(o);
		json_object_put(o);
	}
	json_object_put(cams);
	return result;
}

/* capture CAMERA start|stop, fps CAMERA N */
static int cmd_set(int argc, char **argv)
{
	const char *cmd = argv[0];
	struct json_object *req, *o;
	uint32_t fps;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "%s %s: usage: rkv %s CAMERA %s\n", prog, cmd, cmd,
			!strcmp(cmd, "fps") ? "N" : "start|stop");
		return EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (!strcmp(cmd, "capture")) {
		if (strcmp(argv[2], "start") && strcmp(argv[2], "stop")) {
			fprintf(stderr, "%s capture: start or stop, not '%s'\n", prog, argv[2]);
			json_object_put(req);
			return EXIT_USAGE;
		}
		json_object_object_add(req, "on", json_object_new_boolean(!strcmp(argv[2], "start")));
	} else {
		if (parse_u32(argv[2], &fps) || fps > 1000) {
			fprintf(stderr, "%s fps: 0 to 1000, not '%s'\n", prog, argv[2]);
			json_object_put(req);
			return EXIT_USAGE;
		}
		json_object_object_add(req, "fps", json_object_new_int64(fps));
	}
	/* Through rkvd when it runs the camera (the same request, as its API
	 * takes it); then the camera's state, from the camera itself. */
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int r = via_daemon(cmd, argv[1], !strcmp(cmd, "fps") ? "PUT" : "POST", cmd, body, &o, 10000);
	if (r == 0) {
		json_object_put(o);
		r = call(cmd, argv[1], "{\"cmd\":\"status\"}", &o, 5000000000LL);
	} else if (r == 1) {
		r = call(cmd, argv[1], body, &o, 5000000000LL);
	}
	json_object_put(req);
	if (r)
		return r;
	print_status(o);
	json_object_put(o);
	return 0;
}

static int cmd_snapshot(int argc, char **argv)
{
	const char *camera = NULL, *file = NULL, *format = NULL;
	char path[PATH_MAX_CLI + 2 * RKV_NAME_MAX + 64], cwd[PATH_MAX_CLI];
	struct json_object *req, *o;
	uint32_t quality = UINT32_MAX, seq;
	int has_seq = 0, json = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			file = argv[++i];
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			format = argv[++i];
			if (strcmp(format, "jpeg") && strcmp(format, "png") && strcmp(format, "raw")) {
				fprintf(stderr, "%s snapshot: --format jpeg, png or raw, not '%s'\n", prog, format);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--quality") && i + 1 < argc) {
			if (parse_u32(argv[++i], &quality) || quality > 100) {
				fprintf(stderr, "%s snapshot: --quality 0..100, not '%s'\n", prog, argv[i]);
				return EXIT_USAGE;
			}
		} else if (!strcmp(argv[i], "--seq") && i + 1 < argc) {
			if (parse_u32(argv[++i], &seq)) {
				fprintf(stderr, "%s snapshot: --seq is a frame number, not '%s'\n", prog, argv[i]);
				return EXIT_USAGE;
			}
			has_seq = 1;
		} else if (argv[i][0] != '-' && !camera) {
			camera = argv[i];
		} else {
			fprintf(stderr, "%s snapshot: unknown option '%s'\n", prog, argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!camera) {
		fprintf(stderr, "%s snapshot: which camera?\n", prog);
		return EXIT_USAGE;
	}
	/* The camera writes the file: it needs an absolute name. */
	int pn = 0;
	if (file && file[0] == '/') {
		pn = snprintf(path, sizeof path, "%s", file);
	} else if (file) {
		if (!getcwd(cwd, sizeof cwd)) {
			fprintf(stderr, "%s snapshot: %s\n", prog, strerror(errno));
			return EXIT_FAIL;
		}
		pn = snprintf(path, sizeof path, "%s/%s", cwd, file);
	}
	if (pn < 0 || (size_t)pn >= 512) {
		fprintf(stderr, "%s snapshot: the file name is too long\n", prog);
		return EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("snapshot"));
	if (file)
		json_object_object_add(req, "path", json_object_new_string(path));
	if (format)
		json_object_object_add(req, "format", json_object_new_string(format));
	if (quality != UINT32_MAX)
		json_object_object_add(req, "quality", json_object_new_int64(quality));
	if (has_seq)
		json_object_object_add(req, "seq", json_object_new_int64(seq));
	/* rkvd takes a plain snapshot (into the camera's save directory); one
	 * with options goes to the camera itself. */
	int r = 1;
	if (!file && !format && quality == UINT32_MAX && !has_seq) {
		r = via_daemon("snapshot", camera, "POST", "snapshot", "{}", &o, 15000);
		if (r == 0) {
			if (json)
				print_json(o);
			else
				printf("%s: frame %" PRId64 ", %" PRId64 "x%" PRId64 ", %" PRId64
				       " bytes (through rkvd)\n", jstr(o, "path"), jint(o, "seq"),
				       jint(o, "width"), jint(o, "height"), jint(o, "bytes"));
			json_object_put(o);
			json_object_put(req);
			return 0;
		}
	}
	if (r == 1)
		r = call("snapshot", camera, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
			 &o, 10000000000LL);
	json_object_put(req);
	if (r)
		return r;
	if (json)
		print_json(o);
	else
		printf("%s: frame %" PRId64 ", %" PRId64 "x%" PRId64 " %s as %s, %" PRId64 " bytes\n",
	       jstr(o, "path"), jint(o, "seq"), jint(o, "width"), jint(o, "height"), jstr(o, "pixels"),
	       jstr(o, "format"), jint(o, "bytes"));
	json_object_put(o);
	return 0;
}

/* preview CAMERA on|off [--json] */
static int cmd_preview(int argc, char **argv)
{
	const char *camera = NULL, *state = NULL;
	struct json_object *req, *o, *p;
	int json = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (argv[i][0] != '-' && !camera) {
			camera = argv[i];
		} else if (argv[i][0] != '-' && !state) {
			state = argv[i];
		} else {
			fprintf(stderr, "%s preview: unknown option '%s'\n", prog, argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!camera || !state) {
		fprintf(stderr, "%s preview: usage: rkv preview CAMERA on|off [--json]\n", prog);
		return EXIT_USAGE;
	}
	if (strcmp(state, "on") && strcmp(state, "off")) {
		fprintf(stderr, "%s preview: on or off, not '%s'\n", prog, state);
		return EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("preview"));
	json_object_object_add(req, "on", json_object_new_boolean(!strcmp(state, "on")));
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int r = via_daemon("preview", camera, "POST", "preview", body, &o, 10000);
	if (r == 0) {
		json_object_put(o);
		r = call("preview", camera, "{\"cmd\":\"status\"}", &o, 5000000000LL);
	} else if (r == 1) {
		r = call("preview", camera, body, &o, 5000000000LL);
	}
	json_object_put(req);
	if (r)
		return r;
	if (json) {
		print_json(json_object_object_get_ex(o, "preview", &p) ? p : o);
	} else {
		json_object_object_get_ex(o, "preview", &p);
		printf("%s: preview '%s' %s, %" PRId64 "x%" PRId64 ", encoded %" PRId64 ", skipped %" PRId64
		       "\n", camera, jstr(p, "pool"), jint(p, "on") ? "on" : "off", jint(p, "width"),
		       jint(p, "height"), jint(p, "encoded"), jint(p, "skipped"));
	}
	json_object_put(o);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "pools") == 0)
		return cmd_pools(argc - 1, argv + 1);
	if (strcmp(argv[1], "watch") == 0)
		return cmd_watch(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "capture") == 0 || strcmp(argv[1], "fps") == 0)
		return cmd_set(argc - 1, argv + 1);
	if (strcmp(argv[1], "snapshot") == 0)
		return cmd_snapshot(argc - 1, argv + 1);
	if (strcmp(argv[1], "preview") == 0)
		return cmd_preview(argc - 1, argv + 1);
	if (strcmp(argv[1], "cameras") == 0)
		return cmd_cameras(argc - 1, argv + 1);
	if (strcmp(argv[1], "restart") == 0)
		return cmd_restart(argc - 1, argv + 1);
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "%s: unknown command '%s' (rkv help lists them)\n", prog, argv[1]);
	return EXIT_USAGE;
}
