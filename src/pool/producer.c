/* SPDX-License-Identifier: MIT */
/*
 * producer.c - the producer side of a pool: create and destroy, loan,
 * publish, and the producer's waits.
 *
 * All ownership lives in the producer's private memory (ledger.c): a
 * reference count per slot, and per consumer a bitmap of the slots it holds
 * or has queued. Shared memory only carries requests (slot indices in
 * rings), and every one of them is checked against these books before it is
 * believed. A consumer can therefore lie, scribble or die at any instruction
 * and the worst it can do is lose its own frames: it is evicted and its
 * slots return.
 *
 * Two threads touch the books: the caller's (loan, publish) and the service
 * thread (attach, detach, crash). One mutex guards them. The caller's hot
 * path takes it uncontended, which costs two atomic operations and no
 * syscall; it is dropped whenever the caller sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool/producer.h"

/* ==== create / destroy ==================================================== */

static void ext_free(rkv_producer *p)
{
	if (!p->ext)
		return;
	for (uint32_t i = 0; i < p->nslots; i++) {
		struct ext_slot *e = &p->ext[i];
		if (e->map)
			munmap(e->map, e->size);
		if (e->ro_fd >= 0 && e->ro_fd != e->fd)
			close(e->ro_fd);
		if (e->fd >= 0)
			close(e->fd);
	}
	free(p->ext);
	p->ext = NULL;
}

/* A forked child's copy: let go of descriptors and memory, touch nothing
 * shared (the pool is the parent's). */
static void destroy_forked_copy(rkv_producer *p)
{
	for (uint32_t i = 0; p->cons && i < p->max_consumers; i++) {
		struct cons *c = &p->cons[i];
		if (c->state != CS_FREE) {
			if (c->sock >= 0)
				close(c->sock);
			if (c->wake >= 0)
				close(c->wake);
			if (c->wake_pipe >= 0)
				close(c->wake_pipe);
			if (c->wake_keep >= 0)
				close(c->wake_keep);
			if (c->pidfd >= 0)
				close(c->pidfd);
			rkv__unmap(c->chan, c->chan_size);
		}
		c->state = CS_FREE;
	}
	for (uint32_t i = 0; p->groups && i < p->max_consumers; i++) {
		if (p->groups[i].used) {
			rkv__unmap(p->groups[i].g, p->groups[i].size);
			close(p->groups[i].fd);
		}
		p->groups[i].used = 0;
	}
	if (p->hdr)
		rkv__unmap(p->hdr, p->pool_size);
	p->hdr = NULL; /* no "closed" mark: the parent still serves the pool */
}

void rkv_producer_destroy(rkv_producer *p)
{
	if (!p)
		return;
	service_live_remove(p);
	if (producer_forked(p)) {
		destroy_forked_copy(p);
		p->thread_started = 0; /* the thread was not copied */
	}
	if (p->thread_started) {
		rkv__efd_signal(p->stop_efd);
		pthread_join(p->thread, NULL);
	}
	/* The name goes first, so a new producer can start at once. */
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	for (int i = 0; i < MAX_PENDING; i++)
		if (p->pending[i].fd >= 0)
			close(p->pending[i].fd);
	for (int i = 0; i < MAX_REJECT; i++)
		if (p->reject[i].fd >= 0)
			close(p->reject[i].fd);
	/* M8: release, pairs with the consumers' and observers' acquire of closed. */
	if (p->hdr)
		STORE_REL(&p->hdr->closed, 1);
	if (p->cons) {
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			if (p->cons[i].state != CS_FREE && p->hdr) {
				p->cons[i].doom_code = -EPIPE;
				ledger_forget(p, &p->cons[i]);
			}
		}
		for (uint32_t i = 0; i < p->max_consumers; i++)
		{
			free(p->cons[i].owned);
			free(p->cons[i].hist);
		}
	}
	if (p->groups) {
		for (uint32_t i = 0; i < p->max_consumers; i++) {
			if (p->groups[i].used && p->hdr)
				ledger_group_destroy(p, &p->groups[i]);
			free(p->groups[i].queued);
			free(p->groups[i].pos);
			free(p->groups[i].at);
		}
	}
	ext_free(p);
	if (p->hdr)
		rkv__unmap(p->hdr, p->pool_size);
	if (p->pool_fd >= 0)
		close(p->pool_fd);
	if (p->pool_ro_fd >= 0)
		close(p->pool_ro_fd);
	if (p->svc_efd >= 0)
		close(p->svc_efd);
	if (p->attach_efd >= 0)
		close(p->attach_efd);
	if (p->stop_efd >= 0)
		close(p->stop_efd);
	if (p->ep >= 0)
		close(p->ep);
	if (p->wake_ep >= 0)
		close(p->wake_ep);
	free(p->cons);
	free(p->groups);
	free(p->refs);
	free(p->free_stack);
	free(p->loan_token);
	free(p->waitlist);
	free(p->waitgen);
	free(p->list);
	free(p->glist);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Where things go in the pool area: header, slot descriptors, consumer
 * stats, group stats, then page-aligned slot data (none for external
 * slots). */
