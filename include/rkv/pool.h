/* SPDX-License-Identifier: MIT */
/*
 * rkv/pool.h - frames between processes, without copies and without tearing.
 *
 * One producer creates a pool: N slots of a fixed capacity in shared memory.
 * Any number of consumers (up to the pool's limit) attach by name. The
 * producer loans a slot, fills it in place, and publishes it with a frame
 * descriptor; every consumer receives the frame according to its own policy,
 * reads it through a read-only view, and releases it. A slot is never
 * rewritten while any consumer holds it or is queued to receive it.
 *
 * Policies (chosen per consumer at attach; all can be mixed on one pool):
 *   block   the producer's publish waits, up to the pool's block timeout,
 *           until this consumer's queue has room (the consumer sets the pace);
 *   drop    a bounded queue; when it is full this consumer misses the frame
 *           and its drop counter grows; the producer never waits;
 *   latest  a one-deep mailbox: a newer frame replaces an unread one and the
 *           replaced slot returns to the producer at once;
 *   group   consumers that name the same group share one queue; each frame
 *           goes to exactly one member (e.g. one worker per NPU core).
 *
 * Slot budget: every consumer may pin at most queue_depth + max_held slots
 * (latest: 1 + max_held; a group: its queue depth, rounded up to a power of
 * two, + each member's max_held),
 * the producer max_loans. A consumer is refused at attach (-ENOSPC, with the
 * reason in errbuf) when the pool's slots cannot cover every attached
 * consumer's worst case plus its own, so nobody is starved later.
 *
 * Crash model: the attach connection is the lease. When a consumer dies, the
 * kernel closes its socket and the producer's service thread returns every
 * slot it held or had queued at once. When the producer dies, every consumer
 * waiting for a frame wakes with -EPIPE; frames it holds stay readable until
 * released. Pools live in memfds and abstract Unix sockets, so no name is
 * ever left behind in /dev/shm or the file system. Abstract sockets belong to
 * a network namespace: producer and consumers must share one.
 *
 * Processes: a handle belongs to the process that made it. In a child made
 * with fork(), the parent's producer and consumer handles are inert: every
 * call on them returns -ECHILD, except rkv_producer_destroy() and
 * rkv_consumer_detach(), which only free the child's copy (they never end
 * the parent's pool or lease). A child attaches anew if it wants frames.
 *
 * Errors: every call returns 0 (or a count) on success and a negative errno
 * on failure. None of them prints, aborts or exits. Blocking calls return
 * -EINTR when a signal handler runs in the waiting thread (whether or not
 * the handler was installed with SA_RESTART), so a program can act on
 * Ctrl-C; the call can simply be made again.
 *
 * Threads: a producer handle is used by one thread at a time, except
 * rkv_producer_stats() and rkv_producer_fd(), which any thread may call. A
 * consumer handle: rkv_consumer_acquire() by one thread at a time;
 * rkv_consumer_release(), rkv_consumer_stats() and rkv_consumer_pool_stats()
 * from any thread, also while another thread waits in acquire (a garbage
 * collector's finalizer may release). rkv_consumer_detach() and
 * rkv_producer_destroy() only when no other thread uses the handle.
 * Different handles are independent. The producer runs one internal service
 * thread (attach, detach and crash handling).
 *
 * Growing: structs passed in (rkv_pool_opts, rkv_consumer_opts) begin with a
 * size field: 0 or sizeof the struct this header declares. Later versions
 * append fields; a library given a larger struct than it knows accepts it
 * only if the bytes it does not know are zero (-E2BIG otherwise). Structs
 * filled in (the stats) are passed with their size, and the library fills
 * what it knows and zeroes the rest. rkv_loan and rkv_view have reserved
 * space that later versions fill.
 */
#ifndef RKV_POOL_H
#define RKV_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <rkv/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RKV_NAME_MAX       48   /* pool name bytes, without the NUL */
#define RKV_LABEL_MAX      32   /* consumer and group labels, with the NUL */
#define RKV_MAX_SLOTS      4096
#define RKV_MAX_CONSUMERS  64
#define RKV_MAX_DEPTH      1024 /* queue depth limit */

