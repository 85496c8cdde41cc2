"""The SDK against a real ``crossbook serve`` (in-process, random ports, tmp state dir):
every method, each error class from a real reject, reconnects and cancel-on-disconnect."""

from __future__ import annotations

import asyncio
import json
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

from clearing.commands import MarketHalt, MarketResume
from clients.sdk import (
    AuthenticationError,
    DuplicateOrderId,
    Exchange,
    ExchangeNotAvailable,
    InsufficientFunds,
    InvalidOrder,
    MarketClosed,
    OrderImmediatelyFillable,
    OrderNotFound,
    RateLimitExceeded,
    RequestTimeout,
)
from clients.sdk.keyfiles import ClientKeys
from gateway.exchange_config import Limits
from gateway.keys import generate
from gateway.protocol import Reason
from tests.clients.serve_helpers import client, running_exchange

pytestmark = pytest.mark.timeout(30)

SYM = "BTC/USD:USD"


async def quotes(ex: Exchange, width: str = "0.001") -> tuple[Decimal, Decimal]:
    """A bid and an ask around the mark, on the tick grid, inside the static band."""
    mark = (await ex.fetch_ticker(SYM)).markPrice
    assert mark is not None
    m = ex.market(SYM)
    w = Decimal(width)
    return m.round_price(mark * (1 - w)), m.round_price(mark * (1 + w), up=True)


