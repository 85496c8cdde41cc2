"""``crossbook bench matcher``: in-process matcher throughput and per-operation latency.

Two seeded synthetic flows, each generated once (with a generator-side engine to know
which orders are still live):

- ``default``: about 55 % passive adds near a random-walk mid, 35 % cancels of live
  orders and 10 % orders that cross 1-3 levels;
- ``modify``: the same kinds plus amends of live orders, about 20 % of the orders: size
  changes (down keeps queue priority, up loses it) and reprices, some of them through
  the opposite side so that they trade.

Each flow then runs on fresh engines with its full event output:

1. throughput pass (best of ``--repeat``): the commands back to back through
   ``apply_trusted`` (the entry point the exchange core uses: its commands are built
   from validated requests), one clock read at each end; the same through the
   validating ``apply``, and through ``apply_batch`` in batches of ``--batch`` commands
   (the core hands the matcher batches), are reported beside it;
2. baseline pass: the same flow through ``bench.baseline_book`` (a plain SortedDict +
   deque book, no events; it has no amend, so an amend is fed to it as the cancel plus
   new order a client would send instead), interleaved with the throughput passes, for
   a ratio that does not depend on the machine;
3. latency pass (default flow): a clock read around every ``apply_trusted``, recorded
   into an HdrHistogram; ``over_10us`` counts the operations over 10 µs;
4. noise pass: the same loop around a call that does nothing, right after, so that the
   machine's own pauses (``noise.over_10us``: how many empty windows a pause pushed over
   10 µs, and how many per second of window) can be told from the matcher's.

Collector policy (``--gc``), the same for the engine and the baseline: ``freeze`` (the
default) freezes everything built during setup (``gc.freeze``) and turns automatic
collection off for the measured pass, as a server whose hot path makes no cyclic garbage
may; each pass then runs one full collection and the number of unreachable objects it
finds (the garbage the pass would have left to the collector) goes into the JSON as
``gc_unreachable`` (0: nothing was left). ``on`` keeps automatic collection on (after
the same freeze), to see what its pauses cost.

The JSON holds ``ops``, ``ops_per_s``, ``ratio_to_baseline``, ``p50_ns``, ``p99_ns``,
``p999_ns``, ``max_ns`` for the default flow, ``validating`` and ``batch`` (the same
throughput through ``apply`` and ``apply_batch``), ``flows.modify``, the collector policy
and the machine it ran on.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import matching
from matching import (
    BUY,
    SELL,
    AmendOrder,
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
FLOWS = ("default", "modify")
SLOW_NS = 10_000  # the latency target's bound: operations slower than this are counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=1_000_000, help="operations (default 1e6)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--accounts", type=int, default=100, help="distinct accounts (100)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs, best kept (3)")
    parser.add_argument("--batch", type=int, default=100,
                        help="commands per apply_batch call in the batched pass (100)")
    parser.add_argument("--gc", choices=("freeze", "on"), default="freeze",
                        help="collector during measured passes: freeze = gc.freeze after "
                        "setup and automatic collection off (default); on = freeze only")
    parser.add_argument("--flow", choices=(*FLOWS, "all"), default="all",
                        help="also run the modify flow (modify, all: the default) or not "
                        "(default); the default flow always runs and gives the top-level "
                        "keys and the latency pass")  # fmt: skip


def generate_flow(ops: int, seed: int, accounts: int = 100, flow: str = "default") -> list:
    """The seeded command list; deterministic for a given (ops, seed, accounts, flow)."""
    if flow not in FLOWS:
        raise ValueError(f"unknown flow {flow!r}")
    # modify: amends take ~11 % of the ops (~20 % as many as the orders), cancels fewer,
    # so that the book keeps about the depth of the default flow
    cancel_share, amend_share = (0.30, 0.11) if flow == "modify" else (0.35, 0.0)
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
        if r < cancel_share and live:
            oid = live[randint(0, len(live) - 1)]
            cmd = CancelOrder(ts, SYMBOL, oid, engine.orders[oid].account)
        elif r < cancel_share + amend_share and live:
            cmd = _amend(engine, live[randint(0, len(live) - 1)], ts, rand, randint)
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
                if ev.taker_leaves == 0:  # an amended order that crossed and filled
                    forget(ev.taker_order_id)
            elif t is OrderCanceled or t is OrderExpired:
                forget(ev.order_id)
        if type(cmd) is NewOrder and cmd.order_id in engine.orders and cmd.order_id not in where:
            where[cmd.order_id] = len(live)
            live.append(cmd.order_id)
    return commands


def _amend(engine: MatchingEngine, oid: int, ts: int, rand, randint) -> AmendOrder:  # type: ignore[no-untyped-def]
    """An amend of live order ``oid``: a size change or a reprice that may cross."""
    order = engine.orders[oid]
    book = engine.books[SYMBOL]
    acct, price, qty, cum = order.account, order.price, order.qty, order.cum
    r = rand()
    if r < 0.25 and qty - cum > 1:
        return AmendOrder(ts, SYMBOL, oid, acct, qty=randint(cum + 1, qty - 1))  # keeps place
    if r < 0.5:
        return AmendOrder(ts, SYMBOL, oid, acct, qty=qty + randint(1, 50))
    if rand() < 0.3:  # away from the touch
        return AmendOrder(ts, SYMBOL, oid, acct, price=max(1, price - order.side * randint(1, 5)))
    # toward the touch, sometimes through it: the amended order then trades
    opp = book.best_ask if order.side == BUY else book.best_bid
    gap = abs(opp.price - price) if opp is not None else 5
    return AmendOrder(ts, SYMBOL, oid, acct, price=price + order.side * randint(1, gap + 2))


def for_baseline(commands: list) -> list:
    """The flow as the baseline book can take it: an amend becomes a cancel and a new order.

    The baseline has no amend; a client of such a book would cancel and send the order
    again with the new price and the quantity still to fill, at the back of the queue.
    """
    engine = MatchingEngine([INSTRUMENT])
    out: list = []
    for cmd in commands:
        if type(cmd) is AmendOrder:
            o = engine.orders[cmd.order_id]
            price = o.price if cmd.price is None else cmd.price
            qty = (o.qty if cmd.qty is None else cmd.qty) - o.cum
            out.append(CancelOrder(cmd.ts, SYMBOL, cmd.order_id, cmd.account))
            out.append(NewOrder(cmd.ts, SYMBOL, cmd.order_id, cmd.account, o.side, qty, price))
        else:
            out.append(cmd)
        engine.apply_trusted(cmd)
    return out


class _Collector:
    """The harness's collector policy around one measured pass (see the module doc)."""

    automatic = False
    unreachable = 0

    def __enter__(self) -> None:
        gc.collect()
        gc.freeze()
        if not self.automatic:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        gc.enable()
        _Collector.unreachable += gc.collect()
        gc.unfreeze()


