# SPDX-License-Identifier: MIT
"""rkvision: read RKVision frame pools from Python as numpy arrays, zero copy.

    import rkvision
    with rkvision.Consumer("cam0", policy="latest") as c:
        for frame in c:                 # released when the iteration ends
            y, uv = frame.planes        # NV12: (Y, UV) views of the slot
        frame = c.get(timeout=1.0)      # None: wait forever; 0: don't wait
        with frame:
            img = frame.array           # read-only numpy view of the slot

After a frame is released (frame.release(), the end of its `with` block or
of its loop iteration, Consumer.close()), reading frame.array or any view
derived from it (slices, planes, reshapes) raises ReleasedError instead of
returning bytes from a slot the producer may be refilling. frame.copy()
keeps a frame.

Two guards stand behind that, chosen per Consumer with guard=:
- guard="checks": FrameArray, the ndarray subclass of frame.array and of
  every view derived from it, checks the frame on each read (indexing,
  ufuncs, np.* functions, the buffer protocol, .tobytes(), .ctypes, ...)
  and raises ReleasedError. What it cannot see: a plain ndarray made from
  the frame before release (np.asarray(), .view(np.ndarray)), a memoryview
  or ctypes pointer taken before release, and C code (cv2, the NPU
  runtime) holding the pointer. Those read the slot after release, that
  is possibly a newer frame's bytes.
- guard="remap" (the default): the checks, and each held frame is read
  through an address range of its own (an alias of its slot). On release
  that range is taken from the slot before the slot is given back, and
  an inaccessible placeholder holds the addresses while any Python object
  may still point there. A read through an escaped view then faults: the
  process stops with SIGSEGV and the message "rkvision: a frame was read
  after release() ..." on stderr (with faulthandler on, the Python stack
  too). It never returns another frame's bytes. Costs two system calls a
  frame: mprotect for slots of 16 pages or fewer (3-7 us over "checks"
  at 64 B), for larger ones a move and a placeholder (about 10-15 us; the
  first reads after a move find the TLB cold); the README's Benchmark
  section has the figures. Consumer.guard tells which mechanism is in
  use ("dontunmap", or the fallbacks "move" and "fresh" on kernels or
  mappings that refuse it; RKVISION_GUARD_FALLBACK=move or =fresh forces
  one). A forked child's copies of the views fault the same way. Where
  the kernel refuses the calls (vm.max_map_count), release() and close()
  raise MemoryError and keep the frame held.
Not guarded either way: frame.fd handed to hardware (RGA, the NPU) that is
still reading when the frame is released; use the fd inside `with frame:`.
A thread still inside C code on a frame that another thread releases
crashes under guard="remap" and reads a reused slot under guard="checks".

Threads: a Consumer or a Producer may be shared by threads. The calls
that wait (get, loan, publish, publish_copy, wait_consumers) are made one
at a time per object, each waiting for the lock no longer than its own
timeout, with the GIL let go; release() and the stats never wait for them.
Default sequence numbers stay unique across threads, but frames published
by several threads keep the order of their calls, not of their numbers.

The C part is the extension rkvision._rkv. From a checkout, with
PYTHONPATH=python, it is looked for in $RKV_PYTHON_EXT_DIR, else in
the checkout's build/python/ (where `make` puts it).
"""
import asyncio as _asyncio
import errno as _errno
import json as _json
import glob as _glob
import os as _os
import threading as _threading
import weakref as _weakref

# Installed, the extension sits in this folder; from a checkout it is found
# in $RKV_PYTHON_EXT_DIR or ../build/python.
if not _glob.glob(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "_rkv*.so")):
    _ext = _os.environ.get("RKV_PYTHON_EXT_DIR")
    if not _ext:
        _ext = _os.path.join(_os.path.dirname(_os.path.dirname(
            _os.path.dirname(_os.path.abspath(__file__)))), "build", "python")
    if _os.path.isdir(_ext):
        __path__.append(_ext)

