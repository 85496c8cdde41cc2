"""Mark price: median of three with the basis EMA, clamp to the index band, halts, TWAP."""

from __future__ import annotations

from clearing.commands import IndexPrice, MarketHalt
from clearing.events import MarkChanged
from clearing.marks import MarkState, clamp_to_band, index_mark, record_mid, twap, update_basis
from clearing.pipeline import Pipeline
from tests.clearing.conftest import make_config
from tests.clearing.helpers import of, order

S = 1_000_000_000


def test_median_of_three_worked() -> None:
    # index 100, basis +2 -> 102; book median(bid 101, ask 105, last 104) = 104 -> 102
    assert index_mark(100, 2, 101, 105, 104, 50_000) == 102
    # missing basis: median(100, 104) = 102 (floor of the mean)
    assert index_mark(100, None, 101, 105, 104, 50_000) == 102
    # only the index: the index
    assert index_mark(100, None, None, None, None, 50_000) == 100


def test_clamp_to_band_worked() -> None:
    # band 5 % around 1,000: [950, 1,050]
    assert clamp_to_band(1_200, 1_000, 50_000) == 1_050
    assert clamp_to_band(10, 1_000, 50_000) == 950
    assert clamp_to_band(1_001, 1_000, 50_000) == 1_001
    # edges round inwards: 101 x 0.95 = 95.95 -> 96; 101 x 1.05 = 106.05 -> 106
    assert clamp_to_band(0, 101, 50_000) == 96 and clamp_to_band(999, 101, 50_000) == 106
    assert index_mark(1_000, 500, 1_600, 1_700, 1_650, 50_000) == 1_050


def test_basis_ema_is_time_weighted() -> None:
    ms = MarkState()
    update_basis(ms, 0, 100, 110, 60 * S)  # first sample: ema = 10
    assert ms.basis_ema == 10
    update_basis(ms, 30 * S, 100, 100, 60 * S)  # 10 held for 30 s of a 60 s window
    assert ms.basis_ema == 10
    update_basis(ms, 60 * S, 100, 100, 60 * S)  # then 0 held for 30 s: 10 + (0-10)/2
    assert ms.basis_ema == 5


def test_twap_of_mid() -> None:
    ms = MarkState()
    record_mid(ms, 0, 100, 100)
    record_mid(ms, 50, 200, 100)
    assert twap(ms.mids, 100, 100) == 150
    assert twap(ms.mids, 150, 100) == 200  # the 100 fell out of the window


def test_halted_mark_follows_index_and_no_index_instrument_uses_twap() -> None:
    extra = {"Y": {"kind": "perpetual", "contract_size": "0.000001", "imf_ppm": 100_000,
                   "mmf_ppm": 50_000, "reference_price": 50, "twap_window_ns": 100}}  # fmt: skip
    p = Pipeline.from_config(make_config(X={"mark_band_ppm": 100_000}, instruments_add=extra))
    c = p.clearing
    assert c.instruments["Y"].mark == 50  # reference price until there is a mid
    p.submit(order(1, 3, 1, 10, 60, symbol="Y"))
    p.submit(order(1, 3, -1, 10, 70, symbol="Y"))
    p.submit(IndexPrice(201, "X", 100))
    assert c.instruments["Y"].mark == 65
    p.submit(order(202, 1, 1, 10, 105))
    p.submit(order(202, 2, -1, 10, 109))  # mid 107 pulls the mark above the index
    out = p.submit(IndexPrice(203, "X", 100))
    assert c.instruments["X"].mark > 100
    p.submit(MarketHalt(204))
    out = p.submit(IndexPrice(205, "X", 101))
    assert [m.mark for m in of(out, MarkChanged) if m.instrument == "X"] == [101]
