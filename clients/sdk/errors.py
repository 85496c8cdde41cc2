"""The SDK's exceptions: ccxt's class names, each carrying the exchange's reason and figures.

Rules:

- Every refusal the exchange sends (``reject``, an execution report ``Rejected``, a
  ``cancel_reject``) becomes one exception whose class is chosen by its ``Reason`` code
  through ``REASON_CLASSES``; every ``Reason`` member has an entry (a test walks the whole
  enum), and a code this SDK does not know yet (the exchange may add codes within protocol
  version 1) becomes a plain ``ExchangeError``.
- The exception keeps what the exchange said: ``reason`` (the ``Reason`` member, or the
  bare int for an unknown code), ``reason_name``, ``text``, ``figures`` (the numbers behind
  the refusal, e.g. ``required``/``available`` margin in minor units), ``field``,
  ``ref_type`` and the whole message as ``info``. ``str(exc)`` reads like
  ``INSUFFICIENT_MARGIN (2001): insufficient margin {'required': 650005000000, ...}``.
- Problems the SDK finds before sending (an amount that is not a whole number of quantity
  units, an unknown ``params`` key) raise the same classes with a ``Reason`` and
  ``local=True``, so callers handle them in one place.
- The hierarchy follows ccxt (``python/ccxt/base/errors.py``): ``ExchangeError`` for
  refusals, ``NetworkError`` for transport trouble (``RequestTimeout``, and
  ``ExchangeNotAvailable`` for ``SERVICE_UNAVAILABLE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.protocol import Reason

__all__ = [
    "REASON_CLASSES",
    "AccountSuspended",
    "AuthenticationError",
    "BadRequest",
    "BadSymbol",
    "BaseError",
    "DuplicateOrderId",
    "ExchangeError",
    "ExchangeNotAvailable",
    "InsufficientFunds",
    "InvalidOrder",
    "MarketClosed",
    "MarketHalted",
    "NetworkError",
    "OrderImmediatelyFillable",
    "OrderNotFillable",
    "OrderNotFound",
    "RateLimitExceeded",
    "RequestTimeout",
    "error_class",
    "error_from_message",
    "local_error",
]


class BaseError(Exception):
    """Root of every SDK exception; carries the exchange's reason when there is one."""

    def __init__(
        self,
        text: str = "",
        *,
        reason: Reason | int | None = None,
        reason_name: str | None = None,
        figures: Mapping[str, int | str] | None = None,
        field: str | None = None,
        ref_type: str | None = None,
        info: Mapping[str, Any] | None = None,
        local: bool = False,
    ) -> None:
        self.reason = reason
        if reason_name is None and isinstance(reason, Reason):
            reason_name = reason.name
        self.reason_name = reason_name
        self.text = text
        self.figures: dict[str, int | str] = dict(figures or {})
        self.field = field
        self.ref_type = ref_type
        self.info: dict[str, Any] = dict(info or {})
        self.local = local
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = ""
        if self.reason is not None:
            head = f"{self.reason_name or 'reason'} ({int(self.reason)}): "
        tail = f" {self.figures}" if self.figures else ""
        where = f" [field {self.field}]" if self.field else ""
        return f"{head}{self.text}{where}{tail}"

    @property
    def code(self) -> int | None:
        """The reject code as an int (``None`` when the exchange gave none)."""
        return None if self.reason is None else int(self.reason)


class ExchangeError(BaseError):
    """The exchange refused a request."""


class AuthenticationError(ExchangeError):
    """The key was refused, or the session is not logged on."""


class AccountSuspended(ExchangeError):
    """The account may not trade now (in liquidation)."""


class InsufficientFunds(ExchangeError):
    """Not enough margin or collateral; ``figures`` has ``required`` and ``available``."""

    @property
    def required(self) -> int | None:
        v = self.figures.get("required")
        return v if isinstance(v, int) else None

    @property
    def available(self) -> int | None:
        v = self.figures.get("available")
        return v if isinstance(v, int) else None


class BadRequest(ExchangeError):
    """The request itself was malformed (a field, a missing value, the wire format)."""


class BadSymbol(BadRequest):
    """No such instrument."""


class InvalidOrder(ExchangeError):
    """The order (or cancel/amend) is not acceptable as given."""


class OrderNotFound(InvalidOrder):
    """No such working order of this account (also: already filled or cancelled)."""


class DuplicateOrderId(InvalidOrder):
    """The client order id is already in use by a working order (or the request repeats)."""


class OrderImmediatelyFillable(InvalidOrder):
    """A post-only order would have taken liquidity."""


class OrderNotFillable(InvalidOrder):
    """A fill-or-kill order could not be filled (ccxt's name; the exchange reports this as
    an expiry, not a reject, so the SDK raises it only when asked to)."""


class MarketClosed(ExchangeError):
    """The instrument or the market is halted, in an auction phase, expired or stopped."""


MarketHalted = MarketClosed
"""Alias: the name the issue uses for ``MarketClosed``."""


class RateLimitExceeded(ExchangeError):
    """Too many requests; ``retry_after_ms`` says when to try again."""

    @property
    def retry_after_ms(self) -> int | None:
        v = self.figures.get("retry_after_ms")
        return v if isinstance(v, int) else None


