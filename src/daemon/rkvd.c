/* SPDX-License-Identifier: MIT */
/*
 * rkvd - the board's daemon: reads the config, runs one rkv-camera per
 * camera and the algorithm processes, restarts what dies, reloads on
 * SIGHUP, and stops everything on SIGTERM.
 *
 * One thread runs the board: a poll() over a signalfd (SIGCHLD, SIGHUP,
 * SIGTERM, SIGINT) and the supervisor's wake-up eventfd, with the
 * supervisor's next deadline as the timeout. It is the thread that forks
 * every child, so the children's parent-death signal fires when rkvd
 * ends and not sooner. The HTTP server (http.c) runs its own threads and
 * reaches the board through board.h's operations; it is started and
 * stopped in api_start() and api_stop() below.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <rkv/daemon.h>

#include "board.h"
#include "events.h"
#include "http.h"
#include "supervise.h"

struct rkvd {
	const char *config_path;      /* NULL: the built-in default */
	struct rkvd_events *events;
	struct rkvd_sup *sup;
	struct rkvd_board board;
	struct rkvd_http *http;        /* NULL while not serving */
	char *api_seen;               /* the api section it serves, as one string */
};

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "rkvd: %s.%03ld %s\n", when, ts.tv_nsec / 1000000, line);
}

static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_line(NULL, line);
}

/* ---- the HTTP API ---------------------------------------------------------------- */

/* The api section as one string, to see whether a reload changed it. */
static char *api_key(const struct rkvd_api_config *api)
{
	char *key = NULL;
	if (asprintf(&key, "%s\n%s\n%s", api->listen, api->unix_socket,
		     api->token ? api->token : "") < 0)
		return NULL;
	return key;
}

/*
 * Start serving the API of d->board and d->events as the running config's
 * api section says (listen, unix_socket, token), and say where the web
 * page is. Returns 0 or a negative errno (at start, rkvd then ends,
 * stopping the board).
 */
static int api_start(struct rkvd *d)
{
	const struct rkvd_config *cfg = rkvd_sup_config(d->sup);
	int r = rkvd_http_start(&cfg->api, &d->board, d->events, &d->http);
	if (r) {
		say("HTTP API on %s%s%s: %s", cfg->api.listen[0] ? cfg->api.listen : "no TCP address",
		    cfg->api.unix_socket[0] ? " and " : "", cfg->api.unix_socket,
		    r == -EADDRINUSE ? "the address is in use (another rkvd?)" : strerror(-r));
		d->http = NULL;
		return r;
	}
	free(d->api_seen);
	d->api_seen = api_key(&cfg->api);
	if (cfg->api.listen[0]) {
		char host[128];
		const char *colon = strrchr(cfg->api.listen, ':');
		size_t hl = colon ? (size_t)(colon - cfg->api.listen) : strlen(cfg->api.listen);
		snprintf(host, sizeof(host), "%.*s", (int)(hl < sizeof(host) ? hl : sizeof(host) - 1),
			 cfg->api.listen);
		say("web page: http://%s:%d/%s", !strcmp(host, "0.0.0.0") ? "127.0.0.1" : host,
		    rkvd_http_port(d->http), cfg->api.token ? " (with the config's token)" : "");
	}
	if (cfg->api.unix_socket[0])
		say("HTTP API also on the Unix socket %s", cfg->api.unix_socket);
	return 0;
}

/* Stop serving: called before the board stops, so no request sees it half
 * gone; rkvd_events_close() wakes the event streams first. */
static void api_stop(struct rkvd *d)
{
	rkvd_events_close(d->events);
	rkvd_http_stop(d->http);
	d->http = NULL;
}

/*
 * After a reload: serve the new api section if it changed. The old server
 * stops first (the new one may want its address); should the new one not
 * start, the API stays off (said) while the cameras run on, until a later
 * reload brings an api section that works.
 */
