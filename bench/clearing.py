"""``crossbook bench clearing``: pre-trade check latency and the 100k-account re-mark time.

1. Pre-trade: one account holds positions in 20 perpetuals (opened through real trades)
   and places a seeded stream of limit orders across them, each passing the full
   admission (margin with fees, worst side, holds); ``ClearingEngine.apply`` is timed per
   call with ``perf_counter_ns`` into an HdrHistogram (clock overhead included). Every
   command carries a new timestamp, as in service.
2. Re-mark: 100,000 accounts each hold a position (and some a resting order) in one
   instrument; the mark is moved back and forth and each full re-mark (equity, IM, MM,
   requirement of every holder, vectorised, plus the checks) is timed.

3. Portfolio margin (options, issue 10): 100,000 portfolio-mode accounts each hold 10
   options of a 2-expiry x 9-strike BTC chain (random series and sizes) and a
   perpetual. ``pm_remargin_100k_ms``: one ``ClearingEngine.apply(IndexPrice)``: the
   perpetual's re-mark, the chain's Black-76 marks and Greeks, every option row's value,
   every account's scenario vector as one sparse product, IMR/MMR, and the margin-call /
   liquidation checks, with positions unchanged since the previous update (each
   column's long/short split is reused); ``pm_remargin_all_dirty_100k_ms``: the same
   after every column changed (all splits rebuilt: the worst case between two updates);
   ``pm_remargin_kernel_100k_ms``: the scenario tables and a cold
   ``PortfolioCache.remargin_all`` alone, without the engine.
4. Portfolio pre-trade: an account with 20 option positions (opened by real trades)
   places a seeded stream of option limit orders. ``pm_pretrade_p50_ns``: per
   ``ClearingEngine.apply(OrderRequest)``, full admission and bookkeeping;
   ``pm_pretrade_kernel_p50_ns``: ``PortfolioCache.check_resting`` plus the comparison.
5. The exchange core (issue 8): ``clearing.pipeline.Pipeline`` (``Core.batch`` with the
   matcher in process, ``record_outputs`` off) on a seeded flow of one perpetual shaped
   like the embedded default's BTC-PERP (breakers on, maker rebate, taker fee), six
   accounts, in batches of ``CORE_BATCH`` inputs. Requests arrive 50 µs apart (20,000/s):
   80 % new GTC limit orders priced near the fair price (from 2 ticks through to 4 ticks
   behind it, so about half of them trade), 20 % cancels of the account's oldest order by
   client order id (some already filled: refused), a ``Tick`` every 2,000 requests (100 ms)
   and an ``IndexPrice`` following the fair price every 20,000 (1 s). Each run starts
   from a fresh core, plays ``CORE_WARMUP`` requests untimed, then times the batches of
   ``--core-requests`` requests. ``core_us_per_order``: the median run's CPU time (this
   thread's, so time the shared machine gave to others is left out) per request (new order
   or cancel); ``core_orders_per_s`` its inverse; ``core_wall_us_per_order`` the same in
   wall time; ``core_stage_share``: one
   further run with the stages timed (pre-trade = ``ClearingEngine.apply`` of the
   requests, matcher, settlement = ``ClearingEngine.apply(MatcherEvents)``, timers =
   ``Tick`` and ``IndexPrice``, core = the rest: dispatch, reports, routing), shares of
   that run's time (the timers add a little overhead of their own).

The JSON holds ``pretrade_p50_ns``, ``pretrade_p99_ns``, ``remark_100k_ms`` (median of
the runs), the ``pm_*`` keys above, the ``core_*`` keys and details, with the machine it
ran on. ``--parts`` runs a subset (e.g. ``--parts pretrade,core``).
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
PARTS = ("pretrade", "remark", "pm", "core")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--checks", type=int, default=100_000, help="pre-trade checks (1e5)")
    parser.add_argument("--accounts", type=int, default=100_000, help="re-mark accounts (1e5)")
    parser.add_argument("--remarks", type=int, default=21, help="re-mark runs (21)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--pm-accounts", type=int, default=100_000,
                        help="portfolio re-margin accounts (1e5)")
    parser.add_argument("--pm-runs", type=int, default=11, help="portfolio re-margin runs (11)")
    parser.add_argument("--core-requests", type=int, default=20_000,
                        help="timed requests per core run (2e4)")
    parser.add_argument("--core-runs", type=int, default=7, help="core runs (7)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)} (all)")


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


def _chain_tables(index: float, expiries: tuple[float, ...] = (7 / 365, 35 / 365)) -> tuple:
    """The 2 x 9 x C/P BTC chain plus one perpetual (last column) at ``index``."""
    from clearing.options.portfolio import make_tables
    from clearing.options.scenarios import ScanParams

    strikes = [48_000.0 + 3_000.0 * i for i in range(9)]
    series = [(T, K, c) for T in expiries for K in strikes for c in (True, False)]
    n = len(series) + 1
    params = ScanParams()
    tables = make_tables(
        params, F=[index] * n, K=[K for _, K, _ in series] + [1.0],
        T=[T for T, _, _ in series] + [0.0], sigma=[0.6] * n,
        is_call=[c for *_, c in series] + [False], linear=[False] * len(series) + [True],
        mult=[10_000] * len(series) + [1_000], under=[0] * n, n_under=1)  # fmt: skip
    return params, tables, n


def _ledgers_from(columns: list[tuple[list[int], list[int]]]) -> list:
    """Ledgers (one per column) holding the given (slots, sizes), built in bulk."""
    from array import array

    from clearing.positions import COLUMNS, Ledger

    out = []
    for slots, sizes in columns:
        L = Ledger()
        n = len(slots)
        for name in COLUMNS:
            setattr(L, name, array("q", bytes(8 * n)))
        L.slot = array("q", slots)  # type: ignore[attr-defined]
        L.size = array("q", sizes)  # type: ignore[attr-defined]
        L.n = n
        L.row_of = dict(zip(slots, range(n)))
        out.append(L)
    return out


def _pm_remargin(accounts: int, runs: int, seed: int) -> list[float]:
    import numpy as np

    from clearing.options.portfolio import PortfolioCache

    params, _, n = _chain_tables(60_000.0)
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((accounts, n - 1)), axis=1)[:, :10]
    sizes = rng.integers(-50, 51, (accounts, 10))
    sizes[sizes == 0] = 1
    cols = []
    for j in range(n - 1):
        hit = picks == j
        cols.append((np.flatnonzero(hit.any(axis=1)).tolist(), sizes[hit].tolist()))
    perp = rng.integers(-100, 101, accounts)
    perp[perp == 0] = 1
    cols.append((list(range(accounts)), perp.tolist()))
    cache = PortfolioCache(params, _ledgers_from(cols), 1)
    times = []
    gc.collect()
    gc.freeze()
    for i in range(runs):
        index = 60_000.0 + (50.0 if i % 2 else -50.0)
        cache.dirty.update(range(n))  # cold: every column split again
        t0 = time.perf_counter_ns()
        _, tables, _ = _chain_tables(index)
        cache.remargin_all(tables, accounts)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    gc.unfreeze()
    assert int(cache.im[:accounts].min()) > 0
    return times


def _pm_pretrade(checks: int, seed: int) -> tuple[list[int], int]:
    from clearing.options.portfolio import PortfolioCache

    params, tables, n = _chain_tables(60_000.0)
    rng = random.Random(seed)
    held = rng.sample(range(n - 1), 20)
    cols = [([0], [rng.choice((-1, 1)) * rng.randint(1, 50)]) if j in held else ([], [])
            for j in range(n)]  # fmt: skip
    ledgers = _ledgers_from(cols)
    cache = PortfolioCache(params, ledgers, 1)
    cache.remargin_all(tables, 1)
    equity = int(cache.req[0]) * 3
    cmds = []
    for _ in range(checks):
        col = held[rng.randrange(20)]
        side = rng.choice((-1, 1))
        price = max(1, tables.lol[col] // tables.ml[col] - side * rng.randint(1, 200))
        cmds.append((col, side, rng.randint(1, 20), price))
    samples = [0] * checks
    clock = time.perf_counter_ns
    resting, fill = cache.check_resting, cache.check_fill
    admitted = 0
    gc.collect()
    gc.freeze()
    for i, (col, side, qty, price) in enumerate(cmds):
        t0 = clock()
        L = ledgers[col]
        r = L.row_of[0]
        req, loss = resting(0, col, side, qty, price, 0, L.bq[r], L.bv[r], L.bf[r], L.sq[r],
                            L.sv[r], L.sf[r])  # fmt: skip
        ok = equity >= req or equity - loss >= fill(0, col, side, qty, L.size[r])[0]
        samples[i] = clock() - t0
        admitted += ok
    gc.unfreeze()
    return samples, admitted


def _options_config(accounts: int, mode: str) -> object:
    from clearing.options.series import expiry_ts_of

    return parse_config({
        "assets": {"USD": {"decimals": 6}},
        "indices": {"BTC": 60_000},
        "instruments": {"BTC-PERP": {
            "kind": "perpetual", "index": "BTC", "contract_size": "0.001", "imf_ppm": 100_000,
            "mmf_ppm": 50_000, "max_qty": 10**9, "mark_band_ppm": 0,
            "taker_fee_ppm": 500}},
        "options": {"BTC": {
            "index": "BTC", "expiries": [expiry_ts_of(2026, 12, 4), expiry_ts_of(2027, 1, 1)],
            "strikes": [48_000 + 3_000 * i for i in range(9)], "contract_size": "0.01",
            "tick_size": 5, "max_qty": 10**9, "taker_fee_ppm": 300}},
        "portfolio": {"default_mode": mode},
        "accounts": [{"id": a, "deposits": {"USD": 10**13}} for a in range(1, accounts + 1)],
    })  # fmt: skip


NOW = 1_795_593_600_000_000_000  # 2026-11-25 08:00 UTC: 9 and 37 days to the expiries


def _pm_pretrade_engine(checks: int, seed: int) -> tuple[list[int], int]:
    """``ClearingEngine.apply(OrderRequest)`` for a portfolio account with 20 options."""
    from clearing.commands import IVUpdate
    from matching.enums import TimeInForce

    p = Pipeline.from_config(_options_config(2, "portfolio"))
    eng = p.clearing
    book = eng.options.books["BTC"]
    for e in book.chain.expiries:
        p.submit(IVUpdate(NOW, "BTC", e, 600_000))
    rng = random.Random(seed)
    held = rng.sample([i.symbol for i in book.series], 20)
    for k, sym in enumerate(held):  # 20 option positions through real trades
        side = rng.choice((-1, 1))
        price = max(5, (eng.instruments[sym].mark or 5) // 5 * 5)
        p.submit(OrderRequest(NOW + k, 2, sym, -side, 10, price))
        p.submit(OrderRequest(NOW + k, 1, sym, side, 10, price, tif=int(TimeInForce.IOC)))
    assert sum(1 for s in held if eng.position(1, s)[0]) == 20
    cmds = []
    ts = NOW + 1_000
    for _ in range(checks):
        ts += 1_000
        sym = held[rng.randrange(20)]
        side = rng.choice((-1, 1))
        mark = eng.instruments[sym].mark or 100
        price = max(5, (mark - side * rng.randint(20, 400)) // 5 * 5)
        cmds.append(OrderRequest(ts, 1, sym, side, rng.randint(1, 5), price))
    samples = [0] * checks
    apply, clock = eng.apply, time.perf_counter_ns
    admitted = 0
    gc.collect()
    gc.freeze()
    for i, cmd in enumerate(cmds):
        t0 = clock()
        out = apply(cmd)
        samples[i] = clock() - t0
        admitted += len(out) == 2
    gc.unfreeze()
    eng.validate()
    return samples, admitted


def build_pm_engine(accounts: int, seed: int) -> ClearingEngine:
    """``accounts`` portfolio accounts, each with 10 options of the chain and a perpetual.

    Positions are written straight into the ledgers (paired long/short so open interest
    balances), then every cache is computed from scratch (``clearing.export.recompute``).
    """
    import numpy as np

    from clearing.export import recompute
    from clearing.positions import Position

    eng = ClearingEngine(_options_config(0, "portfolio"))
    from clearing.commands import IVUpdate

    book = eng.options.books["BTC"]
    for e in book.chain.expiries:
        eng.apply(IVUpdate(NOW, "BTC", e, 600_000))
    rng = np.random.default_rng(seed)
    for aid in range(1, accounts + 1):
        acct = eng.open(aid)
        eng.add_cash(acct, 10**13)
        eng.deposits["USD"] += 10**13
    cols = [*book.series, eng.instruments["BTC-PERP"]]
    picks = np.argsort(rng.random((accounts, len(book.series))), axis=1)[:, :10]
    sizes = rng.integers(1, 51, (accounts, 10)) * np.where(np.arange(accounts) % 2, -1, 1)[:, None]
    for j, inst in enumerate(cols):
        if inst is cols[-1]:
            slots = np.arange(accounts)
            size = rng.integers(1, 101, accounts) * np.where(slots % 2, 1, -1)
        else:
            hit = picks == j
            slots = np.flatnonzero(hit.any(axis=1))
            size = sizes[hit]
        L = inst.ledger
        price = inst.mark or 1
        for slot, q in zip(slots.tolist(), size.tolist()):
            r = L.row(slot)
            L.size[r] = q
            L.cost[r] = q * price * inst.mult
            eng.by_slot[slot].positions[inst.symbol] = Position(r)
    recompute(eng, write=True)
    eng.options.revalue(NOW, None)
    eng.validate()
    return eng


def _pm_remargin_engine(accounts: int, runs: int, seed: int) -> tuple[list[float], list[float]]:
    """One ``IndexPrice`` through the engine: perpetual re-mark, chain re-mark, re-margin.

    Returns the times with unchanged positions since the previous update (each column's
    long/short split reused) and with every column changed (every split rebuilt).
    """
    from clearing.commands import IndexPrice

    eng = build_pm_engine(accounts, seed)
    cache = eng.options.cache
    clean, dirty = [], []
    gc.collect()
    gc.freeze()
    for i in range(2 * runs):
        cmd = IndexPrice(NOW + 1 + i, "BTC", 60_000 + (30 if i % 2 else -30))
        if i % 2:
            cache.dirty.update(range(len(cache.columns)))
        t0 = time.perf_counter_ns()
        eng.apply(cmd)
        (dirty if i % 2 else clean).append((time.perf_counter_ns() - t0) / 1e6)
    gc.unfreeze()
    eng.validate()
    return clean, dirty


# -- 5. the exchange core ---------------------------------------------------------------

CORE_BATCH = 100
CORE_WARMUP = 2_000
CORE_SYMBOL = "BTC-PERP"
CORE_ACCOUNTS = (1, 2, 3, 4, 5, 6)
CORE_WORKING = 8
"""An account with more working orders than this cancels its farthest from the fair price."""
_CORE_TICK = 5
_CORE_T0 = 1_000_000_000_000


def core_config() -> object:
    """One perpetual as the embedded default's BTC-PERP, six funded accounts."""
    return parse_config({
        "clearing": {"settlement_asset": "USD", "insurance_fund": 1_000_000_000_000},
        "assets": {"USD": {"decimals": 6}},
        "indices": {"BTC": 600_000},
        "instruments": {CORE_SYMBOL: {
            "kind": "perpetual", "index": "BTC", "price_decimals": 1, "tick_size": _CORE_TICK,
            "qty_decimals": 3, "contract_size": "0.001", "max_qty": 1_000_000,
            "maker_fee_ppm": -100, "taker_fee_ppm": 500,
            "margin_tiers": [{"up_to": 10**12, "imf_ppm": 100_000, "mmf_ppm": 50_000},
                             {"imf_ppm": 200_000, "mmf_ppm": 100_000}],
            "breakers": {"static_band_ppm": 50_000}}},
        "accounts": [{"id": a, "deposits": {"USD": 10**12}} for a in CORE_ACCOUNTS],
    })  # fmt: skip


