/* SPDX-License-Identifier: MIT */
/*
 * src/daemon/supervise.h - the board's processes: one rkv-camera per
 * camera, one `/bin/sh -c COMMAND` per algorithm, kept running.
 *
 * The supervisor is driven by the daemon's main thread: it calls
 * rkvd_sup_apply() with a config (the first one, then each reload),
 * rkvd_sup_reap() when SIGCHLD came, rkvd_sup_tick() when the time it asked
 * for has come or rkvd_sup_wakefd() is readable, and rkvd_sup_stop() to end.
 * Processes are forked from that thread only: their parent-death signal
 * (SIGTERM) fires when the thread that forked them ends, which must be the
 * daemon's end and nothing sooner. Every child gets its own process group
 * (a stop reaches a shell's children too), stdin from /dev/null, and the
 * daemon's stdout and stderr.
 *
 * States (board.h): a camera is STARTING from its spawn until its control
 * channel answers "status" with its pid, then RUNNING; an algorithm is
 * RUNNING once spawned, and starts only while its camera is RUNNING. A
 * process that dies is in BACKOFF, started again after 0.5 s, doubling up
 * to 30 s, back to 0.5 s when it had run 60 s; every start after the first
 * is counted in restarts. A camera is not started while a process of the
 * same name (a camera of an earlier daemon still ending, say) answers on
 * its control channel: it waits, without counting, until the name is free.
 * Stopping is SIGTERM to the process group, SIGKILL RKVD_STOP_NS later.
 *
 * Events (events.h): "camera_online", "camera_offline",
 * "process_restarted" {"process": "camera"|"algorithm", "name", "pid",
 * "restarts"} and "reload" {"ok", "started", "stopped", "kept"}.
 *
 * The board operations (rkvd_sup_board()) may be called from any thread;
 * everything else from the main thread only. Functions return 0 or a
 * negative errno and print nothing: lines for the log go to the callback.
 */
#ifndef RKVD_SUPERVISE_H
#define RKVD_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>

#include <rkv/daemon.h>

#include "board.h"
#include "events.h"

#define RKVD_STOP_NS (5 * 1000000000LL)       /* SIGTERM .. SIGKILL */
#define RKVD_BACKOFF_MIN_NS 500000000LL
#define RKVD_BACKOFF_MAX_NS (30 * 1000000000LL)
#define RKVD_BACKOFF_RESET_NS (60 * 1000000000LL) /* ran this long: backoff starts over */

struct rkvd_sup;

/* One line for the log (no newline), at each state change. */
typedef void (*rkvd_log_fn)(void *ctx, const char *line);

/*
 * A supervisor running cameras with the program @camera_bin (copied),
 * posting to @events (borrowed: it must outlive the supervisor; may be
 * NULL) and logging through @log (may be NULL). Nothing runs until
 * rkvd_sup_apply(). -ENOMEM, -ENAMETOOLONG, or the eventfd's errno.
 */
int rkvd_sup_new(const char *camera_bin, struct rkvd_events *events, rkvd_log_fn log,
		 void *log_ctx, struct rkvd_sup **out);

/* Frees the supervisor; its processes must have ended (rkvd_sup_idle()). */
void rkvd_sup_free(struct rkvd_sup *s);

/*
 * Run @cfg (taken over: freed by the supervisor, also on error): stop the
 * processes of cameras and algorithms it no longer has or has changed,
 * start the new and changed ones, leave the others untouched. An
 * algorithm whose camera is restarted is restarted too. -ECANCELED after
 * rkvd_sup_stop(); -EBUSY while too many processes of earlier configs are
 * still ending (try again in a few seconds).
 */
int rkvd_sup_apply(struct rkvd_sup *s, struct rkvd_config *cfg);

/* The config running now (main thread only; valid until the next apply). */
const struct rkvd_config *rkvd_sup_config(const struct rkvd_sup *s);

/* Collect the children that ended (after SIGCHLD). */
void rkvd_sup_reap(struct rkvd_sup *s);

/*
 * Do what is due at CLOCK_MONOTONIC @now_ns (starts, status polls, kills).
 * Returns the nanoseconds until something is due next, or -1 for nothing.
 */
int64_t rkvd_sup_tick(struct rkvd_sup *s, int64_t now_ns);

/* A file descriptor readable when a board operation (another thread)
 * wants rkvd_sup_tick() to run now; reading it is rkvd_sup_tick()'s job. */
int rkvd_sup_wakefd(const struct rkvd_sup *s);

/* Stop every process (SIGTERM, then SIGKILL after RKVD_STOP_NS) and start
 * no more. @now_kill: SIGKILL at once. */
void rkvd_sup_stop(struct rkvd_sup *s, bool now_kill);

/* true once no process of the supervisor's is left (after rkvd_sup_stop()). */
bool rkvd_sup_idle(struct rkvd_sup *s);

/* The board operations over this supervisor, for the HTTP layer. */
struct rkvd_board rkvd_sup_board(struct rkvd_sup *s);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t rkvd_now_ns(void);

#endif
