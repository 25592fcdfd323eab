/* SPDX-License-Identifier: MIT */
/*
 * rkvision._rkv: the C half of the Python binding (python/rkvision/).
 *
 *   Consumer(name, policy, group, queue_depth, max_held, label,
 *            attach_timeout)   rkv_consumer_attach(); acquire(timeout)
 *            returns a Lease; fileno(), stats(), pool_stats(), close().
 *   Producer(name, slots, capacity, max_consumers, block_timeout)
 *            rkv_producer_create(); loan() (a Loan: a writable slot until
 *            its publish() or cancel()), publish_copy(), wait_consumers(),
 *            fileno(), stats(), close().
 *   Lease    one acquired frame: its descriptor as attributes, its bytes
 *            through the buffer protocol (read-only), release(). After
 *            release (or close of its Consumer) the buffer protocol raises
 *            ReleasedError, so no new view of the bytes can be made.
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
#include <string.h>
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

typedef struct {
	PyObject_HEAD
	rkv_consumer *c;
	Lease *held; /* leases not yet released: released before detach */
	int waiting; /* threads in acquire, the GIL let go: close must wait */
	PyThread_type_lock calls; /* rkv_consumer_acquire: one thread at a time */
	PyObject *weakrefs;
} Consumer;

struct Lease {
	PyObject_HEAD
	Consumer *owner; /* a reference while held */
	struct rkv_view v;
	Lease *next, *prev;
	int released;
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

static PyTypeObject LeaseType;

/* Make @l unreadable and drop it from its consumer's list; with @give_back,
 * also give the slot back to the producer (not in a forked child: the
 * lease is the parent's). */
static int lease_end(Lease *l, int give_back)
{
	if (l->released)
		return 0;
	l->released = 1;
	Consumer *c = l->owner;
	if (l->prev)
		l->prev->next = l->next;
	else
		c->held = l->next;
	if (l->next)
		l->next->prev = l->prev;
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
	if (rc < 0)
		return raise_rc(rc, "rkv_consumer_release");
	Py_RETURN_NONE;
}

static void lease_dealloc(Lease *l)
{
	if (!l->released)
		(void)lease_do_release(l);
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
	return PyBuffer_FillInfo(b, (PyObject *)l, (void *)l->v.data,
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
		return PyLong_FromVoidPtr((void *)l->v.data);
	case 12: return PyLong_FromUnsignedLong(f->fourcc);
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
			      "attach_timeout", NULL};
	const char *name, *policy = "latest", *group = NULL, *label = NULL;
	unsigned int depth = 0, held = 0;
	PyObject *at = Py_None;
	if (self->c) {
		PyErr_SetString(PyExc_RuntimeError, "Consumer already attached");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "s|szIIzO", kwl, &name, &policy, &group,
					 &depth, &held, &label, &at))
		return -1;
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
	return 0;
}

static void consumer_do_close(Consumer *self)
{
	Py_INCREF(self); /* the leases' references go with them */
	while (self->held)
		(void)lease_do_release(self->held);
	if (self->c) {
		rkv_consumer *c = self->c;
		self->c = NULL;
		Py_BEGIN_ALLOW_THREADS
		rkv_consumer_detach(c);
		Py_END_ALLOW_THREADS
	}
	Py_DECREF(self);
}

static PyObject *consumer_close(Consumer *self, PyObject *unused)
{
	(void)unused;
	if (self->waiting) {
		PyErr_SetString(PyExc_RuntimeError, "Consumer is in use by another thread's get()");
		return NULL;
	}
	consumer_do_close(self);
	Py_RETURN_NONE;
}

static void consumer_dealloc(Consumer *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	/* No lease is held here: each holds a reference to its consumer. */
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
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc;
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
	l->released = 0;
	Py_INCREF(self);
	l->owner = self;
	l->next = self->held;
	if (self->held)
		self->held->prev = l;
	self->held = l;
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
		(void)lease_end(self->held, 0);
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

static PyGetSetDef consumer_getset[] = {
	{"closed", (getter)consumer_closed, NULL, NULL, NULL},
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
	int rc;
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
	int rc;
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
