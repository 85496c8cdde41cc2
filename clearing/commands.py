"""Commands the clearing engine accepts: immutable, slotted records; ``ts`` first.

Time arrives here (integer nanoseconds); the engine never reads a clock. Money amounts
are integers in the asset's minor units, prices in the instrument's price units,
quantities in its quantity units. ``OrderRequest`` mirrors ``matching.NewOrder`` without
the order id, which clearing assigns when it admits the order.
"""

from __future__ import annotations

from typing import NamedTuple

from matching.enums import OrdType, StpMode, TimeInForce


class OpenAccount(NamedTuple):
    ts: int
    account: int


class Deposit(NamedTuple):
    ts: int
    account: int
    asset: str
    amount: int


class Withdraw(NamedTuple):
    ts: int
    account: int
    asset: str
    amount: int


class IndexPrice(NamedTuple):
    """An oracle update: index ``name`` is now ``price`` (its own price units)."""

    ts: int
    name: str
    price: int


class OrderRequest(NamedTuple):
    ts: int
    account: int
    instrument: str
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


class CancelRequest(NamedTuple):
    ts: int
    account: int
    instrument: str
    order_id: int


class AmendRequest(NamedTuple):
    ts: int
    account: int
    instrument: str
    order_id: int
    price: int | None = None
    qty: int | None = None


class MassCancelRequest(NamedTuple):
    ts: int
    account: int
    instrument: str | None = None


class MatcherEvents(NamedTuple):
    """A batch of the matcher's events, each carrying its gapless ``seq``."""

    ts: int
    events: tuple | list


class Tick(NamedTuple):
    """Let time pass: funding samples and payments, expiries, breaker timers, TWAP marks."""

    ts: int


class IVUpdate(NamedTuple):
    """An implied-volatility oracle update: the smile of ``underlying`` at ``expiry_ts``.

    ``atm_ppm`` (600,000 = 60 %), ``skew_ppm`` and ``curvature_ppm`` parametrise
    ``sigma(k) = atm + skew·k + curvature·k²`` with ``k = ln(K/F)`` (clearing.options.surface).
    """

    ts: int
    underlying: str
    expiry_ts: int
    atm_ppm: int
    skew_ppm: int = 0
    curvature_ppm: int = 0


class SetMarginMode(NamedTuple):
    """Admin: put an account in ``"standard"`` or ``"portfolio"`` margin mode."""

    ts: int
    account: int
    mode: str


class MarketHalt(NamedTuple):
    ts: int
    reason: str = "market-wide halt"


class MarketResume(NamedTuple):
    ts: int


Command = (
    OpenAccount
    | Deposit
    | Withdraw
    | IndexPrice
    | OrderRequest
    | CancelRequest
    | AmendRequest
    | MassCancelRequest
    | MatcherEvents
    | Tick
    | MarketHalt
    | MarketResume
    | IVUpdate
    | SetMarginMode
)
