/* SPDX-License-Identifier: MIT */
/*
 * rkvd's HTTP server (http.h): libmicrohttpd glue around api.c. This file
 * owns the sockets, the per-request body buffer, turning api.c's answers
 * into libmicrohttpd responses and the two endless ones, MJPEG and SSE.
 * Everything a request means is decided in api.c.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "hub.h"

#define STREAM_BLOCK (64u * 1024u)
#define STREAM_REPEAT_NS (2000ll * 1000000ll)     /* resend the last frame after this */
#define OFFLINE_PERIOD_NS (1000ll * 1000000ll)    /* the placeholder's period */
#define SSE_KEEPALIVE_NS (15000ll * 1000000ll)
/* A connection's thread runs api.c (a few KiB of locals) and the image
 * layer's decode and encode (heap buffers): 8 MiB of stack per thread
 * would be address space wasted 64 times over on a 32-bit board. */
#define THREAD_STACK (512u * 1024u)
#define DISCARD_MAX (1u << 20)                   /* body bytes dropped before hanging up */
#define WAIT_SLICE_NS (500ll * 1000000ll)         /* how often waits look at stopping */

struct listener {
	struct rkvd_http *http;
	struct MHD_Daemon *mhd;
	bool need_token;
};

struct rkvd_http {
	struct rkvd_api *api;
	struct rkvd_hub *hub;
	struct rkvd_events *events;
	atomic_bool stopping;
	struct listener tcp, unx;
	int port;
	char *unix_path;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void nap(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ll, .tv_nsec = ns % 1000000000ll };
	nanosleep(&ts, NULL);
}

/* ---- MJPEG streams ------------------------------------------------------------------ */

struct stream {
	struct rkvd_http *http;
	char camera[RKVD_NAME_MAX];
	struct rkvd_jpeg *cur;     /* the part being sent */
	struct rkvd_jpeg *last;    /* the newest camera frame sent, to repeat */
	char head[128];
	size_t head_len;
	size_t off;                /* into head, then data, then "\r\n" */
	uint64_t seq;              /* the hub's sequence of the newest frame sent */
	int64_t sent_ns;           /* when the last part started */
};

/* The next part to send into s->cur; false when the stream must end. */
static bool stream_next(struct stream *s)
{
	struct rkvd_http *h = s->http;

	for (;;) {
		if (atomic_load(&h->stopping))
			return false;
		int64_t now = now_ns();
		if (!rkvd_api_camera_online(h->api, s->camera)) {
			if (now - s->sent_ns >= OFFLINE_PERIOD_NS) {
				s->cur = rkvd_hub_placeholder(h->hub);
				return true;
			}
			nap(100ll * 1000000ll);
			continue;
		}
		struct rkvd_jpeg *j = NULL;
		int err = rkvd_hub_wait(h->hub, s->camera, s->seq, WAIT_SLICE_NS, &j);
		if (err == 0) {
			s->seq = j->seq;
			rkvd_jpeg_put(s->last);
			rkvd_jpeg_get(j);
			s->last = j;
			s->cur = j;
			return true;
		}
		if (err == -ECANCELED)
			return false;
		/* No new preview (capture stopped, preview off, no pool yet):
		 * now and then send the last one again, which also finds out
		 * whether the client is still there. */
		if (now - s->sent_ns >= STREAM_REPEAT_NS) {
			if (s->last) {
				rkvd_jpeg_get(s->last);
				s->cur = s->last;
			} else {
				s->cur = rkvd_hub_placeholder(h->hub);
			}
			return true;
		}
		if (err != -ETIMEDOUT)
			nap(200ll * 1000000ll);
	}
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t done = 0;

	(void)pos;
	if (!s->cur) {
		if (!stream_next(s))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		s->sent_ns = now_ns();
		s->off = 0;
		s->head_len = (size_t)snprintf(s->head, sizeof(s->head),
					       "--rkvframe\r\nContent-Type: image/jpeg\r\n"
					       "Content-Length: %zu\r\n\r\n", s->cur->len);
	}
	size_t total = s->head_len + s->cur->len + 2;
	while (done < max && s->off < total) {
		size_t n;
		if (s->off < s->head_len) {
			n = s->head_len - s->off;
			if (n > max - done)
				n = max - done;
			memcpy(buf + done, s->head + s->off, n);
		} else if (s->off < s->head_len + s->cur->len) {
			size_t at = s->off - s->head_len;
			n = s->cur->len - at;
			if (n > max - done)
				n = max - done;
			memcpy(buf + done, s->cur->data + at, n);
		} else {
			size_t at = s->off - s->head_len - s->cur->len;
			n = 2 - at;
			if (n > max - done)
				n = max - done;
			memcpy(buf + done, "\r\n" + at, n);
		}
		done += n;
		s->off += n;
	}
	if (s->off == total) {
		rkvd_jpeg_put(s->cur);
		s->cur = NULL;
	}
	return (ssize_t)done;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	rkvd_jpeg_put(s->cur);
	rkvd_jpeg_put(s->last);
	free(s);
}