class NetworkError(BaseError):
    """The exchange could not be reached or the outcome of a request is unknown."""


class RequestTimeout(NetworkError):
    """No answer within the timeout; the request may or may not have been carried out."""


class ExchangeNotAvailable(NetworkError):
    """The exchange answered that a service behind the gateway is unavailable."""


_GROUPS: dict[type[BaseError], tuple[str, ...]] = {
    BadRequest: (
        "MALFORMED_MESSAGE",
        "UNKNOWN_MESSAGE_TYPE",
        "UNSUPPORTED_VERSION",
        "MESSAGE_TOO_LARGE",
        "INVALID_FIELD",
        "MISSING_FIELD",
        "INVALID_REQUEST",
        "UNKNOWN_COMMAND",
        "INVALID_TIMESTAMP",
        "UNKNOWN_ASSET",
        "INVALID_AMOUNT",
    ),
    AuthenticationError: (
        "NOT_LOGGED_ON",
        "AUTHENTICATION_FAILED",
        "UNKNOWN_ACCOUNT",
        "INVALID_ACCOUNT",
    ),
    RateLimitExceeded: ("RATE_LIMITED",),
    ExchangeNotAvailable: ("SERVICE_UNAVAILABLE",),
    InsufficientFunds: ("INSUFFICIENT_MARGIN", "INSUFFICIENT_COLLATERAL"),
    AccountSuspended: ("ACCOUNT_IN_LIQUIDATION",),
    MarketClosed: (
        "SETTLEMENT_STOPPED",
        "MARKET_HALTED",
        "INSTRUMENT_EXPIRED",
        "INSTRUMENT_HALTED",
        "NOT_ALLOWED_IN_AUCTION",
        "NO_MARK_PRICE",
    ),
    BadSymbol: ("UNKNOWN_CLEARING_INSTRUMENT", "UNKNOWN_INSTRUMENT", "INVALID_INSTRUMENT"),
    InvalidOrder: (
        "TOO_MANY_OPEN_ORDERS",
        "REDUCE_ONLY_WOULD_INCREASE",
        "PRICE_OUTSIDE_STATIC_BAND",
        "POSITION_LIMIT_EXCEEDED",
        "INVALID_PRICE",
        "OFF_TICK_PRICE",
        "INVALID_QUANTITY",
        "OFF_LOT_QUANTITY",
        "QUANTITY_TOO_SMALL",
        "QUANTITY_TOO_LARGE",
        "INVALID_SIDE",
        "INVALID_ORDER_TYPE",
        "INVALID_TIME_IN_FORCE",
        "INVALID_EXPIRE_TIME",
        "PRICE_OUTSIDE_BAND",
        "MISSING_PROTECTION_PRICE",
        "INVALID_AMEND",
        "INVALID_STP_MODE",
        "INVALID_CLIENT_ORDER_ID",
        "INVALID_FLAG",
        "INVALID_ORDER_ID",
    ),
    OrderNotFound: ("UNKNOWN_CLEARING_ORDER", "UNKNOWN_ORDER", "NOT_ORDER_OWNER"),
    DuplicateOrderId: ("DUPLICATE_REQUEST", "DUPLICATE_ORDER_ID", "DUPLICATE_CLIENT_ORDER_ID"),
    OrderImmediatelyFillable: ("POST_ONLY_WOULD_TAKE",),
    ExchangeError: (
        # operator-side refusals a trading client does not normally meet
        "INVALID_BREAKER_INPUT",
        "ACCOUNT_EXISTS",
        "INSTRUMENT_EXISTS",
        "NOT_IN_AUCTION",
        "INVALID_BAND",
        "BOOK_STILL_CROSSED",
    ),
}

REASON_CLASSES: dict[Reason, type[BaseError]] = {
    Reason[name]: cls
    for cls, names in _GROUPS.items()
    for name in names
    if name in Reason.__members__
}
"""Every ``Reason`` -> the exception class raised for it."""


def error_class(reason: int | None) -> type[BaseError]:
    """The class for a reject code; ``ExchangeError`` for a code this SDK does not know."""
    if reason is None:
        return ExchangeError
    try:
        return REASON_CLASSES.get(Reason(reason), ExchangeError)
    except ValueError:
        return ExchangeError


def error_from_message(msg: Mapping[str, Any]) -> BaseError:
    """The exception for a ``reject``, a ``Rejected`` execution report or a ``cancel_reject``."""
    code = msg.get("reason")
    reason: Reason | int | None
    try:
        reason = Reason(code) if type(code) is int else None
    except ValueError:
        reason = code if type(code) is int else None
    cls = error_class(code if type(code) is int else None)
    text = msg.get("text") or (reason.text if isinstance(reason, Reason) else "refused")
    figures = msg.get("figures")
    return cls(
        str(text),
        reason=reason,
        reason_name=msg.get("reason_name") or None,
        figures=figures if isinstance(figures, dict) else None,
        field=msg.get("field"),
        ref_type=msg.get("ref_type") or msg.get("response_to"),
        info=msg,
    )


def local_error(reason: Reason, text: str, field: str | None = None) -> BaseError:
    """The exception for a problem the SDK found before sending anything."""
    return error_class(int(reason))(text, reason=reason, field=field, local=True)
