/* SPDX-License-Identifier: MIT */
/*
 * attach.c - admitting a consumer: who it is, whether the slot budget can
 * serve it, its resources, and the welcome that carries them.
 *
 * A hello is handled in four steps so that the producer's lock is never
 * held across a syscall that allocates or talks to the peer:
 *
 *   1. read and check the hello; make the chan memfd, the wake pipe and
 *      socketpair
 *      and (for a group consumer) a group queue it may need, unlocked;
 *   2. under the lock: budget, a table entry, join or make the group; the
 *      entry is active from here on (frames queue for it), so the consumer
 *      misses nothing published after its attach returns;
 *   3. unlocked: send the welcome (and external slot fds) on the connection,
 *      which this thread alone owns until step 4;
 *   4. under the lock: the connection becomes the entry's lease, watched
 *      with the consumer's process; or, if the consumer hung up meanwhile
 *      (or was evicted with its group), it is forgotten.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool/producer.h"

/* Slots the attached consumers and the producer may pin at worst. */
static uint64_t budget_used(rkv_producer *p)
{
	uint64_t used = p->max_loans;

	for (uint32_t i = 0; i < p->max_consumers; i++) {
		struct cons *c = &p->cons[i];
		if (c->state == CS_FREE)
			continue;
		if (c->policy == RKV_POLICY_GROUP)
			used += c->max_held;
		else
			used += c->depth + c->max_held;
	}
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->groups[i].used)
			used += p->groups[i].ring_size;
	return used;
}

static struct group *group_find(rkv_producer *p, const char *name)
{
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (p->groups[i].used && !p->groups[i].corrupt && strcmp(p->groups[i].name, name) == 0)
			return &p->groups[i];
	return NULL;
}

/* A group queue made before the lock is taken; used if the group is new. */
struct group_area {
	int fd;
	void *base;
	uint64_t size;
	uint32_t *at;
};

static void group_area_free(struct group_area *a)
{
	if (a->base)
		rkv__unmap(a->base, a->size);
	if (a->fd >= 0)
		close(a->fd);
	free(a->at);
	a->fd = -1;
	a->base = NULL;
	a->at = NULL;
}

static int group_area_make(struct group_area *a, uint32_t ring_size)
{
	int r;

	a->size = align_up(sizeof(struct rkv_wire_group) + 8ull * ring_size, PAGE);
	a->fd = rkv__memfd_create("rkv-group", a->size, 0);
	if (a->fd < 0)
		return a->fd;
	r = rkv__map(a->fd, a->size, 1, &a->base);
	if (r) {
		a->base = NULL;
		return r;
	}
	a->at = malloc(ring_size * sizeof(*a->at));
	if (!a->at)
		return -ENOMEM;
	return 0;
}

/* Install the group queue in @a as group @g (lock held); @a is consumed. */
static void group_install(struct group *g, struct group_area *a, const char *name,
			  uint32_t ring_size, uint32_t flags)
{
	g->used = 1;
	g->corrupt = 0;
	g->gen++;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->members = 0;
	g->flags = flags;
	g->ring_size = ring_size;
	g->mask = ring_size - 1;
	g->fd = a->fd;
	g->g = a->base;
	g->size = a->size;
	free(g->at);
	g->at = a->at;
	g->cells = (uint64_t *)((uint8_t *)a->base + sizeof(struct rkv_wire_group));
	g->tail = 0;
	g->nqueued = 0;
	g->next_wake = 0;
	g->delivered = g->dropped = g->claimed = 0;
	g->g->magic = RKV_MAGIC_GROUP;
	g->g->version = RKV_WIRE_VERSION;
	g->g->header_size = sizeof(struct rkv_wire_group);
	g->g->ring_size = ring_size;
	g->g->total_size = a->size;
	g->g->cells_offset = sizeof(struct rkv_wire_group);
	/* Position p's cell carries tag p; before the first lap a cell has
	 * never been written, which the tag of position p - ring_size and
	 * the owner RKV_CELL_NEVER mark. */
	for (uint32_t i = 0; i < ring_size; i++) {
		g->cells[i] = RKV_CELL((uint32_t)(i - ring_size), RKV_CELL_NEVER, 0xffff);
		g->at[i] = NO_SLOT;
	}
	/* An observer may still be reading the entry's last user (M9): every
	 * byte is written atomically. */
	rkv__store_bytes(g->st, NULL, sizeof(*g->st));
	STORE_RLX(&g->st->ring_size, ring_size);
	rkv__store_bytes(g->st->name, g->name, RKV_LABEL_MAX);
	/* M9: release, pairs with the observers' acquire of active: the entry's fields,
	 * written above, are seen with it. */
	STORE_REL(&g->st->active, 1);
	a->fd = -1;
	a->base = NULL;
	a->at = NULL;
}

