"""Options inside the clearing engine: marks, standard rows, portfolio accounts, expiry.

``OptionsEngine`` is created by ``ClearingEngine`` when the config lists ``[options.X]``
chains. It owns, per underlying, the series (option ``InstrumentState``\\ s in chain
order), the perpetuals and futures on the same index, and the IV surface; and, for all
of them, the ``PortfolioCache`` (one column per instrument). Rules:

1. Revaluation (``revalue``) runs at the end of a command that moved an options index,
   fed an IV smile, or changed a margin mode: forward per expiry (the same-expiry
   future's mark where one is listed, else the index), ``T`` from the command's ``ts``,
   mark IV from the smile, Black-76 marks and Greeks for the whole chain at once; then
   every option row is re-valued and (standard mode) re-charged with numpy, and every
   portfolio account re-margined by one sparse product. No loop over accounts.
2. An option row's value enters equity as ``val`` (long at ``lo``, short at ``hi`` per
   lot); its charges follow ``clearing.options.rows``. Rows of portfolio accounts in
   any instrument on a chain's index carry no charges: the account's portfolio figures
   (IMR, MMR, and the requirement with its resting orders) are added to its IM, MM and
   requirement instead (``applied``), and re-applied whenever they change.
3. A portfolio account's figures use the scenario tables of the last revaluation; a
   trade or an order change re-computes that account from them at once.
4. Expiry: the index TWAP of the dated-future machinery; every holder receives
   ``size · intrinsic · m`` (no fee), the series is delisted (halted, orders cancelled,
   new orders refused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from clearing.events import MarginModeSet, OptionSettled, OptionsRevalued, RequestRejected
from clearing.instruments import FUTURE, PERPETUAL
from clearing.intmath import PPM
from clearing.margin import risk_reducing
from clearing.options import black76
from clearing.options.config import PORTFOLIO, STANDARD, PortfolioSpec
from clearing.options.money import ceil_lots, lot_values
from clearing.options.portfolio import PortfolioCache, make_tables
from clearing.options.rows import row_charges, row_charges_vector
from clearing.options.standard import short_unit_margins
from clearing.options.surface import IVSurface, Smile
from clearing.positions import apply_trade
from matching.commands import CancelOrder, Halt
from matching.enums import EndReason
from matching.reasons import Reason

if TYPE_CHECKING:
    from clearing.engine import ClearingEngine, InstrumentState


def _view(arr: object, n: int) -> np.ndarray:
    return np.frombuffer(arr, dtype=np.int64, count=n)  # type: ignore[call-overload]


class Book:
    """One underlying: its chain, its linear instruments, its surface and last figures."""

    def __init__(self, u: int, chain: Any, series: list, linear: list) -> None:
        self.u = u
        self.chain = chain
        self.series = series
        self.linear = linear
        opt = [i.spec.option for i in series]
        self.K = np.array([o.strike for o in opt], dtype=np.float64)
        self.expiry = np.array([o.expiry_ts for o in opt], dtype=np.int64)
        self.is_call = np.array([o.is_call for o in opt], dtype=bool)
        self.mult = np.array([i.mult for i in series], dtype=np.int64)
        self.surface = IVSurface(chain.surface)
        self.ts: int | None = None
        self.index = 0
        n = len(series)
        self.F = np.zeros(n)
        self.T = np.zeros(n)
        self.iv = np.zeros(n)
        self.greeks: black76.Greeks | None = None
        self.lo = [0] * n
        self.hi = [0] * n
        self.short_im = [0] * n
        self.short_mm = [0] * n

    def forwards(self, eng: ClearingEngine, index: int) -> np.ndarray:
        """F per series: the same-expiry future's mark where listed and live, else the index."""
        by_expiry = {}
        for inst in self.linear:
            e = inst.spec.expiry_ts
            if inst.spec.kind == FUTURE and e is not None and not inst.expired and inst.mark:
                by_expiry[e] = inst.mark
        return np.array([by_expiry.get(int(e), index) for e in self.expiry], dtype=np.float64)

    def compute(self, eng: ClearingEngine, ts: int) -> bool:
        """Marks, Greeks and per-lot figures of every series at ``ts`` (False: no index)."""
        index = eng.index_prices.get(self.chain.index)
        if index is None or not self.series:
            return False
        self.ts, self.index = ts, index
        self.F = self.forwards(eng, index)
        self.T = black76.year_fraction(self.expiry, ts)
        self.iv = self.surface.vols(self.expiry, self.K, self.F)
        g = black76.greeks(self.F, self.K, self.T, self.iv, self.is_call)
        self.greeks = g
        lo, hi = lot_values(g.price, self.mult.astype(np.float64))
        im, mm = short_unit_margins(self.F, self.K, g.price, self.is_call, self.chain.standard)
        self.lo, self.hi = lo.tolist(), hi.tolist()
        self.short_im = ceil_lots(im, self.mult.astype(np.float64)).tolist()
        self.short_mm = ceil_lots(mm, self.mult.astype(np.float64)).tolist()
        for i, inst in enumerate(self.series):
            if not inst.expired:
                inst.mark = int(np.rint(g.price[i]))
                inst.marks.mark = inst.mark
        return True

    def lot(self, i: int) -> tuple[int, int, int, int, int]:
        """``(lo, hi, long_im, short_im, short_mm)`` per lot of series ``i``."""
        return self.lo[i], self.hi[i], self.hi[i], self.short_im[i], self.short_mm[i]


