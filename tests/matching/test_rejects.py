"""Every bad input gets its reason code and leaves the engine's state untouched.

The check (``assert_refused``): the command yields exactly one event, the expected reject
type with the expected ``Reason`` and the next sequence number; afterwards everything
observable except the sequence counter is as before (``frozen_state``: each order's full
record in priority order, depth, L3, checksums, statuses, bands, last prices, the id and
account indexes, the trade counter) and ``state_hash()`` recomputed at the old sequence
number is unchanged. The engine starts from a busy state: resting orders on both sides of
three instruments, a partially filled order, a GTD order not yet due, a band on one.
"""

from __future__ import annotations

from typing import Any

import pytest

from matching import (
    AddInstrument,
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    CancelRejected,
    CommandRejected,
    Halt,
    Instrument,
    MassCancel,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderRejected,
    OrdType,
    Reason,
    Resume,
    SetBand,
    Side,
    StpMode,
    TimeInForce,
)
from matching.instrument import MAX_PRICE
from tests.matching.helpers import BUY, SELL, frozen_state, hash_at_seq

TS = 10
GTD = int(TimeInForce.GTD)
MARKET = int(OrdType.MARKET)

# wrong types for a field where an int belongs
NOT_INTS = ["1", 1.0, 1.5, None, True, False, [1], {}, (1,)]


@pytest.fixture
def busy() -> MatchingEngine:
    eng = MatchingEngine(
        [
            Instrument("X", tick_size=1, lot_size=1, min_qty=1, max_qty=1_000),
            Instrument("Y", tick_size=5, lot_size=10, min_qty=10, max_qty=10_000),
            Instrument("Z", tick_size=1, lot_size=1, min_qty=5, max_qty=100),
        ]
    )
    cmds: list[object] = [
        NewOrder(1, "X", 1, 1, BUY, 10, 99),
        NewOrder(1, "X", 2, 2, BUY, 5, 99, client_order_id="c2"),
        NewOrder(1, "X", 3, 2, SELL, 10, 101, client_order_id="c3"),
        NewOrder(1, "X", 4, 3, SELL, 7, 102, tif=GTD, expire_ts=1_000),
        NewOrder(2, "X", 5, 3, BUY, 4, 101),  # partially fills order 3
        NewOrder(2, "Y", 6, 1, BUY, 20, 495),
        NewOrder(2, "Y", 7, 2, SELL, 30, 505),
        NewOrder(2, "Z", 8, 1, SELL, 10, 50),
        SetBand(3, "Z", 40, 60),
    ]
    for cmd in cmds:
        eng.apply(cmd)
    eng.validate()
    assert eng.books["X"].l3()["asks"][0] == (3, 2, 101, 6)
    return eng


def assert_refused(eng: MatchingEngine, cmd: object, kind: type, reason: Reason) -> Any:
    """Apply ``cmd``; assert one reject of ``kind``/``reason`` and an untouched state."""
    seq = eng.seq
    state = frozen_state(eng)
    digest = eng.state_hash()
    events = eng.apply(cmd)
    assert len(events) == 1, events
    (event,) = events
    assert type(event) is kind, event
    assert event.reason == reason, f"{cmd}: got {Reason(event.reason).name}"
    assert event.seq == seq + 1 == eng.seq
    assert event.text  # a human-readable text accompanies the code
    assert frozen_state(eng) == state
    assert hash_at_seq(eng, seq) == digest
    eng.validate()
    return event


def order(**kw: Any) -> NewOrder:
    base = NewOrder(TS, "X", 100, 9, BUY, 5, 100)
    return base._replace(**kw)


# -- new orders --------------------------------------------------------------------------