def core_flow(requests: int, seed: int, batch: int = CORE_BATCH) -> list[list]:
    """The seeded core flow (module docstring, 5.) as batches of ``batch`` inputs.

    The flow is written batch by batch against a core that runs it (as a client sees
    the acknowledgements of the previous batch): cancels name a working order of the
    account as of the last batch, so a few of them race a fill and are refused.
    """
    from clearing.commands import IndexPrice, Tick
    from clearing.core.inputs import CancelOrderRequest, PlaceOrder

    rng = random.Random(seed)
    p = core_pipeline()
    accounts = p.clearing.accounts
    fair = 600_000
    ts = _CORE_T0
    batches: list[list] = []
    inputs: list = []
    asked: set[int] = set()  # orders whose cancel this batch already carries
    for i in range(requests):
        ts += 50_000
        if i % 200 == 199:
            fair += _CORE_TICK * rng.choice((-1, 1))
        if i and i % 2_000 == 0:
            inputs.append(Tick(ts))
        if i % 20_000 == 10_000:
            inputs.append(IndexPrice(ts, "BTC", fair))
        a = CORE_ACCOUNTS[rng.randrange(len(CORE_ACCOUNTS))]
        mine = [o for o in accounts[a].orders.values() if o.order_id not in asked]
        if mine and (len(mine) > CORE_WORKING or rng.random() < 0.1):
            far = max(mine, key=lambda o: (abs(o.price - fair), -o.order_id))
            asked.add(far.order_id)
            inputs.append(CancelOrderRequest(ts, 1, a, i, a, CORE_SYMBOL, far.order_id, None))
        else:
            side = 1 if rng.random() < 0.5 else -1
            price = fair - side * rng.randint(-3, 3) * _CORE_TICK
            inputs.append(PlaceOrder(ts, 1, a, i, a, CORE_SYMBOL, side, rng.randint(1, 5),
                                     price, 2, 1, f"o{i}", False, False, 0, 0))  # fmt: skip
        if len(inputs) >= batch:
            p.run(inputs)
            batches.append(inputs)
            inputs, asked = [], set()
    if inputs:
        batches.append(inputs)
    return batches


