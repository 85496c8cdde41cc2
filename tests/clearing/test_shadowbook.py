"""Shadow book: best prices follow level events; impact prices walk the depth."""

from __future__ import annotations

from clearing.shadowbook import ShadowBook


def test_best_prices_and_impact() -> None:
    b = ShadowBook()
    b.set_level(1, 99, 10)
    b.set_level(1, 100, 5)
    b.set_level(-1, 102, 4)
    b.set_level(-1, 101, 0)  # removing an absent level is harmless
    assert (b.best_bid, b.best_ask, b.mid()) == (100, 102, 101)
    # sell 800 of notional (m 1) into the bids: 5 @ 100 = 500, then 3 @ 99 = 297 (+1 lot)
    assert b.impact_price(1, 800, 1) == (5 * 100 + 4 * 99) // 9
    assert b.impact_price(-1, 1_000, 1) is None  # not deep enough
    b.set_level(1, 100, 0)
    assert b.best_bid == 99
    assert b.liquidity(1, 99) == 10 and b.liquidity(-1, 101) == 0
    assert ShadowBook.restore(b.export()).export() == b.export()
