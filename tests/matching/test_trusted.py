"""The two entry points: ``apply`` (validating) and ``apply_trusted``/``apply_batch``.

On well-formed commands both give identical events and states, whether the command is
accepted or refused by the instrument or the book (lot, tick, size limits, GTD time,
halt, duplicates, band, post-only, ownership). Malformed fields are ``apply``'s business:
its reject table is tests/matching/test_rejects.py, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching import (
    AdvanceTime,
    AmendOrder,
    CancelOrder,
    EndReason,
    Fill,
    Halt,
    Instrument,
    MatchingEngine,
    NewOrder,
    OpenAuction,
    OrderExpired,
    OrderRejected,
    OrdType,
    Reason,
    SetBand,
    TimeInForce,
)
from tests.matching.helpers import BUY, SELL
from tests.matching.test_state import INSTRUMENTS, command_log


def three_engines() -> tuple[MatchingEngine, MatchingEngine, MatchingEngine]:
    return MatchingEngine(INSTRUMENTS), MatchingEngine(INSTRUMENTS), MatchingEngine(INSTRUMENTS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), n=st.integers(1, 500), cut=st.integers(0, 500))
def test_validating_trusted_and_batch_paths_agree_on_well_formed_flow(
    seed: int, n: int, cut: int
) -> None:
    checked, trusted, batched = three_engines()
    log = command_log(seed, n)
    expected = []
    for cmd in log:
        a, b = checked.apply(cmd), trusted.apply_trusted(cmd)
        assert a == b, cmd
        assert [repr(e) for e in a] == [repr(e) for e in b]
        expected += a
    got = batched.apply_batch(log[:cut]) + batched.apply_batch(iter(log[cut:]))
    assert got == expected
    assert checked.state_hash() == trusted.state_hash() == batched.state_hash()
    trusted.validate()
    batched.validate()


def busy() -> MatchingEngine:
    eng = MatchingEngine(
        [
            Instrument("X", tick_size=1, lot_size=1, min_qty=1, max_qty=1_000),
            Instrument("Y", tick_size=5, lot_size=10, min_qty=10, max_qty=10_000),
            Instrument("Z", min_qty=5, max_qty=100),
        ]
    )
    eng.apply_batch([
        NewOrder(1, "X", 1, 1, BUY, 10, 99, client_order_id="c1"),
        NewOrder(1, "X", 2, 2, SELL, 10, 101),
        NewOrder(1, "Y", 3, 1, BUY, 20, 495),
        SetBand(2, "X", 90, 110),
        Halt(2, "Y", "test"),
    ])  # fmt: skip
    return eng


REFUSED = [
    (NewOrder(5, "Q", 10, 1, BUY, 1, 99), Reason.UNKNOWN_INSTRUMENT),
    (NewOrder(5, "Z", 10, 1, BUY, 4, 99), Reason.QUANTITY_TOO_SMALL),
    (NewOrder(5, "X", 10, 1, BUY, 1_001, 99), Reason.QUANTITY_TOO_LARGE),
    (NewOrder(5, "X", 10, 1, BUY, 3, 99, tif=6, expire_ts=5), Reason.INVALID_EXPIRE_TIME),
    (NewOrder(5, "X", 1, 3, BUY, 1, 98), Reason.DUPLICATE_ORDER_ID),
    (NewOrder(5, "X", 10, 1, BUY, 1, 98, client_order_id="c1"),
     Reason.DUPLICATE_CLIENT_ORDER_ID),
    (NewOrder(5, "X", 10, 1, BUY, 1, 111), Reason.PRICE_OUTSIDE_BAND),
    (NewOrder(5, "X", 10, 1, BUY, 1, 101, post_only=True), Reason.POST_ONLY_WOULD_TAKE),
    (NewOrder(5, "Y", 10, 1, BUY, 15, 495), Reason.OFF_LOT_QUANTITY),
    (NewOrder(5, "Y", 10, 1, BUY, 10, 497), Reason.OFF_TICK_PRICE),
    (NewOrder(5, "Y", 10, 1, BUY, 10, 495), Reason.INSTRUMENT_HALTED),
    (CancelOrder(5, "X", 77, 1), Reason.UNKNOWN_ORDER),
    (CancelOrder(5, "X", 1, 2), Reason.NOT_ORDER_OWNER),
    (CancelOrder(5, "Y", 1, 1), Reason.UNKNOWN_ORDER),
    (CancelOrder(5, "Q", 1, 1), Reason.UNKNOWN_INSTRUMENT),
    (AmendOrder(5, "X", 1, 1, price=97, qty=0), Reason.INVALID_QUANTITY),
]  # fmt: skip


@pytest.mark.parametrize(("cmd", "reason"), REFUSED)
def test_trusted_path_refuses_what_the_instrument_and_the_book_refuse(
    cmd: object, reason: Reason
) -> None:
    checked, trusted = busy(), busy()
    a, b = checked.apply(cmd), trusted.apply_trusted(cmd)
    assert a == b and len(a) == 1 and a[0].reason == reason
    assert checked.state_hash() == trusted.state_hash()
    trusted.validate()


def test_trusted_path_hands_other_commands_to_apply() -> None:
    checked, trusted = busy(), busy()
    for cmd in (OpenAuction(6, "X"), SetBand(6, "Q", 1, 2), "not a command"):
        assert checked.apply(cmd) == trusted.apply_trusted(cmd)
    assert trusted.apply_batch([OpenAuction(7, "Y"), "junk"]) == [
        *checked.apply(OpenAuction(7, "Y")), *checked.apply("junk")]  # fmt: skip


@pytest.mark.parametrize("handler", ["_new_order", "_cancel", "_amend"])
def test_a_handler_given_something_other_than_a_command_tuple_raises_and_changes_nothing(
    handler: str,
) -> None:
    # compiled, the handlers read a command's fields by index: anything that is not a
    # tuple must be a TypeError (as unpacking it is in plain Python), never a bad read
    eng = busy()
    before = eng.state_hash()
    events: list = []
    with pytest.raises(TypeError):
        getattr(eng, handler)(object(), events)
    assert events == [] and eng.state_hash() == before


def test_enum_members_and_plain_ints_take_the_same_paths() -> None:
    # the order path tests "GTC" and "LIMIT" by identity first (small ints are shared):
    # an IntEnum member, equal but not identical, must still take the same branch
    def flow(tif: Callable[[TimeInForce], int], otype: Callable[[OrdType], int]) -> list:
        eng = MatchingEngine([Instrument("X")])
        out: list = []
        for i, (side, qty, price, t, o, exp) in enumerate([
            (BUY, 5, 100, TimeInForce.GTC, OrdType.LIMIT, 0),
            (BUY, 5, 99, TimeInForce.GTD, OrdType.LIMIT, 50),
            (SELL, 2, 100, TimeInForce.IOC, OrdType.LIMIT, 0),
            (SELL, 9, 99, TimeInForce.FOK, OrdType.LIMIT, 0),
            (SELL, 3, 98, TimeInForce.GTC, OrdType.LIMIT, 0),
            (SELL, 4, 101, TimeInForce.GTD, OrdType.LIMIT, 200),
            (BUY, 9, 110, TimeInForce.IOC, OrdType.MARKET, 0),  # protection price 110
            (BUY, 1, 101, TimeInForce.GTD, OrdType.LIMIT, 5),
            (SELL, 1, 120, TimeInForce.GTD, OrdType.LIMIT, 150),
        ], start=1):  # fmt: skip
            out += eng.apply_trusted(NewOrder(i * 10, "X", i, i, side, qty, price, otype(o),
                                              tif(t), expire_ts=exp))  # fmt: skip
        out += eng.apply(AdvanceTime(300))
        return out

    plain = flow(int, int)
    assert [tuple(e) for e in plain] == [tuple(e) for e in flow(lambda t: t, lambda o: o)]
    ends = sorted(e.reason for e in plain if type(e) is OrderExpired)
    assert ends == sorted([EndReason.FOK_NOT_FILLABLE, EndReason.GTD_EXPIRED,
                           EndReason.IOC_REMAINDER, EndReason.GTD_EXPIRED])  # fmt: skip
    assert [e.order_id for e in plain if type(e) is OrderRejected] == [8]  # GTD already due
    assert sum(type(e) is Fill for e in plain) == 3


def test_validating_path_normalises_a_bad_cancel_reason_as_before() -> None:
    eng = busy()
    (canceled, _level) = eng.apply(CancelOrder(5, "X", 1, 1, reason=[1]))  # type: ignore[arg-type]
    assert canceled.reason == 1 and type(canceled.reason) is int
