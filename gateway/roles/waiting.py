"""A cheap way for a role's task to wait on its socket: the ZeroMQ FD watched by the loop.

``gateway.zmq_util.wait_for_work`` builds a pyzmq poller and an ``asyncio.wait`` for every
call (tens of microseconds each); a role's socket task waits once per batch, so that cost
is paid per message at low rates. ``SocketWaiter`` registers the socket's ``ZMQ_FD`` with
the loop once; the reader callback rings the task's ``Wakeup``, and the task checks
``ZMQ_EVENTS`` (the authoritative readiness, since the FD only signals *changes*) before it
sleeps. Rules: the socket is used only through plain (non-asyncio) calls while a waiter is
registered (the roles use ``zmq.Socket.shadow``); whoever sends on the socket from another
task rings the same ``Wakeup`` (a send may consume the FD's edge); ``close()`` before the
socket is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import zmq
from zmq.backend import Socket as _BackendSocket
from zmq.backend import zmq_poll

from gateway.zmq_util import Wakeup
from gateway.zmq_util import get_option as _get

_POLLIN = int(zmq.POLLIN)
_EVENTS = int(zmq.EVENTS)
_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)


class SocketWaiter:
    def __init__(self, raw: zmq.Socket, wake: Wakeup) -> None:
        self.raw = raw
        self.wake = wake
        self._loop = asyncio.get_running_loop()
        self._fd = raw.getsockopt(zmq.FD)
        self._loop.add_reader(self._fd, wake.set)

    def readable(self) -> bool:
        return bool(_get(self.raw, _EVENTS) & _POLLIN)

    async def wait(self, timeout_s: float) -> None:
        """Return when the socket has a message, the doorbell rang, or the time is up.

        May also return spuriously (the FD signals any change of the socket's state): the
        caller drains with NOBLOCK and simply waits again."""
        wake = self.wake
        if wake.is_set or self.readable():
            return
        fut = wake.future()
        if fut.done():
            return
        handle = self._loop.call_later(timeout_s, wake.set)
        try:
            await fut
        finally:
            handle.cancel()

    def drain(self, handle: Callable[[list], object], limit: int, *, copy: bool = True,
              frames: int = 0, full: Callable[[], bool] | None = None) -> int:  # fmt: skip
        """Hand up to ``limit`` ready messages to ``handle`` without blocking; return how many
        (see ``drain``)."""
        return drain(self.raw, handle, limit, copy=copy, frames=frames, full=full)

    def close(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None


def drain(raw: zmq.Socket, handle: Callable[[list], object], limit: int, *,
          copy: bool = True, frames: int = 0,
          full: Callable[[], bool] | None = None) -> int:  # fmt: skip
    """Hand up to ``limit`` ready messages of ``raw`` to ``handle`` without blocking; stop
    early once ``full()`` (asked after each message) says what was handed is enough.

    Readiness comes from a zero-timeout ``zmq_poll`` (cheaper than reading ``ZMQ_EVENTS``
    through pyzmq, and far cheaper than a raised ``zmq.Again``). ``frames=1``: every message
    on this socket is one frame (the DEALER end of an internal link, whose peer is one of
    our roles), so no ``RCVMORE`` read is needed; otherwise the frames of a message are
    read while ``Frame.more`` (``copy=False``) or ``RCVMORE`` says more follow.
    """
    items = [(raw, _POLLIN)]
    recv = _BackendSocket.recv
    n = 0
    while n < limit and zmq_poll(items, 0):
        if frames == 1:
            msg = [recv(raw, _NOBLOCK, copy)]
        elif not copy:  # zmq.Frame knows whether more frames follow
            f = recv(raw, _NOBLOCK, False)
            msg = [f]
            while f.more:
                f = recv(raw, _NOBLOCK, False)
                msg.append(f)
        else:
            msg = [recv(raw, _NOBLOCK, copy)]
            while _get(raw, _RCVMORE):
                msg.append(recv(raw, _NOBLOCK, copy))
        handle(msg)
        n += 1
        if full is not None and full():
            break
    return n