NEW_ORDER_CASES: list[tuple[str, dict[str, Any], Reason]] = [
    ("unknown instrument", {"instrument": "NOPE"}, Reason.UNKNOWN_INSTRUMENT),
    *[(f"instrument {v!r}", {"instrument": v}, Reason.UNKNOWN_INSTRUMENT)
      for v in (None, 1, ["X"], b"X")],
    *[(f"order id {v!r}", {"order_id": v}, Reason.INVALID_ORDER_ID) for v in NOT_INTS],
    *[(f"account {v!r}", {"account": v}, Reason.INVALID_ACCOUNT) for v in NOT_INTS],
    *[(f"side {v!r}", {"side": v}, Reason.INVALID_SIDE) for v in [0, 2, -2, *NOT_INTS, -1.0]],
    *[(f"ord type {v!r}", {"ord_type": v}, Reason.INVALID_ORDER_TYPE)
      for v in [0, 3, 2.0, "2", None, True, [2], {}]],
    *[(f"tif {v!r}", {"tif": v}, Reason.INVALID_TIME_IN_FORCE)
      for v in [0, 2, 5, 7, 1.0, 3.0, "1", None, True, [1], {}]],
    *[(f"qty {v!r}", {"qty": v}, Reason.INVALID_QUANTITY)
      for v in [0, -5, "5", 5.0, None, True, [5], {}]],
    ("off-lot quantity", {"instrument": "Y", "qty": 15, "price": 500}, Reason.OFF_LOT_QUANTITY),
    ("below minimum", {"instrument": "Z", "qty": 4, "price": 50}, Reason.QUANTITY_TOO_SMALL),
    ("above maximum", {"instrument": "Z", "qty": 101, "price": 50}, Reason.QUANTITY_TOO_LARGE),
    ("huge quantity", {"qty": 10**30}, Reason.QUANTITY_TOO_LARGE),
    *[(f"price {v!r}", {"price": v}, Reason.INVALID_PRICE)
      for v in [0, -100, MAX_PRICE + 1, 10**30, "100", 100.0, None, True, [100], {}]],
    ("market without protection", {"ord_type": MARKET, "tif": 3, "price": None},
     Reason.MISSING_PROTECTION_PRICE),
    ("off-tick price", {"instrument": "Y", "qty": 10, "price": 502}, Reason.OFF_TICK_PRICE),
    ("off-tick protection", {"instrument": "Y", "qty": 10, "price": 503, "ord_type": MARKET},
     Reason.OFF_TICK_PRICE),
    *[(f"client order id {v!r}", {"client_order_id": v}, Reason.INVALID_CLIENT_ORDER_ID)
      for v in [None, 7, b"c", ["c"], "x" * 65]],
    *[(f"post_only {v!r}", {"post_only": v}, Reason.INVALID_FLAG)
      for v in [1, 0, "yes", None, [True]]],
    *[(f"reduce_only {v!r}", {"reduce_only": v}, Reason.INVALID_FLAG) for v in [1, "no", None]],
    *[(f"stp {v!r}", {"stp": v}, Reason.INVALID_STP_MODE)
      for v in [5, -1, 1.0, 0.0, "1", None, True, [1], {}]],
    *[(f"GTD expiry {v!r}", {"tif": GTD, "expire_ts": v}, Reason.INVALID_EXPIRE_TIME)
      for v in [TS, TS - 1, 0, None, "20", 20.0, True, [20]]],
    *[(f"GTC with expiry {v!r}", {"expire_ts": v}, Reason.INVALID_EXPIRE_TIME)
      for v in [None, "20", 20.0, [20]]],
    ("duplicate order id", {"order_id": 1}, Reason.DUPLICATE_ORDER_ID),
    ("duplicate order id of another account", {"order_id": 3, "account": 1},
     Reason.DUPLICATE_ORDER_ID),
    ("duplicate client order id", {"account": 2, "client_order_id": "c3"},
     Reason.DUPLICATE_CLIENT_ORDER_ID),
    ("post-only would take", {"price": 101, "post_only": True}, Reason.POST_ONLY_WOULD_TAKE),
    ("post-only sell would take", {"side": SELL, "price": 98, "post_only": True},
     Reason.POST_ONLY_WOULD_TAKE),
    ("buy above the band", {"instrument": "Z", "price": 61}, Reason.PRICE_OUTSIDE_BAND),
    ("sell below the band", {"instrument": "Z", "side": SELL, "price": 39},
     Reason.PRICE_OUTSIDE_BAND),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "reason"),
    [pytest.param(f, r, id=name) for name, f, r in NEW_ORDER_CASES],
)
def test_bad_new_order_is_rejected_and_changes_nothing(
    busy: MatchingEngine, fields: dict[str, Any], reason: Reason
) -> None:
    cmd = order(**fields)
    event = assert_refused(busy, cmd, OrderRejected, reason)
    assert (event.order_id, event.account, event.ts) == (cmd.order_id, cmd.account, TS)


