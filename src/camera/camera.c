/* SPDX-License-Identifier: MIT */
/*
 * camera.c - one camera: its source, its pool, its control channel, and
 * the loop that ties them (rkv/camera.h).
 *
 * One thread runs everything in one epoll set: the source's fd (a frame is
 * ready), the pool's producer fd (zero-copy: a consumer gave a slot back),
 * the control channel's listening socket and its clients, and an eventfd
 * that rkv_camera_stop() writes. Nothing in the loop blocks on a peer:
 * answers go out with MSG_DONTWAIT and a client that does not read them is
 * disconnected; loans never wait (a frame no slot can take is counted and
 * dropped: the pool's budget says that only happens while a block consumer
 * sets the pace).
 *
 * Zero-copy: slot i is the source's buffer i. A published frame's buffer
 * is "pending" until rkv_producer_reclaim() reports its slot free, and
 * then goes back to the driver (rkv_source_done). The reclaim is the last
 * pool call of every turn of the loop, so the producer fd is armed for the
 * pending slots whenever the loop sleeps. After the source broke, the
 * pool keeps those slots (the lost source's buffers, mapped here writable
 * when zero-copy began) and the reopened source's frames are copied into
 * them ("ext_copy"), until no consumer is attached: then the source is
 * opened again for zero-copy and the pool made again on its buffers
 * (reopen_zero_copy).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <json-c/json.h>

#include <rkv/control.h>
#include <rkv/imgops.h>

#include "camera/camera_private.h"
#include "camera/save.h"
#include "camera/preview.h"

#define MAX_CLIENTS 16
#define EV_STOP 1u
#define EV_SOURCE 2u
#define EV_CTL 3u
#define EV_POOL 4u
#define EV_SAVE 5u /* the saver has answers */
#define KEPT 64    /* published frames remembered for snapshots of them */
#define EV_CLIENT 16u /* + client index */
#define BACKOFF_MIN_NS 100000000LL
#define BACKOFF_MAX_NS 5000000000LL
/* Zero-copy: buffers beyond the slots asked for, and the pool's max_loans:
 * the frame being published and two the driver always keeps queued. */
#define ZC_EXTRA_BUFS 2u
#define ZC_LOANS 3u
#define ZC_MIN_BUFS 4u /* fewer, and consumers would get nothing */
/* The preview worker's slot budget in the camera's pool (a latest
 * consumer: its mailbox and the frame it holds), added to the slots. */
#define PREVIEW_SLOTS 2u

struct client {
	int fd;
	int snapshot;               /* waiting for the saver's answer */
	uint32_t gen;               /* which connection: answers find their client */
	int64_t active;             /* when it last spoke */
};

struct rkv_camera {
	char name[RKV_NAME_MAX + 1];
	char pool_name[RKV_NAME_MAX + 1];
	struct rkv_source_config scfg;
	char uri[512];
	char decoder[128];
	uint32_t slots, max_consumers;

	rkv_source *src;
	struct rkv_source_info info;
	rkv_producer *p;
	uint64_t capacity;
	uint32_t cam_flags;         /* RKV_CAMERA_* */

	/* zero-copy */
	int zc;                     /* frames are published in the source's buffers */
	int ext_copy;               /* the slots are a lost source's buffers, and
				     * frames are copied into them */
	uint32_t nbufs;             /* the pool's slots, when they are buffers */
	int *slot_fds;              /* our read-write exports of them */
	uint8_t **slot_map;         /* mapped writable, for ext_copy */
	size_t *slot_len;
	struct rkv_source_frame *pending; /* published, not yet back at the driver */
	uint8_t *is_pending;
	uint32_t npending;
	uint32_t *ask, *freed;      /* reclaim's lists */
	int starving;
	int src_err;                /* epoll saw POLLERR/POLLHUP on the source */
	int switching;              /* the source was closed to go back to zero-copy */

	int ep, stop_efd, ctl_fd;
	struct client clients[MAX_CLIENTS];
	uint32_t client_gen;
	rkv__saver *saver;          /* snapshots and periodic saves (save.c) */
	rkv__encoder *enc;          /* publishes JPEGs (encode.c), or NULL */
	uint32_t encode, encode_quality;
	uint64_t enc_seen;          /* the encoder's published count, for publish_fps */
	int64_t last_seq;           /* the newest frame captured; -1: none yet */
	/* The copy path's last KEPT frames published, for snapshots of a
	 * frame captured already (snapshot "seq"): an entry lasts until its
	 * slot is loaned again (only this thread loans, so its bytes are the
	 * frame's until then). */
	struct kept {
		int used;
		uint32_t slot;
		struct rkv_frame frame;
		const void *data;
		int sync_fd;        /* a DMA-BUF slot (ext_copy): sync around reads; else -1 */
	} kept[KEPT];
	unsigned kept_next;

	int source_down;            /* the source broke: reopen at reopen_at */
	int ended;                  /* the source ended (a file, no loop): run returns */
	int64_t reopen_at, backoff;
	int64_t last_pub_ts;        /* capture time of the last frame published */

	pthread_mutex_t st_lock;    /* st, capturing, fps, path: read by other threads */
	struct rkv_camera_stats st;
	int capturing;
	uint32_t fps;
	int64_t win_start;
	uint64_t win_captured, win_published;