/* Admit the peer on @fd if its credentials match the pool's access rule. */
int attach_admitted(rkv_producer *p, int fd, pid_t *pid, char *why, size_t len)
{
	struct ucred cr;
	socklen_t crl = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
		rkv__set_reason(why, len, "cannot read the peer's credentials");
		return -EACCES;
	}
	*pid = cr.pid;
	if (cr.uid == p->uid)
		return 0;
	if (p->flags & RKV_POOL_GROUP_ACCESS) {
		gid_t groups[256];
		socklen_t gl = sizeof(groups);
		if (cr.gid == p->access_gid)
			return 0;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0) {
			for (size_t i = 0; i < gl / sizeof(gid_t); i++)
				if (groups[i] == p->access_gid)
					return 0;
		}
		rkv__set_reason(why, len, "uid %u is neither the pool's owner nor in group %u",
				(unsigned)cr.uid, (unsigned)p->access_gid);
		return -EACCES;
	}
	rkv__set_reason(why, len, "pool '%s' admits only uid %u, not uid %u", p->name,
			(unsigned)p->uid, (unsigned)cr.uid);
	return -EACCES;
}

static int label_ok(const char *s)
{
	return memchr(s, '\0', RKV_LABEL_MAX) != NULL;
}

/* An observer: bring the counters up to date and pass the pool. */
static void answer_observer(rkv_producer *p, int fd, struct rkv_wire_welcome *w)
{
	pthread_mutex_lock(&p->lock);
	producer_refresh(p);
	pthread_mutex_unlock(&p->lock);
	w->pool_size = p->pool_size;
	w->nfds = 1;
	rkv__send_msg(fd, w, sizeof(*w), &p->pool_ro_fd, 1, MSG_DONTWAIT);
}

/* What step 1 made for the new consumer. */
struct joining {
	struct rkv_wire_hello h;
	uint32_t depth, held;
	int chan_fd;
	void *chan;
	uint64_t chan_size;
	uint32_t ready_size, release_size;
	int wake[2];              /* socketpair: [0] ours, [1] the consumer's */
	int pipe[2];              /* producer -> consumer: [0] read (the consumer's), [1] write */
	int keep;                 /* a copy of pipe[0] the producer keeps */
	int pidfd;
	struct group_area ga;
};

static void joining_free(struct joining *j)
{
	if (j->chan)
		rkv__unmap(j->chan, j->chan_size);
	if (j->chan_fd >= 0)
		close(j->chan_fd);
	if (j->wake[0] >= 0)
		close(j->wake[0]);
	if (j->wake[1] >= 0)
		close(j->wake[1]);
	if (j->pipe[0] >= 0)
		close(j->pipe[0]);
	if (j->pipe[1] >= 0)
		close(j->pipe[1]);
	if (j->keep >= 0)
		close(j->keep);
	if (j->pidfd >= 0)
		close(j->pidfd);
	group_area_free(&j->ga);
}

