"""``crossbook serve`` restarts: the newest snapshot plus the journal give back the whole
state (positions, resting orders in their queue, holds, trade history, client order ids),
and trading continues with fresh, non-colliding ids; ``--fresh`` sets everything aside.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq.asyncio

from clearing.snapshot import verify_snapshot
from gateway import snapshot_fork
from gateway.snapshot_store import list_snapshots, read_snapshot_bytes, snapshot_dir
from tests.gateway.serve_helpers import Bot, make_config, running_exchange

pytestmark = pytest.mark.timeout(60)


async def test_restart_gives_back_positions_books_history_and_fresh_ids(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path, config=cfg) as ex:
            maker, taker = Bot.for_account(ctx, ex, 1), Bot.for_account(ctx, ex, 2)
            await maker.logon()
            await taker.logon()
            await maker.order("m-sell", "sell", 100, 600_000)
            await maker.order("m-buy", "buy", 10, 595_000)
            await taker.order("t-buy", "buy", 40, 600_000)
            fill = await taker.wait_for(lambda m: m.get("exec_type") == "F")
            eng = ex.clearing.engine
            held = eng.accounts[1].held
            assert held > 0  # the resting orders hold margin
            cash = {a: dict(eng.accounts[a].balances) for a in (1, 2)}
            fee_pool = dict(eng.fee_pool)
            book = ex.matching.engine.books["BTC-PERP"].l3()
            maker.close()
            taker.close()
        snaps = list_snapshots(snapshot_dir(cfg.state_dir))
        assert snaps and verify_snapshot(read_snapshot_bytes(snaps[-1])).ok

        async with running_exchange(tmp_path, config=cfg) as ex2:
            assert ex2.clearing.restored_from == str(snaps[-1])
            eng = ex2.clearing.engine
            eng.validate()
            assert eng.position(2, "BTC-PERP")[0] == 40 and eng.position(1, "BTC-PERP")[0] == -40
            assert eng.accounts[1].held == held and len(eng.orders) == 2
            assert {a: dict(eng.accounts[a].balances) for a in (1, 2)} == cash
            assert dict(eng.fee_pool) == fee_pool
            assert ex2.matching.engine.books["BTC-PERP"].l3() == book  # same queue, same order
            maker, taker = Bot.for_account(ctx, ex2, 1), Bot.for_account(ctx, ex2, 2)
            await maker.logon()
            await taker.logon()
            resting = await maker.query("orders")
            assert sorted((o["client_order_id"], o["leaves_qty"]) for o in resting) == [
                ("m-buy", 10), ("m-sell", 60)]  # fmt: skip
            trades = await taker.query("trades")
            assert [(t["trade_id"], t["qty"]) for t in trades] == [(fill["trade_id"], 40)]
            assert [(p["instrument"], p["qty"]) for p in await taker.query("positions")] == [
                ("BTC-PERP", 40)
            ]
            # a client order id used before the restart is still refused
            dup = await taker.order("t-buy", "buy", 1, 590_000)
            assert dup["type"] == "reject" and dup["reason_name"] == "DUPLICATE_REQUEST"
            # the resting sell trades on; ids continue past the old ones
            new = await taker.order("t2", "buy", 5, 600_000)
            assert new["order_id"] > fill["order_id"]
            fill2 = await taker.wait_for(lambda m: m.get("exec_type") == "F")
            assert fill2["trade_id"] > fill["trade_id"]
            assert fill2["exec_id"] > fill["exec_id"]
            m_fill = await maker.wait_for(lambda m: m.get("exec_type") == "F")
            assert m_fill["client_order_id"] == "m-sell" and m_fill["cum_qty"] == 45
            assert eng.position(2, "BTC-PERP")[0] == 45
            maker.close()
            taker.close()
        assert len(list_snapshots(snapshot_dir(cfg.state_dir))) == len(snaps) + 1
    finally:
        ctx.destroy(linger=0)


async def test_fresh_ignores_snapshots(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path, config=cfg) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            await bot.order("x", "buy", 1, 590_000)
            bot.close()
        async with running_exchange(tmp_path, config=cfg, restore=False) as ex2:
            assert ex2.clearing.restored_from is None
            assert ex2.clearing.engine.last_seq == 0 and not ex2.clearing.engine.orders
            archived = ex2.clearing.archived
        names = sorted(p.name.split(".")[0] for p in archived)
        assert names == ["journal", "snapshots"]
        assert list_snapshots(next(p for p in archived if p.name.startswith("snapshots")))
        assert len(list_snapshots(snapshot_dir(cfg.state_dir))) == 1  # a new chain
    finally:
        ctx.destroy(linger=0)


@pytest.mark.parametrize("by", ["child", "thread"])
async def test_periodic_snapshots_follow_the_event_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by: str) -> None:  # fmt: skip
    """Either way a periodic snapshot is made (a forked child on Linux, a thread where
    fork is not used), it is written, adopted by the writer's chain and counted."""
    import asyncio

    if by == "thread":
        monkeypatch.setattr(snapshot_fork, "available", lambda: False)
    elif not snapshot_fork.available():
        pytest.skip("forked snapshots: Linux only")
    cfg = make_config(tmp_path, snapshot_every_fills=4)
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path, config=cfg) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            assert list_snapshots(snapshot_dir(cfg.state_dir)) == []
            for i in range(3):
                await bot.order(f"p{i}", "buy", 1, 590_000 - 5 * i)  # 2 events each
            for _ in range(100):
                if list_snapshots(snapshot_dir(cfg.state_dir)):
                    break
                await asyncio.sleep(0.05)
            (first,) = list_snapshots(snapshot_dir(cfg.state_dir))
            assert verify_snapshot(read_snapshot_bytes(first)).ok
            for _ in range(100):  # written off the loop: counted once it is on disk
                if ex.clearing.stats.snapshots:
                    break
                await asyncio.sleep(0.05)
            assert ex.clearing.stats.snapshots == 1 and ex.clearing.writer.latest == first
            assert ex.clearing.last_state_hash is not None
            bot.close()
        final = list_snapshots(snapshot_dir(cfg.state_dir))
        assert final[0] == first and len(final) == 2  # the final one chains after it
        assert verify_snapshot(read_snapshot_bytes(final[1]), read_snapshot_bytes(first)).ok
    finally:
        ctx.destroy(linger=0)