def test_the_cases_above_are_valid_once_the_defect_is_removed(busy: MatchingEngine) -> None:
    """The base order is good, so each case above fails for its own defect only."""
    events = busy.apply(order())
    assert type(events[0]).__name__ == "OrderAccepted"


@pytest.mark.parametrize(
    "fields",
    [
        {"side": Side.SELL, "price": 105},
        {"tif": TimeInForce.IOC, "stp": StpMode.EXPIRE_TAKER, "ord_type": OrdType.LIMIT},
        {"client_order_id": "x" * 64},
        {"price": MAX_PRICE, "side": SELL},
        {"tif": GTD, "expire_ts": TS + 1},
    ],
)
def test_enum_members_and_edge_values_are_accepted(
    busy: MatchingEngine, fields: dict[str, Any]
) -> None:
    events = busy.apply(order(**fields))
    assert type(events[0]).__name__ == "OrderAccepted", events
    busy.validate()


def test_order_on_a_halted_instrument(busy: MatchingEngine) -> None:
    busy.apply(Halt(TS, "X", "news"))
    assert_refused(busy, order(), OrderRejected, Reason.INSTRUMENT_HALTED)


@pytest.mark.parametrize(
    "fields",
    [{"tif": int(TimeInForce.IOC)}, {"tif": int(TimeInForce.FOK)}, {"ord_type": MARKET}],
)
def test_immediate_orders_in_a_call_auction(busy: MatchingEngine, fields: dict) -> None:
    busy.apply(OpenAuction(TS, "X"))
    assert_refused(busy, order(**fields), OrderRejected, Reason.NOT_ALLOWED_IN_AUCTION)


def test_same_client_order_id_in_another_account_is_fine(busy: MatchingEngine) -> None:
    events = busy.apply(order(account=1, client_order_id="c3"))
    assert type(events[0]).__name__ == "OrderAccepted"


# -- cancel and amend ------------------------------------------------------------------

CANCEL_CASES: list[tuple[str, dict[str, Any], Reason]] = [
    ("unknown instrument", {"instrument": "NOPE"}, Reason.UNKNOWN_INSTRUMENT),
    ("instrument None", {"instrument": None}, Reason.UNKNOWN_INSTRUMENT),
    ("unknown order id", {"order_id": 999}, Reason.UNKNOWN_ORDER),
    ("order of another instrument", {"instrument": "Y"}, Reason.UNKNOWN_ORDER),
    *[(f"order id {v!r}", {"order_id": v}, Reason.UNKNOWN_ORDER)
      for v in ["3", 3.0, None, [3], {}]],
    ("another account's order", {"account": 1}, Reason.NOT_ORDER_OWNER),
    *[(f"account {v!r}", {"account": v}, Reason.NOT_ORDER_OWNER)
      for v in ["2", 2.0, None, [2], {}]],
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "reason"), [pytest.param(f, r, id=n) for n, f, r in CANCEL_CASES]
)
def test_bad_cancel(busy: MatchingEngine, fields: dict[str, Any], reason: Reason) -> None:
    cmd = CancelOrder(TS, "X", 3, 2)._replace(**fields)
    event = assert_refused(busy, cmd, CancelRejected, reason)
    assert event.response_to == 1


@pytest.mark.parametrize("account", [True, 1.0])
def test_cancel_with_a_lookalike_account_is_not_the_owner(
    busy: MatchingEngine, account: object
) -> None:
    """``True == 1`` and ``1.0 == 1`` in Python; neither is account 1."""
    assert_refused(busy, CancelOrder(TS, "X", 1, account), CancelRejected, Reason.NOT_ORDER_OWNER)  # type: ignore[arg-type]


def test_cancel_of_a_finished_order(busy: MatchingEngine) -> None:
    busy.apply(CancelOrder(TS, "X", 1, 1))
    assert_refused(busy, CancelOrder(TS, "X", 1, 1), CancelRejected, Reason.UNKNOWN_ORDER)


