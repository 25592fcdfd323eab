/* SPDX-License-Identifier: MIT */
/*
 * rkvision._rkv: the C half of the Python binding (python/rkvision/).
 *
 *   Consumer(name, policy, group, queue_depth, max_held, label,
 *            attach_timeout, guard, fd_only)   rkv_consumer_attach();
 *            acquire(timeout) returns a Lease; fileno(), stats(),
 *            pool_stats(), close(); guard: the guard level in use
 *            ("dontunmap", "move", "fresh" or "checks"; see "the second
 *            guard" below).
 *   Producer(name, slots, capacity, max_consumers, block_timeout)
 *            rkv_producer_create(); loan() (a Loan: a writable slot until
 *            its publish() or cancel()), publish_copy(), wait_consumers(),
 *            fileno(), stats(), close().
 *   Lease    one acquired frame: its descriptor as attributes, its bytes
 *            through the buffer protocol (read-only), release(). After
 *            release (or close of its Consumer) the buffer protocol raises
 *            ReleasedError, so no new view of the bytes can be made; with
 *            the second guard, the bytes' addresses stop being readable.
 *   FrameArrayBase  an ndarray subclass whose buffer slot refuses a view
 *            whose Lease was released (memoryview(), bytes(),
 *            np.frombuffer() of frame.array or of any view derived from
 *            it); rkvision.FrameArray adds the Python-level checks.
 *   control_call(camera, request, timeout)  rkv_control_call(), where the
 *            camera library is built (RKV_PY_CONTROL).
 *   pool_stats(name)  rkv_pool_stats(): (pool dict, [consumer dicts]).
 *   check(a) raises ReleasedError if a's base chain ends at a released Lease.
 *
 * Errors from the library become the matching Python exceptions (raise_rc).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <rkv/pool.h>
#ifdef RKV_PY_CONTROL
#include <rkv/control.h>
#endif

static PyObject *ReleasedError;

/* The library's -errno as the exception a Python caller expects. */
static PyObject *raise_rc(int rc, const char *what)
{
	PyObject *type;
	switch (-rc) {
	case ETIMEDOUT: type = PyExc_TimeoutError; break;
	case EAGAIN: type = PyExc_BlockingIOError; break;
	case EPIPE: type = PyExc_BrokenPipeError; break;
	case ECONNRESET: type = PyExc_ConnectionResetError; break;
	case ENOTCONN: type = PyExc_ConnectionError; break;
	case EINVAL: type = PyExc_ValueError; break;
	case EACCES: case EPERM: type = PyExc_PermissionError; break;
	case ENOENT: type = PyExc_FileNotFoundError; break;
	case EBUSY: type = PyExc_RuntimeError; break;
	case ENOMEM: return PyErr_NoMemory();
	default: type = PyExc_OSError; break;
	}
	if (!PyType_IsSubtype((PyTypeObject *)type, (PyTypeObject *)PyExc_OSError)) {
		PyErr_Format(type, "%s: %s", what, strerror(-rc));
		return NULL;
	}
	PyObject *args = Py_BuildValue("(is)", -rc, what);
	if (args) {
		PyErr_SetObject(type, args);
		Py_DECREF(args);
	}
	return NULL;
}

typedef struct Lease Lease;
typedef struct Consumer Consumer;

/* guard levels, from none to the best (see "the second guard" below) */
enum { GUARD_CHECKS, GUARD_FRESH, GUARD_MOVE, GUARD_DONTUNMAP };

/* One slot's reusable alias (guard levels MOVE and DONTUNMAP). */
struct alias {
	char *addr;   /* page-aligned; NULL: none yet */
	size_t len;
	uintptr_t key; /* memfd slots: the library's page address; DMA-BUF: the page offset */
	int fd;       /* -1, or the slot's DMA-BUF fd */
	int busy;     /* a held Lease reads through it */
};

struct Consumer {
	PyObject_HEAD
	rkv_consumer *c;
	Lease *held; /* leases not yet released: released before detach */
	int waiting; /* threads in acquire, the GIL let go: close must wait */
	PyThread_type_lock calls; /* rkv_consumer_acquire: one thread at a time */
	PyObject *weakrefs;
	int guard;            /* GUARD_*: the level in use (it falls back at run time) */
	struct alias *alias;  /* by slot index, nalias of them */
	uint32_t nalias;
	unsigned gen;         /* attachments so far: aliases of an earlier one are stale */
	Consumer *gnext, *gprev; /* guarded consumers, for the fork child handler */
};

struct rng;

struct Lease {
	PyObject_HEAD
	Consumer *owner; /* a reference while held */
	struct rkv_view v;
	Lease *next, *prev;
	int released;
	const char *data; /* the frame's first byte as Python reads it */
	char *map;        /* guarded: the range data lies in (page-aligned), else NULL */
	size_t map_len;
	int sa;           /* the owner's alias index while held through one, else -1 */
	int protect;      /* map is a small slot's alias, owned by this Lease until freed:
			   * release makes it PROT_NONE, and it goes back to home's
			   * slot sa when the Lease is freed */
	Consumer *home;   /* with protect: a reference, until the Lease is freed */
	unsigned gen;     /* home's gen at acquire */
	uintptr_t key;    /* the alias's key (struct alias) */
	int poisoned;     /* map is PROT_NONE now (a placeholder, or a protected alias) */
	int hole;         /* map's range is no longer ours (a fallback lost it) */
	struct rng *rng;  /* its entry among the released ranges, while poisoned */
};

/*
 * The pool's handles take one caller at a time (rkv/pool.h, "Threads"),
 * and the binding lets the GIL go while it waits in them, so two Python
 * threads could otherwise be in the same handle at once. Each handle has a
 * lock for those calls: taken with the GIL let go, waiting up to @tmo ns
 * (-1: as long as it takes, 0: not at all), and interruptible by a signal
 * (Ctrl-C in the main thread). 0, -EINTR (the caller runs the handlers)
 * or -ETIMEDOUT.
 */
static int take_calls(PyThread_type_lock lk, int64_t tmo)
{
	if (PyThread_acquire_lock(lk, NOWAIT_LOCK))
		return 0;
	if (tmo == 0)
		return -ETIMEDOUT;
	PY_TIMEOUT_T us = tmo < 0 ? -1 : (PY_TIMEOUT_T)(tmo / 1000);
	if (us > PY_TIMEOUT_MAX)
		us = PY_TIMEOUT_MAX;
	PyLockStatus st;
	Py_BEGIN_ALLOW_THREADS
	st = PyThread_acquire_lock_timed(lk, us, 1);
	Py_END_ALLOW_THREADS
	return st == PY_LOCK_ACQUIRED ? 0 : st == PY_LOCK_INTR ? -EINTR : -ETIMEDOUT;
}

/* What is left of @tmo ns (-1: forever) since *@t0, which moves to now. */
static int64_t time_left(int64_t tmo, struct timespec *t0)
{
	if (tmo <= 0)
		return tmo;
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t spent = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000000 + (t1.tv_nsec - t0->tv_nsec);
	*t0 = t1;
	return spent >= tmo ? 0 : tmo - spent;
}