def _throughput(commands: list, entry: str = "trusted") -> tuple[float, int, str, int]:
    """One pass through ``apply_trusted``, ``apply`` (validating) or ``apply_batch``.

    For ``batch``, ``commands`` is a list of batches."""
    engine = MatchingEngine([INSTRUMENT])
    events = 0
    with _Collector():
        if entry == "batch":
            apply_batch = engine.apply_batch
            t0 = time.perf_counter_ns()
            for batch in commands:
                events += len(apply_batch(batch))
        else:
            apply = engine.apply_trusted if entry == "trusted" else engine.apply
            t0 = time.perf_counter_ns()
            for cmd in commands:
                events += len(apply(cmd))
        elapsed = time.perf_counter_ns() - t0
    return elapsed / 1e9, events, engine.state_hash(), len(engine.orders)


def _baseline(commands: list) -> float:
    from bench.baseline_book import BaselineBook

    book = BaselineBook()
    apply = book.apply
    with _Collector():
        t0 = time.perf_counter_ns()
        for cmd in commands:
            apply(cmd)
        elapsed = time.perf_counter_ns() - t0
    return elapsed / 1e9


def _latency(commands: list) -> array:
    return _timed(MatchingEngine([INSTRUMENT]).apply_trusted, commands)


def _noop(cmd: object) -> None:
    """The call the noise pass times instead of ``apply_trusted``."""


def _noise(commands: list) -> array:
    """The latency pass's loop around a call that does nothing (same clock, same shape).

    What it records is the clock and call overhead plus the pauses the machine itself
    inflicts (interrupts, the hypervisor), with no matcher work in the window.
    """
    return _timed(_noop, commands)


def _timed(call: Callable[[object], object], commands: list) -> array:
    """Nanoseconds of every ``call(cmd)``, one clock read on each side."""
    clock = time.perf_counter_ns
    samples = array("q", bytes(8 * len(commands)))
    with _Collector():
        for i, cmd in enumerate(commands):
            t0 = clock()
            call(cmd)
            samples[i] = clock() - t0
    return samples


def slow_share(samples: array, limit_ns: int = SLOW_NS) -> dict[str, float | int]:
    """Samples over ``limit_ns``: their count, their share, and how many there were per
    second of timed window (a pause that lands in a window is what makes it slow, so the
    rate per second of window compares windows of different lengths)."""
    over = sum(1 for v in samples if v > limit_ns)
    window_s = sum(samples) / 1e9
    return {
        "over": over,
        "share": round(over / len(samples), 6) if len(samples) else 0.0,
        "per_s_of_window": round(over / window_s, 1) if window_s > 0 else 0.0,
    }


def _mix(commands: list) -> dict[str, int]:
    kinds = {"new_passive": 0, "new_ioc": 0, "cancel": 0, "amend": 0}
    for c in commands:
        t = type(c)
        if t is CancelOrder:
            kinds["cancel"] += 1
        elif t is AmendOrder:
            kinds["amend"] += 1
        elif c.tif == TimeInForce.IOC:
            kinds["new_ioc"] += 1
        else:
            kinds["new_passive"] += 1
    return kinds


