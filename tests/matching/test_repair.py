"""Book surgery (matching/repair.py): each function, its refusals, and a stateful model check."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from matching import BUY, SELL, CancelOrder, Fill, Instrument, MatchingEngine, NewOrder, repair
from matching.enums import TimeInForce

SYM = "X"
IOC = int(TimeInForce.IOC)


def make_engine() -> MatchingEngine:
    return MatchingEngine([Instrument(SYM, 1, 1, 1, 1_000_000)])


def queue(engine: MatchingEngine, side: int, price: int) -> list[tuple[int, int]]:
    levels = engine.books[SYM].bids if side == BUY else engine.books[SYM].asks
    level = levels.get(price)
    return [] if level is None else [(o.order_id, o.leaves) for o in level.orders()]


def test_add_resting_back_and_front_then_engine_treats_it_as_liquidity() -> None:
    e = make_engine()
    repair.add_resting(e, SYM, -1, 2, SELL, 101, 10, 0)
    repair.add_resting(e, SYM, -2, 2, SELL, 101, 5, 0)
    repair.add_resting(e, SYM, -3, 2, SELL, 101, 7, 0, front=True)
    assert queue(e, SELL, 101) == [(-3, 7), (-1, 10), (-2, 5)]
    assert e.books[SYM].depth(1) == ([], [(101, 22)])
    e.validate()
    fills = [ev for ev in e.apply(NewOrder(1, SYM, 9, 5, BUY, 8, 101, tif=IOC)) if type(ev) is Fill]
    assert [(f.maker_order_id, f.qty) for f in fills] == [(-3, 7), (-1, 1)]
    e.apply(CancelOrder(2, SYM, -2, 2))
    assert queue(e, SELL, 101) == [(-1, 9)]
    e.validate()


def test_add_resting_refuses_and_leaves_state_untouched() -> None:
    e = make_engine()
    repair.add_resting(e, SYM, 1, 1, BUY, 100, 10, 0)
    before = e.state_hash()
    with pytest.raises(ValueError, match="cross"):
        repair.add_resting(e, SYM, 2, 1, SELL, 100, 1, 0)
    with pytest.raises(ValueError, match="not free"):
        repair.add_resting(e, SYM, 1, 1, BUY, 99, 1, 0)
    with pytest.raises(ValueError, match="positive"):
        repair.add_resting(e, SYM, 3, 1, BUY, 99, 0, 0)
    with pytest.raises(ValueError, match="side"):
        repair.add_resting(e, SYM, 3, 1, 0, 99, 1, 0)
    with pytest.raises(ValueError, match="unknown instrument"):
        repair.add_resting(e, "NOPE", 3, 1, BUY, 99, 1, 0)
    assert e.state_hash() == before
    e.validate()


def test_reduce_order_keeps_place_and_removes_at_zero() -> None:
    e = make_engine()
    a = repair.add_resting(e, SYM, 1, 1, BUY, 100, 10, 0)
    repair.add_resting(e, SYM, 2, 1, BUY, 100, 5, 0)
    assert repair.reduce_order(e, SYM, a, 4) == 6
    assert queue(e, BUY, 100) == [(1, 6), (2, 5)]
    assert (a.qty, a.leaves, a.cum) == (6, 6, 0)
    with pytest.raises(ValueError):
        repair.reduce_order(e, SYM, a, 7)
    assert repair.reduce_order(e, SYM, a, 6) == 0
    assert queue(e, BUY, 100) == [(2, 5)] and 1 not in e.orders
    with pytest.raises(ValueError, match="not resting"):
        repair.reduce_order(e, SYM, a, 1)
    e.validate()


def test_take_from_level_prefers_then_walks_front_or_back() -> None:
    e = make_engine()
    for oid, qty in ((1, 3), (-1, 4), (2, 5), (-2, 6)):
        repair.add_resting(e, SYM, oid, 1, SELL, 105, qty, 0)
    synthetic = lambda o: o.order_id < 0  # noqa: E731
    assert repair.take_from_level(e, SYM, SELL, 105, 7, prefer=synthetic) == 7
    assert queue(e, SELL, 105) == [(1, 3), (2, 5), (-2, 3)]
    assert repair.take_from_level(e, SYM, SELL, 105, 4, from_back=True) == 4
    assert queue(e, SELL, 105) == [(1, 3), (2, 4)]
    assert repair.take_from_level(e, SYM, SELL, 105, 100) == 7
    assert queue(e, SELL, 105) == [] and not e.books[SYM].asks
    assert repair.take_from_level(e, SYM, SELL, 105, 1) == 0
    e.validate()


def test_remove_level_and_set_level_total() -> None:
    e = make_engine()
    ids = iter(range(-1, -100, -1))
    new = lambda: (next(ids), 2)  # noqa: E731
    assert repair.set_level_total(e, SYM, BUY, 99, 10, new, 0) == 10
    repair.add_resting(e, SYM, 7, 1, BUY, 99, 4, 0)
    assert repair.set_level_total(e, SYM, BUY, 99, 20, new, 0) == 6
    assert queue(e, BUY, 99) == [(-1, 10), (7, 4), (-2, 6)]
    # surplus comes off the back, preferred orders first
    synthetic = lambda o: o.order_id < 0  # noqa: E731
    assert repair.set_level_total(e, SYM, BUY, 99, 5, new, 0, prefer=synthetic) == -15
    assert queue(e, BUY, 99) == [(-1, 1), (7, 4)]
    assert repair.remove_level(e, SYM, BUY, 99) == 5
    assert not e.books[SYM].bids and not e.orders
    e.validate()


def test_replace_order_keeps_the_queue_place() -> None:
    e = make_engine()
    for oid in (1, 2, 3):
        repair.add_resting(e, SYM, oid, 1, SELL, 110, oid * 10, 0)
    middle = e.orders[2]
    new = repair.replace_order(e, SYM, middle, -9, 2, 5)
    assert queue(e, SELL, 110) == [(1, 10), (-9, 20), (3, 30)]
    assert new.account == 2 and 2 not in e.orders
    repair.replace_order(e, SYM, e.orders[3], -10, 2, 5)
    repair.replace_order(e, SYM, e.orders[1], -11, 2, 5)
    assert queue(e, SELL, 110) == [(-11, 10), (-9, 20), (-10, 30)]
    with pytest.raises(ValueError, match="not resting"):
        repair.replace_order(e, SYM, middle, -12, 2, 5)
    e.validate()


def test_move_fill_restores_the_queue_after_a_sweep() -> None:
    e = make_engine()
    a = repair.add_resting(e, SYM, 1, 1, SELL, 101, 3, 0)
    b = repair.add_resting(e, SYM, 2, 1, SELL, 101, 4, 0)
    c = repair.add_resting(e, SYM, 3, 1, SELL, 101, 5, 0)
    named = repair.add_resting(e, SYM, 4, 1, SELL, 101, 20, 0)
    events = e.apply(NewOrder(1, SYM, 100, 9, BUY, 10, 101, tif=IOC))
    fills = [(f.maker_order_id, f.qty) for f in events if type(f) is Fill]
    assert fills == [(1, 3), (2, 4), (3, 3)]
    # the record says order 4 lost the 10 shares: undo in reverse order
    for order, q in ((c, 3), (b, 4), (a, 3)):
        repair.move_fill(e, SYM, order, named, q)
    assert queue(e, SELL, 101) == [(1, 3), (2, 4), (3, 5), (4, 10)]
    assert (named.cum, named.leaves, named.qty) == (10, 10, 20)
    assert (a.cum, b.cum, c.cum) == (0, 0, 0)
    e.validate()


def test_move_fill_can_empty_the_named_order() -> None:
    e2 = make_engine()
    ahead = repair.add_resting(e2, SYM, 1, 1, BUY, 100, 5, 0)
    named = repair.add_resting(e2, SYM, 2, 1, BUY, 100, 5, 0)
    e2.apply(NewOrder(1, SYM, 100, 9, SELL, 5, 100, tif=IOC))
    assert queue(e2, BUY, 100) == [(2, 5)]
    repair.move_fill(e2, SYM, ahead, named, 5)
    assert queue(e2, BUY, 100) == [(1, 5)]
    assert 2 not in e2.orders and named.cum == 5
    e2.validate()


def test_move_fill_refusals_leave_state_untouched() -> None:
    e = make_engine()
    a = repair.add_resting(e, SYM, 1, 1, SELL, 101, 5, 0)
    b = repair.add_resting(e, SYM, 2, 1, SELL, 101, 5, 0)
    bid = repair.add_resting(e, SYM, 3, 1, BUY, 99, 5, 0)
    e.apply(NewOrder(1, SYM, 100, 9, BUY, 2, 101, tif=IOC))
    before = e.state_hash()
    with pytest.raises(ValueError):
        repair.move_fill(e, SYM, a, a, 1)
    with pytest.raises(ValueError):
        repair.move_fill(e, SYM, a, b, 3)  # a only executed 2
    with pytest.raises(ValueError):
        repair.move_fill(e, SYM, a, bid, 1)  # other side
    with pytest.raises(ValueError):
        repair.move_fill(e, SYM, b, a, 1)  # b executed nothing
    assert e.state_hash() == before
    e.validate()


# -- a stateful check against a list-of-lists model ---------------------------------------


class RepairMachine(RuleBasedStateMachine):
    """Random surgery and IOC sweeps on one book; the model is plain FIFO lists."""

    def __init__(self) -> None:
        super().__init__()
        self.e = make_engine()
        self.model: dict[tuple[int, int], list[list[int]]] = {}  # (side, price) -> [[id, leaves]]
        self.next_id = 1

    def _free_side_ok(self, side: int, price: int) -> bool:
        book = self.e.books[SYM]
        if side == BUY:
            return book.best_ask is None or book.best_ask.price > price
        return book.best_bid is None or book.best_bid.price < price

    def _live(self) -> list[tuple[int, int, int]]:
        return [(s, p, oid) for (s, p), q in self.model.items() for oid, _ in q]

    def _trim(self, key: tuple[int, int]) -> None:
        self.model[key] = [x for x in self.model[key] if x[1] > 0]
        if not self.model[key]:
            del self.model[key]

    @rule(side=st.sampled_from([BUY, SELL]), offset=st.integers(0, 4),
          qty=st.integers(1, 9), front=st.booleans())  # fmt: skip
    def add(self, side: int, offset: int, qty: int, front: bool) -> None:
        price = 100 - offset if side == BUY else 101 + offset
        if not self._free_side_ok(side, price):
            return
        oid = self.next_id
        self.next_id += 1
        repair.add_resting(self.e, SYM, oid, 1, side, price, qty, 0, front=front)
        q = self.model.setdefault((side, price), [])
        q.insert(0, [oid, qty]) if front else q.append([oid, qty])

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def reduce(self, data: st.DataObject) -> None:
        side, price, oid = data.draw(st.sampled_from(sorted(self._live())))
        entry = next(x for x in self.model[(side, price)] if x[0] == oid)
        qty = data.draw(st.integers(1, entry[1]))
        repair.reduce_order(self.e, SYM, self.e.orders[oid], qty)
        entry[1] -= qty
        self._trim((side, price))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), back=st.booleans())
    def take(self, data: st.DataObject, back: bool) -> None:
        side, price = data.draw(st.sampled_from(sorted(self.model)))
        qty = data.draw(st.integers(0, 30))
        odd = lambda o: o.order_id % 2 == 1  # noqa: E731
        taken = repair.take_from_level(self.e, SYM, side, price, qty, prefer=odd,
                                       from_back=back)  # fmt: skip
        q = self.model[(side, price)]
        walk = list(reversed(q)) if back else list(q)
        walk = [x for x in walk if x[0] % 2 == 1] + [x for x in walk if x[0] % 2 == 0]
        left = qty
        for x in walk:
            d = min(left, x[1])
            x[1] -= d
            left -= d
        assert taken == qty - left
        self._trim((side, price))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def sweep_and_move(self, data: st.DataObject) -> None:
        """An IOC takes from the best level; its fills are moved onto a named order."""
        side = data.draw(st.sampled_from(sorted({s for s, _ in self.model})))
        prices = sorted(p for s, p in self.model if s == side)
        price = prices[-1] if side == BUY else prices[0]
        q = self.model[(side, price)]
        named_id = data.draw(st.sampled_from([x[0] for x in q]))
        qty = data.draw(st.integers(1, sum(x[1] for x in q)))
        orders = {o.order_id: o for o in self.e.books[SYM].levels(side)[0].orders()}
        events = self.e.apply(NewOrder(0, SYM, -self.next_id, 9, -side, qty, price, tif=IOC))
        self.next_id += 1
        fills = [(f.maker_order_id, f.qty) for f in events if type(f) is Fill]
        assert sum(f[1] for f in fills) == qty
        left = qty
        for x in q:  # FIFO in the model
            d = min(left, x[1])
            x[1] -= d
            left -= d
        named = orders[named_id]
        for mid, fq in reversed([f for f in fills if f[0] != named_id]):
            if not repair.is_resting(self.e, named):
                break
            amount = min(fq, named.leaves)
            repair.move_fill(self.e, SYM, orders[mid], named, amount)
            next(x for x in q if x[0] == mid)[1] += amount
            next(x for x in q if x[0] == named_id)[1] -= amount
        self._trim((side, price))

    @invariant()
    def agrees_with_model(self) -> None:
        self.e.validate()
        book = self.e.books[SYM]
        got = {}
        for side in (BUY, SELL):
            for level in book.levels(side):
                got[(side, level.price)] = [[o.order_id, o.leaves] for o in level.orders()]
        assert got == self.model


RepairMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                           deadline=None)  # fmt: skip
TestRepairMachine = RepairMachine.TestCase
