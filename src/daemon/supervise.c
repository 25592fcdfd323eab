/* SPDX-License-Identifier: MIT */
/*
 * The supervisor (supervise.h): the board's processes, their states and
 * restarts, reloads, and the board operations of board.h.
 *
 * One mutex guards everything. The main thread holds it while it reaps,
 * spawns, polls starting cameras and applies configs, so a board operation
 * from an HTTP thread sees a consistent board; and because children are
 * reaped only under it, a pid read under it cannot have been reused, so a
 * restart from another thread may signal it safely. The status polls of
 * starting cameras are held under it too: they are local calls with a short
 * timeout, and they run only while a camera is starting.
 */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <rkv/control.h>

extern char **environ;

#define POLL_NS 100000000LL          /* a starting camera's status poll */
#define NAME_WAIT_NS 250000000LL     /* a camera's name is still taken: look again */
#define STATUS_TIMEOUT_NS 200000000LL
#define N_LIVE (RKVD_CAMERAS_MAX + RKVD_ALGORITHMS_MAX)
#define N_RETIRING (2 * N_LIVE)

struct proc {
	bool camera;                 /* else an algorithm */
	char name[RKVD_NAME_MAX];
	char cam[RKVD_NAME_MAX];     /* algorithms: their camera */
	const struct rkvd_camera_config *cc;   /* live procs: into the running config */
	const struct rkvd_algorithm_config *ac;
	enum rkvd_proc_state state;
	pid_t pid;                   /* also its process group */
	uint32_t restarts;
	bool started;                /* once: later starts count as restarts */
	int last_status;
	int64_t since_ns;
	int64_t started_ns;
	int64_t backoff_ns;
	int64_t due_ns;              /* STOPPED/BACKOFF: start; STARTING: poll; 0: none */
	int64_t kill_ns;             /* stopping: when SIGKILL goes; 0: not stopping */
	bool restart_now;            /* rkv restart: start again at once, no backoff */
	bool name_busy_said;
	char save_dir[256];
};

struct rkvd_sup {
	pthread_mutex_t lock;
	struct rkvd_config *cfg;
	struct proc live[N_LIVE];    /* the config's cameras, then its algorithms */
	size_t n_live;
	struct proc retiring[N_RETIRING]; /* processes of earlier configs, ending */
	size_t n_retiring;
	bool stopping;
	int wakefd;
	char bin[PATH_MAX];
	struct rkvd_events *events;
	rkvd_log_fn log;
	void *log_ctx;
};

int64_t rkvd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static __attribute__((format(printf, 3, 4))) void say(struct rkvd_sup *s, const struct proc *p,
						      const char *fmt, ...)
{
	char line[768];
	int n = 0;
	va_list ap;

	if (!s->log)
		return;
	if (p)
		n = snprintf(line, sizeof(line), "%s %s: ", p->camera ? "camera" : "algorithm", p->name);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, line);
}

static void post(struct rkvd_sup *s, const char *type, const char *camera, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void post(struct rkvd_sup *s, const char *type, const char *camera, const char *fmt, ...)
{
	char fields[512] = "";
	va_list ap;

	if (!s->events)
		return;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(fields, sizeof(fields), fmt, ap);
		va_end(ap);
	}
	rkvd_events_post(s->events, type, camera, fmt ? fields : NULL);
}

static void set_state(struct proc *p, enum rkvd_proc_state st, int64_t now)
{
	p->state = st;
	p->since_ns = now;
}

static const char *status_text(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended (wait status 0x%x)", (unsigned)st);
	return buf;
}

/* ---- starting a process -------------------------------------------------------- */

/*
 * The child's side, between fork() and exec: only async-signal-safe calls.
 * Its own process group; SIGTERM when the daemon's main thread ends (and
 * if the daemon died already, before prctl() took effect, end now); the
 * signal mask and SIGPIPE's disposition back to what a program expects.
 */
static __attribute__((noreturn)) void child(pid_t parent, const char *path, char *const argv[],
					     char *const envp[])
{
	sigset_t none;
	int fd;

	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	/* Whatever the daemon holds open (sockets, the signalfd, the HTTP
	 * server's) is not the child's business. */
	close_range(3, ~0U, 0);
	execve(path, argv, envp);
	_exit(127);
}

