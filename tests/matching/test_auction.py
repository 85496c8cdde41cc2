"""The call auction: ``matching.auction.uncross_price`` tie-breaks, and the engine's
OpenAuction -> Resume uncross.

Tie-break rules, in order: maximum executable volume; minimum imbalance; if every tied
price has its surplus on one side, the highest (buy surplus) or lowest (sell surplus);
otherwise the price nearest the reference (the lowest with no reference). Candidates are
limit prices, the reference and the band edges, in the band; since the reference is a
candidate, a reference inside the tied range is itself the price.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import (
    AuctionUncrossed,
    CommandRejected,
    Fill,
    InstrumentStatus,
    MatchingEngine,
    OpenAuction,
    Reason,
    Resume,
    SetBand,
    TimeInForce,
)
from matching.auction import uncross_price
from tests.matching.helpers import buy, fills, frozen_state, ids, kinds, of, run, sell
from tests.matching.reference_book import reference_uncross

# -- the pure function -------------------------------------------------------------------


def test_nothing_to_uncross() -> None:
    assert uncross_price([], [(100, 5)]) is None
    assert uncross_price([(100, 5)], []) is None
    assert uncross_price([(99, 5)], [(100, 5)]) is None  # not crossed


def test_maximum_volume_wins() -> None:
    # at 101: demand 10, supply 10; at 100 supply is only 4, at 102 demand is only 6
    bids = [(102, 6), (101, 4)]
    asks = [(100, 4), (101, 6)]
    assert uncross_price(bids, asks) == (101, 10)


def test_minimum_imbalance_breaks_a_volume_tie() -> None:
    # volume 5 at both 100 and 101; imbalance |8-5| = 3 at 100, |5-5| = 0 at 101
    bids = [(101, 5), (100, 3)]
    asks = [(99, 5), (101, 2)]
    assert uncross_price(bids, asks) == (101, 5)


def test_buy_surplus_everywhere_takes_the_highest() -> None:
    # volume 5 at 100..102 (candidates 100, 102), surplus +3 at both
    bids = [(102, 8)]
    asks = [(100, 5)]
    assert uncross_price(bids, asks, reference=100) == (102, 5)


def test_sell_surplus_everywhere_takes_the_lowest() -> None:
    bids = [(102, 5)]
    asks = [(100, 8)]
    assert uncross_price(bids, asks, reference=102) == (100, 5)


def test_balanced_tie_goes_to_the_reference_or_the_price_nearest_it() -> None:
    bids = [(110, 5)]
    asks = [(100, 5)]
    # every price 100..110 trades 5 with no imbalance: the reference itself is a candidate
    assert uncross_price(bids, asks, reference=108) == (108, 5)
    assert uncross_price(bids, asks, reference=101) == (101, 5)
    # outside that range it trades nothing, so the nearest limit wins
    assert uncross_price(bids, asks, reference=500) == (110, 5)
    assert uncross_price(bids, asks, reference=-3) == (100, 5)
    # no reference: the lowest tied price
    assert uncross_price(bids, asks) == (100, 5)


def test_mixed_surplus_signs_fall_through_to_the_reference() -> None:
    # at 100: demand 10, supply 5 (+5); at 105: demand 5, supply 10 (-5); both volume 5
    bids = [(105, 5), (100, 5)]
    asks = [(100, 5), (105, 5)]
    assert uncross_price(bids, asks, reference=120) == (105, 5)
    assert uncross_price(bids, asks, reference=90) == (100, 5)
    assert uncross_price(bids, asks) == (100, 5)


def test_a_reference_between_limits_can_beat_them_on_imbalance() -> None:
    """Between 100 and 105 demand and supply are both 5: a reference there is balanced."""
    bids = [(105, 5), (100, 5)]
    asks = [(100, 5), (105, 5)]
    assert uncross_price(bids, asks, reference=103) == (103, 5)


def test_levels_at_the_same_price_are_added_up() -> None:
    assert uncross_price([(101, 2), (101, 3)], [(100, 5)]) == uncross_price([(101, 5)], [(100, 5)])


def test_band_limits_the_candidates() -> None:
    bids = [(110, 5)]
    asks = [(100, 5)]
    assert uncross_price(bids, asks, reference=None, low=103, high=107) == (103, 5)
    assert uncross_price(bids, asks, reference=200, low=103, high=107) == (107, 5)
    assert uncross_price(bids, asks, reference=105, low=103, high=107) == (105, 5)
    assert uncross_price(bids, asks, low=111) is None
    assert uncross_price(bids, asks, high=99) is None


LEVELS = st.lists(st.tuples(st.integers(90, 110), st.integers(1, 20)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    LEVELS,
    LEVELS,
    st.one_of(st.none(), st.integers(85, 115)),
    st.one_of(st.none(), st.integers(85, 105)),
    st.one_of(st.none(), st.integers(95, 115)),
)
def test_matches_the_plain_scan_and_maximises_volume(
    bids: list, asks: list, ref: int | None, low: int | None, high: int | None
) -> None:
    got = uncross_price(bids, asks, ref, low, high)
    assert got == reference_uncross(bids, asks, ref, low, high)
    # independent of the candidate set: no price in the band trades more
    lo = low if low is not None else 80
    hi = high if high is not None else 120
    best = max(
        (min(sum(q for p, q in bids if p >= x), sum(q for p, q in asks if p <= x))
         for x in range(lo, hi + 1)),
        default=0,
    )  # fmt: skip
    if got is None:
        assert best == 0
    else:
        price, volume = got
        assert volume == best > 0
        assert lo <= price <= hi


# -- the engine's call phase -------------------------------------------------------------


def test_call_phase_collects_crossing_orders_without_trading(engine: MatchingEngine) -> None:
    run(engine, buy(1, 5, 99), sell(2, 5, 101))
    (status,) = run(engine, OpenAuction(2, "X"))
    assert status.status == InstrumentStatus.AUCTION
    events = run(engine, buy(3, 4, 103, ts=3), sell(4, 6, 98, ts=3))
    assert kinds(events) == ["OrderAccepted", "OrderAccepted"]
    assert engine.books["X"].is_crossed()
    for tif in (TimeInForce.IOC, TimeInForce.FOK):
        (rejected,) = engine.apply(buy(9, 1, 103, ts=3, tif=int(tif)))
        assert rejected.reason == Reason.NOT_ALLOWED_IN_AUCTION


def test_resume_uncrosses_at_one_price_in_priority_order(engine: MatchingEngine) -> None:
    run(engine, OpenAuction(1, "X"))
    run(
        engine,
        buy(1, 4, 103), buy(2, 3, 101), buy(3, 3, 101, acct=5),
        sell(4, 5, 99), sell(5, 4, 100, acct=6), sell(6, 5, 104, acct=7),
    )  # fmt: skip
    # demand/supply: 99: 10/5, 100: 10/9, 101: 10/9, 103: 4/9 -> max volume 9 at 100 and
    # 101, imbalance +1 at both (buy surplus) -> the higher, 101
    events = run(engine, Resume(2, "X", 100))
    assert fills(events) == [(101, 4, 1, 4), (101, 1, 2, 4), (101, 2, 2, 5), (101, 2, 3, 5)]
    assert all(f.aggressor == 0 for f in of(events, Fill))
    (uncrossed,) = of(events, AuctionUncrossed)
    assert (uncrossed.price, uncrossed.qty) == (101, 9)
    assert kinds(events)[-2:] == ["AuctionUncrossed", "InstrumentStatusChanged"]
    assert engine.books["X"].status == InstrumentStatus.TRADING
    assert not engine.books["X"].is_crossed()
    assert ids(engine) == ([3], [6])
    assert engine.orders[3].leaves == 1 and engine.books["X"].last_price == 101


def test_resume_takes_the_last_price_as_reference_by_default(engine: MatchingEngine) -> None:
    run(engine, sell(1, 1, 108), buy(2, 1, 108))  # last trade 108
    run(engine, OpenAuction(2, "X"), buy(3, 5, 110), sell(4, 5, 100))
    assert {f.price for f in of(run(engine, Resume(3, "X")), Fill)} == {108}
    run(engine, OpenAuction(4, "X"), buy(5, 5, 110, ts=4), sell(6, 5, 100, ts=4))
    assert {f.price for f in of(run(engine, Resume(5, "X", 120)), Fill)} == {110}


def test_resume_without_a_cross_only_changes_status(engine: MatchingEngine) -> None:
    run(engine, OpenAuction(1, "X"), buy(1, 5, 99), sell(2, 5, 101))
    before = frozen_state(engine)
    (status,) = run(engine, Resume(2, "X"))
    assert status.status == InstrumentStatus.TRADING
    after = frozen_state(engine)
    assert after["books"]["X"]["l3"] == before["books"]["X"]["l3"]


def test_auction_self_trades_are_not_prevented(engine: MatchingEngine) -> None:
    """STP is a taker's instruction; an uncross has no taker, so the orders meet."""
    run(engine, OpenAuction(1, "X"), buy(1, 5, 101, acct=3, stp=1), sell(2, 5, 100, acct=3))
    assert fills(run(engine, Resume(2, "X"))) == [(100, 5, 1, 2)]


