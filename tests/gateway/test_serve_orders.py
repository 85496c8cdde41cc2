"""``crossbook serve`` embedded: the order path end to end over real sockets.

Logon, orders, fills on both sides, positions and margin, pre-trade refusals with their
figures, foreign cancels, idempotent client order ids, the gateway's limits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zmq.asyncio

from tests.gateway.serve_helpers import Bot, hops_ordered, running_exchange

pytestmark = pytest.mark.timeout(60)


async def test_logon_and_new_order_get_exec_reports_with_hops(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            ack = await bot.logon(heartbeat_ms=2000)
            assert ack["account"] == 1 and ack["heartbeat_ms"] == 2000
            new = await bot.order("o-1", "buy", 10, 590_000)
            assert new["exec_type"] == "0" and new["ord_status"] == "0"
            assert new["order_id"] >= 1 and new["leaves_qty"] == 10 and new["cum_qty"] == 0
            assert hops_ordered(new), new
            orders = await bot.query("orders")
            assert [o["client_order_id"] for o in orders] == ["o-1"]
            cancel = await bot.request({"type": "cancel", "client_order_id": "o-1"})
            assert cancel["exec_type"] == "4" and cancel["end_reason"] == "user_cancel"
            assert cancel["leaves_qty"] == 0 and hops_ordered(cancel)
            assert await bot.query("orders") == []
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def test_two_bots_trade_and_both_see_fills_positions_and_margin(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            maker, taker = Bot.for_account(ctx, ex, 1), Bot.for_account(ctx, ex, 2)
            for bot in (maker, taker):
                await bot.logon()
                ack = await bot.request({"type": "subscribe",
                                         "channels": ["positions", "balances", "margin"]})
                assert ack["channels"] == ["balances", "margin", "positions"]
            before = (await taker.query("margin"))[0]
            assert before["initial_margin"] == 0
            rest = await maker.order("m-1", "sell", 100, 600_000)
            assert rest["exec_type"] == "0"
            new = await taker.order("t-1", "buy", 40, 600_500)
            assert new["exec_type"] == "0"
            t_fill = await taker.wait_for(lambda m: m.get("exec_type") == "F")
            m_fill = await maker.wait_for(lambda m: m.get("exec_type") == "F")
            assert t_fill["liquidity"] == "taker" and m_fill["liquidity"] == "maker"
            assert t_fill["trade_id"] == m_fill["trade_id"]
            assert (t_fill["last_qty"], t_fill["last_px"]) == (40, 600_000)
            assert t_fill["ord_status"] == "2" and t_fill["leaves_qty"] == 0
            assert m_fill["ord_status"] == "1" and m_fill["leaves_qty"] == 60
            assert m_fill["cum_qty"] + m_fill["leaves_qty"] == m_fill["order_qty"] == 100
            assert t_fill["avg_px"] == "600000" and t_fill["cum_notional"] == 40 * 600_000
            assert hops_ordered(t_fill) and hops_ordered(m_fill)
            assert t_fill["req_id"] is not None and m_fill["req_id"] is None
            # private pushes: each account sees its own position, nobody else's
            t_pos = await taker.wait_for(lambda m: m["type"] == "position_update")
            m_pos = await maker.wait_for(lambda m: m["type"] == "position_update")
            assert (t_pos["account"], t_pos["qty"]) == (2, 40)
            assert (m_pos["account"], m_pos["qty"]) == (1, -40)
            assert t_pos["entry_price"] == "600000"
            t_margin = await taker.wait_for(lambda m: m["type"] == "margin_update")
            assert t_margin["initial_margin"] > 0
            await taker.wait_for(lambda m: m["type"] == "balance_update")
            assert all(m["account"] == 2 for m in taker.seen if "account" in m)
            assert all(m["account"] == 1 for m in maker.seen if "account" in m)
            # queries answer from clearing's state
            assert [(p["instrument"], p["qty"]) for p in await taker.query("positions")] == [
                ("BTC-PERP", 40)
            ]
            after = (await taker.query("margin"))[0]
            assert after["initial_margin"] > before["initial_margin"]
            trades = await taker.query("trades")
            assert [(t["trade_id"], t["qty"], t["liquidity"]) for t in trades] == [
                (t_fill["trade_id"], 40, "taker")
            ]
            assert trades[0]["fee"] > 0  # 5 bp taker fee
            (maker_trade,) = await maker.query("trades")
            assert maker_trade["fee"] < 0  # 1 bp maker rebate
            balances = await taker.query("balances")
            assert balances[0]["asset"] == "USD"
            assert balances[0]["total"] == balances[0]["free"] + balances[0]["used"]
            ex.clearing.engine.validate()
            maker.close()
            taker.close()
    finally:
        ctx.destroy(linger=0)


async def test_pre_trade_rejection_reaches_the_bot_with_its_figures(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 3)
            await bot.logon()
            rej = await bot.order("big", "buy", 1_000_000, 600_000)  # 60 M USD of BTC
            assert rej["type"] == "exec_report" and rej["exec_type"] == "8"
            assert rej["reason_name"] == "INSUFFICIENT_MARGIN" and rej["ord_rej_reason"] == 3
            figures = rej["figures"]
            assert figures["available"] == 1_000_000_000_000
            assert figures["required"] > figures["available"]
            assert rej["exec_id"] == 0 and rej["order_id"] is None
            assert rej["ts_me_in"] == 0 and rej["ts_me_out"] == 0
            assert 0 < rej["ts_gw_in"] <= rej["ts_clr_in"] <= rej["ts_clr_out"] <= rej["ts_gw_out"]
            band = await bot.order("far", "buy", 1, 700_000)  # beyond the 5 % static band
            assert band["reason_name"] == "PRICE_OUTSIDE_STATIC_BAND"
            assert band["figures"]["band_limit"] < 700_000 and band["figures"]["price"] == 700_000
            tick = await bot.order("tick", "buy", 1, 600_001)  # off the 5-unit tick: matcher
            assert tick["exec_type"] == "8" and tick["reason_name"] == "OFF_TICK_PRICE"
            assert tick["ts_me_in"] > 0
            assert await bot.query("orders") == []
            assert (await bot.query("margin"))[0]["free_collateral"] == 1_000_000_000_000
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def test_foreign_cancel_and_amend_are_refused(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            owner, other = Bot.for_account(ctx, ex, 1), Bot.for_account(ctx, ex, 2)
            await owner.logon()
            await other.logon()
            new = await owner.order("mine", "buy", 5, 590_000)
            oid = new["order_id"]
            for kind in ("cancel", "amend"):
                fields = {"qty": 1} if kind == "amend" else {}
                rej = await other.request({"type": kind, "order_id": oid, **fields})
                assert rej["type"] == "cancel_reject" and rej["response_to"] == kind
                assert rej["reason_name"] == "UNKNOWN_ORDER" and rej["cxl_rej_reason"] == 1
                assert rej["client_order_id"] is None  # nothing about the order is revealed
            by_clid = await other.request({"type": "cancel", "client_order_id": "mine"})
            assert by_clid["type"] == "cancel_reject"
            mass = await other.request({"type": "mass_cancel"}, "mass_cancel_report")
            assert mass["canceled"] == 0
            (still,) = await owner.query("orders")
            assert still["order_id"] == oid and still["leaves_qty"] == 5
            assert not [m for m in owner.seen if m.get("exec_type") == "4"]
            amended = await owner.request({"type": "amend", "order_id": oid, "qty": 3})
            assert amended["exec_type"] == "5" and amended["kept_priority"] is True
            owner.close()
            other.close()
    finally:
        ctx.destroy(linger=0)


async def test_resent_client_order_id_is_never_executed_twice(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            first = await bot.order("once", "buy", 5, 590_000)
            assert first["exec_type"] == "0"
            again = await bot.order("once", "buy", 5, 590_000)
            assert again["type"] == "reject" and again["reason_name"] == "DUPLICATE_REQUEST"
            await bot.request({"type": "cancel", "client_order_id": "once"})
            after_cancel = await bot.order("once", "buy", 5, 590_000)
            assert after_cancel["reason_name"] == "DUPLICATE_REQUEST"
            assert len([m for m in bot.seen if m.get("exec_type") == "0"]) == 1
            assert await bot.query("orders") == []
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def test_rate_limit_open_order_cap_and_logon_first(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        limits = {"rate_per_s": 1, "burst": 5, "max_open_orders": 2}  # every frame costs 1
        async with running_exchange(tmp_path, limits=limits) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            early = await bot.request({"type": "query_orders"})
            assert early["type"] == "reject" and early["reason_name"] == "NOT_LOGGED_ON"
            await bot.logon()
            assert (await bot.order("a", "buy", 1, 590_000))["exec_type"] == "0"
            assert (await bot.order("b", "buy", 1, 590_000))["exec_type"] == "0"
            capped = await bot.order("c", "buy", 1, 590_000)
            assert capped["exec_type"] == "8" and capped["reason_name"] == "TOO_MANY_OPEN_ORDERS"
            assert capped["figures"] == {"open_orders": 2, "limit": 2}
            limited = await bot.order("d", "buy", 1, 590_000)
            assert limited["type"] == "reject" and limited["reason_name"] == "RATE_LIMITED"
            assert limited["figures"]["retry_after_ms"] > 0
            beat = await bot.request({"type": "heartbeat", "ts": 7})  # every frame is charged
            assert beat["type"] == "reject" and beat["reason_name"] == "RATE_LIMITED"
            await asyncio.sleep(1.1)  # one token back
            beat = await bot.request({"type": "heartbeat", "ts": 7})
            assert beat["type"] == "heartbeat_ack" and beat["ts"] == 7
            bot.close()
    finally:
        ctx.destroy(linger=0)