static int spawn(pid_t *out, const char *path, char *const argv[], char *const envp[])
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		child(parent, path, argv, envp);
	/* Also from this side, so that a stop sent before the child ran its
	 * first line still reaches the group. */
	setpgid(pid, pid);
	*out = pid;
	return 0;
}

/* The environment of an algorithm: the daemon's, less any RKV_POOL ... of
 * its own, plus the four variables. */
static char **algorithm_env(const struct rkvd_algorithm_config *a, char vars[4][160])
{
	static const char *const ours[] = { "RKV_POOL=", "RKV_POLICY=", "RKV_GROUP=", "RKV_CAMERA=" };
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 5, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool mine = false;
		for (size_t j = 0; j < 4; j++)
			mine |= !strncmp(environ[i], ours[j], strlen(ours[j]));
		if (!mine)
			env[k++] = environ[i];
	}
	/* The camera's pool has the camera's name (rkv-camera's default), and
	 * so has its control channel. */
	snprintf(vars[0], 160, "RKV_POOL=%s", a->camera);
	snprintf(vars[1], 160, "RKV_POLICY=%s", a->policy ? a->policy : "latest");
	snprintf(vars[2], 160, "RKV_GROUP=%s", a->group ? a->group : "");
	snprintf(vars[3], 160, "RKV_CAMERA=%s", a->camera);
	for (size_t j = 0; j < 4; j++)
		env[k++] = vars[j];
	env[k] = NULL;
	return env;
}

static void start(struct rkvd_sup *s, struct proc *p, int64_t now)
{
	char err[160];
	int r;

	if (p->camera) {
		struct rkvd_args *a = malloc(sizeof(*a));
		r = !a ? -ENOMEM : rkvd_camera_args(p->cc, s->bin, a);
		if (!r)
			r = spawn(&p->pid, s->bin, a->argv, environ);
		free(a);
	} else {
		char vars[4][160];
		char **env = algorithm_env(p->ac, vars);
		char *argv[] = { "/bin/sh", "-c", p->ac->command, NULL };
		r = !env ? -ENOMEM : spawn(&p->pid, "/bin/sh", argv, env);
		free(env);
	}
	if (r) {
		/* fork() failed (no memory, too many processes): as if it died */
		p->pid = 0;
		p->backoff_ns = p->backoff_ns ? p->backoff_ns * 2 : RKVD_BACKOFF_MIN_NS;
		if (p->backoff_ns > RKVD_BACKOFF_MAX_NS)
			p->backoff_ns = RKVD_BACKOFF_MAX_NS;
		p->due_ns = now + p->backoff_ns;
		set_state(p, RKVD_PROC_BACKOFF, now);
		say(s, p, "cannot start: %s; trying again in %.1f s", strerror_r(-r, err, sizeof(err)),
		    (double)p->backoff_ns / 1e9);
		return;
	}
	p->started_ns = now;
	p->kill_ns = 0;
	p->restart_now = false;
	p->name_busy_said = false;
	if (p->started) {
		p->restarts++;
		post(s, "process_restarted", p->camera ? p->name : p->cam,
		     "\"process\":\"%s\",\"name\":\"%s\",\"pid\":%d,\"restarts\":%u",
		     p->camera ? "camera" : "algorithm", p->name, (int)p->pid, p->restarts);
	}
	p->started = true;
	if (p->camera) {
		set_state(p, RKVD_PROC_STARTING, now);
		p->due_ns = now + POLL_NS;
		if (p->restarts)
			say(s, p, "starting (pid %d), restart %u", (int)p->pid, p->restarts);
		else
			say(s, p, "starting (pid %d)", (int)p->pid);
	} else {
		set_state(p, RKVD_PROC_RUNNING, now);
		p->due_ns = 0;
		if (p->restarts)
			say(s, p, "running (pid %d) on camera %s, restart %u", (int)p->pid, p->cam,
			    p->restarts);
		else
			say(s, p, "running (pid %d) on camera %s", (int)p->pid, p->cam);
	}
}

/* The pid of the camera answering on @name's control channel: > 0, 0 when
 * none does (the name is free), < 0 when one answers unintelligibly. */