/* Step 1: check the hello's numbers and make the resources, unlocked. */
static int prepare(rkv_producer *p, struct joining *j, pid_t pid, char *why, size_t len)
{
	const struct rkv_wire_hello *h = &j->h;
	int r;

	if (h->kind != RKV_HELLO_CONSUMER || h->policy < RKV_POLICY_BLOCK ||
	    h->policy > RKV_POLICY_GROUP || !label_ok(h->label) || !label_ok(h->group) ||
	    (h->policy == RKV_POLICY_GROUP) != (h->group[0] != '\0')) {
		rkv__set_reason(why, len, "malformed attach request");
		return -EINVAL;
	}
	j->depth = h->queue_depth ? h->queue_depth : 2;
	j->held = h->max_held ? h->max_held : 1;
	if (h->policy == RKV_POLICY_LATEST)
		j->depth = 1;
	if (j->depth > RKV_MAX_DEPTH || j->held > RKV_MAX_DEPTH) {
		rkv__set_reason(why, len, "queue depth and max held are limited to %u", RKV_MAX_DEPTH);
		return -EINVAL;
	}
	if (h->policy == RKV_POLICY_GROUP) {
		j->depth = rkv__pow2_at_least(j->depth);
		r = group_area_make(&j->ga, j->depth);
		if (r)
			goto nores;
	}

	/* The chan: rings sized so an honest consumer can never overflow its
	 * release ring (it never has more to give back than it may pin; a
	 * group member's depth is the group's, whatever it joins). */
	j->ready_size = rkv__pow2_at_least(h->policy == RKV_POLICY_LATEST ||
					   h->policy == RKV_POLICY_GROUP ? 1 : j->depth);
	j->release_size = rkv__pow2_at_least((h->policy == RKV_POLICY_GROUP ? 2 * RKV_MAX_DEPTH : j->depth) +
					     j->held + 1);
	j->chan_size = align_up(sizeof(struct rkv_wire_chan) + 8ull * j->ready_size +
				4ull * j->release_size, PAGE);
	j->chan_fd = rkv__memfd_create("rkv-chan", j->chan_size, 0);
	if (j->chan_fd < 0) {
		r = j->chan_fd;
		goto nores;
	}
	r = rkv__map(j->chan_fd, j->chan_size, 1, &j->chan);
	if (r) {
		j->chan = NULL;
		goto nores;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, j->wake) < 0) {
		r = -errno;
		j->wake[0] = j->wake[1] = -1;
		goto nores;
	}
	if (pipe2(j->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		j->pipe[0] = j->pipe[1] = -1;
		goto nores;
	}
	j->keep = fcntl(j->pipe[0], F_DUPFD_CLOEXEC, 3);
	if (j->keep < 0) {
		r = -errno;
		goto nores;
	}
	/* Watch the process too, unless it is us (threads in one process)
	 * or out of our sight (another pid namespace). */
	if (pid > 0 && pid != p->pid) {
		j->pidfd = rkv__pidfd_open(pid);
		if (j->pidfd == -ESRCH) {
			rkv__set_reason(why, len, "the consumer process is gone");
			return -ESRCH;
		}
		if (j->pidfd < 0)
			j->pidfd = -1;
	}
	return 0;
nores:
	rkv__set_reason(why, len, "out of resources: %s", strerror(-r));
	return r;
}

/* Step 2, lock held: budget, entry, group. Returns the entry or NULL with
 * *@err and the reason set. */
static struct cons *reserve(rkv_producer *p, struct joining *j, int *err, char *why, size_t len)
{
	const struct rkv_wire_hello *h = &j->h;
	struct group *g = NULL;
	struct cons *c = NULL;
	uint32_t need_group = 0;
	uint64_t used, need;