static int layout(rkv_producer *p, int external, uint64_t *slots_off, uint64_t *stats_off,
		  uint64_t *gstats_off, uint64_t *data_off)
{
	uint64_t total, nslots_data = external ? 0 : p->nslots;

	*slots_off = sizeof(struct rkv_wire_pool);
	*stats_off = *slots_off + (uint64_t)p->nslots * sizeof(struct rkv_wire_slot);
	*gstats_off = *stats_off + (uint64_t)p->max_consumers * sizeof(struct rkv_wire_cstats);
	*data_off = align_up(*gstats_off + (uint64_t)p->max_consumers * sizeof(struct rkv_wire_gstats), PAGE);
	if (p->capacity > (UINT64_MAX >> 16))
		return -EINVAL;
	p->stride = external ? 0 : align_up(p->capacity, PAGE);
	if (__builtin_mul_overflow(p->stride, nslots_data, &total) ||
	    __builtin_add_overflow(total, *data_off, &total) || total > (uint64_t)INT64_MAX)
		return -EINVAL;
	/* A valid pool this process cannot map (a 32-bit address space) */
	if (total > SIZE_MAX)
		return -ENOMEM;
	p->pool_size = total;
	return 0;
}

/* Take the caller's external slot fds: dup them, check their sizes, find
 * what consumers get, map them if the producer writes them. */
static int ext_setup(rkv_producer *p, const struct rkv_pool_opts *o)
{
	p->ext = calloc(p->nslots, sizeof(*p->ext));
	if (!p->ext)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nslots; i++)
		p->ext[i].fd = p->ext[i].ro_fd = -1;
	for (uint32_t i = 0; i < p->nslots; i++) {
		struct ext_slot *e = &p->ext[i];
		uint64_t end;
		int64_t size;

		e->offset = o->slot_offsets ? o->slot_offsets[i] : 0;
		if (o->slot_fds[i] < 0)
			return -EINVAL;
		e->fd = fcntl(o->slot_fds[i], F_DUPFD_CLOEXEC, 3);
		if (e->fd < 0)
			return errno == EBADF ? -EINVAL : -errno;
		size = rkv__fd_size(e->fd);
		if (size < 0)
			return -EINVAL;
		e->size = (uint64_t)size;
		if (__builtin_add_overflow(e->offset, p->capacity, &end) || end > e->size)
			return -EINVAL;
		if (o->slot_ro_fds && o->slot_ro_fds[i] >= 0) {
			e->ro_fd = fcntl(o->slot_ro_fds[i], F_DUPFD_CLOEXEC, 3);
			if (e->ro_fd < 0)
				return errno == EBADF ? -EINVAL : -errno;
		} else {
			/* A memfd can be reopened read-only; a DMA-BUF cannot,
			 * and then consumers get the fd itself. */
			int ro = rkv__reopen_readonly(e->fd);
			e->ro_fd = ro >= 0 ? ro : e->fd;
			if (ro >= 0 && (fcntl(ro, F_GETFL) & O_ACCMODE) != O_RDONLY) {
				close(ro);
				e->ro_fd = e->fd;
			}
		}
		e->sync = rkv__dmabuf_sync(e->fd, 1, 0) == 0;
		if (e->sync)
			rkv__dmabuf_sync(e->fd, 0, 0);
		if (p->flags & RKV_POOL_CPU_WRITE) {
			void *m;
			int r = rkv__map_plain(e->fd, e->size, 1, &m);
			if (r)
				return r;
			e->map = m;
		}
		p->slots[i].ext_offset = e->offset;
		p->slots[i].ext_size = e->size;
	}
	return 0;
}

