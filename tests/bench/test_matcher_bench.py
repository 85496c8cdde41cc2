"""The matcher harness: a small run writes every contract key with sane values."""

from __future__ import annotations

import json
from pathlib import Path

from bench.matcher import INSTRUMENT, generate_flow
from gateway.cli import main
from matching import CancelOrder, MatchingEngine, NewOrder, OrderRejected
from matching.events import CancelRejected


def test_flow_is_seeded_and_every_cancel_names_a_live_order() -> None:
    flow = generate_flow(3000, seed=5)
    assert flow == generate_flow(3000, seed=5)
    assert flow != generate_flow(3000, seed=6)
    engine = MatchingEngine([INSTRUMENT])
    cancels = 0
    for cmd in flow:
        events = engine.apply(cmd)
        assert not any(isinstance(e, (OrderRejected, CancelRejected)) for e in events), cmd
        cancels += type(cmd) is CancelOrder
    news = sum(type(c) is NewOrder for c in flow)
    assert 0.25 < cancels / len(flow) < 0.45 and news + cancels == len(flow)


def test_cli_writes_the_contract_keys(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    assert main(["bench", "matcher", "--ops", "2000", "--seed", "3", "--repeat", "1",
                 "--json", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    for key in ("ops", "ops_per_s", "p50_ns", "p99_ns", "p999_ns", "max_ns"):
        assert isinstance(result[key], int) and result[key] > 0, key
    assert result["ops"] == 2000
    assert result["p50_ns"] <= result["p99_ns"] <= result["p999_ns"] <= result["max_ns"]
    assert result["baseline_ops_per_s"] > 0 and result["environment"]["cores"]