#define RKV_WAIT_FOREVER   (-1) /* timeout_ns: wait as long as it takes; so is any
				 * timeout too long to add to the clock */

enum rkv_policy {
	RKV_POLICY_BLOCK = 1,
	RKV_POLICY_DROP = 2,
	RKV_POLICY_LATEST = 3,
	RKV_POLICY_GROUP = 4,
};

/* rkv_pool_opts.flags */
#define RKV_POOL_GROUP_ACCESS (1u << 0) /* also admit members of access_gid */
#define RKV_POOL_CPU_WRITE    (1u << 1) /* external slots: the producer writes them with
					 * the CPU (map them; sync around each loan) */

struct rkv_pool_opts {
	uint32_t size;            /* 0 or sizeof(struct rkv_pool_opts) */
	uint32_t slot_count;      /* 1..RKV_MAX_SLOTS; required */
	uint64_t slot_capacity;   /* bytes per slot; required */
	uint32_t max_consumers;   /* 0 = 16; at most RKV_MAX_CONSUMERS */
	uint32_t max_loans;       /* slots the producer holds loaned at once; 0 = 1 */
	int64_t block_timeout_ns; /* publish's wait for a block consumer; 0 = 1 s, RKV_WAIT_FOREVER */
	uint32_t flags;           /* RKV_POOL_* */
	uint32_t pad0;            /* zero */
	int64_t access_gid;       /* with RKV_POOL_GROUP_ACCESS; -1 = the producer's gid */
	/*
	 * External slots (DMA-BUF): slot_fds[i] holds slot i's data from
	 * byte slot_offsets[i] (NULL: 0) for slot_capacity bytes; the pool
	 * dups the fds, the caller keeps its own. Consumers receive them
	 * with SCM_RIGHTS and map them read-only; they get slot_ro_fds[i]
	 * instead where given (e.g. VIDIOC_EXPBUF with O_RDONLY), else a
	 * read-only reopen where the kernel allows one (memfds), else the
	 * fd itself (a DMA-BUF cannot be reopened: a consumer could then
	 * map it writable; see docs/pool.md). NULL slot_fds: slots live in
	 * the pool's own memfd.
	 */
	const int *slot_fds;
	const uint64_t *slot_offsets;
	const int *slot_ro_fds;
};

/* rkv_consumer_opts.flags */
#define RKV_CONSUMER_ANY_OWNER (1u << 0) /* accept a producer of another uid */
#define RKV_GROUP_BLOCK        (1u << 1) /* group: the producer waits when the group queue is full */
#define RKV_CONSUMER_NO_MAP    (1u << 2) /* external slots: do not map or sync them; views carry
					  * only the fd (for hardware that takes frames by fd) */

struct rkv_consumer_opts {
	uint32_t size;        /* 0 or sizeof(struct rkv_consumer_opts) */
	uint32_t policy;      /* enum rkv_policy; required */
	uint32_t queue_depth; /* block/drop/group: 0 = 2 (a group's is rounded up to a
			       * power of two); latest: ignored (1) */
	uint32_t max_held;    /* frames held at once; 0 = 1 */
	uint32_t flags;       /* RKV_CONSUMER_*, RKV_GROUP_BLOCK */
	uint32_t pad0;        /* zero */
	int64_t spin_ns;      /* spin this long for a frame before sleeping; 0 = never */
	int64_t attach_timeout_ns; /* how long attach waits for the producer; 0 = 5 s */
	const char *group;    /* group name for RKV_POLICY_GROUP, < RKV_LABEL_MAX bytes */
	const char *label;    /* shown in stats; optional, < RKV_LABEL_MAX bytes */
	char *errbuf;         /* optional: why attach failed, NUL-terminated */
	size_t errbuf_len;
};