int rkv_producer_create(const char *name, const struct rkv_pool_opts *opts_in, rkv_producer **out)
{
	struct rkv_pool_opts o;
	rkv_producer *p;
	struct sockaddr_un sun;
	uint32_t sunlen;
	uint64_t slots_off, stats_off, gstats_off, data_off;
	void *base;
	int r;

	if (!out || !opts_in || rkv__name_check(name))
		return -EINVAL;
	*out = NULL;
	r = rkv__copy_in(&o, sizeof(o), opts_in, sizeof(o));
	if (r)
		return r;
	if (o.slot_count == 0 || o.slot_count > RKV_MAX_SLOTS || o.slot_capacity == 0 ||
	    o.max_consumers > RKV_MAX_CONSUMERS ||
	    (o.flags & ~(RKV_POOL_GROUP_ACCESS | RKV_POOL_CPU_WRITE)) ||
	    ((o.flags & RKV_POOL_CPU_WRITE) && !o.slot_fds) ||
	    (!o.slot_fds && (o.slot_offsets || o.slot_ro_fds)) ||
	    (o.block_timeout_ns < 0 && o.block_timeout_ns != RKV_WAIT_FOREVER) ||
	    o.max_loans > o.slot_count)
		return -EINVAL;

	rkv__fork_init();
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pool_fd = p->pool_ro_fd = p->listen_fd = p->svc_efd = p->attach_efd = -1;
	p->stop_efd = p->ep = p->wake_ep = -1;
	for (int i = 0; i < MAX_PENDING; i++)
		p->pending[i].fd = -1;
	for (int i = 0; i < MAX_REJECT; i++)
		p->reject[i].fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	snprintf(p->name, sizeof(p->name), "%s", name);
	/* A single value in this process, read alone: relaxed (docs/pool.md, Memory
	 * ordering). */
	p->fork_gen = LOAD_RLX(&rkv__fork_gen);
	p->nslots = o.slot_count;
	p->max_consumers = o.max_consumers ? o.max_consumers : 16;
	p->max_loans = o.max_loans ? o.max_loans : 1;
	p->flags = o.flags;
	p->block_timeout_ns = o.block_timeout_ns ? o.block_timeout_ns : DEFAULT_BLOCK_TIMEOUT_NS;
	p->access_gid = o.access_gid >= 0 ? (gid_t)o.access_gid : getegid();
	p->uid = geteuid();
	p->pid = getpid();
	p->capacity = o.slot_capacity;
	p->words = (p->nslots + 63) / 64;

	r = layout(p, o.slot_fds != NULL, &slots_off, &stats_off, &gstats_off, &data_off);
	if (r)
		goto fail;

	/* Bind the name first: a second producer learns at once that it lost. */
	p->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->listen_fd < 0) {
		r = -errno;
		goto fail;
	}
	rkv__sock_addr(name, &sun, &sunlen);
	/* A deep backlog: a peer that connects in a loop fills a short one,
	 * and an admitted consumer's connect would then wait its turn. */
	if (bind(p->listen_fd, (struct sockaddr *)&sun, sunlen) < 0 ||
	    listen(p->listen_fd, SOMAXCONN) < 0) {
		r = -errno;
		goto fail;
	}

	r = rkv__memfd_create("rkv-pool", p->pool_size, 1);
	if (r < 0)
		goto fail;
	p->pool_fd = r;
	r = rkv__map(p->pool_fd, p->pool_size, 1, &base);
	if (r)
		goto fail;
	p->hdr = base;
	/* Consumers get the pool through a read-only descriptor, and where
	 * the kernel has F_SEAL_FUTURE_WRITE (5.1) the memfd refuses any new
	 * writable mapping as well. Older kernels (RK3566 boards still ship
	 * 4.19) keep only the read-only descriptor. */
	r = rkv__memfd_seal_readonly(p->pool_fd);
	if (r && r != -EINVAL)
		goto fail;
	p->pool_ro_fd = rkv__reopen_readonly(p->pool_fd);
	if (p->pool_ro_fd < 0) {
		r = p->pool_ro_fd;
		goto fail;
	}
	p->slots = (struct rkv_wire_slot *)((uint8_t *)base + slots_off);
	p->stats = (struct rkv_wire_cstats *)((uint8_t *)base + stats_off);
	p->gstats = (struct rkv_wire_gstats *)((uint8_t *)base + gstats_off);
	p->data = o.slot_fds ? NULL : (uint8_t *)base + data_off;

	p->hdr->magic = RKV_MAGIC_POOL;
	p->hdr->version = RKV_WIRE_VERSION;
	p->hdr->header_size = sizeof(struct rkv_wire_pool);
	p->hdr->slot_count = p->nslots;
	p->hdr->slot_capacity = p->capacity;
	p->hdr->slot_stride = p->stride;
	p->hdr->slots_offset = slots_off;
	p->hdr->stats_offset = stats_off;
	p->hdr->gstats_offset = gstats_off;
	p->hdr->data_offset = data_off;
	p->hdr->total_size = p->pool_size;
	p->hdr->max_consumers = p->max_consumers;
	p->hdr->producer_pid = p->pid;
	p->hdr->producer_uid = p->uid;
	p->hdr->flags = p->flags | (o.slot_fds ? RKV_WIRE_POOL_EXTERNAL : 0);
	snprintf(p->hdr->name, sizeof(p->hdr->name), "%s", name);
	p->hdr->slots_free = p->nslots;

	if (o.slot_fds) {
		r = ext_setup(p, &o);
		if (r)
			goto fail;
	}

	p->refs = calloc(p->nslots, sizeof(*p->refs));
	p->free_stack = calloc(p->nslots, sizeof(*p->free_stack));
	p->loan_token = calloc(p->nslots, sizeof(*p->loan_token));
	p->waitlist = calloc(p->max_consumers, sizeof(*p->waitlist));
	p->waitgen = calloc(p->max_consumers, sizeof(*p->waitgen));
	p->list = calloc(p->max_consumers, sizeof(*p->list));
	p->glist = calloc(p->max_consumers, sizeof(*p->glist));
	p->cons = calloc(p->max_consumers, sizeof(*p->cons));
	p->groups = calloc(p->max_consumers, sizeof(*p->groups));
	if (!p->refs || !p->free_stack || !p->loan_token || !p->waitlist || !p->waitgen ||
	    !p->list || !p->glist || !p->cons || !p->groups) {
		r = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < p->max_consumers; i++) {
		struct cons *c = &p->cons[i];
		struct group *g = &p->groups[i];
		c->id = i;
		c->sock = c->wake = c->wake_pipe = c->wake_keep = c->pidfd = -1;
		c->st = &p->stats[i];
		c->owned = calloc(p->words, 8);
		g->fd = -1;
		g->st = &p->gstats[i];
		g->queued = calloc(p->words, 8);
		g->pos = calloc(p->nslots, 8);
		if (!c->owned || !g->queued || !g->pos) {
			r = -ENOMEM;
			goto fail;
		}
	}
	/* Slot 0 on top of the stack: the first frames reuse warm memory. */
	for (uint32_t i = 0; i < p->nslots; i++)
		p->free_stack[i] = p->nslots - 1 - i;
	p->nfree = p->nslots;

	p->svc_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->attach_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	p->wake_ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->svc_efd < 0 || p->attach_efd < 0 || p->stop_efd < 0 || p->ep < 0 || p->wake_ep < 0) {
		r = -errno;
		goto fail;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = MKTAG(TAG_STOP, 0, 0) };
		struct epoll_event ev2 = { .events = EPOLLIN, .data.u64 = MKTAG(TAG_LISTEN, 0, 0) };
		struct epoll_event ev3 = { .events = EPOLLIN, .data.u64 = MKTAG(TAG_SVC, 0, 0) };
		if (epoll_ctl(p->ep, EPOLL_CTL_ADD, p->stop_efd, &ev) < 0 ||
		    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->listen_fd, &ev2) < 0 ||
		    epoll_ctl(p->wake_ep, EPOLL_CTL_ADD, p->svc_efd, &ev3) < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = -pthread_create(&p->thread, NULL, service_main, p);
	if (r)
		goto fail;
	p->thread_started = 1;
	service_live_add(p);
	*out = p;
	return 0;