	/* images made from the frames: the preview (preview.c), saves */
	struct rkv__orient orient;
	char backend[16];
	rkv__preview *pv;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_reason(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_reason(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ==== control requests ===================================================== */

static void answer_error(char *reply, size_t len, int err, const char *why)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(why));
	json_object_object_add(o, "errno", json_object_new_int(err));
	snprintf(reply, len, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void answer(char *reply, size_t len, struct json_object *o)
{
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	snprintf(reply, len, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static struct json_object *status_json(rkv_camera *c)
{
	struct rkv_camera_stats st;
	struct json_object *o = json_object_new_object();
	char fcc[5];

	memset(&st, 0, sizeof(st));
	if (c)
		rkv_camera_stats(c, &st, sizeof(st));
	rkv_fourcc_str(st.fourcc, fcc);
	json_object_object_add(o, "camera", json_object_new_string(c ? c->name : ""));
	json_object_object_add(o, "pool", json_object_new_string(st.pool));
	json_object_object_add(o, "source", json_object_new_string(st.source));
	json_object_object_add(o, "pid", json_object_new_int64(st.pid));
	json_object_object_add(o, "capturing", json_object_new_boolean(st.capturing));
	json_object_object_add(o, "zero_copy", json_object_new_boolean(st.zero_copy));
	json_object_object_add(o, "path", json_object_new_string(st.path));
	json_object_object_add(o, "format", json_object_new_string(fcc));
	json_object_object_add(o, "width", json_object_new_int64(st.width));
	json_object_object_add(o, "height", json_object_new_int64(st.height));
	json_object_object_add(o, "fps", json_object_new_int64(st.fps));
	json_object_object_add(o, "capture_fps", json_object_new_double(st.capture_fps));
	json_object_object_add(o, "publish_fps", json_object_new_double(st.publish_fps));
	json_object_object_add(o, "captured", json_object_new_int64((int64_t)st.captured));
	json_object_object_add(o, "published", json_object_new_int64((int64_t)st.published));
	json_object_object_add(o, "skipped", json_object_new_int64((int64_t)st.skipped));
	json_object_object_add(o, "source_dropped", json_object_new_int64((int64_t)st.source_dropped));
	json_object_object_add(o, "pool_dropped", json_object_new_int64((int64_t)st.pool_dropped));
	json_object_object_add(o, "source_errors", json_object_new_int64((int64_t)st.source_errors));
	json_object_object_add(o, "reopens", json_object_new_int64((int64_t)st.reopens));
	json_object_object_add(o, "snapshots", json_object_new_int64((int64_t)st.snapshots));
	json_object_object_add(o, "save_errors", json_object_new_int64((int64_t)st.save_errors));
	json_object_object_add(o, "save_dropped", json_object_new_int64((int64_t)st.save_dropped));
	json_object_object_add(o, "encode", json_object_new_string(c && c->encode ? "jpeg" : "none"));
	json_object_object_add(o, "encode_skipped", json_object_new_int64((int64_t)st.encode_skipped));
	if (c && c->saver)
		json_object_object_add(o, "save_dir", json_object_new_string(rkv__saver_dir(c->saver)));
	json_object_object_add(o, "starved", json_object_new_int64((int64_t)st.starved));
	json_object_object_add(o, "buffers", json_object_new_int64(st.buffers));
	json_object_object_add(o, "held", json_object_new_int64(st.held));
	if (c && c->p) {
		struct rkv_pool_stats ps;
		if (rkv_producer_stats(c->p, &ps, sizeof(ps)) == 0)
			json_object_object_add(o, "consumers", json_object_new_int64(ps.consumers));
	}
	if (c && c->pv)
		json_object_object_add(o, "preview", rkv__preview_json(c->pv));
	/* the saver's and the encoder's image work, as the preview's */
	if (c && c->saver) {
		struct json_object *sv = json_object_new_object();
		json_object_object_add(sv, "dir", json_object_new_string(rkv__saver_dir(c->saver)));
		json_object_object_add(sv, "saved", json_object_new_int64((int64_t)st.snapshots));
		json_object_object_add(sv, "errors", json_object_new_int64((int64_t)st.save_errors));
		json_object_object_add(sv, "dropped", json_object_new_int64((int64_t)st.save_dropped));
		json_object_object_add(sv, "imgops", rkv__imgops_json(rkv__saver_ops(c->saver)));
		json_object_object_add(o, "save", sv);
	}
	if (c && c->enc) {
		struct json_object *en = json_object_new_object();
		json_object_object_add(en, "format", json_object_new_string("jpeg"));
		json_object_object_add(en, "quality", json_object_new_int64(
			c->encode_quality ? c->encode_quality : 85));
		json_object_object_add(en, "skipped", json_object_new_int64((int64_t)st.encode_skipped));
		json_object_object_add(en, "imgops", rkv__imgops_json(rkv__encoder_ops(c->enc)));
		json_object_object_add(o, "encoder", en);
	}
	return o;
}

int rkv__camera_request(rkv_camera *c, const char *req, size_t len, char *reply,
			size_t reply_len, struct rkv__save_req *snap)
{
	struct json_tokener *tok;
	struct json_object *o = NULL, *v;
	const char *cmd;
	int r = 0;

	if (len == 0 || len > RKV_CONTROL_REQUEST_MAX) {
		answer_error(reply, reply_len, EMSGSIZE, "a request is 1 to 4096 bytes of JSON");
		return 0;
	}
	tok = json_tokener_new_ex(16); /* nesting deeper than a request needs is refused */
	if (!tok) {
		answer_error(reply, reply_len, ENOMEM, "out of memory");
		return 0;
	}
	o = json_tokener_parse_ex(tok, req, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len || !json_object_is_type(o, json_type_object)) {
		answer_error(reply, reply_len, EINVAL, "a request is one JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(o, "cmd", &v) || !json_object_is_type(v, json_type_string)) {
		answer_error(reply, reply_len, EINVAL, "the request has no \"cmd\" string");
		goto out;
	}
	cmd = json_object_get_string(v);
	if (strcmp(cmd, "status") == 0) {
		answer(reply, reply_len, status_json(c));
	} else if (strcmp(cmd, "capture") == 0) {
		if (!json_object_object_get_ex(o, "on", &v) || !json_object_is_type(v, json_type_boolean)) {
			answer_error(reply, reply_len, EINVAL, "capture needs \"on\": true or false");
			goto out;
		}
		if (c) {
			pthread_mutex_lock(&c->st_lock);
			c->capturing = json_object_get_boolean(v);
			pthread_mutex_unlock(&c->st_lock);
		}
		answer(reply, reply_len, status_json(c));
	} else if (strcmp(cmd, "fps") == 0) {
		int64_t fps;
		if (!json_object_object_get_ex(o, "fps", &v) || !json_object_is_type(v, json_type_int) ||
		    (fps = json_object_get_int64(v)) < 0 || fps > 1000) {
			answer_error(reply, reply_len, EINVAL, "fps needs \"fps\": 0 (every frame) to 1000");
			goto out;
		}
		if (c) {
			pthread_mutex_lock(&c->st_lock);
			c->fps = (uint32_t)fps;
			pthread_mutex_unlock(&c->st_lock);
		}
		answer(reply, reply_len, status_json(c));
	} else if (strcmp(cmd, "snapshot") == 0) {
		char why[200];
		if (rkv__save_parse(o, snap, why, sizeof(why))) {
			answer_error(reply, reply_len, EINVAL, why);
			goto out;
		}
		r = 1;
	} else if (strcmp(cmd, "preview") == 0) {
		if (!json_object_object_get_ex(o, "on", &v) || !json_object_is_type(v, json_type_boolean)) {
			answer_error(reply, reply_len, EINVAL, "preview needs \"on\": true or false");
			goto out;
		}
		if (c && !c->pv) {
			answer_error(reply, reply_len, ENOTSUP,
				     "this camera has no preview (rkv-camera --preview WxH)");
			goto out;
		}
		rkv__preview_set(c ? c->pv : NULL, json_object_get_boolean(v));
		answer(reply, reply_len, status_json(c));
	} else {
		char why[128];
		snprintf(why, sizeof(why), "unknown command \"%.40s\" (status, capture, fps, snapshot, "
			 "preview)", cmd);
		answer_error(reply, reply_len, EINVAL, why);
	}
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

/* ==== the control channel ================================================== */

/* A client's tag for the saver: its place and its connection's number. */
static uint64_t client_tag(const rkv_camera *c, int i)
{
	return (uint64_t)c->clients[i].gen << 8 | (uint64_t)i;
}

static void client_close(rkv_camera *c, int i)
{
	if (c->clients[i].snapshot)
		rkv__saver_cancel(c->saver, client_tag(c, i));
	epoll_ctl(c->ep, EPOLL_CTL_DEL, c->clients[i].fd, NULL);
	close(c->clients[i].fd);
	c->clients[i].fd = -1;
	c->clients[i].snapshot = 0;
}

/* Send @reply to client @i; one that cannot take it now is dropped. */
static void client_send(rkv_camera *c, int i, const char *reply)
{
	size_t n = strlen(reply);

	if (send(c->clients[i].fd, reply, n, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n)
		client_close(c, i);
}

static void accept_clients(rkv_camera *c)
{
	for (;;) {
		int fd = accept4(c->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		char reply[256];
		int slot = -1;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 ||
		    (cr.uid != geteuid() && cr.uid != 0)) {
			answer_error(reply, sizeof(reply), EACCES, "this camera answers its own user only");
			send(fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		/* A free place, or the one that spoke least recently: a client
		 * that keeps its connection and says nothing (or never reads
		 * its answers) cannot lock the others out. */
		int64_t oldest = INT64_MAX;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (c->clients[i].fd < 0) {
				slot = i;
				break;
			}
			if (c->clients[i].active < oldest) {
				oldest = c->clients[i].active;
				slot = i;
			}
		}
		if (c->clients[slot].fd >= 0)
			client_close(c, slot);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u32 = EV_CLIENT + (uint32_t)slot };
		if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		c->clients[slot].fd = fd;
		c->clients[slot].snapshot = 0;
		c->clients[slot].gen = ++c->client_gen ? c->client_gen : ++c->client_gen; /* never 0 */
		c->clients[slot].active = mono_ns();
	}
}

static int snapshot_want(rkv_camera *c, int i, const struct rkv__save_req *snap, char *reply,
			 size_t reply_len);

static void client_readable(rkv_camera *c, int i, uint32_t events)
{
	char req[RKV_CONTROL_REQUEST_MAX + 1];
	char reply[RKV_CONTROL_REPLY_MAX];
	struct rkv__save_req snap;
	ssize_t n;

	n = recv(c->clients[i].fd, req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || (events & (EPOLLHUP | EPOLLERR))) {
		client_close(c, i);
		return;
	}
	c->clients[i].active = mono_ns();
	if (!rkv__camera_request(c, req, (size_t)n > sizeof(req) ? RKV_CONTROL_REQUEST_MAX + 1 : (size_t)n,
				 reply, sizeof(reply), &snap))
		client_send(c, i, reply);
	else if (c->clients[i].snapshot)
		client_send(c, i, "{\"ok\":false,\"error\":\"a snapshot of this connection is "
				  "under way; wait for its answer\",\"errno\":16}");
	else if (snapshot_want(c, i, &snap, reply, sizeof(reply)))
		client_send(c, i, reply);
	else
		c->clients[i].snapshot = 1; /* answered once saved (saver_answers) */
}

/* The saver's finished answers, each to its client if it is still there. */
static void saver_answers(rkv_camera *c)
{
	char reply[RKV_CONTROL_REPLY_MAX];
	uint64_t tag;

	while (rkv__saver_answer(c->saver, &tag, reply, sizeof(reply))) {
		int i = (int)(tag & 0xff);
		if (tag && i < MAX_CLIENTS && c->clients[i].fd >= 0 && c->clients[i].snapshot &&
		    client_tag(c, i) == tag) {
			c->clients[i].snapshot = 0;
			client_send(c, i, reply);
		}
	}
}

/* ==== frames ================================================================ */

static void count(rkv_camera *c, uint64_t *field)
{
	pthread_mutex_lock(&c->st_lock);
	(*field)++;
	pthread_mutex_unlock(&c->st_lock);
}

/* Which path runs and why (stats.path, stats.zero_copy). */
static void set_path(rkv_camera *c, int zc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_path(rkv_camera *c, int zc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->st_lock);
	va_start(ap, fmt);
	vsnprintf(c->st.path, sizeof(c->st.path), fmt, ap);
	va_end(ap);
	c->st.zero_copy = (uint32_t)zc;
	pthread_mutex_unlock(&c->st_lock);
}

/* Bracket the CPU's writes into a DMA-BUF (ext_copy). A buffer whose
 * exporter has no sync needs none. */
static void dmabuf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync sync = { .flags = flags };

	while (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) < 0 && errno == EINTR)
		;
}

/* Copy @f into a free slot and publish it. */
/* Forget the kept frames in slot @slot (about to be written), or every
 * one (@slot UINT32_MAX: the pool changes). */
static void kept_drop(rkv_camera *c, uint32_t slot)
{
	for (unsigned i = 0; i < KEPT; i++)
		if (c->kept[i].used && (slot == UINT32_MAX || c->kept[i].slot == slot))
			c->kept[i].used = 0;
}

static int publish_copy(rkv_camera *c, const struct rkv_source_frame *f)
{
	struct rkv_loan l;
	uint8_t *dst;
	int r = rkv_producer_loan(c->p, &l, 0), fd = -1;

	if (r)
		return r;
	kept_drop(c, l.slot);
	if (c->ext_copy) {
		fd = c->slot_fds[l.slot];
		dst = c->slot_map[l.slot] + l.fd_offset;
		dmabuf_sync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
		memcpy(dst, f->data, f->frame.bytes_used);
		dmabuf_sync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
	} else {
		dst = l.data;
		memcpy(dst, f->data, f->frame.bytes_used);
	}
	r = rkv_producer_publish(c->p, &l, &f->frame);
	if (r < 0 && r != -EINTR) {
		rkv_producer_cancel(c->p, &l);
		return r;
	}
	struct kept *k = &c->kept[c->kept_next++ % KEPT];
	*k = (struct kept){ .used = 1, .slot = l.slot, .frame = f->frame, .data = dst, .sync_fd = fd };
	return 0;
}

/* Frame @seq, captured and still in the camera's hands: a kept copy-path
 * frame, or a zero-copy buffer consumers still hold or have queued (not
 * back at the driver). 1 and *@k filled, or 0. */
static int kept_find(const rkv_camera *c, uint64_t seq, struct kept *k)
{
	for (unsigned i = 0; i < KEPT; i++)
		if (c->kept[i].used && c->kept[i].frame.seq == seq) {
			*k = c->kept[i];
			return 1;
		}
	for (uint32_t s = 0; c->zc && s < c->nbufs; s++)
		if (c->is_pending[s] && c->pending[s].frame.seq == seq) {
			*k = (struct kept){ .used = 1, .slot = s, .frame = c->pending[s].frame,
					    .data = c->pending[s].data, .sync_fd = -1 };
			return 1;
		}
	return 0;
}

/* A snapshot request @snap from client @i: of a frame to come (the saver
 * waits for it), or of one captured already and still here (copied to
 * the saver now). 0: answered later; else an error answer in @reply. */
static int snapshot_want(rkv_camera *c, int i, const struct rkv__save_req *snap, char *reply,
			 size_t reply_len)
{
	struct kept k;

	if (snap->has_seq && c->last_seq >= 0 && snap->seq <= (uint64_t)c->last_seq &&
	    kept_find(c, snap->seq, &k)) {
		if (k.sync_fd >= 0)
			dmabuf_sync(k.sync_fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
		int r = rkv__saver_want_frame(c->saver, snap, client_tag(c, i), &k.frame, k.data,
					      reply, reply_len);
		if (k.sync_fd >= 0)
			dmabuf_sync(k.sync_fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
		return r;
	}
	return rkv__saver_want(c->saver, snap, client_tag(c, i), c->last_seq, reply, reply_len);
}

/* Publish @f in its own buffer's slot; it is pending from then on. */
static int publish_zc(rkv_camera *c, const struct rkv_source_frame *f)
{
	struct rkv_loan l;
	uint32_t s = (uint32_t)f->buf;
	int r;

	if (f->buf < 0 || s >= c->nbufs || c->is_pending[s])
		return -EINVAL;
	/* The buffer was at the driver, so no consumer has its slot. */
	r = rkv_producer_loan_slot(c->p, s, &l);
	if (r)
		return r;
	r = rkv_producer_publish(c->p, &l, &f->frame);
	if (r < 0 && r != -EINTR) {
		rkv_producer_cancel(c->p, &l);
		return r;
	}
	c->pending[s] = *f;
	c->is_pending[s] = 1;
	c->npending++;
	return 0;
}

/* Frame @f came from the source: publish it, or not. It goes back to the
 * source at once, unless it was published in its own buffer (reclaim()
 * gives that back). */
static void frame(rkv_camera *c, struct rkv_source_frame *f)
{
	int capturing, r;
	uint32_t fps;
	int64_t ts = f->frame.timestamp_ns;

	pthread_mutex_lock(&c->st_lock);
	c->st.captured++;
	c->win_captured++;
	capturing = c->capturing;
	fps = c->fps;
	pthread_mutex_unlock(&c->st_lock);

	/* Saves take their copy here, before the frame can go anywhere. */
	rkv__saver_frame(c->saver, &f->frame, f->data);
	c->last_seq = (int64_t)f->frame.seq;
	/* At most @fps a second: a frame due less than 0.9 periods after the
	 * last one published is skipped (the tolerance keeps a source at
	 * exactly that rate from losing frames to jitter). */
	if (!capturing || (fps && c->last_pub_ts &&
			   ts - c->last_pub_ts < (int64_t)(900000000ull / fps))) {
		count(c, &c->st.skipped);
		goto done;
	}
	if (c->enc) { /* published by the encoder thread, which counts it */
		rkv__encoder_frame(c->enc, &f->frame, f->data);
		c->last_pub_ts = ts;
		goto done;
	}
	r = c->zc ? publish_zc(c, f) : publish_copy(c, f);
	if (r) {
		count(c, &c->st.pool_dropped);
		goto done;
	}
	c->last_pub_ts = ts;
	pthread_mutex_lock(&c->st_lock);
	c->st.published++;
	c->win_published++;
	pthread_mutex_unlock(&c->st_lock);
	rkv__preview_frame(c->pv, ts);
	if (c->zc)
		return;
done:
	rkv_source_done(c->src, f);
}

/*
 * Zero-copy: every pending buffer no consumer holds or has queued any more
 * goes back to the driver; the producer fd is armed for the others. The
 * last pool call of every turn of the loop (any loan call would take the
 * arming back).
 */
static void reclaim(rkv_camera *c)
{
	uint32_t n = 0;
	int got;

	if (!c->zc)
		return;
	for (uint32_t i = 0; i < c->nbufs; i++)
		if (c->is_pending[i])
			c->ask[n++] = i;
	got = rkv_producer_reclaim(c->p, c->ask, n, c->freed);
	for (int k = 0; k < got; k++) {
		uint32_t s = c->freed[k];
		c->is_pending[s] = 0;
		c->npending--;
		rkv_source_done(c->src, &c->pending[s]);
	}
	/* Every buffer out: the driver has nothing to capture into until a
	 * consumer gives one back. Counted once each time it happens. */
	int starving = c->npending >= c->nbufs;
	pthread_mutex_lock(&c->st_lock);
	if (starving && !c->starving)
		c->st.starved++;
	c->st.held = c->npending;
	pthread_mutex_unlock(&c->st_lock);
	c->starving = starving;
}

/* ==== the source ============================================================ */

static void source_close(rkv_camera *c)
{
	if (!c->src)
		return;
	epoll_ctl(c->ep, EPOLL_CTL_DEL, rkv_source_fd(c->src), NULL);
	rkv_source_close(c->src);
	c->src = NULL;
}

/* Open the source: for zero-copy (@zc: slots + 2 buffers, exported), or
 * for the copy path (not exported). Its frames must fit the pool's slots. */
static int source_open(rkv_camera *c, int zc, char *why, size_t why_len)
{
	struct rkv_source_config cfg = c->scfg;
	int r;

	cfg.errbuf = why;
	cfg.errbuf_len = why_len;
	if (zc) {
		cfg.buffers = c->slots + ZC_EXTRA_BUFS;
		if (cfg.buffers > 64) /* the most a source takes */
			cfg.buffers = 64;
		cfg.flags &= ~RKV_SOURCE_NO_EXPORT;
	} else {
		cfg.flags |= RKV_SOURCE_NO_EXPORT;
	}
	r = rkv_source_open(&cfg, &c->src, &c->info);
	if (r)
		return r;
	if (c->capacity && c->info.frame_size > c->capacity) {
		set_reason(why, why_len, "the source's frames grew to %" PRIu64 " bytes; the pool's slots "
			   "hold %" PRIu64, c->info.frame_size, c->capacity);
		rkv_source_close(c->src);
		c->src = NULL;
		return -EMSGSIZE;
	}
	return 0;
}

/* Start the opened source and watch its fd. */
static int source_start(rkv_camera *c, char *why, size_t why_len)
{
	int r = rkv_source_start(c->src), fd;

	if (r) {
		set_reason(why, why_len, "cannot start the source: %s", strerror(-r));
		rkv_source_close(c->src);
		c->src = NULL;
		return r;
	}
	fd = rkv_source_fd(c->src);
	if (fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = EV_SOURCE };
		epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev);
	}
	c->src_err = 0;
	return 0;
}

/*
 * Zero-copy ends with the source it ran on: the pending buffers die with
 * it (consumers keep theirs: their DMA-BUFs hold them); their slots come
 * free in the pool's books as consumers release them, and are filled by
 * copies from the next source on (ext_copy).
 */
static void zc_lost(rkv_camera *c)
{
	if (!c->zc)
		return;
	epoll_ctl(c->ep, EPOLL_CTL_DEL, rkv_producer_fd(c->p), NULL);
	memset(c->is_pending, 0, c->nbufs);
	c->npending = 0;
	c->starving = 0;
	c->zc = 0;
	c->ext_copy = 1;
	pthread_mutex_lock(&c->st_lock);
	c->st.held = 0;
	pthread_mutex_unlock(&c->st_lock);
	set_path(c, 0, "copy: the source broke; its %u buffers stay the pool's slots and the reopened "
		 "source's frames are copied into them until no consumer is attached", c->nbufs);
}

static void source_broke(rkv_camera *c, int64_t now)
{
	struct rkv_source_stats ss;

	if (rkv_source_stats(c->src, &ss, sizeof(ss)) == 0) {
		pthread_mutex_lock(&c->st_lock);
		c->st.source_dropped += ss.dropped;
		pthread_mutex_unlock(&c->st_lock);
	}
	count(c, &c->st.source_errors);
	zc_lost(c);
	source_close(c);
	c->source_down = 1;
	c->backoff = c->backoff ? c->backoff * 2 : BACKOFF_MIN_NS;
	if (c->backoff > BACKOFF_MAX_NS)
		c->backoff = BACKOFF_MAX_NS;
	c->reopen_at = now + c->backoff;
}

/* Take the frames the source has ready: one when it has an fd (the
 * loop's epoll, level-triggered, comes back at once for the next: no
 * DQBUF just to hear EAGAIN on every frame), else all of them. */
static void drain_source(rkv_camera *c)
{
	int err = c->src_err, max = rkv_source_fd(c->src) >= 0 ? 1 : 64;

	c->src_err = 0;
	for (int k = 0; k < max && c->src; k++) {
		struct rkv_source_frame f;
		int r = rkv_source_next(c->src, &f, 0);
		if (r == -EAGAIN || r == -EINTR)
			return;
		/* Every buffer out (zero-copy, consumers hold them): nothing
		 * to take until reclaim() gives one back; unless the device
		 * said it broke, which next() cannot see without a buffer. */
		if (r == -EBUSY && !err)
			return;
		if (r == -EPIPE) { /* a file that does not loop is over: so is the camera */
			c->ended = 1;
			return;
		}
		if (r) {
			source_broke(c, mono_ns());
			return;
		}
		frame(c, &f);
	}
}

/* ==== zero-copy setup ======================================================= */

static void zc_free(rkv_camera *c)
{
	kept_drop(c, UINT32_MAX); /* copies in the slots unmapped here */
	for (uint32_t i = 0; i < c->nbufs; i++) {
		if (c->slot_map && c->slot_map[i])
			munmap(c->slot_map[i], c->slot_len[i]);
		if (c->slot_fds && c->slot_fds[i] >= 0)
			close(c->slot_fds[i]);
	}
	free(c->slot_fds);
	free(c->slot_map);
	free(c->slot_len);
	free(c->pending);
	free(c->is_pending);
	free(c->ask);
	free(c->freed);
	c->slot_fds = NULL;
	c->slot_map = NULL;
	c->slot_len = NULL;
	c->pending = NULL;
	c->is_pending = NULL;
	c->ask = c->freed = NULL;
	c->nbufs = 0;
	c->zc = c->ext_copy = 0;
}

/*
 * The opened source's buffers as the pool's slots. Returns 0 (zero-copy
 * runs), 1 when it cannot (@reason says why; the caller copies), or a
 * negative errno that ends the camera (@why says why).
 */
static int zc_setup(rkv_camera *c, const char *notes, char *reason, size_t reason_len,
		    char *why, size_t why_len)
{
	uint32_t n = c->info.nbufs;
	int *ro = NULL, r;
	uint64_t *offs = NULL;

	if (n == 0) {
		if (strcmp(c->info.backend, "v4l2") == 0)
			set_reason(reason, reason_len, "copy: the device's buffers cannot be exported%s%s",
				   notes[0] ? ": " : "", notes);
		else
			set_reason(reason, reason_len, "copy: the %s source has no buffers to export",
				   c->info.backend);
		return 1;
	}
	if (n < ZC_MIN_BUFS) {
		set_reason(reason, reason_len, "copy: the driver gave %u buffers; zero-copy needs %u", n,
			   ZC_MIN_BUFS);
		return 1;
	}
	c->nbufs = n;
	c->slot_fds = malloc(n * sizeof(*c->slot_fds));
	c->slot_map = calloc(n, sizeof(*c->slot_map));
	c->slot_len = calloc(n, sizeof(*c->slot_len));
	c->pending = calloc(n, sizeof(*c->pending));
	c->is_pending = calloc(n, 1);
	c->ask = calloc(n, sizeof(*c->ask));
	c->freed = calloc(n, sizeof(*c->freed));
	ro = malloc(n * sizeof(*ro));
	offs = calloc(n, sizeof(*offs));
	if (!c->slot_fds || !c->slot_map || !c->slot_len || !c->pending || !c->is_pending ||
	    !c->ask || !c->freed || !ro || !offs) {
		free(ro);
		free(offs);
		zc_free(c);
		set_reason(why, why_len, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		c->slot_fds[i] = ro[i] = -1;
	r = rkv_source_export(c->src, c->slot_fds, offs, n);
	if (r) {
		for (uint32_t i = 0; i < n; i++)
			c->slot_fds[i] = -1;
		set_reason(reason, reason_len, "copy: exporting the buffers failed: %s", strerror(-r));
		goto fallback;
	}
	r = rkv_source_export_ro(c->src, ro, n);
	if (r) {
		for (uint32_t i = 0; i < n; i++)
			ro[i] = -1;
		set_reason(reason, reason_len, "copy: exporting the buffers read-only failed: %s",
			   strerror(-r));
		goto fallback;
	}
	/* Mapped writable now, while the device is there: should it break,
	 * the next device's frames are copied into these (ext_copy). */
	for (uint32_t i = 0; i < n; i++) {
		off_t len = lseek(c->slot_fds[i], 0, SEEK_END);
		void *m = len > 0 ? mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED,
					 c->slot_fds[i], 0)
				  : MAP_FAILED;
		if (m == MAP_FAILED) {
			set_reason(reason, reason_len,
				   "copy: the exported buffers cannot be mapped writable: %s",
				   strerror(len > 0 ? errno : EINVAL));
			goto fallback;
		}
		c->slot_map[i] = m;
		c->slot_len[i] = (size_t)len;
		(void)madvise(m, (size_t)len, MADV_DONTFORK); /* as the source's own */
	}
	struct rkv_pool_opts po = {
		.slot_count = n,
		.slot_capacity = c->capacity,
		.max_consumers = c->max_consumers,
		.max_loans = ZC_LOANS,
		.slot_fds = c->slot_fds,
		.slot_offsets = offs,
		.slot_ro_fds = ro,
	};
	r = rkv_producer_create(c->pool_name, &po, &c->p);
	if (r == -EADDRINUSE) {
		set_reason(why, why_len, "pool '%s' has a live producer already", c->pool_name);
		goto fatal;
	}
	if (r) {
		set_reason(reason, reason_len, "copy: a pool of the exported buffers cannot be made: %s",
			   strerror(-r));
		goto fallback;
	}
	for (uint32_t i = 0; i < n; i++)
		close(ro[i]); /* the pool has its own */
	free(ro);
	free(offs);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = EV_POOL };
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, rkv_producer_fd(c->p), &ev) < 0) {
		r = -errno;
		set_reason(why, why_len, "cannot watch the pool: %s", strerror(-r));
		kept_drop(c, UINT32_MAX);
		rkv_producer_destroy(c->p);
		c->p = NULL;
		zc_free(c);
		return r;
	}
	c->zc = 1;
	set_path(c, 1, "zero-copy: frames are published in the driver's %u buffers (DMA-BUF), "
		 "%u of them for consumers", n, n - ZC_LOANS);
	return 0;
fallback:
	r = 1;
fatal:
	for (uint32_t i = 0; i < n; i++)
		if (ro[i] >= 0)
			close(ro[i]);
	free(ro);
	free(offs);
	zc_free(c);
	return r;
}

/* A pool of the camera's own memory for the copy path. */
static int copy_pool(rkv_camera *c, char *why, size_t why_len)
{
	struct rkv_pool_opts po = {
		.slot_count = c->slots,
		.slot_capacity = c->capacity,
		.max_consumers = c->max_consumers,
	};
	int r;

	if (c->encode) { /* JPEGs: slots of their bound, and the encoder publishes */
		po.slot_capacity = rkv_imgops_jpeg_bound(c->info.width, c->info.height);
		if (c->info.fourcc == RKV_FMT_JPEG || !po.slot_capacity) {
			set_reason(why, why_len, "the source's frames cannot be encoded as JPEG");
			return -EINVAL;
		}
	}
	r = rkv_producer_create(c->pool_name, &po, &c->p);
	if (r == 0 && c->encode) {
		r = rkv__encoder_open(&c->enc, c->p, c->encode_quality ? c->encode_quality : 85,
				      c->backend);
		if (r) {
			kept_drop(c, UINT32_MAX);
			rkv_producer_destroy(c->p);
			c->p = NULL;
			set_reason(why, why_len, "cannot start the encoder: %s", strerror(-r));
			return r;
		}
	}
	if (r)
		set_reason(why, why_len, r == -EADDRINUSE ? "pool '%s' has a live producer already"
							 : "cannot create pool '%s'",
			   c->pool_name);
	return r;
}

/*
 * The source broke while frames were copied into the first device's
 * buffers, and no consumer is attached: nobody holds those slots, so the
 * pool is made again (same name) on the reopened device's buffers, zero-
 * copy where it exports them. Returns 0 (opened, not started; c->p may
 * be NULL if no pool could be made: the camera ends), 1 when the device
 * cannot export (nothing changed: open it as usual), or the open's
 * -errno (nothing changed: try again later).
 */
static int reopen_zero_copy(rkv_camera *c, char *why, size_t why_len)
{
	char notes[256] = "", reason[160] = "";
	uint64_t old_capacity = c->capacity;
	int r;

	c->capacity = 0; /* a new pool: the frames need not fit the old one */
	r = source_open(c, 1, notes, sizeof(notes));
	if (r) {
		c->capacity = old_capacity;
		set_reason(why, why_len, "%s", notes);
		return r;
	}
	if (c->info.nbufs < ZC_MIN_BUFS) {
		rkv_source_close(c->src);
		c->src = NULL;
		c->capacity = old_capacity;
		return 1;
	}
	kept_drop(c, UINT32_MAX);
	rkv_producer_destroy(c->p);
	c->p = NULL;
	zc_free(c);
	c->capacity = c->info.frame_size;
	r = zc_setup(c, notes, reason, sizeof(reason), why, why_len);
	if (r == 1) {
		rkv_source_close(c->src);
		c->src = NULL;
		c->capacity = 0;
		r = source_open(c, 0, why, why_len);
		if (r == 0) {
			c->capacity = c->info.frame_size;
			r = copy_pool(c, why, why_len);
		}
		if (r == 0)
			set_path(c, 0, "%s", reason);
	}
	if (r && c->src) {
		rkv_source_close(c->src);
		c->src = NULL;
	}
	pthread_mutex_lock(&c->st_lock);
	c->st.buffers = c->nbufs;
	c->st.held = 0;
	pthread_mutex_unlock(&c->st_lock);
	return r < 0 && c->p ? r : 0;
}

/* Open the source again after it broke (not started yet). */
static int reopen(rkv_camera *c, char *why, size_t why_len)
{
	struct rkv_pool_stats ps;
	int r = 1;

	if (c->ext_copy && !(c->cam_flags & RKV_CAMERA_COPY) &&
	    rkv_producer_stats(c->p, &ps, sizeof(ps)) == 0 &&
	    ps.consumers == rkv__preview_attached(c->pv))
		r = reopen_zero_copy(c, why, why_len);
	if (r == 1)
		r = source_open(c, 0, why, why_len);
	return r;
}

/* ==== create / run / destroy ================================================ */

int rkv_camera_create(const struct rkv_camera_config *cfg_in, rkv_camera **out)
{
	struct rkv_camera_config cfg;
	struct sockaddr_un sun;
	socklen_t sunlen;
	rkv_camera *c;
	char why[256] = "", notes[256] = "", reason[160] = "";
	int r;

	if (!out || !cfg_in)
		return -EINVAL;
	*out = NULL;
	memset(&cfg, 0, sizeof(cfg));
	/* Older sizes are taken too: the one before saving and encoding
	 * (none of either: the defaults), the one before the preview's
	 * fields (no preview). */
	if (cfg_in->size && cfg_in->size != sizeof(cfg) &&
	    cfg_in->size != offsetof(struct rkv_camera_config, save) &&
	    cfg_in->size != offsetof(struct rkv_camera_config, preview_width))
		return cfg_in->size > sizeof(cfg) ? -E2BIG : -EINVAL;
	memcpy(&cfg, cfg_in, cfg_in->size ? cfg_in->size : sizeof(cfg));
	if (!cfg.name || rkv__control_addr(cfg.name, &sun, &sunlen) ||
	    (cfg.flags & ~(RKV_CAMERA_PAUSED | RKV_CAMERA_COPY | RKV_CAMERA_PREVIEW_OFF |
			   RKV_CAMERA_PREVIEW_TIME)) || cfg.slots > RKV_MAX_SLOTS ||
	    (cfg.encode && cfg.encode != RKV_FMT_JPEG) || cfg.encode_quality > 100) {
		set_reason(cfg.errbuf, cfg.errbuf_len, "invalid camera configuration (name: 1 to %d of "
			   "[A-Za-z0-9._-])", RKV_NAME_MAX);
		return -EINVAL;
	}
	if ((cfg.source.uri && strlen(cfg.source.uri) >= 512) ||
	    (cfg.source.decoder && strlen(cfg.source.decoder) >= 128))
		return -EINVAL;
	if ((cfg.rotate != 0 && cfg.rotate != 90 && cfg.rotate != 180 && cfg.rotate != 270) ||
	    (cfg.flip & ~(RKV_CAMERA_FLIP_H | RKV_CAMERA_FLIP_V)) ||
	    (cfg.backend && strlen(cfg.backend) >= 16)) {
		set_reason(cfg.errbuf, cfg.errbuf_len, "invalid camera configuration (rotate: 0, 90, 180 "
			   "or 270; flip: RKV_CAMERA_FLIP_H/V; backend: auto, cpu, rga or mpp)");
		return -EINVAL;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->st_lock, NULL);
	c->ep = c->stop_efd = c->ctl_fd = -1;
	c->last_seq = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		c->clients[i].fd = -1;
	snprintf(c->name, sizeof(c->name), "%s", cfg.name);
	snprintf(c->pool_name, sizeof(c->pool_name), "%s", cfg.pool ? cfg.pool : cfg.name);
	c->scfg = cfg.source;
	if (cfg.source.uri) {
		snprintf(c->uri, sizeof(c->uri), "%s", cfg.source.uri);
		c->scfg.uri = c->uri;
	}
	if (cfg.source.decoder) {
		snprintf(c->decoder, sizeof(c->decoder), "%s", cfg.source.decoder);
		c->scfg.decoder = c->decoder;
	}
	c->scfg.errbuf = NULL;
	c->scfg.errbuf_len = 0;
	c->slots = cfg.slots ? cfg.slots : 8;
	if (cfg.preview_width || cfg.preview_height)
		c->slots += PREVIEW_SLOTS;
	c->max_consumers = cfg.max_consumers;
	c->capturing = !(cfg.flags & RKV_CAMERA_PAUSED);
	c->cam_flags = cfg.flags;
	c->encode = cfg.encode;
	c->encode_quality = cfg.encode_quality;
	c->orient.rotate = cfg.rotate;
	c->orient.flip = cfg.flip;
	snprintf(c->backend, sizeof(c->backend), "%s", cfg.backend ? cfg.backend : "auto");

	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->ep < 0 || c->stop_efd < 0) {
		r = -errno;
		goto fail;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = EV_STOP };
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->stop_efd, &ev) < 0) {
		r = -errno;
		goto fail;
	}

	/* The control channel first: a second camera of this name learns at
	 * once that it lost. */
	c->ctl_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->ctl_fd < 0 || bind(c->ctl_fd, (struct sockaddr *)&sun, sunlen) < 0 ||
	    listen(c->ctl_fd, 16) < 0) {
		r = -errno;
		set_reason(why, sizeof(why), r == -EADDRINUSE ? "a camera named '%s' is running"
							     : "cannot open the control channel of '%s'",
			   c->name);
		goto fail;
	}
	struct epoll_event cev = { .events = EPOLLIN, .data.u32 = EV_CTL };
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->ctl_fd, &cev) < 0) {
		r = -errno;
		goto fail;
	}

	r = rkv__saver_open(&c->saver, c->name, cfg.save, c->orient.rotate, c->orient.flip,
			    c->backend, why, sizeof(why));
	if (r)
		goto fail;
	struct epoll_event sev = { .events = EPOLLIN, .data.u32 = EV_SAVE };
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, rkv__saver_fd(c->saver), &sev) < 0) {
		r = -errno;
		goto fail;
	}

	/* Zero-copy where the source exports its buffers, else copy. */
	r = 1;
	if (cfg.flags & RKV_CAMERA_COPY) {
		set_reason(reason, sizeof(reason), "copy: asked for (RKV_CAMERA_COPY)");
	} else if (cfg.encode) {
		set_reason(reason, sizeof(reason), "copy: frames are published JPEG-encoded");
	} else {
		r = source_open(c, 1, notes, sizeof(notes));
		if (r) {
			snprintf(why, sizeof(why), "%s", notes);
			goto fail;
		}
		c->capacity = c->info.frame_size;
		r = zc_setup(c, notes, reason, sizeof(reason), why, sizeof(why));
		if (r < 0)
			goto fail;
		if (r) {
			rkv_source_close(c->src);
			c->src = NULL;
			c->capacity = 0;
		}
	}
	if (r) {
		r = source_open(c, 0, why, sizeof(why));
		if (r)
			goto fail;
		c->capacity = c->info.frame_size;
		r = copy_pool(c, why, sizeof(why));
		if (r)
			goto fail;
		set_path(c, 0, "%s", reason);
	}
	why[0] = '\0';
	r = source_start(c, why, sizeof(why));
	if (r)
		goto fail;
	c->st.pid = getpid();
	c->st.width = c->info.width;
	c->st.height = c->info.height;
	c->st.fourcc = c->encode ? c->encode : c->info.fourcc;
	c->st.buffers = c->nbufs;
	snprintf(c->st.source, sizeof(c->st.source), "%s %s", c->info.backend,
		 c->info.device[0] ? c->info.device : "");
	snprintf(c->st.pool, sizeof(c->st.pool), "%s", c->pool_name);
	if (cfg.preview_width || cfg.preview_height) {
		struct rkv__preview_config pc = {
			.pool = c->pool_name,
			.fourcc = c->info.fourcc,
			.width = c->info.width,
			.height = c->info.height,
			.bound_w = cfg.preview_width,
			.bound_h = cfg.preview_height,
			.fps = cfg.preview_fps,
			.quality = cfg.preview_quality,
			.timestamp = !!(cfg.flags & RKV_CAMERA_PREVIEW_TIME),
			.on = !(cfg.flags & RKV_CAMERA_PREVIEW_OFF),
			.orient = c->orient,
			.backend = c->backend,
		};
		r = rkv__preview_create(&pc, &c->pv, why, sizeof(why));
		if (r)
			goto fail;
	}
	c->win_start = mono_ns();
	*out = c;
	return 0;
