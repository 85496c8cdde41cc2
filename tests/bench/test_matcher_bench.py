"""The matcher harness: a small run writes every contract key with sane values."""

from __future__ import annotations

import json
from array import array
from pathlib import Path

from bench.matcher import INSTRUMENT, for_baseline, generate_flow, slow_share
from gateway.cli import main
from matching import AmendOrder, CancelOrder, Fill, MatchingEngine, NewOrder, OrderRejected
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
    assert result["entry"] == "apply_trusted" and result["validating"]["ratio_to_baseline"] > 0
    assert result["gc"] == "freeze" and result["gc_unreachable"] == 0
    assert result["batch"]["size"] == 100 and result["batch"]["ratio_to_baseline"] > 0
    slow = result["over_10us"]
    assert 0 <= slow["over"] <= 2000 and slow["share"] == round(slow["over"] / 2000, 6)
    noise = result["noise"]
    assert 0 < noise["p50_ns"] <= result["p50_ns"] and 0 <= noise["over_10us"]["share"] <= 1
    modify = result["flows"]["modify"]
    assert modify["ops"] == 2000 and modify["mix"]["amend"] > 0
    for key in ("ops_per_s", "baseline_ops_per_s", "ratio_to_baseline", "events"):
        assert modify[key] > 0, key


def test_modify_flow_amends_a_fifth_of_the_orders_and_some_reprices_trade() -> None:
    flow = generate_flow(5000, seed=2, flow="modify")
    assert flow == generate_flow(5000, seed=2, flow="modify")
    engine = MatchingEngine([INSTRUMENT])
    amends = crossing = 0
    for cmd in flow:
        events = engine.apply(cmd)
        assert not any(isinstance(e, (OrderRejected, CancelRejected)) for e in events), cmd
        if type(cmd) is AmendOrder:
            amends += 1
            crossing += any(type(e) is Fill for e in events)
    news = sum(type(c) is NewOrder for c in flow)
    assert 0.15 < amends / news < 0.25 and crossing > 0
    # the baseline gets each amend as a cancel and a new order
    base = for_baseline(flow)
    assert len(base) == len(flow) + amends
    assert not any(type(c) is AmendOrder for c in base)


def test_slow_share_counts_samples_over_the_limit_per_second_of_window() -> None:
    samples = array("q", [100, 20_000, 5_000, 10_001, 10_000])
    got = slow_share(samples, 10_000)
    assert got["over"] == 2 and got["share"] == 0.4
    assert got["per_s_of_window"] == round(2 / (45_101 / 1e9), 1)
    assert slow_share(array("q", [1, 2]))["over"] == 0
