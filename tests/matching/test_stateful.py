"""Hypothesis stateful test: the engine against the simple reference book, step by step.

Random commands of every kind (orders of all types, times in force and STP modes, most of
them near the touch so they cross; cancels and amends including bad ones; mass cancels;
halts, call auctions and resumes; bands; time passing so GTD orders expire) go to both
``MatchingEngine`` and ``tests.matching.reference_book.ReferenceEngine``. After every
step: the two emitted the same normalized events (every fill's trade id, price, quantity,
maker and taker with their cum/leaves; every reject with its reason; every expiry and
cancel), the books are identical order by order, the engine validates, no book is
crossed while trading, sequence numbers are gapless, every changed price level was
reported with its final quantity, quantities are conserved per order, and every level
is in time priority.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from matching import (
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    Fill,
    Halt,
    Instrument,
    InstrumentStatus,
    LevelChanged,
    MassCancel,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderAccepted,
    OrderAmended,
    OrderCanceled,
    OrderExpired,
    OrdType,
    Resume,
    SelfTradePrevented,
    SetBand,
    StpMode,
    TimeInForce,
)
from tests.matching.reference_book import ReferenceEngine, normalize

INSTRUMENTS = [
    Instrument("X", tick_size=1, lot_size=1, min_qty=1, max_qty=40),
    Instrument("Y", tick_size=5, lot_size=10, min_qty=10, max_qty=400),
]
MID = {"X": 100, "Y": 500}
TICK = {"X": 1, "Y": 5}
LOT = {"X": 1, "Y": 10}
SYMS = st.sampled_from(["X", "X", "X", "Y"])
ACCOUNTS = st.integers(1, 3)
TIFS = st.sampled_from(
    [TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTD, TimeInForce.GTD]
)
STPS = st.sampled_from([StpMode.NONE] * 3 + list(StpMode))
DT = st.integers(0, 2)
PICK = st.integers(0, 1 << 16)
BAND = st.tuples(st.integers(0, 5), st.integers(-6, 3), st.integers(-3, 6))


def order_spec(spread: int) -> st.SearchStrategy[tuple]:
    """Everything one new order needs, drawn at once (see ``_new_order``)."""
    return st.tuples(
        SYMS, DT, st.integers(0, 25), PICK, st.integers(0, 7), TIFS, st.integers(1, 8),
        ACCOUNTS, st.sampled_from([1, -1]), st.integers(1, 12), st.integers(0, 30),
        st.integers(-spread, spread), st.sampled_from(["", "", "", "a", "b"]),
        st.integers(0, 6), STPS,
    )  # fmt: skip


def level_map(engine: MatchingEngine) -> dict[tuple[str, int, int], tuple[int, int]]:
    return {
        (sym, side, lv.price): (lv.total, lv.count)
        for sym, book in engine.books.items()
        for side in (1, -1)
        for lv in book.levels(side)
    }


class EngineAgainstReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = MatchingEngine(INSTRUMENTS)
        self.ref = ReferenceEngine(INSTRUMENTS)
        self.ts = 1
        self.next_oid = 1
        self.qty_of: dict[int, int] = {}
        self.cum_of: dict[int, int] = {}
        self.stamp_of: dict[int, int] = {}
        self.clock = 0

    # -- driving ---------------------------------------------------------------------
    def step(self, cmd: object) -> None:
        before = level_map(self.engine)
        seq0 = self.engine.seq
        events = self.engine.apply(cmd)
        expected = self.ref.apply(cmd)
        got = normalize(events)
        assert got == expected, f"{cmd}\nengine:    {got}\nreference: {expected}"
        assert [e.seq for e in events] == list(range(seq0 + 1, seq0 + 1 + len(events)))
        assert all(e.ts == cmd.ts for e in events)  # type: ignore[attr-defined]
        self.check_level_events(before, events)
        self.check_ledger(events)
        for name in sorted({f"{o[0]} {o[-1]}" if o[0] in ("rejected", "expired") else o[0]
                            for o in got}):  # fmt: skip
            event(name)

    def check_level_events(self, before: dict, events: list) -> None:
        after = level_map(self.engine)
        reported = {(e.instrument, e.side, e.price): (e.qty, e.count) for e in events
                    if type(e) is LevelChanged}  # fmt: skip
        for key in set(before) | set(after):
            if before.get(key) != after.get(key):
                assert key in reported, f"level {key} changed silently"
        for key, value in reported.items():
            assert after.get(key, (0, 0)) == value, f"level {key} reported {value}"

    def check_ledger(self, events: list) -> None:
        """Quantities conserved: qty = cum + leaves on every report, cum = sum of fills."""
        for e in events:
            t = type(e)
            if t is OrderAccepted:
                self.qty_of[e.order_id] = e.qty
                self.cum_of[e.order_id] = 0
                self.clock += 1
                self.stamp_of[e.order_id] = self.clock
            elif t is Fill:
                sides = ((e.taker_order_id, e.taker_cum, e.taker_leaves),
                         (e.maker_order_id, e.maker_cum, e.maker_leaves))  # fmt: skip
                for oid, cum, leaves in sides:
                    self.cum_of[oid] += e.qty
                    assert cum == self.cum_of[oid], "cum is not the sum of fills"
                    assert cum + leaves == self.qty_of[oid], "qty != cum + leaves on a fill"
                assert e.qty > 0
            elif t is SelfTradePrevented:
                assert e.qty > 0
                if e.mode == StpMode.DECREMENT:
                    self.qty_of[e.taker_order_id] -= e.qty
                    self.qty_of[e.maker_order_id] -= e.qty
            elif t is OrderCanceled or t is OrderExpired:
                gone = e.canceled_qty if t is OrderCanceled else e.expired_qty
                assert e.cum_qty == self.cum_of[e.order_id]
                assert gone + e.cum_qty == self.qty_of[e.order_id], "terminal qty mismatch"
            elif t is OrderAmended:
                assert e.cum_qty == self.cum_of[e.order_id]
                assert e.leaves_qty + e.cum_qty == e.qty
                self.qty_of[e.order_id] = e.qty
                if not e.kept_priority:
                    self.clock += 1
                    self.stamp_of[e.order_id] = self.clock

    def live_ids(self) -> list[int]:
        return sorted(o.oid for o in self.ref.live())

    def tick(self, dt: int) -> int:
        self.ts += dt
        return self.ts

    def band(self, sym: str, spec: tuple[int, int, int]) -> SetBand:
        """``spec`` = (shape, low offset, high offset); shape 0 clears the band."""
        shape, lo, hi = spec
        low = None if shape in (0, 2) else MID[sym] + lo * TICK[sym]
        high = None if shape in (0, 3) else MID[sym] + hi * TICK[sym]
        return SetBand(self.ts, sym, low, high)

    # -- rules -----------------------------------------------------------------------
    @initialize(
        seed=st.lists(st.tuples(st.integers(1, 6), ACCOUNTS), min_size=12, max_size=12),
        bands=st.tuples(st.booleans(), BAND, st.booleans(), BAND),
    )
    def seed_books(self, seed: list[tuple[int, int]], bands: tuple) -> None:
        """Start every example from a two-sided book, so flow meets liquidity at once."""
        it = iter(seed)
        for sym in ("X", "Y"):
            for i in range(1, 4):
                for side in (1, -1):
                    lots, acct = next(it)
                    price = MID[sym] - side * i * TICK[sym]
                    self.step(NewOrder(self.ts, sym, self.next_oid, acct, side, lots * LOT[sym],
                                       price))  # fmt: skip
                    self.next_oid += 1
        if bands[0]:
            self.step(self.band("X", bands[1]))
        if bands[2]:
            self.step(self.band("Y", bands[3]))

    def _new_order(self, spec: tuple) -> None:
        (sym, dt, dup, pick, kind, tif, ttl, acct, side, lots, odd, offset, clid, post,
         stp) = spec  # fmt: skip
        ts = self.tick(dt)
        live = self.live_ids()
        if live and dup == 0:
            oid = live[pick % len(live)]
        else:
            oid = self.next_oid
            self.next_oid += 1
        market = kind == 0
        if market:
            tif = TimeInForce.IOC
        qty = lots * LOT[sym]
        price = MID[sym] + offset * TICK[sym]
        if sym == "Y" and odd == 1:
            qty += 3  # off lot
        if sym == "Y" and odd == 2:
            price += 1  # off tick
        cmd = NewOrder(
            ts, sym, oid, acct, side, qty, price,
            ord_type=int(OrdType.MARKET if market else OrdType.LIMIT), tif=int(tif),
            client_order_id=clid, post_only=post == 0, stp=int(stp),
            expire_ts=ts + ttl if tif == TimeInForce.GTD else 0,
        )  # fmt: skip
        self.step(cmd)

    @rule(spec=order_spec(2))
    def new_order_near(self, spec: tuple) -> None:
        self._new_order(spec)

    @rule(spec=order_spec(4))
    def new_order_wide(self, spec: tuple) -> None:
        self._new_order(spec)

    @rule(spec=order_spec(6))
    def new_order_far(self, spec: tuple) -> None:
        self._new_order(spec)

    @rule(dt=DT, pick=PICK, bogus=st.integers(0, 5), wrong=st.integers(0, 12), sym=SYMS)
    def cancel(self, dt: int, pick: int, bogus: int, wrong: int, sym: str) -> None:
        live = self.live_ids()
        ts = self.tick(dt)
        if live and bogus:
            order = self.ref.find(live[pick % len(live)])
            assert order is not None
            oid, sym, acct = order.oid, order.sym, order.acct
            if wrong == 0:
                acct = acct % 3 + 1  # someone else's order
            if wrong == 1:
                sym = "Y" if sym == "X" else "X"  # right id, wrong instrument
        else:
            oid, acct = 10**9, 1
        self.step(CancelOrder(ts, sym, oid, acct))

    @rule(
        dt=DT, pick=PICK,
        how=st.sampled_from(["down", "down", "up", "price", "price", "both", "cum", "same"]),
        lots=st.integers(1, 4), offset=st.integers(-4, 4), wrong=st.integers(0, 10),
    )  # fmt: skip
    def amend(self, dt: int, pick: int, how: str, lots: int, offset: int, wrong: int) -> None:
        live = self.live_ids()
        ts = self.tick(dt)
        if not live:
            self.step(AmendOrder(ts, "X", 10**9, 1, qty=5))
            return
        order = self.ref.find(live[pick % len(live)])
        assert order is not None
        lot = LOT[order.sym]
        price = qty = None
        if how in ("down", "both"):
            qty = max(order.qty - lots * lot, lot)
        if how == "up":
            qty = order.qty + lots * lot
        if how in ("price", "both"):
            price = MID[order.sym] + offset * TICK[order.sym]
        if how == "cum":
            qty = order.cum
        if how == "same":
            price = order.price
        acct = order.acct % 3 + 1 if wrong == 0 else order.acct
        self.step(AmendOrder(ts, order.sym, order.oid, acct, price=price, qty=qty))

    @rule(
        what=st.sampled_from(["halt", "auction", "auction", "resume", "resume", "resume",
                              "band", "band", "band", "mass_cancel"]),
        sym=SYMS, dt=DT, ref=st.one_of(st.none(), st.integers(-6, 6)), band=BAND,
        acct=ACCOUNTS, scope=st.booleans(),
    )  # fmt: skip
    def venue(self, what: str, sym: str, dt: int, ref: int | None, band: tuple, acct: int,
              scope: bool) -> None:  # fmt: skip
        """Market structure, rarer than order flow: halts, auctions, bands, mass cancels."""
        ts = self.tick(dt)
        if what == "halt":
            self.step(Halt(ts, sym, "test"))
        elif what == "auction":
            self.step(OpenAuction(ts, sym))
        elif what == "resume":
            price = None if ref is None else MID[sym] + ref * TICK[sym]
            self.step(Resume(ts, sym, price))
        elif what == "band":
            self.step(self.band(sym, band))
        else:
            self.step(MassCancel(ts, acct, sym if scope else None))

    @rule(dt=st.integers(1, 6))
    def advance_time(self, dt: int) -> None:
        self.step(AdvanceTime(self.tick(dt)))

    # -- invariants ------------------------------------------------------------------
    @invariant()
    def books_agree_and_hold_together(self) -> None:
        self.engine.validate()
        live = {o.oid: o for o in self.ref.live()}
        assert sorted(self.engine.orders) == sorted(live)
        for sym, book in self.engine.books.items():
            rbook = self.ref.books[sym]
            assert book.l3() == rbook.l3(), sym
            assert int(book.status) == rbook.status
            if book.status == InstrumentStatus.TRADING:
                assert not book.is_crossed(), "crossed in continuous trading"
            assert book.last_price == rbook.last, "last trade price"
            # price-time priority: levels strictly ordered, FIFO by arrival inside each
            for side in (1, -1):
                prices = [lv.price for lv in book.levels(side)]
                assert prices == sorted(set(prices), reverse=side == 1)
                for lv in book.levels(side):
                    stamps = [self.stamp_of[o.order_id] for o in lv.orders()]
                    assert stamps == sorted(stamps), "queue out of time priority"
                    for o in lv.orders():
                        r = live[o.order_id]
                        assert (o.qty, o.cum, o.leaves) == (r.qty, r.cum, r.leaves)
                        assert (o.qty, o.cum) == (self.qty_of[o.order_id],
                                                  self.cum_of[o.order_id])  # fmt: skip
        assert self.engine.trade_id == self.ref.trade_id


EngineAgainstReference.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineAgainstReference = EngineAgainstReference.TestCase
