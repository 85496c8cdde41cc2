"""Re-mark: the vectorised pass equals a from-scratch recomputation; risk cancels."""

from __future__ import annotations

import random

from clearing import remark
from clearing.events import OrderAdmitted, RiskCancel
from clearing.pipeline import Pipeline
from matching.commands import CancelOrder
from tests.clearing.conftest import make_config
from tests.clearing.helpers import index, of, order, trade


def test_vector_remark_matches_recompute() -> None:
    from bench.clearing import build_remark_engine

    eng = build_remark_engine(2_000)
    inst = eng.instruments["X"]
    rng = random.Random(3)
    for i in range(8):
        remark.remark(eng, inst, rng.randint(9_000, 11_000), 10 + i, [])
        eng.validate()


def test_python_fallback_for_huge_values_matches() -> None:
    p = Pipeline.from_config(make_config())
    trade(p, 1, buyer=1, seller=3, qty=10, price=100)
    c = p.clearing
    inst = c.instruments["X"]
    inst.mark = 101
    picked = remark._remark_python(c, inst, 100, 101, 1, inst.ledger.n)
    c.validate()
    assert sorted(picked) == sorted(inst.ledger.slot)


def test_orders_no_longer_covered_are_cancelled_risk_reducing_stay() -> None:
    p = Pipeline.from_config(make_config())
    trade(p, 1, buyer=1, seller=3, qty=400, price=100)  # IM 4,000 of 10,000
    add = of(p.submit(order(2, 1, 1, 500, 99)), OrderAdmitted)[0]  # +5,000: REQ 9,000
    reduce = of(p.submit(order(3, 1, -1, 100, 110)), OrderAdmitted)[0]
    # mark 97: E = 10,000 - 1,200 = 8,800; REQ = IM(900 x 97) + open loss 2 x 500 = 9,730
    out = index(p, 4, 97)
    risk = of(out, RiskCancel)
    assert risk and risk[0].order_ids == (add.order_id,)
    assert [c.order_id for c in of(out, CancelOrder)] == [add.order_id]
    assert reduce.order_id in p.clearing.accounts[1].orders
    p.clearing.validate()