fail:
	rkv_producer_destroy(p);
	return r;
}

/* ==== waiting ============================================================= */

/*
 * Before the producer sleeps it spins this long re-checking: a consumer that
 * is awake gives room back within a few hundred nanoseconds, and a sleep and
 * wake-up on each frame would cost microseconds and a syscall on both sides.
 * Short enough to be noise for a camera (20 us in a 33 ms frame period).
 */
#define PRODUCER_SPIN_NS 20000

/* Take pending wake-ups off the producer's wake set (lock held: a wake
 * socket is looked up by its consumer's tag, never used after it closed). */
static void drain_wakes(rkv_producer *p)
{
	struct epoll_event evs[16];
	int n = rkv__epoll_wait(p->wake_ep, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		uint64_t t = evs[i].data.u64;
		if (TAG_KIND(t) == TAG_SVC) {
			rkv__efd_drain(p->svc_efd);
		} else if (TAG_KIND(t) == TAG_WAKE && TAG_IDX(t) < p->max_consumers) {
			struct cons *c = &p->cons[TAG_IDX(t)];
			if (c->state != CS_FREE && c->gen == TAG_GEN(t) && c->wake >= 0)
				rkv__wake_drain(c->wake);
		}
	}
}

/* Announce that the producer is about to sleep: a new value per sleep, so a
 * consumer signals each sleep once, however many frames it takes or
 * releases meanwhile. */
static void announce_sleep(rkv_producer *p)
{
	if (++p->sleep_gen == 0)
		p->sleep_gen = 1;
	/* M7: relaxed store, then a full fence before our second look (the caller's
	 * recheck); pairs with wake_producer()'s fence (consumer.c): Dekker, as M6. */
	STORE_RLX(&p->hdr->producer_waiting, p->sleep_gen);
	FENCE();
}

/*
 * One step of waiting for a condition the caller just found false. The first
 * PRODUCER_SPIN_NS are spent spinning (lock held; the service thread can
 * wait that long). After that: take old wake-ups off, announce the sleep
 * (producer_waiting), let the caller look once more (@recheck, Dekker with
 * the consumers' release and take paths), then sleep on the wake set until
 * a consumer or the service thread signals or @deadline passes. Returns 1
 * if the recheck succeeded, 0 to look again, -ETIMEDOUT, -EINTR.
 */
static int producer_wait(rkv_producer *p, int64_t *spin_until, int64_t deadline,
			 int (*recheck)(rkv_producer *, void *), void *arg)
{
	struct epoll_event ev[4];
	int64_t now = rkv__now_ns();
	int n;

	if (now >= deadline)
		return -ETIMEDOUT;
	if (*spin_until == 0)
		*spin_until = now + PRODUCER_SPIN_NS;
	if (now < *spin_until) {
		for (int i = 0; i < 64; i++)
			rkv__cpu_relax();
		return 0;
	}
	drain_wakes(p);
	announce_sleep(p);
	if (recheck(p, arg)) {
		/* M7: the announcement taken back; a consumer that still saw it sends one
		 * byte more, which the next wait drains. */
		STORE_RLX(&p->hdr->producer_waiting, 0);
		return 1;
	}
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). (The load reads our own store.) */
	STORE_RLX(&p->hdr->producer_waits, LOAD_RLX(&p->hdr->producer_waits) + 1);
	pthread_mutex_unlock(&p->lock);
	n = rkv__epoll_wait(p->wake_ep, ev, 4, deadline);
	pthread_mutex_lock(&p->lock);
	/* M7: the announcement taken back; a consumer that still saw it sends one byte
	 * more, which the next wait drains. */
	STORE_RLX(&p->hdr->producer_waiting, 0);
	/* The wake-up that ended the sleep is still in its socket (epoll
	 * does not read it), and more may follow from consumers that saw
	 * the announcement: the next loan or reclaim call takes them off,
	 * so rkv_producer_fd() does not stay readable for nothing. */
	p->armed = 1;
	return n == -EINTR ? -EINTR : 0;
}

