"""The order book as a data structure (``matching/book.py``, ``matching/order.py``):
depth, L3, checksum, best-level tracking, and ``validate()`` catching corruption."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from matching import Instrument, InstrumentStatus, MatchingEngine, NewOrder, OrderBook
from matching.checksum import book_checksum
from matching.order import Order, PriceLevel
from tests.matching.helpers import BUY, SELL, buy, run, sell


def filled(engine: MatchingEngine) -> OrderBook:
    run(
        engine,
        buy(1, 5, 99), buy(2, 3, 99, acct=4), buy(3, 7, 97), buy(4, 1, 98),
        sell(5, 2, 101), sell(6, 4, 103), sell(7, 6, 101, acct=5),
    )  # fmt: skip
    return engine.books["X"]


def test_depth_is_best_first_and_aggregated(engine: MatchingEngine) -> None:
    book = filled(engine)
    assert book.depth() == ([(99, 8), (98, 1), (97, 7)], [(101, 8), (103, 4)])
    assert book.depth(1) == ([(99, 8)], [(101, 8)])
    assert book.depth(0) == ([], [])
    assert OrderBook(Instrument("E")).depth() == ([], [])


def test_l3_lists_orders_in_priority_order(engine: MatchingEngine) -> None:
    book = filled(engine)
    assert book.l3() == {
        "bids": [(1, 1, 99, 5), (2, 4, 99, 3), (4, 1, 98, 1), (3, 1, 97, 7)],
        "asks": [(5, 2, 101, 2), (7, 5, 101, 6), (6, 2, 103, 4)],
    }


def test_levels_and_best(engine: MatchingEngine) -> None:
    book = filled(engine)
    assert [lv.price for lv in book.levels(BUY)] == [99, 98, 97]
    assert [lv.price for lv in book.levels(SELL)] == [101, 103]
    assert book.best_bid is not None and book.best_bid.price == 99
    assert book.best_ask is not None and book.best_ask.price == 101
    assert not book.is_crossed()
    run(engine, sell(8, 8, 99, acct=6))  # takes out the best bid level
    assert book.best_bid is not None and book.best_bid.price == 98


def test_checksum_covers_the_top_ten_levels(engine: MatchingEngine) -> None:
    book = filled(engine)
    bids, asks = book.depth(10)
    assert book.checksum() == book_checksum(bids, asks)
    before = book.checksum()
    run(engine, buy(9, 1, 96))
    assert book.checksum() != before
    # an eleventh level does not change the checksum
    for i in range(20):
        run(engine, sell(100 + i, 1, 110 + i))
    top = book.checksum()
    run(engine, sell(200, 1, 500))
    assert book.checksum() == top


def test_level_for_insert_and_remove_level_keep_best_current() -> None:
    book = OrderBook(Instrument("B"))
    a = book.level_for_insert(BUY, 10)
    assert book.level_for_insert(BUY, 10) is a and book.best_bid is a
    b = book.level_for_insert(BUY, 12)
    assert book.best_bid is b
    book.remove_level(BUY, b)
    assert book.best_bid is a
    book.remove_level(BUY, a)
    assert book.best_bid is None
    c = book.level_for_insert(SELL, 20)
    d = book.level_for_insert(SELL, 15)
    assert book.best_ask is d
    book.remove_level(SELL, c)
    assert book.best_ask is d


@pytest.mark.parametrize("side", [BUY, SELL])
def test_price_lists_stay_sorted_through_inserts_and_removals_anywhere(side: int) -> None:
    rng = random.Random(side)
    book = OrderBook(Instrument("B"))
    prices = rng.sample(range(1, 400), 150)
    for p in prices:  # new levels at the best end, the far end and in between
        book.level_for_insert(side, p)
    for p in rng.sample(prices, 100):
        book.remove_level(side, (book.bids if side == BUY else book.asks)[p])
    for p in rng.sample(range(400, 500), 20):
        book.level_for_insert(side, p)
    kept = book.bids if side == BUY else book.asks
    assert (book.bid_prices if side == BUY else book.ask_prices) == sorted(kept)
    assert len(kept) == 70
    best = book.best_bid if side == BUY else book.best_ask
    assert best is kept[max(kept) if side == BUY else min(kept)]


def test_a_resting_order_holds_its_level_price_object() -> None:
    # the cancel looks the level up by the order's price: the key object itself is found
    # without a value comparison; a second order at an equal price gets the same object
    engine = MatchingEngine([Instrument("X")])
    p1, p2 = int("1000"), int("1000")
    assert p1 == p2 and p1 is not p2
    run(engine, buy(1, 5, p1), buy(2, 5, p2))
    level = engine.books["X"].bids[1000]
    assert engine.orders[1].price is level.price and engine.orders[2].price is level.price


def make_order(oid: int, qty: int) -> Order:
    return Order(NewOrder(0, "B", oid, 1, BUY, qty, 10), oid, 1, BUY, 10, qty)


def test_price_level_fifo_links() -> None:
    level = PriceLevel(10)
    a, b, c = make_order(1, 1), make_order(2, 2), make_order(3, 3)
    level.append(a)
    level.append(b)
    level.prepend(c)
    assert [o.order_id for o in level.orders()] == [3, 1, 2]
    assert (level.total, level.count) == (6, 3)
    level.total -= a.leaves
    level.unlink(a)
    assert [o.order_id for o in level.orders()] == [3, 2]
    assert a.prev is None and a.next is None
    assert c.next is b and b.prev is c
    level.total -= c.leaves
    level.unlink(c)
    level.total -= b.leaves
    level.unlink(b)
    assert level.head is None and level.tail is None and (level.total, level.count) == (0, 0)


# -- validate() catches corruption -------------------------------------------------------


def corrupt_total(book: OrderBook) -> None:
    book.bids[99].total += 1


def corrupt_count(book: OrderBook) -> None:
    book.asks[101].count -= 1


def corrupt_back_link(book: OrderBook) -> None:
    level = book.bids[99]
    assert level.tail is not None
    level.tail.prev = None


def corrupt_tail(book: OrderBook) -> None:
    level = book.bids[99]
    level.tail = level.head


def corrupt_best(book: OrderBook) -> None:
    book.best_bid = book.bids[97]


def corrupt_empty_level(book: OrderBook) -> None:
    book.level_for_insert(BUY, 50)


def corrupt_leaves(book: OrderBook) -> None:
    order = book.asks[103].head
    assert order is not None
    order.leaves += 1
    book.asks[103].total += 1  # keep the level sum consistent: the identity must catch it


def corrupt_price(book: OrderBook) -> None:
    order = book.asks[103].head
    assert order is not None
    order.price = 104


def corrupt_side(book: OrderBook) -> None:
    order = book.bids[98].head
    assert order is not None
    order.side = SELL


def corrupt_key(book: OrderBook) -> None:
    level = book.bids.pop(97)
    book.bids[96] = level


def corrupt_cross(book: OrderBook) -> None:
    order = make_order(50, 1)
    order.price = 102
    book.level_for_insert(BUY, 102).append(order)


@pytest.mark.parametrize(
    "corrupt",
    [
        corrupt_total,
        corrupt_count,
        corrupt_back_link,
        corrupt_tail,
        corrupt_best,
        corrupt_empty_level,
        corrupt_leaves,
        corrupt_price,
        corrupt_side,
        corrupt_key,
        corrupt_cross,
    ],
)
def test_validate_catches_corruption(
    engine: MatchingEngine, corrupt: Callable[[OrderBook], None]
) -> None:
    book = filled(engine)
    book.validate()
    corrupt(book)
    with pytest.raises(AssertionError):
        book.validate()


def test_crossed_book_is_valid_only_outside_continuous_trading(engine: MatchingEngine) -> None:
    book = filled(engine)
    corrupt_cross(book)
    for status in (InstrumentStatus.AUCTION, InstrumentStatus.HALTED):
        book.status = status
        book.validate()
    book.status = InstrumentStatus.TRADING
    with pytest.raises(AssertionError, match="crossed"):
        book.validate()


def test_engine_validate_checks_the_indexes(engine: MatchingEngine) -> None:
    filled(engine)
    engine.validate()
    order = engine.orders.pop(3)
    with pytest.raises(AssertionError, match="id index"):
        engine.validate()
    engine.orders[3] = order
    del engine.accounts[1][3]
    with pytest.raises(AssertionError, match="account index"):
        engine.validate()
    engine.accounts[1][3] = order
    engine.orders[999] = order
    with pytest.raises(AssertionError):
        engine.validate()
