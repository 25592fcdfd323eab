/* SPDX-License-Identifier: MIT */
/*
 * The supervisor (src/daemon/supervise.h) with the real rkv-camera, driven
 * the way rkvd drives it, checked through the board operations the HTTP
 * layer uses (board.h) and the event log:
 *   a camera is not started while another process of its name answers,
 *   and then starts without counting a restart; it goes STARTING ->
 *   RUNNING (camera_online); an algorithm runs
 *   in its own process group with RKV_POOL, RKV_POLICY, RKV_GROUP and
 *   RKV_CAMERA; an algorithm that keeps failing is restarted (BACKOFF,
 *   restarts counted, its exit status kept, process_restarted posted);
 *   restart from another thread gives the camera a new process, counted;
 *   unknown names are -ENOENT; the same config again changes nothing; a
 *   changed camera and a removed algorithm are stopped; stop ends every
 *   process, one that ignores SIGTERM (and its child) included; no apply
 *   after stop.
 *
 *   unit_supervise RKV_CAMERA
 */
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include <rkv/control.h>

#include <rkv/daemon.h>

#include "daemon/board.h"
#include "daemon/events.h"
#include "daemon/supervise.h"

extern char **environ;

static struct rkvd_sup *sup;
static struct rkvd_board board;
static struct rkvd_events *events;
static char cam[RKVD_NAME_MAX];

static char logged[1 << 16];

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "  sup: %s\n", line);
	size_t n = strlen(logged);
	snprintf(logged + n, sizeof(logged) - n, "%s\n", line);
}

/* The number of entries in /proc/@pid/fd. */
static int open_fds(pid_t pid)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* What rkvd's loop does, for @ms milliseconds. */
static void drive(int ms)
{
	int64_t end = test_now_ns() + (int64_t)ms * 1000000;
	while (test_now_ns() < end) {
		rkvd_sup_reap(sup);
		int64_t next = rkvd_sup_tick(sup, rkvd_now_ns());
		int t = next < 0 || next > 20000000 ? 20 : (int)(next / 1000000);
		struct pollfd p = { .fd = rkvd_sup_wakefd(sup), .events = POLLIN };
		poll(&p, 1, t);
	}
}

