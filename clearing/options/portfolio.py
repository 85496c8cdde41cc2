"""Portfolio margin in real time: scenario vectors per account, sparse and cached.

Per update (an index or IV change) each instrument on a portfolio-margined underlying
(a *column*: every option series, perpetual and future on it) gets its integer per-lot
tables (``scenarios``): ``loss_long[s]``, ``loss_short[s]``, ``delta_lot`` and the lot
values ``lo``/``hi`` at the mark. Then, with no Python loop over accounts:

    loss  = Q⁺ · loss_long + Q⁻ · loss_short        (scipy.sparse CSC, accounts x columns)
    delta = Q · delta_lot                           (per underlying)

where ``Q⁺``/``Q⁻`` hold each account's long / short lots (built straight from the
columns' ledgers, so no sorting). Per account and underlying ``u`` (weights ``w_s``)::

    SCAN_u     = max(0, max_s ceil(w_s · loss_u,s))
    MinDelta_u = ceil(min_delta · |delta_u|)
    base_u     = max(SCAN_u, MinDelta_u)
    IMR = Σ_u base_u + provisions              MMR = ceil(mm_ratio · Σ_u base_u) + provisions

Resting orders (the "worst side"): per column with resting buys ``bq`` and sells ``sq``
the order vector is the element-wise ``max(bq·loss_long, sq·loss_short)`` (the worse of
the two sides in every scenario), its delta ``max(bq, sq)·|delta_lot|`` and its scalar
``max(open loss + fees of the buys, of the sells)`` (open loss: ``max(0, bv·m - bq·lo)``,
``max(0, sq·hi - sv·m)``). With ``ord_loss``, ``ord_dabs`` and ``ord_scalar`` the sums
over columns::

    base'_u = max(SCAN(loss_u + ord_loss_u), ceil(min_delta · (|delta_u| + ord_dabs_u)))
    REQ     = max(IMR, Σ_u base'_u + provisions + ord_scalar)

Everything after the per-lot tables is integer, so the cached vectors are exact: an
account's cache always equals a full recompute (a hypothesis state machine checks it).

Pre-trade (``check_order``): the cached vectors of the account, plus the order's own
vector (its full fill at its limit) in place of its column's side — O(scenarios), never
O(positions) and never a sparse product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse

from clearing.intmath import PPM
from clearing.options.scenarios import ScanParams, weighted_max, weighted_max_vector


@dataclass(slots=True)
class Tables:
    """Per-update tables of every column (int64; Python-list mirrors for the hot path)."""

    loss_long: np.ndarray  # (columns, S)
    loss_short: np.ndarray  # (columns, S)
    delta_lot: np.ndarray  # (columns,)
    lo: np.ndarray  # (columns,) value of one long lot at the mark (floor)
    hi: np.ndarray  # (columns,) liability of one short lot at the mark (ceil)
    mult: np.ndarray  # (columns,) instrument multiplier
    under: np.ndarray  # (columns,) underlying index 0..U-1
    n_under: int
    ll: list = None  # type: ignore[assignment]
    ls: list = None  # type: ignore[assignment]
    dl: list = None  # type: ignore[assignment]
    lol: list = None  # type: ignore[assignment]
    hil: list = None  # type: ignore[assignment]
    ml: list = None  # type: ignore[assignment]
    ul: list = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.ll = self.loss_long.tolist()
        self.ls = self.loss_short.tolist()
        self.dl = self.delta_lot.tolist()
        self.lol = self.lo.tolist()
        self.hil = self.hi.tolist()
        self.ml = self.mult.tolist()
        self.ul = self.under.tolist()


class Figures(NamedTuple):
    """One account's portfolio figures (minor units) and its worst scenario."""

    im: int
    mm: int
    req: int
    scan: int
    min_delta: int
    worst_under: int
    worst_scenario: int


def _view(arr: Any, n: int) -> np.ndarray:
    return np.frombuffer(arr, dtype=np.int64, count=n)