AMEND_CASES: list[tuple[str, dict[str, Any], Reason]] = [
    *CANCEL_CASES,
    *[(f"price {v!r}", {"price": v}, Reason.INVALID_PRICE)
      for v in [0, -1, MAX_PRICE + 1, "100", 100.0, True, [100]]],
    *[(f"qty {v!r}", {"qty": v}, Reason.INVALID_QUANTITY)
      for v in [0, -1, "5", 5.0, True, [5]]],
    ("qty below cum", {"qty": 3}, Reason.INVALID_AMEND),
    ("qty equal to cum", {"qty": 4}, Reason.INVALID_AMEND),
    ("nothing changes", {}, Reason.INVALID_AMEND),
    ("same price and qty", {"price": 101, "qty": 10}, Reason.INVALID_AMEND),
    ("huge qty", {"qty": 10**30}, Reason.QUANTITY_TOO_LARGE),
    ("sell into the bid, post-only", {"order_id": 9, "account": 2, "price": 99},
     Reason.POST_ONLY_WOULD_TAKE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "reason"), [pytest.param(f, r, id=n) for n, f, r in AMEND_CASES]
)
def test_bad_amend(busy: MatchingEngine, fields: dict[str, Any], reason: Reason) -> None:
    busy.apply(NewOrder(TS, "X", 9, 2, SELL, 5, 103, post_only=True))
    cmd = AmendOrder(TS, "X", 3, 2)._replace(**fields)
    event = assert_refused(busy, cmd, CancelRejected, reason)
    assert event.response_to == 2


@pytest.mark.parametrize(
    ("sym", "oid", "acct", "fields", "reason"),
    [
        ("Y", 6, 1, {"price": 497}, Reason.OFF_TICK_PRICE),
        ("Y", 6, 1, {"qty": 25}, Reason.OFF_LOT_QUANTITY),
        ("Z", 8, 1, {"price": 39}, Reason.PRICE_OUTSIDE_BAND),
    ],
)
def test_bad_amend_shapes(
    busy: MatchingEngine, sym: str, oid: int, acct: int, fields: dict, reason: Reason
) -> None:
    assert_refused(busy, AmendOrder(TS, sym, oid, acct, **fields), CancelRejected, reason)


def test_amend_on_a_halted_instrument(busy: MatchingEngine) -> None:
    busy.apply(Halt(TS, "X"))
    cmd = AmendOrder(TS, "X", 3, 2, qty=8)
    assert_refused(busy, cmd, CancelRejected, Reason.INSTRUMENT_HALTED)


# -- other commands ----------------------------------------------------------------------


class Bogus:
    ts = TS
    instrument = "X"


@pytest.mark.parametrize(
    "cmd",
    [None, 42, "NewOrder", (TS, "X", 1), {"ts": TS}, Bogus(), [NewOrder(TS, "X", 1, 1, 1, 1, 1)]],
    ids=lambda c: type(c).__name__,
)
def test_unknown_command_type(busy: MatchingEngine, cmd: object) -> None:
    assert_refused(busy, cmd, CommandRejected, Reason.UNKNOWN_COMMAND)


def test_a_subclass_of_a_command_is_not_that_command(busy: MatchingEngine) -> None:
    class Sneaky(AdvanceTime):
        pass

    assert_refused(busy, Sneaky(TS), CommandRejected, Reason.UNKNOWN_COMMAND)


@pytest.mark.parametrize("ts", [-1, "10", 10.0, None, True, [10]])
@pytest.mark.parametrize(
    "make",
    [
        lambda ts: NewOrder(ts, "X", 100, 9, BUY, 5, 100),
        lambda ts: CancelOrder(ts, "X", 3, 2),
        lambda ts: AmendOrder(ts, "X", 3, 2, qty=8),
        lambda ts: MassCancel(ts, 2),
        lambda ts: Halt(ts, "X"),
        lambda ts: AdvanceTime(ts),
    ],
    ids=["new", "cancel", "amend", "mass_cancel", "halt", "advance"],
)
def test_bad_timestamp(busy: MatchingEngine, make: Any, ts: object) -> None:
    assert_refused(busy, make(ts), CommandRejected, Reason.INVALID_TIMESTAMP)


