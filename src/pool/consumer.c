/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - the consumer side of a pool: attach, take frames, give them
 * back, leave.
 *
 * The hot path is lock-free towards the producer and syscall-free while it
 * is awake: take an entry from the ready ring (or the mailbox, or a group
 * cell), check it, hand out a view; on release, push the slot index on the
 * release ring. A local mutex lets another thread release while one
 * acquires. The consumer sleeps only when there is nothing to take (wait.c
 * style logic is at the end of this file), on its wake socket, the lease and
 * the producer's pidfd together, so the producer's death wakes it as surely
 * as a frame does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool/internal.h"

#define DEFAULT_ATTACH_TIMEOUT_NS 5000000000LL

struct ext_view {
	int fd;
	const uint8_t *map;       /* NULL with RKV_CONSUMER_NO_MAP */
	uint64_t size, offset;
	int sync;
};

struct rkv_consumer {
	uint32_t rel_lock;          /* spinlock of the release side: release may come
				     * from any thread (a finalizer), acquire from one */
	uint32_t fork_gen;          /* rkv__fork_gen at attach: another value = a forked copy */
	int sock;                   /* the lease */
	int pidfd;                  /* the producer process, or -1 */
	pid_t producer_pid;
	int wake;                   /* our end of the wake socketpair: we wake the producer */
	int wake_rd;                /* read end of the wake pipe: the producer wakes us */
	int self_efd;               /* private: "look again" for rkv_consumer_fd() */
	int ep;                     /* epoll set: the blocking wait and rkv_consumer_fd() */
	uint32_t id, policy, depth, max_held, token, flags;
	int64_t spin_ns;

	const struct rkv_wire_pool *pool;
	uint64_t pool_size;
	const struct rkv_wire_slot *slots;
	const uint8_t *data;
	uint32_t nslots;
	uint64_t capacity, stride;
	struct ext_view *ext;       /* external slots, or NULL */

	struct rkv_wire_chan *chan;
	uint64_t chan_size;
	const uint64_t *ready;
	uint32_t *release;
	uint32_t ready_mask, release_mask;
	uint64_t head;              /* our ready_head */
	uint64_t tail_seen;         /* last ready_tail read: no re-read until we catch up */
	uint64_t rel_tail;          /* our release_tail */

	struct rkv_wire_group *grp;
	uint64_t grp_size;
	uint64_t *cells;
	uint32_t grp_mask;

	uint32_t *held;             /* per slot: the view token, 0 if not held (atomic) */
	uint64_t n_acquired;        /* views handed out: written by acquire only */
	uint64_t n_released;        /* views given back: written under rel_lock */
	uint32_t next_token;
	uint64_t taken;
	uint64_t last_pub;          /* pub_seq and seq of the newest frame acquired */
	uint64_t last_seq;          /* (atomic: stats may read them from another thread) */
	int gone;                   /* 0, -EPIPE, -ECONNRESET or -ENOTCONN */
	int fd_mode;                /* rkv_consumer_fd() was called */
	int self_pending;           /* self_efd was signalled and not drained */
	uint32_t signalled;         /* the producer sleep we last woke */
};

static int forked(const rkv_consumer *c)
{
	/* A single value in this process, read alone: relaxed (docs/pool.md, Memory
	 * ordering). */
	return c->fork_gen != LOAD_RLX(&rkv__fork_gen);
}

/* ==== attach ============================================================== */

static int opts_check(const struct rkv_consumer_opts *o)
{
	if (o->policy < RKV_POLICY_BLOCK || o->policy > RKV_POLICY_GROUP)
		return -EINVAL;
	if (o->queue_depth > RKV_MAX_DEPTH || o->max_held > RKV_MAX_DEPTH || o->spin_ns < 0 ||
	    o->attach_timeout_ns < 0 || o->pad0)
		return -EINVAL;
	if (o->flags & ~(RKV_CONSUMER_ANY_OWNER | RKV_GROUP_BLOCK | RKV_CONSUMER_NO_MAP))
		return -EINVAL;
	if (o->policy == RKV_POLICY_GROUP &&
	    (!o->group || !o->group[0] || strlen(o->group) >= RKV_LABEL_MAX))
		return -EINVAL;
	if (o->policy != RKV_POLICY_GROUP && o->group && o->group[0])
		return -EINVAL;
	if (o->label && strlen(o->label) >= RKV_LABEL_MAX)
		return -EINVAL;
	return 0;
}

/* Wait until @fd is readable or @deadline passes: 1, 0 (timed out),
 * -EINTR. */
static int wait_readable(int fd, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct timespec ts, *tsp = NULL;
	int r;

	if (deadline != INT64_MAX) {
		int64_t left = deadline - rkv__now_ns();
		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	r = ppoll(&pfd, 1, tsp, NULL);
	if (r < 0)
		return errno == EINTR ? -EINTR : -errno;
	return r > 0;
}

int rkv__pool_connect(const char *name, const struct rkv_wire_hello *hello, int any_owner,
		      int64_t timeout_ns, struct rkv_wire_welcome *w, int *fds, int *nfds,
		      char *why, size_t why_len)
{
	struct sockaddr_un sun;
	uint32_t sunlen;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	int64_t deadline = rkv__deadline(timeout_ns);
	ssize_t n;
	int fd, r;

	*nfds = 0;
	if (rkv__sock_addr(name, &sun, &sunlen) < 0) {
		rkv__set_reason(why, why_len, "invalid pool name");
		return -EINVAL;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Non-blocking connect: a listen backlog that is full for a moment
	 * (somebody connecting in a loop) is waited out until the deadline,
	 * not turned into "no producer". */
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sunlen) == 0)
			break;
		r = -errno;
		if (r == -EAGAIN && rkv__now_ns() < deadline) {
			struct timespec ts = { 0, 1000000 };
			if (nanosleep(&ts, NULL) < 0 && errno == EINTR) {
				close(fd);
				return -EINTR;
			}
			continue;
		}
		if (r == -EINTR)
			continue;
		close(fd);
		if (r == -ECONNREFUSED || r == -ENOENT) {
			rkv__set_reason(why, why_len, "no producer serves pool '%s'", name);
			return -ENOENT;
		}
		if (r == -EAGAIN) {
			rkv__set_reason(why, why_len, "pool '%s' did not accept within the attach timeout",
					name);
			return -ETIMEDOUT;
		}
		rkv__set_reason(why, why_len, "cannot connect to pool '%s': %s", name, strerror(-r));
		return r;
	}
	/* Make sure it is a producer we trust before believing its memory. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 ||
	    (!any_owner && cr.uid != geteuid() && cr.uid != 0)) {
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' is served by uid %u, not by us", name,
				(unsigned)cr.uid);
		return -EACCES;
	}
	r = rkv__send_msg(fd, hello, sizeof(*hello), NULL, 0, 0);
	if (r) {
		/* A producer that does not admit us answers at once, before
		 * our hello, and hangs up: its answer says why. */
		n = rkv__recv_msg(fd, w, sizeof(*w), fds, RKV_WELCOME_FDS_MAX, nfds);
		if (n == (ssize_t)sizeof(*w))
			return fd;
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' hung up: %s", name, strerror(-r));
		return r == -EPIPE || r == -ECONNRESET ? -ENOENT : r;
	}
	r = wait_readable(fd, deadline);
	if (r <= 0) {
		close(fd);
		if (r == 0)
			rkv__set_reason(why, why_len, "pool '%s' did not answer within the attach timeout",
					name);
		return r == 0 ? -ETIMEDOUT : r;
	}
	n = rkv__recv_msg(fd, w, sizeof(*w), fds, RKV_WELCOME_FDS_MAX, nfds);
	if (n <= 0) {
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' closed the connection", name);
		return n == 0 || n == -ECONNRESET ? -ENOENT : (int)n;
	}
	if ((size_t)n != sizeof(*w)) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		close(fd);
		rkv__set_reason(why, why_len, "pool '%s' answered %zd bytes, expected %zu", name,
				n, sizeof(*w));
		return -EPROTO;
	}
	return fd;
}