/* ---- Server-Sent Events -------------------------------------------------------------- */

struct sse {
	struct rkvd_http *http;
	uint64_t after;
	char buf[RKVD_EVENT_MAX + 64];
	size_t len, off;
	int64_t sent_ns;
	bool greeted;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	struct rkvd_http *h = s->http;

	(void)pos;
	while (s->off == s->len) {
		s->off = s->len = 0;
		if (!s->greeted) {
			/* Something at once, so the client sees the headers now. */
			s->len = (size_t)snprintf(s->buf, sizeof(s->buf), "retry: 2000\n: rkvd events\n\n");
			s->greeted = true;
			s->sent_ns = now_ns();
			break;
		}
		if (atomic_load(&h->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		char ev[RKVD_EVENT_MAX];
		int64_t seq = rkvd_events_next(h->events, s->after, ev, sizeof(ev), WAIT_SLICE_NS);
		if (seq > 0) {
			s->after = (uint64_t)seq;
			s->len = (size_t)snprintf(s->buf, sizeof(s->buf), "id: %lld\ndata: %s\n\n",
						  (long long)seq, ev);
			s->sent_ns = now_ns();
		} else if (seq == -ECANCELED) {
			return MHD_CONTENT_READER_END_OF_STREAM;
		} else if (seq == -ETIMEDOUT) {
			if (now_ns() - s->sent_ns >= SSE_KEEPALIVE_NS) {
				s->len = (size_t)snprintf(s->buf, sizeof(s->buf), ": keepalive\n\n");
				s->sent_ns = now_ns();
			}
		} else {
			/* -ENOSPC cannot happen (our buffer is RKVD_EVENT_MAX);
			 * anything else: skip ahead rather than spin. */
			s->after++;
		}
	}
	size_t n = s->len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

/* ---- requests ----------------------------------------------------------------- */

struct request {
	char body[RKVD_API_BODY_MAX];
	size_t len;
	bool too_large;
	bool answered;
	size_t discarded;
};

static const char *conn_arg(void *ctx, const char *key)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static const char *conn_header(void *ctx, const char *key)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, key);
}

static void jpeg_free_cb(void *cls)
{
	rkvd_jpeg_put(cls);
}

/* A response of unknown length from @read over @cls (freed with @done,
 * also when no response can be made); NULL when @cls is NULL. */
static struct MHD_Response *endless(void *cls, size_t block, MHD_ContentReaderCallback read,
				    MHD_ContentReaderFreeCallback done)
{
	if (!cls)
		return NULL;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block, read,
								   cls, done);
	if (!r)
		done(cls);
	return r;
}

/* Turn @a into a response (taking what it owns) and queue it. */
static enum MHD_Result send_answer(struct rkvd_http *h, struct MHD_Connection *conn,
				   struct rkvd_answer *a)
{
	struct MHD_Response *r = NULL;

