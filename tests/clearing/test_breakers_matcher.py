"""The breakers driving a real ``matching.MatchingEngine``: bands hold, halts reopen by auction.

``Shell`` plays the clearing engine's part of the agreement: it forwards every breaker
output that is a matcher command to the matcher, feeds every ``Fill`` to ``on_trade`` and
every top-of-book change to ``on_top_of_book``, and calls ``on_tick`` as time passes. On
the way it checks, for every fill, that it printed inside the band the matcher had in
force, never while halted, and only through the uncross while in a call; after every step
it checks that the matcher's instrument status is the breakers' phase.
"""

from __future__ import annotations

import random

import pytest

from clearing.breakers import (
    RULE_LIMIT_STATE,
    RULE_MARKET,
    RULE_VELOCITY,
    BreakerConfig,
    BreakerResumed,
    BreakerTripped,
    CircuitBreakers,
)
from matching import (
    BUY,
    SELL,
    AuctionUncrossed,
    BandChanged,
    CancelOrder,
    CommandRejected,
    Fill,
    Halt,
    Instrument,
    InstrumentStatus,
    InstrumentStatusChanged,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderCanceled,
    OrderRejected,
    OrdType,
    Reason,
    Resume,
    SetBand,
    TimeInForce,
)

S = 1_000_000_000
MATCHER_COMMANDS = (SetBand, Halt, OpenAuction, Resume)
STATUS_OF_PHASE = {
    "trading": InstrumentStatus.TRADING,
    "halted": InstrumentStatus.HALTED,
    "call": InstrumentStatus.AUCTION,
}
IOC = int(TimeInForce.IOC)


class Shell:
    def __init__(self, instruments: list[Instrument], configs: dict[str, BreakerConfig]) -> None:
        self.engine = MatchingEngine(instruments)
        self.breakers = CircuitBreakers(configs)
        self.band: dict[str, tuple[int | None, int | None]] = {
            i.symbol: (None, None) for i in instruments
        }
        self.status = {i.symbol: InstrumentStatus.TRADING for i in instruments}
        self.top: dict[str, tuple[int | None, int | None]] = {
            i.symbol: (None, None) for i in instruments
        }
        self.events: list = []
        self.outputs: list = []
        self.fills: list[Fill] = []
        self.next_id = 0
        self._pending: list = []  # matcher commands from the breakers, not yet applied

    # -- driving --------------------------------------------------------------------
    def order(self, ts: int, sym: str, account: int, side: int, qty: int, price: int,
              **kw: object) -> list:  # fmt: skip
        self.next_id += 1
        return self.send(NewOrder(ts, sym, self.next_id, account, side, qty, price, **kw))  # type: ignore[arg-type]

    def send(self, cmd: object) -> list:
        """Apply a command and everything it sets off; return the command's own events."""
        events = self._apply(cmd)
        self._drain()
        return events

    def tick(self, ts: int) -> list:
        outputs = self.breakers.on_tick(ts)
        self._route(outputs)
        self._drain()
        return outputs

    def market_halt(self, ts: int) -> list:
        outputs = self.breakers.market_halt(ts, "operator")
        self._route(outputs)
        self._drain()
        return outputs

    def market_resume(self, ts: int) -> list:
        outputs = self.breakers.market_resume(ts)
        self._route(outputs)
        self._drain()
        return outputs

    # -- plumbing -------------------------------------------------------------------
    def _apply(self, cmd: object) -> list:
        events = self.engine.apply(cmd)
        for e in events:
            self._observe(e)
        ts = cmd.ts  # type: ignore[attr-defined]
        for sym, book in sorted(self.engine.books.items()):
            top = (
                None if book.best_bid is None else book.best_bid.price,
                None if book.best_ask is None else book.best_ask.price,
            )
            if top != self.top[sym]:
                self.top[sym] = top
                self._route(self.breakers.on_top_of_book(sym, ts, *top))
        return events

    def _drain(self) -> None:
        while self._pending:
            self._apply(self._pending.pop(0))
        for sym, book in self.engine.books.items():
            assert book.status == STATUS_OF_PHASE[self.breakers.phase(sym)], sym
        self.engine.validate()

    def _route(self, outputs: list) -> None:
        for o in outputs:
            self.outputs.append(o)
            if isinstance(o, MATCHER_COMMANDS):
                self._pending.append(o)

    def _observe(self, e: object) -> None:
        self.events.append(e)
        assert not isinstance(e, CommandRejected), e  # every breaker command is accepted
        if isinstance(e, BandChanged):
            self.band[e.instrument] = (e.low, e.high)
        elif isinstance(e, InstrumentStatusChanged):
            self.status[e.instrument] = InstrumentStatus(e.status)
        elif isinstance(e, Fill):
            low, high = self.band[e.instrument]
            assert low is None or e.price >= low, (e, low)
            assert high is None or e.price <= high, (e, high)
            status = self.status[e.instrument]
            assert status != InstrumentStatus.HALTED, e
            assert (e.aggressor == 0) == (status == InstrumentStatus.AUCTION), e
            self.fills.append(e)
            self._route(self.breakers.on_trade(e.instrument, e.ts, e.price))

    def of(self, kind: type) -> list:
        return [o for o in [*self.events, *self.outputs] if isinstance(o, kind)]


