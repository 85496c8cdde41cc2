"""The SDK's exception hierarchy: every reject code maps to a class, and each carries what
the exchange said (tests against real rejects live in test_sdk_e2e.py)."""

from __future__ import annotations

import pytest

from clients.sdk import errors as E
from gateway.protocol import Reason


def test_every_reason_has_a_class() -> None:
    missing = [r.name for r in Reason if r not in E.REASON_CLASSES]
    assert missing == []
    for reason, cls in E.REASON_CLASSES.items():
        assert issubclass(cls, E.BaseError), reason


@pytest.mark.parametrize(
    ("reason", "cls"),
    [
        (Reason.INSUFFICIENT_MARGIN, E.InsufficientFunds),
        (Reason.INSUFFICIENT_COLLATERAL, E.InsufficientFunds),
        (Reason.OFF_TICK_PRICE, E.InvalidOrder),
        (Reason.UNKNOWN_ORDER, E.OrderNotFound),
        (Reason.NOT_ORDER_OWNER, E.OrderNotFound),
        (Reason.DUPLICATE_CLIENT_ORDER_ID, E.DuplicateOrderId),
        (Reason.DUPLICATE_REQUEST, E.DuplicateOrderId),
        (Reason.POST_ONLY_WOULD_TAKE, E.OrderImmediatelyFillable),
        (Reason.RATE_LIMITED, E.RateLimitExceeded),
        (Reason.INSTRUMENT_HALTED, E.MarketClosed),
        (Reason.MARKET_HALTED, E.MarketHalted),
        (Reason.AUTHENTICATION_FAILED, E.AuthenticationError),
        (Reason.UNKNOWN_INSTRUMENT, E.BadSymbol),
        (Reason.INVALID_FIELD, E.BadRequest),
        (Reason.SERVICE_UNAVAILABLE, E.ExchangeNotAvailable),
    ],
)
def test_named_codes(reason: Reason, cls: type[E.BaseError]) -> None:
    assert E.error_class(int(reason)) is cls


def test_hierarchy_follows_ccxt() -> None:
    assert issubclass(E.OrderNotFound, E.InvalidOrder)
    assert issubclass(E.DuplicateOrderId, E.InvalidOrder)
    assert issubclass(E.OrderImmediatelyFillable, E.InvalidOrder)
    assert issubclass(E.InvalidOrder, E.ExchangeError)
    assert issubclass(E.InsufficientFunds, E.ExchangeError)
    assert issubclass(E.RateLimitExceeded, E.ExchangeError)
    assert issubclass(E.MarketClosed, E.ExchangeError)
    assert issubclass(E.AuthenticationError, E.ExchangeError)
    assert issubclass(E.RequestTimeout, E.NetworkError)
    assert not issubclass(E.NetworkError, E.ExchangeError)


def test_error_from_an_exec_report_keeps_reason_and_figures() -> None:
    rep = {
        "type": "exec_report", "exec_type": "8", "reason": 2001,
        "reason_name": "INSUFFICIENT_MARGIN", "text": "insufficient margin",
        "figures": {"required": 650005000000, "available": 12000000000},
    }  # fmt: skip
    exc = E.error_from_message(rep)
    assert type(exc) is E.InsufficientFunds
    assert exc.reason is Reason.INSUFFICIENT_MARGIN and exc.code == 2001
    assert exc.reason_name == "INSUFFICIENT_MARGIN"
    assert exc.required == 650005000000 and exc.available == 12000000000
    assert "INSUFFICIENT_MARGIN (2001)" in str(exc) and "650005000000" in str(exc)
    assert exc.info["exec_type"] == "8"


def test_unknown_code_is_a_plain_exchange_error() -> None:
    exc = E.error_from_message({"reason": 1999, "reason_name": "NEW_THING", "text": "new"})
    assert type(exc) is E.ExchangeError
    assert exc.code == 1999 and exc.reason_name == "NEW_THING"


def test_rate_limit_exposes_retry_after() -> None:
    exc = E.error_from_message(
        {"reason": 1009, "reason_name": "RATE_LIMITED", "text": "rate limited",
         "figures": {"retry_after_ms": 20}, "ref_type": "new_order"}
    )  # fmt: skip
    assert isinstance(exc, E.RateLimitExceeded)
    assert exc.retry_after_ms == 20 and exc.ref_type == "new_order"


def test_local_error_is_marked_local() -> None:
    exc = E.local_error(Reason.INVALID_PRICE, "price must be positive", "price")
    assert isinstance(exc, E.InvalidOrder) and exc.local and exc.field == "price"