fail:
	set_reason(cfg.errbuf, cfg.errbuf_len, "%s", why[0] ? why : strerror(-r));
	rkv_camera_destroy(c);
	return r;
}

/*
 * Copying into a lost device's buffers, and nobody attached: close the
 * source and open it again at once, which makes the pool again on the
 * new buffers (reopen_zero_copy). Looked at once a second.
 */
static void back_to_zero_copy(rkv_camera *c, int64_t now)
{
	struct rkv_pool_stats ps;

	if (!c->ext_copy || c->source_down || (c->cam_flags & RKV_CAMERA_COPY) ||
	    rkv_producer_stats(c->p, &ps, sizeof(ps)) != 0 ||
	    ps.consumers != rkv__preview_attached(c->pv))
		return;
	source_close(c);
	c->source_down = 1;
	c->reopen_at = now;
	c->backoff = BACKOFF_MIN_NS / 2; /* should the open fail: 0.1 s, doubling */
	c->switching = 1;
}

static void update_rates(rkv_camera *c, int64_t now)
{
	double secs = (now - c->win_start) / 1e9;

	if (secs < 1.0)
		return;
	back_to_zero_copy(c, now);
	pthread_mutex_lock(&c->st_lock);
	if (c->enc) {
		uint64_t enc, skip, fail;
		rkv__encoder_stats(c->enc, &enc, &skip, &fail);
		c->win_published += enc - c->enc_seen;
		c->enc_seen = enc;
	}
	c->st.capture_fps = c->win_captured / secs;
	c->st.publish_fps = c->win_published / secs;
	c->win_captured = c->win_published = 0;
	pthread_mutex_unlock(&c->st_lock);
	c->win_start = now;
}