int rkv__recv_slot_fds(int sock, uint32_t n, int *fds, int64_t deadline)
{
	uint32_t got = 0;
	int r = 0;

	while (got < n) {
		struct rkv_wire_slotfds m;
		int tmp[RKV_SLOTFDS_MAX], k = 0;
		ssize_t len;

		r = wait_readable(sock, deadline);
		if (r <= 0) {
			r = r == 0 ? -ETIMEDOUT : r;
			break;
		}
		len = rkv__recv_msg(sock, &m, sizeof(m), tmp, RKV_SLOTFDS_MAX, &k);
		if (len == -EAGAIN || len == -EINTR) {
			continue;
		}
		if (len != (ssize_t)sizeof(m) || m.magic != RKV_MAGIC_SLOTFDS || m.first != got ||
		    m.count == 0 || m.count > RKV_SLOTFDS_MAX || m.count > n - got ||
		    (uint32_t)k != m.count) {
			for (int i = 0; i < k; i++)
				close(tmp[i]);
			r = len < 0 ? (int)len : -EPROTO;
			break;
		}
		memcpy(fds + got, tmp, sizeof(int) * (size_t)k);
		got += (uint32_t)k;
		r = 0;
	}
	if (r) {
		for (uint32_t i = 0; i < got; i++)
			close(fds[i]);
	}
	return r;
}

/* Does memfd @fd refuse to shrink and to take new seals? A producer that
 * could shrink the memory under us could make our next read fault; a peer
 * that could seal it could make the next member's mapping fail. */
static int sealed(int fd)
{
	int s = fcntl(fd, F_GET_SEALS);
	return s >= 0 && (s & F_SEAL_SHRINK) && (s & F_SEAL_SEAL);
}

/*
 * One epoll set serves both the blocking wait and rkv_consumer_fd(): the
 * wake socket (level-triggered: drained before each arm), the private
 * self eventfd, the lease, and the producer's pidfd.
 */
#define EV_WAKE 1u
#define EV_LEASE 2u
#define EV_PRODUCER 3u
#define EV_SELF 4u

static int make_epoll(rkv_consumer *c)
{
	struct epoll_event e1 = { .events = EPOLLIN, .data.u32 = EV_WAKE };
	struct epoll_event e2 = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = EV_LEASE };
	struct epoll_event e3 = { .events = EPOLLIN, .data.u32 = EV_PRODUCER };
	struct epoll_event e4 = { .events = EPOLLIN, .data.u32 = EV_SELF };

	c->ep = epoll_create1(EPOLL_CLOEXEC);
	c->self_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->ep < 0 || c->self_efd < 0)
		return -errno;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->wake_rd, &e1) < 0 ||
	    epoll_ctl(c->ep, EPOLL_CTL_ADD, c->sock, &e2) < 0 ||
	    epoll_ctl(c->ep, EPOLL_CTL_ADD, c->self_efd, &e4) < 0 ||
	    (c->pidfd >= 0 && epoll_ctl(c->ep, EPOLL_CTL_ADD, c->pidfd, &e3) < 0))
		return -errno;
	return 0;
}

/* Map and check the external slots' fds (taken over by @c). */
static int adopt_ext(rkv_consumer *c, int *ext_fds, uint32_t n, int map, char *why, size_t why_len)
{
	c->ext = calloc(c->nslots, sizeof(*c->ext));
	if (!c->ext) {
		for (uint32_t i = 0; i < n; i++)
			close(ext_fds[i]);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->nslots; i++) {
		c->ext[i].fd = ext_fds[i];
		ext_fds[i] = -1;
	}
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct ext_view *e = &c->ext[i];
		uint64_t end;
		int64_t size = rkv__fd_size(e->fd);

		e->offset = c->slots[i].ext_offset;
		if (size <= 0 || __builtin_add_overflow(e->offset, c->capacity, &end) ||
		    end > (uint64_t)size) {
			rkv__set_reason(why, why_len, "external slot %u: %llu bytes at %llu do not fit its fd",
					i, (unsigned long long)c->capacity, (unsigned long long)e->offset);
			return -EPROTO;
		}
		e->size = (uint64_t)size;
		if (!map)
			continue;
		void *m;
		int r = rkv__map_plain(e->fd, e->size, 0, &m);
		if (r) {
			rkv__set_reason(why, why_len, "cannot map external slot %u: %s", i, strerror(-r));
			return r;
		}
		e->map = m;
		e->sync = rkv__dmabuf_sync(e->fd, 1, 0) == 0;
		if (e->sync)
			rkv__dmabuf_sync(e->fd, 0, 0);
	}
	return 0;
}

int rkv__consumer_adopt(int sock, const struct rkv_wire_welcome *w, size_t wlen,
			int *fds, int nfds, const struct rkv_consumer_opts *opts,
			rkv_consumer **out)
{
	return rkv__consumer_adopt_ext(sock, w, wlen, fds, nfds, NULL, 0, opts, out);
}