@pytest.mark.parametrize(
    ("cmd", "reason"),
    [
        (MassCancel(TS, "2"), Reason.INVALID_ACCOUNT),  # type: ignore[arg-type]
        (MassCancel(TS, None), Reason.INVALID_ACCOUNT),  # type: ignore[arg-type]
        (MassCancel(TS, True), Reason.INVALID_ACCOUNT),
        (MassCancel(TS, 2.0), Reason.INVALID_ACCOUNT),  # type: ignore[arg-type]
        (MassCancel(TS, 2, "NOPE"), Reason.UNKNOWN_INSTRUMENT),
        (MassCancel(TS, 2, 5), Reason.UNKNOWN_INSTRUMENT),  # type: ignore[arg-type]
        (Halt(TS, "NOPE"), Reason.UNKNOWN_INSTRUMENT),
        (Halt(TS, ["X"]), Reason.UNKNOWN_INSTRUMENT),  # type: ignore[arg-type]
        (OpenAuction(TS, "NOPE"), Reason.UNKNOWN_INSTRUMENT),
        (Resume(TS, "NOPE"), Reason.UNKNOWN_INSTRUMENT),
        (Resume(TS, "X", "100"), Reason.INVALID_PRICE),  # type: ignore[arg-type]
        (Resume(TS, "X", 100.5), Reason.INVALID_PRICE),  # type: ignore[arg-type]
        (Resume(TS, "X", True), Reason.INVALID_PRICE),
        (SetBand(TS, "NOPE", 1, 2), Reason.UNKNOWN_INSTRUMENT),
        (SetBand(TS, "X", 110, 90), Reason.INVALID_BAND),
        (SetBand(TS, "X", 0, 90), Reason.INVALID_BAND),
        (SetBand(TS, "X", -5, None), Reason.INVALID_BAND),
        (SetBand(TS, "X", None, 90.0), Reason.INVALID_BAND),  # type: ignore[arg-type]
        (SetBand(TS, "X", "90", None), Reason.INVALID_BAND),  # type: ignore[arg-type]
        (SetBand(TS, "X", True, None), Reason.INVALID_BAND),
        (AddInstrument(TS, Instrument("X")), Reason.INSTRUMENT_EXISTS),
        (AddInstrument(TS, Instrument("")), Reason.INVALID_INSTRUMENT),
        (AddInstrument(TS, Instrument("W", tick_size=0)), Reason.INVALID_INSTRUMENT),
        (AddInstrument(TS, Instrument("W", lot_size=-1)), Reason.INVALID_INSTRUMENT),
        (AddInstrument(TS, Instrument("W", tick_size=1.0)), Reason.INVALID_INSTRUMENT),  # type: ignore[arg-type]
        (AddInstrument(TS, Instrument("W", min_qty=10, max_qty=5)), Reason.INVALID_INSTRUMENT),
        (AddInstrument(TS, Instrument("W", lot_size=3, min_qty=4)), Reason.INVALID_INSTRUMENT),
        (AddInstrument(TS, ("W", 1, 1, 1, 10, 0, 0)), Reason.INVALID_INSTRUMENT),  # type: ignore[arg-type]
        (AddInstrument(TS, None), Reason.INVALID_INSTRUMENT),  # type: ignore[arg-type]
    ],
    ids=repr,
)
def test_bad_venue_command(busy: MatchingEngine, cmd: object, reason: Reason) -> None:
    event = assert_refused(busy, cmd, CommandRejected, reason)
    assert event.command == type(cmd).__name__


@pytest.mark.parametrize("reason", [None, "x", 1.0, [1], {}, 999])
def test_unknown_end_reasons_fall_back_to_the_default(busy: MatchingEngine, reason: object) -> None:
    """A cancel's ``reason`` is informative: an unusable one is replaced, never fatal."""
    (canceled, _level) = busy.apply(CancelOrder(TS, "X", 3, 2, reason))  # type: ignore[arg-type]
    assert canceled.reason == 1 and type(canceled.reason) is int
    events = busy.apply(MassCancel(TS, 1, None, reason))  # type: ignore[arg-type]
    assert {e.reason for e in events if hasattr(e, "reason")} == {2}
    busy.validate()