#define WAIT_FOR(cond)                                                       \
	do {                                                                 \
		int64_t end_ = test_now_ns() + 30000000000LL;                \
		while (!(cond)) {                                            \
			if (test_now_ns() > end_)                            \
				FAIL("timed out waiting for %s", #cond);     \
			drive(20);                                           \
		}                                                            \
	} while (0)

static struct rkvd_proc_info proc(bool camera, const char *name)
{
	struct rkvd_proc_info all[64];
	int n = camera ? board.ops->cameras(board.ctx, all, 64) : board.ops->algorithms(board.ctx, all, 64);
	for (int i = 0; i < n && i < 64; i++)
		if (!strcmp(all[i].name, name))
			return all[i];
	struct rkvd_proc_info none;
	memset(&none, 0, sizeof(none));
	none.state = (enum rkvd_proc_state)-1;
	return none;
}

static bool has_event(const char *type, const char *text)
{
	char buf[RKVD_EVENT_MAX];
	int64_t seq = 0;
	while ((seq = rkvd_events_next(events, (uint64_t)seq, buf, sizeof(buf), 0)) > 0)
		if (strstr(buf, type) && (!text || strstr(buf, text)))
			return true;
	return false;
}

static bool alive(pid_t pid)
{
	char path[64], st[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(st, 1, sizeof(st) - 1, f);
	fclose(f);
	st[n] = 0;
	char *p = strrchr(st, ')');
	return p && p[1] == ' ' && p[2] != 'Z';
}

/* The first child of @parent found in /proc, or 0. */
static pid_t child_of(pid_t parent)
{
	char path[300], st[512];
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while (d && !found && (e = readdir(d))) {
		pid_t pid = atoi(e->d_name);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(st, 1, sizeof(st) - 1, f);
		fclose(f);
		st[n] = 0;
		char *p = strrchr(st, ')');
		int ppid;
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == parent)
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

static struct rkvd_config *config(const char *text)
{
	struct rkvd_config *cfg;
	char err[512];
	if (rkvd_config_parse("sup.yaml", text, strlen(text), &cfg, err, sizeof(err)))
		FAIL("config: %s", err);
	return cfg;
}

static void *restart_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)board.ops->restart(board.ctx, cam);
}

static void check_env(pid_t pid, const char *want)
{
	char path[64], env[8192];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f);
	size_t n = fread(env, 1, sizeof(env) - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (!env[i])
			env[i] = '\n';
	env[n] = 0;
	if (!strstr(env, want))
		FAIL("environment of %d lacks %s", (int)pid, want);
}

int main(int argc, char **argv)
{
	char text[2048], want[128];

	if (argc < 2)
		FAIL("usage: unit_supervise RKV_CAMERA");
	test_watchdog(120);
	snprintf(cam, sizeof(cam), "sup%d", (int)getpid());
	CHECK_OK(rkvd_events_new(0, &events));
	CHECK_OK(rkvd_sup_new(argv[1], events, log_line, NULL, &sup));
	board = rkvd_sup_board(sup);

	const char *fmt =
		"cameras:\n"
		"  %s: {width: 160, height: 120, fps: %d, preview: {enabled: false}}\n"
		"algorithms:\n"
		"  ok: {camera: %s, policy: group, command: 'sleep 600; true'}\n"
		"%s";
	const char *bad = "  bad: {camera: %s, command: 'exit 7'}\n";
	char badline[128];
	snprintf(badline, sizeof(badline), bad, cam);
	snprintf(text, sizeof(text), fmt, cam, 30, cam, badline);
	/* A camera of that name runs already (one of a killed daemon, still
	 * ending, say): the supervisor waits for the name, without counting. */
	pid_t squatter;
	char *sq_argv[] = { argv[1], "--name", cam, "--size", "160x120", "--quiet", NULL };
	CHECK_OK(-posix_spawn(&squatter, argv[1], NULL, NULL, sq_argv, environ));
	char reply[RKV_CONTROL_REPLY_MAX];
	int64_t end = test_now_ns() + 30000000000LL;
	while (rkv_control_call(cam, "{\"cmd\":\"status\"}", reply, sizeof(reply), 1000000000) < 0) {
		if (test_now_ns() > end)
			FAIL("the squatting camera does not answer");
		usleep(20000);
	}
	CHECK_OK(rkvd_sup_apply(sup, config(text)));
	drive(500);
	CHECK_EQ(proc(true, cam).state, RKVD_PROC_STOPPED);
	CHECK_EQ(proc(true, cam).pid, 0);
	CHECK(strstr(logged, "the name is taken by a running camera"));
	kill(squatter, SIGTERM);
	WAIT_FOR(!alive(squatter));
	CHECK_EQ(board.ops->cameras(board.ctx, NULL, 0), 1);
	CHECK_EQ(board.ops->algorithms(board.ctx, NULL, 0), 2);

	/* the camera: starting, then running once its channel answers */
	WAIT_FOR(proc(true, cam).state == RKVD_PROC_RUNNING);
	struct rkvd_proc_info c = proc(true, cam);
	CHECK(c.pid > 0 && c.pid != squatter && c.restarts == 0 && c.last_status == -1);
	CHECK(c.save_dir[0] == '/');
	CHECK(has_event("camera_online", cam));
	CHECK_EQ(getpgid(c.pid), c.pid);

	/* the algorithm: its group, its environment */
	WAIT_FOR(proc(false, "ok").state == RKVD_PROC_RUNNING);
	struct rkvd_proc_info ok = proc(false, "ok");
	CHECK_STR(ok.camera, cam);
	CHECK_EQ(getpgid(ok.pid), ok.pid);
	snprintf(want, sizeof(want), "\nRKV_POOL=%s\n", cam);
	check_env(ok.pid, want);
	check_env(ok.pid, "\nRKV_POLICY=group\n");
	check_env(ok.pid, "\nRKV_GROUP=ok\n");
	snprintf(want, sizeof(want), "\nRKV_CAMERA=%s\n", cam);
	check_env(ok.pid, want);
	/* stdin, stdout, stderr: none of the daemon's own descriptors */
	CHECK_EQ(open_fds(ok.pid), 3);

	/* one that keeps failing: restarted, counted, its status kept */
	WAIT_FOR(proc(false, "bad").restarts >= 2);
	struct rkvd_proc_info b = proc(false, "bad");
	CHECK(WIFEXITED(b.last_status) && WEXITSTATUS(b.last_status) == 7);
	CHECK(has_event("process_restarted", "\"process\":\"algorithm\",\"name\":\"bad\""));
	CHECK_STR(rkvd_proc_state_name(RKVD_PROC_BACKOFF), "backoff");
	/* the backoff doubles from 0.5 s (it ran much less than 60 s) */
	CHECK(strstr(logged, "algorithm bad: exited with status 7"));
	char *b1 = strstr(logged, "restarting in 0.5 s");
	CHECK(b1 && strstr(b1, "restarting in 1.0 s"));

	/* config JSON and unknown names */
	char json[2048];
	CHECK_INT(board.ops->camera_config_json(board.ctx, cam, json, sizeof(json)), >, 0);
	snprintf(want, sizeof(want), "\"name\":\"%s\"", cam);
	CHECK(strstr(json, want));
	CHECK_ERR(board.ops->camera_config_json(board.ctx, "nope", json, sizeof(json)), ENOENT);
	CHECK_ERR(board.ops->restart(board.ctx, "nope"), ENOENT);

	/* restart from another thread: a new process, counted */
	pthread_t t;
	void *res;
	CHECK_OK(-pthread_create(&t, NULL, restart_thread, NULL));
	CHECK_OK(-pthread_join(t, &res));
	CHECK_EQ((intptr_t)res, 0);
	WAIT_FOR(proc(true, cam).state == RKVD_PROC_RUNNING && proc(true, cam).pid != c.pid);
	CHECK_EQ(proc(true, cam).restarts, 1);
	CHECK(!alive(c.pid));
	CHECK(has_event("camera_offline", cam));
	CHECK(has_event("process_restarted", "\"process\":\"camera\""));
	c = proc(true, cam);

	/* the same config again: nothing restarts */
	CHECK_OK(rkvd_sup_apply(sup, config(text)));
	drive(300);
	CHECK_EQ(proc(true, cam).pid, c.pid);
	CHECK_EQ(proc(false, "ok").pid, ok.pid);
	CHECK(has_event("reload", "\"kept\":3"));

	/* the camera changed, "ok" removed, one that ignores SIGTERM added */
	snprintf(text, sizeof(text),
		 "cameras:\n"
		 "  %s: {width: 160, height: 120, fps: 15, preview: {enabled: false}}\n"
		 "algorithms:\n"
		 "  stubborn: {camera: %s, command: \"trap '' TERM; sleep 600; true\"}\n",
		 cam, cam);
	CHECK_OK(rkvd_sup_apply(sup, config(text)));
	WAIT_FOR(proc(true, cam).state == RKVD_PROC_RUNNING && proc(true, cam).pid != c.pid);
	CHECK(!alive(ok.pid));
	CHECK(!alive(c.pid));
	CHECK_EQ(proc(true, cam).restarts, 0); /* a new camera for the board */
	CHECK_EQ(board.ops->algorithms(board.ctx, NULL, 0), 1);
	WAIT_FOR(proc(false, "stubborn").state == RKVD_PROC_RUNNING);
	struct rkvd_proc_info st = proc(false, "stubborn");
	pid_t sleeper = 0;
	WAIT_FOR((sleeper = child_of(st.pid)) != 0);

	/* stop: everything ends, SIGKILL for what ignores SIGTERM */
	c = proc(true, cam);
	rkvd_sup_stop(sup, false);
	WAIT_FOR(rkvd_sup_idle(sup));
	CHECK(!alive(c.pid) && !alive(st.pid) && !alive(sleeper));
	CHECK_EQ(proc(true, cam).state, RKVD_PROC_STOPPED);
	CHECK_ERR(rkvd_sup_apply(sup, config(text)), ECANCELED);
	CHECK_ERR(board.ops->restart(board.ctx, cam), ECANCELED);

	rkvd_sup_free(sup);
	rkvd_events_free(events);
	return 0;
}