int rkv__consumer_adopt_ext(int sock, const struct rkv_wire_welcome *w, size_t wlen,
			    int *fds, int nfds, int *ext_fds, uint32_t n_ext,
			    const struct rkv_consumer_opts *opts, rkv_consumer **out)
{
	char *why = opts ? opts->errbuf : NULL;
	size_t why_len = opts ? opts->errbuf_len : 0;
	struct rkv_wire_pool ph;
	struct rkv_wire_chan ch;
	rkv_consumer *c = NULL;
	int want, r;
	void *base;

	*out = NULL;
	if (!w || wlen != sizeof(*w) || w->magic != RKV_MAGIC_WELCOME) {
		rkv__set_reason(why, why_len, "the producer's answer is not an RKVision welcome");
		r = -EPROTO;
		goto fail_fds;
	}
	if (w->version != RKV_WIRE_VERSION) {
		rkv__set_reason(why, why_len, "the producer speaks layout version %u, we speak %u",
				w->version, RKV_WIRE_VERSION);
		r = -EPROTO;
		goto fail_fds;
	}
	if (w->status != 0) {
		char reason[sizeof(w->reason) + 1];
		memcpy(reason, w->reason, sizeof(w->reason));
		reason[sizeof(w->reason)] = '\0';
		rkv__set_reason(why, why_len, "%s", reason[0] ? reason : "refused by the producer");
		r = w->status < 0 && w->status > -4096 ? w->status : -EPROTO;
		goto fail_fds;
	}
	want = opts->policy == RKV_POLICY_GROUP ? 5 : 4;
	if (nfds != want || (uint32_t)nfds != w->nfds) {
		rkv__set_reason(why, why_len, "the producer passed %d descriptors, expected %d", nfds, want);
		r = -EPROTO;
		goto fail_fds;
	}
	if (w->id >= RKV_MAX_CONSUMERS) {
		rkv__set_reason(why, why_len, "the producer gave consumer id %u", w->id);
		r = -EPROTO;
		goto fail_fds;
	}
	for (int i = 0; i < nfds; i++) {
		if ((i < 2 || i == 4) && !sealed(fds[i])) {
			rkv__set_reason(why, why_len, "the producer's shared memory is not sealed");
			r = -EPROTO;
			goto fail_fds;
		}
	}

	rkv__fork_init();
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto fail_fds;
	}
	/* A single value in this process, read alone: relaxed (docs/pool.md, Memory
	 * ordering). */
	c->fork_gen = LOAD_RLX(&rkv__fork_gen);
	c->sock = sock;
	c->ep = c->self_efd = -1;
	c->pidfd = -1;
	c->wake = c->wake_rd = -1;
	{
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == 0 && cr.pid > 0 &&
		    cr.pid != getpid()) {
			int pfd = rkv__pidfd_open(cr.pid);
			c->pidfd = pfd >= 0 ? pfd : -1;
			c->producer_pid = cr.pid;
		}
	}
	c->wake_rd = fds[2];
	c->wake = fds[3];
	fds[2] = fds[3] = -1;
	c->id = w->id;
	c->token = w->token;
	c->policy = opts->policy;
	c->flags = opts->flags;
	c->spin_ns = opts->spin_ns;

	/* The pool: read-only. Its header is copied once and the copy is
	 * checked and used, so nothing can change it between the two. */
	r = rkv__map(fds[0], w->pool_size, 0, &base);
	if (r) {
		rkv__set_reason(why, why_len, "cannot map the pool: %s", strerror(-r));
		goto fail_c;
	}
	c->pool = base;
	c->pool_size = w->pool_size;
	if (c->pool_size < sizeof(ph)) {
		rkv__set_reason(why, why_len, "pool area of %llu bytes is smaller than its header",
				(unsigned long long)c->pool_size);
		r = -EPROTO;
		goto fail_c;
	}
	memcpy(&ph, c->pool, sizeof(ph));
	r = rkv__pool_check(&ph, c->pool_size, why, why_len);
	if (r)
		goto fail_c;
	if (c->id >= ph.max_consumers) {
		rkv__set_reason(why, why_len, "consumer id %u is beyond the pool's %u consumers",
				c->id, ph.max_consumers);
		r = -EPROTO;
		goto fail_c;
	}
	if (((ph.flags & RKV_WIRE_POOL_EXTERNAL) != 0) != (w->ext_slots != 0) ||
	    (w->ext_slots && (w->ext_slots != ph.slot_count || n_ext != w->ext_slots))) {
		rkv__set_reason(why, why_len, "the producer's external slots do not match its pool");
		r = -EPROTO;
		goto fail_c;
	}
	c->nslots = ph.slot_count;
	c->capacity = ph.slot_capacity;
	c->stride = ph.slot_stride;
	c->slots = (const struct rkv_wire_slot *)((const uint8_t *)base + ph.slots_offset);
	c->data = (const uint8_t *)base + ph.data_offset;
	if (n_ext) {
		r = adopt_ext(c, ext_fds, n_ext, !(opts->flags & RKV_CONSUMER_NO_MAP), why, why_len);
		n_ext = 0;
		if (r)
			goto fail_c;
	}

	r = rkv__map(fds[1], w->chan_size, 1, &base);
	if (r) {
		rkv__set_reason(why, why_len, "cannot map the chan: %s", strerror(-r));
		goto fail_c;
	}
	c->chan = base;
	c->chan_size = w->chan_size;
	if (c->chan_size < sizeof(ch)) {
		rkv__set_reason(why, why_len, "chan area too small");
		r = -EPROTO;
		goto fail_c;
	}
	memcpy(&ch, c->chan, sizeof(ch));
	r = rkv__chan_check(&ch, c->chan_size, c->id, c->nslots, why, why_len);
	if (r)
		goto fail_c;
	if (ch.policy != opts->policy) {
		rkv__set_reason(why, why_len, "the producer set up policy %u, we asked for %u",
				ch.policy, opts->policy);
		r = -EPROTO;
		goto fail_c;
	}
	c->depth = ch.queue_depth;
	c->max_held = ch.max_held;
	c->ready = (const uint64_t *)((uint8_t *)base + ch.ready_offset);
	c->release = (uint32_t *)((uint8_t *)base + ch.release_offset);
	c->ready_mask = ch.ready_size - 1;
	c->release_mask = ch.release_size - 1;
	/* M2, M5: our own indices, as the producer set them before the welcome message
	 * (which orders them anyway); read once, kept privately. */
	c->head = LOAD_ACQ(&c->chan->ready_head);
	c->tail_seen = c->head;
	c->rel_tail = LOAD_ACQ(&c->chan->release_tail);

	if (nfds == 5) {
		struct rkv_wire_group gh;
		r = rkv__map(fds[4], w->group_size, 1, &base);
		if (r) {
			rkv__set_reason(why, why_len, "cannot map the group queue: %s", strerror(-r));
			goto fail_c;
		}
		c->grp = base;
		c->grp_size = w->group_size;
		if (c->grp_size < sizeof(gh)) {
			rkv__set_reason(why, why_len, "group area too small");
			r = -EPROTO;
			goto fail_c;
		}
		/* Any member can write the group header: its geometry comes
		 * from the welcome, the header is only checked against it. */
		memcpy(&gh, c->grp, sizeof(gh));
		r = rkv__group_check(&gh, c->grp_size, w->group_ring, why, why_len);
		if (r)
			goto fail_c;
		c->cells = (uint64_t *)((uint8_t *)base + sizeof(struct rkv_wire_group));
		c->grp_mask = w->group_ring - 1;
	}

	c->held = calloc(c->nslots, sizeof(*c->held));
	if (!c->held) {
		r = -ENOMEM;
		goto fail_c;
	}
	r = make_epoll(c);
	if (r) {
		rkv__set_reason(why, why_len, "cannot set up waiting: %s", strerror(-r));
		goto fail_c;
	}
	/* The mappings keep the memory; the descriptors are no longer needed. */
	close(fds[0]);
	close(fds[1]);
	if (nfds == 5)
		close(fds[4]);
	*out = c;
	return 0;

