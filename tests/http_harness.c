/* SPDX-License-Identifier: MIT */
/*
 * http_harness - rkvd's HTTP server (src/daemon/http.h) over a board of
 * real rkv-camera processes that this program starts, for http_test.py.
 *
 *   http_harness --camera-exe PATH --save-dir DIR [--listen HOST:PORT]
 *                [--unix PATH] [--token T] CAMERA...
 *
 * Each camera runs as `rkv-camera --name CAMERA --preview 320x0 ...`; the
 * board's operations (board.h) are this program's: a camera is "starting"
 * until its control channel answers, then "running", "stopped" once its
 * process ended; restart kills and starts it again. Once serving it prints
 * "port N" and then reads commands from stdin, one a line, answering "ok"
 * or "error ...":
 *
 *   stop CAMERA     SIGTERM the camera's process and wait for it
 *   start CAMERA    start it again (a restart, counted)
 *   wait CAMERA     wait (up to 20 s) until it is running
 *   quit            stop everything and exit 0 (also at end of input)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rkv/control.h>

#include "daemon/board.h"
#include "daemon/events.h"
#include "daemon/http.h"

struct cam {
	char name[RKVD_NAME_MAX];
	pid_t pid;
	enum rkvd_proc_state state;
	uint32_t restarts;
	int last_status;
	int64_t since_ns;
	bool want_start;      /* the monitor thread starts it (see spawn()) */
};

static struct {
	pthread_mutex_t lock;
	struct cam cams[RKVD_CAMERAS_MAX];
	int n;
	const char *exe;
	const char *save_dir;
	struct rkvd_events *events;
	bool quit;
} B = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static struct cam *find(const char *name)
{
	for (int i = 0; i < B.n; i++)
		if (strcmp(B.cams[i].name, name) == 0)
			return &B.cams[i];
	return NULL;
}

/*
 * Locked; called by the monitor thread only: PR_SET_PDEATHSIG fires when
 * the *thread* that forked ends, and libmicrohttpd's connection threads
 * (where op_restart runs) end with their connection.
 */
static int spawn(struct cam *c)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(2, 1); /* our stdout is the test's protocol */
		execl(B.exe, B.exe, "--name", c->name, "--preview", "320x0", "--preview-fps", "15",
		      "--save-dir", B.save_dir, "--fps", "30", "--quiet", (char *)NULL);
		_exit(127);
	}
	c->pid = pid;
	c->state = RKVD_PROC_STARTING;
	c->since_ns = now_ns();
	return 0;
}

/* Locked: SIGTERM and reap. */
static void terminate(struct cam *c)
{
	int st;
	if (c->pid <= 0)
		return;
	kill(c->pid, SIGTERM);
	waitpid(c->pid, &st, 0);
	c->last_status = st;
	c->pid = 0;
	c->state = RKVD_PROC_STOPPED;
	c->since_ns = now_ns();
	rkvd_events_post(B.events, "camera_offline", c->name, NULL);
}

/* Watches the processes: reaps the dead, marks the answering running. */
static void *monitor(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&B.lock);
		if (B.quit) {
			pthread_mutex_unlock(&B.lock);
			return NULL;
		}
		for (int i = 0; i < B.n; i++) {
			struct cam *c = &B.cams[i];
			int st;
			if (c->pid > 0 && waitpid(c->pid, &st, WNOHANG) == c->pid) {
				c->pid = 0;
				c->last_status = st;
				c->state = RKVD_PROC_STOPPED;
				rkvd_events_post(B.events, "camera_offline", c->name, NULL);
			}
			if (c->want_start && c->pid <= 0) {
				c->want_start = false;
				spawn(c);
			}
			if (c->state == RKVD_PROC_STARTING) {
				char reply[RKV_CONTROL_REPLY_MAX];
				if (rkv_control_call(c->name, "{\"cmd\":\"status\"}", reply, sizeof(reply),
						     200000000ll) > 0) {
					c->state = RKVD_PROC_RUNNING;
					c->since_ns = now_ns();
					rkvd_events_post(B.events, "camera_online", c->name, NULL);
				}
			}
		}
		pthread_mutex_unlock(&B.lock);
		usleep(50000);
	}
}

static int op_cameras(void *ctx, struct rkvd_proc_info *out, size_t n)
{
	(void)ctx;
	pthread_mutex_lock(&B.lock);
	for (int i = 0; i < B.n && (size_t)i < n; i++) {
		struct cam *c = &B.cams[i];
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(out[i].name, sizeof(out[i].name), "%s", c->name);
		out[i].state = c->state;
		out[i].pid = c->pid;
		out[i].restarts = c->restarts;
		out[i].last_status = c->last_status;
		out[i].since_ns = c->since_ns;
		snprintf(out[i].save_dir, sizeof(out[i].save_dir), "%s", B.save_dir);
	}
	int n_all = B.n;
	pthread_mutex_unlock(&B.lock);
	return n_all;
}

