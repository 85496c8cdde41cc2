"""Every reply of a load-generator step, kept raw with its receive time, read afterwards.

The generator's send loop shares two cores with the server it measures, so while a step
runs it does no per-reply Python work beyond taking each reply off its socket: no
unpacking, no scanning, no object per reply. ``ReplyLog`` stores the replies; the
analysis reads them after the sockets go quiet (``bench.loadgen``). Rules:

- A reply is copied into large byte chunks (``CHUNK`` bytes each, anonymous ``mmap``:
  reserved up front for the whole step, the pages only touched as replies land, no
  zero-filling) at most ``MAX_REPLY`` bytes long (a longer one keeps its first
  ``MAX_REPLY`` bytes and is counted in ``oversize``); its offset, length, receive time
  and socket go into arrays.
- The receive time is read right after the reply is taken off the socket, so it is never
  earlier than the moment the generator could have seen it: a reply that waited in the
  socket while the generator was busy is charged that wait (conservative, like every
  other delay of the generator's own).
- ``drainer`` returns ``drain(i)``: take every reply queued on socket ``i`` until it is
  empty; how many. Emptying the socket each time matters beyond speed: ZeroMQ signals
  a socket's file descriptor again only after a receive found it empty.
- Receiving goes through libzmq's own ``zmq_recv`` (ctypes, the library pyzmq loaded,
  found in ``/proc/self/maps`` and checked by version) straight into the chunk: on this
  machine pyzmq's ``recv`` raises ``zmq.Again`` on an empty socket at ~4.5 µs a time,
  ``zmq_recv`` returns -1 in ~0.9 µs, and no bytes object is made per reply. Where the
  library cannot be found (another OS, several copies loaded) or
  ``CROSSBOOK_BENCH_PYZMQ_RECV=1`` is set, pyzmq's ``recv`` fills the same log.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import time
from array import array
from collections.abc import Callable, Iterator, Sequence

import zmq

CHUNK = 16 * 1024 * 1024
MAX_REPLY = 16 * 1024
_EAGAIN = zmq.EAGAIN
_DONTWAIT = zmq.DONTWAIT


def _loaded_libzmq() -> ctypes.CDLL | None:
    """The one libzmq mapped into this process (pyzmq's), or None."""
    if os.environ.get("CROSSBOOK_BENCH_PYZMQ_RECV") == "1":
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split()[-1] for line in fh
                     if "/libzmq" in line and ".so" in line}  # fmt: skip
    except OSError:
        return None
    if len(paths) != 1:
        return None
    try:
        lib = ctypes.CDLL(paths.pop())
        major, minor, patch = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        lib.zmq_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
    except (OSError, AttributeError):
        return None
    if (major.value, minor.value, patch.value) != zmq.zmq_version_info():
        return None
    lib.zmq_recv.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.zmq_recv.restype = ctypes.c_int
    lib.zmq_errno.argtypes = []
    lib.zmq_errno.restype = ctypes.c_int
    return lib


_LIB: list[ctypes.CDLL | None] = []


def libzmq() -> ctypes.CDLL | None:
    if not _LIB:
        _LIB.append(_loaded_libzmq())
    return _LIB[0]


def receiver_name() -> str:
    return ("libzmq zmq_recv via ctypes into preallocated chunks" if libzmq() is not None
            else "pyzmq recv")  # fmt: skip


class ReplyLog:
    """The replies of one step: raw bytes in chunks plus parallel arrays, in arrival order."""

    def __init__(self, expected_bytes: int = CHUNK) -> None:
        self.chunks: list[mmap.mmap] = []
        self._views: list[ctypes.Array] = []  # keeps each chunk's buffer exported (pinned)
        self.offset = array("q")
        """start of each reply: chunk index * CHUNK + position in the chunk"""
        self.length = array("i")
        self.time = array("q")
        """``time.monotonic_ns()`` just after the reply was taken off its socket"""
        self.sock = array("B")
        self.oversize = 0
        for _ in range(max(1, -(-expected_bytes // CHUNK))):
            self._add_chunk()

    def _add_chunk(self) -> None:
        chunk = mmap.mmap(-1, CHUNK)
        self.chunks.append(chunk)
        self._views.append((ctypes.c_char * CHUNK).from_buffer(chunk))

    def __len__(self) -> int:
        return len(self.time)

    def frame(self, k: int) -> bytes:
        c, pos = divmod(self.offset[k], CHUNK)
        return self.chunks[c][pos : pos + self.length[k]]

    def frames(self, start: int = 0) -> Iterator[tuple[int, bytes, int]]:
        """(socket, reply, receive time) of every reply from the ``start``-th on."""
        chunks, offset, length, times, sock = (self.chunks, self.offset, self.length,
                                               self.time, self.sock)  # fmt: skip
        for k in range(start, len(times)):
            c, pos = divmod(offset[k], CHUNK)
            yield sock[k], chunks[c][pos : pos + length[k]], times[k]

    def drainer(self, socks: Sequence[zmq.Socket],
                clock: Callable[[], int] = time.monotonic_ns) -> Callable[[int], int]:  # fmt: skip
        """``drain(i)``: every reply queued on ``socks[i]`` into the log; how many.

        One drainer per log (it owns the write position)."""
        lib = libzmq()
        if lib is None:
            return self._pyzmq_drainer(socks, clock)
        recv = lib.zmq_recv
        errno = lib.zmq_errno
        handles = [s.underlying for s in socks]
        state = [0, 0]  # current chunk, position in it
        bases = [ctypes.addressof(v) for v in self._views]
        offset_append, length_append = self.offset.append, self.length.append
        time_append, sock_append = self.time.append, self.sock.append
        limit = CHUNK - MAX_REPLY

        def drain(i: int) -> int:
            h = handles[i]
            c, pos = state
            base = bases[c]
            n = 0
            while True:
                if pos > limit:
                    if c + 1 == len(self.chunks):
                        self._add_chunk()
                        bases.append(ctypes.addressof(self._views[-1]))
                    c, pos = c + 1, 0
                    base = bases[c]
                k = recv(h, base + pos, MAX_REPLY, _DONTWAIT)
                if k < 0:
                    state[0], state[1] = c, pos
                    if errno() != _EAGAIN:
                        raise zmq.ZMQError(errno())
                    return n
                time_append(clock())
                if k > MAX_REPLY:
                    self.oversize += 1
                    k = MAX_REPLY
                offset_append(c * CHUNK + pos)
                length_append(k)
                sock_append(i)
                pos += k
                n += 1

        return drain

    def _pyzmq_drainer(self, socks: Sequence[zmq.Socket],
                       clock: Callable[[], int]) -> Callable[[int], int]:  # fmt: skip
        recvs = [s.recv for s in socks]
        state = [0, 0]
        limit = CHUNK - MAX_REPLY

        def drain(i: int) -> int:
            recv = recvs[i]
            n = 0
            while True:
                try:
                    frame = recv(_DONTWAIT)
                except zmq.Again:
                    return n
                t = clock()
                c, pos = state
                if pos > limit:
                    if c + 1 == len(self.chunks):
                        self._add_chunk()
                    c, pos = c + 1, 0
                k = len(frame)
                if k > MAX_REPLY:
                    self.oversize += 1
                    k = MAX_REPLY
                self.chunks[c][pos : pos + k] = frame[:k]
                self.offset.append(c * CHUNK + pos)
                self.length.append(k)
                self.time.append(t)
                self.sock.append(i)
                state[0], state[1] = c, pos + k
                n += 1

        return drain