fail_c:
	/* c owns sock and the wake pipe and socket now; the memfds are
	 * still ours. */
	close(fds[0]);
	close(fds[1]);
	if (nfds == 5)
		close(fds[4]);
	for (uint32_t i = 0; i < n_ext; i++)
		close(ext_fds[i]);
	rkv_consumer_detach(c);
	return r;
fail_fds:
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (uint32_t i = 0; i < n_ext; i++)
		close(ext_fds[i]);
	if (sock >= 0)
		close(sock);
	return r;
}

int rkv_consumer_attach(const char *name, const struct rkv_consumer_opts *opts_in, rkv_consumer **out)
{
	struct rkv_consumer_opts opts;
	struct rkv_wire_hello h;
	struct rkv_wire_welcome w;
	int fds[RKV_WELCOME_FDS_MAX], nfds, sock, r;
	int *ext = NULL;
	int64_t timeout;

	if (!out || !opts_in)
		return -EINVAL;
	*out = NULL;
	r = rkv__copy_in(&opts, sizeof(opts), opts_in, sizeof(opts));
	if (r == 0)
		r = opts_check(&opts);
	if (r) {
		/* errbuf is read only where the struct has it */
		if (r != -E2BIG && r != -EINVAL)
			return r;
		if (opts_in->size == 0 || opts_in->size >= sizeof(opts))
			rkv__set_reason(opts_in->errbuf, opts_in->errbuf_len, "invalid consumer options");
		return r;
	}
	if (rkv__name_check(name)) {
		rkv__set_reason(opts.errbuf, opts.errbuf_len, "invalid pool name");
		return -EINVAL;
	}
	memset(&h, 0, sizeof(h));
	h.magic = RKV_MAGIC_HELLO;
	h.version = RKV_WIRE_VERSION;
	h.kind = RKV_HELLO_CONSUMER;
	h.policy = opts.policy;
	h.queue_depth = opts.queue_depth;
	h.max_held = opts.max_held;
	h.flags = opts.flags & RKV_GROUP_BLOCK;
	if (opts.label)
		snprintf(h.label, sizeof(h.label), "%s", opts.label);
	if (opts.group)
		snprintf(h.group, sizeof(h.group), "%s", opts.group);

	timeout = opts.attach_timeout_ns ? opts.attach_timeout_ns : DEFAULT_ATTACH_TIMEOUT_NS;
	sock = rkv__pool_connect(name, &h, opts.flags & RKV_CONSUMER_ANY_OWNER, timeout, &w, fds,
				 &nfds, opts.errbuf, opts.errbuf_len);
	if (sock < 0)
		return sock;
	if (w.magic == RKV_MAGIC_WELCOME && w.status == 0 && w.ext_slots) {
		if (w.ext_slots > RKV_MAX_SLOTS) {
			r = -EPROTO;
		} else {
			ext = malloc(sizeof(int) * w.ext_slots);
			r = ext ? rkv__recv_slot_fds(sock, w.ext_slots, ext, rkv__deadline(timeout)) : -ENOMEM;
		}
		if (r) {
			rkv__set_reason(opts.errbuf, opts.errbuf_len,
					"cannot receive the pool's slot descriptors: %s", strerror(-r));
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			close(sock);
			free(ext);
			return r == -ECONNRESET ? -ENOENT : r;
		}
	}
	r = rkv__consumer_adopt_ext(sock, &w, sizeof(w), fds, nfds, ext, ext ? w.ext_slots : 0,
				    &opts, out);
	free(ext);
	return r;
}