def one(cfg: BreakerConfig | None = None, tick: int = 1) -> Shell:
    return Shell([Instrument("X", tick_size=tick)], {"X": cfg or BreakerConfig(tick_size=tick)})


def set_reference(shell: Shell, ts: int, price: int) -> None:
    shell.order(ts, "X", 1, SELL, 10, price)
    shell.order(ts, "X", 2, BUY, 10, price)
    assert shell.fills[-1].price == price


# ---------------------------------------------------------------- scenarios ----------
def test_limit_state_halt_then_reopening_auction_uncrosses_at_the_reference() -> None:
    shell = one()
    set_reference(shell, 0, 100_000)
    assert shell.band["X"] == (95_000, 105_000)  # the matcher got the band

    # the matcher enforces it: a bid beyond the high edge is refused, one at the edge rests
    assert isinstance(shell.order(S, "X", 4, BUY, 5, 105_001)[0], OrderRejected)
    shell.order(S, "X", 3, BUY, 5, 105_000)
    resting_bid = shell.next_id
    assert shell.tick(16 * S - 1) == []
    out = shell.tick(16 * S)  # 15 s at the upper edge
    assert [type(o) for o in out] == [Halt, BreakerTripped]
    assert out[1].rule == RULE_LIMIT_STATE
    assert shell.engine.books["X"].status == InstrumentStatus.HALTED

    # halted: new orders refused by the matcher, cancels accepted
    rejected = shell.order(20 * S, "X", 5, BUY, 1, 100_000)
    assert rejected[0].reason == Reason.INSTRUMENT_HALTED
    assert isinstance(shell.send(CancelOrder(21 * S, "X", resting_bid, 3))[0], OrderCanceled)

    assert shell.tick(286 * S) == [OpenAuction(286 * S, "X")]
    # the call collects crossing orders without matching; immediate orders are refused
    shell.order(290 * S, "X", 5, BUY, 10, 101_000)
    shell.order(290 * S, "X", 6, SELL, 10, 99_000)
    ioc = shell.order(291 * S, "X", 7, BUY, 1, 101_000, tif=IOC)
    assert ioc[0].reason == Reason.NOT_ALLOWED_IN_AUCTION
    assert shell.engine.books["X"].is_crossed()
    fills_before = len(shell.fills)

    out = shell.tick(316 * S)
    assert out[0] == Resume(316 * S, "X", 100_000)
    assert isinstance(out[1], BreakerResumed) and out[1].rule == RULE_LIMIT_STATE
    # the uncross: max volume 10 at every price from 99_000 to 101_000, no surplus, so the
    # price nearest the LULD reference, i.e. the reference itself
    assert shell.of(AuctionUncrossed)[-1].price == 100_000
    assert shell.of(AuctionUncrossed)[-1].qty == 10
    new_fills = shell.fills[fills_before:]
    assert [(f.price, f.qty, f.aggressor) for f in new_fills] == [(100_000, 10, 0)]
    assert shell.engine.books["X"].status == InstrumentStatus.TRADING
    assert shell.engine.books["X"].depth() == ([], [])
    assert not shell.breakers.is_halted("X")
    assert shell.band["X"] == (95_000, 105_000)
    # continuous trading again
    set_reference(shell, 317 * S, 100_500)


def test_a_sweep_stops_at_the_band_edge() -> None:
    shell = one()
    set_reference(shell, 0, 100_000)
    for price in (104_000, 105_000, 106_000):  # a sell above the band may rest
        shell.order(S, "X", 3, SELL, 1, price)
    shell.order(2 * S, "X", 4, BUY, 3, 110_000, ord_type=int(OrdType.MARKET))
    assert [f.price for f in shell.fills[1:]] == [104_000, 105_000]
    assert shell.engine.books["X"].depth()[1] == [(106_000, 1)]


def test_velocity_halt_through_the_matcher() -> None:
    shell = one()
    set_reference(shell, 0, 100_000)
    shell.order(S, "X", 3, SELL, 1, 100_000)
    shell.order(S, "X", 3, SELL, 1, 103_600)
    shell.order(10 * S, "X", 4, BUY, 2, 103_600, tif=IOC)  # prints 100_000 then 103_600
    trips = shell.of(BreakerTripped)
    assert [t.rule for t in trips] == [RULE_VELOCITY]
    assert trips[0].figures["from_price"] == 100_000 and trips[0].figures["to_price"] == 103_600
    assert shell.engine.books["X"].status == InstrumentStatus.HALTED
    assert shell.order(11 * S, "X", 5, SELL, 1, 103_000)[0].reason == Reason.INSTRUMENT_HALTED
    shell.tick(280 * S)
    assert shell.engine.books["X"].status == InstrumentStatus.AUCTION
    shell.tick(310 * S)
    assert shell.engine.books["X"].status == InstrumentStatus.TRADING
    assert shell.of(Resume)[-1] == Resume(310 * S, "X", 101_200)