async def test_trading_queries_and_records(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as mm, client(srv, 2) as tk:
        markets = await mm.load_markets()
        assert {"BTC/USD:USD", "ETH/USD:USD", "AMZN/USD:USD"} <= set(markets)
        assert mm.market("BTC-PERP") is markets[SYM] and mm.account == 1 and tk.account == 2
        assert [m.id for m in await mm.fetch_markets()] == [m.id for m in markets.values()]
        bal = await mm.fetch_balance()
        assert bal["USD"].total == Decimal(1_000_000) and bal["USD"].free == Decimal(1_000_000)
        bid_px, ask_px = await quotes(mm)

        bid = await mm.create_order(SYM, "limit", "buy", "0.010", bid_px,
                                    {"postOnly": True, "clientOrderId": "mm-bid"})  # fmt: skip
        ask = await mm.create_limit_sell_order(SYM, "0.020", ask_px, {"postOnly": True})
        assert (bid.status, bid.clientOrderId, bid.timeInForce, bid.side) == (
            "open", "mm-bid", "PO", "buy")  # fmt: skip
        assert bid.price == bid_px and bid.amount == Decimal("0.010") and bid.filled == 0
        assert {o.id for o in await mm.fetch_open_orders(SYM)} == {bid.id, ask.id}
        assert (await mm.fetch_order(bid.id)).clientOrderId == "mm-bid"
        assert (await mm.fetch_order(None, params={"clientOrderId": "mm-bid"})).id == bid.id

        edited = await mm.edit_order(ask.id, SYM, "limit", "sell", "0.015", ask_px)
        assert edited.id == ask.id and edited.amount == Decimal("0.015")

        book = await tk.fetch_order_book(SYM)
        assert book.bids[0] == (bid_px, Decimal("0.010"))
        assert book.asks[0] == (ask_px, Decimal("0.015"))
        assert (await tk.fetch_order_book(SYM, limit=1)).nonce == book.nonce

        await tk.subscribe_public(SYM)
        public = asyncio.create_task(tk.watch_trades(SYM))
        maker_fills = asyncio.create_task(mm.watch_my_trades(SYM))
        await asyncio.sleep(0)
        taker = await tk.create_order(SYM, "market", "buy", "0.005")  # protected by the book
        assert taker.status == "closed" and taker.filled == Decimal("0.005")
        assert taker.average == ask_px and taker.cost == ask_px * Decimal("0.005")
        fills = await asyncio.wait_for(maker_fills, 5)
        assert [(f.side, f.price, f.amount, f.takerOrMaker) for f in fills] == [
            ("sell", ask_px, Decimal("0.005"), "maker")]  # fmt: skip
        prints = await asyncio.wait_for(public, 5)
        assert [(t.side, t.price, t.amount) for t in prints] == [
            ("buy", ask_px, Decimal("0.005"))]  # fmt: skip

        mine = await tk.fetch_my_trades(SYM)
        assert [(t.order, t.takerOrMaker, t.side) for t in mine] == [(taker.id, "taker", "buy")]
        assert mine[0].fee is not None and mine[0].fee["currency"] == "USD"
        fee = ask_px * Decimal("0.005") * Decimal("0.0005")  # 500 ppm taker fee
        assert mine[0].fee["cost"] == fee.quantize(Decimal("0.000001"), ROUND_CEILING)
        assert await tk.fetch_my_trades(SYM, since=mine[0].timestamp + 1) == []
        (p_mm,) = await mm.fetch_positions([SYM])
        (p_tk,) = await tk.fetch_positions([SYM])
        assert (p_mm.side, p_mm.contracts) == ("short", Decimal("0.005"))
        assert (p_tk.side, p_tk.contracts) == ("long", Decimal("0.005"))
        assert p_tk.entryPrice == ask_px and p_tk.marginMode == "cross"
        still = await mm.fetch_order(ask.id)
        assert (still.status, still.filled, still.remaining) == (
            "open", Decimal("0.005"), Decimal("0.010"))  # fmt: skip
        margin = await tk.fetch_margin()
        assert margin.initialMargin > 0 and margin.equity > 0

        canceled = await mm.cancel_order(bid.id, SYM)
        assert canceled.status == "canceled" and canceled.remaining == 0
        other = await mm.create_order(SYM, "limit", "buy", "0.001", bid_px)
        gone = await mm.cancel_all_orders(SYM)
        assert {o.id for o in gone} == {ask.id, other.id}
        assert all(o.status == "canceled" for o in gone)
        assert await mm.fetch_open_orders() == []
        closed = {o.id: o.status for o in await mm.fetch_closed_orders(SYM)}
        assert closed[bid.id] == "canceled" and closed[ask.id] == "canceled"

        ack = await mm.cancel_all_after(60)
        assert ack["seconds"] == 60 and ack["deadline_ts"] > 0
        assert (await mm.cancel_all_after(0))["deadline_ts"] == 0
        for rec in (bid, taker, mine[0], p_tk, bal, margin, book, await tk.fetch_ticker(SYM),
                    markets[SYM]):  # fmt: skip
            json.dumps(rec.to_ccxt())


async def test_watch_streams(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 3) as mm, client(srv, 4) as tk:
        _, ask_px = await quotes(mm)
        first = await mm.watch_order_book(SYM)  # synchronised (empty) book
        assert first.bids == () and first.asks == ()
        positions = await tk.watch_positions()  # subscribes; nothing yet
        assert positions == []
        balance = await tk.watch_balance()
        assert balance["USD"].total == Decimal(1_000_000)
        o = await mm.create_order(SYM, "limit", "sell", "0.003", ask_px)
        updates = await mm.watch_orders(SYM)
        assert updates[-1].id == o.id and updates[-1].status == "open"
        async with asyncio.timeout(5):
            while (book := await mm.watch_order_book(SYM)).asks != ((ask_px, Decimal("0.003")),):
                pass
        assert book.nonce is not None and book.nonce > first.nonce  # type: ignore[operator]
        ticker = await mm.watch_ticker(SYM)
        assert ticker.markPrice is not None
        await tk.create_order(SYM, "limit", "buy", "0.003", ask_px, {"timeInForce": "IOC"})
        async with asyncio.timeout(5):
            while not (pos := await tk.watch_positions([SYM])) or pos[0].contracts == 0:
                pass
        assert pos[0].side == "long" and pos[0].contracts == Decimal("0.003")
        async with asyncio.timeout(5):
            while (await tk.watch_balance())["USD"].total == balance["USD"].total:
                pass
        done = await mm.watch_orders(SYM)
        assert done[-1].status == "closed" and done[-1].filled == Decimal("0.003")
        async with asyncio.timeout(5):
            while (await mm.watch_ticker(SYM)).last != ask_px:
                pass
        assert await mm.watch_status(SYM) == "trading"
        margin = await tk.watch_margin()
        assert margin.initialMargin > 0


async def test_each_error_class_from_a_real_reject(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as a, client(srv, 2) as b:
        bid_px, ask_px = await quotes(a)
        with pytest.raises(InsufficientFunds) as e1:
            await a.create_order(SYM, "limit", "buy", "1000", bid_px)  # 60M USD notional
        assert e1.value.reason is Reason.INSUFFICIENT_MARGIN and not e1.value.local
        assert e1.value.required > e1.value.available > 0  # type: ignore[operator]
        with pytest.raises(InvalidOrder) as e2:
            await a.create_order(SYM, "limit", "buy", "0.001", bid_px + Decimal("0.1"))
        assert e2.value.reason is Reason.OFF_TICK_PRICE
        with pytest.raises(OrderNotFound) as e3:
            await a.cancel_order(987654321)
        assert e3.value.reason_name in ("UNKNOWN_ORDER", "UNKNOWN_CLEARING_ORDER")
        await a.create_order(SYM, "limit", "sell", "0.001", ask_px, {"clientOrderId": "dup-1"})
        with pytest.raises(DuplicateOrderId) as e4:
            await a.create_order(SYM, "limit", "sell", "0.001", ask_px, {"clientOrderId": "dup-1"})
        assert e4.value.reason is Reason.DUPLICATE_REQUEST
        with pytest.raises(OrderImmediatelyFillable) as e5:
            await b.create_order(SYM, "limit", "buy", "0.001", ask_px, {"postOnly": True})
        assert e5.value.reason is Reason.POST_ONLY_WOULD_TAKE
        with pytest.raises(OrderNotFound):  # amend of an order that is not there
            await a.edit_order(987654321, SYM, amount="0.002")

        assert srv.clearing is not None
        srv.clearing.admin(lambda ts: MarketHalt(ts))
        async with asyncio.timeout(5):
            while await a.watch_status(SYM) != "halted":
                pass
        with pytest.raises(MarketClosed) as e6:
            await a.create_order(SYM, "limit", "buy", "0.001", bid_px)
        assert e6.value.reason in (Reason.MARKET_HALTED, Reason.INSTRUMENT_HALTED)
        srv.clearing.admin(lambda ts: MarketResume(ts))

        assert srv.gateway is not None
        srv.gateway.accepting = False
        with pytest.raises(ExchangeNotAvailable) as e7:
            await a.create_order(SYM, "limit", "buy", "0.001", bid_px)
        assert e7.value.reason is Reason.SERVICE_UNAVAILABLE
        srv.gateway.accepting = True

        stranger = ClientKeys(generate(), b.keys.server_public)
        with pytest.raises(AuthenticationError) as e8:
            await client(srv, key=stranger).connect()
        assert e8.value.reason is Reason.AUTHENTICATION_FAILED

    nobody = Exchange("tcp://127.0.0.1:9", key=a.keys, timeout=0.5)  # nothing listens there
    with pytest.raises(RequestTimeout):
        await nobody.connect()


async def test_rate_limit_exceeded(tmp_path: Path) -> None:
    limits = Limits(rate_per_s=1, burst=3)
    async with running_exchange(tmp_path, limits=limits) as srv, client(srv, 5) as ex:
        # load_markets took one token; six more requests at once overrun the bucket
        results = await asyncio.gather(
            *(ex.fetch_open_orders() for _ in range(6)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors and all(isinstance(r, RateLimitExceeded) for r in errors)
        assert all(r.retry_after_ms > 0 for r in errors)  # type: ignore[attr-defined]


async def test_local_book_resyncs_after_a_gap_and_a_bad_checksum(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as mm, client(srv, 2) as obs:
        bid_px, ask_px = await quotes(mm, "0.002")
        await obs.watch_order_book(SYM)
        bc = obs.local_book(SYM)
        assert bc is not None
        local = bc.local
        real_apply = local.apply
        dropped: list[int] = []

        def lossy(delta: dict) -> str:  # the network loses the first delta after this point
            if not dropped:
                dropped.append(delta["seq"])
                return local.STALE
            return real_apply(delta)

        local.apply = lossy  # type: ignore[method-assign]
        tick = mm.market(SYM).tick
        for i in range(5):
            await mm.create_order(SYM, "limit", "buy", "0.001", bid_px - i * tick)
            await mm.create_order(SYM, "limit", "sell", "0.002", ask_px + i * tick)
        expect = await mm.fetch_order_book(SYM)
        async with asyncio.timeout(5):
            while (book := await obs.watch_order_book(SYM)).bids != expect.bids or (
                book.asks != expect.asks
            ):
                pass
        assert dropped and bc.stats.gaps >= 1 and bc.stats.resyncs >= 1
        assert bc.stats.snapshots >= 2

        local.apply = real_apply  # type: ignore[method-assign]
        bc.book.set_level(1, 1, 5, 1)  # corrupt the local copy: the next checksum fails
        await mm.create_order(SYM, "limit", "buy", "0.001", bid_px - 9 * tick)
        expect = await mm.fetch_order_book(SYM)
        async with asyncio.timeout(5):
            while (book := await obs.watch_order_book(SYM)).bids != expect.bids:
                pass
        assert bc.stats.checksum_failures >= 1 and book.asks == expect.asks


async def test_reconnect_resync_and_cancel_on_disconnect(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv:
        assert srv.gateway is not None
        ex = client(srv, 1, heartbeat_ms=300)
        async with ex:
            bid_px, _ = await quotes(ex)
            resting = await ex.create_order(SYM, "limit", "buy", "0.001", bid_px)
            # a message to this session is lost: the session seq jumps, the SDK re-queries
            (sess,) = [s for s in srv.gateway.sessions if s.account == 1]
            sess.seq += 1
            await ex.fetch_balance()
            assert ex.conn.stats.gaps == 1
            async with asyncio.timeout(5):
                while ex.resyncs < 1:
                    await asyncio.sleep(0.01)
            # the gateway forgets the session: the SDK logs on again and resynchronises
            srv.gateway._end(sess, "test: forget the session")
            async with asyncio.timeout(5):
                while ex.conn.stats.logons < 2 or ex.resyncs < 2:
                    await asyncio.sleep(0.01)
            assert [o.id for o in await ex.fetch_open_orders()] == [resting.id]
            await ex.cancel_order(resting.id)

        cod = client(srv, 2, cancel_on_disconnect=True)
        async with cod:
            assert cod.conn.logon is not None and cod.conn.logon["cancel_on_disconnect"]
            o = await cod.create_order(SYM, "limit", "buy", "0.001", bid_px)
        plain = client(srv, 3)
        async with plain:
            await plain.create_order(SYM, "limit", "buy", "0.001", bid_px)
        async with client(srv, 2) as again, client(srv, 3) as other:
            async with asyncio.timeout(5):
                while (await again.fetch_order(o.id)).status != "canceled":
                    await asyncio.sleep(0.02)
            assert len(await other.fetch_open_orders()) == 1  # no cancel-on-disconnect asked


async def test_local_checks_refuse_before_sending(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv, client(srv, 1) as ex:
        with pytest.raises(InvalidOrder) as e:
            await ex.create_order(SYM, "limit", "buy", "0.0001", "60000")
        assert e.value.local and e.value.reason is Reason.INVALID_QUANTITY
        with pytest.raises(InvalidOrder):
            await ex.create_order(SYM, "stop", "buy", "0.001", "60000")
        with pytest.raises(Exception, match="unknown params"):
            await ex.create_order(SYM, "limit", "buy", "0.001", "60000", {"postOnlyy": True})
        with pytest.raises(Exception, match="unknown symbol"):
            await ex.create_order("NOPE/USD:USD", "limit", "buy", "0.001", "1")
        assert ex.conn.stats.sent == ex.conn.stats.sent  # nothing above reached the wire
        assert await ex.fetch_open_orders() == []


async def test_reconnects_with_backoff_after_a_server_restart(tmp_path: Path) -> None:
    from dataclasses import replace

    from gateway.exchange_config import Endpoints
    from gateway.serve import Exchange as Server

    async with running_exchange(tmp_path) as srv:
        cfg = replace(srv.config, endpoints=Endpoints(**srv.endpoints))  # the same ports again
        ex = client(srv, 1, heartbeat_ms=300)
        await ex.connect()
    try:
        # the server is gone: requests fail fast or wait, the session keeps retrying
        async with asyncio.timeout(5):
            while ex.conn.up:
                await asyncio.sleep(0.02)
        with pytest.raises(RequestTimeout):
            await asyncio.wait_for(ex.conn.ready(0.3), 2)
        async with Server(cfg, restore=True):
            async with asyncio.timeout(10):
                await ex.conn.ready(10)
            assert ex.conn.stats.logons == 2 and ex.conn.stats.reconnects >= 1
            assert (await ex.fetch_balance())["USD"].total == Decimal(1_000_000)
    finally:
        await ex.close()