	if (p->nconsumers >= p->max_consumers) {
		*err = -EUSERS;
		rkv__set_reason(why, len, "pool '%s' already has its %u consumers", p->name,
				p->max_consumers);
		return NULL;
	}
	if (h->policy == RKV_POLICY_GROUP) {
		g = group_find(p, h->group);
		if (g) {
			if ((h->queue_depth && rkv__pow2_at_least(h->queue_depth) != g->ring_size) ||
			    (h->flags & RKV_GROUP_BLOCK) != g->flags) {
				*err = -EINVAL;
				rkv__set_reason(why, len,
						"group '%s' has queue depth %u and %s; this member asks otherwise",
						g->name, g->ring_size,
						g->flags ? "blocks when full" : "drops when full");
				return NULL;
			}
			j->depth = g->ring_size;
		} else {
			need_group = j->depth;
		}
	}
	used = budget_used(p);
	need = need_group + j->held + (h->policy == RKV_POLICY_GROUP ? 0 : j->depth);
	if (used + need > p->nslots) {
		*err = -ENOSPC;
		rkv__set_reason(why, len,
				"pool '%s' has %u slots; the producer's loans and the %u attached "
				"consumers may pin %llu; this %s consumer may pin %llu more "
				"(queue %u + held %u): create the pool with at least %llu slots",
				p->name, p->nslots, p->nconsumers, (unsigned long long)used,
				rkv_policy_name(h->policy), (unsigned long long)need,
				h->policy == RKV_POLICY_GROUP ? need_group : j->depth, j->held,
				(unsigned long long)(used + need));
		return NULL;
	}
	for (uint32_t i = 0; i < p->max_consumers; i++) {
		if (p->cons[i].state == CS_FREE) {
			c = &p->cons[i];
			break;
		}
	}
	if (h->policy == RKV_POLICY_BLOCK || h->policy == RKV_POLICY_DROP) {
		/* One more entry than the queue is deep: the newest frame it
		 * took is still there when the queue is full. */
		uint32_t hn = rkv__pow2_at_least(j->depth + 1);
		if (c->hist_size < hn) {
			struct lagrec *nh = realloc(c->hist, (size_t)hn * sizeof(*nh));
			if (!nh) {
				*err = -ENOMEM;
				rkv__set_reason(why, len, "out of memory");
				return NULL;
			}
			c->hist = nh;
			c->hist_size = hn;
		}
		c->hist_mask = hn - 1;
	}
	if (h->policy == RKV_POLICY_GROUP && !g) {
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			if (!p->groups[i].used) {
				g = &p->groups[i];
				break;
			}
		}
		group_install(g, &j->ga, h->group, j->depth, h->flags & RKV_GROUP_BLOCK);
	}

	c->state = CS_ACTIVE;
	c->gen = (c->gen + 1) & 0xffffffu;
	c->token = RKV_TOKEN(c->id, c->gen);
	c->policy = h->policy;
	c->depth = j->depth;
	c->max_held = j->held;
	c->flags = h->flags;
	c->doom_code = 0;
	c->chan = j->chan;
	c->chan_size = j->chan_size;
	c->ready = (uint64_t *)((uint8_t *)j->chan + sizeof(struct rkv_wire_chan));
	c->release = (uint32_t *)((uint8_t *)c->ready + 8ull * j->ready_size);
	c->ready_mask = j->ready_size - 1;
	c->release_mask = j->release_size - 1;
	c->tail = c->head = c->rel_head = 0;
	c->outstanding = 0;
	memset(c->owned, 0, p->words * 8);
	c->group = g;
	c->delivered = c->dropped = c->replaced = 0;
	c->wake_pending = 0;
	c->attach_pub = p->published;
	c->mb_put = c->took_any = 0;
	c->wake = j->wake[0];
	c->wake_pipe = j->pipe[1];
	c->wake_keep = j->keep;
	c->pidfd = j->pidfd;
	j->chan = NULL;
	j->wake[0] = -1;
	j->pipe[1] = -1;
	j->keep = -1;
	j->pidfd = -1;

	memset(c->chan, 0, sizeof(struct rkv_wire_chan));
	c->chan->magic = RKV_MAGIC_CHAN;
	c->chan->version = RKV_WIRE_VERSION;
	c->chan->header_size = sizeof(struct rkv_wire_chan);
	c->chan->id = c->id;
	c->chan->policy = h->policy;
	c->chan->ready_size = j->ready_size;
	c->chan->release_size = j->release_size;
	c->chan->queue_depth = c->depth;
	c->chan->max_held = j->held;
	c->chan->total_size = c->chan_size;
	c->chan->ready_offset = sizeof(struct rkv_wire_chan);
	c->chan->release_offset = sizeof(struct rkv_wire_chan) + 8ull * j->ready_size;
	c->chan->mailbox = RKV_MAILBOX_EMPTY;
	c->chan->attach_pub = c->attach_pub;

	if (g) {
		g->members++;
		/* M10: counters, one writer, each read alone as a number: relaxed suffices
		 * (docs/pool.md, Memory ordering). */
		STORE_RLX(&g->st->members, g->members);
	}
	p->nconsumers++;
	return c;
}