/* ---- the second guard: each held frame read through a range of its own ----
 *
 * The checks in FrameArray (layer 1) stop every read made through numpy's
 * and Python's front doors. A view that escaped them (np.asarray() of a
 * frame array, a memoryview or ctypes pointer taken before release, C code
 * holding the pointer) would still read the slot after release, and so,
 * possibly, a newer frame. So with guard="remap" each held frame is read
 * through an alias of its slot (memfd slots: mremap(old_size 0) of the
 * library's read-only mapping; DMA-BUF slots: mmap of view.fd), and on
 * release that address range stops mapping the slot before the slot is
 * given back: a PROT_NONE placeholder takes its place, and stays until the
 * Lease (the base of every numpy view of the frame) is freed. A read
 * through an escaped view then faults; the SIGSEGV/SIGBUS reporter names
 * the cause and the process dies (turning the fault into an exception
 * cannot be done safely: the read may be anywhere inside numpy or a C
 * library, with the GIL let go).
 *
 * Levels (Consumer.guard), best first; a level that the kernel refuses
 * falls to the next at run time:
 *   DONTUNMAP  each slot keeps one populated alias that moves: release
 *              moves it (page tables and all) with mremap(MREMAP_DONTUNMAP)
 *              to a spare range, where the slot's next frame is read, and
 *              maps the placeholder over the empty leftover atomically
 *              (MAP_FIXED). Two syscalls a frame, whatever its size.
 *   MOVE       kernels before 5.13 (no DONTUNMAP for shared mappings) and
 *              mappings that refuse it: a plain move, then the placeholder
 *              with MAP_FIXED_NOREPLACE. Another thread's mmap may land in
 *              the hole between the two; an escaped view then reads that
 *              memory, never the slot.
 *   FRESH      mremap refuses to move: a new alias per frame, and release
 *              maps the placeholder over it (MAP_FIXED, atomic). Costs a
 *              page fault per page per frame.
 * RKVISION_GUARD_FALLBACK=move or =fresh in the environment caps the level
 * at attach (to test the fallbacks, or to work around a kernel).
 *
 * Small slots (PROTECT_PAGES pages or fewer), at levels DONTUNMAP and MOVE:
 * mprotect costs about 0.16 us a page against 8-9 us for a move and its
 * placeholder, so there a Lease keeps its slot's alias for its lifetime
 * instead: release makes it PROT_NONE where it is, and when the Lease is
 * freed (no Python object points there any more) the alias goes back to
 * its slot, for the slot's next frame to make readable again. A slot whose
 * alias is still kept by a released Lease gets a new one.
 *
 * Pages: an alias covers the whole pages around the slot. Where the page
 * is larger than the library's 4 KiB slot alignment (16K/64K-page
 * kernels), it maps some bytes of the neighbouring slots too; numpy views
 * never reach them, and they become unreadable with the rest on release.
 *
 * fork: aliases are MADV_DONTFORK; the fork child handler maps placeholders
 * where the held frames' aliases were, so that a child's inherited views
 * fault instead of reading frames the parent gives back later.
 *
 * All of this state changes with the GIL held, and under guard_lock too, so
 * that a fork() from a thread without the GIL (a C library's) sees it whole.
 */
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#define PMD_SIZE_ (2ul << 20)
#define PROTECT_PAGES 16

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t page_size;
static Consumer *guarded; /* the guarded consumers */

/* Released ranges (placeholders some Python object may still point into),
 * for the fault reporter: chunks that are never freed, entries set and
 * cleared atomically, so a signal handler can read them at any time. */
#define RNG_CHUNK 256
struct rng {
	uintptr_t lo, hi;
};
struct rng_chunk {
	struct rng e[RNG_CHUNK];
	struct rng_chunk *next;
};
static struct rng_chunk rng_first;

static struct rng *rng_add(char *lo, size_t n)
{
	struct rng_chunk *ch = &rng_first;
	for (;;) {
		for (int i = 0; i < RNG_CHUNK; i++)
			if (!__atomic_load_n(&ch->e[i].lo, __ATOMIC_RELAXED)) {
				__atomic_store_n(&ch->e[i].hi, (uintptr_t)lo + n, __ATOMIC_RELAXED);
				__atomic_store_n(&ch->e[i].lo, (uintptr_t)lo, __ATOMIC_RELEASE);
				return &ch->e[i];
			}
		struct rng_chunk *next = __atomic_load_n(&ch->next, __ATOMIC_ACQUIRE);
		if (!next) {
			next = calloc(1, sizeof *next);
			if (!next)
				return NULL; /* the fault is then reported without its cause */
			__atomic_store_n(&ch->next, next, __ATOMIC_RELEASE);
		}
		ch = next;
	}
}

static void rng_del(struct rng *r)
{
	if (r)
		__atomic_store_n(&r->lo, 0, __ATOMIC_RELEASE);
}

static int rng_has(uintptr_t a)
{
	for (struct rng_chunk *ch = &rng_first; ch; ch = __atomic_load_n(&ch->next, __ATOMIC_ACQUIRE))
		for (int i = 0; i < RNG_CHUNK; i++) {
			uintptr_t lo = __atomic_load_n(&ch->e[i].lo, __ATOMIC_ACQUIRE);
			if (lo && a >= lo && a < __atomic_load_n(&ch->e[i].hi, __ATOMIC_RELAXED))
				return 1;
		}
	return 0;
}

static struct sigaction old_segv, old_bus;
static int reporter_on;

/* SIGSEGV/SIGBUS: say so when the fault is in a released frame's range,
 * then hand the signal on to the handler that was there before (Python's
 * faulthandler prints the stack), or let it kill the process. It never
 * makes the faulting access succeed. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	static const char msg[] =
		"rkvision: a frame was read after release() through a view that escaped "
		"the checks (np.asarray(), a memoryview or ctypes pointer taken before "
		"release, or C code holding the pointer): stopping the process\n";
	int saved = errno;
	if (rng_has((uintptr_t)si->si_addr))
		(void)!write(2, msg, sizeof msg - 1);
	struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, uc);
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	} else {
		/* The default action: the faulting access runs again and kills;
		 * a signal sent by kill() or raise() is sent again. */
		sigaction(sig, old, NULL);
		if (si->si_code <= 0)
			raise(sig);
	}
	errno = saved;
}

static void reporter_install(void)
{
	if (reporter_on)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) == 0 && sigaction(SIGBUS, &sa, &old_bus) == 0)
		reporter_on = 1;
}

/* Spare ranges: PROT_NONE, nothing points into them; aliases are made or
 * moved onto them. A bounded free list of the placeholders of freed Leases
 * saves making new ones. */
#define NSPARE 64
static struct {
	char *addr;
	size_t len;
} spares[NSPARE];