/* A writable slot, owned by the producer from loan to publish or cancel. */
struct rkv_loan {
	void *data;        /* capacity bytes, writable; NULL for external slots
			    * without RKV_POOL_CPU_WRITE */
	uint64_t capacity;
	uint32_t slot;     /* the slot's index, 0..slot_count-1 */
	uint32_t token;    /* internal */
	int32_t fd;        /* external slots: the slot's fd (the pool's); else -1 */
	uint32_t pad0;
	uint64_t fd_offset; /* where the slot's data starts in fd */
	uint64_t reserved[4];
};

/* A read-only frame, owned by the consumer from acquire to release. */
struct rkv_view {
	const void *data;       /* frame.bytes_used bytes, read-only; NULL with
				 * RKV_CONSUMER_NO_MAP */
	struct rkv_frame frame; /* a private copy of the descriptor, checked */
	uint64_t capacity;
	uint32_t slot;          /* the slot's index */
	uint32_t token;         /* internal */
	int32_t fd;             /* external slots: the slot's DMA-BUF fd, owned by the
				 * consumer handle (valid until detach; do not close);
				 * -1 for slots in the pool's memfd */
	uint32_t pad0;
	uint64_t fd_offset;     /* where the frame's data starts in fd */
	uint64_t reserved[4];
};

struct rkv_pool_stats {
	uint64_t published;       /* frames published */
	uint64_t producer_waits;  /* times the producer slept (no free slot, or a block consumer) */
	uint64_t refused;         /* loans that found no free slot within their timeout */
	uint64_t block_timeouts;  /* deliveries to block consumers abandoned at the block timeout */
	uint64_t evictions;       /* consumers disconnected for breaking the protocol */
	uint64_t slot_capacity;
	uint32_t slot_count;
	uint32_t slots_free;      /* neither loaned, queued nor held */
	uint32_t consumers;       /* attached now */
	uint32_t max_consumers;
	int32_t producer_pid;
	uint32_t closed;          /* 1 once the producer closed the pool */
	uint32_t groups;          /* consumer groups now */
	uint32_t external;        /* 1: slots are external fds (DMA-BUF) */
};

/*
 * One consumer's counters. For block, drop and latest consumers, every frame
 * published while it was attached is counted once: delivered + dropped =
 * frames published since it attached (latest: replaced frames were
 * delivered first). A group member's delivered counts the frames it took;
 * the group's own counters are in struct rkv_group_stats.
 *
 * How far behind it is (lag, last_seq, queued_age_ns; appended, so a caller
 * passing the struct's older size, offsetof(..., lag), still gets the rest):
 * for block, drop and latest consumers, lag is the number of frames
 * published after the newest frame it acquired (after it attached, if it
 * acquired none yet): 0 when it has the newest frame, rising by one per
 * frame published while it takes nothing, whether those frames wait in its
 * queue, replace each other in its mailbox or are dropped. For a group
 * member, lag is the number of frames waiting in its group's queue that no
 * member has taken yet. From rkv_consumer_stats() the figures are the
 * consumer's own, current; from rkv_pool_stats() they are the producer's,
 * from the moment of the call (the producer believes only its own books: a
 * consumer that scribbles on its shared indices cannot make them exceed
 * the frames published since it attached).
 */
struct rkv_consumer_stats {
	uint32_t id;
	uint32_t policy;
	int32_t pid;
	uint32_t queue_depth;
	uint32_t max_held;
	uint32_t outstanding;  /* slots this consumer pins now: queued to it + held
				* (a group member: the frames it took and holds) */
	uint64_t delivered;    /* frames queued to it (group: taken by it) */
	uint64_t received;     /* frames it acquired */
	uint64_t dropped;      /* frames it missed: queue full, or block timeout (group: 0) */
	uint64_t replaced;     /* latest: unread frames replaced by newer ones */
	char label[RKV_LABEL_MAX];
	char group[RKV_LABEL_MAX];
	uint64_t lag;          /* frames behind, as defined above */
	uint64_t last_seq;     /* frame.seq of the newest frame it acquired (a group
				* member: it took); 0 while received is 0 */
	int64_t queued_age_ns; /* how long ago the oldest frame queued to it and not
				* yet acquired was captured (now - its timestamp_ns;
				* a group member: of its group's queue); 0: none */
};