static pid_t camera_answers(const char *name)
{
	char reply[RKV_CONTROL_REPLY_MAX];
	json_object *o, *v;
	pid_t pid = -1;

	ssize_t r = rkv_control_call(name, "{\"cmd\":\"status\"}", reply, sizeof(reply),
				     STATUS_TIMEOUT_NS);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return -1;
	o = json_tokener_parse(reply);
	if (o && json_object_object_get_ex(o, "pid", &v))
		pid = (pid_t)json_object_get_int64(v);
	json_object_put(o);
	return pid;
}

static struct proc *find_live(struct rkvd_sup *s, bool camera, const char *name)
{
	for (size_t i = 0; i < s->n_live; i++)
		if (s->live[i].camera == camera && !strcmp(s->live[i].name, name))
			return &s->live[i];
	return NULL;
}

static bool retiring_has(struct rkvd_sup *s, bool camera, const char *name)
{
	for (size_t i = 0; i < s->n_retiring; i++)
		if (s->retiring[i].camera == camera && !strcmp(s->retiring[i].name, name))
			return true;
	return false;
}

/* May @p start now? Not while a process of the same name ends, nor (an
 * algorithm) while its camera is not running, nor (a camera) while another
 * process answers on its control channel. */
static bool may_start(struct rkvd_sup *s, struct proc *p, int64_t now)
{
	if (retiring_has(s, p->camera, p->name))
		return false;
	if (!p->camera) {
		struct proc *c = find_live(s, true, p->cam);
		return c && c->state == RKVD_PROC_RUNNING;
	}
	pid_t other = camera_answers(p->name);
	if (other != 0) {
		if (!p->name_busy_said && other > 0)
			say(s, p, "the name is taken by a running camera (pid %d); waiting for it to end",
			    (int)other);
		else if (!p->name_busy_said)
			say(s, p, "the name's control channel is taken; waiting for it to be free");
		p->name_busy_said = true;
		p->due_ns = now + NAME_WAIT_NS;
		return false;
	}
	return true;
}

/* ---- stopping ---------------------------------------------------------------------- */

static void signal_group(pid_t pid, int sig)
{
	/* The group first; a child that has not run setpgid() yet is not in
	 * it, so the process too. */
	kill(-pid, sig);
	kill(pid, sig);
}

static void stop_proc(struct proc *p, int64_t now, bool now_kill)
{
	if (!p->pid)
		return;
	if (now_kill) {
		signal_group(p->pid, SIGKILL);
		p->kill_ns = now + RKVD_STOP_NS;
	} else if (!p->kill_ns) {
		signal_group(p->pid, SIGTERM);
		p->kill_ns = now + RKVD_STOP_NS;
	}
}

/* ---- reaping ----------------------------------------------------------------------- */

static void went_offline(struct rkvd_sup *s, struct proc *p)
{
	if (p->camera && p->state == RKVD_PROC_RUNNING) {
		post(s, "camera_offline", p->name, NULL);
		say(s, p, "offline");
	}
}

static void ended(struct rkvd_sup *s, struct proc *p, int st, int64_t now, bool retired)
{
	char why[96];
	bool asked = p->kill_ns != 0;

	/* What the group leader leaves behind (a shell's children) goes too. */
	kill(-p->pid, asked ? SIGKILL : SIGTERM);
	went_offline(s, p);
	p->last_status = st;
	status_text(st, why, sizeof(why));
	p->pid = 0;
	p->kill_ns = 0;
	if (retired || s->stopping) {
		set_state(p, RKVD_PROC_STOPPED, now);
		say(s, p, "stopped (%s)", why);
		return;
	}
	if (p->restart_now) {
		p->backoff_ns = 0;
		p->due_ns = now;
		set_state(p, RKVD_PROC_BACKOFF, now);
		say(s, p, "stopped for a restart (%s)", why);
		return;
	}
	if (now - p->started_ns >= RKVD_BACKOFF_RESET_NS || !p->backoff_ns)
		p->backoff_ns = RKVD_BACKOFF_MIN_NS;
	else if ((p->backoff_ns *= 2) > RKVD_BACKOFF_MAX_NS)
		p->backoff_ns = RKVD_BACKOFF_MAX_NS;
	p->due_ns = now + p->backoff_ns;
	set_state(p, RKVD_PROC_BACKOFF, now);
	say(s, p, "%s after %.1f s; restarting in %.1f s", why, (double)(now - p->started_ns) / 1e9,
	    (double)p->backoff_ns / 1e9);
}

