"""Orders as clearing tracks them: what is reserved for each resting order.

An order enters at admission (before the matcher has seen it) and leaves on its
terminal matcher event (filled, cancelled, expired, rejected). Its leaves quantity and
price feed the instrument ledger's side aggregates; ``fee_res`` is the fee reserved for
the leaves at the worst rate; ``hold`` is its part of the hold ledger.
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
        "fee_ppm",
        "fee_res",
        "hold",
        "leaves",
        "liquidation",
        "order_id",
        "price",
        "qty",
        "reduce_only",
        "side",
        "symbol",
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
        return o