/*
 * A consumer group's counters: delivered + dropped = frames published since
 * the group was made; every delivered frame is taken by one member or still
 * queued (claimed counts the taken ones).
 */
struct rkv_group_stats {
	uint32_t members;
	uint32_t queue_depth;  /* the group queue's cells */
	uint32_t queued;       /* frames in the queue, not yet taken */
	uint32_t pad0;
	uint64_t delivered;
	uint64_t dropped;
	uint64_t claimed;
	char name[RKV_LABEL_MAX];
};

typedef struct rkv_producer rkv_producer;
typedef struct rkv_consumer rkv_consumer;

/* ---- producer ----------------------------------------------------------- */

/*
 * Create pool @name (1..RKV_NAME_MAX bytes of [A-Za-z0-9._-]) and become its
 * producer. On success *@out owns the pool until rkv_producer_destroy().
 * Errors: -EINVAL (name or opts; an external slot fd that is not open, or
 * smaller than its offset + slot_capacity), -E2BIG (opts larger than this
 * library knows, with non-zero bytes it does not know), -EADDRINUSE (a live
 * producer owns @name), -ENOMEM (also: slot_count x slot_capacity larger
 * than this process's address space can map, as on 32-bit ARM beyond about
 * 2 GiB), -EMFILE/-ENFILE, other errno from memfd/mmap/socket.
 */
int rkv_producer_create(const char *name, const struct rkv_pool_opts *opts,
			rkv_producer **out);

/*
 * Close the pool: consumers drain what is queued to them, then get -EPIPE;
 * frames they hold stay readable until released (for external slots: as
 * long as the buffers behind the fds are not reused; a camera that re-queues
 * its buffers after destroy must expect consumers to see that). Unpublished
 * loans are dropped. @p may be NULL.
 */
void rkv_producer_destroy(rkv_producer *p);

/*
 * Loan a free slot. @timeout_ns: 0 = do not wait, RKV_WAIT_FOREVER, or a
 * limit. The slot is writable through loan->data until publish or cancel.
 * Errors: -EAGAIN (none free, no wait: this arms rkv_producer_fd()),
 * -ETIMEDOUT, -EINTR, -EBUSY (max_loans already loaned), -EINVAL, -ECHILD.
 * While every consumer keeps to its budget a free slot always exists or is
 * about to be released, so -EAGAIN and -ETIMEDOUT mean some consumer pins
 * more slots than its budget allows (or, with external slots, that the
 * producer keeps slots loaned, e.g. queued to a driver).
 */
int rkv_producer_loan(rkv_producer *p, struct rkv_loan *loan, int64_t timeout_ns);

/*
 * Loan slot @slot if it is free (no consumer holds it or has it queued, and
 * it is not loaned): for a producer that puts a slot's buffer back into a
 * driver (VIDIOC_QBUF) exactly when its last consumer released it. Never
 * waits. Errors: -EBUSY (the slot is loaned, or max_loans are out; or a
 * consumer still holds it or has it queued, and then the call arms
 * rkv_producer_fd(), which becomes readable when a consumer gives any slot
 * back: call again then), -EINVAL, -ECHILD.
 */
int rkv_producer_loan_slot(rkv_producer *p, uint32_t slot, struct rkv_loan *loan);

/*
 * Which of the @n slots in @slots are free now: no consumer holds one or
 * has it queued, and it is not loaned. For a producer that keeps published
 * slots' buffers out of the pool's hands (queued to a driver) and takes
 * each back exactly when its last consumer is done with it, several at a
 * time: a camera whose slots are its V4L2 buffers re-queues the ones this
 * returns. Writes the free ones into @freed (room for @n), in the order
 * @slots gives them, and returns how many (0..@n). It takes nothing: a
 * slot it reports stays free in the pool's books (rkv_producer_loan()
 * could hand it out; such a producer loans by number only). Never waits.
 * When some of the slots are still in consumers' hands, it arms
 * rkv_producer_fd() for all of them at once: the fd becomes readable when
 * a consumer gives any slot back (or a consumer's lease ends), and stays
 * so until the next loan, loan_slot or reclaim call; call again then.
 * (rkv_producer_loan_slot() arms the fd for its one slot, and a call for
 * another slot takes that back: asking slot by slot can miss a release
 * that came in between. This call does not.) @n 0 returns 0.
 * Errors: -EINVAL (NULL, @n above slot_count, a slot out of range),
 * -ENOMEM, -ECHILD.
 */