void rkvd_sup_reap(struct rkvd_sup *s)
{
	int st;
	pid_t pid;

	pthread_mutex_lock(&s->lock);
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		int64_t now = rkvd_now_ns();
		bool done = false;
		for (size_t i = 0; i < s->n_live && !done; i++)
			if (s->live[i].pid == pid) {
				ended(s, &s->live[i], st, now, false);
				done = true;
			}
		for (size_t i = 0; i < s->n_retiring && !done; i++)
			if (s->retiring[i].pid == pid) {
				ended(s, &s->retiring[i], st, now, true);
				s->retiring[i] = s->retiring[--s->n_retiring];
				done = true;
			}
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- the clock ---------------------------------------------------------------------- */

static void poll_starting(struct rkvd_sup *s, struct proc *p, int64_t now)
{
	pid_t who = camera_answers(p->name);

	if (who == p->pid) {
		set_state(p, RKVD_PROC_RUNNING, now);
		p->due_ns = 0;
		post(s, "camera_online", p->name, "\"pid\":%d", (int)p->pid);
		say(s, p, "running (pid %d)", (int)p->pid);
	} else {
		p->due_ns = now + POLL_NS;
	}
}

static int64_t sooner(int64_t next, int64_t at)
{
	return at && (!next || at < next) ? at : next;
}

int64_t rkvd_sup_tick(struct rkvd_sup *s, int64_t now)
{
	uint64_t junk;
	int64_t next = 0;

	if (read(s->wakefd, &junk, sizeof(junk)) < 0) {
		/* EAGAIN: nobody asked; the tick runs anyway */
	}
	pthread_mutex_lock(&s->lock);
	/* Cameras come first in live[], so an algorithm sees its camera's
	 * state of this very pass. */
	for (size_t i = 0; i < s->n_live; i++) {
		struct proc *p = &s->live[i];
		if (p->kill_ns && p->kill_ns <= now && p->pid) {
			signal_group(p->pid, SIGKILL);
			say(s, p, "did not end within %.0f s of SIGTERM: SIGKILL", RKVD_STOP_NS / 1e9);
			p->kill_ns = now + RKVD_STOP_NS; /* and again, should that be needed */
		}
		if (s->stopping)
			goto deadlines;
		if ((p->state == RKVD_PROC_STOPPED || p->state == RKVD_PROC_BACKOFF) && !p->pid &&
		    p->due_ns <= now && may_start(s, p, now))
			start(s, p, now);
		else if (p->state == RKVD_PROC_STARTING && p->due_ns <= now)
			poll_starting(s, p, now);
		/* one that may not start yet (its name is still taken, its
		 * camera not running) is looked at again a poll later */
		if (!p->pid && p->due_ns <= now)
			p->due_ns = now + POLL_NS;
deadlines:
		next = sooner(next, p->kill_ns);
		if (!s->stopping)
			next = sooner(next, p->due_ns);
	}
	for (size_t i = 0; i < s->n_retiring; i++) {
		struct proc *p = &s->retiring[i];
		if (p->kill_ns <= now) {
			signal_group(p->pid, SIGKILL);
			say(s, p, "did not end within %.0f s of SIGTERM: SIGKILL", RKVD_STOP_NS / 1e9);
			p->kill_ns = now + RKVD_STOP_NS;
		}
		next = sooner(next, p->kill_ns);
	}
	pthread_mutex_unlock(&s->lock);
	if (!next)
		return -1;
	return next > now ? next - now : 0;
}

/* ---- configs ------------------------------------------------------------------------- */

static void proc_init(struct proc *p, bool camera, const char *name, const char *cam)
{
	memset(p, 0, sizeof(*p));
	p->camera = camera;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->cam, sizeof(p->cam), "%s", cam ? cam : "");
	p->last_status = -1;
	p->since_ns = rkvd_now_ns();
}

/* Move @p (of the config being replaced) to the retiring list, stopping it. */
static void retire(struct rkvd_sup *s, struct proc *p, int64_t now)
{
	if (!p->pid)
		return;
	stop_proc(p, now, false);
	p->cc = NULL;
	p->ac = NULL;
	say(s, p, "stopping (pid %d): %s", (int)p->pid, s->stopping ? "shutting down" : "changed or removed");
	s->retiring[s->n_retiring++] = *p;
}

