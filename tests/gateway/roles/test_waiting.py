"""SocketWaiter: wakes on a message, on the doorbell, or at the timeout; never misses a
message that arrived before it went to sleep (spurious wakes are allowed)."""

from __future__ import annotations

import asyncio
import time

import pytest
import zmq
import zmq.asyncio

from gateway.roles.waiting import SocketWaiter, drain
from gateway.zmq_util import Wakeup

pytestmark = pytest.mark.timeout(30)


async def test_wakes_on_messages_doorbell_and_timeout(make_socket) -> None:
    rx = make_socket(zmq.PULL)
    port = rx.bind_to_random_port("tcp://127.0.0.1")
    tx = make_socket(zmq.PUSH)
    tx.connect(f"tcp://127.0.0.1:{port}")
    raw = zmq.Socket.shadow(rx.underlying)
    wake = Wakeup()
    waiter = SocketWaiter(raw, wake)
    try:
        await asyncio.sleep(0.05)  # the connection settles; its FD activity may ring once
        assert not waiter.readable()
        await asyncio.sleep(0.01)  # a ring already queued by the loop runs now
        wake.clear()
        t0 = time.monotonic()
        await waiter.wait(0.05)
        assert 0.04 <= time.monotonic() - t0 < 2.0 and not waiter.readable()
        wake.clear()
        await tx.send(b"one")
        await asyncio.wait_for(waiter.wait(5.0), 5.0)
        assert raw.recv(zmq.NOBLOCK) == b"one"
        wake.clear()
        await tx.send(b"two")
        await asyncio.sleep(0.05)  # arrives while nobody waits: wait() must not sleep
        t0 = time.monotonic()
        await waiter.wait(5.0)
        assert time.monotonic() - t0 < 1.0 and raw.recv(zmq.NOBLOCK) == b"two"
        wake.clear()
        asyncio.get_running_loop().call_later(0.02, wake.set)
        t0 = time.monotonic()
        await waiter.wait(5.0)
        assert time.monotonic() - t0 < 1.0
    finally:
        waiter.close()


def test_drain_stops_at_the_limit_or_once_full() -> None:
    """Clearing stops taking gateway messages into a batch once it holds enough inputs
    (``clearing_role.BATCH_INPUTS``): the rest stay queued for the next batch, in order."""
    ctx = zmq.Context()
    rx = ctx.socket(zmq.PULL)
    tx = ctx.socket(zmq.PUSH)
    try:
        rx.bind("inproc://drain-full")
        tx.connect("inproc://drain-full")
        for i in range(10):
            tx.send(b"%d" % i)
        got: list[bytes] = []
        n = drain(rx, lambda m: got.extend(m), 100, full=lambda: len(got) >= 3)
        assert n == 3 and got == [b"0", b"1", b"2"]
        assert drain(rx, lambda m: got.extend(m), 4) == 4
        assert got[3:] == [b"3", b"4", b"5", b"6"]
        assert drain(rx, lambda m: got.extend(m), 100, full=lambda: False) == 3
        assert got == [b"%d" % i for i in range(10)]
        assert drain(rx, lambda m: got.extend(m), 100) == 0
    finally:
        tx.close(0)
        rx.close(0)
        ctx.term()