import numpy as _np

from . import _rkv
from ._rkv import ReleasedError

__all__ = ["Camera", "Consumer", "Frame", "FrameArray", "Producer", "ReleasedError",
           "camera", "pools", "version"]

_check = _rkv.check


def version():
    """The version of librkv the binding runs with."""
    return _rkv.version()


class FrameArray(_rkv.FrameArrayBase):
    """Read-only numpy view of a held frame's slot; raises ReleasedError once
    the frame is released. Views derived from it are FrameArrays too; the
    results of computations on it (ufuncs, np.* functions) are plain arrays."""
    __slots__ = ()

    def __getitem__(self, k):
        _check(self)
        return super().__getitem__(k)

    def __iter__(self):
        _check(self)
        return super().__iter__()

    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        for x in inputs:
            if isinstance(x, FrameArray):
                _check(x)
        args = [_np.ndarray.view(x, _np.ndarray) if isinstance(x, FrameArray) else x
                for x in inputs]
        out = kw.get("out")
        if out:
            for o in out:
                if isinstance(o, FrameArray):
                    _check(o)
            kw["out"] = tuple(_np.ndarray.view(o, _np.ndarray) if isinstance(o, FrameArray)
                              else o for o in out)
        return getattr(ufunc, method)(*args, **kw)

    def __array_function__(self, func, types, args, kwargs):
        def chk(x):
            if isinstance(x, FrameArray):
                _check(x)
            elif isinstance(x, (list, tuple)):
                for y in x:
                    chk(y)
        chk(args)
        chk(tuple(kwargs.values()))
        return super().__array_function__(func, types, args, kwargs)

    def __array__(self, *a):
        _check(self)
        return super().__array__(*a)

    def __repr__(self):
        try:
            _check(self)
        except ReleasedError:
            return "<FrameArray of a released frame>"
        return super().__repr__()

    __str__ = __repr__


def _checked(name):
    base = getattr(_np.ndarray, name)

    def m(self, *a, **kw):
        _check(self)
        return base(self, *a, **kw)
    m.__name__ = name
    m.__doc__ = base.__doc__
    return m


# ndarray methods that read the data, or make a view, without a ufunc.
for _n in ("tobytes", "tostring", "tolist", "item", "copy", "astype", "view", "tofile",
           "dump", "dumps", "__reduce__", "__reduce_ex__", "__copy__", "__deepcopy__",
           "byteswap", "round", "argmax", "argmin", "argsort", "argpartition", "nonzero",
           "searchsorted", "take", "compress", "choose", "repeat", "clip",
           "diagonal", "trace", "dot", "flatten", "ravel", "reshape", "transpose",
           "squeeze", "swapaxes", "__float__", "__int__", "__index__", "__bool__",
           "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__format__",
           "__contains__", "__dlpack__", "__len__",
           # and those that write (a loan's arrays are writable until publish)
           "__setitem__", "fill", "put", "itemset", "setfield", "sort", "partition"):
    if hasattr(_np.ndarray, _n):
        setattr(FrameArray, _n, _checked(_n))

# Attributes that hand out the pointer or another view.
for _n in ("data", "ctypes", "__array_interface__", "__array_struct__", "flat", "T",
           "real", "imag", "base"):
    def _prop(p):
        return property(lambda self: (_check(self), p.__get__(self))[1])
    setattr(FrameArray, _n, _prop(getattr(_np.ndarray, _n)))
del _n


# Formats whose image is one packed plane: bytes per pixel.
_PACKED = {"YUYV": 2, "RGB3": 3, "BGR3": 3, "AB24": 4, "GREY": 1}


def _plane_array(lease, offset, stride, rows, row_bytes, channels):
    """A FrameArray of rows x (row_bytes / channels) x channels at offset,
    rows stride bytes apart (numpy checks it lies inside the frame's bytes)."""
    cols = row_bytes // channels
    if channels == 1:
        shape, strides = (rows, cols), (stride, 1)
    else:
        shape, strides = (rows, cols, channels), (stride, channels, 1)
    return FrameArray(shape, dtype=_np.uint8, buffer=lease, offset=offset, strides=strides)


