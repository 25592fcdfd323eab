/* SPDX-License-Identifier: MIT */
/*
 * src/daemon/http.h - rkvd's HTTP server: the API of api.h on
 * libmicrohttpd, over TCP and a Unix socket.
 *
 * Listeners: cfg->listen ("host:port", "[v6]:port"; port 0 picks a free
 * one, see rkvd_http_port()) and cfg->unix_socket (a path; created mode
 * 0600, a stale socket there is replaced, anything else there is -EEXIST,
 * a live one -EADDRINUSE; removed at stop). Either may be NULL or "" for
 * none, not both. Requests through the Unix socket or a TCP listener
 * bound to 127.0.0.1 or ::1 need no token; through any other address
 * (127.0.0.2 and 0.0.0.0 included) they need cfg->token, and a config
 * that binds there without one is refused (-EINVAL).
 *
 * Each connection gets its own thread (libmicrohttpd's thread per
 * connection), so an MJPEG stream or an SSE client that waits blocks only
 * itself. Bounds against hostile clients: at most RKVD_HTTP_CONNECTIONS
 * connections per listener and RKVD_HTTP_PER_IP from one address (TCP);
 * a connection idle for RKVD_HTTP_TIMEOUT_S is closed; the request line
 * and headers share RKVD_HTTP_HEADER_MEMORY bytes (more: 431 or 414 from
 * libmicrohttpd); a body over RKVD_API_BODY_MAX is answered 413 without
 * being read. A client that trickles a byte now and then keeps its
 * connection, but only RKVD_HTTP_PER_IP of them: the rest of the world
 * is still served.
 *
 * MJPEG streams send each client the newest preview whenever its socket
 * takes more (a slow client misses frames and slows nobody); a camera that
 * is offline streams the placeholder once a second. SSE sends
 * "id: SEQ\ndata: EVENT-JSON\n\n" per event, and a comment every 15 s.
 *
 * 0 or a negative errno; nothing prints.
 */
#ifndef RKVD_HTTP_H
#define RKVD_HTTP_H

#include <rkv/daemon.h>

#include "board.h"
#include "events.h"

#define RKVD_HTTP_CONNECTIONS 64
#define RKVD_HTTP_PER_IP 16
#define RKVD_HTTP_TIMEOUT_S 10
#define RKVD_HTTP_HEADER_MEMORY (32u * 1024u)

struct rkvd_http;

/*
 * Start serving @board's cameras and @events (both borrowed: they must
 * outlive the server; @cfg is copied). Errors: -EINVAL (a listen address
 * that does not parse, a non-loopback one without a token, no listener at
 * all), -EADDRINUSE, -EEXIST, -EACCES, -ENAMETOOLONG (socket path), the
 * errno of a failed bind or listen, -ENOMEM, -EIO (libmicrohttpd would
 * not start).
 */
int rkvd_http_start(const struct rkvd_api_config *cfg, const struct rkvd_board *board,
		    struct rkvd_events *events, struct rkvd_http **out);

/* The TCP port listened on; 0 without a TCP listener. */
int rkvd_http_port(const struct rkvd_http *http);

/*
 * Close every connection (streams and SSE clients included; they end
 * within about a second), stop the threads, remove the Unix socket and
 * free @http. NULL is fine.
 */
void rkvd_http_stop(struct rkvd_http *http);

#endif