@pytest.mark.parametrize("ref", [None, 95, 100, 103, 120])
def test_engine_uncross_agrees_with_the_function(engine: MatchingEngine, ref: int | None) -> None:
    run(engine, OpenAuction(1, "X"))
    run(engine, buy(1, 7, 104), buy(2, 5, 102), sell(3, 4, 98), sell(4, 6, 101), sell(5, 3, 103))
    bids = [(p, q) for p, q in engine.books["X"].depth(100)[0]]
    asks = [(p, q) for p, q in engine.books["X"].depth(100)[1]]
    expected = uncross_price(bids, asks, ref)
    assert expected is not None
    (uncrossed,) = of(run(engine, Resume(2, "X", ref)), AuctionUncrossed)
    assert (uncrossed.price, uncrossed.qty) == expected


def test_resume_refused_when_the_band_excludes_the_uncross_price_and_nothing_trades(
    engine: MatchingEngine,
) -> None:
    # sell 10@97 rests; in the call buys 5@105 and 5@98 cross it; the best uncross is 98,
    # below a band of 100-110: Resume is refused and the book is exactly as before
    run(engine, sell(1, 10, 97), OpenAuction(2, "X"), buy(2, 5, 105, ts=3), buy(3, 5, 98, ts=3))
    run(engine, SetBand(4, "X", 100, 110))
    before = frozen_state(engine)
    events = engine.apply(Resume(5, "X", 100))
    assert not of(events, Fill)
    (rejected,) = of(events, CommandRejected)
    assert rejected.reason == Reason.BOOK_STILL_CROSSED
    assert frozen_state(engine) == before
    assert engine.books["X"].status == InstrumentStatus.AUCTION
