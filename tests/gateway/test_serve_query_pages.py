"""Large query answers are paged over several loop turns (``gateway.roles.query_pages``):
the answer is complete and in order, built over several turns (each page carries the time
of its turn), and an order cancelled while the answer is sent is listed only if its page
left before its cancel report did."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from gateway.roles.clearing_role import QUERY_ROWS_PER_TURN
from gateway.roles.views import QUERY_CHUNK
from tests.gateway.serve_helpers import Bot, running_exchange

pytestmark = pytest.mark.timeout(120)
OPEN = 1_000


async def _rest(bot: Bot, n: int) -> list[int]:
    """``n`` resting buys; their order ids."""
    ids = []
    for i in range(0, n, 100):  # a hundred in flight at a time
        reqs = [await bot.send({"type": "new_order", "instrument": "BTC-PERP", "side": "buy",
                                "qty": 1, "price": 100_000 + 5 * (j % 50),
                                "client_order_id": f"r{j}"})
                for j in range(i, min(n, i + 100))]  # fmt: skip
        for req in reqs:
            rep = await bot.wait_for(lambda m, req=req: m.get("req_id") == req)
            assert rep.get("exec_type") == "0", rep
            ids.append(rep["order_id"])
    return ids


async def test_a_large_answer_is_complete_and_paged_over_turns(tmp_path: Path) -> None:
    ctx = zmq.asyncio.Context()
    try:
        limits = {"rate_per_s": 100_000, "burst": 100_000, "max_open_orders": 10_000}
        async with running_exchange(tmp_path, limits=limits) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            ids = await _rest(bot, OPEN)
            start = len(bot.seen)
            req = await bot.send({"type": "query_orders"})
            cancel = ids[-50:]  # their pages come last (order-id order)
            for oid in cancel:
                await bot.send({"type": "cancel", "instrument": "BTC-PERP", "order_id": oid})
            last = await bot.wait_for(lambda m: m.get("req_id") == req and m.get("last"))
            stream = bot.seen[start:]
            pages = [m for m in stream if m.get("req_id") == req]
            assert all(p["type"] == "query_reply" and p["query"] == "orders" for p in pages)
            assert [p["last"] for p in pages] == [False] * (len(pages) - 1) + [True]
            assert pages[-1] is last
            rows = [r["order_id"] for p in pages for r in p["items"]]
            assert rows == sorted(set(rows))  # each order once, in order-id order
            # built over several turns, each page with the time of its turn
            per_turn: Counter[int] = Counter()
            for p in pages:
                per_turn[p["ts"]] += len(p["items"])
            assert max(per_turn.values()) <= QUERY_ROWS_PER_TURN + QUERY_CHUNK, per_turn
            # serializable: a row is an order not yet reported cancelled when its page left
            cancelled_before: set[int] = set()
            for m in stream:
                if m.get("type") == "exec_report" and m.get("exec_type") == "4":
                    cancelled_before.add(m["order_id"])
                elif m in pages:
                    assert not cancelled_before & {r["order_id"] for r in m["items"]}
            listed = set(rows)
            assert set(ids) - set(cancel) <= listed  # every order left open is there
            bot.close()
    finally:
        ctx.destroy(linger=0)


async def test_a_small_query_is_not_held_behind_a_large_one(tmp_path: Path) -> None:
    """Round robin: another account's one-row answer comes before the large one ends."""
    ctx = zmq.asyncio.Context()
    try:
        limits = {"rate_per_s": 100_000, "burst": 100_000, "max_open_orders": 10_000}
        async with running_exchange(tmp_path, limits=limits) as ex:
            big, small = Bot.for_account(ctx, ex, 1), Bot.for_account(ctx, ex, 2)
            await big.logon()
            await small.logon()
            await _rest(big, OPEN)
            req = await big.send({"type": "query_orders"})
            await asyncio.sleep(0)
            balances = await small.request({"type": "query_balances"})
            assert balances["type"] == "query_reply" and balances["last"], balances
            pages = [await big.wait_for(lambda m: m.get("req_id") == req)]
            while not pages[-1]["last"]:
                pages.append(await big.wait_for(lambda m: m.get("req_id") == req))
            assert sum(len(p["items"]) for p in pages) == OPEN
            assert balances["ts"] < pages[-1]["ts"]  # built while the large one went on
            big.close()
            small.close()
    finally:
        ctx.destroy(linger=0)
