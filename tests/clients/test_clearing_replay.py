"""Replay through clearing: the example flow trades, is refused once at pre-trade,
liquidates account 3, and its final snapshot verifies."""

from __future__ import annotations

from pathlib import Path

from clearing.config import load_config
from clients.replay.clearing_replay import read_flow, replay_file, write_snapshot
from clients.replay.rows import BadRow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_example_flow_trades_rejects_and_liquidates(tmp_path: Path) -> None:
    replay, report = replay_file(load_config(DOCS / "clearing.toml"), DOCS / "flow.csv")
    assert report["bad_rows"] == 0 and report["rows"] == 14
    assert report["trades"] >= 4
    assert report["pretrade_rejects"] == {"INSUFFICIENT_MARGIN": 1}
    assert report["liquidations"] == 1 and report["liquidated_accounts"] == [3]
    assert report["accounts"]["3"]["positions"]["BTC-PERP"] == 0
    assert set(report["accounts"]) == {"1", "2", "3", "4"}
    # the plain CSV report's keys are all there too, and equity per account
    for key in ("orders", "cancels", "amends", "trades", "traded_qty", "rejects",
                "top_of_book", "messages_per_s"):
        assert key in report, key
    assert report["rejects"]["INSUFFICIENT_MARGIN"] == 1
    assert report["equity"] == {a: v["equity"] for a, v in report["accounts"].items()}
    assert set(report["top_of_book"]) == set(report["marks"])
    assert "halts" in report
    replay.pipe.clearing.validate()
    out = tmp_path / "final.msgpack"
    root = write_snapshot(replay, out)
    assert len(root) == 64
    from clearing.snapshot import verify_snapshot

    result = verify_snapshot(out.read_bytes())
    assert result.ok, result


def test_index_rows_and_bad_rows(tmp_path: Path) -> None:
    flow = tmp_path / "f.csv"
    flow.write_text("ts_ns,action,order_id,account,instrument,side,price,qty,tif\n"
                    "1,index,,,BTC,,480000,,\n"
                    "2,index,,,,,480000,,\n"
                    "3,new,1,1,BTC-PERP,B,1.5,1,GTC\n")  # fmt: skip
    rows = list(read_flow(flow))
    assert rows[0].name == "BTC" and rows[0].price == 480_000
    assert all(type(r) is BadRow for r in rows[1:])
    _, report = replay_file(load_config(DOCS / "clearing.toml"), flow)
    assert report["bad_rows"] == 2 and report["marks"]["BTC-PERP"] == 480_000


def test_cli_flags(tmp_path: Path) -> None:
    import json

    from gateway.cli import main

    report, snap = tmp_path / "r.json", tmp_path / "s.msgpack"
    rc = main(["replay", "--format", "csv", str(DOCS / "flow.csv"), "--clearing",
               str(DOCS / "clearing.toml"), "--snapshot-out", str(snap), "--report",
               str(report)])  # fmt: skip
    assert rc == 0 and snap.is_file()
    data = json.loads(report.read_text())
    assert data["liquidations"] == 1 and data["pretrade_rejects"] == {"INSUFFICIENT_MARGIN": 1}
    assert main(["replay", "--format", "csv", str(DOCS / "flow.csv"), "--snapshot-out",
                 str(snap)]) == 2  # fmt: skip
