"""``crossbook bench clearing``: pre-trade check latency and the 100k-account re-mark time.

1. Pre-trade: one account holds positions in 20 perpetuals (opened through real trades)
   and places a seeded stream of limit orders across them, each passing the full
   admission (margin with fees, worst side, holds); ``ClearingEngine.apply`` is timed per
   call with ``perf_counter_ns`` into an HdrHistogram (clock overhead included). Every
   command carries a new timestamp, as in service.
2. Re-mark: 100,000 accounts each hold a position (and some a resting order) in one
   instrument; the mark is moved back and forth and each full re-mark (equity, IM, MM,
   requirement of every holder, vectorised, plus the checks) is timed.

The JSON holds ``pretrade_p50_ns``, ``pretrade_p99_ns``, ``remark_100k_ms`` (median of
the runs) and details, with the machine it ran on.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from pathlib import Path

from clearing.commands import OrderRequest
from clearing.config import parse_config
from clearing.engine import ClearingEngine
from clearing.pipeline import Pipeline

POSITIONS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--checks", type=int, default=100_000, help="pre-trade checks (1e5)")
    parser.add_argument("--accounts", type=int, default=100_000, help="re-mark accounts (1e5)")
    parser.add_argument("--remarks", type=int, default=21, help="re-mark runs (21)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")


def _instrument(imf: int = 100_000) -> dict:
    return {
        "kind": "perpetual", "index": "I", "contract_size": "0.000001",
        "maker_fee_ppm": -100, "taker_fee_ppm": 500, "max_qty": 1_000_000_000,
        "margin_tiers": [{"up_to": 10**12, "imf_ppm": imf, "mmf_ppm": imf // 2},
                         {"imf_ppm": 2 * imf, "mmf_ppm": imf}],
    }  # fmt: skip


def _pretrade(checks: int, seed: int) -> tuple[list[int], int]:
    syms = [f"P{i:02d}" for i in range(POSITIONS)]
    cfg = parse_config({
        "assets": {"USD": {"decimals": 6}},
        "indices": {"I": 10_000},
        "instruments": {s: _instrument() for s in syms},
        "accounts": [{"id": a, "deposits": {"USD": 10**14}} for a in (1, 2)],
    })  # fmt: skip
    p = Pipeline.from_config(cfg)
    for i, s in enumerate(syms):  # open 20 positions through real trades
        p.submit(OrderRequest(1 + i, 2, s, -1, 1_000, 10_000))
        p.submit(OrderRequest(1 + i, 1, s, 1, 1_000, 10_000, tif=3))
    eng = p.clearing
    assert len(eng.accounts[1].positions) == POSITIONS
    rng = random.Random(seed)
    cmds = []
    ts = 1_000_000
    for _ in range(checks):
        ts += 1_000
        side = 1 if rng.random() < 0.5 else -1
        price = 10_000 - side * rng.randint(1, 200)
        cmds.append(OrderRequest(ts, 1, syms[rng.randrange(POSITIONS)], side,
                                 rng.randint(1, 50), price))  # fmt: skip
    samples = [0] * len(cmds)
    apply = eng.apply
    clock = time.perf_counter_ns
    gc.collect()
    gc.freeze()
    admitted = 0
    for i, cmd in enumerate(cmds):
        t0 = clock()
        out = apply(cmd)
        samples[i] = clock() - t0
        admitted += len(out) == 2
    gc.unfreeze()
    return samples, admitted


def build_remark_engine(accounts: int) -> ClearingEngine:
    """An engine with ``accounts`` holders of instrument X (pairs long/short)."""
    from clearing import settlement
    from clearing.transfers import credit

    cfg = parse_config({
        "assets": {"USD": {"decimals": 6}},
        "indices": {"I": 10_000},
        "instruments": {"X": _instrument()},
    })  # fmt: skip
    eng = ClearingEngine(cfg)
    inst = eng.instruments["X"]
    rng = random.Random(5)
    for aid in range(1, accounts + 1):
        acct = eng.open(aid)
        credit(eng, acct, "USD", 10**9)
        eng.deposits["USD"] += 10**9
    for aid in range(1, accounts, 2):
        q = rng.randint(1, 5_000)
        settlement.trade(eng, inst, eng.accounts[aid], q, 10_000, 0)
        settlement.trade(eng, inst, eng.accounts[aid + 1], -q, 10_000, 0)
    for aid in range(1, accounts + 1, 10):  # every tenth account also has a resting order
        eng.apply(OrderRequest(1, aid, "X", 1 if aid % 20 == 1 else -1, 100, 9_990))
    return eng


def _remark(accounts: int, runs: int) -> list[float]:
    from clearing import remark

    eng = build_remark_engine(accounts)
    inst = eng.instruments["X"]
    times = []
    gc.collect()
    gc.freeze()
    for i in range(runs):
        new = 10_000 + (7 if i % 2 == 0 else -7)
        out: list = []
        t0 = time.perf_counter_ns()
        remark.remark(eng, inst, new, 2 + i, out)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    gc.unfreeze()
    eng.validate()
    return times


def run(args: argparse.Namespace) -> int:
    from hdrh.histogram import HdrHistogram

    from bench.environment import describe, write_result

    samples, admitted = _pretrade(args.checks, args.seed)
    hist = HdrHistogram(1, 10_000_000_000, 3)
    for v in samples:
        hist.record_value(max(1, v))
    times = _remark(args.accounts, args.remarks)
    result = {
        "harness": "clearing",
        "pretrade_checks": len(samples),
        "pretrade_admitted": admitted,
        "pretrade_positions": POSITIONS,
        "pretrade_p50_ns": hist.get_value_at_percentile(50),
        "pretrade_p90_ns": hist.get_value_at_percentile(90),
        "pretrade_p99_ns": hist.get_value_at_percentile(99),
        "pretrade_p999_ns": hist.get_value_at_percentile(99.9),
        "pretrade_max_ns": hist.get_max_value(),
        "remark_accounts": args.accounts,
        "remark_runs_ms": [round(t, 3) for t in times],
        "remark_100k_ms": round(statistics.median(times), 3),
        "remark_min_ms": round(min(times), 3),
        "environment": describe(),
        "notes": "single thread, in-process; pre-trade = ClearingEngine.apply(OrderRequest) "
        "for an account with 20 positions, clock overhead included; re-mark = one "
        "vectorised mark change over all holders incl. margin-call/liquidation/risk checks",
    }
    write_result(args.json, result)
    print(
        f"clearing: pre-trade p50 {result['pretrade_p50_ns']} ns, p99 "
        f"{result['pretrade_p99_ns']} ns ({admitted}/{len(samples)} admitted); re-mark "
        f"{args.accounts:,} accounts median {result['remark_100k_ms']} ms -> {args.json}"
    )
    return 0
