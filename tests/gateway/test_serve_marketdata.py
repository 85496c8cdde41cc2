"""``crossbook serve`` embedded: market data from the matching role's shell.

A subscriber rebuilds the book from a snapshot plus deltas with matching checksums, over
CURVE; a market-wide halt reaches subscribers as status messages and new orders are
refused; clearing's marks reach the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from clearing.commands import MarketHalt, MarketResume
from gateway import keys as keyfiles
from gateway.md_client import BookClient
from gateway.md_translate import L2Book, topic
from tests.gateway.serve_helpers import Bot, running_exchange

pytestmark = pytest.mark.timeout(60)


def _curve(ex, account: int) -> tuple[keyfiles.KeyPair, bytes]:
    return keyfiles.load_secret(ex.keys.files[account]), ex.keys.server.public


async def test_subscriber_rebuilds_the_book_from_snapshot_and_deltas(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            # resting orders before the subscriber joins: they come from the snapshot
            await bot.order("b1", "buy", 5, 599_000)
            await bot.order("b2", "buy", 7, 598_500)
            await bot.order("a1", "sell", 3, 601_000)
            client = BookClient(ctx, ex.endpoints["market_data"], ex.endpoints["snapshots"],
                                "BTC-PERP", curve=_curve(ex, 2), subscribe_wait=1.0)  # fmt: skip
            task = asyncio.create_task(client.run())
            try:
                await client.wait_until(lambda c: c.seq is not None, 10)
                # later changes arrive as deltas
                await bot.order("b3", "buy", 2, 599_000)
                await bot.request({"type": "cancel", "client_order_id": "b2"})
                await bot.order("a2", "sell", 4, 600_500)
                publisher_book = ex.matching.md.translator.book("BTC-PERP")
                expected = {1: {599_000: (7, 2)}, -1: {600_500: (4, 1), 601_000: (3, 1)}}
                await client.wait_until(
                    lambda c: (dict(c.book.bids), dict(c.book.asks)) == (expected[1], expected[-1]),
                    10,
                )
                assert client.book == publisher_book
                assert client.book.checksum() == publisher_book.checksum()
                assert client.stats.checksum_failures == 0 and client.stats.gaps == 0
                assert client.stats.snapshots >= 1 and client.stats.applied >= 3
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def _next_on(sub: zmq.asyncio.Socket, want: bytes, pred=lambda body: True,
                   timeout: float = 10.0) -> dict:
    """The next message on topic ``want`` whose body satisfies ``pred`` (with a deadline)."""
    async with asyncio.timeout(timeout):
        while True:
            t, body = await sub.recv_multipart()
            if t == want and pred(msg := msgpack.unpackb(body)):
                return msg


async def test_halt_reaches_subscribers_and_new_orders_are_refused(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            from gateway.auth import curve_client

            sub = ctx.socket(zmq.SUB)
            sub.linger = 0
            curve_client(sub, *_curve(ex, 3))
            status_topic = topic("status", "BTC-PERP")
            sub.subscribe(status_topic)
            sub.subscribe(b"hb|")
            sub.connect(ex.endpoints["market_data"])
            await _next_on(sub, b"hb|")  # a heartbeat arrived: the subscription is live
            bot = Bot.for_account(ctx, ex, 3)
            await bot.logon()
            assert (await bot.order("before", "buy", 1, 599_000))["exec_type"] == "0"
            ex.clearing.admin(lambda ts: MarketHalt(ts, "operator halt"))
            status = await _next_on(sub, status_topic, lambda b: b.get("kind") == "status")
            assert status["status"] == "halted" and status["sym"] == "BTC-PERP"
            refused = await bot.order("during", "buy", 1, 599_000)
            assert refused["exec_type"] == "8" and refused["reason_name"] == "MARKET_HALTED"
            assert refused["ord_rej_reason"] == 2
            (inst,) = await bot.query("instruments", instrument="BTC-PERP")
            assert inst["status"] == "halted"
            ex.clearing.admin(lambda ts: MarketResume(ts))
            await _next_on(sub, status_topic, lambda b: b.get("status") in ("trading", "auction"))
            sub.close(linger=0)
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def test_marks_reach_the_feed(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path, index_feed=_fast_feed()) as ex:
            from gateway.auth import curve_client

            sub = ctx.socket(zmq.SUB)
            sub.linger = 0
            curve_client(sub, *_curve(ex, 4))
            sub.subscribe(topic("mark", "BTC-PERP"))
            sub.connect(ex.endpoints["market_data"])
            mark = await _next_on(sub, topic("mark", "BTC-PERP"))
            assert mark["mark"] > 0 and mark["seq"] >= 1
            sub.close(linger=0)
    finally:
        ctx.destroy(linger=0)


def _fast_feed():
    from gateway.exchange_config import IndexFeed

    return IndexFeed(enabled=True, seed=1, interval_ms=20, step_ppm=2000)


def test_l2book_equality_is_by_levels() -> None:
    a, b = L2Book(), L2Book()
    a.set_level(1, 10, 5, 1)
    assert a != b
    b.set_level(1, 10, 5, 1)
    assert a == b