static int op_config_json(void *ctx, const char *name, char *buf, size_t len)
{
	(void)ctx;
	pthread_mutex_lock(&B.lock);
	struct cam *c = find(name);
	pthread_mutex_unlock(&B.lock);
	if (!c)
		return -ENOENT;
	int n = snprintf(buf, len,
			 "{\"name\":\"%s\",\"source\":\"testpattern\",\"fps\":30,"
			 "\"preview\":{\"enabled\":true,\"width\":320,\"height\":0,\"fps\":15,"
			 "\"quality\":75}}", name);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static int op_restart(void *ctx, const char *name)
{
	(void)ctx;
	pthread_mutex_lock(&B.lock);
	struct cam *c = find(name);
	int err = -ENOENT;
	if (c) {
		terminate(c);
		c->restarts++;
		c->want_start = true;
		c->state = RKVD_PROC_STARTING;
		err = 0;
		rkvd_events_post(B.events, "process_restarted", c->name, NULL);
	}
	pthread_mutex_unlock(&B.lock);
	return err;
}

static const struct rkvd_board_ops ops = {
	.cameras = op_cameras,
	/* .algorithms: the HTTP API does not ask for them. */
	.camera_config_json = op_config_json,
	.restart = op_restart,
};

static int command(char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (strcmp(line, "quit") == 0)
		return 1;
	pthread_mutex_lock(&B.lock);
	struct cam *c = arg ? find(arg) : NULL;
	pthread_mutex_unlock(&B.lock);
	if (!c) {
		printf("error no such camera\n");
		return 0;
	}
	if (strcmp(line, "stop") == 0) {
		pthread_mutex_lock(&B.lock);
		terminate(c);
		pthread_mutex_unlock(&B.lock);
	} else if (strcmp(line, "start") == 0) {
		pthread_mutex_lock(&B.lock);
		int err = c->pid > 0 || c->want_start ? -EALREADY : 0;
		if (!err) {
			c->restarts++;
			c->want_start = true;
		}
		pthread_mutex_unlock(&B.lock);
		if (err) {
			printf("error %s\n", strerror(-err));
			return 0;
		}
	} else if (strcmp(line, "wait") == 0) {
		int64_t until = now_ns() + 20000000000ll;
		bool up = false;
		while (!up && now_ns() < until) {
			pthread_mutex_lock(&B.lock);
			up = c->state == RKVD_PROC_RUNNING;
			pthread_mutex_unlock(&B.lock);
			if (!up)
				usleep(50000);
		}
		if (!up) {
			printf("error camera %s did not come up\n", c->name);
			return 0;
		}
	} else {
		printf("error unknown command\n");
		return 0;
	}
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct rkvd_api_config cfg = { .listen = "", .unix_socket = "" };
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--camera-exe") == 0)
			B.exe = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--save-dir") == 0)
			B.save_dir = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--listen") == 0)
			cfg.listen = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--unix") == 0)
			cfg.unix_socket = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--token") == 0)
			cfg.token = argv[++i];
		else if (argv[i][0] == '-') {
			fprintf(stderr, "http_harness: unknown option %s\n", argv[i]);
			return 2;
		} else if (B.n < RKVD_CAMERAS_MAX) {
			snprintf(B.cams[B.n].name, RKVD_NAME_MAX, "%s", argv[i]);
			B.cams[B.n].last_status = -1;
			B.n++;
		}
	}
	if (!B.exe || !B.save_dir) {
		fprintf(stderr, "usage: http_harness --camera-exe PATH --save-dir DIR "
				"[--listen H:P] [--unix PATH] [--token T] CAMERA...\n");
		return 2;
	}
	int err = rkvd_events_new(0, &B.events);
	if (err) {
		fprintf(stderr, "http_harness: events: %s\n", strerror(-err));
		return 1;
	}
	for (i = 0; i < B.n; i++)
		B.cams[i].want_start = true;
	pthread_t mon;
	pthread_create(&mon, NULL, monitor, NULL);

	struct rkvd_board board = { .ops = &ops, .ctx = NULL };
	struct rkvd_http *http = NULL;
	err = rkvd_http_start(&cfg, &board, B.events, &http);
	if (err) {
		/* The test checks refusals through this line and status 3. */
		printf("start-error %d %s\n", -err, strerror(-err));
		fflush(stdout);
	} else {
		printf("port %d\n", rkvd_http_port(http));
		char line[256];
		while (fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (command(line))
				break;
		}
		rkvd_http_stop(http);
	}
	pthread_mutex_lock(&B.lock);
	B.quit = true;
	for (i = 0; i < B.n; i++)
		terminate(&B.cams[i]);
	pthread_mutex_unlock(&B.lock);
	pthread_join(mon, NULL);
	rkvd_events_close(B.events);
	rkvd_events_free(B.events);
	return err ? 3 : 0;
}