def test_market_wide_halt_and_resume_through_the_matcher() -> None:
    shell = Shell(
        [Instrument("X"), Instrument("Y", tick_size=5)],
        {"X": BreakerConfig(), "Y": BreakerConfig(tick_size=5)},
    )
    set_reference(shell, 0, 100_000)
    shell.order(S, "Y", 1, SELL, 1, 2_000)
    ask = shell.next_id
    out = shell.market_halt(2 * S)
    assert [o.rule for o in out if isinstance(o, BreakerTripped)] == [RULE_MARKET] * 2
    for sym in ("X", "Y"):
        assert shell.engine.books[sym].status == InstrumentStatus.HALTED
    assert shell.order(3 * S, "Y", 2, BUY, 1, 2_000)[0].reason == Reason.INSTRUMENT_HALTED
    assert isinstance(shell.send(CancelOrder(3 * S, "Y", ask, 1))[0], OrderCanceled)
    assert shell.tick(3_600 * S) == []
    shell.market_resume(3_600 * S)
    for sym in ("X", "Y"):
        assert shell.engine.books[sym].status == InstrumentStatus.AUCTION
    shell.tick(3_630 * S)
    for sym in ("X", "Y"):
        assert shell.engine.books[sym].status == InstrumentStatus.TRADING
    assert shell.of(Resume)[-2:] == [Resume(3_630 * S, "X", 100_000), Resume(3_630 * S, "Y", None)]


def test_market_halt_during_a_crossed_call_keeps_the_matcher_consistent() -> None:
    shell = one()
    set_reference(shell, 0, 100_000)
    shell.order(S, "X", 3, BUY, 5, 105_000)
    shell.tick(16 * S)  # limit-state halt; pause ends at 316 s, call from 286 s
    shell.tick(286 * S)
    shell.order(290 * S, "X", 5, BUY, 10, 101_000)
    shell.order(290 * S, "X", 6, SELL, 10, 99_000)
    shell.market_halt(295 * S)  # the crossed call book stays in its call (validate passes)
    assert shell.engine.books["X"].status == InstrumentStatus.AUCTION
    assert shell.tick(400 * S) == [] and shell.engine.books["X"].is_crossed()
    assert shell.market_resume(500 * S) == []  # already in its call: reopens at 530 s
    shell.tick(530 * S)
    uncross = shell.of(AuctionUncrossed)[-1]
    # bids 105_000 x5 and 101_000 x10 against 99_000 x10: 10 trade, buy surplus at every
    # tied price, so the highest, 101_000
    assert (uncross.ts, uncross.price, uncross.qty) == (530 * S, 101_000, 10)
    assert shell.engine.books["X"].status == InstrumentStatus.TRADING


# ---------------------------------------------------------------- random flow --------
FAST = BreakerConfig(
    tick_size=5,
    limit_state_ns=5 * S,
    pause_ns=30 * S,
    call_period_ns=10 * S,
    luld_window_ns=60 * S,
    velocity_window_ns=5 * S,
)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_flow_never_prints_outside_the_band(seed: int) -> None:
    rng = random.Random(seed)
    shell = Shell([Instrument("X", tick_size=5)], {"X": FAST})
    ts = 0
    shock = 0  # news: the traders' fair value jumps away from the last trade, then fades
    resting: list[tuple[int, int]] = []
    for _ in range(1_500):
        ts += rng.randrange(S // 10, 2 * S)
        last = shell.fills[-1].price if shell.fills else 100_000
        if rng.random() < 0.03:
            shock = last * rng.choice((-7, -4, 4, 7)) // 100
        else:
            shock = shock * 9 // 10
        mid = max(1_000, (last + shock + rng.randrange(-100, 101)) // 5 * 5)
        account = rng.randrange(1, 9)
        r = rng.random()
        if r < 0.55:
            side = rng.choice((BUY, SELL))
            price = max(5, mid - side * rng.randrange(0, 60) * 5)
            low, high = shell.band["X"]
            if low is not None and high is not None:  # bots keep their quotes in the band
                price = min(price, high) if side == BUY else max(price, low)
            events = shell.order(ts, "X", account, side, rng.randrange(1, 10), price)
            if events and not isinstance(events[0], OrderRejected):
                resting.append((shell.next_id, account))
        elif r < 0.8:
            side = rng.choice((BUY, SELL))
            price = max(5, mid + side * rng.randrange(0, 1_200) * 5)
            shell.order(ts, "X", account, side, rng.randrange(1, 20), price, tif=IOC)
        elif r < 0.9 and resting:
            oid, owner = resting.pop(rng.randrange(len(resting)))
            shell.send(CancelOrder(ts, "X", oid, owner))
        else:
            shell.tick(ts)
    shell.tick(ts + 60 * S)
    trips = shell.of(BreakerTripped)
    assert {t.rule for t in trips} == {RULE_LIMIT_STATE, RULE_VELOCITY}
    assert len(shell.of(Resume)) == len(trips)  # every halt reopened
    assert any(a.qty > 0 for a in shell.of(AuctionUncrossed))  # some reopenings uncrossed
    assert len(shell.fills) > 500
    assert shell.engine.books["X"].status == InstrumentStatus.TRADING
