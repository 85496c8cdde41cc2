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

Speed (``bench/clearing.py``, 100,000 accounts): ``[Q⁺ | Q⁻]`` is kept in CSR form
while no column changed, so an index move only multiplies; the loss tables, lot deltas
and lot value changes are one right-hand side; SCAN runs over blocks of accounts turned
scenario-major. A column's long and short losses never share a sign (``-floor(x)`` and
``ceil(x)``), so its worst side is linear, ``max(b·ll, s·ls) = b·max(ll, 0) +
s·max(ls, 0)`` (``Tables.opposed``), and ``max_s ceil(w_s·x_s/1e6) = ceil(max_s(w_s·x_s)
/1e6)``: pre-trade adds ``qty·max(ll|ls, 0)`` and divides once.

Pre-trade (``check_order``): the cached vectors of the account, plus the order's own
vector (its full fill at its limit) in place of its column's side — O(scenarios), never
O(positions) and never a sparse product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
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
    llp: list = None  # type: ignore[assignment]
    lsp: list = None  # type: ignore[assignment]
    opposed: list = None  # type: ignore[assignment]
    cols: list = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        # a column whose long and short losses never share a sign in any scenario (always
        # so for ``make_tables``: -floor(x) and ceil(x)) has a linear worst side:
        # max(b·ll, s·ls) == b·max(ll, 0) + s·max(ls, 0) for any b, s >= 0
        ll, ls = self.loss_long, self.loss_short
        self.opposed = (((ll <= 0) | (ls <= 0)) & ((ll >= 0) | (ls >= 0))).all(axis=1).tolist()
        self.llp = np.maximum(self.loss_long, 0).tolist()
        self.lsp = np.maximum(self.loss_short, 0).tolist()
        self.ll = self.loss_long.tolist()
        self.ls = self.loss_short.tolist()
        self.dl = self.delta_lot.tolist()
        self.lol = self.lo.tolist()
        self.hil = self.hi.tolist()
        self.ml = self.mult.tolist()
        self.ul = self.under.tolist()
        # per column, for the pre-trade path: underlying, multiplier, lot values, |delta|
        self.cols = list(zip(self.ul, self.ml, self.lol, self.hil,
                             np.abs(self.delta_lot).tolist(), self.opposed))  # fmt: skip


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
        full = [i for i, w in enumerate(self.w) if w == PPM]
        # weight-1 scenarios as one slice when they are contiguous (the default grid)
        self._full: slice | list | None = None
        if full:
            contiguous = full == list(range(full[0], full[-1] + 1))
            self._full = slice(full[0], full[-1] + 1) if contiguous else None
        self._full_idx = full
        self._tails = [(i, w) for i, w in enumerate(self.w) if w != PPM]
        if full and self._full is None:  # scattered weight-1 rows: treat them as tails
            self._tails = [(i, w) for i, w in enumerate(self.w)]
        tail_idx = [i for i, _ in self._tails]
        self._tail_w = [w for _, w in self._tails]
        self._tail_idx = tail_idx
        self._tail_sl: slice | None = None
        if tail_idx and tail_idx == list(range(tail_idx[0], tail_idx[-1] + 1)):
            self._tail_sl = slice(tail_idx[0], tail_idx[-1] + 1)
        self.columns = list(columns)
        self.U = n_under
        self.cap = 0
        self.tables: Tables | None = None
        self._py: dict[int, list] = {}
        self._gen = 0
        self._ord_rows: set[int] = set()  # slots whose order vectors may be non-zero
        self._pending: tuple | None = None  # the last check_resting, for commit_resting
        self._unflushed: set[int] = set()  # slots whose Python rows are ahead of numpy
        self._members: np.ndarray | None = None  # the members the lots were written for
        self.dirty: set[int] = set()  # columns whose ledger changed since the last split
        self._lots: _Lots | None = None  # [Q+ | Q-]'s CSR layout over the ledger rows
        self._q_int: sparse.csr_matrix | None = None  # [Q+ | Q-] while no column changed
        self._q_float: sparse.csr_matrix | None = None  # the same with float64 lots
        self._q_bounds: list = [0.0, None]
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

    def mark_dirty(self, col: int) -> None:
        """Column ``col``'s positions changed: split it again at the next re-margin."""
        self.dirty.add(col)

    def _same_members(self, m: np.ndarray | None) -> bool:
        old = self._members
        if m is None or old is None:
            return m is None and old is None
        k = min(len(m), len(old))
        return bool(np.array_equal(m[:k], old[:k]) and not m[k:].any() and not old[k:].any())

    def ensure(self, n_slots: int) -> None:
        if n_slots > self.cap:
            cap = self.cap
            while cap < n_slots:
                cap *= 2
            self._alloc(cap)

    # -- full, vectorised ------------------------------------------------------------
    def remargin_all(self, tables: Tables, n_slots: int, members: np.ndarray | None = None,
                     value_change: tuple[np.ndarray, np.ndarray] | None = None
                     ) -> np.ndarray | None:
        """New tables: recompute every account's vectors and figures (no account loop).

        ``members`` (bool per slot) restricts the portfolio to those accounts (others get
        zero figures); None means every slot. ``value_change`` (per column: the change of
        a long lot's value and of a short lot's liability) asks, in the same sparse
        product, for each member's change of position value ``Σ lots·Δlo - Σ lots·Δhi``,
        which is returned (int64 per slot; None without ``value_change``).
        """
        self.tables = tables
        self._unflushed.clear()  # every row is recomputed below
        self._gen += 1
        self.ensure(n_slots)
        S, U = self.S, self.U
        US = U * S
        n_cols = len(self.columns)
        q_int, big_lots = self._lots_matrix(n_slots, members)
        # one dense right-hand side: the loss tables, the lot deltas, the value changes
        width = US + U + (1 if value_change is not None else 0)
        block = np.zeros((2 * n_cols, width), dtype=np.int64)
        ul = tables.under
        if n_cols:
            cols = np.arange(n_cols)
            at = (ul * S)[:, None] + np.arange(S)[None, :]
            block[cols[:, None], at] = tables.loss_long
            block[(cols + n_cols)[:, None], at] = tables.loss_short
            block[cols, US + ul] = tables.delta_lot
            block[cols + n_cols, US + ul] = -tables.delta_lot
            if value_change is not None:
                block[:n_cols, -1] = value_change[0]
                block[n_cols:, -1] = -value_change[1]
        # float64 is exact while every partial sum stays below 2^53, and its sparse
        # product is about twice as fast as int64's; the bound uses each column's largest
        # holding (cheap), then the exact per-account lot sums, else int64 throughout
        biggest = float(np.abs(block).max(initial=0))
        exact = big_lots[0] * biggest < _FLOAT_EXACT
        if not exact and q_int.nnz:
            if big_lots[1] is None:
                per_row = np.asarray(q_int.sum(axis=1)).ravel()
                big_lots[1] = float(per_row.max(initial=0))
            exact = big_lots[1] * biggest < _FLOAT_EXACT
        if exact:
            q = self._q_float
            if q is None:
                q = self._q_float = sparse.csr_matrix(
                    (q_int.data.astype(np.float64), q_int.indices, q_int.indptr),
                    shape=q_int.shape)  # fmt: skip
            res = q @ block.astype(np.float64)
        else:
            res = q_int @ block
        # int64 products w_s·loss_s cannot overflow while every |loss| <= lots·biggest
        safe = big_lots[0] * biggest * PPM < _INT_SAFE
        scan = self._store_and_scan(res, n_slots, safe)
        self.pos_delta[:n_slots] = res[:, US:US + U]
        d_val = res[:, -1].astype(np.int64) if value_change is not None else None
        stale = np.fromiter(self._ord_rows, dtype=np.int64, count=len(self._ord_rows))
        self.ord_loss[stale] = 0  # only rows that held order vectors need clearing
        self.ord_dabs[stale] = 0
        self.ord_scalar[stale] = 0
        self._pending = None
        touched = self._orders_all(tables, n_slots, members)
        self._ord_rows = set(touched.tolist())
        self._figures_all(n_slots, touched, scan)
        return d_val

    def _store_and_scan(self, res: np.ndarray, n: int, safe: bool) -> np.ndarray:
        """Write the product's loss vectors into ``pos_loss``; return their SCAN (n·U).

        Done in blocks of ``_BLOCK`` accounts, each turned scenario-major while it is in
        cache, so the maxima run across contiguous rows (a max along a row of 24 costs
        numpy a loop per account). Same integers as ``weighted_max_vector``.
        """
        S, U = self.S, self.U
        US = U * S
        full, tail_idx = self._full, self._tail_idx
        if full is None and self._full_idx:  # scattered weight-1 rows: the plain path
            self.pos_loss[:n] = res[:, :US]
            return weighted_max_vector(self.pos_loss[:n].reshape(n * U, S), self.w, None)
        wt = np.asarray(self._tail_w, dtype=np.int64)[:, None]
        scan = np.empty((n, U), dtype=np.int64)
        buf = np.empty((US, _BLOCK), dtype=np.int64)
        for a in range(0, n, _BLOCK):
            b = min(a + _BLOCK, n)
            t = buf[:, : b - a]
            t[:] = res[a:b, :US].T
            self.pos_loss[a:b] = t.T
            for u in range(U):
                tu = t[u * S:(u + 1) * S]
                best = tu[full].max(axis=0) if full is not None else np.zeros(b - a, np.int64)
                if tail_idx:
                    tail = tu[tail_idx]
                    if safe or max(float(tail.max()), -float(tail.min())) * PPM < _INT_SAFE:
                        top = -(-(tail * wt).max(axis=0) // PPM)
                    else:
                        q, r = np.divmod(tail, PPM)
                        top = (q * wt + (r * wt + (PPM - 1)) // PPM).max(axis=0)
                    np.maximum(best, top, out=best)
                np.maximum(best, 0, out=scan[a:b, u])
        return scan.reshape(n * U)

    def _lots_matrix(self, n_slots: int, members: np.ndarray | None
                     ) -> tuple[sparse.csr_matrix, list]:
        """``[Q+ | Q-]`` (accounts x 2·columns, int64 lots) in CSR form, and lot bounds.

        Column j holds the long lots, column n_cols + j the short lots of instrument j.
        The CSR layout has one entry per ledger row (an empty or non-member row holds a
        zero), so it changes only when a ledger gains rows; a column whose positions
        changed (``mark_dirty``), or every column when the members change, only has its
        entries' lots and long/short column rewritten in place. CSR, so the product
        writes each account's vector once. The bounds are ``[Σ_j max lots of column j,
        max lots of one account or None]`` (the second computed when needed).
        """
        n_cols = len(self.columns)
        m = members[:n_slots] if members is not None else None
        ns = [L.n for L in self.columns]
        lay = self._lots
        fill: set[int] | range = self.dirty
        if lay is None or lay.ns != ns or lay.n_slots != n_slots:
            lay = self._lots = _Lots(self.columns, ns, n_slots)
            fill = range(n_cols)
        if not self._same_members(m):
            self._members = None if m is None else m.copy()
            fill = range(n_cols)
        if fill or self._q_int is None:
            for j in fill:
                a, b = lay.start[j], lay.start[j + 1]
                if a == b:
                    continue
                L = self.columns[j]
                size = _view(L.size, b - a)
                if m is not None:
                    size = np.where(m[_view(L.slot, b - a)], size, 0)
                at = lay.perm[a:b]
                lots = np.abs(size)
                lay.data[at] = lots
                lay.indices[at] = np.where(size < 0, j + n_cols, j)
                lay.col_max[j] = float(lots.max())
            self._q_int = sparse.csr_matrix((lay.data, lay.indices, lay.indptr),
                                            shape=(n_slots, 2 * n_cols))  # fmt: skip
            self._q_float = None
            self._q_bounds = [float(lay.col_max.sum()), None]
        self.dirty.clear()
        return self._q_int, self._q_bounds

    def _orders_all(self, t: Tables, n_slots: int, members: np.ndarray | None) -> np.ndarray:
        """Order vectors of every account with resting orders; return those slots."""
        S = self.S
        touched: list[np.ndarray] = []
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
            touched.append(slots)
            b, s = bq[rows], sq[rows]
            u = int(t.under[j])
            vec = np.maximum(b[:, None] * t.loss_long[j], s[:, None] * t.loss_short[j])
            self.ord_loss[slots, u * S:(u + 1) * S] += vec
            self.ord_dabs[slots, u] += np.maximum(b, s) * abs(int(t.delta_lot[j]))
            m = int(t.mult[j])
            ob = np.maximum(_view(L.bv, n)[rows] * m - b * int(t.lo[j]), 0) + _view(L.bf, n)[rows]
            os_ = np.maximum(s * int(t.hi[j]) - _view(L.sv, n)[rows] * m, 0) + _view(L.sf, n)[rows]
            self.ord_scalar[slots] += np.maximum(np.where(b > 0, ob, 0), np.where(s > 0, os_, 0))
        if not touched:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(touched))

    def _figures_all(self, n: int, rows: np.ndarray, scan: np.ndarray) -> None:
        p, S, U = self.p, self.S, self.U
        md = _ceil_ppm(np.abs(self.pos_delta[:n]).reshape(n * U), p.min_delta_ppm)
        base = np.maximum(scan, md).reshape(n, U).sum(axis=1)
        prov = self.prov[:n]
        self.im[:n] = base + prov
        self.mm[:n] = _ceil_ppm(base, p.mm_ratio_ppm) + prov
        self.req[:n] = self.im[:n]
        # accounts with resting orders: the requirement with the worst sides
        if not rows.size:
            return
        k = rows.size
        tot = (self.pos_loss[rows] + self.ord_loss[rows]).reshape(k * U, S)
        scan2 = weighted_max_vector(tot, self.w, self._full)
        dab = (np.abs(self.pos_delta[rows]) + self.ord_dabs[rows]).reshape(k * U)
        base2 = np.maximum(scan2, _ceil_ppm(dab, p.min_delta_ppm)).reshape(k, U).sum(axis=1)
        self.req[rows] = np.maximum(self.im[rows], base2 + prov[rows] + self.ord_scalar[rows])

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
        self._unflushed.discard(slot)
        self.pos_loss[slot] = loss
        self.pos_delta[slot] = delta
        if oscal or any(odabs) or any(oloss):
            self._ord_rows.add(slot)
        self._pending = None
        self.ord_loss[slot] = oloss
        self.ord_dabs[slot] = odabs
        self.ord_scalar[slot] = oscal
        prov = int(self.prov[slot])
        f = self._figures_one(loss, delta, oloss, odabs, oscal, prov)
        self.im[slot], self.mm[slot], self.req[slot] = f.im, f.mm, f.req
        self._py[slot] = [self._gen, loss, [a + b for a, b in zip(loss, oloss)], delta, odabs,
                          oscal, prov, f.im]  # fmt: skip
        return f

    def flush(self) -> None:
        """Write committed admissions' Python rows back into the numpy arrays."""
        for slot in self._unflushed:
            row = self._py.get(slot)
            if row is None or row[0] != self._gen:
                continue
            oloss = [a - b for a, b in zip(row[2], row[1])]
            self.ord_loss[slot] = oloss
            self.ord_dabs[slot] = row[4]
            self.ord_scalar[slot] = row[5]
            f = self._figures_one(row[1], row[3], oloss, row[4], row[5], row[6])
            self.req[slot] = f.req
        self._unflushed.clear()

    def figures(self, slot: int) -> Figures:
        """The account's cached figures with its worst scenario (for reports)."""
        self.flush()
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
        that fill would cost at the mark. The engine asks for the fill figures only when
        the resting check fails (``check_resting`` then ``check_fill``).
        """
        req, open_loss = self.check_resting(slot, col, side, qty, price, fee, bq, bv, bf, sq,
                                            sv, sf)  # fmt: skip
        imr, mmr = self.check_fill(slot, col, side, qty, size)
        return req, imr, mmr, open_loss

    def _row(self, slot: int) -> list:
        """The account's cache as Python ints (rebuilt once per update, then reused).

        ``[gen, positions' loss vector, positions' + orders' loss vector, delta per
        underlying, order |delta| per underlying, order scalar, provisions, IMR]``.
        """
        row = self._py.get(slot)
        if row is None or row[0] != self._gen:
            pos = self.pos_loss[slot]
            row = [self._gen, pos.tolist(), (pos + self.ord_loss[slot]).tolist(),
                   self.pos_delta[slot].tolist(), self.ord_dabs[slot].tolist(),
                   int(self.ord_scalar[slot]), int(self.prov[slot]), int(self.im[slot])]
            self._py[slot] = row
        return row

    def check_resting(self, slot: int, col: int, side: int, qty: int, price: int, fee: int,
                      bq: int, bv: int, bf: int, sq: int, sv: int, sf: int) -> tuple[int, int]:
        """``(REQ', open_loss)``: the requirement with the order resting in its side."""
        t = self.tables
        assert t is not None
        u, m, lo, hi, dl_abs, opposed = t.cols[col]
        row = self._py.get(slot)
        if row is None or row[0] != self._gen:
            row = self._row(slot)
        _, _, po, delta, dabs_l, oscal, prov, im_now = row
        S = self.S
        b0 = u * S
        # the column's order scalar, max(open loss + fees of the buys, of the sells)
        # (_order_scalar), before and after: only the order's side changes
        if side > 0:
            nb, ns = bq + qty, sq
            open_loss = qty * (price * m - lo)
            if sq:
                x = sq * hi - sv * m
                other = (x if x > 0 else 0) + sf
            else:
                other = 0
            x = bv * m - bq * lo
            before = ((x if x > 0 else 0) + bf) if bq else 0
            x = (bv + qty * price) * m - nb * lo
            after = (x if x > 0 else 0) + bf + fee
        else:
            nb, ns = bq, sq + qty
            open_loss = qty * (hi - price * m)
            if bq:
                x = bv * m - bq * lo
                other = (x if x > 0 else 0) + bf
            else:
                other = 0
            x = sq * hi - sv * m
            before = ((x if x > 0 else 0) + sf) if sq else 0
            x = ns * hi - (sv + qty * price) * m
            after = (x if x > 0 else 0) + sf + fee
        d_sc = (after if after > other else other) - (before if before > other else other)
        seg = po if self.U == 1 else po[b0:b0 + S]
        if opposed or not (bq or sq):
            # the column's side vector is linear in the side's lots (Tables.opposed), and
            # with no resting orders in the column max(q·a, 0·b) is q·max(a, 0) anyway
            clipped = t.llp[col] if side > 0 else t.lsp[col]
            tot = [x + qty * a for x, a in zip(seg, clipped)]
        else:  # the column's side vector before and after, element-wise
            tot = [x + ((u if u > w else w) - (v if v > z else z))
                   for x, a, b in zip(seg, t.ll[col], t.ls[col])
                   for u, v, w, z in ((nb * a, bq * a, ns * b, sq * b),)]  # fmt: skip
        dabs_new = dabs_l[u] + ((nb if nb > ns else ns) - (bq if bq > sq else sq)) * dl_abs
        d = delta[u]
        d = (d if d >= 0 else -d) + dabs_new
        scan = self._scan(tot)
        md = -((-d * self.p.min_delta_ppm) // PPM)
        base2 = scan if scan > md else md
        if self.U > 1:
            base2 += self._other_bases(slot, u)[1]
        oscal += d_sc
        req = base2 + prov + oscal
        req = req if req > im_now else im_now
        self._pending = (slot, self._gen, b0, tot, dabs_new, oscal, req, u, row)
        return req, (open_loss if open_loss > 0 else 0)

    def commit_resting(self, slot: int) -> int:
        """Store the last ``check_resting`` of ``slot`` (the order was admitted as checked).

        Equal to ``refresh_account`` after the ledger took the order, without its loop
        over the account's positions. Returns the account's new requirement.
        """
        pend = self._pending
        self._pending = None
        if pend is None or pend[0] != slot or pend[1] != self._gen:
            return self.refresh_account(slot).req
        _, _, b0, tot, dabs_u, oscal, req, u, row = pend
        if self.U == 1:
            row[2] = tot
        else:
            row[2][b0:b0 + self.S] = tot
        row[4][u] = dabs_u
        row[5] = oscal
        self._unflushed.add(slot)  # numpy rows follow in flush() (or are recomputed)
        self._ord_rows.add(slot)
        return req

    def check_fill(self, slot: int, col: int, side: int, qty: int, size: int) -> tuple[int, int]:
        """``(IMR, MMR)`` of the positions after the order filled completely at its limit.

        The column's position moves from ``size`` to ``size + side·qty``, each held lot
        rounded by its side; resting orders are not counted.
        """
        t = self.tables
        assert t is not None
        S = self.S
        u = t.ul[col]
        b0 = u * S
        _, pos, _, delta, _, _, prov, _ = self._row(slot)
        size2 = size + side * qty
        a1, a2 = (size if size >= 0 else -size), (size2 if size2 >= 0 else -size2)
        t1 = t.ll[col] if size > 0 else t.ls[col]
        t2 = t.ll[col] if size2 > 0 else t.ls[col]
        if t1 is t2:
            da = a2 - a1
            fill = [p_ + da * x for p_, x in zip(pos[b0:b0 + S], t1)]
        else:
            fill = [p_ + a2 * y - a1 * x for p_, x, y in zip(pos[b0:b0 + S], t1, t2)]
        scan = self._scan(fill)
        d = delta[u] + side * qty * t.dl[col]
        if d < 0:
            d = -d
        md = -((-d * self.p.min_delta_ppm) // PPM)
        b2 = scan if scan > md else md
        if self.U > 1:
            b2 += self._other_bases(slot, u)[0]
        return b2 + prov, -((-b2 * self.p.mm_ratio_ppm) // PPM) + prov

    def _scan(self, loss: list[int]) -> int:
        """``max(0, max_s ceil(w_s·loss_s))`` of one underlying's vector (fast path).

        ``ceil(y / 1e6)`` never decreases as ``y`` grows, so the largest of the tails'
        ``ceil(w_s·loss_s / 1e6)`` is ``ceil(max_s(w_s·loss_s) / 1e6)``: one division.
        """
        best = max(loss[self._full]) if self._full is not None else 0
        tw = self._tail_w
        if tw:
            sl = self._tail_sl
            xs = loss[sl] if sl is not None else [loss[i] for i in self._tail_idx]
            v = -(-max(map(mul, xs, tw)) // PPM)
            if v > best:
                best = v
        return best if best > 0 else 0

    def _other_bases(self, slot: int, u: int) -> tuple[int, int]:
        """The bases (without, with orders) of the account's other underlyings."""
        S, md_ppm = self.S, self.p.min_delta_ppm
        _, loss, po, delta, dabs, _, _, _ = self._row(slot)
        a = b = 0
        for v in range(self.U):
            if v == u:
                continue
            sc = self._scan(loss[v * S:(v + 1) * S])
            md = -((-abs(delta[v]) * md_ppm) // PPM)
            a += sc if sc > md else md
            sc = self._scan(po[v * S:(v + 1) * S])
            md = -((-(abs(delta[v]) + dabs[v]) * md_ppm) // PPM)
            b += sc if sc > md else md
        return a, b


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


class _Lots:
    """The CSR layout of ``[Q+ | Q-]``: one entry per ledger row, in account order.

    ``perm[k]`` is the CSR position of the k-th ledger row (columns' rows concatenated
    in column order, ``start[j]`` where column j's begin). ``data`` (lots) and
    ``indices`` (column j or n_cols + j) are written per column by ``_lots_matrix``.
    """

    __slots__ = ("col_max", "data", "indices", "indptr", "n_slots", "ns", "perm", "start")

    def __init__(self, columns: Sequence[Any], ns: list[int], n_slots: int) -> None:
        self.ns = list(ns)
        self.n_slots = n_slots
        n_cols = len(columns)
        start = np.zeros(n_cols + 1, dtype=np.int64)
        np.cumsum(ns, out=start[1:])
        self.start = start.tolist()
        nnz = self.start[-1]
        slots = (np.concatenate([_view(L.slot, L.n) for L in columns]) if nnz
                 else np.zeros(0, dtype=np.int64))  # fmt: skip
        # the ledger rows as a CSC matrix whose values are their numbers + 1: converted
        # to CSR (a counting sort by account), the values say where each row went
        ids = sparse.csc_matrix((np.arange(1, nnz + 1, dtype=np.int64), slots, start),
                                shape=(n_slots, n_cols)).tocsr()  # fmt: skip
        self.perm = np.empty(nnz, dtype=np.int64)
        self.perm[ids.data - 1] = np.arange(nnz, dtype=np.int64)
        self.indptr = ids.indptr
        self.indices = np.zeros(nnz, dtype=ids.indices.dtype)
        self.data = np.zeros(nnz, dtype=np.int64)
        self.col_max = np.zeros(n_cols, dtype=np.float64)


_FLOAT_EXACT = float(1 << 53)
_INT_SAFE = float(1 << 62)
_BLOCK = 2048
"""Accounts per block of ``_store_and_scan`` (24 scenarios x 2048 x 8 bytes: in L2)."""


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