/* A loan or reclaim call takes back what an earlier one armed, or what a
 * wait left: the fd stops being readable for old releases. */
static void disarm(rkv_producer *p)
{
	if (!p->armed)
		return;
	p->armed = 0;
	/* M7: the announcement taken back; a consumer that still saw it sends one byte
	 * more, which the next wait drains. */
	STORE_RLX(&p->hdr->producer_waiting, 0);
	drain_wakes(p);
}

/*
 * Arm rkv_producer_fd() for a caller that found nothing: take old wake-ups
 * off, announce, and look once more (@recheck, Dekker with the consumers'
 * release path). Returns 1 when the second look found what was wanted (the
 * announcement is taken back), 0 when armed.
 */
static int arm_fd(rkv_producer *p, int (*recheck)(rkv_producer *, void *), void *arg)
{
	drain_wakes(p);
	announce_sleep(p);
	if (recheck(p, arg)) {
		/* M7: the announcement taken back; a consumer that still saw it sends one
		 * byte more, which the next wait drains. */
		STORE_RLX(&p->hdr->producer_waiting, 0);
		return 1;
	}
	p->armed = 1;
	return 0;
}

int rkv_producer_fd(rkv_producer *p)
{
	if (!p)
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	return p->wake_ep;
}

/* ==== loan ================================================================ */

static int have_free_slot(rkv_producer *p, void *arg)
{
	(void)arg;
	if (p->nfree == 0)
		ledger_drain_all(p);
	return p->nfree > 0;
}

static void *slot_data(rkv_producer *p, uint32_t s)
{
	if (!p->ext)
		return p->data + (uint64_t)s * p->stride;
	return p->ext[s].map ? p->ext[s].map + p->ext[s].offset : NULL;
}

/* Hand slot @s (free, off the free stack) out as @loan. */
static void make_loan(rkv_producer *p, uint32_t s, struct rkv_loan *loan)
{
	p->refs[s] = 1; /* the loan's own reference */
	if (++p->next_token == 0)
		p->next_token = 1;
	p->loan_token[s] = p->next_token;
	p->nloans++;
	memset(loan, 0, sizeof(*loan));
	loan->data = slot_data(p, s);
	loan->capacity = p->capacity;
	loan->slot = s;
	loan->token = p->next_token;
	loan->fd = p->ext ? p->ext[s].fd : -1;
	loan->fd_offset = p->ext ? p->ext[s].offset : 0;
	if (p->ext && p->ext[s].map && p->ext[s].sync)
		rkv__dmabuf_sync(p->ext[s].fd, 1, 1);
}

/* The CPU is done writing slot @s (publish or cancel). */
static void end_cpu_write(rkv_producer *p, uint32_t s)
{
	if (p->ext && p->ext[s].map && p->ext[s].sync)
		rkv__dmabuf_sync(p->ext[s].fd, 0, 1);
}

