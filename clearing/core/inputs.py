"""Inputs of the exchange core: everything that may change its state, each stamped once.

Rules:

1. An input is a frozen record whose first field is ``ts`` (integer nanoseconds), read
   once at the edge that received it (the gateway for requests and sessions, the clearing
   shell for timers, the feed for prices, the operator for admin). The core never reads a
   clock; replaying the same inputs in the same batches gives the same state.
2. Requests name their origin: ``gw`` (the gateway's number, announced by
   ``GatewayUp``), ``sid`` (the gateway's session id) and ``req_id`` (the client's), so
   the answers find their way back. The account is the authenticated one, never a field
   the client chose.
3. Enumerations are the matcher's ints (``matching.enums``); validation of ranges and
   types happened at the gateway (``gateway.protocol``); the core checks what only state
   can tell (unknown orders, duplicates, limits, margin).
4. Clearing's own commands (``IndexPrice``, ``IVUpdate``, ``Tick``, ``Deposit``,
   ``Withdraw``, ``OpenAccount``, ``MarketHalt``, ``MarketResume``, ``SetMarginMode``) are
   inputs as they are.
5. ``pack_input`` / ``unpack_input`` give the journal's compact form: ``[code, *fields]``
   with the codes of ``INPUT_TYPES`` (append only: a code never changes meaning).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from clearing.commands import (
    Deposit,
    IndexPrice,
    IVUpdate,
    MarketHalt,
    MarketResume,
    OpenAccount,
    SetMarginMode,
    Tick,
    Withdraw,
)


class PlaceOrder(NamedTuple):
    """``new_order``."""

    ts: int
    gw: int
    sid: int
    req_id: int | None
    account: int
    instrument: str
    side: int
    qty: int
    price: int | None
    ord_type: int
    tif: int
    client_order_id: str
    post_only: bool
    reduce_only: bool
    stp: int
    expire_ts: int


class CancelOrderRequest(NamedTuple):
    """``cancel`` by ``order_id`` or by the account's ``client_order_id``."""

    ts: int
    gw: int
    sid: int
    req_id: int | None
    account: int
    instrument: str | None
    order_id: int | None
    client_order_id: str | None


class AmendOrderRequest(NamedTuple):
    """``amend``: a new price and/or total quantity (None = unchanged)."""

    ts: int
    gw: int
    sid: int
    req_id: int | None
    account: int
    instrument: str | None
    order_id: int | None
    client_order_id: str | None
    price: int | None
    qty: int | None


class MassCancelOrders(NamedTuple):
    """``mass_cancel``: every working order of the account (one instrument, or all)."""

    ts: int
    gw: int
    sid: int
    req_id: int | None
    account: int
    instrument: str | None


class CancelAll(NamedTuple):
    """A cancel the gateway decided: the dead man's switch (``cancel_all_after``) fired;
    ``reason`` is a ``matching.enums.EndReason``."""

    ts: int
    gw: int
    sid: int
    account: int
    reason: int


class Logon(NamedTuple):
    """A session of ``account`` logged on at gateway ``gw``."""

    ts: int
    gw: int
    sid: int
    account: int
    cancel_on_disconnect: bool


class Logout(NamedTuple):
    """A session ended (logout, heartbeats stopped, peer gone); ``why`` is for people."""

    ts: int
    gw: int
    sid: int
    why: str


class GatewayUp(NamedTuple):
    """A gateway run connected; the clearing shell gave it number ``gw`` (never reused)."""

    ts: int
    run_id: str
    gw: int


class GatewaySync(NamedTuple):
    """A gateway's live sessions ``[[sid, account, cancel_on_disconnect], ...]`` after the
    core restarted: sessions of ``gw`` the core knows but the list lacks have ended."""

    ts: int
    gw: int
    sessions: list


class GatewayLost(NamedTuple):
    """Gateway ``gw`` is gone: every session on it ends (cancel-on-disconnect applies)."""

    ts: int
    gw: int


REQUESTS = (PlaceOrder, CancelOrderRequest, AmendOrderRequest, MassCancelOrders)
"""Inputs a client sent: each is answered on its origin session."""

INPUT_TYPES: tuple[type, ...] = (
    PlaceOrder,
    CancelOrderRequest,
    AmendOrderRequest,
    MassCancelOrders,
    CancelAll,
    Logon,
    Logout,
    GatewayUp,
    GatewaySync,
    GatewayLost,
    IndexPrice,
    Tick,
    Deposit,
    Withdraw,
    OpenAccount,
    MarketHalt,
    MarketResume,
    IVUpdate,
    SetMarginMode,
)
"""Journal codes: ``INPUT_TYPES[code]``. Append only."""

_CODE_OF: dict[type, int] = {t: i for i, t in enumerate(INPUT_TYPES)}


class InputDecodeError(ValueError):
    """A journal entry that is not an input this build knows."""


def pack_input(inp: Any) -> list:
    """``[code, *fields]``: the input's compact, msgpack-ready form."""
    return [_CODE_OF[type(inp)], *inp]


def unpack_input(item: Any) -> Any:
    """The input record of a ``pack_input`` list (raises ``InputDecodeError``)."""
    try:
        code = item[0]
        cls = INPUT_TYPES[code] if type(code) is int and code >= 0 else None
        if cls is None:
            raise InputDecodeError(f"unknown input code {code!r}")
        return cls(*item[1:])
    except (TypeError, IndexError) as exc:
        raise InputDecodeError(f"malformed input {item!r:.80}: {exc}") from None
