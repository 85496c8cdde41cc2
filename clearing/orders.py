"""The one server-side record of a working order: what clearing reserves for it and what
its execution reports say.

An order enters at admission (before the matcher has seen it) and leaves on its
terminal matcher event (filled, cancelled, expired, rejected), from every index at once.
Its leaves quantity and price feed the instrument ledger's side aggregates; ``fee_res`` is
the fee reserved for the leaves at the worst rate; ``hold`` is its part of the hold ledger.
The report fields (``ord_type``, ``tif``, ``post_only``, ``stp``, ``expire_ts`` as the
matcher accepted them, ``cum_notional`` = sum of ``last_px * last_qty`` over its fills,
``ts`` of its last change) are kept by the exchange core (``clearing.core.reports``) from
the matcher's events; clearing itself never reads them.
"""

from __future__ import annotations


class Order:
    __slots__ = (
        "account",
        "amend_prev",
        "bankruptcy_price",
        "cancel_pending",
        "client_order_id",
        "cum",
        "cum_notional",
        "expire_ts",
        "fee_ppm",
        "fee_res",
        "hold",
        "leaves",
        "liquidation",
        "ord_type",
        "order_id",
        "post_only",
        "price",
        "qty",
        "reduce_only",
        "side",
        "stp",
        "symbol",
        "tif",
        "ts",
    )

    def __init__(
        self,
        order_id: int,
        account: int,
        symbol: str,
        side: int,
        price: int,
        qty: int,
        hold: int,
        fee_ppm: int,
        fee_res: int,
        reduce_only: bool,
        client_order_id: str,
        liquidation: bool = False,
        bankruptcy_price: int = 0,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.symbol = symbol
        self.side = side
        self.price = price
        self.qty = qty
        self.leaves = qty
        self.cum = 0
        self.hold = hold
        self.fee_ppm = fee_ppm
        self.fee_res = fee_res
        self.reduce_only = reduce_only
        self.liquidation = liquidation
        self.bankruptcy_price = bankruptcy_price
        self.client_order_id = client_order_id
        self.cancel_pending = False
        self.amend_prev: tuple[int, int] | None = None
        self.ord_type = 0
        self.tif = 0
        self.post_only = False
        self.stp = 0
        self.expire_ts = 0
        self.cum_notional = 0
        self.ts = 0

    def export(self) -> dict:
        return {
            "order_id": self.order_id,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "price": self.price,
            "qty": self.qty,
            "leaves": self.leaves,
            "cum": self.cum,
            "hold": self.hold,
            "fee_ppm": self.fee_ppm,
            "fee_res": self.fee_res,
            "reduce_only": self.reduce_only,
            "liquidation": self.liquidation,
            "bankruptcy_price": self.bankruptcy_price,
            "client_order_id": self.client_order_id,
            "cancel_pending": self.cancel_pending,
            "amend_prev": list(self.amend_prev) if self.amend_prev else None,
            "ord_type": self.ord_type,
            "tif": self.tif,
            "post_only": self.post_only,
            "stp": self.stp,
            "expire_ts": self.expire_ts,
            "cum_notional": self.cum_notional,
            "ts": self.ts,
        }

    @classmethod
    def restore(cls, d: dict) -> Order:
        o = cls(d["order_id"], d["account"], d["symbol"], d["side"], d["price"], d["qty"],
                d["hold"], d["fee_ppm"], d["fee_res"], d["reduce_only"], d["client_order_id"],
                d["liquidation"], d["bankruptcy_price"])  # fmt: skip
        o.leaves = d["leaves"]
        o.cum = d["cum"]
        o.cancel_pending = d["cancel_pending"]
        o.amend_prev = tuple(d["amend_prev"]) if d["amend_prev"] else None  # type: ignore[assignment]
        o.ord_type = d.get("ord_type", 0)
        o.tif = d.get("tif", 0)
        o.post_only = d.get("post_only", False)
        o.stp = d.get("stp", 0)
        o.expire_ts = d.get("expire_ts", 0)
        o.cum_notional = d.get("cum_notional", 0)
        o.ts = d.get("ts", 0)
        return o