	switch (a->kind) {
	case RKVD_ANSWER_BUFFER:
		r = MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE);
		if (r)
			a->body = NULL;
		break;
	case RKVD_ANSWER_JPEG:
		r = MHD_create_response_from_buffer_with_free_callback_cls(
			a->jpeg->len, a->jpeg->data, jpeg_free_cb, a->jpeg);
		if (r)
			a->jpeg = NULL;
		break;
	case RKVD_ANSWER_FILE:
		r = MHD_create_response_from_fd64(a->size, a->fd);
		if (r)
			a->fd = -1;
		break;
	case RKVD_ANSWER_MJPEG: {
		struct stream *s = calloc(1, sizeof(*s));
		if (s) {
			s->http = h;
			snprintf(s->camera, sizeof(s->camera), "%s", a->camera);
		}
		r = endless(s, STREAM_BLOCK, stream_read, stream_free);
		break;
	}
	case RKVD_ANSWER_EVENTS: {
		struct sse *s = calloc(1, sizeof(*s));
		if (s) {
			s->http = h;
			s->after = a->after;
		}
		r = endless(s, 4096, sse_read, free);
		break;
	}
	}
	if (!r) {
		rkvd_answer_clear(a);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (a->offline)
		MHD_add_response_header(r, "X-RKV-Offline", "1");
	if (a->allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, a->allow);
	if (a->www_auth)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	/* The page runs its own inline script and style, and nothing else. */
	if (strncmp(a->content_type, "text/html", 9) == 0)
		MHD_add_response_header(r, "Content-Security-Policy",
					"default-src 'self'; script-src 'unsafe-inline'; "
					"style-src 'unsafe-inline'; img-src 'self' data:; "
					"frame-ancestors 'none'");
	if (a->kind == RKVD_ANSWER_EVENTS)
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)a->status, r);
	MHD_destroy_response(r);
	rkvd_answer_clear(a);
	return ret;
}

/* A plain error answer from the glue itself. */
static enum MHD_Result send_error(struct rkvd_http *h, struct MHD_Connection *conn, int status,
				  const char *msg)
{
	struct rkvd_answer a = { .fd = -1 };
	if (rkvd_api_error(&a, status, msg))
		return MHD_NO;
	return send_answer(h, conn, &a);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct rkvd_http *h = l->http;
	struct request *rq = *con_cls;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		/* A body announced too large is refused before it is read
		 * (libmicrohttpd then closes the connection). */
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > RKVD_API_BODY_MAX)
			rq->too_large = true;
		else
			return MHD_YES;
	}
	if (rq->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		/* A body that grows past the limit (chunked: no length to
		 * judge it by beforehand) is read on and dropped, up to
		 * DISCARD_MAX, so that the client gets its 413 at the end;
		 * past that, the connection is closed. */
		if (!rq->too_large && rq->len + *upload_size <= sizeof(rq->body)) {
			memcpy(rq->body + rq->len, upload_data, *upload_size);
			rq->len += *upload_size;
		} else {
			rq->too_large = true;
			rq->discarded += *upload_size;
			if (rq->discarded > DISCARD_MAX)
				return MHD_NO;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	struct rkvd_request req = {
		.method = method,
		.path = url,
		.arg = conn_arg,
		.header = conn_header,
		.ctx = conn,
		.body = rq->body,
		.body_len = rq->len,
		.body_too_large = rq->too_large,
		.need_token = l->need_token,
	};
	struct rkvd_answer a;
	rq->answered = true;
	if (rkvd_api_handle(h->api, &req, &a))
		return send_error(h, conn, 500, "out of memory");
	return send_answer(h, conn, &a);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

/* ---- listeners ------------------------------------------------------------------------ */

/* Parse "host:port" / "[v6]:port" and bind a listening socket. */
static int tcp_socket(const char *listen_s, int *fd_out, bool *loopback, int *port)
{
	char host[256];
	const char *colon, *hs = listen_s;
	size_t hl;

	if (listen_s[0] == '[') {
		const char *end = strchr(listen_s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		hs = listen_s + 1;
		hl = (size_t)(end - hs);
		colon = end + 1;
	} else {
		colon = strrchr(listen_s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - listen_s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	const char *ps = colon + 1;
	char *end;
	unsigned long pn = strtoul(ps, &end, 10);
	if (!*ps || *end || pn > 65535)
		return -EINVAL;

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	if (getaddrinfo(host, ps, &hints, &ai) || !ai)
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err = 0;
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
		err = -errno;
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		*loopback = ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK;
		*port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		*port = ntohs(in6->sin6_port);
	}
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return err;
}

static int unix_socket(const char *path, int *fd_out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			close(fd);
			return -EEXIST;
		}
		/* A socket nobody answers on is a dead daemon's: replace it. */
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return -EADDRINUSE;
		}
		unlink(path);
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;
		close(fd);
		return err;
	}
	/* Before listen(): nobody can connect while the mode is wider. */
	if (chmod(path, 0600) || listen(fd, 64)) {
		int err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	*fd_out = fd;
	return 0;
}

static int start_mhd(struct listener *l, int fd, bool per_ip)
{
	/* Thread per connection: streams and SSE block only their own
	 * thread; poll() rather than select(), which stops at fd 1024. */
	l->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD, 0, NULL, NULL,
		on_request, l,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)RKVD_HTTP_CONNECTIONS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip ? (unsigned)RKVD_HTTP_PER_IP : 0u,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)RKVD_HTTP_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)RKVD_HTTP_HEADER_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
		MHD_OPTION_END);
	if (!l->mhd) {
		close(fd);
		return -EIO;
	}
	return 0;
}

