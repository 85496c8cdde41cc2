"""``crossbook serve`` embedded under faults: a round lost on the matcher link (either
way), and malformed frames from a bot (random bytes, wrong types, huge sizes, deep nesting).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import keys as keyfiles
from gateway.auth import curve_client
from gateway.protocol import MESSAGES, decode_push, encode
from gateway.serve import Exchange
from tests.gateway.serve_helpers import Bot, make_config, running_exchange

pytestmark = pytest.mark.timeout(90)


class DropOnce:
    """Fault on the matcher link: lose the first message of ``kind`` once armed."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.armed = False
        self.dropped = 0

    def __call__(self, data: bytes) -> bool:
        if self.armed and msgpack.unpackb(data, raw=False)[0] == self.kind:
            self.armed = False
            self.dropped += 1
            return True
        return False


@pytest.mark.parametrize("lose", ["evs", "cmds"])
async def test_a_lost_round_on_the_matcher_link_is_resent_and_applied_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lose: str) -> None:  # fmt: skip
    """A lost reply: clearing resends the round and the matcher answers from its cache. A
    lost request: clearing resends it and the matcher applies it then. Either way every
    fill is reported once and applied once."""
    hook = DropOnce(lose)
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            role = ex.matching if lose == "evs" else ex.clearing
            if lose == "evs":
                real = role._send
                monkeypatch.setattr(role, "_send", lambda d: None if hook(d) else real(d))
            else:
                real = role._send_matcher
                monkeypatch.setattr(role, "_send_matcher",
                                    lambda d: None if hook(d) else real(d))  # fmt: skip
            maker, taker = Bot.for_account(ctx, ex, 1), Bot.for_account(ctx, ex, 2)
            await maker.logon()
            await taker.logon()
            await maker.order("m", "sell", 100, 600_000)
            hook.armed = True  # the taker's round (New, Fill, levels) is lost once
            await taker.order("t", "buy", 40, 600_000)
            await taker.wait_for(lambda m: m.get("exec_type") == "F")
            await maker.wait_for(lambda m: m.get("exec_type") == "F")
            await taker.request({"type": "heartbeat"})  # anything doubled would be here by now
            assert hook.dropped == 1
            assert ex.clearing.stats.matcher_resends >= 1
            if lose == "evs":
                assert ex.matching.stats.resends == 1
            assert [m["exec_type"] for m in taker.reports("t")] == ["0", "F"]
            assert [m["exec_type"] for m in maker.reports("m")] == ["0", "F"]
            eng = ex.clearing.engine
            assert eng.position(2, "BTC-PERP")[0] == 40  # applied once, not twice
            assert eng.position(1, "BTC-PERP")[0] == -40
            assert eng.last_seq == ex.matching.engine.seq
            eng.validate()
            maker.close()
            taker.close()
    finally:
        ctx.destroy(linger=0)


# -- malformed frames ------------------------------------------------------------------------
class ServerThread:
    """An embedded exchange on its own loop in a thread, for synchronous hypothesis tests."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = make_config(tmp_path)
        self.ready = threading.Event()
        self.exchange: Exchange | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Exchange(self.config) as ex:
            self.exchange = ex
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self.ready.wait(30) and self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


class SyncBot:
    def __init__(self, ctx: zmq.Context, server: ServerThread, account: int) -> None:
        ex = server.exchange
        assert ex is not None and ex.keys is not None
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.rcvtimeo = 5000
        curve_client(self.sock, keyfiles.load_secret(ex.keys.files[account]),
                     ex.keys.server.public)  # fmt: skip
        self.sock.connect(ex.endpoints["order_entry"])
        self.last_seq = 0

    def recv(self) -> dict:
        msg = decode_push(self.sock.recv())
        assert isinstance(msg, dict), msg
        assert msg["seq"] == self.last_seq + 1
        self.last_seq = msg["seq"]
        return msg

    def alive(self) -> None:
        self.sock.send(encode({"v": 1, "type": "heartbeat", "ts": 42}))
        ack = self.recv()
        assert ack["type"] == "heartbeat_ack" and ack["ts"] == 42


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("faults")) as srv:
        yield srv


@pytest.fixture(scope="module")
def bot(server: ServerThread) -> Iterator[SyncBot]:
    ctx = zmq.Context()
    b = SyncBot(ctx, server, 6)
    b.sock.send(encode({"v": 1, "type": "logon", "heartbeat_ms": 60_000}))
    assert b.recv()["type"] == "logon_ack"
    yield b
    ctx.destroy(linger=0)


_SAFE_TYPES = sorted(
    set(MESSAGES) - {"new_order", "cancel", "amend", "mass_cancel", "cancel_all_after",
                     "logon", "logout"}
)  # fmt: skip
_ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_values = st.one_of(
    st.none(), st.booleans(), _ints, st.floats(allow_nan=True), st.text(max_size=20),
    st.binary(max_size=20), st.lists(_ints, max_size=4),
    st.dictionaries(st.text(max_size=4), _ints, max_size=3),
)  # fmt: skip
_maps = st.fixed_dictionaries(
    {"v": st.one_of(st.just(1), _values), "type": st.one_of(st.sampled_from(_SAFE_TYPES), _values)},
    optional={"req_id": _values, "qty": _values, "instrument": _values, "channels": _values,
              "ts": _values, "junk": _values},
).map(lambda m: msgpack.packb(m, use_bin_type=True))  # fmt: skip
_frames = st.one_of(st.binary(max_size=300), _maps)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(frame=_frames)
def test_malformed_frames_are_rejected_and_the_session_survives(bot: SyncBot, frame: bytes) -> None:
    bot.sock.send(frame)
    reply = bot.recv()  # exactly one answer, well-formed, next seq
    if reply["type"] == "reject":
        assert reply["reason"] // 1000 == 1 and reply["text"]
    bot.alive()


def test_huge_nested_and_multipart_frames(server: ServerThread, bot: SyncBot) -> None:
    big = msgpack.packb({"v": 1, "type": "heartbeat", "ts": 1, "x": "a" * 4000} | {
        f"k{i}": "b" * 2000 for i in range(40)})  # 80+ KiB: above the protocol's 64 KiB
    bot.sock.send(big)
    reply = bot.recv()
    assert reply["reason_name"] == "MESSAGE_TOO_LARGE" and reply["figures"]["limit"] == 65536
    deep = b"\x81\xa1v" + b"\x91" * 5000 + b"\x01"
    bot.sock.send(deep)
    assert bot.recv()["reason_name"] == "MALFORMED_MESSAGE"
    bot.sock.send_multipart([encode({"v": 1, "type": "heartbeat"}), b"second frame"])
    reply = bot.recv()
    assert reply["reason_name"] == "MALFORMED_MESSAGE" and "one message per frame" in reply["text"]
    bot.alive()
    # a frame above the gateway's 1 MiB guard costs the sender its connection, nobody else
    ctx = zmq.Context()
    try:
        rude = SyncBot(ctx, server, 5)
        rude.sock.send(b"\x00" * (2 << 20))
        bot.alive()
        rude.sock.close(linger=0)
    finally:
        ctx.destroy(linger=0)
    assert server.exchange is not None and server.exchange.gateway.stats.errors == 0