int rkv_producer_reclaim(rkv_producer *p, const uint32_t *slots, uint32_t n, uint32_t *freed);

/*
 * Publish a loaned slot with descriptor @f (checked with rkv_frame_check;
 * a zero timestamp is replaced by the current CLOCK_MONOTONIC time). The
 * loan is consumed whether or not anyone receives the frame. Waits for block
 * consumers up to the pool's block timeout; a block consumer still full then
 * misses the frame (its dropped and the pool's block_timeouts grow).
 * Returns the number of consumers (a group counts once) that got the frame,
 * or -EINVAL (bad loan or descriptor; the loan stays valid), -ECHILD, or
 * -EINTR: a signal arrived while publish waited for block consumers; the
 * frame went to every consumer that had room, the ones still full miss it
 * (counted as dropped), and the loan is consumed.
 */
int rkv_producer_publish(rkv_producer *p, struct rkv_loan *loan, const struct rkv_frame *f);

/* Give a loaned slot back unpublished. Returns 0, -EINVAL or -ECHILD. */
int rkv_producer_cancel(rkv_producer *p, struct rkv_loan *loan);

/*
 * Convenience: loan (waiting up to @timeout_ns), copy @len bytes of @data,
 * set f->bytes_used = @len if it is zero, publish. Returns what publish
 * returns, or what loan returned, or -EMSGSIZE when @len exceeds the slot
 * capacity, or -ENOTSUP for external slots without RKV_POOL_CPU_WRITE.
 */
int rkv_producer_publish_copy(rkv_producer *p, const void *data, size_t len,
			      const struct rkv_frame *f, int64_t timeout_ns);

/*
 * A file descriptor for the producer's event loop (poll/epoll, level
 * triggered): readable when a slot may have become free. It is armed by
 * rkv_producer_loan(p, l, 0) returning -EAGAIN, by
 * rkv_producer_loan_slot() finding its slot in a consumer's hands and by
 * rkv_producer_reclaim() finding some of its slots there; it then becomes
 * readable as soon as a consumer gives a slot back, and stays so until the
 * next rkv_producer_loan(), rkv_producer_loan_slot() or
 * rkv_producer_reclaim() call. (While consumers keep to the slot budget, a
 * producer with fewer than max_loans out always finds a free slot:
 * rkv_producer_loan() does not need it.) Owned by @p: do not close it.
 * Returns the fd, or -EINVAL, -ECHILD.
 */
int rkv_producer_fd(rkv_producer *p);

/* Wait until at least @n consumers are attached. 0, -ETIMEDOUT, -EAGAIN
 * (@timeout_ns 0), -EINTR, -ECHILD. */
int rkv_producer_wait_consumers(rkv_producer *p, uint32_t n, int64_t timeout_ns);

/* Pool counters, as any attached process would read them, into @st of
 * @size bytes (sizeof *st). 0, -EINVAL, -ECHILD. */
int rkv_producer_stats(rkv_producer *p, struct rkv_pool_stats *st, size_t size);

/* ---- consumer ----------------------------------------------------------- */

/*
 * Attach to pool @name with @opts. On success *@out owns the attachment until
 * rkv_consumer_detach(); it belongs to the calling process. Errors: -ENOENT
 * (no live producer, or it went away during the attach), -EACCES (not
 * admitted, or the producer is another user), -ENOSPC (the slot budget
 * cannot serve this policy), -EUSERS (max consumers), -EPROTO (the pool is
 * of another layout version, or corrupt), -EINVAL (opts), -E2BIG (opts
 * larger than this library knows, with unknown non-zero bytes), -ETIMEDOUT
 * (no answer within attach_timeout_ns), -EINTR, -ENOMEM, -EMFILE/-ENFILE.
 * opts->errbuf, if given, receives a sentence saying why.
 */