int rkvd_http_port(const struct rkvd_http *http)
{
	return http ? http->port : 0;
}

void rkvd_http_stop(struct rkvd_http *h)
{
	if (!h)
		return;
	atomic_store(&h->stopping, true);
	rkvd_hub_close(h->hub);
	if (h->tcp.mhd)
		MHD_stop_daemon(h->tcp.mhd);
	if (h->unx.mhd)
		MHD_stop_daemon(h->unx.mhd);
	if (h->unix_path)
		unlink(h->unix_path);
	rkvd_api_free(h->api);
	rkvd_hub_free(h->hub);
	free(h->unix_path);
	free(h);
}

int rkvd_http_start(const struct rkvd_api_config *cfg, const struct rkvd_board *board,
		    struct rkvd_events *events, struct rkvd_http **out)
{
	if (!cfg || !board || !events || !out)
		return -EINVAL;
	bool want_tcp = cfg->listen && cfg->listen[0];
	bool want_unix = cfg->unix_socket && cfg->unix_socket[0];
	if (!want_tcp && !want_unix)
		return -EINVAL;
	struct rkvd_http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->events = events;
	h->tcp.http = h->unx.http = h;
	int err = rkvd_hub_new(&h->hub);
	if (!err)
		err = rkvd_api_new(board, events, h->hub, cfg->token, &h->api);
	if (err)
		goto fail;
	if (want_tcp) {
		int fd = -1;
		bool loopback = false;
		err = tcp_socket(cfg->listen, &fd, &loopback, &h->port);
		if (err)
			goto fail;
		if (!loopback && !(cfg->token && cfg->token[0])) {
			close(fd);
			err = -EINVAL;
			goto fail;
		}
		h->tcp.need_token = !loopback;
		err = start_mhd(&h->tcp, fd, true);
		if (err)
			goto fail;
	}
	if (want_unix) {
		int fd = -1;
		err = unix_socket(cfg->unix_socket, &fd);
		if (err)
			goto fail;
		h->unix_path = strdup(cfg->unix_socket);
		if (!h->unix_path) {
			close(fd);
			unlink(cfg->unix_socket);
			err = -ENOMEM;
			goto fail;
		}
		err = start_mhd(&h->unx, fd, false);
		if (err)
			goto fail;
	}
	*out = h;
	return 0;
fail:
	rkvd_http_stop(h);
	return err;
}