static char *spare_get(size_t n)
{
	for (int i = 0; i < NSPARE; i++)
		if (spares[i].addr && spares[i].len == n) {
			char *a = spares[i].addr;
			spares[i].addr = NULL;
			return a;
		}
	/* Large ranges 2 MiB aligned, so that a move can take whole page
	 * tables along. */
	size_t extra = n >= PMD_SIZE_ ? PMD_SIZE_ : 0;
	char *r = mmap(NULL, n + extra, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	if (!extra)
		return r;
	char *a = (char *)(((uintptr_t)r + PMD_SIZE_ - 1) & ~(uintptr_t)(PMD_SIZE_ - 1));
	if (a > r)
		munmap(r, (size_t)(a - r));
	if (r + n + extra > a + n)
		munmap(a + n, (size_t)(r + n + extra - (a + n)));
	return a;
}

static void spare_put(char *a, size_t n)
{
	for (int i = 0; i < NSPARE; i++)
		if (!spares[i].addr) {
			spares[i].addr = a;
			spares[i].len = n;
			return;
		}
	munmap(a, n);
}

/* A new alias of @v's slot on a spare range: its address, or NULL and
 * errno. @dontfork: not inherited by a child (protected aliases are: a
 * released Lease's stays PROT_NONE in the child, where the fork handler
 * cannot find it). */
static char *alias_make(const struct rkv_view *v, uintptr_t key, size_t n, int dontfork)
{
	char *dest = spare_get(n);
	if (!dest)
		return NULL;
	void *m;
	if (v->fd >= 0)
		m = mmap(dest, n, PROT_READ, MAP_SHARED | MAP_FIXED, v->fd, (off_t)key);
	else
		m = mremap((void *)key, 0, n, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
	if (m == MAP_FAILED) {
		int e = errno;
		munmap(dest, n); /* a failed MREMAP_FIXED may have unmapped it already */
		errno = e;
		return NULL;
	}
	if (dontfork)
		(void)madvise(m, n, MADV_DONTFORK);
	return m;
}

/* Acquire: point @l at an alias of its slot (or at the library's mapping
 * without the guard, or for fd-only frames). Returns 0 or -errno. */
static int guard_map(Consumer *c, Lease *l)
{
	const struct rkv_view *v = &l->v;
	l->data = v->data;
	l->map = NULL;
	l->sa = -1;
	l->poisoned = l->hole = l->protect = 0;
	l->rng = NULL;
	l->home = NULL;
	if (c->guard == GUARD_CHECKS || !v->data)
		return 0;
	uintptr_t at = v->fd >= 0 ? (uintptr_t)v->fd_offset : (uintptr_t)v->data;
	size_t lead = at % page_size;
	uintptr_t key = at - lead;
	uint64_t span = v->capacity > v->frame.bytes_used ? v->capacity : v->frame.bytes_used;
	if (span > SIZE_MAX - lead - page_size)
		return -EOVERFLOW;
	size_t n = (lead + (size_t)span + page_size - 1) / page_size * page_size;
	int protect = n <= PROTECT_PAGES * page_size;
	char *m = NULL;
	int rc = 0;
	pthread_mutex_lock(&guard_lock);
	struct alias *a = NULL;
	if (c->guard >= GUARD_MOVE) {
		if (v->slot >= c->nalias) {
			uint32_t k = v->slot + 1;
			struct alias *na = realloc(c->alias, k * sizeof *na);
			if (!na) {
				rc = -ENOMEM;
				goto out;
			}
			memset(na + c->nalias, 0, (k - c->nalias) * sizeof *na);
			c->alias = na;
			c->nalias = k;
		}
		a = &c->alias[v->slot];
		if (a->busy) {
			a = NULL; /* cannot be (the slot is held once): a fresh alias */
		} else if (a->addr && (a->key != key || a->len != n || a->fd != v->fd)) {
			munmap(a->addr, a->len); /* the slot changed shape: nobody reads it */
			a->addr = NULL;
		}
	}
	if (a && a->addr) {
		m = a->addr;
		if (protect && mprotect(m, n, PROT_READ) < 0) {
			munmap(m, n);
			a->addr = m = NULL;
		}
	}
	if (!m) {
		m = alias_make(v, key, n, !(a && protect));
		if (!m) {
			rc = -errno;
			goto out;
		}
		if (a) {
			a->addr = m;
			a->len = n;
			a->key = key;
			a->fd = v->fd;
		}
	}
	if (a) {
		l->sa = (int)(a - c->alias);
		if (protect) {
			a->addr = NULL; /* the Lease's until it is freed */
			l->protect = 1;
			Py_INCREF(c);
			l->home = c;
			l->gen = c->gen;
			l->key = key;
		} else {
			a->busy = 1;
		}
	}
	l->map = m;
	l->map_len = n;
	l->data = m + lead;
out:
	pthread_mutex_unlock(&guard_lock);
	return rc;
}

/* Release: make @l's range unreadable (before the slot goes back). Returns
 * 0, or -errno when even that failed: then the slot must stay held. */
static int guard_poison(Consumer *c, Lease *l)
{
	if (!l->map || l->poisoned)
		return 0;
	size_t n = l->map_len;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	int rc = 0;
	pthread_mutex_lock(&guard_lock);
	if (l->protect) {
		if (mprotect(l->map, n, PROT_NONE) == 0)
			goto done;
		l->protect = 0; /* a placeholder instead, below: a spare once freed */
		l->sa = -1;
	}
	if (l->sa >= 0) {
		struct alias *a = &c->alias[l->sa];
		char *dest = spare_get(n);
		void *x = MAP_FAILED;
		int how = MAP_FIXED;
		if (dest && c->guard >= GUARD_DONTUNMAP) {
			x = mremap(l->map, n, n, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dest);
			if (x == MAP_FAILED && errno == EINVAL)
				c->guard = GUARD_MOVE;
		}
		if (dest && x == MAP_FAILED && c->guard >= GUARD_MOVE) {
			x = mremap(l->map, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
			how = MAP_FIXED_NOREPLACE; /* a hole is left: fill it, if still free */
			if (x == MAP_FAILED && errno != ENOMEM && errno != EAGAIN)
				c->guard = GUARD_FRESH; /* refused, not short of memory */
		}
		a->busy = 0;
		l->sa = -1;
		if (x != MAP_FAILED) {
			a->addr = x; /* the slot's next frame is read there */
			void *p = mmap(l->map, n, PROT_NONE, flags | how, -1, 0);
			if (p != l->map) {
				if (p != MAP_FAILED) /* an old kernel took NOREPLACE as a hint */
					munmap(p, n);
				l->hole = 1;
			}
			goto done;
		}
		if (dest)
			munmap(dest, n); /* perhaps unmapped by the failed calls already */
		a->addr = NULL; /* the alias stays with this lease from now on */
	}
	if (mmap(l->map, n, PROT_NONE, flags | MAP_FIXED, -1, 0) == MAP_FAILED) {
		/* No placeholder (vm.max_map_count?): unmap at least. */
		if (munmap(l->map, n) < 0) {
			rc = -errno;
			goto out;
		}
		l->hole = 1;
	}
done:
	l->poisoned = 1;
	if (!l->hole)
		l->rng = rng_add(l->map, n);
out:
	pthread_mutex_unlock(&guard_lock);
	return rc;
}

/* A Lease is freed: no Python object points into its range any more. A
 * placeholder becomes a spare; a protected alias goes back to its slot
 * (if the consumer is still attached as it was and has none there). */
static void guard_free(Lease *l)
{
	Consumer *home = l->home;
	l->home = NULL;
	if (l->map && l->poisoned && !l->hole) {
		pthread_mutex_lock(&guard_lock);
		rng_del(l->rng);
		l->rng = NULL;
		if (l->protect) {
			struct alias *a = NULL;
			if (home && home->c && home->gen == l->gen && (uint32_t)l->sa < home->nalias)
				a = &home->alias[l->sa];
			if (a && !a->addr && !a->busy) {
				a->addr = l->map;
				a->len = l->map_len;
				a->key = l->key;
				a->fd = l->v.fd;
			} else {
				munmap(l->map, l->map_len);
			}
		} else {
			spare_put(l->map, l->map_len);
		}
		l->map = NULL;
		pthread_mutex_unlock(&guard_lock);
	}
	Py_XDECREF(home);
}

/* The consumer closes: its slots' idle aliases go (every lease was
 * released before). */
static void guard_drop(Consumer *c)
{
	pthread_mutex_lock(&guard_lock);
	for (uint32_t i = 0; i < c->nalias; i++)
		if (c->alias[i].addr && !c->alias[i].busy)
			munmap(c->alias[i].addr, c->alias[i].len);
	free(c->alias);
	c->alias = NULL;
	c->nalias = 0;
	c->gen++;
	if (c->gprev || guarded == c) {
		if (c->gprev)
			c->gprev->gnext = c->gnext;
		else
			guarded = c->gnext;
		if (c->gnext)
			c->gnext->gprev = c->gprev;
		c->gnext = c->gprev = NULL;
	}
	pthread_mutex_unlock(&guard_lock);
}

static void guard_fork_prepare(void)
{
	pthread_mutex_lock(&guard_lock);
}

static void guard_fork_parent(void)
{
	pthread_mutex_unlock(&guard_lock);
}

/* In the child: the aliases were not inherited (MADV_DONTFORK). Where a
 * held frame's alias was, a placeholder goes, so that the child's copies
 * of its views fault; the Python side then marks those frames released
 * without giving them back (they are the parent's). */
static void guard_fork_child(void)
{
	for (Consumer *c = guarded; c; c = c->gnext) {
		for (Lease *l = c->held; l; l = l->next) {
			if (!l->map || l->poisoned)
				continue;
			if (mmap(l->map, l->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
				 MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
				l->hole = 1;
			else
				l->rng = rng_add(l->map, l->map_len);
			l->poisoned = 1;
			l->sa = -1;
			l->protect = 0; /* a placeholder now */
		}
		for (uint32_t i = 0; i < c->nalias; i++)
			c->alias[i].addr = NULL, c->alias[i].busy = 0;
	}
	pthread_mutex_init(&guard_lock, NULL);
}

static PyTypeObject LeaseType;

/* Make @l unreadable and drop it from its consumer's list; with @give_back,
 * also give the slot back to the producer (not in a forked child: the
 * lease is the parent's). */
static int lease_end(Lease *l, int give_back)
{
	if (l->released)
		return 0;
	Consumer *c = l->owner;
	/* Unreadable first (guard="remap"), and only then given back. */
	int prc = guard_poison(c, l);
	if (prc < 0)
		return prc;
	l->released = 1;
	pthread_mutex_lock(&guard_lock); /* the fork child handler walks the list */
	if (l->prev)
		l->prev->next = l->next;
	else
		c->held = l->next;
	if (l->next)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&guard_lock);
	int rc = give_back && c->c ? rkv_consumer_release(c->c, &l->v) : 0;
	l->owner = NULL;
	Py_DECREF(c);
	return rc;
}

static int lease_do_release(Lease *l)
{
	return lease_end(l, 1);
}

static PyObject *lease_release(Lease *l, PyObject *unused)
{
	(void)unused;
	int rc = lease_do_release(l);
	if (rc < 0 && !l->released) {
		/* guard="remap" could not take the frame's addresses away: it
		 * is not given back (the producer would refill it under them). */
		PyErr_Format(PyExc_MemoryError, "release: the frame's range could not be made "
			     "unreadable (%s); the frame stays held: release it again, or close "
			     "the Consumer", strerror(-rc));
		return NULL;
	}
	if (rc < 0)
		return raise_rc(rc, "rkv_consumer_release");
	Py_RETURN_NONE;
}

/* End @l whatever it takes (a freed Lease, close, a forked child): if not
 * even a placeholder could be mapped over its alias, the alias is
 * unmapped if it can be, and forgotten. */
static void lease_end_forced(Lease *l, int give_back)
{
	if (lease_end(l, give_back) == 0 || l->released)
		return;
	if (l->map && !l->poisoned)
		munmap(l->map, l->map_len);
	l->hole = 1;
	l->map = NULL;
	(void)lease_end(l, give_back);
}

static void lease_dealloc(Lease *l)
{
	if (!l->released)
		lease_end_forced(l, 1);
	guard_free(l);
	Py_TYPE(l)->tp_free((PyObject *)l);
}

static int lease_getbuffer(Lease *l, Py_buffer *b, int flags)
{
	if (l->released) {
		PyErr_SetString(ReleasedError, "frame was released");
		return -1;
	}
	if (!l->v.data) {
		PyErr_SetString(PyExc_ValueError, "frame is not mapped (an fd-only frame)");
		return -1;
	}
	return PyBuffer_FillInfo(b, (PyObject *)l, (void *)l->data,
				 (Py_ssize_t)l->v.frame.bytes_used, 1, flags);
}

static PyObject *lease_get(Lease *l, void *which)
{
	const struct rkv_frame *f = &l->v.frame;
	switch ((intptr_t)which) {
	case 0: return PyLong_FromUnsignedLongLong(f->seq);
	case 1: return PyLong_FromLongLong(f->timestamp_ns);
	case 2: {
		char buf[5];
		return PyUnicode_FromString(rkv_fourcc_str(f->fourcc, buf));
	}
	case 3: return PyLong_FromUnsignedLong(f->width);
	case 4: return PyLong_FromUnsignedLong(f->height);
	case 5: return PyLong_FromUnsignedLong(f->flags);
	case 6: return PyLong_FromUnsignedLongLong(f->bytes_used);
	case 7: {
		PyObject *t = PyTuple_New(f->num_planes);
		for (uint32_t i = 0; t && i < f->num_planes; i++) {
			PyObject *p = Py_BuildValue("(KIK)", (unsigned long long)f->planes[i].offset,
						    (unsigned int)f->planes[i].stride,
						    (unsigned long long)f->planes[i].size);
			if (!p) {
				Py_DECREF(t);
				return NULL;
			}
			PyTuple_SET_ITEM(t, i, p);
		}
		return t;
	}
	case 8:
		if (l->released) {
			PyErr_SetString(ReleasedError, "frame was released");
			return NULL;
		}
		if (l->v.fd < 0)
			Py_RETURN_NONE;
		return PyLong_FromLong(l->v.fd);
	case 9:
		if (l->released) {
			PyErr_SetString(ReleasedError, "frame was released");
			return NULL;
		}
		if (l->v.fd < 0)
			Py_RETURN_NONE;
		return PyLong_FromUnsignedLongLong(l->v.fd_offset);
	case 10: return PyBool_FromLong(l->released);
	case 11:
		if (l->released || !l->v.data)
			Py_RETURN_NONE;
		return PyLong_FromVoidPtr((void *)l->data);
	case 12: return PyLong_FromUnsignedLong(f->fourcc);
	case 13: return PyLong_FromUnsignedLong(l->v.slot);
	case 14: return PyBool_FromLong(l->protect);
	}
	Py_RETURN_NONE;
}

static PyGetSetDef lease_getset[] = {
	{"seq", (getter)lease_get, NULL, NULL, (void *)0},
	{"timestamp", (getter)lease_get, NULL, NULL, (void *)1},
	{"format", (getter)lease_get, NULL, NULL, (void *)2},
	{"width", (getter)lease_get, NULL, NULL, (void *)3},
	{"height", (getter)lease_get, NULL, NULL, (void *)4},
	{"flags", (getter)lease_get, NULL, NULL, (void *)5},
	{"bytes_used", (getter)lease_get, NULL, NULL, (void *)6},
	{"planes", (getter)lease_get, NULL, NULL, (void *)7},
	{"fd", (getter)lease_get, NULL, NULL, (void *)8},
	{"offset", (getter)lease_get, NULL, NULL, (void *)9},
	{"released", (getter)lease_get, NULL, NULL, (void *)10},
	{"address", (getter)lease_get, NULL, NULL, (void *)11},
	{"fourcc", (getter)lease_get, NULL, NULL, (void *)12},
	{"slot", (getter)lease_get, NULL, NULL, (void *)13},
	{"protected", (getter)lease_get, NULL, NULL, (void *)14},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef lease_methods[] = {
	{"release", (PyCFunction)lease_release, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyBufferProcs lease_as_buffer = {(getbufferproc)lease_getbuffer, NULL};

static PyTypeObject LeaseType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "rkvision._rkv.Lease",
	.tp_basicsize = sizeof(Lease),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)lease_dealloc,
	.tp_as_buffer = &lease_as_buffer,
	.tp_methods = lease_methods,
	.tp_getset = lease_getset,
};

/* ---- Consumer ------------------------------------------------------------- */

static int64_t timeout_ns_of(PyObject *t, int *err)
{
	*err = 0;
	if (!t || t == Py_None)
		return RKV_WAIT_FOREVER;
	double s = PyFloat_AsDouble(t);
	if (s == -1.0 && PyErr_Occurred()) {
		*err = 1;
		return 0;
	}
	if (!(s >= 0) || s > 9.2e9) {
		PyErr_SetString(PyExc_ValueError, "timeout must be None or 0..9.2e9 seconds");
		*err = 1;
		return 0;
	}
	return (int64_t)(s * 1e9);
}

static int consumer_init(Consumer *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = {"name", "policy", "group", "queue_depth", "max_held", "label",
			      "attach_timeout", "guard", "fd_only", NULL};
	const char *name, *policy = "latest", *group = NULL, *label = NULL, *guard = "remap";
	unsigned int depth = 0, held = 0;
	int fd_only = 0;
	PyObject *at = Py_None;
	if (self->c) {
		PyErr_SetString(PyExc_RuntimeError, "Consumer already attached");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|szIIzOsp", kwl, &name, &policy, &group,
					 &depth, &held, &label, &at, &guard, &fd_only))
		return -1;
	int level;
	if (strcmp(guard, "checks") == 0) {
		level = GUARD_CHECKS;
	} else if (strcmp(guard, "remap") == 0) {
		const char *fb = getenv("RKVISION_GUARD_FALLBACK");
		level = GUARD_DONTUNMAP;
		if (fb && strcmp(fb, "move") == 0)
			level = GUARD_MOVE;
		else if (fb && strcmp(fb, "fresh") == 0)
			level = GUARD_FRESH;
		else if (fb && fb[0]) {
			PyErr_Format(PyExc_ValueError, "RKVISION_GUARD_FALLBACK=%s: "
				     "'move', 'fresh' or empty", fb);
			return -1;
		}
	} else {
		PyErr_Format(PyExc_ValueError, "unknown guard '%s' (remap, checks)", guard);
		return -1;
	}
	int pol = rkv_policy_parse(policy);
	if (pol < 0) {
		PyErr_Format(PyExc_ValueError, "unknown policy %R (block, drop, latest, group)",
			     PyTuple_Size(args) > 1 ? PyTuple_GetItem(args, 1) : Py_None);
		return -1;
	}
	int err = 0;
	int64_t at_ns = at != Py_None ? timeout_ns_of(at, &err) : 0;
	if (err)
		return -1;
	if (at != Py_None && at_ns == 0)
		at_ns = 1; /* 0 would mean the library's default */
	char ebuf[256] = "";
	struct rkv_consumer_opts o = {
		.size = sizeof o, .policy = (uint32_t)pol, .queue_depth = depth,
		.max_held = held, .attach_timeout_ns = at_ns, .group = group, .label = label,
		.flags = fd_only ? RKV_CONSUMER_NO_MAP : 0,
		.errbuf = ebuf, .errbuf_len = sizeof ebuf,
	};
	rkv_consumer *c = NULL;
	int rc;
	if (!self->calls && !(self->calls = PyThread_allocate_lock())) {
		PyErr_NoMemory();
		return -1;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = rkv_consumer_attach(name, &o, &c);
	Py_END_ALLOW_THREADS
	if (rc < 0) {
		char what[400];
		snprintf(what, sizeof what, "attach to pool '%s'%s%s", name, ebuf[0] ? ": " : "", ebuf);
		raise_rc(rc, what);
		return -1;
	}
	self->c = c;
	self->guard = level;
	if (level != GUARD_CHECKS) {
		pthread_mutex_lock(&guard_lock);
		reporter_install();
		self->gnext = guarded;
		if (guarded)
			guarded->gprev = self;
		guarded = self;
		pthread_mutex_unlock(&guard_lock);
	}
	return 0;
}

/* Release every frame held, then detach. Returns 0, or -errno when a held
 * frame's range could not be made unreadable: then that frame and the
 * rest stay held and the consumer attached (detach would give them back
 * under the frame's views). */
static int consumer_do_close(Consumer *self)
{
	Py_INCREF(self); /* the leases' references go with them */
	while (self->held) {
		Lease *l = self->held;
		int rc = lease_do_release(l);
		if (rc < 0 && !l->released) {
			Py_DECREF(self);
			return rc;
		}
	}
	guard_drop(self);
	if (self->c) {
		rkv_consumer *c = self->c;
		self->c = NULL;
		Py_BEGIN_ALLOW_THREADS
		rkv_consumer_detach(c);
		Py_END_ALLOW_THREADS
	}
	Py_DECREF(self);
	return 0;
}

static PyObject *consumer_close(Consumer *self, PyObject *unused)
{
	(void)unused;
	if (self->waiting) {
		PyErr_SetString(PyExc_RuntimeError, "Consumer is in use by another thread's get()");
		return NULL;
	}
	int rc = consumer_do_close(self);
	if (rc < 0) {
		PyErr_Format(PyExc_MemoryError, "close: a held frame's range could not be made "
			     "unreadable (%s); the Consumer stays open with the frames held: "
			     "close it again", strerror(-rc));
		return NULL;
	}
	Py_RETURN_NONE;
}

static void consumer_dealloc(Consumer *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	/* No lease is held here: each holds a reference to its consumer. */
	guard_drop(self);
	if (self->c)
		rkv_consumer_detach(self->c);
	if (self->calls)
		PyThread_free_lock(self->calls);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int need_open(Consumer *self)
{
	if (!self->c) {
		PyErr_SetString(PyExc_ValueError, "Consumer is closed");
		return -1;
	}
	return 0;
}

static PyObject *consumer_acquire(Consumer *self, PyObject *args)
{
	PyObject *t = Py_None;
	if (!PyArg_ParseTuple(args, "|O", &t) || need_open(self) < 0)
		return NULL;
	int err;
	int64_t tmo = timeout_ns_of(t, &err);
	if (err)
		return NULL;
	Lease *l = PyObject_New(Lease, &LeaseType);
	if (!l)
		return NULL;
	l->owner = NULL;
	l->released = 1;
	l->next = l->prev = NULL;
	l->map = NULL;
	l->data = NULL;
	l->sa = -1;
	l->poisoned = l->hole = l->protect = 0;
	l->rng = NULL;
	l->home = NULL;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc, waits = tmo != 0;
	for (;;) {
		self->waiting++;
		rc = take_calls(self->calls, tmo);
		if (rc == 0) {
			tmo = time_left(tmo, &t0); /* less the wait for the lock */
			Py_BEGIN_ALLOW_THREADS
			rc = rkv_consumer_acquire(self->c, &l->v, tmo);
			PyThread_release_lock(self->calls);
			Py_END_ALLOW_THREADS
		} else if (rc == -ETIMEDOUT && tmo == 0) {
			rc = -EAGAIN; /* another thread is in get(): nothing for this one */
		}
		self->waiting--;
		if (rc == -EAGAIN && waits)
			rc = -ETIMEDOUT; /* the time ran out waiting for the lock, or a signal */
		if (rc != -EINTR)
			break;
		if (PyErr_CheckSignals() < 0) {
			Py_DECREF(l);
			return NULL;
		}
		tmo = time_left(tmo, &t0);
		if (need_open(self) < 0) { /* closed by a signal handler */
			Py_DECREF(l);
			return NULL;
		}
	}
	if (rc < 0) {
		Py_DECREF(l);
		if (rc == -EAGAIN)
			return raise_rc(rc, "no frame ready");
		if (rc == -ETIMEDOUT)
			return raise_rc(rc, "no frame within the timeout");
		if (rc == -EPIPE)
			return raise_rc(rc, "the producer is gone");
		if (rc == -EBUSY)
			return raise_rc(rc, "max_held frames already held: release one first");
		return raise_rc(rc, "rkv_consumer_acquire");
	}
	rc = guard_map(self, l);
	if (rc < 0) {
		(void)rkv_consumer_release(self->c, &l->v);
		Py_DECREF(l);
		char what[160];
		snprintf(what, sizeof what, "guard='remap' cannot map the frame's slot "
			 "(%s); Consumer(guard='checks') reads it without", strerror(-rc));
		if (rc == -ENOMEM) {
			PyErr_SetString(PyExc_MemoryError, what);
			return NULL;
		}
		return raise_rc(rc, what);
	}
	l->released = 0;
	Py_INCREF(self);
	l->owner = self;
	pthread_mutex_lock(&guard_lock);
	l->next = self->held;
	if (self->held)
		self->held->prev = l;
	self->held = l;
	pthread_mutex_unlock(&guard_lock);
	return (PyObject *)l;
}

/* In a forked child: every frame this handle holds becomes unreadable here,
 * without giving it back (the parent holds it and releases it when it
 * likes, after which the slot is refilled under the child's views). */
static PyObject *consumer_forget_held(Consumer *self, PyObject *unused)
{
	(void)unused;
	Py_INCREF(self);
	while (self->held)
		lease_end_forced(self->held, 0);
	Py_DECREF(self);
	Py_RETURN_NONE;
}

static PyObject *consumer_fileno(Consumer *self, PyObject *unused)
{
	(void)unused;
	if (need_open(self) < 0)
		return NULL;
	int fd = rkv_consumer_fd(self->c);
	if (fd < 0)
		return raise_rc(fd, "rkv_consumer_fd");
	return PyLong_FromLong(fd);
}

#define SET(d, k, v)                                                  \
	do {                                                          \
		PyObject *o_ = (v);                                   \
		if (!o_ || PyDict_SetItemString(d, k, o_) < 0) {      \
			Py_XDECREF(o_);                               \
			Py_DECREF(d);                                 \
			return NULL;                                  \
		}                                                     \
		Py_DECREF(o_);                                        \
	} while (0)

/* One consumer's counters as a dict. */
static PyObject *consumer_stats_dict(const struct rkv_consumer_stats *sp)
{
	const struct rkv_consumer_stats s = *sp;
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
	SET(d, "id", PyLong_FromUnsignedLong(s.id));
	SET(d, "policy", PyUnicode_FromString(rkv_policy_name(s.policy)));
	SET(d, "pid", PyLong_FromLong(s.pid));
	SET(d, "queue_depth", PyLong_FromUnsignedLong(s.queue_depth));
	SET(d, "max_held", PyLong_FromUnsignedLong(s.max_held));
	SET(d, "outstanding", PyLong_FromUnsignedLong(s.outstanding));
	SET(d, "delivered", PyLong_FromUnsignedLongLong(s.delivered));
	SET(d, "received", PyLong_FromUnsignedLongLong(s.received));
	SET(d, "dropped", PyLong_FromUnsignedLongLong(s.dropped));
	SET(d, "replaced", PyLong_FromUnsignedLongLong(s.replaced));
	SET(d, "label", PyUnicode_DecodeUTF8(s.label, strnlen(s.label, sizeof s.label), "replace"));
	SET(d, "group", PyUnicode_DecodeUTF8(s.group, strnlen(s.group, sizeof s.group), "replace"));
	SET(d, "lag", PyLong_FromUnsignedLongLong(s.lag));
	SET(d, "last_seq", PyLong_FromUnsignedLongLong(s.last_seq));
	SET(d, "queued_age_ns", PyLong_FromLongLong(s.queued_age_ns));
	return d;
}

static PyObject *consumer_stats(Consumer *self, PyObject *unused)
{
	(void)unused;
	if (need_open(self) < 0)
		return NULL;
	struct rkv_consumer_stats s;
	int rc = rkv_consumer_stats(self->c, &s, sizeof s);
	return rc < 0 ? raise_rc(rc, "rkv_consumer_stats") : consumer_stats_dict(&s);
}

static PyObject *pool_stats_dict(const struct rkv_pool_stats *sp);

static PyObject *consumer_pool_stats(Consumer *self, PyObject *unused)
{
	(void)unused;
	if (need_open(self) < 0)
		return NULL;
	struct rkv_pool_stats s;
	int rc = rkv_consumer_pool_stats(self->c, &s, sizeof s);
	return rc < 0 ? raise_rc(rc, "rkv_consumer_pool_stats") : pool_stats_dict(&s);
}

/* The pool's counters as a dict. */
static PyObject *pool_stats_dict(const struct rkv_pool_stats *sp)
{
	const struct rkv_pool_stats s = *sp;
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
	SET(d, "published", PyLong_FromUnsignedLongLong(s.published));
	SET(d, "producer_waits", PyLong_FromUnsignedLongLong(s.producer_waits));
	SET(d, "refused", PyLong_FromUnsignedLongLong(s.refused));
	SET(d, "block_timeouts", PyLong_FromUnsignedLongLong(s.block_timeouts));
	SET(d, "evictions", PyLong_FromUnsignedLongLong(s.evictions));
	SET(d, "slot_capacity", PyLong_FromUnsignedLongLong(s.slot_capacity));
	SET(d, "slot_count", PyLong_FromUnsignedLong(s.slot_count));
	SET(d, "slots_free", PyLong_FromUnsignedLong(s.slots_free));
	SET(d, "consumers", PyLong_FromUnsignedLong(s.consumers));
	SET(d, "max_consumers", PyLong_FromUnsignedLong(s.max_consumers));
	SET(d, "producer_pid", PyLong_FromLong(s.producer_pid));
	SET(d, "closed", PyBool_FromLong(s.closed));
	SET(d, "groups", PyLong_FromUnsignedLong(s.groups));
	SET(d, "external", PyBool_FromLong(s.external));
	return d;
}

static PyObject *consumer_closed(Consumer *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(!self->c);
}

static PyMethodDef consumer_methods[] = {
	{"acquire", (PyCFunction)consumer_acquire, METH_VARARGS, NULL},
	{"fileno", (PyCFunction)consumer_fileno, METH_NOARGS, NULL},
	{"forget_held", (PyCFunction)consumer_forget_held, METH_NOARGS, NULL},
	{"stats", (PyCFunction)consumer_stats, METH_NOARGS, NULL},
	{"pool_stats", (PyCFunction)consumer_pool_stats, METH_NOARGS, NULL},
	{"close", (PyCFunction)consumer_close, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

/* The guard level in use: "dontunmap", "move", "fresh" (guard="remap")
 * or "checks". */
static PyObject *consumer_guard(Consumer *self, void *unused)
{
	(void)unused;
	static const char *const names[] = {"checks", "fresh", "move", "dontunmap"};
	return PyUnicode_FromString(names[self->guard]);
}

static PyGetSetDef consumer_getset[] = {
	{"closed", (getter)consumer_closed, NULL, NULL, NULL},
	{"guard", (getter)consumer_guard, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ConsumerType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "rkvision._rkv.Consumer",
	.tp_basicsize = sizeof(Consumer),
	.tp_weaklistoffset = offsetof(Consumer, weakrefs),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)consumer_init,
	.tp_dealloc = (destructor)consumer_dealloc,
	.tp_methods = consumer_methods,
	.tp_getset = consumer_getset,
};

/* ---- Producer ------------------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	rkv_producer *p;
	int waiting; /* threads in a call with the GIL let go: close must wait */
	PyThread_type_lock calls; /* the handle's calls: one thread at a time */
} Producer;

static int producer_init(Producer *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = {"name", "slots", "capacity", "max_consumers", "block_timeout", NULL};
	const char *name;
	unsigned int slots = 4, maxc = 0;
	unsigned long long cap = 0;
	PyObject *bt = Py_None;
	if (self->p) {
		PyErr_SetString(PyExc_RuntimeError, "Producer already created");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "sIK|IO", kwl, &name, &slots, &cap, &maxc, &bt))
		return -1;
	int err = 0;
	int64_t bt_ns = bt != Py_None ? timeout_ns_of(bt, &err) : 0;
	if (err)
		return -1;
	if (bt != Py_None && bt_ns == 0)
		bt_ns = 1; /* 0 would mean the library's default */
	struct rkv_pool_opts o = {
		.size = sizeof o, .slot_count = slots, .slot_capacity = cap, .max_consumers = maxc,
		.block_timeout_ns = bt_ns, .access_gid = -1,
	};
	rkv_producer *p = NULL;
	if (!self->calls && !(self->calls = PyThread_allocate_lock())) {
		PyErr_NoMemory();
		return -1;
	}
	int rc = rkv_producer_create(name, &o, &p);
	if (rc < 0) {
		char what[200];
		snprintf(what, sizeof what, "create pool '%s'", name);
		raise_rc(rc, what);
		return -1;
	}
	self->p = p;
	return 0;
}

static int producer_open(Producer *self)
{
	if (!self->p) {
		PyErr_SetString(PyExc_ValueError, "Producer is closed");
		return -1;
	}
	return 0;
}

/* publish_copy(data, fourcc, width, height, seq, timestamp_ns, flags, timeout):
 * raw formats are laid out tightly (rkv_frame_layout) and data must be
 * exactly that long; other formats publish len(data) bytes. */
static PyObject *producer_publish_copy(Producer *self, PyObject *args)
{
	Py_buffer b;
	unsigned int fourcc, w, h, flags;
	unsigned long long seq;
	long long ts;
	PyObject *t;
	if (!PyArg_ParseTuple(args, "y*IIIKLIO", &b, &fourcc, &w, &h, &seq, &ts, &flags, &t))
		return NULL;
	int err;
	int64_t tmo = timeout_ns_of(t, &err);
	struct rkv_frame f;
	if (err || producer_open(self) < 0)
		goto fail;
	int64_t need = rkv_frame_layout(&f, fourcc, w, h, 1);
	if (need >= 0) {
		if (need != b.len) {
			PyErr_Format(PyExc_ValueError, "a %ux%u frame of this format is %lld bytes, "
				     "not %zd", w, h, (long long)need, b.len);
			goto fail;
		}
	} else {
		memset(&f, 0, sizeof f);
		f.fourcc = fourcc;
		f.width = w;
		f.height = h;
		f.bytes_used = (uint64_t)b.len;
	}
	f.seq = seq;
	f.timestamp_ns = ts;
	f.flags = flags;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc, waits = tmo != 0;
	self->waiting++;
	while ((rc = take_calls(self->calls, tmo)) == -EINTR && PyErr_CheckSignals() == 0)
		tmo = time_left(tmo, &t0);
	if (rc == 0) {
		tmo = time_left(tmo, &t0);
		Py_BEGIN_ALLOW_THREADS
		rc = rkv_producer_publish_copy(self->p, b.buf, (size_t)b.len, &f, tmo);
		PyThread_release_lock(self->calls);
		Py_END_ALLOW_THREADS
	} else if (rc == -ETIMEDOUT && tmo == 0) {
		rc = -EAGAIN;
	}
	self->waiting--;
	PyBuffer_Release(&b);
	if (rc == -EAGAIN && waits)
		rc = -ETIMEDOUT; /* the time ran out waiting for the lock */
	if (rc == -EINTR && PyErr_Occurred())
		return NULL;
	if (rc < 0) {
		if (rc == -EMSGSIZE) {
			PyErr_SetString(PyExc_ValueError, "the frame is larger than the pool's slots");
			return NULL;
		}
		return raise_rc(rc, rc == -ETIMEDOUT || rc == -EAGAIN ? "no free slot" :
				"rkv_producer_publish_copy");
	}
	Py_RETURN_NONE;
fail:
	PyBuffer_Release(&b);
	return NULL;
}

/* A slot loaned to the producer: writable through the buffer protocol
 * until published or cancelled; after that the buffer protocol raises
 * ReleasedError (and so do the FrameArrays made on it). */
typedef struct {
	PyObject_HEAD
	Producer *owner; /* a reference while loaned */
	struct rkv_loan l;
	int done;
} Loan;

static void loan_end(Loan *l)
{
	l->done = 1;
	Py_CLEAR(l->owner);
}

static PyObject *loan_publish(Loan *l, PyObject *args)
{
	unsigned int fourcc, w, h, flags;
	unsigned long long used, seq;
	long long ts;
	if (!PyArg_ParseTuple(args, "IIIKKLI", &fourcc, &w, &h, &used, &seq, &ts, &flags))
		return NULL;
	if (l->done || !l->owner->p) {
		PyErr_SetString(ReleasedError, "the loan was published or cancelled");
		return NULL;
	}
	struct rkv_frame f;
	if (rkv_frame_layout(&f, fourcc, w, h, 1) < 0) {
		memset(&f, 0, sizeof f);
		f.fourcc = fourcc;
		f.width = w;
		f.height = h;
		f.bytes_used = used;
	}
	if (f.bytes_used > l->l.capacity) {
		PyErr_Format(PyExc_ValueError, "the frame needs %llu bytes, the slot has %llu",
			     (unsigned long long)f.bytes_used, (unsigned long long)l->l.capacity);
		return NULL;
	}
	f.seq = seq;
	f.timestamp_ns = ts;
	f.flags = flags;
	Producer *p = l->owner;
	int rc;
	p->waiting++;
	while ((rc = take_calls(p->calls, -1)) == -EINTR && PyErr_CheckSignals() == 0)
		;
	if (rc < 0) {
		p->waiting--;
		return NULL; /* a signal handler raised; the loan is still out */
	}
	Py_BEGIN_ALLOW_THREADS
	rc = rkv_producer_publish(p->p, &l->l, &f);
	PyThread_release_lock(p->calls);
	Py_END_ALLOW_THREADS
	p->waiting--;
	if (rc == -EINVAL)
		return raise_rc(rc, "publish (the descriptor does not fit the slot)");
	loan_end(l); /* consumed, also on -EINTR and -ECHILD */
	if (rc < 0 && rc != -EINTR)
		return raise_rc(rc, "rkv_producer_publish");
	return PyLong_FromLong(rc < 0 ? 0 : rc);
}

static PyObject *loan_cancel(Loan *l, PyObject *unused)
{
	(void)unused;
	if (!l->done) {
		Producer *p = l->owner;
		if (p->p) {
			/* Not interruptible: a loan must not be left out because a
			 * signal came (dealloc calls this too). */
			if (!PyThread_acquire_lock(p->calls, NOWAIT_LOCK)) {
				p->waiting++;
				Py_BEGIN_ALLOW_THREADS
				PyThread_acquire_lock(p->calls, WAIT_LOCK);
				Py_END_ALLOW_THREADS
				p->waiting--;
			}
			(void)rkv_producer_cancel(p->p, &l->l);
			PyThread_release_lock(p->calls);
		}
		loan_end(l);
	}
	Py_RETURN_NONE;
}

static void loan_dealloc(Loan *l)
{
	Py_XDECREF(loan_cancel(l, NULL));
	Py_TYPE(l)->tp_free((PyObject *)l);
}

static int loan_getbuffer(Loan *l, Py_buffer *b, int flags)
{
	if (l->done || !l->owner->p) {
		PyErr_SetString(ReleasedError, "the loan was published or cancelled");
		return -1;
	}
	if (!l->l.data) {
		PyErr_SetString(PyExc_ValueError, "external slots are not writable by the CPU");
		return -1;
	}
	return PyBuffer_FillInfo(b, (PyObject *)l, l->l.data, (Py_ssize_t)l->l.capacity, 0, flags);
}

static PyObject *loan_get(Loan *l, void *which)
{
	switch ((intptr_t)which) {
	case 0: return PyLong_FromUnsignedLongLong(l->l.capacity);
	case 1: return PyLong_FromUnsignedLong(l->l.slot);
	default: return PyBool_FromLong(l->done);
	}
}

static PyGetSetDef loan_getset[] = {
	{"capacity", (getter)loan_get, NULL, NULL, (void *)0},
	{"slot", (getter)loan_get, NULL, NULL, (void *)1},
	{"done", (getter)loan_get, NULL, NULL, (void *)2},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef loan_methods[] = {
	{"publish", (PyCFunction)loan_publish, METH_VARARGS, NULL},
	{"cancel", (PyCFunction)loan_cancel, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyBufferProcs loan_as_buffer = {(getbufferproc)loan_getbuffer, NULL};

static PyTypeObject LoanType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "rkvision._rkv.Loan",
	.tp_basicsize = sizeof(Loan),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)loan_dealloc,
	.tp_as_buffer = &loan_as_buffer,
	.tp_methods = loan_methods,
	.tp_getset = loan_getset,
};

static PyObject *producer_loan(Producer *self, PyObject *args)
{
	PyObject *t = Py_None;
	if (!PyArg_ParseTuple(args, "|O", &t) || producer_open(self) < 0)
		return NULL;
	int err;
	int64_t tmo = timeout_ns_of(t, &err);
	if (err)
		return NULL;
	Loan *l = PyObject_New(Loan, &LoanType);
	if (!l)
		return NULL;
	l->owner = NULL;
	l->done = 1;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc, waits = tmo != 0;
	do {
		self->waiting++;
		rc = take_calls(self->calls, tmo);
		if (rc == 0) {
			tmo = time_left(tmo, &t0);
			Py_BEGIN_ALLOW_THREADS
			rc = rkv_producer_loan(self->p, &l->l, tmo);
			PyThread_release_lock(self->calls);
			Py_END_ALLOW_THREADS
		} else if (rc == -ETIMEDOUT && tmo == 0) {
			rc = -EAGAIN;
		}
		self->waiting--;
		tmo = time_left(tmo, &t0);
	} while (rc == -EINTR && PyErr_CheckSignals() == 0);
	if (rc == -EAGAIN && waits)
		rc = -ETIMEDOUT; /* the time ran out waiting for the lock, or a signal */
	if (rc < 0) {
		Py_DECREF(l);
		if (rc == -EINTR)
			return NULL;
		if (rc == -EBUSY)
			return raise_rc(rc, "every loan the pool allows is out: publish or cancel one");
		return raise_rc(rc, rc == -ETIMEDOUT || rc == -EAGAIN ? "no free slot" :
				"rkv_producer_loan");
	}
	Py_INCREF(self);
	l->owner = self;
	l->done = 0;
	return (PyObject *)l;
}

static PyObject *producer_wait_consumers(Producer *self, PyObject *args)
{
	unsigned int n;
	PyObject *t = Py_None;
	if (!PyArg_ParseTuple(args, "I|O", &n, &t) || producer_open(self) < 0)
		return NULL;
	int err;
	int64_t tmo = timeout_ns_of(t, &err);
	if (err)
		return NULL;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc;
	do {
		self->waiting++;
		rc = take_calls(self->calls, tmo);
		if (rc == 0) {
			tmo = time_left(tmo, &t0);
			Py_BEGIN_ALLOW_THREADS
			rc = rkv_producer_wait_consumers(self->p, n, tmo);
			PyThread_release_lock(self->calls);
			Py_END_ALLOW_THREADS
		} else if (rc == -ETIMEDOUT && tmo == 0) {
			rc = -EAGAIN;
		}
		self->waiting--;
		tmo = time_left(tmo, &t0);
	} while (rc == -EINTR && PyErr_CheckSignals() == 0);
	if (rc == -EINTR)
		return NULL;
	if (rc < 0)
		return raise_rc(rc, "waiting for consumers");
	Py_RETURN_NONE;
}

static PyObject *producer_fileno(Producer *self, PyObject *unused)
{
	(void)unused;
	if (producer_open(self) < 0)
		return NULL;
	int fd = rkv_producer_fd(self->p);
	return fd < 0 ? raise_rc(fd, "rkv_producer_fd") : PyLong_FromLong(fd);
}

static PyObject *producer_stats(Producer *self, PyObject *unused)
{
	(void)unused;
	if (producer_open(self) < 0)
		return NULL;
	struct rkv_pool_stats s;
	int rc = rkv_producer_stats(self->p, &s, sizeof s);
	return rc < 0 ? raise_rc(rc, "rkv_producer_stats") : pool_stats_dict(&s);
}

static PyObject *producer_close(Producer *self, PyObject *unused)
{
	(void)unused;
	if (self->waiting) {
		PyErr_SetString(PyExc_RuntimeError, "Producer is in use by another thread");
		return NULL;
	}
	rkv_producer *p = self->p;
	self->p = NULL;
	Py_BEGIN_ALLOW_THREADS
	rkv_producer_destroy(p);
	Py_END_ALLOW_THREADS
	Py_RETURN_NONE;
}

static void producer_dealloc(Producer *self)
{
	rkv_producer_destroy(self->p);
	if (self->calls)
		PyThread_free_lock(self->calls);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *producer_closed(Producer *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(!self->p);
}

static PyMethodDef producer_methods[] = {
	{"publish_copy", (PyCFunction)producer_publish_copy, METH_VARARGS, NULL},
	{"loan", (PyCFunction)producer_loan, METH_VARARGS, NULL},
	{"wait_consumers", (PyCFunction)producer_wait_consumers, METH_VARARGS, NULL},
	{"fileno", (PyCFunction)producer_fileno, METH_NOARGS, NULL},
	{"stats", (PyCFunction)producer_stats, METH_NOARGS, NULL},
	{"close", (PyCFunction)producer_close, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef producer_getset[] = {
	{"closed", (getter)producer_closed, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ProducerType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "rkvision._rkv.Producer",
	.tp_basicsize = sizeof(Producer),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)producer_init,
	.tp_dealloc = (destructor)producer_dealloc,
	.tp_methods = producer_methods,
	.tp_getset = producer_getset,
};

/* ---- FrameArrayBase ------------------------------------------------------- */

/* Every frame array's base chain ends at its Lease (or Loan): is that
 * one over? */
static int ended(PyObject *a)
{
	while (a && PyArray_Check(a))
		a = PyArray_BASE((PyArrayObject *)a);
	if (a && PyObject_TypeCheck(a, &LeaseType))
		return ((Lease *)a)->released;
	if (a && PyObject_TypeCheck(a, &LoanType))
		return ((Loan *)a)->done || !((Loan *)a)->owner->p;
	return 0;
}

static int fa_getbuffer(PyObject *self, Py_buffer *v, int flags)
{
	if (ended(self)) {
		PyErr_SetString(ReleasedError, "frame was released");
		return -1;
	}
	return PyArray_Type.tp_as_buffer->bf_getbuffer(self, v, flags);
}

static PyObject *mod_check(PyObject *m, PyObject *a)
{
	(void)m;
	if (ended(a)) {
		PyErr_SetString(ReleasedError, "frame was released");
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyBufferProcs fa_as_buffer;
static PyTypeObject FrameArrayBaseType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "rkvision._rkv.FrameArrayBase",
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_as_buffer = &fa_as_buffer,
};

static PyObject *mod_version(PyObject *m, PyObject *unused)
{
	(void)m;
	(void)unused;
	return PyUnicode_FromString(rkv_version());
}

#ifdef RKV_PY_CONTROL
/* control_call(camera, request, timeout): the camera's JSON answer, as a str. */
static PyObject *mod_control_call(PyObject *m, PyObject *args)
{
	(void)m;
	const char *camera, *req;
	PyObject *t = Py_None;
	if (!PyArg_ParseTuple(args, "ss|O", &camera, &req, &t))
		return NULL;
	int err;
	int64_t tmo = timeout_ns_of(t, &err);
	if (err)
		return NULL;
	char *reply = PyMem_Malloc(RKV_CONTROL_REPLY_MAX);
	if (!reply)
		return PyErr_NoMemory();
	ssize_t n;
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		n = rkv_control_call(camera, req, reply, RKV_CONTROL_REPLY_MAX, tmo);
		Py_END_ALLOW_THREADS
		if (n != -EINTR)
			break;
		if (PyErr_CheckSignals() < 0) {
			PyMem_Free(reply);
			return NULL;
		}
	}
	PyObject *r;
	if (n < 0) {
		char what[200];
		snprintf(what, sizeof what, "camera '%s'", camera);
		r = raise_rc((int)n, what);
	} else {
		r = PyUnicode_DecodeUTF8(reply, n, "replace");
	}
	PyMem_Free(reply);
	return r;
}
#endif

/* layout(fourcc, width, height): (bytes_used, planes) of a tightly laid out
 * raw frame (rkv_frame_layout), planes as (offset, stride, size). */
static PyObject *mod_layout(PyObject *m, PyObject *args)
{
	(void)m;
	unsigned int fourcc, w, h;
	if (!PyArg_ParseTuple(args, "III", &fourcc, &w, &h))
		return NULL;
	struct rkv_frame f;
	int64_t n = rkv_frame_layout(&f, fourcc, w, h, 1);
	if (n < 0)
		return raise_rc((int)n, "not a raw format, or a bad size");
	PyObject *planes = PyTuple_New(f.num_planes);
	for (uint32_t i = 0; planes && i < f.num_planes; i++) {
		PyObject *t = Py_BuildValue("(KIK)", (unsigned long long)f.planes[i].offset,
					    (unsigned int)f.planes[i].stride,
					    (unsigned long long)f.planes[i].size);
		if (!t) {
			Py_CLEAR(planes);
			break;
		}
		PyTuple_SET_ITEM(planes, i, t);
	}
	if (!planes)
		return NULL;
	PyObject *r = Py_BuildValue("(LN)", (long long)n, planes);
	return r;
}

/* pool_stats(name): (the pool's counters, [each consumer's]) without attaching. */
static PyObject *mod_pool_stats(PyObject *m, PyObject *arg)
{
	(void)m;
	const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
	if (!name) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "pool_stats() takes a pool name (str)");
		return NULL;
	}
	struct rkv_pool_stats ps;
	struct rkv_consumer_stats *cs = PyMem_Calloc(RKV_MAX_CONSUMERS, sizeof *cs);
	if (!cs)
		return PyErr_NoMemory();
	int n;
	Py_BEGIN_ALLOW_THREADS
	n = rkv_pool_stats(name, &ps, sizeof ps, cs, RKV_MAX_CONSUMERS, sizeof *cs);
	Py_END_ALLOW_THREADS
	PyObject *r = NULL, *pd = NULL, *list = NULL;
	if (n < 0) {
		char what[200];
		snprintf(what, sizeof what, "pool '%s'", name);
		raise_rc(n, what);
		goto out;
	}
	if (n > RKV_MAX_CONSUMERS)
		n = RKV_MAX_CONSUMERS;
	pd = pool_stats_dict(&ps);
	list = pd ? PyList_New(n) : NULL;
	for (int i = 0; list && i < n; i++) {
		PyObject *d = consumer_stats_dict(&cs[i]);
		if (!d)
			goto out;
		PyList_SET_ITEM(list, i, d);
	}
	if (list)
		r = PyTuple_Pack(2, pd, list);
out:
	Py_XDECREF(pd);
	Py_XDECREF(list);
	PyMem_Free(cs);
	return r;
}

static PyMethodDef mod_methods[] = {
	{"check", mod_check, METH_O, NULL},
	{"version", mod_version, METH_NOARGS, NULL},
	{"pool_stats", mod_pool_stats, METH_O, NULL},
	{"layout", mod_layout, METH_VARARGS, NULL},
#ifdef RKV_PY_CONTROL
	{"control_call", mod_control_call, METH_VARARGS, NULL},
#endif
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_rkv", NULL, -1, mod_methods,
				 NULL, NULL, NULL, NULL};

static int add_type(PyObject *m, const char *name, PyTypeObject *t)
{
	Py_INCREF(t);
	if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
		Py_DECREF(t);
		return -1;
	}
	return 0;
}

PyMODINIT_FUNC PyInit__rkv(void);
PyMODINIT_FUNC PyInit__rkv(void)
{
	import_array();
	long ps = sysconf(_SC_PAGESIZE);
	page_size = ps > 0 ? (size_t)ps : 4096;
	static int atfork_done;
	if (!atfork_done && pthread_atfork(guard_fork_prepare, guard_fork_parent,
					   guard_fork_child) == 0)
		atfork_done = 1;
	if (PyType_Ready(&LeaseType) < 0 || PyType_Ready(&ConsumerType) < 0 ||
	    PyType_Ready(&ProducerType) < 0 || PyType_Ready(&LoanType) < 0)
		return NULL;
	fa_as_buffer = *PyArray_Type.tp_as_buffer;
	fa_as_buffer.bf_getbuffer = fa_getbuffer;
	FrameArrayBaseType.tp_base = &PyArray_Type;
	FrameArrayBaseType.tp_basicsize = PyArray_Type.tp_basicsize;
	if (PyType_Ready(&FrameArrayBaseType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&mod);
	if (!m)
		return NULL;
	ReleasedError = PyErr_NewExceptionWithDoc("rkvision.ReleasedError",
		"A frame's data was read after the frame was released.", PyExc_ValueError, NULL);
	if (!ReleasedError || PyModule_AddObjectRef(m, "ReleasedError", ReleasedError) < 0 ||
	    add_type(m, "Consumer", &ConsumerType) < 0 || add_type(m, "Lease", &LeaseType) < 0 ||
	    add_type(m, "Producer", &ProducerType) < 0 ||
	    add_type(m, "FrameArrayBase", &FrameArrayBaseType) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