def core_pipeline() -> Pipeline:
    p = Pipeline.from_config(core_config())  # type: ignore[arg-type]
    p.core.record_outputs = False
    return p


def _core_once(warm: list[list], timed: list[list]) -> tuple[int, int, Pipeline]:
    """``(cpu_ns, wall_ns, pipeline)`` of one run: this thread's CPU time and wall time."""
    p = core_pipeline()
    run = p.run
    for b in warm:
        run(b)
    p.matcher_events.clear()
    gc.collect()
    clock, cpu = time.perf_counter_ns, time.thread_time_ns
    t0, c0 = clock(), cpu()
    for b in timed:
        run(b)
        p.matcher_events.clear()  # the in-process driver's log: not the core's cost
    return cpu() - c0, clock() - t0, p


def _core_stages(warm: list[list], timed: list[list]) -> dict[str, object]:
    """One run with the stages timed (wrappers on the engine's and matcher's ``apply``)."""
    from clearing.commands import MatcherEvents, OrderRequest

    p = core_pipeline()
    for b in warm:
        p.run(b)
    clock = time.perf_counter_ns
    spent = {"pretrade": 0, "matcher": 0, "settlement": 0, "timers": 0}
    eng, matcher = p.clearing, p.matcher
    eng_apply, m_apply = eng.apply, matcher.apply

    def timed_eng(cmd: object, *, refresh: bool = True) -> list:
        t0 = clock()
        out = eng_apply(cmd, refresh=refresh)
        t = type(cmd)
        key = ("settlement" if t is MatcherEvents else "pretrade" if t is OrderRequest
               or t.__name__.endswith("Request") else "timers")  # fmt: skip
        spent[key] += clock() - t0
        return out

    def timed_matcher(cmd: object) -> list:
        t0 = clock()
        out = m_apply(cmd)
        spent["matcher"] += clock() - t0
        return out

    eng.apply = timed_eng  # type: ignore[method-assign]
    matcher.apply = timed_matcher  # type: ignore[method-assign]
    from matching.events import Fill

    fills = events = 0
    takers: set[int] = set()
    gc.collect()
    total = 0
    for b in timed:
        t0 = clock()
        p.run(b)
        total += clock() - t0
        events += len(p.matcher_events)
        for e in p.matcher_events:
            if type(e) is Fill:
                fills += 1
                takers.add(e.taker_order_id)
        p.matcher_events.clear()
    del eng.apply, matcher.apply
    shares = {k: round(v / total, 3) for k, v in spent.items()}
    shares["core"] = round(1 - sum(shares.values()), 3)
    orders = sum(1 for b in timed for i in b if type(i).__name__ == "PlaceOrder")
    return {"core_stage_share": shares, "core_fills": fills, "core_matcher_events": events,
            "core_new_orders": orders,
            "core_orders_trading": round(len(takers) / orders, 3)}


