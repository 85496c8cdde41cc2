"""Small drivers for clearing tests."""

from __future__ import annotations

from clearing.commands import IndexPrice, OrderRequest
from clearing.events import PreTradeRejected
from clearing.pipeline import Pipeline
from matching.enums import TimeInForce

IOC = int(TimeInForce.IOC)


def order(ts: int, account: int, side: int, qty: int, price: int, symbol: str = "X",
          **kw: object) -> OrderRequest:
    return OrderRequest(ts, account, symbol, side, qty, price, **kw)  # type: ignore[arg-type]


def trade(p: Pipeline, ts: int, buyer: int, seller: int, qty: int, price: int,
          symbol: str = "X") -> list:
    """Seller rests, buyer takes with an IOC: one trade between them at ``price``."""
    out = p.submit(order(ts, seller, -1, qty, price, symbol))
    assert not [o for o in out if isinstance(o, PreTradeRejected)], out
    out += p.submit(order(ts, buyer, 1, qty, price, symbol, tif=IOC))
    assert not [o for o in out if isinstance(o, PreTradeRejected)], out
    return out


def index(p: Pipeline, ts: int, price: int, name: str = "X") -> list:
    return p.submit(IndexPrice(ts, name, price))


def of(outputs: list, kind: type) -> list:
    return [o for o in outputs if isinstance(o, kind)]