int rkv_camera_run(rkv_camera *c)
{
	struct epoll_event evs[16];

	if (!c)
		return -EINVAL;
	for (;;) {
		int64_t now = mono_ns();
		int timeout = 200;

		if (c->source_down) {
			int64_t left = (c->reopen_at - now) / 1000000;
			timeout = left < 0 ? 0 : left > 200 ? 200 : (int)left;
		} else if (c->src && rkv_source_fd(c->src) < 0) {
			timeout = 2; /* no fd: look for frames often */
		}
		int n = epoll_wait(c->ep, evs, 16, timeout), source_ready = 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			uint32_t tag = evs[i].data.u32;
			if (tag == EV_STOP)
				return 0;
			if (tag == EV_SOURCE)
				source_ready = 1;
			if (tag == EV_SOURCE && (evs[i].events & (EPOLLERR | EPOLLHUP)))
				c->src_err = 1;
			if (tag == EV_SAVE)
				saver_answers(c);
			if (tag == EV_CTL)
				accept_clients(c);
			else if (tag >= EV_CLIENT && tag < EV_CLIENT + MAX_CLIENTS &&
				 c->clients[tag - EV_CLIENT].fd >= 0)
				client_readable(c, (int)(tag - EV_CLIENT), evs[i].events);
		}
		now = mono_ns();
		if (c->source_down && now >= c->reopen_at) {
			char why[256];
			int r = reopen(c, why, sizeof(why));
			if (!c->p)
				return r < 0 ? r : -EIO; /* no pool could be made again */
			if (r == 0) {
				r = source_start(c, why, sizeof(why));
				if (r)
					zc_lost(c); /* a new zero-copy pool, its source gone */
			}
			if (r == 0) {
				source_ready = 1;
				c->source_down = 0;
				c->backoff = 0;
				if (!c->switching) /* not broken: closed to go back to zero-copy */
					count(c, &c->st.reopens);
				c->switching = 0;
			} else {
				c->backoff = c->backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : c->backoff * 2;
				c->reopen_at = now + c->backoff;
			}
		}
		/* Only when the source's fd said so (a source without one: on
		 * every turn): a turn the pool's fd woke for (a consumer gave a
		 * buffer back) need not ask the driver for frames. And after
		 * 200 ms of silence: a source that broke where its fd cannot
		 * say so (a re-queue the driver refused while it had no other
		 * buffer) is found by asking. */
		if (!c->source_down && c->src &&
		    (source_ready || n == 0 || rkv_source_fd(c->src) < 0))
			drain_source(c);
		if (c->ended)
			return -EPIPE;
		reclaim(c); /* the last pool call of the turn: it arms the pool's fd */
		update_rates(c, now);
	}
}