static void api_reload(struct rkvd *d)
{
	const struct rkvd_config *cfg = rkvd_sup_config(d->sup);
	char *key = api_key(&cfg->api);
	if (!key || (d->api_seen && !strcmp(key, d->api_seen))) {
		free(key);
		return;
	}
	free(key);
	say("SIGHUP: the api section changed; the HTTP server starts again");
	rkvd_http_stop(d->http);
	d->http = NULL;
	if (api_start(d) == 0)
		return;
	say("the HTTP API stays off until a reload with an api section that works");
}

/* ---- the board ----------------------------------------------------------------------- */

static void reload(struct rkvd *d)
{
	struct rkvd_config *cfg = NULL;
	char err[1024];
	int r;

	if (!d->config_path) {
		say("SIGHUP: no config file (-c) to read again; nothing changes");
		return;
	}
	say("SIGHUP: reading %s again", d->config_path);
	r = rkvd_config_load(d->config_path, &cfg, err, sizeof(err));
	if (!r) {
		r = rkvd_sup_apply(d->sup, cfg);
		if (r)
			snprintf(err, sizeof(err), "%s: %s", d->config_path,
				 r == -EBUSY ? "processes of the previous config are still ending; "
					       "send SIGHUP again in a few seconds" : strerror(-r));
	}
	if (!r) {
		api_reload(d);
		return;
	}
	say("reload refused, the board runs on as it was: %s", err[0] ? err : strerror(-r));
	json_object *msg = json_object_new_string(err[0] ? err : strerror(-r));
	char fields[RKVD_EVENT_MAX - 256];
	snprintf(fields, sizeof(fields), "\"ok\":false,\"error\":%s",
		 msg ? json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN) : "\"\"");
	json_object_put(msg);
	rkvd_events_post(d->events, "reload", NULL, fields);
}

static int run(struct rkvd *d, int sfd)
{
	bool stopping = false;
	int64_t wait_ns = 0;

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = rkvd_sup_wakefd(d->sup), .events = POLLIN },
		};
		int timeout = wait_ns < 0 ? -1 : (int)((wait_ns + 999999) / 1000000);
		if (stopping && (timeout < 0 || timeout > 100))
			timeout = 100;
		if (poll(fds, 2, timeout) < 0 && errno != EINTR)
			return -errno;
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				switch (si.ssi_signo) {
				case SIGCHLD:
					rkvd_sup_reap(d->sup);
					break;
				case SIGHUP:
					if (!stopping)
						reload(d);
					break;
				default: /* SIGTERM, SIGINT */
					if (stopping) {
						say("%s again: SIGKILL to every process",
						    strsignal((int)si.ssi_signo));
						rkvd_sup_stop(d->sup, true);
						break;
					}
					say("%s: stopping", strsignal((int)si.ssi_signo));
					stopping = true;
					api_stop(d);
					rkvd_sup_stop(d->sup, false);
					break;
				}
			}
		}
		/* SIGCHLD is not queued per child: reap whatever ended anyway */
		rkvd_sup_reap(d->sup);
		wait_ns = rkvd_sup_tick(d->sup, rkvd_now_ns());
		if (stopping && rkvd_sup_idle(d->sup))
			return 0;
	}
}