def _core(requests: int, runs: int, seed: int) -> dict:
    batches = core_flow(CORE_WARMUP + requests, seed)
    warm = batches[: CORE_WARMUP // CORE_BATCH]
    timed = batches[CORE_WARMUP // CORE_BATCH:]
    from clearing.core.inputs import CancelOrderRequest, PlaceOrder

    n = sum(1 for b in timed for i in b if type(i) is PlaceOrder or type(i) is CancelOrderRequest)
    times, walls = [], []
    p = None
    for _ in range(runs):
        ns, wall, p = _core_once(warm, timed)
        times.append(ns / n / 1000)
        walls.append(wall / n / 1000)
    assert p is not None
    eng = p.clearing
    eng.validate()
    us = statistics.median(times)
    return {
        "core_us_per_order": round(us, 2),
        "core_orders_per_s": round(1e6 / us),
        "core_runs_us": [round(t, 2) for t in times],
        "core_wall_us_per_order": round(statistics.median(walls), 2),
        "core_wall_runs_us": [round(t, 2) for t in walls],
        "core_requests": n,
        "core_batch": CORE_BATCH,
        "core_accounts": len(CORE_ACCOUNTS),
        "core_state_hash": eng.state_hash(),
        **_core_stages(warm, timed),
    }


def run(args: argparse.Namespace) -> int:
    from hdrh.histogram import HdrHistogram

    from bench.environment import describe, write_result

    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown --parts {sorted(unknown)}: choose from {', '.join(PARTS)}")
    result: dict = {"harness": "clearing", "parts": [x for x in PARTS if x in parts]}
    said = []
    if "pretrade" in parts:
        samples, admitted = _pretrade(args.checks, args.seed)
        hist = HdrHistogram(1, 10_000_000_000, 3)
        for v in samples:
            hist.record_value(max(1, v))
        result.update({
            "pretrade_checks": len(samples),
            "pretrade_admitted": admitted,
            "pretrade_positions": POSITIONS,
            "pretrade_p50_ns": hist.get_value_at_percentile(50),
            "pretrade_p90_ns": hist.get_value_at_percentile(90),
            "pretrade_p99_ns": hist.get_value_at_percentile(99),
            "pretrade_p999_ns": hist.get_value_at_percentile(99.9),
            "pretrade_max_ns": hist.get_max_value(),
        })  # fmt: skip
        said.append(f"pre-trade p50 {result['pretrade_p50_ns']} ns, p99 "
                    f"{result['pretrade_p99_ns']} ns ({admitted}/{len(samples)} admitted)")
    if "remark" in parts:
        times = _remark(args.accounts, args.remarks)
        result.update({
            "remark_accounts": args.accounts,
            "remark_runs_ms": [round(t, 3) for t in times],
            "remark_100k_ms": round(statistics.median(times), 3),
            "remark_min_ms": round(min(times), 3),
        })  # fmt: skip
        said.append(f"re-mark {args.accounts:,} accounts median {result['remark_100k_ms']} ms")
    if "pm" in parts:
        pm_times, pm_dirty_times = _pm_remargin_engine(args.pm_accounts, args.pm_runs,
                                                       args.seed)  # fmt: skip
        pm_kernel_times = _pm_remargin(args.pm_accounts, args.pm_runs, args.seed)
        pm_samples, pm_admitted = _pm_pretrade_engine(args.checks, args.seed)
        pm_kernel_samples, _ = _pm_pretrade(args.checks, args.seed)
        pm_hist = HdrHistogram(1, 10_000_000_000, 3)
        for v in pm_samples:
            pm_hist.record_value(max(1, v))
        pm_kernel_hist = HdrHistogram(1, 10_000_000_000, 3)
        for v in pm_kernel_samples:
            pm_kernel_hist.record_value(max(1, v))
        result.update({
            "pm_remargin_accounts": args.pm_accounts,
            "pm_remargin_positions_per_account": "10 options + 1 perpetual",
            "pm_remargin_runs_ms": [round(t, 3) for t in pm_times],
            "pm_remargin_100k_ms": round(statistics.median(pm_times), 3),
            "pm_remargin_min_ms": round(min(pm_times), 3),
            "pm_remargin_all_dirty_runs_ms": [round(t, 3) for t in pm_dirty_times],
            "pm_remargin_all_dirty_100k_ms": round(statistics.median(pm_dirty_times), 3),
            "pm_remargin_kernel_runs_ms": [round(t, 3) for t in pm_kernel_times],
            "pm_remargin_kernel_100k_ms": round(statistics.median(pm_kernel_times), 3),
            "pm_pretrade_checks": len(pm_samples),
            "pm_pretrade_admitted": pm_admitted,
            "pm_pretrade_positions": 20,
            "pm_pretrade_p50_ns": pm_hist.get_value_at_percentile(50),
            "pm_pretrade_p90_ns": pm_hist.get_value_at_percentile(90),
            "pm_pretrade_p99_ns": pm_hist.get_value_at_percentile(99),
            "pm_pretrade_max_ns": pm_hist.get_max_value(),
            "pm_pretrade_kernel_p50_ns": pm_kernel_hist.get_value_at_percentile(50),
            "pm_pretrade_kernel_p99_ns": pm_kernel_hist.get_value_at_percentile(99),
        })  # fmt: skip
        said.append(f"portfolio re-margin {args.pm_accounts:,} accounts median "
                    f"{result['pm_remargin_100k_ms']} ms, pre-trade p50 "
                    f"{result['pm_pretrade_p50_ns']} ns")  # fmt: skip
    if "core" in parts:
        result.update(_core(args.core_requests, args.core_runs, args.seed))
        said.append(f"core {result['core_us_per_order']} us/order "
                    f"({result['core_orders_per_s']:,}/s, median of {args.core_runs} runs)")
    result["environment"] = describe()
    result["notes"] = (
        "single thread, in-process; pre-trade = ClearingEngine.apply(OrderRequest) "
        "for an account with 20 positions, clock overhead included; re-mark = one "
        "vectorised mark change over all holders incl. margin-call/liquidation/risk checks; "
        "pm_remargin = ClearingEngine.apply(IndexPrice) over 100k portfolio accounts with 10 "
        "options + 1 perpetual each (36-series chain); pm_remargin_kernel = scenario tables "
        "+ PortfolioCache.remargin_all only; pm_pretrade = ClearingEngine.apply(OrderRequest) "
        "for a portfolio account with 20 option positions; pm_pretrade_kernel = "
        "PortfolioCache.check_resting + the comparison; core = Pipeline.run over batches of "
        "100 inputs (one perpetual, six accounts, 80 % new orders near the touch, 20 % "
        "cancels), time per request, median of the runs"
    )
    write_result(args.json, result)
    print(f"clearing: {'; '.join(said)} -> {args.json}")
    return 0
