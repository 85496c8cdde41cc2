"""Replay into a running exchange: absolute-deadline pacing, and the LOBSTER excerpt sent over
the wire ending with the same book as the in-process plain-order-flow replay."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from clients.replay import lobster
from clients.replay.plain import (
    FlowRequest,
    FlowStats,
    PlainReplay,
    instrument_from_record,
    lobster_requests,
)
from clients.replay.wire import Schedule, WireReplay, book_levels
from clients.sdk.keyfiles import load_client_keys
from tests.clients.serve_helpers import REPO, client_env, running_exchange

pytestmark = pytest.mark.timeout(90)

MSG = REPO / "tests" / "data" / "AMZN_2012-06-21_34200000_57600000_message_5.csv"


def test_schedule_is_absolute() -> None:
    s = Schedule(ts0=1_000_000_000, start=100.0, speed=10.0)
    assert s.deadline(1_000_000_000) == 100.0
    assert s.deadline(2_000_000_000) == pytest.approx(100.1)
    # deadlines depend only on the recorded time, never on when earlier sends happened
    assert s.deadline(61_000_000_000) == pytest.approx(106.0)
    assert s.deadline(0) == 100.0  # out-of-order rows are due at once, never in the past
    assert Schedule(5, 7.0, None).deadline(10**18) == 7.0  # --max: everything due now
    with pytest.raises(ValueError):
        Schedule(0, 0.0, 0.0)


async def test_paced_replay_keeps_to_the_recorded_times(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv:
        assert srv.keys is not None
        keys = load_client_keys(srv.keys.files[5])
        rep = WireReplay(srv.ctx, srv.endpoints["order_entry"], keys, instrument="ETH-PERP")
        await rep.start()
        try:
            # 21 orders recorded over 2 s, replayed at speed 4: due over 0.5 s
            reqs = [
                FlowRequest(i, i * 100_000_000, "new", f"p{i}", "buy", 100_000 + i, 1)
                for i in range(21)
            ]
            t0 = time.monotonic()
            elapsed = await rep.run(reqs, speed=4.0)
            assert 0.5 <= elapsed < 1.5 and time.monotonic() - t0 >= 0.5
            r = rep.report(elapsed, FlowStats(), 4.0)
            assert r["sent"] == r["acknowledged"] == r["accepted"] == 21
            assert r["behind_max_ms"] < 200 and r["open_orders_left"] == 21
            assert r["ack_latency"]["count"] == 21
        finally:
            await rep.close()


async def test_lobster_over_the_wire_equals_in_process_plain_flow(tmp_path: Path) -> None:
    async with running_exchange(tmp_path) as srv:
        assert srv.keys is not None
        report_file = tmp_path / "report.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "replay", "--format", "lobster", str(MSG),
            "--endpoint", srv.endpoints["order_entry"], "--key", str(srv.keys.files[6]),
            "--snapshot-endpoint", srv.endpoints["snapshots"], "--instrument", "AMZN-PERP",
            "--max", "--window", "50", "--report", str(report_file),
            env=client_env(srv), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        report = json.loads(report_file.read_text())
        assert "acknowledged" in err.decode() and "ack latency p50" in err.decode()

    flow = FlowStats()
    reqs = list(lobster_requests(lobster.read_messages(MSG), price_decimals=4, qty_decimals=0,
                                 stats=flow))  # fmt: skip
    inst = instrument_from_record({
        "symbol": "AMZN-PERP", "tick_size": 100, "lot_size": 1, "min_qty": 1,
        "max_qty": 1_000_000, "price_decimals": 4, "qty_decimals": 0,
    })  # fmt: skip
    local = PlainReplay(inst).run(reqs)
    bids, asks = local.levels()

    assert report["flow"] == flow.as_dict() and report["flow"]["rows"] == 3000
    assert report["sent"] == len(reqs) == report["acknowledged"]
    assert report["unanswered"] == 0 and report["rate_limited_retries"] == 0
    assert report["rejected"] == dict(local.rejects)  # the same refusals, the same reasons
    assert report["trades"] == local.fills and report["filled_qty"] == 2 * local.filled_qty
    assert report["final_book"] == {"bids": [list(b) for b in bids],
                                    "asks": [list(a) for a in asks]}  # fmt: skip
    assert report["open_orders_left"] == sum(1 for _ in local.engine.orders)
    lat = report["ack_latency"]
    assert lat["count"] == report["acknowledged"]
    assert 0 < lat["p50_us"] <= lat["p99_us"] <= lat["max_us"]
    assert report["achieved_rate_per_s"] > 0 and report["speed"] == "max"


def test_book_levels_of_a_snapshot() -> None:
    snap = {"bids": [[10, 2, 1]], "asks": [[11, 3, 2], [12, 1, 1]]}
    assert book_levels(snap) == {"bids": [[10, 2]], "asks": [[11, 3], [12, 1]]}
    assert book_levels(None) is None
