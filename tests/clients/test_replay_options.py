"""Replay of the options flow (docs/examples/options-flow.csv): through clearing it ends
with a portfolio-margin admission that standard mode refuses (the twins' last order) and
a liquidation of option sellers by a rally, with every ladder step (hedge on the
perpetual, option close, insurance takeover). Two accounts are liquidated in the same
batch, so their perpetual hedges race for the same thin book: the second finds nothing
(this once raised a KeyError in the options ladder). The plain CSV replay takes option
instruments too, and ``iv`` rows are parsed and checked."""

from __future__ import annotations

import json
from pathlib import Path

from clearing.config import load_config
from clients.replay.clearing_replay import IVRow, read_flow, replay_file
from clients.replay.rows import BadRow
from gateway.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples"
FLOW, CONFIG = DOCS / "options-flow.csv", DOCS / "options-flow.toml"
CALL = "BTC-26MAR27-50000-C"


def test_options_flow_admits_in_portfolio_what_standard_refuses_then_liquidates() -> None:
    replay, r = replay_file(load_config(CONFIG), FLOW)
    assert r["bad_rows"] == 0 and r["actions"] == {"index": 2, "iv": 1, "new": 21}
    assert r["iv_updates"] == 1
    # the twins' last order: the same call, refused in standard mode, admitted in portfolio
    assert [(x["order_id"], x["account"], x["instrument"], x["reason"]) for x in r["refused"]
            ] == [(19, 2, CALL, "INSUFFICIENT_MARGIN")]  # fmt: skip
    refused = r["refused"][0]
    assert refused["required"] > refused["available"]
    twin = r["accounts"]["3"]
    assert twin["margin_mode"] == "portfolio" and twin["positions"][CALL] == -40
    assert r["pretrade_rejects"] == {"INSUFFICIENT_MARGIN": 1}
    # the rally: the call seller (4) and the standard twin (2) are liquidated, step by step
    assert sorted(r["liquidated_accounts"]) == [2, 4]
    assert r["liquidation_hedges"] == 2 and r["liquidation_option_closes"] >= 1
    assert r["insurance_takeovers"] >= 1 and r["adl"] == 0
    assert all(q == 0 for q in r["accounts"]["4"]["positions"].values())
    assert r["accounts"]["3"]["equity"] >= r["accounts"]["3"]["maintenance_margin"]
    replay.pipe.clearing.validate()


def test_cli_replays_the_options_flow(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    rc = main(["replay", "--format", "csv", str(FLOW), "--clearing", str(CONFIG),
               "--report", str(out)])  # fmt: skip
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["liquidations"] == 2 and data["insurance_takeovers"] >= 1
    assert data["accounts"]["3"]["worst_scenario"]["underlying"] == "BTC"


def test_plain_csv_replay_takes_option_instruments(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    lines = [ln for ln in FLOW.read_text().splitlines() if ",index," not in ln
             and ",iv," not in ln]  # fmt: skip
    plain.write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.json"
    assert main(["replay", "--format", "csv", str(plain), "--report", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["bad_rows"] == 0 and data["trades"] >= 6
    assert CALL in data["top_of_book"]


def test_iv_rows(tmp_path: Path) -> None:
    flow = tmp_path / "f.csv"
    flow.write_text("ts_ns,action,order_id,account,instrument,side,price,qty,tif\n"
                    "1796083200000000000,iv,,,BTC-26MAR27,,650000,,\n"
                    "1796083200000000001,iv,,,BTC-27MAR27,,650000,,\n"
                    "3,iv,,,BTC,,650000,,\n"
                    "4,iv,,,BTC-26MAR27,,sixty,,\n")  # fmt: skip
    rows = list(read_flow(flow))
    assert rows[0] == IVRow(2, 1796083200000000000, "BTC", 2027, 3, 26, 650_000, 0, 0)
    assert type(rows[1]) is IVRow
    assert [type(r) for r in rows[2:]] == [BadRow, BadRow]
    assert "BTC-26MAR27" in rows[2].error and "atm_ppm" in rows[3].error
    replay, report = replay_file(load_config(CONFIG), flow)
    assert report["iv_updates"] == 1  # 27MAR27 is not listed: the engine refuses it
    assert report["request_rejects"] == {"INVALID_REQUEST": 1}
    book = replay.pipe.clearing.options.books["BTC"]
    assert book.surface.smiles[1806048000000000000].atm_ppm == 650_000