void rkv_camera_stop(rkv_camera *c)
{
	uint64_t one = 1;

	if (c && c->stop_efd >= 0) {
		ssize_t n = write(c->stop_efd, &one, sizeof(one));
		(void)n;
	}
}

int rkv_camera_stats(rkv_camera *c, struct rkv_camera_stats *out, size_t size)
{
	struct rkv_camera_stats st;

	if (!c || !out || size < offsetof(struct rkv_camera_stats, path))
		return -EINVAL;
	pthread_mutex_lock(&c->st_lock);
	st = c->st;
	st.capturing = (uint32_t)c->capturing;
	st.fps = c->fps;
	pthread_mutex_unlock(&c->st_lock);
	if (c->saver)
		rkv__saver_stats(c->saver, &st.snapshots, &st.save_errors, &st.save_dropped);
	if (c->enc) {
		uint64_t enc, fail;
		rkv__encoder_stats(c->enc, &enc, &st.encode_skipped, &fail);
		st.published += enc;
		st.skipped += st.encode_skipped;
		st.pool_dropped += fail;
	}
	rkv__preview_stats(c->pv, &st);
	memcpy(out, &st, size < sizeof(st) ? size : sizeof(st));
	if (size > sizeof(st))
		memset((char *)out + sizeof(st), 0, size - sizeof(st));
	return 0;
}