int rkv_consumer_attach(const char *name, const struct rkv_consumer_opts *opts,
			rkv_consumer **out);

/*
 * Release everything held and leave the pool. Every view of @c becomes
 * invalid: its data is unmapped and its fd closed, so a view must not
 * outlive its consumer (a binding keeps the consumer alive while any of its
 * views is). In a forked child's copy, only frees the copy. @c may be NULL.
 */
void rkv_consumer_detach(rkv_consumer *c);

/*
 * Wait for the next frame: 0 = do not wait, RKV_WAIT_FOREVER, or a limit.
 * On success @v is a read-only view, valid until rkv_consumer_release() or
 * rkv_consumer_detach() even if the producer dies meanwhile.
 * Errors: -EAGAIN (nothing ready, no wait), -ETIMEDOUT, -EINTR, -EBUSY
 * (max_held frames already held), -EPIPE (the producer is gone and nothing
 * is left queued), -ECONNRESET (evicted by the producer: views still held
 * are no longer protected), -ENOTCONN (the lease ended while the producer
 * lives, without an eviction: nothing more is handed out, views still held
 * are no longer protected), -EPROTO (the producer sent a frame that failed
 * its checks: it was given back where it named a slot, and skipped),
 * -ECHILD (a forked child's copy).
 */
int rkv_consumer_acquire(rkv_consumer *c, struct rkv_view *v, int64_t timeout_ns);

/* Give a frame back. Returns 0, or -EINVAL if @v is not held by @c, or
 * -EPROTO if the producer stopped reading what consumers give back (it is
 * broken; the view stays held), or -ECHILD. */
int rkv_consumer_release(rkv_consumer *c, struct rkv_view *v);

/*
 * A file descriptor for poll/epoll/select, level-triggered: readable when a
 * frame may be ready or the lease ended. It stays readable until
 * rkv_consumer_acquire(c, v, 0) returns -EAGAIN, which re-arms it: from then
 * on, the next frame queued makes it readable. So the loop is: wait for
 * readable, then acquire(0) until -EAGAIN. -EBUSY (max_held held) leaves it
 * as it is: release a frame and acquire again (a program that shows the
 * current frame until the next one arrives releases the old one on -EBUSY).
 * Spurious readiness is possible (acquire then says -EAGAIN); a missed
 * frame is not. Owned by @c: do not close it. Returns the fd, -EINVAL or
 * -ECHILD.
 */
int rkv_consumer_fd(rkv_consumer *c);

/* This consumer's counters into @st of @size bytes (sizeof *st). */
int rkv_consumer_stats(rkv_consumer *c, struct rkv_consumer_stats *st, size_t size);

/* The pool's counters, seen from this consumer's attachment. */
int rkv_consumer_pool_stats(rkv_consumer *c, struct rkv_pool_stats *st, size_t size);

/* ---- observers ---------------------------------------------------------- */

/*
 * Read pool @name's counters without attaching as a consumer: the pool's
 * into @pool (may be NULL; @pool_size bytes), up to @max consumers' into
 * @cons (each @cons_size bytes). Returns the number of consumers attached
 * (which may exceed @max), or an attach error.
 */
int rkv_pool_stats(const char *name, struct rkv_pool_stats *pool, size_t pool_size,
		   struct rkv_consumer_stats *cons, uint32_t max, size_t cons_size);

/* Pool @name's consumer groups: up to @max into @groups (each @size bytes).
 * Returns the number of groups (which may exceed @max), or an attach error. */
int rkv_pool_group_stats(const char *name, struct rkv_group_stats *groups, uint32_t max,
			 size_t size);

/* "block", "drop", "latest", "group"; "?" for anything else. */
const char *rkv_policy_name(uint32_t policy);

/* The policy named @s, or -EINVAL. */
int rkv_policy_parse(const char *s);

/* Library version, "MAJOR.MINOR.PATCH" (the version of the library running,
 * which may be newer than the headers a program was built with). */
const char *rkv_version(void);

#ifdef __cplusplus
}
#endif

#endif /* RKV_POOL_H */
