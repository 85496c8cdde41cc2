"""An options market maker: quotes a strike range around the mark IV and delta-hedges on the
perpetual, so one account nets options against the perpetual (docs/options.md).

``crossbook bot optionsmm [--instrument BTC-PERP] [--strikes 3] [--size 0.1]``: the
``--instrument`` is the hedge (a perpetual); its base names the option underlying.

On start it picks the nearest expiry whose smile is fresh and the ``strikes`` strikes
nearest the forward, and quotes the call and the put of each. Each step (every
``interval`` seconds):

1. read the chain (``fetch_option_chain``: mark, mark IV, vega per series) and the
   account's positions with their Greeks (``fetch_positions``);
2. per series, with ``inv`` = position / ``max_position`` (in -1..1): bid IV = mark IV -
   ``half_spread`` - ``skew``·inv, ask IV = mark IV + ``half_spread`` - ``skew``·inv (vol
   points); a long book lowers both quotes, a short one raises them. The IVs become
   premiums through the series' vega (``mark + vega·ΔIV``, first order), bid rounded down
   and ask up to the tick; at ``max_position`` only the reducing side is quoted. A quote
   is created (post-only GTC) or moved with ``edit_order`` when it is off by more than a
   quarter of the half spread;
3. hedge: when the account's net delta on the underlying (options and perpetual, from
   the positions' Greeks) is at least ``hedge_lots`` perpetual lots away from zero, an
   IOC on the perpetual brings it back (``create_order`` market with 1 % slippage).

On stop it cancels every quote and prints its positions, its Greeks (sums per
underlying, ``fetch_account_greeks``) and its margin: the mode that produced IMR and
MMR, what standard mode would require, and the worst scenario (``fetch_margin``). On a
portfolio-margined account (demo accounts 7 and 8 of the default configuration) the
perpetual hedge nets against the options: IMR below the standard figure.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from clients.bots.base import Bot
from clients.sdk import BaseError, Market, Option, Order

POINT = Decimal("0.01")  # one vol point


class OptionsMarketMaker(Bot):
    name = "optionsmm"

    def __init__(self, *args: Any, strikes: int = 3, half_spread_vol: Decimal = Decimal("2"),
                 skew_vol: Decimal = Decimal("2"), max_position_lots: int = 50,
                 hedge_lots: int = 5, **kw: Any) -> None:  # fmt: skip
        super().__init__(*args, **kw)
        self.strikes = strikes
        self.half_spread_vol = half_spread_vol  # vol points
        self.skew_vol = skew_vol
        self.max_position_lots = max_position_lots
        self.hedge_lots = hedge_lots
        self.underlying = ""
        self.expiry: int | None = None
        self.series: list[str] = []  # ccxt symbols quoted
        self.quotes: dict[tuple[str, str], Order | None] = {}
        self.book: dict[str, Decimal] = {}  # signed position per option symbol
        self.net_delta = Decimal(0)
        self.hedges = 0
        self.hedged = Decimal(0)

    # -- set up ----------------------------------------------------------------------------
    def option_size(self, m: Market) -> Decimal:
        return self.size_arg if self.size_arg is not None else m.lot * 10

    def pick(self, chain: dict[str, Option]) -> list[str]:
        """The ``strikes`` strikes nearest the forward of the nearest fresh expiry (calls
        and puts)."""
        live = [(self.ex.market(s), o) for s, o in chain.items()
                if not o.info.get("expired") and not o.info.get("stale_iv")
                and o.info.get("status") == "trading" and o.underlyingPrice]  # fmt: skip
        if not live:
            return []
        self.expiry = min(m.expiry for m, _ in live if m.expiry is not None)
        near = [(m, o) for m, o in live if m.expiry == self.expiry]
        fwd = near[0][1].underlyingPrice
        assert fwd is not None
        ks = sorted({m.strike for m, _ in near if m.strike is not None},
                    key=lambda k: (abs(k - fwd), k))[: self.strikes]  # fmt: skip
        return sorted((m.symbol for m, _ in near if m.strike in ks),
                      key=lambda s: (self.ex.market(s).strike, s))  # fmt: skip

    async def on_start(self) -> None:
        self.underlying = self.m.base
        chain = await self.ex.fetch_option_chain(self.underlying)
        self.series = self.pick(chain)
        self.quotes = {(s, side): None for s in self.series for side in ("buy", "sell")}

    async def on_stop(self) -> None:
        await self.attempt(self.ex.cancel_all_orders())

    async def _follow_fills(self) -> None:
        while True:
            for t in await self.ex.watch_my_trades():
                signed = t.amount if t.side == "buy" else -t.amount
                if t.symbol == self.symbol:
                    self.position += signed
                self.fills += 1
                self.filled += t.amount

    # -- quoting ---------------------------------------------------------------------------
    def targets(self, m: Market, o: Option, pos: Decimal) -> dict[str, Decimal | None]:
        """Bid and ask premiums for one series (see the module docstring)."""
        iv, mark, vega = o.impliedVolatility, o.markPrice, o.info.get("vega")
        if iv is None or mark is None or vega is None:
            return {"buy": None, "sell": None}
        max_pos = m.lot * self.max_position_lots
        inv = max(Decimal(-1), min(Decimal(1), pos / max_pos))
        shift = -self.skew_vol * inv
        per_point = Decimal(vega)  # quote currency per vol point and unit of underlying
        bid = m.round_price(max(mark + per_point * (shift - self.half_spread_vol), m.tick))
        ask = m.round_price(mark + per_point * (shift + self.half_spread_vol), up=True)
        if ask <= bid:
            ask = bid + m.tick
        out: dict[str, Decimal | None] = {"buy": bid, "sell": ask}
        if pos >= max_pos:
            out["buy"] = None
        if pos <= -max_pos:
            out["sell"] = None
        return out

    async def requote(self, m: Market, side: str, price: Decimal | None,
                      distance: Decimal) -> None:  # fmt: skip
        key = (m.symbol, side)
        q = self.quotes.get(key)
        q = self.live_order(q.id) if q is not None else None
        if price is None:
            if q is not None:
                await self.attempt(self.ex.cancel_order(q.id, m.symbol))
            self.quotes[key] = None
            return
        if q is None:
            self.orders_sent += 1
            q = await self.attempt(self.ex.create_order(m.symbol, "limit", side,
                                                        self.option_size(m), price,
                                                        {"postOnly": True}))  # fmt: skip
        elif q.price is not None and abs(q.price - price) >= distance:
            self.amends += 1
            moved = await self.attempt(self.ex.edit_order(q.id, m.symbol, amount=q.amount,
                                                          price=price))  # fmt: skip
            q = moved if moved is not None and moved.status == "open" else None
        self.quotes[key] = q if q is not None and q.status == "open" else None

    async def hedge(self) -> None:
        """Bring the net delta back towards zero on the perpetual (module docstring)."""
        m = self.m
        amount = m.round_amount(abs(self.net_delta))
        if amount < m.lot * self.hedge_lots:
            return
        side = "sell" if self.net_delta > 0 else "buy"
        self.orders_sent += 1
        done = await self.attempt(self.ex.create_order(self.symbol, "market", side, amount,
                                                       None, {"slippage": "0.01"}))  # fmt: skip
        if done is not None and done.filled:
            self.hedges += 1
            self.hedged += done.filled

    async def step(self) -> None:
        if not self.series:
            await self.pause(self.interval)
            with contextlib.suppress(BaseError):
                await self.on_start()
            return
        chain = await self.attempt(self.ex.fetch_option_chain(self.underlying))
        positions = await self.attempt(self.ex.fetch_positions())
        if chain is None or positions is None or self.stopping:
            await self.pause(self.interval)
            return
        self.book = {p.symbol: p.signed_contracts for p in positions if p.symbol in chain}
        self.net_delta = sum((p.delta for p in positions if p.delta is not None
                              and (p.symbol in chain or p.symbol == self.symbol)), Decimal(0))
        for sym in self.series:
            o = chain.get(sym)
            if o is None or self.stopping:
                continue
            m = self.ex.market(sym)
            if o.info.get("stale_iv") or o.info.get("status") != "trading":
                for side in ("buy", "sell"):
                    await self.requote(m, side, None, m.tick)
                continue
            targets = self.targets(m, o, self.book.get(sym, Decimal(0)))
            vega = Decimal(o.info.get("vega") or 0)
            distance = max(m.tick, vega * self.half_spread_vol / 4)
            for side, price in targets.items():
                await self.requote(m, side, price, distance)
        if not self.stopping:
            await self.hedge()
        await self.pause(self.interval)

    # -- the final report ----------------------------------------------------------------------
    async def report(self) -> dict[str, Any]:
        base = await super().report()
        positions = {p.symbol: str(p.signed_contracts) for p in await self.ex.fetch_positions()
                     if p.contracts}  # fmt: skip
        greeks = (await self.ex.fetch_account_greeks(self.underlying or None)).get(
            self.underlying)
        margin = await self.ex.fetch_margin()

        def s(v: Any) -> str | None:
            return None if v is None else str(v)

        worst = margin.worstScenario
        base.update({
            "underlying": self.underlying,
            "expiry": self.expiry,
            "series": self.series,
            "positions": positions,
            "hedges": self.hedges,
            "hedged": str(self.hedged),
            "greeks": None if greeks is None else {k: f"{getattr(greeks, k):f}" for k in
                                                   ("delta", "gamma", "vega", "theta")},
            "margin_mode": margin.marginMode,
            "standard_initial_margin": s(margin.standardInitialMargin),
            "standard_maintenance_margin": s(margin.standardMaintenanceMargin),
            "scan": s(margin.scan),
            "min_delta": s(margin.minDelta),
            "worst_scenario": None if worst is None else {k: str(v) for k, v in worst.items()},
        })  # fmt: skip
        return base

    def summary(self) -> str:
        r = self.final
        cur = r.get("settle", "")
        g = r.get("greeks") or {}
        worst = r.get("worst_scenario")
        if worst:
            shock = Decimal(worst["spotShock"]) * 100
            w = (f"; worst scenario {worst['underlying']} spot {shock:+.0f} % vol "
                 f"{worst['volShock']} (weight {worst['weight']})")
        else:
            w = ""
        pos = ", ".join(f"{k} {v}" for k, v in sorted((r.get("positions") or {}).items()))
        return "\n".join([
            f"crossbook bot {self.name}: account {r.get('account')} quoting "
            f"{len(r.get('series') or [])} {r.get('underlying')} options, hedging on "
            f"{r.get('instrument')}, ran {r.get('ran_s')} s",
            f"  activity  {r.get('orders_sent')} orders sent, {r.get('amends')} amended, "
            f"{r.get('fills')} fills, {r.get('hedges')} hedges ({r.get('hedged')}), "
            f"refused {r.get('rejects') or 'none'}",
            f"  positions {pos or 'none'}",
            f"  greeks    delta {g.get('delta')} {r.get('underlying')}, gamma {g.get('gamma')}"
            f", vega {g.get('vega')} {cur}/vol pt, theta {g.get('theta')} {cur}/day",
            f"  margin    {r.get('margin_mode')} mode: equity {r.get('equity')} {cur}, IMR "
            f"{r.get('initial_margin')}, MMR {r.get('maintenance_margin')} (standard mode: "
            f"IM {r.get('standard_initial_margin')}, MM "
            f"{r.get('standard_maintenance_margin')}){w}",
        ])  # fmt: skip