/* What the welcome says about consumer @c. */
static void fill_welcome(rkv_producer *p, struct cons *c, struct rkv_wire_welcome *w)
{
	struct group *g = c->group;

	w->status = 0;
	w->id = c->id;
	w->nfds = g ? 5 : 4;
	w->pool_size = p->pool_size;
	w->chan_size = c->chan_size;
	w->group_size = g ? g->size : 0;
	w->group_ring = g ? g->ring_size : 0;
	w->token = c->token;
	w->ext_slots = p->ext ? p->nslots : 0;
}

/*
 * Handle one hello on admitted connection @fd from process @pid. On return
 * @fd is a consumer's lease (owned by its table entry) or closed.
 */
void attach_handle(rkv_producer *p, int fd, pid_t pid)
{
	struct joining j = { .chan_fd = -1, .wake = { -1, -1 }, .pipe = { -1, -1 }, .keep = -1, .pidfd = -1,
			     .ga = { .fd = -1 } };
	struct rkv_wire_welcome w;
	int junk[4], njunk, r;
	struct cons *c = NULL;
	uint32_t gen = 0;
	int gfd = -1;
	ssize_t n;

	memset(&w, 0, sizeof(w));
	w.magic = RKV_MAGIC_WELCOME;
	w.version = RKV_WIRE_VERSION;

	n = rkv__recv_msg(fd, &j.h, sizeof(j.h), junk, 4, &njunk);
	for (int i = 0; i < njunk; i++)
		close(junk[i]);
	if (n != (ssize_t)sizeof(j.h) || j.h.magic != RKV_MAGIC_HELLO) {
		r = -EPROTO;
		rkv__set_reason(w.reason, sizeof(w.reason), "not an RKVision attach request");
		goto answer;
	}
	if (j.h.version != RKV_WIRE_VERSION) {
		r = -EPROTO;
		rkv__set_reason(w.reason, sizeof(w.reason),
				"consumer speaks layout version %u, pool '%s' version %u",
				j.h.version, p->name, RKV_WIRE_VERSION);
		goto answer;
	}
	if (j.h.kind == RKV_HELLO_OBSERVER) {
		answer_observer(p, fd, &w);
		close(fd);
		return;
	}

	/* 1 */
	r = prepare(p, &j, pid, w.reason, sizeof(w.reason));
	if (r)
		goto answer;

	/* 2 */
	pthread_mutex_lock(&p->lock);
	c = reserve(p, &j, &r, w.reason, sizeof(w.reason));
	if (c) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u64 = MKTAG(TAG_CONS, c->id, c->gen) };
		struct epoll_event wev = { .events = EPOLLIN,
					   .data.u64 = MKTAG(TAG_WAKE, c->id, c->gen) };
		/* An observer may still be reading the entry's last user
		 * (M9): every byte is written atomically. */
		rkv__store_bytes(c->st, NULL, sizeof(*c->st));
		STORE_RLX(&c->st->id, c->id);
		STORE_RLX(&c->st->policy, c->policy);
		STORE_RLX(&c->st->pid, pid);
		STORE_RLX(&c->st->queue_depth, c->depth);
		STORE_RLX(&c->st->max_held, c->max_held);
		rkv__store_bytes(c->st->label, j.h.label, RKV_LABEL_MAX);
		rkv__store_bytes(c->st->group, j.h.group, RKV_LABEL_MAX);
		/* M9: release, pairs with the observers' acquire of active: the entry's
		 * fields, written above, are seen with it. */
		STORE_REL(&c->st->active, 1);
		/* M10: counters, one writer, each read alone as a number: relaxed suffices
		 * (docs/pool.md, Memory ordering). */
		STORE_RLX(&p->hdr->consumers, p->nconsumers);
		c->sock = fd;
		if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ||
		    epoll_ctl(p->wake_ep, EPOLL_CTL_ADD, c->wake, &wev) < 0 ||
		    (c->pidfd >= 0 && epoll_ctl(p->ep, EPOLL_CTL_ADD, c->pidfd, &ev) < 0)) {
			/* We cannot watch it: it must go (closing fd). */
			r = -errno;
			rkv__set_reason(w.reason, sizeof(w.reason), "cannot watch the consumer: %s",
					strerror(-r));
			c->doom_code = -ENOTCONN;
			ledger_forget(p, c);
			c = NULL;
			fd = -1;
		} else {
			ledger_rebuild_lists(p);
			/* Step 3 talks on fd unlocked; if the entry is
			 * forgotten meanwhile (an eviction of its group), fd
			 * stays open for us and step 4 closes it. Only this
			 * thread reserves entries, so c is not reused before. */
			c->welcoming = 1;
			gen = c->gen;
			fill_welcome(p, c, &w);
			if (c->group)
				gfd = fcntl(c->group->fd, F_DUPFD_CLOEXEC, 3);
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (!c) {
		if (fd < 0) {
			joining_free(&j);
			return;
		}
		goto answer;
	}

	/* 3 */
	r = w.group_size && gfd < 0 ? -EMFILE : 0;
	if (r == 0) {
		int fds[RKV_WELCOME_FDS_MAX], nfds = 0;
		fds[nfds++] = p->pool_ro_fd;
		fds[nfds++] = j.chan_fd;
		fds[nfds++] = j.pipe[0];
		fds[nfds++] = j.wake[1];
		if (w.group_size)
			fds[nfds++] = gfd;
		r = rkv__send_msg(fd, &w, sizeof(w), fds, nfds, MSG_DONTWAIT);
		for (uint32_t first = 0; !r && p->ext && first < p->nslots; first += RKV_SLOTFDS_MAX) {
			struct rkv_wire_slotfds m = { .magic = RKV_MAGIC_SLOTFDS, .first = first };
			int sfds[RKV_SLOTFDS_MAX];
			m.count = p->nslots - first < RKV_SLOTFDS_MAX ? p->nslots - first : RKV_SLOTFDS_MAX;
			for (uint32_t k = 0; k < m.count; k++)
				sfds[k] = p->ext[first + k].ro_fd;
			/* The consumer reads these at once; a full socket
			 * buffer means it does not, and then it is not ours. */
			r = rkv__send_msg(fd, &m, sizeof(m), sfds, (int)m.count, 0);
		}
	}

	/* 4: the lease is the entry's now; or it hung up before hearing the
	 * whole answer; or it was forgotten meanwhile. */
	pthread_mutex_lock(&p->lock);
	if (c->state == CS_FREE || c->gen != gen) {
		close(fd);
	} else {
		c->welcoming = 0;
		if (r) {
			ledger_drop(p, c);
			ledger_reap(p);
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (gfd >= 0)
		close(gfd);
	if (r == 0)
		rkv__efd_signal(p->attach_efd);
	joining_free(&j);
	return;

answer:
	w.status = r;
	rkv__send_msg(fd, &w, sizeof(w), NULL, 0, MSG_DONTWAIT);
	close(fd);
	joining_free(&j);
}