int rkvd_sup_apply(struct rkvd_sup *s, struct rkvd_config *cfg)
{
	struct proc *next = NULL;
	size_t n = 0, kept = 0, started = 0, stopped = 0, running = 0;
	int64_t now = rkvd_now_ns();

	if (!cfg)
		return -EINVAL;
	next = calloc(N_LIVE, sizeof(*next));
	if (!next) {
		rkvd_config_free(cfg);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		rkvd_config_free(cfg);
		free(next);
		return -ECANCELED;
	}
	for (size_t i = 0; i < s->n_live; i++)
		running += s->live[i].pid != 0;
	if (s->n_retiring + running > N_RETIRING) {
		pthread_mutex_unlock(&s->lock);
		rkvd_config_free(cfg);
		free(next);
		return -EBUSY;
	}
	bool keep[N_LIVE] = { false };
	for (uint32_t i = 0; i < cfg->n_cameras; i++) {
		const struct rkvd_camera_config *c = &cfg->cameras[i];
		struct proc *old = find_live(s, true, c->name);
		if (old && old->cc && rkvd_camera_config_equal(old->cc, c)) {
			next[n] = *old;
			keep[old - s->live] = true;
			kept++;
		} else {
			proc_init(&next[n], true, c->name, NULL);
			started++;
		}
		next[n].cc = c;
		if (rkvd_camera_save_dir(c, next[n].save_dir, sizeof(next[n].save_dir)))
			next[n].save_dir[0] = 0;
		n++;
	}
	for (uint32_t i = 0; i < cfg->n_algorithms; i++) {
		const struct rkvd_algorithm_config *a = &cfg->algorithms[i];
		struct proc *old = find_live(s, false, a->name);
		struct proc *oldcam = find_live(s, true, a->camera);
		bool cam_kept = oldcam && keep[oldcam - s->live];
		if (old && old->ac && cam_kept && rkvd_algorithm_config_equal(old->ac, a)) {
			next[n] = *old;
			keep[old - s->live] = true;
			kept++;
		} else {
			proc_init(&next[n], false, a->name, a->camera);
			started++;
		}
		next[n].ac = a;
		n++;
	}
	/* Algorithms first: they read the cameras, and should not see their
	 * camera go before they are told to stop. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < s->n_live; i++)
			if (!keep[i] && s->live[i].camera == (pass == 1)) {
				stopped += s->live[i].pid != 0;
				retire(s, &s->live[i], now);
			}
	memcpy(s->live, next, n * sizeof(*next));
	s->n_live = n;
	bool reload = s->cfg != NULL;
	rkvd_config_free(s->cfg);
	s->cfg = cfg;
	if (reload)
		post(s, "reload", NULL, "\"ok\":true,\"started\":%zu,\"stopped\":%zu,\"kept\":%zu",
		     started, stopped, kept);
	say(s, NULL, "config %s: %u camera(s), %u algorithm(s); %zu to start, %zu to stop, %zu kept",
	    cfg->path ? cfg->path : "(built in)", cfg->n_cameras, cfg->n_algorithms, started,
	    stopped, kept);
	pthread_mutex_unlock(&s->lock);
	free(next);
	/* the new processes start from the next tick */
	uint64_t one = 1;
	if (write(s->wakefd, &one, sizeof(one)) < 0) {
		/* the counter is full: a tick is due anyway */
	}
	return 0;
}

const struct rkvd_config *rkvd_sup_config(const struct rkvd_sup *s)
{
	return s->cfg;
}

void rkvd_sup_stop(struct rkvd_sup *s, bool now_kill)
{
	int64_t now = rkvd_now_ns();

	pthread_mutex_lock(&s->lock);
	if (!s->stopping)
		say(s, NULL, "stopping every process");
	s->stopping = true;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < s->n_live; i++)
			if (s->live[i].camera == (pass == 1))
				stop_proc(&s->live[i], now, now_kill);
	for (size_t i = 0; i < s->n_retiring; i++)
		stop_proc(&s->retiring[i], now, now_kill);
	for (size_t i = 0; i < s->n_live; i++)
		if (!s->live[i].pid)
			set_state(&s->live[i], RKVD_PROC_STOPPED, now);
	pthread_mutex_unlock(&s->lock);
}

