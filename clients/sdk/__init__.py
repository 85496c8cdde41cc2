"""crossbook's bot SDK: an asyncio client with ccxt's method names (``Exchange``).

::

    from clients.sdk import Exchange

    async with Exchange.from_state_dir("crossbook-state") as ex:
        await ex.create_order("BTC/USD:USD", "limit", "buy", "0.010", "60000.5")

Modules: ``exchange`` (the client), ``connection`` (the order-entry session), ``feed``
(public trades, status, marks), ``streams`` (what ``watch_*`` waits on), ``records``
(ccxt-shaped results), ``markets`` (units <-> decimals), ``errors`` (ccxt's exception
names, one per reject code), ``keyfiles`` (key files and demo accounts).
"""

from clients.sdk.errors import (
    AccountSuspended,
    AuthenticationError,
    BadRequest,
    BadSymbol,
    BaseError,
    DuplicateOrderId,
    ExchangeError,
    ExchangeNotAvailable,
    InsufficientFunds,
    InvalidOrder,
    MarketClosed,
    MarketHalted,
    NetworkError,
    OrderImmediatelyFillable,
    OrderNotFillable,
    OrderNotFound,
    RateLimitExceeded,
    RequestTimeout,
)
from clients.sdk.exchange import Exchange
from clients.sdk.markets import Market
from clients.sdk.records import (
    AccountGreeks,
    Balance,
    Balances,
    Greeks,
    Margin,
    Option,
    Order,
    OrderBook,
    Position,
    Ticker,
    Trade,
)

__all__ = [
    "AccountGreeks",
    "AccountSuspended",
    "AuthenticationError",
    "BadRequest",
    "BadSymbol",
    "Balance",
    "Balances",
    "BaseError",
    "DuplicateOrderId",
    "Exchange",
    "ExchangeError",
    "ExchangeNotAvailable",
    "Greeks",
    "InsufficientFunds",
    "InvalidOrder",
    "Margin",
    "Market",
    "MarketClosed",
    "MarketHalted",
    "NetworkError",
    "Option",
    "Order",
    "OrderBook",
    "OrderImmediatelyFillable",
    "OrderNotFillable",
    "OrderNotFound",
    "Position",
    "RateLimitExceeded",
    "RequestTimeout",
    "Ticker",
    "Trade",
]