void rkv_consumer_detach(rkv_consumer *c)
{
	if (!c)
		return;
	/* Saying goodbye is the detach: the producer takes back every slot
	 * we held or had queued, as it would after a crash. Closing alone is
	 * not enough when a forked child still holds a copy of the socket.
	 * A forked child's copy says nothing: the lease is its parent's. */
	if (c->sock >= 0) {
		if (!forked(c)) {
			int32_t bye = 0;
			send(c->sock, &bye, sizeof(bye), MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		close(c->sock);
	}
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->wake >= 0)
		close(c->wake);
	if (c->wake_rd >= 0)
		close(c->wake_rd);
	if (c->self_efd >= 0)
		close(c->self_efd);
	if (c->ep >= 0)
		close(c->ep);
	if (c->ext) {
		for (uint32_t i = 0; i < c->nslots; i++) {
			if (c->ext[i].map)
				munmap((void *)c->ext[i].map, c->ext[i].size);
			if (c->ext[i].fd >= 0)
				close(c->ext[i].fd);
		}
		free(c->ext);
	}
	if (c->pool)
		rkv__unmap((void *)c->pool, c->pool_size);
	if (c->chan)
		rkv__unmap(c->chan, c->chan_size);
	if (c->grp)
		rkv__unmap(c->grp, c->grp_size);
	free(c->held);
	free(c);
}

/* ==== taking frames ======================================================= */

/*
 * The release side's lock. Acquire takes no lock: it alone advances the
 * ready ring and hands out views; release (from any thread) and a rejected
 * frame push onto the release ring, which has one writer at a time. A
 * spinlock: one atomic exchange to take it, a plain store to drop it, and
 * it is held for a few stores.
 */
static void rel_lock(rkv_consumer *c)
{
	/* In-process: acquire, pairs with rel_unlock()'s release: the last holder's writes
	 * to the release ring and tokens are seen. The spin below only looks (relaxed). */
	for (int spins = 0; __atomic_exchange_n(&c->rel_lock, 1, __ATOMIC_ACQUIRE); spins++) {
		while (LOAD_RLX(&c->rel_lock)) {
			if (++spins > 1000)
				sched_yield();
			else
				rkv__cpu_relax();
		}
	}
}

static void rel_unlock(rkv_consumer *c)
{
	/* In-process: release, pairs with rel_lock()'s acquiring exchange. */
	STORE_REL(&c->rel_lock, 0);
}

static uint32_t nheld(rkv_consumer *c)
{
	/* In-process: n_acquired is this thread's or a number (relaxed); n_released acquire
	 * pairs with release_view's release. */
	return (uint32_t)(LOAD_RLX(&c->n_acquired) - LOAD_ACQ(&c->n_released));
}

/* The producer puts a new nonzero value in producer_waiting each time it
 * goes to sleep; signal each sleep once. */
static void wake_producer(rkv_consumer *c)
{
	uint32_t w;

	/* M7: our release or take (M5, M2) before the load of producer_waiting */
	FENCE();
	/* M7: relaxed, after the full fence above, which pairs with announce_sleep()'s
	 * (producer.c): either it sees our release or take, or we see its flag. */
	w = LOAD_RLX(&c->pool->producer_waiting);
	/* In-process: signalled only spares duplicate wake-ups; a lost race sends one byte
	 * more. Relaxed. */
	if (w && w != LOAD_RLX(&c->signalled)) {
		STORE_RLX(&c->signalled, w);
		rkv__wake_send(c->wake);
	}
}

/* Ready ring (block, drop). Returns 1 and *@e, 0 if empty, -EPROTO. */
static int take_ring(rkv_consumer *c, uint64_t *e)
{
	if (c->head == c->tail_seen) {
		/* M1: acquire, pairs with deliver_ring's release: the entries before t,
		 * their descriptors and data are visible. Read once, checked. */
		uint64_t t = LOAD_ACQ(&c->chan->ready_tail);
		if (t - c->head > (uint64_t)c->ready_mask + 1)
			return -EPROTO;
		c->tail_seen = t;
		if (t == c->head)
			return 0;
	}
	/* M1: ordered by the acquire of ready_tail; read once, checked by make_view(). */
	*e = LOAD_RLX(&c->ready[c->head & c->ready_mask]);
	c->head++;
	/* M2: release, pairs with ring_room's acquire (deliver.c): our read of the entry
	 * happens before the producer reuses it. */
	STORE_REL(&c->chan->ready_head, c->head);
	return 1;
}

static int take_latest(rkv_consumer *c, uint64_t *e)
{
	/* M3: a relaxed look; the exchange below is what takes. */
	if (LOAD_RLX(&c->chan->mailbox) == RKV_MAILBOX_EMPTY)
		return 0;
	/* M3: acq_rel, pairs with deliver_latest's compare-and-swap: acquire gets the frame
	 * its release carries; release hands EMPTY back for its acquire. */
	*e = __atomic_exchange_n(&c->chan->mailbox, RKV_MAILBOX_EMPTY, __ATOMIC_ACQ_REL);
	return *e != RKV_MAILBOX_EMPTY;
}

/* Claim the oldest unclaimed cell of the group queue (see wire.h). */
static int take_group(rkv_consumer *c, uint64_t *e)
{
	uint32_t me = c->token;

	for (int tries = 0; tries < 1024; tries++) {
		/* M4: acquire, pairs with deliver_group's release of tail and the members'
		 * head updates; each read once, then checked. */
		uint64_t h = LOAD_ACQ(&c->grp->head);
		uint64_t t = LOAD_ACQ(&c->grp->tail);
		if (h == t)
			return 0;
		if (t - h > (uint64_t)c->grp_mask + 1) {
			/* A head past the tail, or more than a lap behind it:
			 * only a scribbling member does that. Restart from the
			 * oldest position the queue can hold; the loop below
			 * skips what is claimed there. */
			uint64_t oldest = t > c->grp_mask + 1 ? t - (c->grp_mask + 1) : 0;
			/* M4: head moves only by compare-and-swap (acq_rel), from the value
			 * read: members never move it back over each other. */
			__atomic_compare_exchange_n(&c->grp->head, &h, oldest, 0,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			continue;
		}
		uint64_t *cellp = &c->cells[h & c->grp_mask];
		/* M4: acquire, pairs with deliver_group's release of the cell: the frame it
		 * names is visible. Read once, then checked. */
		uint64_t cell = LOAD_ACQ(cellp);
		int32_t age = (int32_t)(RKV_CELL_TAG(cell) - (uint32_t)h);
		if (age > 0 || (age == 0 && RKV_CELL_OWNER(cell) != 0)) {
			/* Claimed already (and maybe refilled): help head on. */
			/* M4: helping head on, by compare-and-swap (acq_rel) from the value
			 * read. */
			__atomic_compare_exchange_n(&c->grp->head, &h, h + 1, 0,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			continue;
		}
		if (age < 0)
			continue; /* a stale head; read again */
		uint64_t mine = RKV_CELL(RKV_CELL_TAG(cell), me, RKV_CELL_SLOT(cell));
		/* M4: the claim. Release pairs with the producer's acquire of the cell
		 * (deliver_group, ledger_drain, settle); acquire with its fill. */
		if (__atomic_compare_exchange_n(cellp, &cell, mine, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			/* M4: helping head on, by compare-and-swap (acq_rel) from the value
			 * read. */
			__atomic_compare_exchange_n(&c->grp->head, &h, h + 1, 0,
						    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			*e = RKV_ENTRY(RKV_CELL_TAG(cell), RKV_CELL_SLOT(cell));
			return 2; /* the tag is the position, not the publish count */
		}
	}
	return 0;
}

static int take(rkv_consumer *c, uint64_t *e)
{
	switch (c->policy) {
	case RKV_POLICY_LATEST:
		return take_latest(c, e);
	case RKV_POLICY_GROUP:
		return take_group(c, e);
	default:
		return take_ring(c, e);
	}
}

/* Is anything waiting to be taken? (A hint: it may be gone when we look.) */
static int peek(rkv_consumer *c)
{
	switch (c->policy) {
	case RKV_POLICY_LATEST:
		/* M3: a hint, relaxed; take() reads again. */
		return LOAD_RLX(&c->chan->mailbox) != RKV_MAILBOX_EMPTY;
	case RKV_POLICY_GROUP:
		/* M4: a hint, relaxed; take() reads again. */
		return LOAD_RLX(&c->grp->head) != LOAD_RLX(&c->grp->tail);
	default:
		/* M1: a hint; take() reads again. */
		return LOAD_ACQ(&c->chan->ready_tail) != c->head;
	}
}

static int wait_events(rkv_consumer *c, int64_t deadline);

/* Give slot @s back to the producer (lock held): 0, or 1 when nobody is
 * left to take it (the view is simply forgotten), or -EPROTO. */
static int push_release(rkv_consumer *c, uint32_t s)
{
	/* M5: acquire, pairs with ledger_drain's release of release_head: the producer read
	 * the entries we overwrite next. */
	uint64_t h = LOAD_ACQ(&c->chan->release_head);

	if (c->rel_tail - h > c->release_mask) {
		/* The producer never lets an honest consumer get here, unless
		 * it stopped reading our ring because it evicted us or died:
		 * then there is nobody to give the slot back to. */
		/* M8: acquire, pairs with the ledger's release of evicted. */
		if (!c->gone && !LOAD_ACQ(&c->chan->evicted))
			wait_events(c, 0);
		/* M8: as above. */
		return c->gone || LOAD_ACQ(&c->chan->evicted) ? 1 : -EPROTO;
	}
	/* M5: relaxed; the release of release_tail below makes it visible. */
	STORE_RLX(&c->release[c->rel_tail & c->release_mask], s);
	c->rel_tail++;
	/* M5: release, pairs with ledger_drain's acquire: every read of the slot's data
	 * happens before the producer may write it again (no torn frame on a weak machine). */
	STORE_REL(&c->chan->release_tail, c->rel_tail);
	wake_producer(c);
	return 0;
}

/* The lease ended without a word: a crash of the producer, or our lease
 * alone? Its process tells. */
static int lease_end_cause(rkv_consumer *c)
{
	/* M8: acquire, pairs with the ledger's release of evicted. */
	uint32_t ev = LOAD_ACQ(&c->chan->evicted);

	if (ev == 2)
		return -ENOTCONN;
	if (ev)
		return -ECONNRESET;
	/* M8: acquire, pairs with rkv_producer_destroy()'s release of closed. */
	if (LOAD_ACQ(&c->pool->closed))
		return -EPIPE;
	if (c->pidfd >= 0) {
		/* A dying process closes its files a moment before its pidfd
		 * says it exited. */
		struct pollfd pfd = { .fd = c->pidfd, .events = POLLIN };
		int r;
		do
			r = poll(&pfd, 1, 200);
		while (r < 0 && errno == EINTR);
		return r > 0 ? -EPIPE : -ENOTCONN;
	}
	if (c->producer_pid > 0 && kill(c->producer_pid, 0) == 0)
		return -ENOTCONN;
	return -EPIPE;
}

/* Read what the producer said on the lease, if anything. */
static void check_lease(rkv_consumer *c, uint32_t events)
{
	int32_t code;
	ssize_t n;

	if (c->gone)
		return;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	n = recv(c->sock, &code, sizeof(code), MSG_DONTWAIT);
	if (n == (ssize_t)sizeof(code) &&
	    (code == -ECONNRESET || code == -EPIPE || code == -ENOTCONN))
		c->gone = code;
	else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
		 (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		c->gone = lease_end_cause(c);
}

/* Wait on the epoll set until @deadline (0: just look), and note what the
 * lease and the producer's process say. 0 or -EINTR. */
static int wait_events(rkv_consumer *c, int64_t deadline)
{
	struct epoll_event ev[4];
	int n = rkv__epoll_wait(c->ep, ev, 4, deadline);

	if (n == -EINTR)
		return -EINTR;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u32 == EV_LEASE)
			check_lease(c, ev[i].events);
		else if (ev[i].data.u32 == EV_PRODUCER && !c->gone)
			c->gone = -EPIPE;
	}
	return 0;
}

/*
 * Turn entry @e into a view. The slot index and the descriptor come from
 * the producer's memory: both are checked, and a frame that fails goes back
 * where it names a slot we can give back.
 */
static int make_view(rkv_consumer *c, uint64_t e, int tag_is_pos, struct rkv_view *v)
{
	uint32_t s = RKV_ENTRY_SLOT(e);
	struct rkv_wire_slot d;

	/* In-process: tokens and counters of this handle, written by the acquiring thread
	 * or under rel_lock, each read alone: relaxed. */
	if (s >= c->nslots || LOAD_RLX(&c->held[s]))
		return -EPROTO; /* not a slot we can give back */
	/* Copied once and only the copy checked: an honest producer does not
	 * write a slot we were handed, a broken one may (M1, M3, M4). */
	rkv__load_bytes(&d, &c->slots[s], sizeof(d));
	if ((!tag_is_pos && (uint32_t)d.pub_seq != RKV_ENTRY_TAG(e)) ||
	    rkv_frame_check(&d.frame, c->capacity)) {
		rel_lock(c);
		push_release(c, s);
		rel_unlock(c);
		return -EPROTO;
	}
	if (++c->next_token == 0)
		c->next_token = 1;
	/* In-process: tokens and counters of this handle, written by the acquiring thread
	 * or under rel_lock, each read alone: relaxed. chan->taken: M10. */
	STORE_RLX(&c->held[s], c->next_token);
	STORE_RLX(&c->n_acquired, c->n_acquired + 1);
	c->taken++;
	STORE_RLX(&c->last_pub, d.pub_seq);
	STORE_RLX(&c->last_seq, d.frame.seq);
	STORE_RLX(&c->chan->taken, c->taken);
	/* Field by field: a memset of the whole view is measurable here. */
	v->frame = d.frame;
	v->capacity = c->capacity;
	v->slot = s;
	v->token = c->next_token;
	v->pad0 = 0;
	memset(v->reserved, 0, sizeof(v->reserved));
	if (c->ext) {
		v->fd = c->ext[s].fd;
		v->fd_offset = c->ext[s].offset;
		v->data = c->ext[s].map ? c->ext[s].map + c->ext[s].offset : NULL;
	} else {
		v->fd = -1;
		v->data = c->data + (uint64_t)s * c->stride;
	}
	return 0;
}

/* One non-blocking attempt. 0 with a view, -EAGAIN, or another error. */
static int try_acquire(rkv_consumer *c, struct rkv_view *v)
{
	uint64_t e;
	uint32_t ev;
	int r;

	if (c->gone == -ECONNRESET || c->gone == -ENOTCONN)
		return c->gone; /* our queue is no longer protected */
	r = take(c, &e);
	if (r < 0)
		return r;
	if (r == 0)
		return -EAGAIN;
	/* M8: acquire, pairs with the ledger's release of evicted. */
	ev = LOAD_ACQ(&c->chan->evicted);
	if (ev) {
		/* The producer took our slots back: what we just took may be
		 * rewritten any moment. */
		c->gone = ev == 2 ? -ENOTCONN : -ECONNRESET;
		return c->gone;
	}
	r = make_view(c, e, r == 2, v);
	/* Taking made room in a queue the producer may be waiting on (not
	 * so for a mailbox). Checked after the view is made, to keep the
	 * fence off the frame's way to the caller. */
	if (c->policy != RKV_POLICY_LATEST)
		wake_producer(c);
	if (r == 0 && c->ext && c->ext[v->slot].sync)
		rkv__dmabuf_sync(v->fd, 1, 0);
	return r;
}

/* ==== waiting ==============================================================
 *
 * The Dekker handshake with the producer: announce the sleep
 * (consumer_waiting = 1), fence, look once more; the producer, after
 * queueing, fences and wakes us only if the flag is set. Wake-ups come as
 * bytes on the wake socket, which is drained BEFORE announcing, never
 * after: a byte sent for this announcement must survive until we sleep.
 */

static void drain_wakes(rkv_consumer *c)
{
	rkv__wake_drain(c->wake_rd);
	if (c->self_pending) {
		rkv__efd_drain(c->self_efd);
		c->self_pending = 0;
	}
}

static void announce(rkv_consumer *c)
{
	/* M6: relaxed store, then the full fence below before our second look; pairs with
	 * the fence in deliver_wake_consumers() / deliver_wake_group() (Dekker: one side
	 * sees the other). */
	STORE_RLX(&c->chan->consumer_waiting, 1);
	WAKE_FENCE();
}

/* fd mode: make the fd readable now, without the producer. */
static void self_signal(rkv_consumer *c)
{
	if (!c->self_pending) {
		c->self_pending = 1;
		rkv__efd_signal(c->self_efd);
	}
}

/* -EBUSY in fd mode: the fd must be readable while a frame is queued and
 * become readable when one is, exactly as after -EAGAIN. */
static void rearm_busy(rkv_consumer *c)
{
	drain_wakes(c);
	announce(c);
	if (peek(c))
		self_signal(c);
}

/* The lease ended: hand out what is left if that is safe, else say why. */
static int after_lease(rkv_consumer *c, struct rkv_view *v)
{
	int r;

	if (c->gone != -EPIPE)
		return c->gone;
	/* The producer is gone: frames queued before it went are whole. */
	r = try_acquire(c, v);
	return r == -EAGAIN ? c->gone : r;
}

int rkv_consumer_acquire(rkv_consumer *c, struct rkv_view *v, int64_t timeout_ns)
{
	int64_t deadline = INT64_MAX;
	int r;

	if (!c || !v)
		return -EINVAL;
	if (forked(c))
		return -ECHILD;
	if (nheld(c) >= c->max_held) {
		/* Say why if the lease broke: an evicted consumer may be
		 * unable to give its views back. */
		if (!c->gone)
			wait_events(c, 0);
		if (c->fd_mode)
			rearm_busy(c);
		return c->gone == -ECONNRESET || c->gone == -ENOTCONN ? c->gone : -EBUSY;
	}
	r = try_acquire(c, v);
	if (r != -EAGAIN)
		return r;

	if (timeout_ns != 0)
		deadline = rkv__deadline(timeout_ns);
	if (timeout_ns != 0 && c->spin_ns > 0 && !c->gone) {
		int64_t stop = rkv__deadline(c->spin_ns);
		if (stop > deadline)
			stop = deadline;
		for (;;) {
			for (int k = 0; k < 32; k++) {
				rkv__cpu_relax();
				r = try_acquire(c, v);
				if (r != -EAGAIN)
					return r;
			}
			if (rkv__now_ns() >= stop)
				break;
		}
	}

	for (;;) {
		if (c->gone)
			return after_lease(c, v);
		if (timeout_ns == 0 && !c->fd_mode) {
			/* Polling without the fd: nobody waits on the wake
			 * socket, so do not ask the producer to signal it;
			 * only look at the lease. */
			wait_events(c, 0);
			if (c->gone)
				continue;
			return -EAGAIN;
		}
		drain_wakes(c);
		announce(c);
		r = try_acquire(c, v);
		if (r != -EAGAIN) {
			/* In fd mode the announcement stays: the fd must
			 * become readable for the next frame. */
			/* M6: the announcement taken back; a producer that still
			 * saw it writes one byte more, drained before the next
			 * announcement. */
			if (!c->fd_mode)
				STORE_RLX(&c->chan->consumer_waiting, 0);
			return r;
		}
		if (timeout_ns == 0) {
			/* Non-blocking in fd mode: armed. Look at the lease,
			 * for the producer's death. */
			wait_events(c, 0);
			if (c->gone)
				continue;
			return -EAGAIN;
		}
		if (deadline != INT64_MAX && rkv__now_ns() >= deadline) {
			/* M6: the announcement taken back; a producer that still
			 * saw it writes one byte more, drained before the next
			 * announcement. */
			if (!c->fd_mode)
				STORE_RLX(&c->chan->consumer_waiting, 0);
			return -ETIMEDOUT;
		}
		r = wait_events(c, deadline);
		/* M6: the announcement taken back; a producer that still saw it
		 * writes one byte more, drained before the next announcement. */
		if (!c->fd_mode)
			STORE_RLX(&c->chan->consumer_waiting, 0);
		if (r == -EINTR)
			return -EINTR;
		r = try_acquire(c, v);
		if (r != -EAGAIN)
			return r;
	}
}

int rkv_consumer_release(rkv_consumer *c, struct rkv_view *v)
{
	uint32_t s;
	int r;

	if (!c || !v)
		return -EINVAL;
	if (forked(c))
		return -ECHILD;
	s = v->slot;
	/* In-process: tokens and counters of this handle, written by the acquiring thread
	 * or under rel_lock, each read alone: relaxed. Checked again under rel_lock below. */
	if (s >= c->nslots || v->token == 0 || LOAD_RLX(&c->held[s]) != v->token)
		return -EINVAL;
	/* The CPU is done reading (a syscall: outside the lock). */
	if (c->ext && c->ext[s].sync)
		rkv__dmabuf_sync(c->ext[s].fd, 0, 0);
	rel_lock(c);
	/* In-process, under rel_lock (its acquire orders the last holder's writes):
	 * relaxed. */
	if (LOAD_RLX(&c->held[s]) != v->token) {
		rel_unlock(c); /* another thread released it meanwhile */
		return -EINVAL;
	}
	/* Not held from before the producer can see the slot back: it may
	 * queue the slot to us again at once, and another thread's acquire
	 * would refuse a slot still marked held (-EPROTO). */
	/* In-process, under rel_lock: relaxed. */
	STORE_RLX(&c->held[s], 0);
	r = push_release(c, s);
	/* In-process: n_released's release pairs with nheld()'s acquire: the
	 * token cleared before the count. */
	if (r >= 0)
		STORE_REL(&c->n_released, c->n_released + 1);
	else
		STORE_RLX(&c->held[s], v->token); /* not given back: still held */
	rel_unlock(c);
	if (r < 0)
		return r;
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	return 0;
}

int rkv_consumer_fd(rkv_consumer *c)
{
	if (!c)
		return -EINVAL;
	if (forked(c))
		return -ECHILD;
	if (!c->fd_mode) {
		/* From now on the producer signals every frame we sleep
		 * through; and if frames are already waiting, the fd says so
		 * at once, so a poll before the first acquire cannot hang. */
		c->fd_mode = 1;
		announce(c);
		if (peek(c))
			self_signal(c);
	}
	return c->ep;
}

/* ==== counters and hooks ================================================== */

/* When the frame in slot @s (an index the producer wrote) was captured; 0
 * for an index out of range. The slot may be given back and rewritten as
 * we look (another thread's acquire, a mailbox replaced): the producer
 * stores this field atomically, and a newer frame's time is no harm here. */
static int64_t slot_ts(rkv_consumer *c, uint32_t s)
{
	/* M10: relaxed, pairs with frame_store()'s relaxed store (producer.c): a time read
	 * alone. */
	return s < c->nslots ? LOAD_RLX(&c->slots[s].frame.timestamp_ns) : 0;
}

/* How far behind we are (pool.h), from what we acquired and what the
 * producer wrote; another thread may be in acquire meanwhile. */
static void own_lag(rkv_consumer *c, struct rkv_consumer_stats *st, uint64_t received)
{
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	uint64_t published = LOAD_RLX(&c->pool->published), base;
	int64_t ts = 0;

	/* In-process: tokens and counters of this handle, written by the acquiring
	 * thread or under rel_lock, each read alone: relaxed. */
	if (received)
		st->last_seq = LOAD_RLX(&c->last_seq);
	if (c->policy == RKV_POLICY_GROUP) {
		/* M4: acquire, as in take_group; an estimate, checked before use. */
		uint64_t h = LOAD_ACQ(&c->grp->head), t = LOAD_ACQ(&c->grp->tail);
		st->lag = t - h <= (uint64_t)c->grp_mask + 1 ? t - h : 0;
		if (st->lag) {
			/* M4: acquire, as in take_group; read once, checked. */
			uint64_t cell = LOAD_ACQ(&c->cells[h & c->grp_mask]);
			if (RKV_CELL_TAG(cell) == (uint32_t)h && RKV_CELL_OWNER(cell) == 0)
				ts = slot_ts(c, RKV_CELL_SLOT(cell));
		}
	} else {
		/* In-process: tokens and counters of this handle, written by the acquiring
		 * thread or under rel_lock, each read alone: relaxed. attach_pub: written
		 * before the welcome. */
		base = received ? LOAD_RLX(&c->last_pub) : LOAD_RLX(&c->chan->attach_pub);
		/* The pool's count is stored once publish is over: the frame
		 * being published may be ours already. */
		st->lag = published > base ? published - base : 0;
		if (c->policy == RKV_POLICY_LATEST) {
			/* M3: acquire, as in take_latest; read once. */
			uint64_t e = LOAD_ACQ(&c->chan->mailbox);
			if (e != RKV_MAILBOX_EMPTY)
				ts = slot_ts(c, RKV_ENTRY_SLOT(e));
		} else {
			/* M1, M2: acquire, as in take_ring; read once, checked. */
			uint64_t h = LOAD_ACQ(&c->chan->ready_head), t = LOAD_ACQ(&c->chan->ready_tail);
			/* M1: ordered by the acquire of ready_tail above; slot_ts()
			 * checks the index. */
			if (t != h && t - h <= (uint64_t)c->ready_mask + 1)
				ts = slot_ts(c, RKV_ENTRY_SLOT(LOAD_RLX(&c->ready[h & c->ready_mask])));
		}
	}
	if (ts > 0) {
		int64_t now = rkv__now_ns();
		st->queued_age_ns = now > ts ? now - ts : 0;
	}
}

int rkv_consumer_stats(rkv_consumer *c, struct rkv_consumer_stats *out, size_t size)
{
	const struct rkv_wire_cstats *w;
	struct rkv_consumer_stats st;

	if (!c || !out)
		return -EINVAL;
	if (forked(c))
		return -ECHILD;
	w = (const struct rkv_wire_cstats *)((const uint8_t *)c->pool + c->pool->stats_offset) + c->id;
	memset(&st, 0, sizeof(st));
	st.id = c->id;
	st.policy = c->policy;
	st.pid = getpid();
	st.queue_depth = c->depth;
	st.max_held = c->max_held;
	/* What we pin, from our own side: exact, where the producer's books
	 * lag until it reads our release ring. */
	st.outstanding = nheld(c);
	/* M3, and M1 and M2, read as numbers. */
	if (c->policy == RKV_POLICY_LATEST)
		st.outstanding += LOAD_RLX(&c->chan->mailbox) != RKV_MAILBOX_EMPTY;
	else if (c->policy != RKV_POLICY_GROUP)
		st.outstanding += (uint32_t)(LOAD_ACQ(&c->chan->ready_tail) -
					     LOAD_RLX(&c->chan->ready_head));
	/* A group member's frames are the ones it claimed. */
	/* From the shared copies: this may run on another thread than
	 * acquire, which owns c->head and c->taken. */
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	st.received = LOAD_RLX(&c->chan->taken);
	st.delivered = c->policy == RKV_POLICY_GROUP ? st.received : LOAD_RLX(&w->delivered);
	st.dropped = c->policy == RKV_POLICY_GROUP ? 0 : LOAD_RLX(&w->dropped);
	st.replaced = LOAD_RLX(&w->replaced);
	memcpy(st.label, w->label, RKV_LABEL_MAX);
	memcpy(st.group, w->group, RKV_LABEL_MAX);
	st.label[RKV_LABEL_MAX - 1] = st.group[RKV_LABEL_MAX - 1] = '\0';
	own_lag(c, &st, st.received);
	/* A caller built before lag was appended passes the older size. */
	return rkv__copy_out(out, size, &st, sizeof(st), offsetof(struct rkv_consumer_stats, lag));
}

int rkv_consumer_pool_stats(rkv_consumer *c, struct rkv_pool_stats *out, size_t size)
{
	struct rkv_pool_stats st;

	if (!c || !out)
		return -EINVAL;
	if (forked(c))
		return -ECHILD;
	rkv__pool_stats_read(c->pool, &st);
	return rkv__copy_out(out, size, &st, sizeof(st), sizeof(st));
}

int rkv__consumer_chan_area(rkv_consumer *c, void **base, uint64_t *size)
{
	if (!c || !base || !size)
		return -EINVAL;
	*base = c->chan;
	*size = c->chan_size;
	return 0;
}

int rkv__consumer_group_area(rkv_consumer *c, void **base, uint64_t *size)
{
	if (!c || !base || !size)
		return -EINVAL;
	if (!c->grp)
		return -ENOENT;
	*base = c->grp;
	*size = c->grp_size;
	return 0;
}