class PortfolioCache:
    """Cached scenario vectors of every account (rows = account slots).

    ``columns`` are ledgers (``clearing.positions.Ledger``: ``slot``, ``size``, ``bq``,
    ``bv``, ``bf``, ``sq``, ``sv``, ``sf`` columns and ``row_of``), one per instrument
    on a portfolio-margined underlying, in column order.
    """

    def __init__(self, params: ScanParams, columns: Sequence[Any], n_under: int) -> None:
        self.p = params
        self.S = params.n
        self.w = params.weights
        self.columns = list(columns)
        self.U = n_under
        self.cap = 0
        self.tables: Tables | None = None
        self._alloc(16)

    # -- storage ------------------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        US, U = self.U * self.S, self.U

        def grow(old: np.ndarray | None, shape: tuple) -> np.ndarray:
            new = np.zeros(shape, dtype=np.int64)
            if old is not None:
                new[: old.shape[0]] = old
            return new

        g = getattr
        self.pos_loss = grow(g(self, "pos_loss", None), (cap, US))
        self.pos_delta = grow(g(self, "pos_delta", None), (cap, U))
        self.ord_loss = grow(g(self, "ord_loss", None), (cap, US))
        self.ord_dabs = grow(g(self, "ord_dabs", None), (cap, U))
        self.ord_scalar = grow(g(self, "ord_scalar", None), (cap,))
        self.prov = grow(g(self, "prov", None), (cap,))
        self.im = grow(g(self, "im", None), (cap,))
        self.mm = grow(g(self, "mm", None), (cap,))
        self.req = grow(g(self, "req", None), (cap,))
        self.cap = cap

    def ensure(self, n_slots: int) -> None:
        if n_slots > self.cap:
            cap = self.cap
            while cap < n_slots:
                cap *= 2
            self._alloc(cap)

    # -- full, vectorised ------------------------------------------------------------
    def remargin_all(self, tables: Tables, n_slots: int, members: np.ndarray | None = None) -> None:
        """New tables: recompute every account's vectors and figures (no account loop).

        ``members`` (bool per slot) restricts the portfolio to those accounts (others get
        zero figures); None means every slot.
        """
        self.tables = tables
        self.ensure(n_slots)
        S, U = self.S, self.U
        n_cols = len(self.columns)
        sl, sz, cols = [], [], []
        for j, L in enumerate(self.columns):
            n = L.n
            if n:
                sl.append(_view(L.slot, n))
                sz.append(_view(L.size, n))
                cols.append(np.full(n, j, dtype=np.int64))
        loss = self.pos_loss[:n_slots]
        delta = self.pos_delta[:n_slots]
        oloss = self.ord_loss[:n_slots]
        odabs = self.ord_dabs[:n_slots]
        oscal = self.ord_scalar[:n_slots]
        loss[:] = 0
        delta[:] = 0
        oloss[:] = 0
        odabs[:] = 0
        oscal[:] = 0
        if sl:
            slots = np.concatenate(sl)
            size = np.concatenate(sz)
            col = np.concatenate(cols)
            if members is not None:
                keep = members[slots] & (size != 0)
            else:
                keep = size != 0
            slots, size, col = slots[keep], size[keep], col[keep]
            # stacked [Q⁺ | Q⁻] (slots x 2·columns) times [loss_long; loss_short] blocks
            short = size < 0
            scol = np.where(short, col + n_cols, col)
            order = np.argsort(scol, kind="stable")
            indptr = np.zeros(2 * n_cols + 1, dtype=np.int64)
            np.cumsum(np.bincount(scol, minlength=2 * n_cols), out=indptr[1:])
            q = sparse.csc_matrix((np.abs(size)[order], slots[order], indptr),
                                  shape=(n_slots, 2 * n_cols))  # fmt: skip
            block = np.zeros((2 * n_cols, U * S), dtype=np.int64)
            for j in range(n_cols):
                u = int(tables.under[j])
                block[j, u * S:(u + 1) * S] = tables.loss_long[j]
                block[n_cols + j, u * S:(u + 1) * S] = tables.loss_short[j]
            loss[:] = q @ block
            dblock = np.zeros((2 * n_cols, U), dtype=np.int64)
            dblock[np.arange(n_cols), tables.under] = tables.delta_lot
            dblock[n_cols + np.arange(n_cols), tables.under] = -tables.delta_lot
            delta[:] = q @ dblock
        self._orders_all(tables, n_slots, members)
        self._figures_all(n_slots)

    def _orders_all(self, t: Tables, n_slots: int, members: np.ndarray | None) -> None:
        S = self.S
        for j, L in enumerate(self.columns):
            n = L.n
            if not n:
                continue
            bq, sq = _view(L.bq, n), _view(L.sq, n)
            rows = np.flatnonzero((bq != 0) | (sq != 0))
            if members is not None and rows.size:
                rows = rows[members[_view(L.slot, n)[rows]]]
            if not rows.size:
                continue
            slots = _view(L.slot, n)[rows]
            b, s = bq[rows], sq[rows]
            u = int(t.under[j])
            vec = np.maximum(b[:, None] * t.loss_long[j], s[:, None] * t.loss_short[j])
            self.ord_loss[slots, u * S:(u + 1) * S] += vec
            self.ord_dabs[slots, u] += np.maximum(b, s) * abs(int(t.delta_lot[j]))
            m = int(t.mult[j])
            ob = np.maximum(_view(L.bv, n)[rows] * m - b * int(t.lo[j]), 0) + _view(L.bf, n)[rows]
            os_ = np.maximum(s * int(t.hi[j]) - _view(L.sv, n)[rows] * m, 0) + _view(L.sf, n)[rows]
            self.ord_scalar[slots] += np.maximum(np.where(b > 0, ob, 0), np.where(s > 0, os_, 0))

    def _figures_all(self, n: int) -> None:
        p, S, U = self.p, self.S, self.U
        loss = self.pos_loss[:n].reshape(n * U, S)
        scan, _ = weighted_max_vector(loss, self.w)
        md = _ceil_ppm(np.abs(self.pos_delta[:n]).reshape(n * U), p.min_delta_ppm)
        base = np.maximum(scan, md).reshape(n, U).sum(axis=1)
        prov = self.prov[:n]
        self.im[:n] = base + prov
        self.mm[:n] = _ceil_ppm(base, p.mm_ratio_ppm) + prov
        tot = (self.pos_loss[:n] + self.ord_loss[:n]).reshape(n * U, S)
        scan2, _ = weighted_max_vector(tot, self.w)
        dab = (np.abs(self.pos_delta[:n]) + self.ord_dabs[:n]).reshape(n * U)
        base2 = np.maximum(scan2, _ceil_ppm(dab, p.min_delta_ppm)).reshape(n, U).sum(axis=1)
        self.req[:n] = np.maximum(self.im[:n], base2 + prov + self.ord_scalar[:n])

    # -- one account, exact Python ints -----------------------------------------------
    def refresh_account(self, slot: int) -> Figures:
        """Recompute one account's vectors from the ledgers (after a fill or order change)."""
        t = self.tables
        assert t is not None
        self.ensure(slot + 1)
        S, U = self.S, self.U
        loss = [0] * (U * S)
        delta = [0] * U
        oloss = [0] * (U * S)
        odabs = [0] * U
        oscal = 0
        for j, L in enumerate(self.columns):
            r = L.row_of.get(slot)
            if r is None:
                continue
            u = t.ul[j]
            q = L.size[r]
            if q:
                tab = t.ll[j] if q > 0 else t.ls[j]
                a = abs(q)
                base = u * S
                for k in range(S):
                    loss[base + k] += a * tab[k]
                delta[u] += q * t.dl[j]
            b, s = L.bq[r], L.sq[r]
            if b or s:
                ll, ls = t.ll[j], t.ls[j]
                base = u * S
                for k in range(S):
                    x, y = b * ll[k], s * ls[k]
                    oloss[base + k] += x if x > y else y
                odabs[u] += (b if b > s else s) * abs(t.dl[j])
                oscal += _order_scalar(b, L.bv[r], L.bf[r], s, L.sv[r], L.sf[r], t.ml[j],
                                       t.lol[j], t.hil[j])  # fmt: skip
        self.pos_loss[slot] = loss
        self.pos_delta[slot] = delta
        self.ord_loss[slot] = oloss
        self.ord_dabs[slot] = odabs
        self.ord_scalar[slot] = oscal
        f = self._figures_one(loss, delta, oloss, odabs, oscal, int(self.prov[slot]))
        self.im[slot], self.mm[slot], self.req[slot] = f.im, f.mm, f.req
        return f

    def figures(self, slot: int) -> Figures:
        """The account's cached figures with its worst scenario (for reports)."""
        return self._figures_one(self.pos_loss[slot].tolist(), self.pos_delta[slot].tolist(),
                                 self.ord_loss[slot].tolist(), self.ord_dabs[slot].tolist(),
                                 int(self.ord_scalar[slot]), int(self.prov[slot]))  # fmt: skip

    def _base(self, loss: list[int], delta: list[int], dabs: list[int] | None
              ) -> tuple[int, int, int, int, int]:
        S, w, md_ppm = self.S, self.w, self.p.min_delta_ppm
        total = scan_t = md_t = 0
        worst = (0, -1, -1)
        for u in range(self.U):
            sc, at = weighted_max(loss[u * S:(u + 1) * S], w)
            d = abs(delta[u]) + (dabs[u] if dabs is not None else 0)
            md = -((-d * md_ppm) // PPM)
            total += sc if sc > md else md
            scan_t += sc
            md_t += md
            if sc > worst[0]:
                worst = (sc, u, at)
        return total, scan_t, md_t, worst[1], worst[2]

    def _figures_one(self, loss: list[int], delta: list[int], oloss: list[int],
                     odabs: list[int], oscal: int, prov: int) -> Figures:
        base, scan, md, wu, ws = self._base(loss, delta, None)
        im = base + prov
        mm = -((-base * self.p.mm_ratio_ppm) // PPM) + prov
        base2 = self._base([a + b for a, b in zip(loss, oloss)], delta, odabs)[0]
        req = base2 + prov + oscal
        return Figures(im, mm, req if req > im else im, scan, md, wu, ws)

    # -- pre-trade --------------------------------------------------------------------
    def check_order(self, slot: int, col: int, side: int, qty: int, price: int, fee: int,
                    size: int, bq: int, bv: int, bf: int, sq: int, sv: int, sf: int
                    ) -> tuple[int, int, int, int]:
        """``(REQ', IMR_fill, MMR_fill, open_loss)`` for a new order, from the cache.

        ``size`` is the account's position in the column and ``bq..sf`` its side
        aggregates there (the order not yet included). ``REQ'`` is the requirement with
        the order resting (its side in the worst-side rule); ``IMR_fill``/``MMR_fill``
        the requirements if it filled completely at its limit, and ``open_loss`` what
        that fill would cost at the mark.
        """
        t = self.tables
        assert t is not None
        S = self.S
        u = t.ul[col]
        base = u * S
        ll, ls, dl = t.ll[col], t.ls[col], t.dl[col]
        m = t.ml[col]
        loss = self.pos_loss[slot].tolist()
        oloss = self.ord_loss[slot].tolist()
        odabs = self.ord_dabs[slot].tolist()
        delta = self.pos_delta[slot].tolist()
        oscal = int(self.ord_scalar[slot])
        prov = int(self.prov[slot])
        lo, hi = t.lol[col], t.hil[col]
        old_sc = _order_scalar(bq, bv, bf, sq, sv, sf, m, lo, hi) if bq or sq else 0
        if side > 0:
            nb, nbv, nbf, ns, nsv, nsf = bq + qty, bv + qty * price, bf + fee, sq, sv, sf
            open_loss = qty * price * m - qty * lo
        else:
            nb, nbv, nbf, ns, nsv, nsf = bq, bv, bf, sq + qty, sv + qty * price, sf + fee
            open_loss = qty * hi - qty * price * m
        adl = abs(dl)
        ob = bq if bq > sq else sq
        nbig = nb if nb > ns else ns
        odabs[u] += (nbig - ob) * adl
        oscal += _order_scalar(nb, nbv, nbf, ns, nsv, nsf, m, lo, hi) - old_sc
        for k in range(S):
            x, y = bq * ll[k], sq * ls[k]
            old = x if x > y else y
            x, y = nb * ll[k], ns * ls[k]
            oloss[base + k] += (x if x > y else y) - old
        f = self._figures_one(loss, delta, oloss, odabs, oscal, prov)
        # the order filled completely at its limit (no resting orders counted): the
        # column's position moves from size to size2, each held lot rounded by its side
        size2 = size + side * qty
        old_t = ll if size > 0 else ls
        new_t = ll if size2 > 0 else ls
        a, a2 = abs(size), abs(size2)
        for k in range(S):
            loss[base + k] += a2 * new_t[k] - a * old_t[k]
        delta[u] += side * qty * dl
        b2, _, _, _, _ = self._base(loss, delta, None)
        imr = b2 + prov
        mmr = -((-b2 * self.p.mm_ratio_ppm) // PPM) + prov
        return f.req, imr, mmr, open_loss if open_loss > 0 else 0


def _order_scalar(b: int, bv: int, bf: int, s: int, sv: int, sf: int, m: int, lo: int,
                  hi: int) -> int:
    """max(open loss + fees of the buys, of the sells) of one column's resting orders."""
    ob = 0
    if b:
        x = bv * m - b * lo
        ob = (x if x > 0 else 0) + bf
    os_ = 0
    if s:
        x = s * hi - sv * m
        os_ = (x if x > 0 else 0) + sf
    return ob if ob > os_ else os_


def _ceil_ppm(x: np.ndarray, ppm: int) -> np.ndarray:
    q, r = np.divmod(x, PPM)
    return q * ppm + (r * ppm + (PPM - 1)) // PPM


def make_tables(p: ScanParams, *, F: Sequence[float], K: Sequence[float], T: Sequence[float],
                sigma: Sequence[float], is_call: Sequence[bool], linear: Sequence[bool],
                mult: Sequence[int], under: Sequence[int], n_under: int) -> Tables:
    """Every column's per-update tables (options: Black-76; ``linear``: perp or future).

    ``F`` is each column's forward (an option's) or mark (a perpetual's or future's), in
    price units; ``K``/``T``/``sigma``/``is_call`` are ignored for linear columns.
    """
    from clearing.options import black76
    from clearing.options.money import lot_values
    from clearing.options.scenarios import (
        linear_value_changes,
        lot_loss_tables,
        option_value_changes,
    )

    F_ = np.asarray(F, dtype=np.float64)
    lin = np.asarray(linear, dtype=bool)
    m = np.asarray(mult, dtype=np.int64)
    K_ = np.where(lin, 1.0, np.asarray(K, dtype=np.float64))
    T_ = np.where(lin, 0.0, np.asarray(T, dtype=np.float64))
    s_ = np.where(lin, 0.0, np.asarray(sigma, dtype=np.float64))
    g = black76.greeks(F_, K_, T_, s_, np.asarray(is_call, dtype=bool))
    base = np.where(lin, F_, g.price)
    dv = np.where(lin[:, None], linear_value_changes(F_, p),
                  option_value_changes(F_, K_, T_, s_, is_call, g.price, p))  # fmt: skip
    ll, ls = lot_loss_tables(dv, m)
    lo, hi = lot_values(base, m.astype(np.float64))
    delta = np.where(lin, 1.0, g.delta)
    dl = np.rint(delta * F_ * m).astype(np.int64)
    return Tables(ll, ls, dl, lo, hi, m, np.asarray(under, dtype=np.int64), n_under)