int rkv_camera_imgops(rkv_camera *c, unsigned which, struct rkv_imgops_info *info,
		      size_t info_size, struct rkv_imgops_stats *st, size_t st_size)
{
	const rkv_imgops *ops;
	int r;

	if (!c || (!info && info_size) || (!st && st_size))
		return -EINVAL;
	switch (which) {
	case RKV_CAMERA_IMGOPS_PREVIEW:
		ops = rkv__preview_ops(c->pv);
		break;
	case RKV_CAMERA_IMGOPS_SAVE:
		ops = c->saver ? rkv__saver_ops(c->saver) : NULL;
		break;
	case RKV_CAMERA_IMGOPS_ENCODE:
		ops = c->enc ? rkv__encoder_ops(c->enc) : NULL;
		break;
	default:
		return -EINVAL;
	}
	if (!ops)
		return -ENOENT;
	r = info_size ? rkv_imgops_info(ops, info, info_size) : 0;
	if (r == 0 && st_size)
		r = rkv_imgops_stats(ops, st, st_size);
	return r;
}

int rkv_camera_preview(rkv_camera *c, int on)
{
	if (!c)
		return -EINVAL;
	if (!c->pv)
		return -ENOTSUP;
	rkv__preview_set(c->pv, on);
	return 0;
}

const struct rkv__orient *rkv__camera_orient(const rkv_camera *c)
{
	return &c->orient;
}

const char *rkv__camera_backend(const rkv_camera *c)
{
	return c->backend;
}

void rkv_camera_destroy(rkv_camera *c)
{
	if (!c)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			close(c->clients[i].fd);
	if (c->ctl_fd >= 0)
		close(c->ctl_fd);
	rkv__preview_destroy(c->pv); /* its worker reads the pool */
	/* The pool first: consumers keep the frames they hold, and with the
	 * source closed next no buffer goes back to the driver to be
	 * overwritten under them. The encoder, which publishes into it,
	 * before the pool. */
	rkv__encoder_close(c->enc);
	kept_drop(c, UINT32_MAX);
	rkv_producer_destroy(c->p);
	if (c->src)
		rkv_source_close(c->src);
	zc_free(c);
	rkv__saver_close(c->saver); /* after the save under way */
	if (c->stop_efd >= 0)
		close(c->stop_efd);
	if (c->ep >= 0)
		close(c->ep);
	pthread_mutex_destroy(&c->st_lock);
	free(c);
}
