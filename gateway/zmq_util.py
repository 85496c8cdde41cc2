"""Small asyncio + ZeroMQ helpers shared by the gateway's socket tasks.

House rules these helpers serve: one ``zmq.asyncio`` context per process, every socket
owned by exactly one task, ``linger=0`` on close, and no sleeps standing in for a
handshake. A socket task waits for *either* its socket becoming readable *or* another task
handing it work (``Wakeup``), with a timeout for its timers, in one call: ``wait_for_work``.
"""

from __future__ import annotations

import asyncio

import zmq
import zmq.asyncio
from zmq.backend import Socket as _BackendSocket

NOBLOCK = int(zmq.NOBLOCK)
SNDMORE = int(zmq.SNDMORE)
MORE_NOBLOCK = SNDMORE | NOBLOCK
send_frame = _BackendSocket.send
recv_frame = _BackendSocket.recv
"""The backend's ``Socket.send`` (plain ``bytes``, int flags): the hot paths call it
directly, skipping pyzmq's Python wrapper (its flag enums and type checks cost more than
the send itself)."""
get_option = _BackendSocket.get
"""The backend's ``getsockopt`` (int option, int result): pyzmq's wrapper turns both into
enums, about a microsecond per readiness check on the hot path."""


def send_two(sock: zmq.Socket, first: bytes, second: bytes) -> None:
    """A two-frame message (routing id + body) without blocking; raises ``zmq.Again`` at
    the high-water mark and ``zmq.ZMQError`` (EHOSTUNREACH) for a gone ROUTER peer."""
    send_frame(sock, first, MORE_NOBLOCK)
    send_frame(sock, second, NOBLOCK)


class Wakeup:
    """A level-triggered doorbell from producer code to the task that owns a socket.

    ``set()`` may be called any number of times from any coroutine or callback on the same
    loop; the owner calls ``clear()`` *before* it looks for work and then waits on
    ``future()``, so a ``set()`` that lands in between is never lost.
    """

    __slots__ = ("_flag", "_fut")

    def __init__(self) -> None:
        self._flag = False
        self._fut: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._flag = True
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def clear(self) -> None:
        self._flag = False

    @property
    def is_set(self) -> bool:
        return self._flag

    def future(self) -> asyncio.Future[None]:
        fut = self._fut
        if fut is None or fut.done():
            fut = self._fut = asyncio.get_running_loop().create_future()
        if self._flag and not fut.done():
            fut.set_result(None)
        return fut


async def wait_for_work(
    sock: zmq.asyncio.Socket | None, wake: Wakeup | None, timeout_s: float
) -> bool:
    """Wait until ``sock`` is readable, ``wake`` is set, or ``timeout_s`` passes.

    Returns True if the socket is readable. A timeout of 0 or less returns at once.
    """
    if timeout_s <= 0:
        return bool(sock is not None and sock.poll(0).result())
    waiters: list[asyncio.Future] = []
    poll_fut = None
    if sock is not None:
        poll_fut = sock.poll(int(timeout_s * 1000) + 1, zmq.POLLIN)
        waiters.append(poll_fut)
    if wake is not None:
        waiters.append(wake.future())
    try:
        if waiters:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(timeout_s)
    finally:
        if poll_fut is not None and not poll_fut.done():
            poll_fut.cancel()
    if poll_fut is not None and poll_fut.done() and not poll_fut.cancelled():
        return bool(poll_fut.result())
    return False


def close_socket(sock: zmq.Socket | None) -> None:
    """Close with linger 0 (idempotent)."""
    if sock is not None and not sock.closed:
        sock.close(linger=0)


def bound_endpoint(sock: zmq.Socket) -> str:
    """The endpoint a socket actually bound (resolves a ``:*`` or ``:0`` port)."""
    value = sock.getsockopt(zmq.LAST_ENDPOINT)
    return value.decode() if isinstance(value, bytes) else str(value)
