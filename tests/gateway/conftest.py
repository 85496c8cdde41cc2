"""Socket fixtures for gateway tests: one asyncio context per test, nothing left open.

``ctx`` is a fresh ``zmq.asyncio.Context``; at teardown the test's own sockets (made with
``make_socket``) are closed with linger 0, then the context is terminated in a helper thread
with a deadline: a socket some component forgot to close makes ``term`` hang, and the
fixture fails the test instead of hanging the suite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import zmq
import zmq.asyncio

TERM_TIMEOUT_S = 5.0


@pytest.fixture
def ctx() -> Iterator[zmq.asyncio.Context]:
    context = zmq.asyncio.Context()
    yield context
    done = threading.Event()

    def term() -> None:
        context.term()
        done.set()

    t = threading.Thread(target=term, daemon=True)
    t.start()
    t.join(TERM_TIMEOUT_S)
    if not done.is_set():
        context.destroy(linger=0)
        pytest.fail("zmq context did not terminate: a socket was left open")


@pytest.fixture
def make_socket(ctx: zmq.asyncio.Context) -> Iterator[Callable[[int], zmq.asyncio.Socket]]:
    made: list[zmq.asyncio.Socket] = []

    def factory(kind: int) -> zmq.asyncio.Socket:
        sock = ctx.socket(kind)
        sock.linger = 0
        made.append(sock)
        return sock

    yield factory
    for sock in made:
        sock.close(linger=0)
