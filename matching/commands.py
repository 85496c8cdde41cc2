"""Commands the matching engine accepts: immutable, slotted records.

Every command carries ``ts`` (integer nanoseconds) first: the engine never reads a
clock, time arrives here. Enumerated fields default to plain ``int`` values (hashing an
``IntEnum`` member runs Python code, which the hot path avoids). Order ids are assigned
by whoever sequences commands into the engine (clearing in the exchange, the replay
driver in a replay), so ids are pure functions of the input and a replay reproduces
them.

A market order carries its *protection price* in ``price``: the worst price it may trade
at. A market order never sweeps the book unbounded.
"""

from __future__ import annotations

from typing import NamedTuple

from matching.enums import EndReason, OrdType, StpMode, TimeInForce
from matching.instrument import Instrument


class NewOrder(NamedTuple):
    ts: int
    instrument: str
    order_id: int
    account: int
    side: int
    qty: int
    price: int | None
    ord_type: int = int(OrdType.LIMIT)
    tif: int = int(TimeInForce.GTC)
    client_order_id: str = ""
    post_only: bool = False
    reduce_only: bool = False
    stp: int = int(StpMode.NONE)
    expire_ts: int = 0


class CancelOrder(NamedTuple):
    ts: int
    instrument: str
    order_id: int
    account: int
    reason: int = int(EndReason.USER_CANCEL)


class AmendOrder(NamedTuple):
    """Change price and/or total order quantity (FIX OrderQty).

    A quantity decrease at the same price keeps queue position; a price change or a
    quantity increase loses it (the order goes to the back of its new level and may trade).
    """

    ts: int
    instrument: str
    order_id: int
    account: int
    price: int | None = None
    qty: int | None = None


class MassCancel(NamedTuple):
    """Cancel every resting order of ``account`` (optionally one instrument only)."""

    ts: int
    account: int
    instrument: str | None = None
    reason: int = int(EndReason.MASS_CANCEL)


class Halt(NamedTuple):
    ts: int
    instrument: str
    reason: str = ""


class OpenAuction(NamedTuple):
    """Enter the call phase: orders are collected and may cross, nothing trades."""

    ts: int
    instrument: str


class Resume(NamedTuple):
    """Resume continuous trading; from the call phase, uncross first."""

    ts: int
    instrument: str
    reference_price: int | None = None


class SetBand(NamedTuple):
    """Set (or with ``None`` clear) the price band no trade may print outside."""

    ts: int
    instrument: str
    low: int | None
    high: int | None


class AdvanceTime(NamedTuple):
    """Let time pass with no other effect (expires GTD orders that are due)."""

    ts: int


class AddInstrument(NamedTuple):
    ts: int
    instrument: Instrument


Command = (
    NewOrder
    | CancelOrder
    | AmendOrder
    | MassCancel
    | Halt
    | OpenAuction
    | Resume
    | SetBand
    | AdvanceTime
    | AddInstrument
)
