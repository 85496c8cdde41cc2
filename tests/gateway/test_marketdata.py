"""Market data over real sockets: late joiners, resyncs, topic delimiters, heartbeats, CURVE."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio

from gateway import keys
from gateway.auth import AccountDirectory, CurveAuthenticator
from gateway.marketdata import MAX_REQUEST_BYTES, MarketDataPublisher
from gateway.md_client import BookClient, MarketDataError
from gateway.md_translate import HB_TOPIC, public_l3
from gateway.reasons import Reason
from matching import BUY, SELL, CancelOrder, Instrument, MatchingEngine, NewOrder

pytestmark = pytest.mark.timeout(60)

HB = 0.05
WAIT_S = 20.0
SYMS = ["BTC-PERP", "ETH-PERP"]


class Exchange:
    """An engine whose every batch of events goes straight to the publisher."""

    def __init__(self, publisher: MarketDataPublisher, engine: MatchingEngine, seed: int) -> None:
        self.publisher = publisher
        self.engine = engine
        self.rng = random.Random(seed)
        self.ts = 0
        self.live: list[tuple[str, int, int]] = []

    def step(self, symbols: list[str] = SYMS) -> list:
        rng = self.rng
        self.ts += 1
        if self.live and rng.random() < 0.2:
            sym, oid, acct = self.live.pop(rng.randrange(len(self.live)))
            cmd: Any = CancelOrder(self.ts, sym, oid, acct)
        else:
            sym, acct = rng.choice(symbols), rng.randint(1, 5)
            side = rng.choice((BUY, SELL))
            cmd = NewOrder(
                self.ts, sym, self.ts, acct, side, rng.randint(1, 9), rng.randint(95, 105)
            )
            self.live.append((sym, self.ts, acct))
        events = self.engine.apply(cmd)
        self.publisher.publish_events(events)
        return events

    async def trade(self, n: int, symbols: list[str] = SYMS) -> None:
        for i in range(n):
            self.step(symbols)
            if i % 10 == 0:
                await asyncio.sleep(0)  # let the socket tasks run, as a live exchange would


@contextlib.asynccontextmanager
async def tasks(*coros: Coroutine[Any, Any, Any]) -> AsyncIterator[list[asyncio.Task]]:
    running = [asyncio.create_task(c) for c in coros]
    try:
        yield running
    finally:
        for t in running:
            t.cancel()
        for t in running:
            with contextlib.suppress(asyncio.CancelledError, MarketDataError):
                await t


def make_publisher(ctx: zmq.asyncio.Context, engine: MatchingEngine, **kw: Any):
    return MarketDataPublisher(
        ctx,
        symbols=list(engine.books),
        heartbeat_ivl=HB,
        l3_source=lambda s: engine.books[s].l3() if s in engine.books else None,
        **kw,
    )


def client_for(ctx: zmq.asyncio.Context, pub: MarketDataPublisher, sym: str, **kw: Any):
    return BookClient(ctx, pub.pub_endpoint, pub.snapshot_endpoint, sym, **kw)


def in_step(client: BookClient, pub: MarketDataPublisher, sym: str) -> Callable[[Any], bool]:
    return lambda c: c.seq is not None and c.seq == pub.translator.seqs()[sym]["l2"]


def assert_same_book(client: BookClient, pub: MarketDataPublisher, engine: MatchingEngine) -> None:
    sym = client.symbol
    assert client.book == pub.translator.book(sym)
    assert client.book.checksum() == engine.books[sym].checksum()
    bids, asks = client.book.levels()
    assert ([(p, q) for p, q, _ in bids], [(p, q) for p, q, _ in asks]) == engine.books[sym].depth(
        10_000
    )


# ------------------------------------------------------------------------------ tests ---
async def test_late_joiner_rebuilds_the_book_from_snapshot_and_deltas(
    ctx: zmq.asyncio.Context,
) -> None:
    engine = MatchingEngine([Instrument(s) for s in SYMS])
    async with make_publisher(ctx, engine) as pub:
        ex = Exchange(pub, engine, seed=1)
        client = client_for(ctx, pub, "BTC-PERP")
        async with tasks(pub.run()):
            await ex.trade(300)  # before anyone listens
            async with tasks(client.run()):
                await ex.trade(300)  # while the client subscribes, asks and catches up
                await client.wait_until(in_step(client, pub, "BTC-PERP"), WAIT_S)
                assert_same_book(client, pub, engine)
                await ex.trade(100)
                await client.wait_until(in_step(client, pub, "BTC-PERP"), WAIT_S)
                assert_same_book(client, pub, engine)
    assert client.stats.snapshots >= 1 and client.stats.checksum_failures == 0
    assert client.stats.applied > 0
    assert client.status == "trading"


async def test_lost_and_corrupt_deltas_force_a_resync(ctx: zmq.asyncio.Context) -> None:
    engine = MatchingEngine([Instrument("X")])
    async with make_publisher(ctx, engine) as pub:
        ex = Exchange(pub, engine, seed=2)
        client = client_for(ctx, pub, "X")
        sync = in_step(client, pub, "X")
        async with tasks(pub.run(), client.run()):
            await ex.trade(50, ["X"])
            await client.wait_until(sync, WAIT_S)
            # 1. a delta translated but never sent, and nothing after it: only the heartbeat
            #    can tell the client that it is behind
            pub.translator.on_events(engine.apply(NewOrder(10_000, "X", 10_000, 1, BUY, 1, 50)))
            await client.wait_until(lambda c: c.stats.gaps >= 1 and sync(c), WAIT_S)
            assert_same_book(client, pub, engine)
            # 2. a delta whose checksum is wrong
            translate = pub.translator.on_events

            def corrupt_once(events: Any) -> list:
                pub.translator.on_events = translate  # type: ignore[method-assign]
                msgs = translate(events)
                for _, body in msgs:
                    if body["type"] == "l2":
                        body["checksum"] ^= 0xFFFF
                        break
                return msgs

            pub.translator.on_events = corrupt_once  # type: ignore[method-assign]
            engine_events = engine.apply(NewOrder(10_001, "X", 10_001, 1, SELL, 1, 150))
            pub.publish_events(engine_events)
            await client.wait_until(lambda c: c.stats.checksum_failures >= 1 and sync(c), WAIT_S)
            await ex.trade(20, ["X"])
            await client.wait_until(sync, WAIT_S)
            assert_same_book(client, pub, engine)
    assert client.stats.resyncs >= 2 and client.stats.snapshots >= 3


async def _recv_until_hb(
    sub: zmq.asyncio.Socket, done: Callable[[dict], bool]
) -> list[tuple[bytes, dict]]:
    got: list[tuple[bytes, dict]] = []
    while True:
        t, body = await asyncio.wait_for(sub.recv_multipart(), WAIT_S)
        msg = msgpack.unpackb(body)
        got.append((t, msg))
        if t == HB_TOPIC and done(msg):
            return got


async def test_topic_delimiter_keeps_prefix_symbols_apart(
    ctx: zmq.asyncio.Context, make_socket: Callable
) -> None:
    syms = ["BTC-PERP", "BTC-PERPX"]
    engine = MatchingEngine([Instrument(s) for s in syms])
    async with make_publisher(ctx, engine) as pub:
        ex = Exchange(pub, engine, seed=3)
        subs = {}
        for sym in syms:
            sub = make_socket(zmq.SUB)
            for stream in ("l2", "trade"):
                sub.subscribe(f"{stream}.{sym}|")
            sub.subscribe(HB_TOPIC)
            sub.connect(pub.pub_endpoint)
            subs[sym] = sub
        async with tasks(pub.run()):
            for sub in subs.values():  # a heartbeat proves the subscription is in place
                await _recv_until_hb(sub, lambda hb: True)
            await ex.trade(200, syms)
            final = pub.translator.seqs()
            for sym, sub in subs.items():
                got = await _recv_until_hb(sub, lambda hb: hb["seqs"] == final)
                data = [(t, m) for t, m in got if t != HB_TOPIC]
                assert {t for t, _ in data} == {f"l2.{sym}|".encode(), f"trade.{sym}|".encode()}
                assert {m["sym"] for _, m in data} == {sym}
                l2 = [m["seq"] for t, m in data if m["type"] == "l2"]
                assert l2 == list(range(1, final[sym]["l2"] + 1))


async def test_heartbeats_when_idle_carry_each_instruments_seq(
    ctx: zmq.asyncio.Context, make_socket: Callable
) -> None:
    engine = MatchingEngine([Instrument(s) for s in SYMS])
    async with make_publisher(ctx, engine) as pub:
        ex = Exchange(pub, engine, seed=4)
        sub = make_socket(zmq.SUB)
        sub.subscribe(HB_TOPIC)
        sub.connect(pub.pub_endpoint)
        async with tasks(pub.run()):
            await _recv_until_hb(sub, lambda hb: True)
            await ex.trade(40)
            pub.publish_mark("BTC-PERP", ex.ts, 100)
            final = pub.translator.seqs()
            assert final["BTC-PERP"]["mark"] == 1
            await _recv_until_hb(sub, lambda hb: hb["seqs"] == final)
            idle = [msgpack.unpackb((await sub.recv_multipart())[1]) for _ in range(3)]
    assert [hb["type"] for hb in idle] == ["hb"] * 3
    assert all(hb["seqs"] == final for hb in idle)  # idle: nothing moved
    assert idle[0]["ts_send"] < idle[1]["ts_send"] < idle[2]["ts_send"]


async def test_snapshot_service_answers_and_refuses_clearly(
    ctx: zmq.asyncio.Context, make_socket: Callable
) -> None:
    engine = MatchingEngine([Instrument(s) for s in SYMS])
    async with make_publisher(ctx, engine) as pub:
        ex = Exchange(pub, engine, seed=5)
        for _ in range(100):
            ex.step()
        dealer = make_socket(zmq.DEALER)
        dealer.connect(pub.snapshot_endpoint)

        async def ask(body: Any, raw: bytes | None = None) -> dict:
            await dealer.send(raw if raw is not None else msgpack.packb(body))
            return msgpack.unpackb(await asyncio.wait_for(dealer.recv(), WAIT_S))

        async with tasks(pub.run()):
            req = {"v": 1, "type": "snapshot", "sym": "ETH-PERP", "req_id": 9, "l3": True}
            snap = await ask(req)
            assert snap["type"] == "snapshot" and snap["req_id"] == 9
            assert snap["seq"] == pub.translator.seqs()["ETH-PERP"]["l2"]
            assert snap["checksum"] == engine.books["ETH-PERP"].checksum()
            assert snap["l3"] == public_l3(engine.books["ETH-PERP"].l3())
            top = await ask({"v": 1, "type": "snapshot", "sym": "ETH-PERP", "depth": 1})
            assert len(top["bids"]) <= 1 and len(top["asks"]) <= 1
            cases = [
                (
                    {"v": 1, "type": "snapshot", "sym": "NOPE", "req_id": 3},
                    Reason.UNKNOWN_INSTRUMENT,
                ),
                ({"v": 2, "type": "snapshot", "sym": "X"}, Reason.UNSUPPORTED_VERSION),
                ({"v": 1, "type": "book", "sym": "X"}, Reason.UNKNOWN_MESSAGE_TYPE),
                ({"v": 1, "type": "snapshot"}, Reason.MISSING_FIELD),
                ({"v": 1, "type": "snapshot", "sym": "X", "evil": 1}, Reason.INVALID_FIELD),
                ({"v": 1, "type": "snapshot", "sym": "X", "depth": 0}, Reason.INVALID_FIELD),
                ({"v": 1, "type": "snapshot", "sym": "X", "l3": 1}, Reason.INVALID_FIELD),
                ([1, 2, 3], Reason.MALFORMED_MESSAGE),
            ]
            for body, reason in cases:
                err = await ask(body)
                assert (err["type"], err["reason"], err["reason_name"]) == (
                    "error",
                    reason,
                    reason.name,
                ), body
            assert (await ask(None, b"\xc1garbage"))["reason"] == Reason.MALFORMED_MESSAGE
            big = b"\x00" * (MAX_REQUEST_BYTES + 1)
            assert (await ask(None, big))["reason"] == Reason.MESSAGE_TOO_LARGE
            assert (await ask(cases[0][0]))["req_id"] == 3
            again = await ask(req)  # still serving
            assert again["seq"] == snap["seq"]
    no_l3 = MarketDataPublisher(ctx, symbols=["X"])
    try:
        err = no_l3.answer(msgpack.packb({"v": 1, "type": "snapshot", "sym": "X", "l3": True}))
        assert err["reason"] == Reason.SERVICE_UNAVAILABLE
    finally:
        no_l3.close()


async def test_client_for_an_unknown_instrument_fails_loudly(ctx: zmq.asyncio.Context) -> None:
    engine = MatchingEngine([Instrument("X")])
    async with make_publisher(ctx, engine) as pub:
        client = client_for(ctx, pub, "Y")
        async with tasks(pub.run()):
            with pytest.raises(MarketDataError, match="UNKNOWN_INSTRUMENT"):
                await asyncio.wait_for(client.run(), WAIT_S)


async def test_market_data_over_curve(ctx: zmq.asyncio.Context) -> None:
    server, bot = keys.generate(), keys.generate()
    auth = CurveAuthenticator(ctx, AccountDirectory({7: bot.public}))
    auth.start()
    try:
        engine = MatchingEngine([Instrument("X")])
        async with make_publisher(ctx, engine, curve=(server, auth)) as pub:
            ex = Exchange(pub, engine, seed=6)
            client = client_for(ctx, pub, "X", curve=(bot, server.public))
            async with tasks(pub.run(), client.run()):
                await ex.trade(60, ["X"])
                await client.wait_until(in_step(client, pub, "X"), WAIT_S)
                assert_same_book(client, pub, engine)
    finally:
        auth.stop()
