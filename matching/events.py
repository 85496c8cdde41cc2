"""Events the matching engine emits: immutable, slotted records.

Every event starts with ``seq`` (the engine's sequence number, one per event, gapless)
and ``ts`` (the time of the command that caused it). Names and meanings follow FIX 4.4
(see docs/matching.md for the mapping to ExecType / OrdStatus):

- ``OrderAccepted``   ExecType 0 New
- ``Fill``            ExecType F Trade, one record for both sides of a match
- ``OrderCanceled``   ExecType 4 Canceled (user, mass cancel, risk)
- ``OrderExpired``    ExecType C Expired (IOC/FOK remainder, GTD, STP, band)
- ``OrderAmended``    ExecType 5 Replaced
- ``OrderRejected``   ExecType 8 Rejected, with a ``Reason`` code and text
- ``CancelRejected``  OrderCancelReject (MsgType 9)

``SelfTradePrevented`` reports a prevented match. With mode DECREMENT the event itself
reduces both orders' quantity by ``qty``; with the EXPIRE modes the orders' quantities
change only through the ``OrderExpired`` events that follow it.
"""

from __future__ import annotations

from typing import NamedTuple


class OrderAccepted(NamedTuple):
    seq: int
    ts: int
    instrument: str
    order_id: int
    client_order_id: str
    account: int
    side: int
    ord_type: int
    price: int | None
    qty: int
    tif: int
    expire_ts: int
    post_only: bool
    reduce_only: bool
    stp: int


class OrderRejected(NamedTuple):
    seq: int
    ts: int
    instrument: object
    order_id: object
    client_order_id: object
    account: object
    reason: int
    text: str


class Fill(NamedTuple):
    seq: int
    ts: int
    instrument: str
    trade_id: int
    price: int
    qty: int
    aggressor: int  # side of the taker; 0 in an auction uncross
    taker_order_id: int
    taker_account: int
    taker_cum: int
    taker_leaves: int
    maker_order_id: int
    maker_account: int
    maker_cum: int
    maker_leaves: int


class OrderCanceled(NamedTuple):
    seq: int
    ts: int
    instrument: str
    order_id: int
    client_order_id: str
    account: int
    canceled_qty: int
    cum_qty: int
    reason: int


class OrderExpired(NamedTuple):
    seq: int
    ts: int
    instrument: str
    order_id: int
    client_order_id: str
    account: int
    expired_qty: int
    cum_qty: int
    reason: int


class OrderAmended(NamedTuple):
    seq: int
    ts: int
    instrument: str
    order_id: int
    client_order_id: str
    account: int
    price: int
    qty: int
    leaves_qty: int
    cum_qty: int
    kept_priority: bool


class CancelRejected(NamedTuple):
    seq: int
    ts: int
    instrument: object
    order_id: object
    account: object
    response_to: int
    reason: int
    text: str


class SelfTradePrevented(NamedTuple):
    seq: int
    ts: int
    instrument: str
    mode: int
    account: int
    taker_order_id: int
    maker_order_id: int
    qty: int


class LevelChanged(NamedTuple):
    """Aggregate quantity at one price level after a command (qty 0: level removed)."""

    seq: int
    ts: int
    instrument: str
    side: int
    price: int
    qty: int
    count: int


class InstrumentStatusChanged(NamedTuple):
    seq: int
    ts: int
    instrument: str
    status: int
    reason: str


class BandChanged(NamedTuple):
    seq: int
    ts: int
    instrument: str
    low: int | None
    high: int | None


class AuctionUncrossed(NamedTuple):
    seq: int
    ts: int
    instrument: str
    price: int | None
    qty: int


class MassCancelDone(NamedTuple):
    seq: int
    ts: int
    account: int
    instrument: str | None
    canceled: int
    reason: int


class InstrumentAdded(NamedTuple):
    seq: int
    ts: int
    instrument: str


class CommandRejected(NamedTuple):
    """A non-order command (halt, band, instrument, unknown type) was refused."""

    seq: int
    ts: int
    command: str
    reason: int
    text: str


Event = (
    OrderAccepted
    | OrderRejected
    | Fill
    | OrderCanceled
    | OrderExpired
    | OrderAmended
    | CancelRejected
    | SelfTradePrevented
    | LevelChanged
    | InstrumentStatusChanged
    | BandChanged
    | AuctionUncrossed
    | MassCancelDone
    | InstrumentAdded
    | CommandRejected
)
