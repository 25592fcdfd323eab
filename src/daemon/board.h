/* SPDX-License-Identifier: MIT */
/*
 * src/daemon/board.h - what the HTTP layer (http.c) asks of the running
 * board (supervise.c): the cameras' state, their configuration, restarts.
 *
 * The HTTP layer never sees the supervisor's structures: it calls these
 * operations, which copy what it asks for under the board's own lock, so
 * they may be called from any thread (libmicrohttpd's) while the main
 * thread reaps, restarts and reloads. A test may give the HTTP layer its
 * own operations over cameras it started itself.
 */
#ifndef RKVD_BOARD_H
#define RKVD_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rkv/daemon.h>

enum rkvd_proc_state {
	RKVD_PROC_STOPPED = 0,   /* not running (capture stopped is still RUNNING) */
	RKVD_PROC_STARTING,      /* spawned, its control channel not answering yet */
	RKVD_PROC_RUNNING,       /* its control channel answers */
	RKVD_PROC_BACKOFF,       /* died; waiting before the next start */
};

const char *rkvd_proc_state_name(enum rkvd_proc_state s); /* "stopped", ... */

struct rkvd_proc_info {
	char name[RKVD_NAME_MAX];        /* the camera's (or algorithm's) name */
	enum rkvd_proc_state state;
	pid_t pid;                       /* 0 when not running */
	uint32_t restarts;               /* starts after the first (crashes, rkv restart) */
	int last_status;                 /* waitpid() status of the last exit; -1: none */
	int64_t since_ns;                /* CLOCK_MONOTONIC of the last state change */
	char save_dir[256];              /* cameras: the directory its images go to */
	char camera[RKVD_NAME_MAX];      /* algorithms: the camera they read */
};

struct rkvd_board_ops {
	/* Copy up to @n cameras' (algorithms') state into @out, in config
	 * order; returns how many there are (which may exceed @n). */
	int (*cameras)(void *ctx, struct rkvd_proc_info *out, size_t n);
	int (*algorithms)(void *ctx, struct rkvd_proc_info *out, size_t n);
	/* The camera's configuration as JSON (rkvd_camera_config_json());
	 * -ENOENT for an unknown camera. */
	int (*camera_config_json)(void *ctx, const char *name, char *buf, size_t len);
	/* Stop camera @name's process and start it again now (counted in
	 * restarts); 0, or -ENOENT. */
	int (*restart)(void *ctx, const char *name);
};

struct rkvd_board {
	const struct rkvd_board_ops *ops;
	void *ctx;
};

#endif
