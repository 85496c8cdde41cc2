"""Random command sequences through the options engine: every cache equals a recompute.

After every command ``validate()`` recomputes equity, option values, standard charges,
portfolio figures and the hold ledger from scratch and compares them with the cached
(incremental and vectorised) figures; at the end a snapshot restores to the same hash.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.commands import (
    CancelRequest,
    IndexPrice,
    IVUpdate,
    OrderRequest,
    SetMarginMode,
)
from clearing.engine import ClearingEngine
from clearing.events import OrderAdmitted
from tests.clearing.helpers import IOC, of
from tests.clearing.test_options_engine import EXP, T0, pipe

SYMS = ["BTC-PERP"] + [f"BTC-25DEC26-{k}-{c}" for k in (54_000, 60_000, 66_000) for c in "CP"]

order = st.tuples(st.just("order"), st.integers(1, 3), st.sampled_from(SYMS),
                  st.sampled_from([1, -1]), st.integers(1, 30), st.integers(-800, 800),
                  st.booleans())  # fmt: skip
index = st.tuples(st.just("index"), st.integers(54_000, 66_000))
iv = st.tuples(st.just("iv"), st.integers(300_000, 1_200_000), st.integers(-200_000, 200_000))
mode = st.tuples(st.just("mode"), st.integers(1, 3), st.sampled_from(["standard", "portfolio"]))
cancel = st.tuples(st.just("cancel"), st.integers(1, 3))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(order, order, order, index, iv, mode, cancel), min_size=5,
                max_size=50))
def test_random_sequences_keep_every_cache_exact(steps: list) -> None:
    p = pipe()
    c = p.clearing
    ts = T0
    for step in steps:
        ts += 1_000_000_000
        kind = step[0]
        if kind == "order":
            _, acct, sym, side, qty, off, ioc = step
            ref = 60_000 if sym == "BTC-PERP" else max(c.instruments[sym].mark or 0, 100)
            price = max(5, (ref + off) // 5 * 5)
            out = p.submit(OrderRequest(ts, acct, sym, side, qty, price,
                                        tif=IOC if ioc else 1))  # fmt: skip
            if of(out, OrderAdmitted):
                assert of(out, OrderAdmitted)[0].hold >= 0
        elif kind == "index":
            p.submit(IndexPrice(ts, "BTC", step[1]))
        elif kind == "iv":
            p.submit(IVUpdate(ts, "BTC", EXP, step[1], step[2], 0))
        elif kind == "mode":
            p.submit(SetMarginMode(ts, step[1], step[2]))
        else:
            acct = c.accounts[step[1]]
            for oid in sorted(acct.orders)[:3]:
                o = acct.orders[oid]
                p.submit(CancelRequest(ts, step[1], o.symbol, oid))
        c.validate()
    again = ClearingEngine.from_state(c.config, c.export_state())
    assert again.state_hash() == c.state_hash()
    again.validate()


def test_a_long_seeded_run_keeps_every_cache_exact() -> None:
    """300 seeded steps; once caught a stale scenario table on a switch to portfolio mode."""
    import random

    rng = random.Random(3)
    p = pipe()
    c = p.clearing
    ts = T0
    for _ in range(300):
        ts += 10**9
        k = rng.random()
        if k < 0.75:
            sym = rng.choice(SYMS)
            ref = 60_000 if sym == "BTC-PERP" else max(c.instruments[sym].mark or 0, 100)
            price = max(5, (ref + rng.randint(-800, 800)) // 5 * 5)
            tif = IOC if rng.random() < 0.5 else 1
            cmd: object = OrderRequest(ts, rng.randint(1, 3), sym, rng.choice([1, -1]),
                                       rng.randint(1, 30), price, tif=tif)  # fmt: skip
        elif k < 0.85:
            cmd = IndexPrice(ts, "BTC", rng.randint(54_000, 66_000))
        elif k < 0.93:
            cmd = IVUpdate(ts, "BTC", EXP, rng.randint(300_000, 1_200_000),
                           rng.randint(-200_000, 200_000), 0)  # fmt: skip
        else:
            cmd = SetMarginMode(ts, rng.randint(1, 3), rng.choice(["standard", "portfolio"]))
        p.submit(cmd)
        c.validate()
    assert ClearingEngine.from_state(c.config, c.export_state()).state_hash() == c.state_hash()