/* rkv-camera beside this program (the build tree and an installed bin/). */
static int camera_beside_me(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -errno;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	if ((size_t)snprintf(buf, len, "%s/rkv-camera", self) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: rkvd [-c FILE] [--camera-bin PATH]\n"
	      "       rkvd --check FILE\n"
	      "\n"
	      "Runs the board that FILE (YAML; see rkv/daemon.h and examples/config/)\n"
	      "describes: one rkv-camera per camera, the algorithm commands, restarts\n"
	      "with backoff when one dies. Without -c: one test-pattern camera, cam0.\n"
	      "\n"
	      "  -c, --config FILE   the board's config\n"
	      "  --check FILE        say whether FILE is a valid config, run nothing\n"
	      "                      (exit 0: valid, 1: not, with the reason)\n"
	      "  --camera-bin PATH   the rkv-camera program (default: the one beside rkvd)\n"
	      "  -h, --help          this text\n"
	      "\n"
	      "The HTTP API and the web page are served on the config's api.listen\n"
		"(default http://127.0.0.1:8080/) and api.unix_socket; the URL is logged.\n"
		"SIGHUP reads FILE again: changed cameras and algorithms restart, the\n"
	      "others run on untouched; an invalid file changes nothing. SIGTERM or\n"
	      "SIGINT stops every process (SIGKILL after 5 s) and ends rkvd. Log lines,\n"
	      "one per state change, go to stderr.\n"
	      "Exit status: 0 after SIGTERM/SIGINT, 1 when the board cannot start,\n"
	      "2 for bad usage.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", required_argument, NULL, 'k' },
		{ "camera-bin", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rkvd d = { 0 };
	const char *check = NULL, *bin = NULL;
	char binbuf[PATH_MAX], err[1024];
	struct rkvd_config *cfg = NULL;
	int o, r, sfd = -1, status = 1;

	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'k':
			check = optarg;
			break;
		case 'b':
			bin = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rkvd: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check) {
		r = rkvd_config_load(check, &cfg, err, sizeof(err));
		if (r) {
			fprintf(stderr, "%s\n", err[0] ? err : strerror(-r));
			return 1;
		}
		printf("%s: valid: %u camera(s), %u algorithm(s)\n", check, cfg->n_cameras,
		       cfg->n_algorithms);
		rkvd_config_free(cfg);
		return 0;
	}

	r = d.config_path ? rkvd_config_load(d.config_path, &cfg, err, sizeof(err))
			  : rkvd_config_default(&cfg);
	if (r) {
		fprintf(stderr, "rkvd: %s\n", d.config_path && err[0] ? err : strerror(-r));
		return 1;
	}
	if (!bin) {
		r = camera_beside_me(binbuf, sizeof(binbuf));
		if (r) {
			fprintf(stderr, "rkvd: cannot find rkv-camera beside rkvd: %s (--camera-bin)\n",
				strerror(-r));
			rkvd_config_free(cfg);
			return 1;
		}
		bin = binbuf;
	}
	if (access(bin, X_OK) < 0) {
		fprintf(stderr, "rkvd: %s: %s (--camera-bin PATH names rkv-camera)\n", bin,
			strerror(errno));
		rkvd_config_free(cfg);
		return 1;
	}

	/* The signals arrive through the signalfd only; the children get an
	 * empty mask back before they exec. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "rkvd: signalfd: %s\n", strerror(errno));
		rkvd_config_free(cfg);
		return 1;
	}
	if ((r = rkvd_events_new(0, &d.events)) ||
	    (r = rkvd_sup_new(bin, d.events, log_line, NULL, &d.sup))) {
		fprintf(stderr, "rkvd: %s\n", strerror(-r));
		rkvd_config_free(cfg);
		goto out;
	}
	d.board = rkvd_sup_board(d.sup);
	say("rkvd %d starting; cameras run %s", (int)getpid(), bin);
	r = rkvd_sup_apply(d.sup, cfg); /* takes cfg */
	if (!r)
		r = api_start(&d);
	if (r) {
		say("cannot start: %s", strerror(-r));
		rkvd_sup_stop(d.sup, false);
		while (!rkvd_sup_idle(d.sup)) {
			struct pollfd p = { .fd = sfd, .events = POLLIN };
			poll(&p, 1, 100);
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0) {
			}
			rkvd_sup_reap(d.sup);
			rkvd_sup_tick(d.sup, rkvd_now_ns());
		}
		goto out;
	}
	r = run(&d, sfd);
	if (r) {
		say("main loop: %s", strerror(-r));
		rkvd_sup_stop(d.sup, true);
		goto out;
	}
	say("stopped");
	status = 0;
out:
	if (d.http)
		api_stop(&d);
	free(d.api_seen);
	rkvd_sup_free(d.sup);
	rkvd_events_free(d.events);
	if (sfd >= 0)
		close(sfd);
	return status;
}
