"""The clearing engine: one object, one entry point, ``apply(command) -> outputs``.

Rules of this module:

1. Pure and deterministic: no clock, no I/O, no randomness. Time arrives in commands;
   the same commands give the same outputs and the same ``state_hash()``.
2. Bad input never raises: it becomes a ``PreTradeRejected`` / ``RequestRejected`` with
   a ``matching.reasons.Reason`` code and leaves the state exactly as it was.
3. Outputs are clearing events, breaker events and plain ``matching`` commands
   (``NewOrder``, ``CancelOrder``, ``SetBand``, ``Halt``, ...): the shell forwards the
   matching commands to the matcher, in order, and feeds the matcher's events back as
   ``MatcherEvents`` (see ``clearing.pipeline``).
4. Integers inside; every rounding goes against the account; cash, fees and the
   insurance fund are conserved exactly: ``sum(balances) + fee_pool + insurance_fund ==
   deposits - withdrawals`` per asset.
5. Each job lives in its own module and is reached from ``apply``: ``transfers``
   (accounts, deposits, withdrawals), ``pretrade`` (admission and holds), ``settlement``
   (the matcher's event stream), ``marks`` + ``remark`` (mark-to-market), ``funding``,
   ``expiry`` (dated futures), ``liquidation``; ``export`` holds the snapshot state;
   ``options`` (European options: marks, standard and portfolio margin, expiry).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from clearing import expiry, funding, liquidation, pretrade, remark, settlement, transfers
from clearing import export as _export
from clearing.accounts import Account, AccountTable
from clearing.commands import (
    AmendRequest,
    CancelRequest,
    Deposit,
    IndexPrice,
    IVUpdate,
    MarketHalt,
    MarketResume,
    MassCancelRequest,
    MatcherEvents,
    OpenAccount,
    OrderRequest,
    SetMarginMode,
    Tick,
    Withdraw,
)
from clearing.config import ClearingConfig
from clearing.events import IndexUpdated, RequestRejected
from clearing.instruments import PERPETUAL, InstrumentSpec, worst_fee_ppm
from clearing.marks import MarkState, compute_mark
from clearing.orders import Order
from clearing.positions import Ledger
from clearing.shadowbook import ShadowBook
from matching.enums import InstrumentStatus, OrdType, TimeInForce
from matching.instrument import MAX_PRICE
from matching.reasons import Reason

_TRADING = int(InstrumentStatus.TRADING)
_AUCTION = int(InstrumentStatus.AUCTION)
_LIMIT = int(OrdType.LIMIT)
_CALL_TIFS = frozenset((int(TimeInForce.GTC), int(TimeInForce.GTD)))


class InstrumentState:
    """Everything clearing keeps per instrument."""

    __slots__ = (
        "band_high",
        "band_low",
        "book",
        "expired",
        "expiry",
        "fee_any",
        "fee_post",
        "funding",
        "im_charge",
        "im_tiers",
        "ledger",
        "mark",
        "marks",
        "mm_charge",
        "mm_tiers",
        "mult",
        "opt",
        "pm_col",
        "spec",
        "status",
        "symbol",
        "top",
    )  # fmt: skip

    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.mult = spec.multiplier
        self.im_tiers = spec.im_tiers
        self.mm_tiers = spec.mm_tiers
        self.fee_any = worst_fee_ppm(spec, False)  # the fee rate reserved for an order
        self.fee_post = worst_fee_ppm(spec, True)  # ... and for a post-only one
        self.im_charge = self.im_tiers.charge  # the tiers as plain functions (hot paths)
        self.mm_charge = self.mm_tiers.charge
        self.ledger = Ledger()
        self.book = ShadowBook()
        self.marks = MarkState()
        self.mark: int | None = None
        self.status = _TRADING
        self.expired = False
        self.funding = funding.FundingState() if spec.kind == PERPETUAL else None
        self.expiry = expiry.ExpiryState() if spec.expiry_ts is not None else None
        self.band_low: int | None = None
        self.band_high: int | None = None
        self.top: tuple[int | None, int | None] = (None, None)
        self.opt: Any = None  # (options Book, series index) for an option
        self.pm_col: int | None = None  # column in the portfolio cache (options chains)


def _load_breakers(config: ClearingConfig) -> tuple[Any, dict]:
    """The circuit breakers for the configured instruments, or None when there are none."""
    if not config.breakers:
        return None, {}
    try:
        from clearing.breaker_config import BreakerConfig
        from clearing.breakers import CircuitBreakers
    except ImportError:  # the breakers module has not landed in this build
        return None, {}
    configs = {}
    for sym, table in sorted(config.breakers.items()):
        t = dict(table)
        t.setdefault("tick_size", config.instruments[sym].tick_size)
        configs[sym] = BreakerConfig.from_dict(t)
    return CircuitBreakers(configs), configs


class ClearingEngine:
    """Cross-margin clearing for many accounts and instruments (see the module rules)."""

    def __init__(self, config: ClearingConfig, *, _empty: bool = False) -> None:
        self.config = config
        self.settle = config.settlement_asset
        self.assets = dict(config.assets)
        self.risk = config.risk
        self.ts = 0
        self.started = False
        self.accounts: dict[int, Account] = {}
        self.by_slot: list[Account] = []
        self.table = AccountTable()
        self.instruments: dict[str, InstrumentState] = {
            sym: InstrumentState(spec) for sym, spec in sorted(config.instruments.items())
        }
        self.orders: dict[int, Order] = {}
        self.next_order_id = 1
        self.fee_pool: dict[str, int] = {a: 0 for a in self.assets}
        self.insurance_fund: dict[str, int] = {a: 0 for a in self.assets}
        self.deposits: dict[str, int] = {a: 0 for a in self.assets}
        self.withdrawals: dict[str, int] = {a: 0 for a in self.assets}
        self.index_prices: dict[str, int] = {}
        self.last_seq = 0
        self.pending: dict[int, Any] = {}
        self.gap_reported = 0
        self.liquidations: dict[int, liquidation.LiqState] = {}
        self.margin_called: set[int] = set()
        self.market_halted = False
        self.next_timer = 0
        self.twap_symbols = [s for s, i in self.instruments.items() if i.spec.index is None]
        self.breakers, self.breakers_configs = _load_breakers(config)
        self.breaker_symbols = frozenset(config.breakers) if self.breakers is not None else ()
        self.counters: dict[str, int] = {"liquidations": 0, "halts": 0, "adl": 0}
        self.reject_counts: dict[str, int] = {}
        self._touched: set[str] = set()
        # collateral holders by asset (accounts with a non-zero non-settlement balance)
        self.coll_holders: dict[str, set[int]] = {a: set() for a in self.assets}
        self._handlers = {
            OrderRequest: pretrade.order_request,
            CancelRequest: pretrade.cancel_request,
            AmendRequest: pretrade.amend_request,
            MassCancelRequest: pretrade.mass_cancel_request,
            MatcherEvents: settlement.matcher_events,
            Deposit: transfers.deposit,
            Withdraw: transfers.withdraw,
            OpenAccount: transfers.open_account,
            IndexPrice: _index_price,
            Tick: _tick,
            MarketHalt: _market_halt,
            MarketResume: _market_resume,
            IVUpdate: _iv_update,
            SetMarginMode: _set_margin_mode,
        }
        self.options: Any = None
        if config.options:
            from clearing.options.engine import OptionsEngine

            self.options = OptionsEngine(self)
        if _empty:
            return
        for name, price in sorted(config.indices.items()):
            self.index_prices[name] = price
        ins = self.risk.insurance_fund
        if ins:
            self.deposits[self.settle] += ins
            self.insurance_fund[self.settle] += ins
        for spec in config.accounts:
            acct = self.open(spec.id)
            for asset, amount in spec.deposits:
                transfers.credit(self, acct, asset, amount)
                self.deposits[asset] += amount
        for inst in self.instruments.values():
            if inst.opt is not None:
                continue
            inst.mark = compute_mark(inst.marks, inst.spec, 0, self.index_of(inst),
                                     inst.book, False)  # fmt: skip
            inst.marks.mark = inst.mark
        if self.options is not None:
            for spec in config.accounts:
                mode = spec.margin_mode or self.options.default_mode
                self.options.set_mode(self.accounts[spec.id].slot, mode)
            self.options.revalue(0, None)

    # ------------------------------------------------------------------ entry point --
    def apply(self, cmd: object, *, refresh: bool = True) -> list:
        """Apply one command; return its outputs (events and matcher commands), in order.

        ``refresh=False`` leaves the re-marking of what the command moved (marks, option
        chains, margins, liquidations) to the next command applied: the core passes it for
        all but the last input of one market move (index prices and smiles of one instant),
        so the move is re-marked once."""
        out: list = []
        handler = self._handlers.get(type(cmd))  # type: ignore[call-overload]
        if handler is None:
            out.append(RequestRejected(self.ts, None, type(cmd).__name__,
                                       Reason.INVALID_REQUEST, 0, 0, "unknown command"))
            return out
        ts = cmd.ts  # type: ignore[attr-defined]
        if type(ts) is not int or ts < 0 or ts > MAX_TS:
            out.append(RequestRejected(self.ts, getattr(cmd, "account", None),
                                       type(cmd).__name__, Reason.INVALID_REQUEST, 0, 0,
                                       "invalid timestamp"))  # fmt: skip
            return out
        if ts < self.ts:
            ts = self.ts  # time never runs backwards inside clearing
        if ts > self.ts or not self.started:
            self._advance(ts, out)
        handler(self, cmd, out, ts)
        if refresh and (self._touched or (self.options is not None and self.options.dirty)):
            self.refresh_marks(ts, out)
        return out

    # ------------------------------------------------------------------ time ---------
    def _advance(self, ts: int, out: list) -> None:
        self.started = True
        self.ts = ts
        if ts >= self.next_timer:
            nxt = MAX_TS
            for inst in self.instruments.values():
                if inst.funding is not None:
                    funding.run_timers(self, inst, ts, out)
                    nxt = min(nxt, inst.funding.next_sample, inst.funding.next_funding)
                if inst.expiry is not None and not inst.expired:
                    expiry.run_timers(self, inst, ts, out)
                    if not inst.expired and inst.spec.expiry_ts is not None:
                        nxt = min(nxt, inst.spec.expiry_ts)
            self.next_timer = nxt
        for sym in self.twap_symbols:
            self._touched.add(sym)
        if self.breakers is not None:
            due = self.breakers.on_tick(ts)
            if due:
                self.forward_breakers(due, out)

    def forward_breakers(self, outputs: list, out: list) -> None:
        for o in outputs:
            if type(o).__name__ == "BreakerTripped":
                self.counters["halts"] += 1
            out.append(o)

    # ------------------------------------------------------------------ helpers ------
    def open(self, account_id: int) -> Account:
        slot = self.table.add()
        acct = Account(account_id, slot)
        acct.balances[self.settle] = 0
        self.accounts[account_id] = acct
        self.by_slot.append(acct)
        if self.options is not None:
            self.options.opened(slot)
        return acct

    def index_of(self, inst: InstrumentState) -> int | None:
        name = inst.spec.index
        return None if name is None else self.index_prices.get(name)

    def halted(self, inst: InstrumentState) -> bool:
        if inst.status != _TRADING or inst.expired or self.market_halted:
            return True
        b = self.breakers
        return b is not None and inst.symbol in self.breaker_symbols and bool(
            b.is_halted(inst.symbol)
        )

    def in_call(self, inst: InstrumentState, ord_type: int, tif: int) -> bool:
        """Whether a reopening call is collecting orders and this order may join it.

        During the call phase of a halt's reopening, the matcher accepts resting limit
        orders (GTC/GTD) so that the auction has something to uncross; market, IOC and FOK
        orders stay refused, as in the matcher.
        """
        if inst.expired or self.market_halted or ord_type != _LIMIT or tif not in _CALL_TIFS:
            return False
        if inst.status == _AUCTION:
            return True
        b = self.breakers
        return (
            b is not None and inst.symbol in self.breaker_symbols and b.phase(inst.symbol) == "call"
        )

    def add_cash(self, acct: Account, amount: int) -> None:
        acct.balances[self.settle] += amount
        self.table.eq[acct.slot] += amount

    def refresh_row(self, inst: InstrumentState, r: int) -> None:
        """Recompute a ledger row's charges at the current mark; update the account sums."""
        L = inst.ledger
        if inst.pm_col is not None and self.options.covers(inst, L.slot[r]):
            self.options.refresh_row(inst, r)
            return
        # margin.instrument_charges, inlined: the same integers
        mark = inst.mark or 0
        mult = inst.mult
        pm = mark * mult
        charge = inst.im_charge
        size = L.size[r]
        n = (size if size >= 0 else -size) * pm
        im = charge(n)
        mm = inst.mm_charge(n)
        cb = cs = req = im
        bq = L.bq[r]
        if bq:
            loss = L.bv[r] - bq * mark
            x = size + bq
            cb = charge((x if x >= 0 else -x) * pm) + (loss * mult if loss > 0 else 0) + L.bf[r]
            if cb > req:
                req = cb
        sq = L.sq[r]
        if sq:
            loss = sq * mark - L.sv[r]
            x = size - sq
            cs = charge((x if x >= 0 else -x) * pm) + (loss * mult if loss > 0 else 0) + L.sf[r]
            if cs > req:
                req = cs
        slot = L.slot[r]
        A = self.table
        A.im[slot] += im - L.im[r]
        A.mm[slot] += mm - L.mm[r]
        A.req[slot] += req - L.req[r]
        L.im[r] = im
        L.mm[r] = mm
        L.cb[r] = cb
        L.cs[r] = cs
        L.req[r] = req

    def refresh_marks(self, ts: int, out: list) -> None:
        """Recompute the marks of touched instruments; re-mark the holders of any that moved."""
        touched = sorted(self._touched)
        self._touched.clear()
        for sym in touched:
            inst = self.instruments[sym]
            if inst.expired or inst.opt is not None:  # options: marked by their chain
                continue
            book = inst.book
            top = (book.best_bid, book.best_ask)
            if top != inst.top:
                inst.top = top
                if self.breakers is not None and sym in self.breaker_symbols:
                    self.forward_breakers(
                        self.breakers.on_top_of_book(sym, ts, top[0], top[1]), out)
            new = compute_mark(inst.marks, inst.spec, ts, self.index_of(inst), book,
                               self.halted(inst))  # fmt: skip
            if new is not None and new != inst.mark:
                remark.remark(self, inst, new, ts, out)
        if self._touched:  # follow-ups (e.g. a halt) touched instruments again
            self.refresh_marks(ts, out)
        elif self.options is not None and self.options.dirty:
            self.options.revalue(ts, out)
            if self._touched:
                self.refresh_marks(ts, out)

    def touch(self, symbol: str) -> None:
        self._touched.add(symbol)

    def count_reject(self, reason: int) -> None:
        name = Reason(reason).name
        self.reject_counts[name] = self.reject_counts.get(name, 0) + 1

    # ------------------------------------------------------------------ queries ------
    def account_summary(self, account_id: int) -> dict[str, int]:
        """Equity, IM, MM, requirement with holds, free collateral and unrealised PnL."""
        acct = self.accounts[account_id]
        A, s = self.table, acct.slot
        upnl = 0
        for sym, pos in acct.positions.items():
            inst = self.instruments[sym]
            L = inst.ledger
            value = L.val[pos.row] if inst.opt is not None else (
                L.size[pos.row] * (inst.mark or 0) * inst.mult)
            upnl += value - L.cost[pos.row]
        out = {"equity": A.eq[s], "initial_margin": A.im[s], "maintenance_margin": A.mm[s],
               "required": A.req[s], "free_collateral": A.eq[s] - A.req[s],
               "unrealized_pnl": upnl, "held": acct.held}  # fmt: skip
        if self.options is not None:
            out.update(self.options.account_risk(s))
        return out

    def greeks(self, account_id: int) -> dict:
        """Each position's Greeks and their sums per underlying (clearing.options)."""
        if self.options is None:
            return {"positions": {}, "underlyings": {}}
        return self.options.position_greeks(self.accounts[account_id].slot)

    def option_chain(self, underlying: str) -> list[dict]:
        """Every series of an underlying: names, strike, expiry, mark, mark IV, Greeks."""
        if self.options is None or underlying not in self.options.books:
            raise KeyError(underlying)
        return self.options.chain(underlying)

    def position(self, account_id: int, symbol: str) -> tuple[int, int]:
        """``(size, cost)`` of an account in an instrument (zeros when none)."""
        acct = self.accounts[account_id]
        inst = self.instruments[symbol]
        r = inst.ledger.row_of.get(acct.slot)
        if r is None:
            return 0, 0
        return inst.ledger.size[r], inst.ledger.cost[r]

    # ------------------------------------------------------------------ state --------
    def export_state(self) -> dict:
        """The whole state as plain ints/strs/lists/dicts (see clearing/export.py)."""
        return _export.export_state(self)

    @classmethod
    def from_state(cls, config: ClearingConfig, state: dict) -> ClearingEngine:
        """Rebuild an engine that continues exactly where ``state`` was exported."""
        return _export.from_state(cls, config, state)

    def state_hash(self) -> str:
        """SHA-256 over the canonical JSON of ``export_state()``."""
        blob = json.dumps(self.export_state(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def validate(self) -> None:
        """Recompute every cached figure from scratch; raise AssertionError on a mismatch."""
        _export.validate(self)


MAX_TS = (1 << 63) - 1


# -- small command handlers ------------------------------------------------------------


def _index_price(eng: ClearingEngine, cmd: IndexPrice, out: list, ts: int) -> None:
    name, price = cmd.name, cmd.price
    known = any(i.spec.index == name for i in eng.instruments.values()) or any(
        a.index == name for a in eng.assets.values()
    )
    if type(name) is not str or not known:
        out.append(RequestRejected(ts, None, "IndexPrice", Reason.UNKNOWN_ASSET, 0, 0,
                                   "unknown index"))  # fmt: skip
        return
    if type(price) is not int or price <= 0 or price > MAX_PRICE:
        out.append(RequestRejected(ts, None, "IndexPrice", Reason.INVALID_AMOUNT, 0, 0,
                                   "invalid index price"))  # fmt: skip
        return
    for inst in eng.instruments.values():
        if inst.expiry is not None and inst.spec.index == name:
            expiry.on_index(inst, ts, eng.index_prices.get(name))
    eng.index_prices[name] = price
    out.append(IndexUpdated(ts, name, price))
    if eng.options is not None and name in eng.options.by_index:
        eng.options.dirty = True
    transfers.revalue_collateral(eng, name, out)
    for inst in eng.instruments.values():
        if inst.spec.index == name:
            eng.touch(inst.symbol)


def _iv_update(eng: ClearingEngine, cmd: IVUpdate, out: list, ts: int) -> None:
    from clearing.options.engine import iv_update

    iv_update(eng, cmd, out, ts)


def _set_margin_mode(eng: ClearingEngine, cmd: SetMarginMode, out: list, ts: int) -> None:
    from clearing.options.engine import set_margin_mode

    set_margin_mode(eng, cmd, out, ts)


def _tick(eng: ClearingEngine, cmd: Tick, out: list, ts: int) -> None:
    for inst in eng.instruments.values():
        if inst.spec.index is not None:
            eng.touch(inst.symbol)
    liquidation.retry_waiting(eng, ts, out)


def _market_halt(eng: ClearingEngine, cmd: MarketHalt, out: list, ts: int) -> None:
    from matching.commands import Halt

    eng.market_halted = True
    covered: set[str] = set()
    if eng.breakers is not None:
        eng.forward_breakers(eng.breakers.market_halt(ts, str(cmd.reason)), out)
        covered = set(eng.breaker_symbols)
    if len(covered) < len(eng.instruments):
        eng.counters["halts"] += 1
    for sym in eng.instruments:
        if sym not in covered:  # instruments without breakers are halted here directly
            out.append(Halt(ts, sym, str(cmd.reason)))
        eng.touch(sym)


def _market_resume(eng: ClearingEngine, cmd: MarketResume, out: list, ts: int) -> None:
    from matching.commands import Resume

    eng.market_halted = False
    covered: set[str] = set()
    if eng.breakers is not None:
        eng.forward_breakers(eng.breakers.market_resume(ts), out)
        covered = set(eng.breaker_symbols)
    for sym, inst in eng.instruments.items():
        if sym not in covered and not inst.expired:
            out.append(Resume(ts, sym))
        eng.touch(sym)
