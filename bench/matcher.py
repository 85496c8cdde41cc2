"""``crossbook bench matcher``: in-process matcher throughput and per-operation latency.

The flow is seeded and synthetic: about 55 % passive adds near a random-walk mid, 35 %
cancels of live orders and 10 % orders that cross 1-3 levels. It is generated once
(with a generator-side engine to know which orders are still live), then run twice on
fresh engines, each with its full event output:

1. throughput pass (best of ``--repeat``): the commands back to back, one clock read at
   each end;
2. baseline pass: the same commands through ``bench.baseline_book`` (a plain SortedDict
   + deque book, no events), interleaved with the throughput passes, for a ratio that
   does not depend on the machine;
3. latency pass: a clock read around every ``apply``, recorded into an HdrHistogram.

The garbage collector is frozen after setup (``gc.freeze``) as a server would do; it
stays enabled. The JSON holds ``ops``, ``ops_per_s``, ``p50_ns``, ``p99_ns``,
``p999_ns``, ``max_ns`` and the machine it ran on.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from array import array
from pathlib import Path

from matching import (
    BUY,
    SELL,
    CancelOrder,
    Fill,
    Instrument,
    MatchingEngine,
    NewOrder,
    OrderCanceled,
    OrderExpired,
    TimeInForce,
)

SYMBOL = "BENCH"
INSTRUMENT = Instrument(SYMBOL, tick_size=1, lot_size=1, min_qty=1, max_qty=1_000_000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=1_000_000, help="operations (default 1e6)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--accounts", type=int, default=100, help="distinct accounts (100)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs, best kept (3)")


def generate_flow(ops: int, seed: int, accounts: int = 100) -> list:
    """The seeded command list; deterministic for a given (ops, seed, accounts)."""
    rng = random.Random(seed)
    engine = MatchingEngine([INSTRUMENT])
    live: list[int] = []
    where: dict[int, int] = {}
    mid = 10_000
    next_id = 1
    ts = 0
    commands: list = []
    rand = rng.random
    randint = rng.randint

    def forget(oid: int) -> None:
        i = where.pop(oid, None)
        if i is None:
            return
        last = live.pop()
        if last != oid:
            live[i] = last
            where[last] = i

    for _ in range(ops):
        ts += 1_000
        r = rand()
        if r < 0.35 and live:
            oid = live[randint(0, len(live) - 1)]
            cmd = CancelOrder(ts, SYMBOL, oid, engine.orders[oid].account)
        else:
            if rand() < 0.2:
                mid += 1 if rand() < 0.5 else -1
                mid = max(mid, 100)
            side = BUY if rand() < 0.5 else SELL
            acct = randint(1, accounts)
            qty = randint(1, 100)
            book = engine.books[SYMBOL]
            if r < 0.90 or not live:
                # passive: rest 1..20 ticks behind the touch on our own side
                if side == BUY:
                    top = book.best_ask.price - 1 if book.best_ask else mid
                    price = min(mid, top) - randint(0, 19)
                else:
                    top = book.best_bid.price + 1 if book.best_bid else mid
                    price = max(mid, top) + randint(0, 19)
                cmd = NewOrder(ts, SYMBOL, next_id, acct, side, qty, max(price, 1))
            else:
                # aggressive: an IOC limit 1..3 levels through the opposite side
                levels = book.asks if side == BUY else book.bids
                keys = book.ask_prices if side == BUY else book.bid_prices  # ascending
                depth = randint(1, 3)
                if not keys:
                    price = mid
                elif side == BUY:
                    price = keys[min(depth, len(keys)) - 1]
                else:
                    price = keys[-min(depth, len(keys))]
                # sweep the first depth-1 levels and part of the last one
                chosen = keys[:depth] if side == BUY else keys[-depth:][::-1]
                qty = sum(levels[p].total for p in chosen[:-1]) if chosen else 0
                qty += randint(1, levels[chosen[-1]].total) if chosen else randint(1, 100)
                cmd = NewOrder(ts, SYMBOL, next_id, acct, side, qty, price,
                               tif=int(TimeInForce.IOC))  # fmt: skip
            next_id += 1
        commands.append(cmd)
        for ev in engine.apply(cmd):
            t = type(ev)
            if t is Fill:
                if ev.maker_leaves == 0:
                    forget(ev.maker_order_id)
            elif t is OrderCanceled or t is OrderExpired:
                forget(ev.order_id)
        if type(cmd) is NewOrder and cmd.order_id in engine.orders and cmd.order_id not in where:
            where[cmd.order_id] = len(live)
            live.append(cmd.order_id)
    return commands


def _throughput(commands: list) -> tuple[float, int, str, int]:
    engine = MatchingEngine([INSTRUMENT])
    apply = engine.apply
    gc.collect()
    gc.freeze()
    events = 0
    t0 = time.perf_counter_ns()
    for cmd in commands:
        events += len(apply(cmd))
    elapsed = time.perf_counter_ns() - t0
    gc.unfreeze()
    return elapsed / 1e9, events, engine.state_hash(), len(engine.orders)


def _baseline(commands: list) -> float:
    from bench.baseline_book import BaselineBook

    book = BaselineBook()
    apply = book.apply
    gc.collect()
    gc.freeze()
    t0 = time.perf_counter_ns()
    for cmd in commands:
        apply(cmd)
    elapsed = time.perf_counter_ns() - t0
    gc.unfreeze()
    return elapsed / 1e9


def _latency(commands: list) -> array:
    engine = MatchingEngine([INSTRUMENT])
    apply = engine.apply
    clock = time.perf_counter_ns
    samples = array("q", bytes(8 * len(commands)))
    gc.collect()
    gc.freeze()
    for i, cmd in enumerate(commands):
        t0 = clock()
        apply(cmd)
        samples[i] = clock() - t0
    gc.unfreeze()
    return samples


def run(args: argparse.Namespace) -> int:
    from hdrh.histogram import HdrHistogram

    from bench.environment import describe, write_result

    commands = generate_flow(args.ops, args.seed, args.accounts)
    kinds = {"new_passive": 0, "new_ioc": 0, "cancel": 0}
    for c in commands:
        if type(c) is CancelOrder:
            kinds["cancel"] += 1
        elif c.tif == TimeInForce.IOC:
            kinds["new_ioc"] += 1
        else:
            kinds["new_passive"] += 1
    # interleave engine and baseline runs; keep the best of each (least disturbed)
    runs = [(_throughput(commands), _baseline(commands)) for _ in range(args.repeat)]
    seconds, n_events, state, resting = min((r[0] for r in runs), key=lambda r: r[0])
    baseline_seconds = min(r[1] for r in runs)
    samples = _latency(commands)
    hist = HdrHistogram(1, 10_000_000_000, 3)
    for v in samples:
        hist.record_value(max(1, v))
    result = {
        "harness": "matcher",
        "ops": len(commands),
        "seed": args.seed,
        "mix": kinds,
        "events": n_events,
        "seconds": round(seconds, 4),
        "ops_per_s": round(len(commands) / seconds),
        "baseline_ops_per_s": round(len(commands) / baseline_seconds),
        "ratio_to_baseline": round(baseline_seconds / seconds, 3),
        "repeat": args.repeat,
        "p50_ns": hist.get_value_at_percentile(50),
        "p90_ns": hist.get_value_at_percentile(90),
        "p99_ns": hist.get_value_at_percentile(99),
        "p999_ns": hist.get_value_at_percentile(99.9),
        "p9999_ns": hist.get_value_at_percentile(99.99),
        "max_ns": hist.get_max_value(),
        "mean_ns": round(hist.get_mean_value(), 1),
        "state_hash": state,
        "resting_orders_end": resting,
        "environment": describe(),
        "notes": "single thread, in-process, full event output; latency pass times each "
        "apply() with perf_counter_ns (clock overhead included); gc frozen after setup",
    }
    write_result(args.json, result)
    print(
        f"matcher: {result['ops']:,} ops in {seconds:.3f} s = {result['ops_per_s']:,} ops/s; "
        f"p50 {result['p50_ns']} ns, p99 {result['p99_ns']} ns, p99.9 {result['p999_ns']} ns, "
        f"max {result['max_ns']} ns; baseline SortedDict+deque book without events "
        f"{result['baseline_ops_per_s']:,} ops/s (ratio {result['ratio_to_baseline']}) "
        f"-> {args.json}"
    )
    return 0
