# SPDX-License-Identifier: MIT
"""The seed's names, for porting RKVision code written against them.

    from rkvision.compat import FramePoolManager
    producer, consumer = FramePoolManager(config).create()  # config: name, buffer, width, height
    producer.write_frame(time.time(), rgb)                  # in the camera process
    ts, frame = consumer.read_frame()                       # in the algorithm process

How this differs from the seed, and why:
- read_frame() returns the frame without giving its slot back: the slot
  stays the caller's until the next read_frame() or close(), so the
  producer cannot overwrite a frame being processed (the seed handed the
  slot back before returning the view: frames tore). After that the
  returned array raises rkvision.ReleasedError instead of showing another
  frame; use frame.copy() to keep one.
- No shared memory or queues are made by the manager: the producer's side
  creates the pool on its first write_frame() (in the process that calls
  it), the consumer's side attaches on its first read_frame(), waiting for
  the pool to exist. delete() has nothing to remove.
- As in the seed, the producer waits for a slow consumer (policy "block")
  and for the consumer to attach before its first frame; frames are
  height x width x 3 uint8 RGB. Timestamps are seconds (a float, as
  time.time() or time.monotonic() gives), carried in nanoseconds; 0 means
  the time of publishing. read_frame() raises BrokenPipeError (a
  ConnectionError) once the producer closed and every frame was read,
  where the seed would block forever.
"""
import time as _time

from . import Consumer, Producer

__all__ = ["EndPoint", "FramePoolManager"]

_FOREVER = 9e9  # seconds: the longest wait the binding takes


def _get(config, key):
    return config[key] if isinstance(config, dict) else getattr(config, key)


class EndPoint:
    """One side of a seed-style frame pool: role "producer" or "consumer".
    Picklable until first used, so it can be handed to a child process."""

    def __init__(self, config, role="consumer"):
        if role not in ("producer", "consumer"):
            raise ValueError("role is 'producer' or 'consumer', not %r" % (role,))
        self.name = _get(config, "name")
        self.slots = int(_get(config, "buffer"))
        self.height = int(_get(config, "height"))
        self.width = int(_get(config, "width"))
        if self.slots < 1 or self.height < 1 or self.width < 1:
            raise ValueError("buffer, height and width must be positive")
        self.role = role
        self._side = None
        self._frame = None

    def __getstate__(self):
        if self._side is not None:
            raise TypeError("an EndPoint in use belongs to its process")
        return self.__dict__

    def write_frame(self, time, frame):
        """Publish one height x width x 3 uint8 RGB frame (copied into a slot)."""
        if self.role != "producer":
            raise ValueError("write_frame() is the producer's")
        if self._side is None:
            p = Producer(self.name, slots=self.slots + 2,
                         capacity=self.height * self.width * 3, block_timeout=_FOREVER)
            p.wait_consumers(1)
            self._side = p
        if getattr(frame, "shape", None) != (self.height, self.width, 3):
            raise ValueError("frames are %d x %d x 3 uint8 arrays" % (self.height, self.width))
        self._side.publish_copy(frame, format="RGB24", timestamp=int(round(time * 1e9)))

    def read_frame(self):
        """(timestamp, frame): the next frame as a read-only H x W x 3 view.
        The previous frame is released now; this one at the next call or at
        close()."""
        if self.role != "consumer":
            raise ValueError("read_frame() is the consumer's")
        if self._frame is not None:
            self._frame.release()
            self._frame = None
        while self._side is None:
            try:
                self._side = Consumer(self.name, policy="block", queue_depth=self.slots)
            except FileNotFoundError:
                _time.sleep(0.01)  # the producer has not made the pool yet
        self._frame = self._side.get()
        return self._frame.timestamp / 1e9, self._frame.array

    def close(self):
        """Release the frame held, detach or close the pool."""
        self._frame = None
        if self._side is not None:
            self._side.close()
            self._side = None


class FramePoolManager:
    """The seed's manager: create() gives the two wired EndPoints."""

    def __init__(self, config):
        self.config = config

    def create(self):
        """(producer, consumer) EndPoints, to hand to one process each."""
        return EndPoint(self.config, "producer"), EndPoint(self.config, "consumer")

    def delete(self):
        """Nothing to remove: a pool ends with its producer's close()."""