bool rkvd_sup_idle(struct rkvd_sup *s)
{
	bool idle;

	pthread_mutex_lock(&s->lock);
	idle = s->n_retiring == 0;
	for (size_t i = 0; i < s->n_live && idle; i++)
		idle = s->live[i].pid == 0;
	pthread_mutex_unlock(&s->lock);
	return idle;
}

int rkvd_sup_wakefd(const struct rkvd_sup *s)
{
	return s->wakefd;
}

/* ---- the board operations (any thread) -------------------------------------------------- */

static void info_of(const struct proc *p, struct rkvd_proc_info *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", p->name);
	o->state = p->state;
	o->pid = p->pid;
	o->restarts = p->restarts;
	o->last_status = p->last_status;
	o->since_ns = p->since_ns;
	snprintf(o->save_dir, sizeof(o->save_dir), "%s", p->save_dir);
	snprintf(o->camera, sizeof(o->camera), "%s", p->cam);
}

static int list(struct rkvd_sup *s, bool cameras, struct rkvd_proc_info *out, size_t n)
{
	int count = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_live; i++) {
		if (s->live[i].camera != cameras)
			continue;
		if (out && (size_t)count < n)
			info_of(&s->live[i], &out[count]);
		count++;
	}
	pthread_mutex_unlock(&s->lock);
	return count;
}

static int op_cameras(void *ctx, struct rkvd_proc_info *out, size_t n)
{
	return list(ctx, true, out, n);
}

static int op_algorithms(void *ctx, struct rkvd_proc_info *out, size_t n)
{
	return list(ctx, false, out, n);
}

static int op_camera_config_json(void *ctx, const char *name, char *buf, size_t len)
{
	struct rkvd_sup *s = ctx;
	int r = -ENOENT;

	if (!name || !buf)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct proc *p = find_live(s, true, name);
	if (p && p->cc)
		r = rkvd_camera_config_json(p->cc, buf, len);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int op_restart(void *ctx, const char *name)
{
	struct rkvd_sup *s = ctx;
	uint64_t one = 1;
	int r = 0;

	if (!name)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct proc *p = find_live(s, true, name);
	if (!p) {
		r = -ENOENT;
	} else if (s->stopping) {
		r = -ECANCELED;
	} else {
		int64_t now = rkvd_now_ns();
		say(s, p, "restart asked for");
		if (p->pid) {
			p->restart_now = true;
			stop_proc(p, now, false);
		} else {
			p->due_ns = now;
			p->backoff_ns = 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!r && write(s->wakefd, &one, sizeof(one)) < 0) {
		/* the counter is full: a tick is due anyway */
	}
	return r;
}

static const struct rkvd_board_ops sup_ops = {
	.cameras = op_cameras,
	.algorithms = op_algorithms,
	.camera_config_json = op_camera_config_json,
	.restart = op_restart,
};

struct rkvd_board rkvd_sup_board(struct rkvd_sup *s)
{
	return (struct rkvd_board){ .ops = &sup_ops, .ctx = s };
}

/* ---- life ---------------------------------------------------------------------------------- */

int rkvd_sup_new(const char *camera_bin, struct rkvd_events *events, rkvd_log_fn log,
		 void *log_ctx, struct rkvd_sup **out)
{
	struct rkvd_sup *s;

	if (!camera_bin || !out)
		return -EINVAL;
	if (strlen(camera_bin) >= PATH_MAX)
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wakefd < 0) {
		int r = -errno;
		free(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->bin, sizeof(s->bin), "%s", camera_bin);
	s->events = events;
	s->log = log;
	s->log_ctx = log_ctx;
	*out = s;
	return 0;
}

void rkvd_sup_free(struct rkvd_sup *s)
{
	if (!s)
		return;
	if (s->wakefd >= 0)
		close(s->wakefd);
	pthread_mutex_destroy(&s->lock);
	rkvd_config_free(s->cfg);
	free(s);
}

const char *rkvd_proc_state_name(enum rkvd_proc_state st)
{
	switch (st) {
	case RKVD_PROC_STOPPED:
		return "stopped";
	case RKVD_PROC_STARTING:
		return "starting";
	case RKVD_PROC_RUNNING:
		return "running";
	case RKVD_PROC_BACKOFF:
		return "backoff";
	}
	return "unknown";
}