def measure_flow(commands: list, baseline_commands: list, repeat: int, batch: int) -> dict:
    """Throughput (trusted, validating, batched) and the baseline, interleaved; best of each."""
    batches = [commands[i : i + batch] for i in range(0, len(commands), batch)]
    runs = [(_throughput(commands), _throughput(commands, "validating"),
             _throughput(batches, "batch"), _baseline(baseline_commands))
            for _ in range(repeat)]  # fmt: skip
    seconds, n_events, state, resting = min((r[0] for r in runs), key=lambda r: r[0])
    checked_seconds = min(r[1][0] for r in runs)
    batch_seconds = min(r[2][0] for r in runs)
    baseline_seconds = min(r[3] for r in runs)
    if any(r[k][2] != state or r[k][1] != n_events for r in runs for k in range(3)):
        raise RuntimeError("the entry points or the runs disagree on the events or the state")
    n = len(commands)
    return {
        "ops": n,
        "mix": _mix(commands),
        "entry": "apply_trusted",
        "events": n_events,
        "seconds": round(seconds, 4),
        "ops_per_s": round(n / seconds),
        "baseline_ops": len(baseline_commands),
        "baseline_ops_per_s": round(n / baseline_seconds),
        "ratio_to_baseline": round(baseline_seconds / seconds, 3),
        "validating": {
            "entry": "apply",
            "seconds": round(checked_seconds, 4),
            "ops_per_s": round(n / checked_seconds),
            "ratio_to_baseline": round(baseline_seconds / checked_seconds, 3),
        },
        "batch": {
            "entry": "apply_batch",
            "size": batch,
            "seconds": round(batch_seconds, 4),
            "ops_per_s": round(n / batch_seconds),
            "ratio_to_baseline": round(baseline_seconds / batch_seconds, 3),
        },
        "state_hash": state,
        "resting_orders_end": resting,
    }


def run(args: argparse.Namespace) -> int:
    from hdrh.histogram import HdrHistogram

    from bench.environment import describe, write_result

    _Collector.automatic = args.gc == "on"
    _Collector.unreachable = 0
    commands = generate_flow(args.ops, args.seed, args.accounts)
    default = measure_flow(commands, commands, args.repeat, args.batch)
    flows = {"default": default}
    if args.flow in ("modify", "all"):
        modify = generate_flow(args.ops, args.seed, args.accounts, flow="modify")
        flows["modify"] = measure_flow(modify, for_baseline(modify), args.repeat, args.batch)
        del modify
    samples = _latency(commands)
    noise = _noise(commands)
    hist = HdrHistogram(1, 10_000_000_000, 3)
    for v in samples:
        hist.record_value(max(1, v))
    result = {
        "harness": "matcher",
        "seed": args.seed,
        **{k: v for k, v in default.items() if k not in ("state_hash", "resting_orders_end")},
        "repeat": args.repeat,
        "p50_ns": hist.get_value_at_percentile(50),
        "p90_ns": hist.get_value_at_percentile(90),
        "p99_ns": hist.get_value_at_percentile(99),
        "p999_ns": hist.get_value_at_percentile(99.9),
        "p9999_ns": hist.get_value_at_percentile(99.99),
        "max_ns": hist.get_max_value(),
        "mean_ns": round(hist.get_mean_value(), 1),
        "over_10us": slow_share(samples),
        "noise": {
            "entry": "a call that does nothing, timed like apply_trusted",
            "p50_ns": sorted(noise)[len(noise) // 2] if len(noise) else 0,
            "over_10us": slow_share(noise),
        },
        "state_hash": default["state_hash"],
        "resting_orders_end": default["resting_orders_end"],
        "flows": {name: f for name, f in flows.items() if name != "default"},
        "gc": args.gc,
        "gc_unreachable": _Collector.unreachable,
        "build": matching.BUILD,
        "environment": describe(),
        "notes": "single thread, in-process, full event output (the event NamedTuples "
        "callers get); throughput and latency through apply_trusted, the validating apply "
        "under 'validating'; latency pass times each call with perf_counter_ns (clock "
        "overhead included); gc frozen after setup, automatic collection "
        + ("on" if args.gc == "on" else "off during measured passes (see gc_unreachable)"),
    }
    write_result(args.json, result)
    print(
        f"matcher ({matching.BUILD}): {result['ops']:,} ops in {result['seconds']:.3f} s = "
        f"{result['ops_per_s']:,} ops/s; "
        f"p50 {result['p50_ns']} ns, p99 {result['p99_ns']} ns, p99.9 {result['p999_ns']} ns, "
        f"max {result['max_ns']} ns, over 10 us {result['over_10us']['share']:.4%} "
        f"(empty timed calls: {result['noise']['over_10us']['share']:.4%}); "
        f"baseline SortedDict+deque book without events "
        f"{result['baseline_ops_per_s']:,} ops/s (ratio {result['ratio_to_baseline']}; "
        f"validating apply {result['validating']['ratio_to_baseline']}, apply_batch "
        f"{result['batch']['ratio_to_baseline']})"
        + "".join(f"; flow {name}: ratio {f['ratio_to_baseline']} (validating "
                  f"{f['validating']['ratio_to_baseline']}, batch "
                  f"{f['batch']['ratio_to_baseline']})"
                  for name, f in result["flows"].items())
        + f" -> {args.json}"
    )
    return 0
