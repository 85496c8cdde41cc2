"""Dated futures: settlement at the TWAP of the index over the window, then closed."""

from __future__ import annotations

from clearing.commands import IndexPrice, Tick
from clearing.events import FutureSettled, PreTradeRejected
from clearing.pipeline import Pipeline
from matching.commands import Halt
from matching.reasons import Reason
from tests.clearing.conftest import make_config
from tests.clearing.helpers import of, order, trade

FUT = {"F": {"kind": "future", "index": "X", "contract_size": "0.000001", "imf_ppm": 100_000,
             "mmf_ppm": 50_000, "expiry_ts": 1_000, "settlement_window_ns": 100,
             "mark_band_ppm": 0}}  # fmt: skip


def test_settles_at_index_twap_and_closes_positions() -> None:
    p = Pipeline.from_config(make_config(instruments_add=FUT))
    trade(p, 1, buyer=1, seller=3, qty=100, price=100, symbol="F")
    p.submit(order(2, 2, 1, 5, 99, symbol="F"))  # a resting order to be cancelled
    p.submit(IndexPrice(950, "X", 110))  # 100 held 900..950, 110 held 950..1000
    out = p.submit(Tick(1_200))
    settled = of(out, FutureSettled)[0]
    assert (settled.price, settled.positions) == (105, 2)
    assert of(out, Halt)
    c = p.clearing
    assert c.position(1, "F") == (0, 0) and c.position(3, "F") == (0, 0)
    assert c.accounts[1].balances["USD"] == 10_000 + 100 * 5
    assert c.accounts[1].positions["F"].realized_pnl == 500
    rej = of(p.submit(order(1_300, 1, 1, 1, 105, symbol="F")), PreTradeRejected)[0]
    assert rej.reason == Reason.INSTRUMENT_EXPIRED
    assert c.accounts[2].held == 0
    c.validate()