def _make_planes(lease):
    """The planes of lease's frame (a Lease, or a _LoanView of a Loan being
    written) as FrameArrays over its buffer; None if the format has none."""
    fmt, w, h = lease.format, lease.width, lease.height
    planes = lease.planes
    buf = lease._raw if isinstance(lease, _LoanView) else lease
    if fmt in _PACKED and len(planes) == 1:
        off, stride, _ = planes[0]
        bpp = _PACKED[fmt]
        if fmt == "YUYV":
            # Y0 U Y1 V: H x W x 2 (an odd W gets the pair's last pixel too).
            return (_plane_array(buf, off, stride, h, 4 * ((w + 1) // 2), 2),)
        return (_plane_array(buf, off, stride, h, w * bpp, bpp),)
    cw, ch = (w + 1) // 2, (h + 1) // 2
    if fmt in ("NV12", "NV16") and len(planes) == 2:
        (o0, s0, _), (o1, s1, _) = planes
        rows = ch if fmt == "NV12" else h
        return (_plane_array(buf, o0, s0, h, w, 1),
                _plane_array(buf, o1, s1, rows, 2 * cw, 2))
    if fmt == "YU12" and len(planes) == 3:
        return tuple(_plane_array(buf, o, s, rr, cc, 1)
                     for (o, s, _), rr, cc in zip(planes, (h, ch, ch), (w, cw, cw)))
    return None


class Frame:
    """One frame held from a pool. Attributes: seq, timestamp (ns, CLOCK_MONOTONIC),
    format (fourcc string, e.g. 'NV12'), width, height, keyframe, bytes_used,
    fd and offset (DMA-BUF frames; else None), array, planes."""
    __slots__ = ("_lease", "_planes", "_array", "seq", "timestamp", "format", "width",
                 "height", "keyframe", "bytes_used", "__weakref__")

    def __init__(self, lease):
        self._lease = lease
        self.seq = lease.seq
        self.timestamp = lease.timestamp
        self.format = lease.format
        self.width = lease.width
        self.height = lease.height
        self.keyframe = bool(lease.flags & 1)
        self.bytes_used = lease.bytes_used
        self._planes = None
        self._array = None

    @property
    def planes(self):
        """The image's planes as FrameArrays: (Y, UV) for NV12/NV16 (UV as
        rows x W/2 x 2), (Y, U, V) for YU12, (image,) for packed formats;
        () for encoded formats (JPEG, H264, BYTES)."""
        if self._lease.released:
            raise ReleasedError("frame was released")
        if self._planes is None:
            self._planes = _make_planes(self._lease) or ()
        return self._planes

    @property
    def array(self):
        """The frame as a read-only FrameArray: H x W x 3 for RGB24/BGR24,
        H x W x 4 for RGBA, H x W x 2 for YUYV, H x W for GREY; the planes
        tuple for planar formats (NV12: (Y, UV)); a 1-D uint8 array of
        bytes_used bytes for JPEG, H264 and opaque bytes."""
        if self._lease.released:
            raise ReleasedError("frame was released")
        if self._array is None:
            p = self.planes
            if len(p) == 1:
                self._array = p[0]
            elif p:
                self._array = p
            else:
                self._array = FrameArray((self.bytes_used,), dtype=_np.uint8,
                                         buffer=self._lease)
        return self._array

    @property
    def fd(self):
        """The slot's DMA-BUF fd (owned by the pool: do not close it; use it
        only while the frame is held), or None for memory slots."""
        return self._lease.fd

    @property
    def offset(self):
        """Where the frame starts in fd, or None."""
        return self._lease.offset

    @property
    def released(self):
        return self._lease.released

    def release(self):
        """Give the slot back to the producer; reads of the arrays raise from now on."""
        self._lease.release()

    def copy(self):
        """A copy of the array (or of each plane, as a tuple) as plain ndarrays."""
        a = self.array
        if isinstance(a, tuple):
            return tuple(_np.array(_np.ndarray.view(x, _np.ndarray)) for x in a)
        _check(a)
        return _np.array(_np.ndarray.view(a, _np.ndarray))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return "<rkvision.Frame seq=%d %s %dx%d%s>" % (
            self.seq, self.format, self.width, self.height,
            " released" if self.released else "")


_POLICIES = ("block", "drop", "latest", "group")


# A forked child must not read frames its parent holds: the parent releases
# them when it likes and the producer refills the slots. So after fork every
# frame held is made unreadable in the child (the parent's stay as they are).
_live_consumers = _weakref.WeakSet()


def _after_fork_in_child():
    for c in list(_live_consumers):
        c.forget_held()


_os.register_at_fork(after_in_child=_after_fork_in_child)


class Consumer:
    """Attach to pool `name` as a consumer.

    policy: "latest" (the newest frame, older unread ones replaced), "block"
    (every frame; the producer waits up to its block timeout), "drop" (every
    frame while the queue has room), "group" (with group="name": each frame
    to one member of the group). queue_depth, max_held (frames held at once)
    and label as in rkv_consumer_opts; attach_timeout in seconds (None: the
    library's 5 s). guard: "remap" (default) or "checks", how a released
    frame is kept from being read (the package docstring says what each
    catches and costs). fd_only=True: DMA-BUF pools only, frames are not
    mapped (RKV_CONSUMER_NO_MAP): frame.fd and frame.offset are there for
    hardware, frame.array raises ValueError. Raises FileNotFoundError for
    an unknown pool, PermissionError, ValueError for bad arguments,
    TimeoutError.
    """

    def __init__(self, name, policy="latest", group=None, queue_depth=0, max_held=1,
                 label=None, attach_timeout=None, guard="remap", fd_only=False):
        if policy not in _POLICIES:
            raise ValueError("policy must be one of %s, not %r" % (", ".join(_POLICIES), policy))
        if (policy == "group") != (group is not None):
            raise ValueError("group= goes with policy='group', and that policy needs it")
        if guard not in ("remap", "checks"):
            raise ValueError("guard must be 'remap' or 'checks', not %r" % (guard,))
        self.name = name
        self.policy = policy
        self._c = _rkv.Consumer(name, policy, group, queue_depth, max_held, label,
                                attach_timeout, guard, bool(fd_only))
        _live_consumers.add(self._c)

    @property
    def guard(self):
        """The guard in use: "dontunmap", "move" or "fresh" (guard="remap",
        best first: the kernel decides, RKVISION_GUARD_FALLBACK caps it),
        or "checks"."""
        return self._c.guard

    def get(self, timeout=None):
        """The next frame: wait up to timeout seconds (None: as long as it
        takes; 0: do not wait). Raises TimeoutError when none came in time,
        BlockingIOError for timeout=0 when none is ready, BrokenPipeError (a
        ConnectionError) once the producer is gone and every frame queued
        here was read, ConnectionError when the lease ended otherwise,
        RuntimeError when max_held frames are held."""
        return Frame(self._c.acquire(timeout))

    def __iter__(self):
        """Frames as they come, each released when the next is asked for, or
        when the loop ends (break, return, an exception). Ends when the
        producer is gone and every frame queued here was read."""
        while True:
            try:
                f = Frame(self._c.acquire(None))
            except BrokenPipeError:
                return
            try:
                yield f
            finally:
                f.release()

    def frames(self):
        """Frames for `async for` in asyncio (the consumer's fd through
        loop.add_reader; the loop is never blocked). Each frame is released
        when the next is asked for, by aclose(), or when the iterator is
        dropped (a `break` out of `async for` drops it). Ends like the plain
        loop. Time limits: asyncio.timeout() / asyncio.wait_for()."""
        return _AsyncFrames(self)

    def __aiter__(self):
        return _AsyncFrames(self)

    def fileno(self):
        """An fd that is readable when a frame may be ready (for select,
        selectors): then get(0) until BlockingIOError."""
        return self._c.fileno()

    def stats(self):
        """This consumer's counters (rkv_consumer_stats) as a dict."""
        return self._c.stats()

    def pool_stats(self):
        """The pool's counters (rkv_consumer_pool_stats) as a dict."""
        return self._c.pool_stats()

    @property
    def closed(self):
        return self._c.closed

    def close(self):
        """Release every frame still held and detach."""
        self._c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<rkvision.Consumer %r %s%s>" % (self.name, self.policy,
                                                " closed" if self.closed else "")


class _AsyncFrames:
    """Consumer.frames(): a class, not an async generator, so that the held
    frame goes back at once when the loop is left (CPython finalizes an
    async generator only later, through the event loop's hooks)."""

    def __init__(self, consumer):
        self._consumer = consumer
        self._frame = None

    def __aiter__(self):
        return self

    def _drop(self):
        f, self._frame = self._frame, None
        if f is not None and not f.released and not self._consumer.closed:
            f.release()

    async def __anext__(self):
        self._drop()
        c = self._consumer
        while True:
            try:
                self._frame = c.get(0)
                return self._frame
            except BlockingIOError:
                pass
            except BrokenPipeError:
                raise StopAsyncIteration from None
            loop = _asyncio.get_running_loop()
            ready = loop.create_future()
            fd = c.fileno()
            loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
            try:
                await ready
            finally:
                loop.remove_reader(fd)

    async def aclose(self):
        self._drop()

    def __del__(self):
        self._drop()


# Format names: the library's fourccs, and the names people use for them.
_ALIASES = {"RGB24": "RGB3", "BGR24": "BGR3", "RGBA": "AB24", "I420": "YU12",
            "BYTES": "BYTE"}


def _fourcc(name):
    code = _ALIASES.get(name, name)
    if not isinstance(code, str) or len(code) != 4 or not code.isascii():
        raise ValueError("unknown format %r" % (name,))
    return int.from_bytes(code.encode(), "little")


def _infer(a):
    """(format, width, height) of a uint8 array by its shape."""
    if a.ndim == 3 and a.shape[2] in (2, 3, 4):
        return {2: "YUYV", 3: "RGB24", 4: "RGBA"}[a.shape[2]], a.shape[1], a.shape[0]
    if a.ndim == 2:
        return "GREY", a.shape[1], a.shape[0]
    if a.ndim == 1:
        return "BYTES", 0, 0
    raise ValueError("cannot tell the format of a %r array: pass format=" % (a.shape,))


class Producer:
    """Create pool `name` with `slots` slots of `capacity` bytes and publish
    into it. max_consumers (0: 16) and block_timeout (seconds a publish
    waits for a block consumer; None: the library's 1 s) as in rkv_pool_opts.
    Raises ValueError for bad arguments, OSError (EADDRINUSE) when a live
    producer owns the name."""

    def __init__(self, name, slots=4, capacity=1 << 22, max_consumers=0, block_timeout=None):
        self.name = name
        self._p = _rkv.Producer(name, slots, capacity, max_consumers, block_timeout)
        self._seq = 0
        self._seq_lock = _threading.Lock()

    def _next_seq(self, seq):
        """seq, or the one after the last; either way the next default."""
        with self._seq_lock:
            if seq is None:
                seq = self._seq
            self._seq = seq + 1
            return seq

    def loan(self, timeout=None):
        """A free slot to fill in place (a Loan), waiting up to timeout
        seconds (None: as long as it takes; TimeoutError, BlockingIOError for
        0). Fill loan.image(format, width, height) or loan.buffer, then
        loan.publish(); `with producer.loan() as loan:` cancels a loan left
        unpublished."""
        return Loan(self, self._p.loan(timeout))

    def publish_copy(self, array, format=None, width=None, height=None, seq=None,
                     timestamp=0, keyframe=False, timeout=None):
        """Copy a C-contiguous uint8 array (or bytes) into a slot and publish
        it. Without format it is inferred from the shape: H x W x 3 RGB24,
        H x W x 4 RGBA, H x W x 2 YUYV, H x W GREY, 1-D BYTES. With a raw
        format (NV12 as (H*3/2) x W, ...) width and height default to the
        array's and its size must match the format's. seq defaults to one
        more than the last; timestamp 0 means now. Waits up to timeout
        seconds for a free slot (None: as long as it takes; TimeoutError)."""
        if isinstance(array, (bytes, bytearray, memoryview)):
            array = _np.frombuffer(array, dtype=_np.uint8)
        array = _np.asarray(array)
        if array.dtype != _np.uint8:
            raise ValueError("frames are uint8 arrays, not %s" % array.dtype)
        if not array.flags.c_contiguous:
            array = _np.ascontiguousarray(array)
        if format is None:
            format, w, h = _infer(array)
        elif array.ndim >= 2:
            w, h = array.shape[1], array.shape[0]
            if format in ("NV12", "YU12", "I420"):
                h = h * 2 // 3
        else:
            w, h = 0, 0
        w = w if width is None else width
        h = h if height is None else height
        seq = self._next_seq(seq)
        self._p.publish_copy(array, _fourcc(format), w, h, seq, timestamp,
                             1 if keyframe else 0, timeout)

    def wait_consumers(self, n=1, timeout=None):
        """Wait until at least n consumers are attached (TimeoutError)."""
        self._p.wait_consumers(n, timeout)

    def fileno(self):
        """An fd that is readable when a slot may have become free."""
        return self._p.fileno()

    def stats(self):
        """The pool's counters (rkv_producer_stats) as a dict."""
        return self._p.stats()

    @property
    def closed(self):
        return self._p.closed

    def close(self):
        """Close the pool: consumers drain their queues, then see the end."""
        self._p.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<rkvision.Producer %r%s>" % (self.name, " closed" if self.closed else "")


class Camera:
    """A running camera's functions (rkv/control.h), by the camera's name.
    Each call waits up to timeout seconds for the answer and returns it as a
    dict; an error answer raises ValueError for EINVAL (a bad request),
    else OSError with the camera's errno (FileNotFoundError,
    PermissionError, ... as the errno says). No such camera:
    FileNotFoundError."""

    def __init__(self, name, timeout=5.0):
        if not hasattr(_rkv, "control_call"):
            raise NotImplementedError("built without the camera library")
        self.name = name
        self.timeout = timeout

    def call(self, cmd, **fields):
        """Send {"cmd": cmd, **fields}; the answer without its "ok"."""
        req = dict(fields, cmd=cmd)
        ans = _json.loads(_rkv.control_call(self.name, _json.dumps(req), self.timeout))
        if not ans.pop("ok", False):
            msg = "camera %r: %s" % (self.name, ans.get("error"))
            if ans.get("errno") == _errno.EINVAL:
                raise ValueError(msg)
            raise OSError(ans.get("errno", 0), msg)
        return ans

    def status(self):
        """The camera's state and counters."""
        return self.call("status")

    def capture(self, on):
        """Start (True) or stop (False) publishing frames."""
        return self.call("capture", on=bool(on))

    def fps(self, n):
        """Publish at most n frames a second (0: every frame)."""
        return self.call("fps", fps=int(n))

    def preview(self, on):
        """Switch the camera's JPEG preview on or off."""
        return self.call("preview", on=bool(on))

    def snapshot(self, path=None, format=None, quality=None, seq=None):
        """Save a frame (the next one, or frame seq) and return where:
        "path", "seq", "format", "width", "height", ..."""
        fields = {k: v for k, v in (("path", path), ("format", format),
                                    ("quality", quality), ("seq", seq)) if v is not None}
        return self.call("snapshot", **fields)


def camera(name, timeout=5.0):
    """Camera(name): rkvision.camera("cam0").status()."""
    return Camera(name, timeout)


def _pool_names():
    """Names of the live pools: listening abstract sockets "@rkvision/NAME"
    in /proc/net/unix (this network namespace's, like the pools)."""
    names = []
    with open("/proc/net/unix") as f:
        next(f, None)
        for line in f:
            fields = line.split()
            if len(fields) < 8 or not int(fields[3], 16) & 0x10000:
                continue  # not listening
            path = fields[7]
            if path.startswith("@rkvision/") and len(path) > 10 and path[10:] not in names:
                names.append(path[10:])
    return names


def pools():
    """The live pools on this machine as {name: counters}, each the pool's
    counters (as Consumer.pool_stats()) plus "consumer_stats", a list of
    its consumers' (as Consumer.stats()). Read without attaching."""
    out = {}
    for name in _pool_names():
        try:
            st, cons = _rkv.pool_stats(name)
        except (FileNotFoundError, ConnectionError, TimeoutError):
            continue  # gone meanwhile
        st["consumer_stats"] = cons
        out[name] = st
    return out


class _Layout:
    """What _make_planes reads from a Lease, for a frame being written."""
    __slots__ = ("format", "width", "height", "planes", "_buf")


class Loan:
    """A slot loaned to a Producer: writable FrameArrays over it until
    publish() or cancel(), after which they raise ReleasedError."""

    def __init__(self, producer, raw):
        self._producer = producer
        self._raw = raw
        self._image = None  # (format, width, height, bytes_used)
        self._buffer = None

    @property
    def capacity(self):
        return self._raw.capacity

    @property
    def buffer(self):
        """The whole slot as a writable 1-D uint8 FrameArray."""
        if self._buffer is None:
            self._buffer = FrameArray((self._raw.capacity,), dtype=_np.uint8, buffer=self._raw)
        return self._buffer

    def image(self, format, width, height):
        """Writable views of the slot laid out as a width x height image of a
        raw format, tightly (rows width * bytes-per-pixel apart): the array
        (H x W x 3 for RGB24 ...) or, for planar formats, the planes tuple.
        publish() then describes the frame so."""
        used, planes = _rkv.layout(_fourcc(format), width, height)
        if used > self._raw.capacity:
            raise ValueError("a %dx%d %s frame is %d bytes, the slot has %d"
                             % (width, height, format, used, self._raw.capacity))
        lay = _Layout()
        lay.format, lay.width, lay.height, lay.planes = (_ALIASES.get(format, format), width,
                                                         height, planes)
        made = _make_planes(_LoanView(self._raw, lay))
        self._image = (format, width, height, used)
        return made[0] if len(made) == 1 else made

    def publish(self, format=None, width=0, height=0, bytes_used=None, seq=None,
                timestamp=0, keyframe=False):
        """Publish the slot. After image(): as that image, unless told
        otherwise. Else format (default BYTES) and bytes_used (raw formats:
        from width and height) describe it. Returns the number of consumers
        that got it. seq defaults to one more than the last."""
        if format is None and self._image is not None:
            format, width, height, used = self._image
        else:
            format = format or "BYTES"
            used = bytes_used if bytes_used is not None else 0
        p = self._producer
        seq = p._next_seq(seq)
        return self._raw.publish(_fourcc(format), width, height, used, seq, timestamp,
                                 1 if keyframe else 0)

    def cancel(self):
        """Give the slot back unpublished."""
        self._raw.cancel()

    @property
    def done(self):
        return self._raw.done

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._raw.cancel()


class _LoanView:
    """A Lease-like face of a Loan for _make_planes: the arrays' buffer is the
    Loan itself (so they check it), the layout comes from _rkv.layout."""
    __slots__ = ("_raw", "_lay")

    def __init__(self, raw, lay):
        self._raw = raw
        self._lay = lay

    def __getattr__(self, name):
        return getattr(self._lay, name)