class OptionsEngine:
    """See the module docstring."""

    def __init__(self, eng: ClearingEngine) -> None:
        self.eng = eng
        cfg = eng.config
        spec = cfg.portfolio or PortfolioSpec()
        self.scan = spec.scan
        self.default_mode = spec.default_mode
        self.books: dict[str, Book] = {}
        self.by_index: dict[str, Book] = {}
        self.columns: list[InstrumentState] = []
        for u, (name, chain) in enumerate(sorted(cfg.options.items())):
            series = sorted(
                (i for i in eng.instruments.values()
                 if i.spec.option is not None and i.spec.option.underlying == name),
                key=lambda i: (i.spec.option.expiry_ts, i.spec.option.strike,
                               i.spec.option.kind))  # fmt: skip
            linear = [i for s, i in sorted(eng.instruments.items())
                      if i.spec.kind in (PERPETUAL, FUTURE) and i.spec.index == chain.index]
            book = Book(u, chain, series, linear)
            self.books[name] = book
            self.by_index[chain.index] = book
            for i, inst in enumerate(series):
                inst.opt = (book, i)
                inst.pm_col = len(self.columns)
                self.columns.append(inst)
            for inst in linear:
                inst.pm_col = len(self.columns)
                self.columns.append(inst)
        self.cache = PortfolioCache(self.scan, [i.ledger for i in self.columns], len(self.books))
        self.pm_slots: set[int] = set()
        self.pm_mask = np.zeros(16, dtype=bool)
        self.applied = np.zeros((16, 3), dtype=np.int64)  # im, mm, req added per slot
        self.dirty = False
        self.ladder_orders: set[int] = set()  # orders of the options liquidation ladder
        self.liq_hedged: dict[int, list[str]] = {}  # account -> underlyings hedged

    # -- modes ------------------------------------------------------------------------
    def _grow(self, n: int) -> None:
        if n > len(self.pm_mask):
            cap = len(self.pm_mask)
            while cap < n:
                cap *= 2
            mask = np.zeros(cap, dtype=bool)
            mask[: len(self.pm_mask)] = self.pm_mask
            applied = np.zeros((cap, 3), dtype=np.int64)
            applied[: len(self.applied)] = self.applied
            self.pm_mask, self.applied = mask, applied

    def _set_flag(self, slot: int, pm: bool) -> None:
        self._grow(slot + 1)
        self.pm_mask[slot] = pm
        if pm:
            self.pm_slots.add(slot)
            if self.cache.tables is None and any(b.ts is not None for b in self.books.values()):
                self.cache.tables = self.tables()
        else:
            self.pm_slots.discard(slot)

    def opened(self, slot: int) -> None:
        """A new account: the default mode."""
        self._grow(slot + 1)
        if self.default_mode == PORTFOLIO:
            self._set_flag(slot, True)

    def mode_of(self, slot: int) -> str:
        return PORTFOLIO if slot in self.pm_slots else STANDARD

    def set_mode(self, slot: int, mode: str) -> None:
        """Switch an account's mode and re-charge its rows (no checks: see ``set_margin_mode``)."""
        pm = mode == PORTFOLIO
        if pm == (slot in self.pm_slots):
            return
        self._set_flag(slot, pm)
        eng = self.eng
        for inst in self.columns:
            r = inst.ledger.row_of.get(slot)
            if r is not None:
                eng.refresh_row(inst, r)
        if pm:
            self.cache.ensure(eng.table.n)
            self.cache.prov[slot] = self._provision_of(slot)
            self.refresh_pm(slot)
        else:
            self._apply(slot, 0, 0, 0)

    # -- portfolio figures ------------------------------------------------------------
    def _apply(self, slot: int, im: int, mm: int, req: int) -> None:
        A = self.eng.table
        old = self.applied[slot]
        A.im[slot] += im - int(old[0])
        A.mm[slot] += mm - int(old[1])
        A.req[slot] += req - int(old[2])
        old[0], old[1], old[2] = im, mm, req

    def refresh_pm(self, slot: int) -> None:
        """Re-compute a portfolio account from the current tables and apply it."""
        if self.cache.tables is None or slot not in self.pm_slots:
            return
        f = self.cache.refresh_account(slot)
        self._apply(slot, f.im, f.mm, f.req)

    def commit_pm(self, slot: int) -> None:
        """An order of a portfolio account was admitted as checked: store and apply it."""
        req = self.cache.commit_resting(slot)
        applied = self.applied
        self.eng.table.req[slot] += req - applied.item(slot, 2)
        applied[slot, 2] = req

    def tables(self) -> Any:
        """Per-lot scenario tables of every column from the books' last figures."""
        F, K, T, sig, call, lin, mult, under = [], [], [], [], [], [], [], []
        for book in self.books.values():
            for i, inst in enumerate(book.series):
                F.append(float(book.F[i]) if book.ts is not None else 1.0)
                K.append(float(book.K[i]))
                T.append(float(book.T[i]))
                sig.append(float(book.iv[i]))
                call.append(bool(book.is_call[i]))
                lin.append(False)
                mult.append(inst.mult)
                under.append(book.u)
            for inst in book.linear:
                F.append(float(inst.mark or 0))
                K.append(1.0)
                T.append(0.0)
                sig.append(0.0)
                call.append(False)
                lin.append(True)
                mult.append(inst.mult)
                under.append(book.u)
        return make_tables(self.scan, F=F, K=K, T=T, sigma=sig, is_call=call, linear=lin,
                           mult=mult, under=under, n_under=len(self.books))  # fmt: skip

    def _provisions(self, n: int) -> None:
        """Funding provision: the next perpetual payment at the last rate, where it is paid."""
        prov = self.cache.prov
        prov[:n] = 0
        for inst in self.columns:
            st = inst.funding
            if st is None or not st.last_rate or not inst.mark:
                continue
            L = inst.ledger
            k = L.n
            if not k:
                continue
            slots, size = _view(L.slot, k), _view(L.size, k)
            pay = np.ceil(size * (st.last_rate * inst.mark * inst.mult / (1000 * PPM))) + 1
            pay = np.where((size != 0) & (pay > 0), pay, 0).astype(np.int64)
            prov[slots] += pay * self.pm_mask[slots]

    def _provision_of(self, slot: int) -> int:
        """``_provisions`` for one account (same formula, same floats)."""
        total = 0
        for inst in self.columns:
            st = inst.funding
            r = inst.ledger.row_of.get(slot)
            if st is None or not st.last_rate or not inst.mark or r is None:
                continue
            size = inst.ledger.size[r]
            pay = np.ceil(np.int64(size) * (st.last_rate * inst.mark * inst.mult / (1000 * PPM)))
            pay = int(pay) + 1
            if size and pay > 0:
                total += pay
        return total

    # -- revaluation ------------------------------------------------------------------
    def revalue(self, ts: int, out: list | None) -> None:
        """Re-mark the chains and re-margin every holder (module rule 1)."""
        from clearing import remark

        self.dirty = False
        eng = self.eng
        A = eng.table
        na = A.n
        self._grow(na)
        eq_a, im_a, mm_a, req_a = (_view(A.eq, na), _view(A.im, na), _view(A.mm, na),
                                   _view(A.req, na))  # fmt: skip
        touched = np.zeros(na, dtype=bool)  # accounts to check afterwards
        # Portfolio accounts' option values move through the cache's sparse product: a
        # row's value is size x its side's lot value (``val``, kept so by every change of
        # the row), so an account's change is sum(lots x change of the lot value).
        pm_any = bool(self.pm_slots)
        all_pm = pm_any and len(self.pm_slots) == na  # every account: no mask to gather
        n_cols = len(self.columns)
        d_lo = np.zeros(n_cols, dtype=np.int64)
        d_hi = np.zeros(n_cols, dtype=np.int64)
        for name, book in self.books.items():
            old_lo, old_hi = book.lo, book.hi
            if not book.compute(eng, ts):
                continue
            rows = 0
            for i, inst in enumerate(book.series):
                L = inst.ledger
                n = L.n
                if not n or inst.expired:
                    continue
                rows += n
                lo, hi, long_im, short_im, short_mm = book.lot(i)
                slots, size, old_val = (_view(L.slot, n), _view(L.size, n), _view(L.val, n))
                pm = None
                if pm_any:
                    d_lo[inst.pm_col], d_hi[inst.pm_col] = lo - old_lo[i], hi - old_hi[i]
                    pm = None if all_pm else self.pm_mask[slots]
                    if pm is None or pm.all():
                        # portfolio rows only: the values in place (size·lo, shorts
                        # size·hi), no row charges (they stay zero)
                        np.multiply(size, lo, out=old_val)
                        if hi != lo:
                            old_val += np.minimum(size, 0) * (hi - lo)
                        continue
                val = np.where(size > 0, size * lo, size * hi)
                if pm is None:
                    eq_a[slots] += val - old_val
                    touched[slots] = True
                else:
                    std = ~pm  # standard accounts' rows: their values one by one
                    eq_a[slots[std]] += (val - old_val)[std]
                    touched[slots[std]] = True
                old_val[:] = val
                v = {c: _view(getattr(L, c), n) for c in
                     ("bq", "bv", "bf", "sq", "sv", "sf", "im", "mm", "cb", "cs", "req")}
                im, mm, cb, cs, req, _ = row_charges_vector(
                    size, v["bq"], v["bv"], v["bf"], v["sq"], v["sv"], v["sf"], inst.mult,
                    lo, hi, long_im, short_im, short_mm)  # fmt: skip
                if pm is not None:
                    for arr in (im, mm, cb, cs, req):
                        arr[pm] = 0
                im_a[slots] += im - v["im"]
                mm_a[slots] += mm - v["mm"]
                req_a[slots] += req - v["req"]
                for c, arr in (("im", im), ("mm", mm), ("cb", cb), ("cs", cs), ("req", req)):
                    v[c][:] = arr
            if out is not None:
                out.append(OptionsRevalued(ts, name, book.index, len(book.series), rows))
        tables = self.tables()
        if not self.pm_slots:  # keep the tables current for accounts switching later
            self.cache.tables = tables
            self.cache._gen += 1
        else:
            cache = self.cache
            cache.ensure(na)
            self._provisions(na)
            d_val = cache.remargin_all(tables, na, None if all_pm else self.pm_mask[:na],
                                       (d_lo, d_hi))  # fmt: skip
            if d_val is not None:
                eq_a += d_val
            pm_idx: slice | np.ndarray = (slice(0, na) if all_pm
                                          else np.flatnonzero(self.pm_mask[:na]))  # fmt: skip
            applied = self.applied
            for k, (acc, new) in enumerate(((im_a, cache.im), (mm_a, cache.mm),
                                            (req_a, cache.req))):  # fmt: skip
                fresh = new[pm_idx]
                acc[pm_idx] += fresh - applied[pm_idx, k]
                applied[pm_idx, k] = fresh
            touched[pm_idx] = True
            cache._py.clear()
        del eq_a, im_a, mm_a, req_a
        if out is None:
            return
        if touched.all():  # every account: plain views, no gathers
            slots = np.arange(na)
            E, MM, REQ, IM = (np.frombuffer(c, dtype=np.int64, count=na)
                              for c in (A.eq, A.mm, A.req, A.im))  # fmt: skip
        else:
            slots = np.flatnonzero(touched)
            if not slots.size:
                return
            E, MM, REQ, IM = (np.frombuffer(c, dtype=np.int64, count=na)[slots]
                              for c in (A.eq, A.mm, A.req, A.im))  # fmt: skip
        ratio = eng.risk.margin_call_ratio_ppm
        q, r = np.divmod(MM, PPM)
        warn = q * ratio + (r * ratio + (PPM - 1)) // PPM
        picked = slots[(warn > E) | ((E < REQ) & (IM < REQ))].tolist()
        if picked:
            remark.check_slots(eng, picked, ts, out)

    # -- rows -------------------------------------------------------------------------
    def refresh_row(self, inst: InstrumentState, r: int) -> None:
        """An option row, or a linear row of a portfolio account, after a change."""
        eng = self.eng
        L = inst.ledger
        slot = L.slot[r]
        pm = slot in self.pm_slots
        A = eng.table
        self.cache.mark_dirty(inst.pm_col)  # its size may have changed
        if inst.opt is not None:
            book, i = inst.opt
            im, mm, cb, cs, req, val = row_charges(
                L.size[r], L.bq[r], L.bv[r], L.bf[r], L.sq[r], L.sv[r], L.sf[r], inst.mult,
                *book.lot(i))  # fmt: skip
            A.eq[slot] += val - L.val[r]
            L.val[r] = val
        else:
            im = mm = cb = cs = req = 0
        if pm:
            im = mm = cb = cs = req = 0
        A.im[slot] += im - L.im[r]
        A.mm[slot] += mm - L.mm[r]
        A.req[slot] += req - L.req[r]
        L.im[r], L.mm[r], L.cb[r], L.cs[r], L.req[r] = im, mm, cb, cs, req
        if pm:
            self.refresh_pm(slot)

    def covers(self, inst: InstrumentState, slot: int) -> bool:
        """Whether the options engine margins this row (else the tiered margin does)."""
        return inst.opt is not None or slot in self.pm_slots

    # -- pre-trade --------------------------------------------------------------------
    def admit(self, inst: InstrumentState, slot: int, s: int, side: int, qty: int, price: int,
              fee: int, agg: list[int], row: tuple[int, ...]
              ) -> tuple[bool, int, int, int, int]:
        """Margin part of admission for an option or a portfolio account.

        ``agg`` = [bq, bv, bf, sq, sv, sf] with the order already added, ``row`` = the
        row's (im, mm, cb, cs, req) before. Returns ``(ok, REQ', cb', cs', req')``: the
        account's requirement with the order and the row's new charges (all zero for a
        portfolio account, whose figures ``refresh_pm`` applies after admission).
        Acceptance: ``E >= REQ'``; else, below the requirement, the fill at the limit
        must leave ``E' >= IM'`` or pass the risk-reducing rule (``clearing.pretrade``).
        """
        eng = self.eng
        A = eng.table
        E, REQ = A.eq[slot], A.req[slot]
        im, mm, _, _, req = row
        bq, bv, bf, sq, sv, sf = agg
        m = inst.mult
        if slot in self.pm_slots:
            ok, REQ2 = self.admit_portfolio(
                inst, slot, s, side, qty, price, fee,
                *((bq - qty, bv - qty * price, bf - fee, sq, sv, sf) if side > 0 else
                  (bq, bv, bf, sq - qty, sv - qty * price, sf - fee)))  # fmt: skip
            return ok, REQ2, 0, 0, 0
        book, i = inst.opt
        lo, hi, long_im, short_im, short_mm = book.lot(i)
        _, _, cb, cs, req2, _ = row_charges(s, bq, bv, bf, sq, sv, sf, m, lo, hi, long_im,
                                            short_im, short_mm)  # fmt: skip
        REQ2 = REQ - req + req2
        if E >= REQ2:
            return True, REQ2, cb, cs, req2
        if E < REQ:
            s2 = s + side * qty
            loss = qty * price * m - qty * lo if side > 0 else qty * hi - qty * price * m
            E2 = E - (loss if loss > 0 else 0) - fee
            im_after = A.im[slot] - im + (s2 * long_im if s2 >= 0 else -s2 * short_im)
            mm_after = A.mm[slot] - mm + (s2 * long_im if s2 >= 0 else -s2 * short_mm)
            if im_after <= E2 or risk_reducing(E, A.mm[slot], E2, mm_after):
                return True, REQ2, cb, cs, req2
        return False, REQ2, cb, cs, req2

    def admit_portfolio(self, inst: InstrumentState, slot: int, s: int, side: int, qty: int,
                        price: int, fee: int, bq: int, bv: int, bf: int, sq: int, sv: int,
                        sf: int) -> tuple[bool, int]:
        """``admit`` for a portfolio account: ``(ok, REQ')`` from the cached vectors.

        ``bq..sf`` are the column's side aggregates without the order. The row carries no
        charges (``refresh_pm``/``commit_pm`` apply the portfolio figures).
        """
        A = self.eng.table
        E, REQ = A.eq[slot], A.req[slot]
        cache = self.cache
        col = inst.pm_col
        req_new, open_loss = cache.check_resting(slot, col, side, qty, price, fee, bq, bv, bf,
                                                 sq, sv, sf)  # fmt: skip
        applied = self.applied
        REQ2 = REQ - applied.item(slot, 2) + req_new
        if E >= REQ2:
            return True, REQ2
        if E < REQ:
            imr, mmr = cache.check_fill(slot, col, side, qty, s)
            E2 = E - open_loss - fee
            MM = A.mm[slot]
            if A.im[slot] - applied.item(slot, 0) + imr <= E2 or risk_reducing(
                    E, MM, E2, MM - applied.item(slot, 1) + mmr):
                return True, REQ2
        return False, REQ2

    def stale(self, inst: InstrumentState, ts: int) -> bool:
        if inst.opt is None:
            return False
        book, _ = inst.opt
        return book.surface.is_stale(int(inst.spec.option.expiry_ts), ts)

    # -- expiry -----------------------------------------------------------------------
    def settle_expiry(self, inst: InstrumentState, price: int, ts: int, out: list) -> None:
        """Pay every holder the intrinsic value at the settlement price; delist the series."""
        eng = self.eng
        st = inst.expiry
        assert st is not None
        st.price = price
        inst.expired = True
        sym = inst.symbol
        series = inst.spec.option
        intrinsic = max(0, price - series.strike) if series.is_call else max(0, series.strike
                                                                              - price)
        out.append(Halt(ts, sym, "expired"))
        for oid in sorted(eng.orders):
            o = eng.orders[oid]
            if o.symbol == sym and not o.cancel_pending:
                o.cancel_pending = True
                out.append(CancelOrder(ts, sym, oid, o.account, int(EndReason.RISK)))
        book, i = inst.opt
        m = inst.mult
        v = intrinsic * m  # the value per lot is now exact
        book.lo[i] = book.hi[i] = v
        book.short_im[i] = book.short_mm[i] = v
        inst.mark = inst.marks.mark = intrinsic
        L = inst.ledger
        closed = 0
        for r in range(L.n):
            size = L.size[r]
            acct = eng.by_slot[L.slot[r]]
            if size:
                size2, cost2, realized = apply_trade(size, L.cost[r], -size, intrinsic, m)
                eng.add_cash(acct, size * v)
                eng.table.eq[acct.slot] -= L.val[r]
                L.val[r] = 0
                L.size[r], L.cost[r] = size2, cost2
                acct.positions[sym].realized_pnl += realized
                closed += 1
            eng.refresh_row(inst, r)
        out.append(OptionSettled(ts, sym, price, intrinsic, closed))

    # -- queries ----------------------------------------------------------------------
    def chain(self, underlying: str) -> list[dict]:
        """Per series: symbols, strike, expiry, forward, mark, mark IV and Greeks."""
        book = self.books[underlying]
        g = book.greeks
        rows = []
        for i, inst in enumerate(book.series):
            o = inst.spec.option
            d = {"symbol": inst.symbol, "ccxt_symbol": o.ccxt_symbol, "strike": o.strike,
                 "expiry_ts": o.expiry_ts, "type": "call" if o.is_call else "put",
                 "expired": inst.expired, "mark": inst.mark,
                 "stale_iv": book.surface.is_stale(o.expiry_ts, self.eng.ts)}  # fmt: skip
            if g is not None:
                d.update(forward=float(book.F[i]), mark_price=float(g.price[i]),
                         mark_iv=float(book.iv[i]), delta=float(g.delta[i]),
                         gamma=float(g.gamma[i]), vega=float(g.vega[i]),
                         theta=float(g.theta[i]), years=float(book.T[i]))  # fmt: skip
            rows.append(d)
        return rows

    def position_greeks(self, slot: int) -> dict:
        """Greeks per position and per underlying, in units of the underlying.

        A position of ``q`` lots of contract size ``c`` has delta ``q·c·δ``, gamma
        ``q·c·gamma``, vega ``q·c·vega`` and theta ``q·c·θ`` (vega per vol point, theta per
        day, both in price units); a perpetual or future has delta ``q·c``.
        """
        from decimal import Decimal

        positions: dict[str, dict] = {}
        totals: dict[str, dict] = {}
        for name, book in self.books.items():
            g = book.greeks
            tot = {"delta": 0.0, "gamma": 0.0, "vega": 0.0, "theta": 0.0}
            for i, inst in enumerate(book.series):
                r = inst.ledger.row_of.get(slot)
                if r is None or not inst.ledger.size[r] or g is None:
                    continue
                units = inst.ledger.size[r] * float(Decimal(inst.spec.contract_size))
                d = {"size": inst.ledger.size[r], "delta": units * float(g.delta[i]),
                     "gamma": units * float(g.gamma[i]), "vega": units * float(g.vega[i]),
                     "theta": units * float(g.theta[i])}  # fmt: skip
                positions[inst.symbol] = d
                for k in tot:
                    tot[k] += d[k]
            for inst in book.linear:
                r = inst.ledger.row_of.get(slot)
                if r is None or not inst.ledger.size[r]:
                    continue
                units = inst.ledger.size[r] * float(Decimal(inst.spec.contract_size))
                positions[inst.symbol] = {"size": inst.ledger.size[r], "delta": units,
                                          "gamma": 0.0, "vega": 0.0, "theta": 0.0}
                tot["delta"] += units
            totals[name] = tot
        return {"positions": positions, "underlyings": totals}

    def account_risk(self, slot: int) -> dict:
        """Mode, portfolio figures and worst scenario of an account."""
        d: dict = {"margin_mode": self.mode_of(slot)}
        if slot in self.pm_slots and self.cache.tables is not None:
            f = self.cache.figures(slot)
            d.update(portfolio_im=f.im, portfolio_mm=f.mm, portfolio_required=f.req,
                     scan=f.scan, min_delta=f.min_delta)  # fmt: skip
            if f.worst_scenario >= 0:
                shock, vol, weight = self.scan.scenarios[f.worst_scenario]
                d["worst_scenario"] = {"underlying": list(self.books)[f.worst_under],
                                       "index": f.worst_scenario, "spot_shock_ppm": shock,
                                       "vol": vol, "weight_ppm": weight}  # fmt: skip
        return d

    # -- state ------------------------------------------------------------------------
    def export(self) -> dict:
        return {
            "ladder_orders": sorted(self.ladder_orders),
            "liq_hedged": {a: list(v) for a, v in sorted(self.liq_hedged.items())},
            "portfolio_accounts": sorted(self.eng.by_slot[s].id for s in self.pm_slots),
            "books": {name: {"ts": b.ts, "surface": {str(e): v for e, v in
                                                     b.surface.export().items()}}
                      for name, b in self.books.items()},
        }  # fmt: skip

    def restore(self, d: dict) -> None:
        """Modes, surfaces, the last revaluation and the portfolio cache (``from_state``).

        Rows are recomputed by ``clearing.export.recompute`` afterwards.
        """
        eng = self.eng
        self.ladder_orders = set(d["ladder_orders"])
        self.liq_hedged = {int(a): list(v) for a, v in d["liq_hedged"].items()}
        for name, b in d["books"].items():
            book = self.books[name]
            book.surface.restore(b["surface"])
            if b["ts"] is not None:
                book.compute(eng, b["ts"])
        for slot in list(self.pm_slots):
            self._set_flag(slot, False)
        for aid in d["portfolio_accounts"]:
            self._set_flag(eng.accounts[aid].slot, True)
        n = eng.table.n
        self._grow(n)
        self.applied[:] = 0
        if self.pm_slots:
            self.cache.ensure(n)
            self._provisions(n)
            self.cache.remargin_all(self.tables(), n, self.pm_mask[:n])
            idx = np.flatnonzero(self.pm_mask[:n])
            self.applied[idx, 0] = self.cache.im[idx]
            self.applied[idx, 1] = self.cache.mm[idx]
            self.applied[idx, 2] = self.cache.req[idx]

    def row_figures(self, inst: InstrumentState, slot: int, size: int, agg: list[int]
                    ) -> tuple[int, int, int, int, int, int]:
        """``(im, mm, cb, cs, req, val)`` of a covered row from scratch (for ``recompute``)."""
        if inst.opt is not None:
            book, i = inst.opt
            f = row_charges(size, *agg, inst.mult, *book.lot(i))
        else:
            f = (0, 0, 0, 0, 0, size * (inst.mark or 0) * inst.mult)
        if slot in self.pm_slots:
            return 0, 0, 0, 0, 0, f[5]
        return f

    def recompute_pm(self) -> np.ndarray:
        """Fresh portfolio figures (im, mm, req) of every slot, from the current tables.

        (The provisions are taken as cached: they follow the funding state.)
        """
        n = self.eng.table.n
        self._grow(n)
        fresh = PortfolioCache(self.scan, [i.ledger for i in self.columns], len(self.books))
        fresh.ensure(n)
        self.cache.ensure(n)
        fresh.prov[:n] = self.cache.prov[:n]
        if self.pm_slots and any(b.ts is not None for b in self.books.values()):
            fresh.remargin_all(self.tables(), n, self.pm_mask[:n])
        out = np.zeros((n, 3), dtype=np.int64)
        out[:, 0], out[:, 1], out[:, 2] = fresh.im[:n], fresh.mm[:n], fresh.req[:n]
        out[~self.pm_mask[:n]] = 0
        return out


