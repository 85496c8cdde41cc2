"""One process: a round's private execution reports leave before its public market data.

In the embedded mode clearing pumps the co-located matcher, so the matcher's market data
used to be published inside the round, before clearing had settled it and the gateway had
sent the reports. Now the matching role holds a round's market data back until clearing's
turn has delivered the replies (``MatchingRole.publish_pending``); the snapshot service
publishes what is held back before it answers, so a snapshot never runs ahead of the
deltas. The gateway also rings a co-located clearing's doorbell after each link send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio

from gateway.marketdata import MD_VERSION
from matching.events import LevelChanged
from tests.gateway.serve_helpers import Bot, running_exchange

pytestmark = pytest.mark.timeout(60)


async def test_reports_are_sent_before_the_rounds_market_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            log: list[tuple[str, Any]] = []
            md = ex.matching.md
            publish, send = md.publish_events, ex.gateway._send

            def published(events: Any) -> int:
                log.append(("md", [type(e).__name__ for e in events]))
                return publish(events)

            def sent(sess: Any, msg: dict) -> None:
                log.append(("bot", msg.get("exec_type")))
                send(sess, msg)

            monkeypatch.setattr(md, "publish_events", published)
            monkeypatch.setattr(ex.gateway, "_send", sent)
            rings = 0
            ring = ex.gateway.ring_clearing
            assert ring is not None

            def counted() -> None:
                nonlocal rings
                rings += 1
                ring()

            monkeypatch.setattr(ex.gateway, "ring_clearing", counted)
            a, b = Bot.for_account(ctx, ex, 1), Bot.for_account(ctx, ex, 2)
            await a.logon()
            await b.logon()
            log.clear()
            new = await a.order("rest-1", "sell", 5, 600_000)
            assert new["exec_type"] == "0"
            await b.order("take-1", "buy", 5, 600_000)
            await a.wait_for(lambda m: m.get("exec_type") == "F")
            assert rings >= 2  # each order reached clearing by the doorbell
            kinds = [k for k, _ in log]
            # the resting order: its New report, then its level appears
            first_md = kinds.index("md")
            assert first_md > 0, log
            assert log[first_md - 1] == ("bot", "0")
            assert "LevelChanged" in log[first_md][1]
            # the trade: both parties' fills are sent before the trade is published
            trade_md = next(i for i, (k, v) in enumerate(log) if k == "md" and "Fill" in v)
            fills_before = [v for k, v in log[:trade_md] if k == "bot"].count("F")
            assert fills_before == 2, log
            assert ex.matching._md_pending == []  # nothing is left held back after a turn
            a.close()
            b.close()
    finally:
        ctx.destroy(linger=0)


async def test_a_snapshot_publishes_what_is_held_back_first(tmp_path: Path) -> None:
    """A round's market data still held back when a snapshot request is answered is
    published first: the snapshot's sequence number covers every change it shows."""
    ctx = zmq.asyncio.Context()
    try:
        async with running_exchange(tmp_path) as ex:
            bot = Bot.for_account(ctx, ex, 1)
            await bot.logon()
            new = await bot.order("rest-1", "buy", 3, 590_000)
            assert new["exec_type"] == "0"
            role = ex.matching
            book = role.md.translator.book("BTC-PERP")
            assert book is not None and book.bids.get(590_000) == (3, 1)
            seq_before = role.md.translator.instruments["BTC-PERP"].seqs["l2"]
            # hold back a change the way a round does while clearing's turn is running
            role._md_pending.append(([LevelChanged(0, 1, "BTC-PERP", 1, 589_000, 7, 1)], []))
            req = msgpack.packb({"v": MD_VERSION, "type": "snapshot", "req_id": 9,
                                 "sym": "BTC-PERP", "depth": None})  # fmt: skip
            snap = role.md.answer(req)
            assert role._md_pending == []
            assert [589_000, 7, 1] in snap["bids"] and [590_000, 3, 1] in snap["bids"]
            assert snap["seq"] == seq_before + 1
            bot.close()
    finally:
        ctx.destroy(linger=0)