int rkv_producer_loan(rkv_producer *p, struct rkv_loan *loan, int64_t timeout_ns)
{
	int64_t deadline = 0, spin_until = 0;
	int r = 0;

	if (!p || !loan)
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	pthread_mutex_lock(&p->lock);
	disarm(p);
	if (p->nloans >= p->max_loans) {
		r = -EBUSY;
		goto out;
	}
	while (!have_free_slot(p, NULL)) {
		if (timeout_ns == 0) {
			if (!arm_fd(p, have_free_slot, NULL))
				r = -EAGAIN;
			break;
		}
		if (deadline == 0)
			deadline = rkv__deadline(timeout_ns);
		r = producer_wait(p, &spin_until, deadline, have_free_slot, NULL);
		if (r < 0)
			break;
		r = 0;
	}
	if (r) {
		/* M10: counters, one writer, each read alone as a number: relaxed
		 * suffices (docs/pool.md, Memory ordering). (The load reads our own
		 * store.) */
		if (r != -EINTR)
			STORE_RLX(&p->hdr->refused, LOAD_RLX(&p->hdr->refused) + 1);
		goto out;
	}
	{
		uint32_t s = p->free_stack[--p->nfree];
		/* M10: counters, one writer, each read alone as a number: relaxed suffices
		 * (docs/pool.md, Memory ordering). */
		STORE_RLX(&p->hdr->slots_free, p->nfree);
		make_loan(p, s, loan);
	}
out:
	ledger_reap(p);
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Take slot @s off the free stack if it is there. */
static int take_free(rkv_producer *p, uint32_t s)
{
	if (p->refs[s] != 0)
		return 0;
	for (uint32_t i = 0; i < p->nfree; i++) {
		if (p->free_stack[i] == s) {
			p->free_stack[i] = p->free_stack[--p->nfree];
			/* M10: counters, one writer, each read alone as a number: relaxed
			 * suffices (docs/pool.md, Memory ordering). */
			STORE_RLX(&p->hdr->slots_free, p->nfree);
			return 1;
		}
	}
	return 0;
}

/* Read what consumers gave back, then take slot *@arg if it is free. */
static int take_slot(rkv_producer *p, void *arg)
{
	uint32_t s = *(const uint32_t *)arg;

	if (p->refs[s] != 0)
		ledger_drain_all(p);
	return take_free(p, s);
}

int rkv_producer_loan_slot(rkv_producer *p, uint32_t slot, struct rkv_loan *loan)
{
	int r = 0;

	if (!p || !loan || slot >= p->nslots)
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	pthread_mutex_lock(&p->lock);
	disarm(p);
	if (p->nloans >= p->max_loans || p->loan_token[slot]) {
		r = -EBUSY;
		goto out;
	}
	/* In a consumer's hands: arm rkv_producer_fd(), so the caller learns
	 * when a consumer gives something back. */
	if (!take_slot(p, &slot) && !arm_fd(p, take_slot, &slot)) {
		r = -EBUSY;
		goto out;
	}
	make_loan(p, slot, loan);
out:
	ledger_reap(p);
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Which of the slots asked about are free: refs 0 means neither loaned
 * nor in any consumer's books. Read what consumers gave back first. */
struct reclaim {
	const uint32_t *slots;
	uint32_t n;
	uint32_t *freed;
	uint32_t nfreed;
	uint8_t *taken; /* per entry of slots: already in freed */
};

static int find_freed(rkv_producer *p, void *arg)
{
	struct reclaim *rc = arg;
	uint32_t before = rc->nfreed;

	ledger_drain_all(p);
	for (uint32_t k = 0; k < rc->n; k++) {
		if (rc->taken[k] || p->refs[rc->slots[k]] != 0)
			continue;
		rc->taken[k] = 1;
		rc->freed[rc->nfreed++] = rc->slots[k];
	}
	return rc->nfreed > before;
}

int rkv_producer_reclaim(rkv_producer *p, const uint32_t *slots, uint32_t n, uint32_t *freed)
{
	uint8_t small[64], *taken = small;
	struct reclaim rc;

	if (!p || (n && (!slots || !freed)) || n > p->nslots)
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	for (uint32_t k = 0; k < n; k++)
		if (slots[k] >= p->nslots)
			return -EINVAL;
	if (n > sizeof(small)) {
		taken = calloc(n, 1);
		if (!taken)
			return -ENOMEM;
	} else {
		memset(small, 0, sizeof(small));
	}
	rc = (struct reclaim){ .slots = slots, .n = n, .freed = freed, .taken = taken };
	pthread_mutex_lock(&p->lock);
	disarm(p);
	find_freed(p, &rc);
	/* Some are still in consumers' hands: arm once for all of them,
	 * looking once more after the announcement (a release between the
	 * two looks is found by the second; one after it wakes the fd). */
	if (rc.nfreed < n) {
		drain_wakes(p);
		announce_sleep(p);
		find_freed(p, &rc);
		/* else M7: the announcement taken back; a consumer that still
		 * saw it sends one byte more, which the next wait drains. */
		if (rc.nfreed < n)
			p->armed = 1;
		else
			STORE_RLX(&p->hdr->producer_waiting, 0);
	}
	ledger_reap(p);
	pthread_mutex_unlock(&p->lock);
	if (taken != small)
		free(taken);
	return (int)rc.nfreed;
}

static int loan_valid(rkv_producer *p, const struct rkv_loan *loan)
{
	return loan && loan->slot < p->nslots && loan->token != 0 &&
	       p->loan_token[loan->slot] == loan->token;
}

int rkv_producer_cancel(rkv_producer *p, struct rkv_loan *loan)
{
	if (!p)
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	pthread_mutex_lock(&p->lock);
	if (!loan_valid(p, loan)) {
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	end_cpu_write(p, loan->slot);
	p->loan_token[loan->slot] = 0;
	p->nloans--;
	ledger_unref(p, loan->slot);
	pthread_mutex_unlock(&p->lock);
	memset(loan, 0, sizeof(*loan));
	return 0;
}

/* ==== publish ============================================================= */

#define WAIT_GROUP 0x80000000u

struct publish_state {
	uint32_t slot;
	uint64_t entry;
	uint32_t nwait;
	int delivered;
};

/* A consumer (or group) was full: a block one is waited for, the others
 * miss the frame. */
static void note_full(rkv_producer *p, struct publish_state *ps, uint32_t w, uint32_t gen, int block)
{
	if (block) {
		p->waitgen[ps->nwait] = gen;
		p->waitlist[ps->nwait++] = w;
	} else if (w & WAIT_GROUP) {
		ledger_group_dropped(&p->groups[w & ~WAIT_GROUP]);
	} else {
		ledger_count_dropped(&p->cons[w]);
	}
}

/* Try the block consumers (and blocking groups) still waiting for room.
 * Returns 1 when none is left. */
static int retry_waiters(rkv_producer *p, void *arg)
{
	struct publish_state *ps = arg;
	uint32_t still = 0;

	for (uint32_t k = 0; k < ps->nwait; k++) {
		uint32_t w = p->waitlist[k];
		int r;
		if (w & WAIT_GROUP) {
			struct group *g = &p->groups[w & ~WAIT_GROUP];
			r = g->used && g->gen == p->waitgen[k] ? deliver_group(p, g, ps->slot) : GONE;
			if (r == DELIVERED)
				deliver_wake_group(p, g);
		} else {
			struct cons *c = &p->cons[w];
			/* A consumer that left while we slept is skipped: its
			 * entry is inactive now, or a newcomer's. */
			r = c->gen == p->waitgen[k] ? deliver_ring(p, c, ps->slot, ps->entry) : GONE;
		}
		if (r == DELIVERED) {
			ps->delivered++;
		} else if (r == FULL) {
			p->waitgen[still] = p->waitgen[k];
			p->waitlist[still++] = w;
		}
	}
	ps->nwait = still;
	deliver_wake_consumers(p);
	return still == 0;
}

/* The wait for block consumers ended without room: they miss the frame. */
static void waiters_missed(rkv_producer *p, struct publish_state *ps, int timed_out)
{
	for (uint32_t k = 0; k < ps->nwait; k++) {
		uint32_t w = p->waitlist[k];
		if (w & WAIT_GROUP) {
			struct group *g = &p->groups[w & ~WAIT_GROUP];
			if (g->used && g->gen == p->waitgen[k])
				ledger_group_dropped(g);
		} else if (cons_live(&p->cons[w]) && p->cons[w].gen == p->waitgen[k]) {
			ledger_count_dropped(&p->cons[w]);
		}
		/* M10: counters, one writer, each read alone as a number: relaxed
		 * suffices (docs/pool.md, Memory ordering). (The load reads our own
		 * store.) */
		if (timed_out)
			STORE_RLX(&p->hdr->block_timeouts, LOAD_RLX(&p->hdr->block_timeouts) + 1);
	}
	ps->nwait = 0;
}

/*
 * Write a slot's descriptor, its capture time on its own with an atomic
 * store: a consumer's stats read that one field of the slot named at the
 * head of its queue (rkv_consumer_stats' queued_age_ns), which another of
 * its threads may take and give back meanwhile, and we rewrite.
 */
static void frame_store(struct rkv_frame *dst, const struct rkv_frame *src)
{
	const size_t at = offsetof(struct rkv_frame, timestamp_ns);
	const size_t past = at + sizeof(src->timestamp_ns);

	/* The rest by relaxed atomic stores, not memcpy: a consumer copies a
	 * descriptor once with rkv__load_bytes() and then checks it (make_view),
	 * possibly while its slot is being rewritten for a newer frame, which
	 * the check then refuses; plain stores would race with those loads. */
	rkv__store_bytes(dst, src, at);
	/* M10: pairs with slot_ts()'s relaxed load (consumer.c): a time read alone; the
	 * rest of the descriptor is published by M1, M3 or M4. */
	STORE_RLX(&dst->timestamp_ns, src->timestamp_ns);
	rkv__store_bytes((char *)dst + past, (const char *)src + past, sizeof(*src) - past);
}

int rkv_producer_publish(rkv_producer *p, struct rkv_loan *loan, const struct rkv_frame *f)
{
	struct publish_state ps = { 0 };
	struct rkv_frame fr;
	int64_t deadline = 0, spin_until = 0;
	int interrupted = 0;
	uint32_t s;

	if (!p || !f)
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	fr = *f;
	if (rkv_frame_check(&fr, p->capacity))
		return -EINVAL;
	if (fr.timestamp_ns == 0)
		fr.timestamp_ns = rkv__now_ns();

	pthread_mutex_lock(&p->lock);
	if (!loan_valid(p, loan)) {
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	s = loan->slot;
	end_cpu_write(p, s);
	p->loan_token[s] = 0;
	p->nloans--;
	p->published++;
	frame_store(&p->slots[s].frame, &fr);
	/* Relaxed: the same as frame_store()'s (a consumer copies the whole
	 * slot record with rkv__load_bytes); published with it by M1/M3/M4. */
	STORE_RLX(&p->slots[s].pub_seq, p->published);
	ps.slot = s;
	ps.entry = RKV_ENTRY(p->published, s);
	/* The loan's reference keeps the slot ours until every consumer had
	 * its chance, including block consumers we may wait for below. */

	for (uint32_t k = 0; k < p->nlist; k++) {
		uint32_t i = p->list[k];
		struct cons *c = &p->cons[i];
		int r = c->policy == RKV_POLICY_LATEST ? deliver_latest(p, c, s, ps.entry)
						       : deliver_ring(p, c, s, ps.entry);
		if (r == DELIVERED)
			ps.delivered++;
		else if (r == FULL)
			note_full(p, &ps, i, c->gen, c->policy == RKV_POLICY_BLOCK);
	}
	for (uint32_t k = 0; k < p->ngroups; k++) {
		struct group *g = &p->groups[p->glist[k]];
		int r = deliver_group(p, g, s);
		if (r == DELIVERED) {
			ps.delivered++;
			deliver_wake_group(p, g);
		} else if (r == FULL) {
			note_full(p, &ps, p->glist[k] | WAIT_GROUP, g->gen, g->flags & RKV_GROUP_BLOCK);
		}
	}
	deliver_wake_consumers(p);

	/* Block consumers that were full: wait for room, up to the timeout. */
	while (ps.nwait > 0 && !retry_waiters(p, &ps)) {
		int r;
		if (deadline == 0)
			deadline = rkv__deadline(p->block_timeout_ns);
		r = producer_wait(p, &spin_until, deadline, retry_waiters, &ps);
		if (r == 1)
			break;
		if (r < 0) {
			waiters_missed(p, &ps, r == -ETIMEDOUT);
			interrupted = r == -EINTR;
			break;
		}
	}

	ledger_unref(p, s); /* the loan's reference */
	/* M10: counters, one writer, each read alone as a number: relaxed suffices
	 * (docs/pool.md, Memory ordering). */
	STORE_RLX(&p->hdr->published, p->published);
	ledger_reap(p);
	pthread_mutex_unlock(&p->lock);
	memset(loan, 0, sizeof(*loan));
	return interrupted ? -EINTR : ps.delivered;
}

int rkv_producer_publish_copy(rkv_producer *p, const void *data, size_t len,
			      const struct rkv_frame *f, int64_t timeout_ns)
{
	struct rkv_loan loan;
	struct rkv_frame fr;
	int r;

	if (!p || !f || (!data && len))
		return -EINVAL;
	if (len > p->capacity)
		return -EMSGSIZE;
	if (p->ext && !(p->flags & RKV_POOL_CPU_WRITE))
		return -ENOTSUP;
	fr = *f;
	if (fr.bytes_used == 0)
		fr.bytes_used = len;
	if (rkv_frame_check(&fr, p->capacity))
		return -EINVAL;
	r = rkv_producer_loan(p, &loan, timeout_ns);
	if (r)
		return r;
	memcpy(loan.data, data, len);
	r = rkv_producer_publish(p, &loan, &fr);
	if (r == -EINVAL)
		rkv_producer_cancel(p, &loan);
	return r;
}

/* ==== stats and hooks ===================================================== */

int rkv_producer_wait_consumers(rkv_producer *p, uint32_t n, int64_t timeout_ns)
{
	int64_t deadline;

	if (!p)
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	deadline = rkv__deadline(timeout_ns);
	for (;;) {
		struct pollfd pfd = { .fd = p->attach_efd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		uint32_t have = 0;

		/* The service thread signals attach_efd after each attach:
		 * take old signals off first, then count, then sleep. */
		rkv__efd_drain(p->attach_efd);
		pthread_mutex_lock(&p->lock);
		for (uint32_t i = 0; i < p->max_consumers; i++)
			have += cons_live(&p->cons[i]);
		pthread_mutex_unlock(&p->lock);
		if (have >= n)
			return 0;
		if (timeout_ns == 0)
			return -EAGAIN;
		if (deadline != INT64_MAX) {
			int64_t left = deadline - rkv__now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			tsp = &ts;
		}
		if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno == EINTR)
			return -EINTR;
	}
}

/* Settle every claimed group frame, so group counters are current. */
static void groups_refresh(rkv_producer *p)
{
	for (uint32_t k = 0; k < p->ngroups; k++) {
		struct group *g = &p->groups[p->glist[k]];
		for (uint32_t s = 0; s < p->nslots && g->nqueued; s++) {
			if (!bit_test(g->queued, s))
				continue;
			uint64_t pos = g->pos[s];
			/* M4: acquire, pairs with the member's claim (take_group's
			 * compare-and-swap); read once, then checked. */
			uint64_t cell = LOAD_ACQ(&g->cells[pos & g->mask]);
			uint32_t owner = RKV_CELL_OWNER(cell);
			if (RKV_CELL_TAG(cell) == (uint32_t)pos && RKV_CELL_SLOT(cell) == s &&
			    owner != 0 && owner != RKV_CELL_NEVER)
				ledger_settle(p, g, pos, s, cell);
		}
	}
}

void producer_refresh(rkv_producer *p)
{
	ledger_drain_all(p);
	groups_refresh(p);
	for (uint32_t i = 0; i < p->max_consumers; i++)
		if (cons_live(&p->cons[i]))
			ledger_cons_stats(p, &p->cons[i]);
	ledger_reap(p);
}

int rkv_producer_stats(rkv_producer *p, struct rkv_pool_stats *st, size_t size)
{
	struct rkv_pool_stats tmp;

	if (!p || !st || size < sizeof(tmp))
		return -EINVAL;
	if (producer_forked(p))
		return -ECHILD;
	pthread_mutex_lock(&p->lock);
	producer_refresh(p);
	rkv__pool_stats_read(p->hdr, &tmp);
	pthread_mutex_unlock(&p->lock);
	return rkv__copy_out(st, size, &tmp, sizeof(tmp), sizeof(tmp));
}

int rkv__producer_pool_area(rkv_producer *p, void **base, uint64_t *size)
{
	if (!p || !base || !size)
		return -EINVAL;
	*base = p->hdr;
	*size = p->pool_size;
	return 0;
}

int rkv__producer_free_slots(rkv_producer *p)
{
	int n;

	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	producer_refresh(p);
	n = (int)p->nfree;
	pthread_mutex_unlock(&p->lock);
	return n;
}