def set_margin_mode(eng: ClearingEngine, cmd: Any, out: list, ts: int) -> None:
    """Admin command: switch mode unless it would leave the account below its requirement."""
    acct = eng.accounts.get(cmd.account) if type(cmd.account) is int else None
    opts = eng.options
    reason, text = None, ""
    if acct is None:
        reason = Reason.UNKNOWN_ACCOUNT
    elif cmd.mode not in (STANDARD, PORTFOLIO):
        reason, text = Reason.INVALID_REQUEST, "mode must be 'standard' or 'portfolio'"
    elif opts is None:
        reason, text = Reason.INVALID_REQUEST, "no option chains: portfolio mode is off"
    elif acct.id in eng.liquidations:
        reason = Reason.ACCOUNT_IN_LIQUIDATION
    if reason is not None:
        eng.count_reject(reason)
        out.append(RequestRejected(ts, cmd.account, "SetMarginMode", reason, 0, 0,
                                   text or reason.text))  # fmt: skip
        return
    slot = acct.slot
    old = opts.mode_of(slot)
    A = eng.table
    if opts.cache.tables is None:
        opts.revalue(ts, None)
    opts.set_mode(slot, cmd.mode)
    if A.eq[slot] < A.req[slot] and old != cmd.mode:
        required, available = A.req[slot], A.eq[slot]
        opts.set_mode(slot, old)
        eng.count_reject(Reason.INSUFFICIENT_MARGIN)
        out.append(RequestRejected(ts, acct.id, "SetMarginMode", Reason.INSUFFICIENT_MARGIN,
                                   required, available,
                                   "the new mode would leave equity below the requirement"))
        return
    out.append(MarginModeSet(ts, acct.id, cmd.mode, A.im[slot], A.mm[slot]))


