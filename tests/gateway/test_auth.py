"""CURVE authentication over real sockets: known keys map to their account, unknown are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import zmq
import zmq.asyncio
from zmq.utils.monitor import recv_monitor_message

from gateway import keys
from gateway.auth import (
    AccountDirectory,
    CurveAuthenticator,
    account_of,
    curve_client,
    curve_server,
)

pytestmark = pytest.mark.timeout(30)

WAIT_S = 10.0


async def _handshake_outcome(sock: zmq.asyncio.Socket) -> int:
    """Wait on the socket's monitor for a handshake success or failure event."""
    mon = sock.get_monitor_socket(
        zmq.EVENT_HANDSHAKE_SUCCEEDED
        | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
        | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    )
    try:
        msg = await asyncio.wait_for(recv_monitor_message(mon), WAIT_S)
        return int(msg["event"])
    finally:
        sock.disable_monitor()
        mon.close(linger=0)


@pytest.fixture
def server_keys() -> keys.KeyPair:
    return keys.generate()


@pytest.fixture
async def auth(ctx: zmq.asyncio.Context):
    authenticator = CurveAuthenticator(ctx, AccountDirectory())
    authenticator.start()
    yield authenticator
    authenticator.stop()


def _server(make_socket: Callable, server_keys: keys.KeyPair, auth: CurveAuthenticator):
    router = make_socket(zmq.ROUTER)
    curve_server(router, server_keys, auth)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    return router, f"tcp://127.0.0.1:{port}"


async def test_known_key_is_admitted_and_mapped_to_its_account(
    make_socket: Callable, server_keys: keys.KeyPair, auth: CurveAuthenticator
) -> None:
    alice, bob = keys.generate(), keys.generate()
    auth.directory.add(17, alice.public)
    auth.directory.add(42, bob.public)
    router, endpoint = _server(make_socket, server_keys, auth)

    for pair, account in ((alice, 17), (bob, 42)):
        dealer = make_socket(zmq.DEALER)
        curve_client(dealer, pair, server_keys.public)
        outcome = asyncio.ensure_future(_handshake_outcome(dealer))
        await asyncio.sleep(0)
        dealer.connect(endpoint)
        assert await outcome == zmq.EVENT_HANDSHAKE_SUCCEEDED
        await dealer.send(b"hello from %d" % account)
        frames = await asyncio.wait_for(router.recv_multipart(copy=False), WAIT_S)
        assert frames[-1].bytes == b"hello from %d" % account
        assert account_of(frames[-1]) == account
        # the reply reaches the right client over the encrypted link
        await router.send_multipart([frames[0].bytes, b"ack"])
        assert await asyncio.wait_for(dealer.recv(), WAIT_S) == b"ack"
    assert auth.refused == 0


async def test_unknown_key_is_refused_and_nothing_reaches_the_server(
    make_socket: Callable, server_keys: keys.KeyPair, auth: CurveAuthenticator
) -> None:
    known, stranger = keys.generate(), keys.generate()
    auth.directory.add(1, known.public)
    router, endpoint = _server(make_socket, server_keys, auth)

    dealer = make_socket(zmq.DEALER)
    curve_client(dealer, stranger, server_keys.public)
    outcome = asyncio.ensure_future(_handshake_outcome(dealer))
    await asyncio.sleep(0)
    dealer.connect(endpoint)
    await dealer.send(b"let me in")  # queued client-side, must never be delivered
    assert await outcome == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    assert auth.refused >= 1

    # a legitimate client sent afterwards is the first and only message the server sees
    friend = make_socket(zmq.DEALER)
    curve_client(friend, known, server_keys.public)
    friend.connect(endpoint)
    await friend.send(b"legit")
    frames = await asyncio.wait_for(router.recv_multipart(copy=False), WAIT_S)
    assert frames[-1].bytes == b"legit" and account_of(frames[-1]) == 1
    assert await router.poll(300) == 0  # the stranger's queued message never arrived


async def test_client_with_wrong_server_key_never_connects(
    make_socket: Callable, server_keys: keys.KeyPair, auth: CurveAuthenticator
) -> None:
    client = keys.generate()
    auth.directory.add(5, client.public)
    router, endpoint = _server(make_socket, server_keys, auth)
    dealer = make_socket(zmq.DEALER)
    curve_client(dealer, client, keys.generate().public)  # not the server's key
    dealer.connect(endpoint)
    await dealer.send(b"x")
    assert await router.poll(500) == 0


def test_directory_maps_each_key_to_one_account() -> None:
    a, b = keys.generate(), keys.generate()
    d = AccountDirectory({1: a.public})
    d.add(1, b.public)  # a second key for the same account is fine (rotation)
    assert d.account_for(a.public) == 1 and d.account_for(b.public) == 1
    with pytest.raises(ValueError, match="already belongs to account 1"):
        d.add(2, a.public)
    assert d.account_for(a.public) == 1
    with pytest.raises(ValueError, match="40 Z85 characters"):
        d.add(3, b"short")
    with pytest.raises(ValueError, match="non-negative integer"):
        d.add(-1, keys.generate().public)
    d.remove_key(a.public)
    assert d.account_for(a.public) is None and len(d) == 1


def test_curve_server_requires_a_running_authenticator(
    ctx: zmq.asyncio.Context, make_socket: Callable, server_keys: keys.KeyPair
) -> None:
    authenticator = CurveAuthenticator(ctx, AccountDirectory())
    router = make_socket(zmq.ROUTER)
    with pytest.raises(RuntimeError, match="start the authenticator"):
        curve_server(router, server_keys, authenticator)
    with pytest.raises(ValueError, match="secret"):
        curve_client(router, keys.KeyPair(server_keys.public), server_keys.public)


def test_account_of_unauthenticated_frame_is_none() -> None:
    assert account_of(zmq.Frame(b"x")) is None
