"""Run a periodic snapshot's work in a forked child, off the server's process.

A periodic snapshot exports the whole state at one journal seq, hashes it and writes it.
In a thread that work holds the GIL in 5 ms slices: every time the event loop's thread
lets the GIL go (each ZeroMQ send does) the snapshot thread takes it for a slice, so a
batch delivering a few hundred replies stalled for 100 ms and more while a snapshot was
being hashed; exporting on the loop itself took another ~40 ms for a state after a
minute of bench load. ``fork()`` gives a child a copy-on-write image of the process at
that instant (what Redis's background save does): the child exports, hashes and writes
from its own copy on the other core, while the parent goes on at once.

Rules:

1. ``fork_job(fn)`` forks *now* (the state the child sees is the state at this call) and
   returns a ``ForkedJob``; ``await job.result()`` gives ``fn()``'s return value (anything
   msgpack can carry) or raises ``ForkedJobError`` with the child's error text.
2. The child does only pure-Python work and file I/O: it never touches the event loop or
   a ZeroMQ socket, leaves through ``os._exit`` (no ``atexit``, no buffered output
   flushed twice), ignores the terminal's SIGINT (the parent decides when to stop),
   detaches from the loop's signal wake-up descriptor, and is killed by the kernel if the
   parent dies (``PR_SET_PDEATHSIG``), so a killed server never leaves a writer behind.
3. ``available()``: Linux only (``PR_SET_PDEATHSIG`` is a Linux call); elsewhere the
   caller runs the work in a thread as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import msgpack

from gateway.stopping import in_daemon_thread

_PR_SET_PDEATHSIG = 1


class ForkedJobError(RuntimeError):
    """The child failed (its error text), or died without an answer."""


def available() -> bool:
    """Whether snapshots may be written by a forked child on this platform."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class ForkedJob:
    """A running child: its pid and the read end of the pipe its answer comes through."""

    __slots__ = ("_fd", "pid")

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self._fd = fd

    async def result(self) -> Any:
        """Wait (in a thread: the read blocks) for the child's answer and reap it."""
        data, status = await in_daemon_thread(_read_and_reap, self._fd, self.pid)
        if not data:
            raise ForkedJobError(f"snapshot child {self.pid} ended without an answer "
                                 f"(wait status {status})")  # fmt: skip
        ok, value = msgpack.unpackb(data, raw=False, strict_map_key=False)
        if not ok:
            raise ForkedJobError(value)
        return value


def fork_job(fn: Callable[[], Any]) -> ForkedJob:
    """Fork a child that runs ``fn()`` on the image of this instant (see the rules)."""
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(r)
            _detach(parent)
            try:
                payload = msgpack.packb([True, fn()])
                code = 0
            except BaseException as exc:  # reported to the parent, not raised here
                payload = msgpack.packb([False, f"{type(exc).__name__}: {exc}"[:2000]])
            _write_all(w, payload)
        finally:
            os._exit(code)
    os.close(w)
    return ForkedJob(pid, r)


def _detach(parent: int) -> None:
    """The child's first steps: no signal wake-ups into the parent's loop, no reaction to
    the terminal's Ctrl-C, and death with the parent."""
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.close(fd)


def _read_and_reap(fd: int, pid: int) -> tuple[bytes, int]:
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks), status