def iv_update(eng: ClearingEngine, cmd: Any, out: list, ts: int) -> None:
    from clearing.events import IVUpdated

    opts = eng.options
    book = opts.books.get(cmd.underlying) if opts is not None and type(
        cmd.underlying) is str else None  # fmt: skip
    ints = all(type(x) is int for x in (cmd.expiry_ts, cmd.atm_ppm, cmd.skew_ppm,
                                          cmd.curvature_ppm))  # fmt: skip
    if book is None:
        reason, text = Reason.UNKNOWN_ASSET, "unknown option underlying"
    elif not ints or cmd.expiry_ts not in book.chain.expiries:
        reason, text = Reason.INVALID_REQUEST, "expiry_ts must be a listed expiry"
    elif not 0 < cmd.atm_ppm <= 100 * PPM or abs(cmd.skew_ppm) > 100 * PPM or abs(
            cmd.curvature_ppm) > 100 * PPM:
        reason, text = Reason.INVALID_REQUEST, "atm_ppm in 1..1e8, |skew|, |curvature| <= 1e8"
    else:
        book.surface.update(cmd.expiry_ts, Smile(cmd.atm_ppm, cmd.skew_ppm, cmd.curvature_ppm,
                                                 ts))  # fmt: skip
        opts.dirty = True
        out.append(IVUpdated(ts, cmd.underlying, cmd.expiry_ts, cmd.atm_ppm, cmd.skew_ppm,
                             cmd.curvature_ppm))  # fmt: skip
        return
    eng.count_reject(reason)
    out.append(RequestRejected(ts, None, "IVUpdate", reason, 0, 0, text))


__all__ = ["Book", "OptionsEngine", "iv_update", "set_margin_mode"]
