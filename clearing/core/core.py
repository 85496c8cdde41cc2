"""The exchange core: the whole order path for a batch of inputs, in one place.

``Core.batch(inputs)`` is the path every order takes, in the server, in replay and in
tests. It is a generator, so the core stays free of I/O: it yields the matcher commands
of each round and receives the matcher's events for them (one list of events per
command), wherever the matcher runs: in this process (``run_batch``) or behind a ZeroMQ
link (the clearing role). Read ``Core.batch`` to see the path:

1. every input in order: sessions, client-order-id and open-order checks, then clearing's
   pre-trade check (holds taken, order ids assigned) or clearing's own command; matcher
   commands are collected, refusals answered at once; consecutive index prices and
   volatility smiles with the same timestamp are one market move, re-marked once (option
   chains revalued, margins and liquidations checked) after the last of them;
2. match: the round's commands go to the matcher as one batch;
3. settle: the events become execution reports (``clearing.core.reports``, before
   clearing forgets finished orders), then clearing settles them;
4. follow-ups (risk cancels, reduce-only clips, liquidation orders, bands, halts) form
   the next round, back to 2, until a round has none;
5. the result: compact reports routed to their sessions, market-data extras (marks,
   funding, option chains), accounts whose positions or balances moved.

Rules:

1. Pure and deterministic: the same inputs in the same batches give the same state and the
   same reports. Time is the inputs' ``ts`` (never decreasing inside the core).
2. Bad input never raises: it is answered with a reason code and changes nothing.
3. The core's state is the clearing engine, the sessions and client order ids, and the
   history; with the matcher's books (kept where the matcher runs) that is everything a
   snapshot holds (``clearing.core.state``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any, NamedTuple

from clearing import events as cev
from clearing.commands import (
    AmendRequest,
    CancelRequest,
    IndexPrice,
    IVUpdate,
    MassCancelRequest,
    MatcherEvents,
    OrderRequest,
    Tick,
)
from clearing.config import ClearingConfig
from clearing.core import reports as rp
from clearing.core.history import History
from clearing.core.inputs import (
    AmendOrderRequest,
    CancelAll,
    CancelOrderRequest,
    GatewayLost,
    GatewaySync,
    GatewayUp,
    Logon,
    Logout,
    MassCancelOrders,
    PlaceOrder,
)
from clearing.core.sessions import Sessions
from clearing.engine import ClearingEngine
from clearing.options.queries import ticker_rows
from matching import commands as mc
from matching.enums import EndReason
from matching.reasons import Reason

MATCHER_COMMANDS = frozenset(
    {mc.NewOrder, mc.CancelOrder, mc.AmendOrder, mc.MassCancel, mc.Halt, mc.OpenAuction,
     mc.Resume, mc.SetBand, mc.AdvanceTime, mc.AddInstrument}
)  # fmt: skip

_NewOrder = mc.NewOrder

MAX_ROUNDS = 10_000
"""A follow-up chain longer than this is a bug (liquidation steps are bounded anyway)."""

_COD = int(EndReason.CANCEL_ON_DISCONNECT)
_LIQUIDATION = frozenset(
    {cev.LiquidationStarted, cev.LiquidationOrderPlaced, cev.LiquidationEnded,
     cev.AutoDeleveraged}
)  # fmt: skip
_new = tuple.__new__

# how ``_dispatch`` routes each kind of clearing output (other kinds: nowhere)
_TO_MATCHER, _SETTLED, _REFUSED, _MARK, _FUNDING, _CALL, _LIQ, _MONEY, _OPTIONS = range(9)
_MARKET_MOVES = (IndexPrice, IVUpdate)
"""Index prices and volatility smiles: consecutive ones with the same timestamp are one
market move, applied together and re-marked once (after the last of them)."""
_ROUTE: dict[type, int] = {
    **{t: _TO_MATCHER for t in MATCHER_COMMANDS},
    cev.FillSettled: _SETTLED,
    cev.PreTradeRejected: _REFUSED,
    cev.RequestRejected: _REFUSED,
    cev.MarkChanged: _MARK,
    cev.FundingApplied: _FUNDING,
    cev.MarginCall: _CALL,
    **{t: _LIQ for t in _LIQUIDATION},
    cev.Deposited: _MONEY,
    cev.Withdrawn: _MONEY,
    cev.OptionsRevalued: _OPTIONS,
}


class Origin(NamedTuple):
    """The request behind a command: where its answers go."""

    gw: int
    sid: int
    req_id: int | None
    account: int
    gw_in: int
    request: Any


class BatchResult:
    """What a batch produced, for the shell to carry out.

    ``replies``: ``(account, gw, sid, req_id, gw_in, report, direct, matched)`` in order: a
    ``direct`` report goes to the session ``(gw, sid)`` only, any other to every session of
    ``account`` (the one named by ``(gw, sid)`` gets ``req_id``; ``gw == 0``: none does).
    ``gw_in`` is the edge time of the request behind the report (0: none), ``matched``
    whether the report comes from the matcher's events (else clearing answered alone).
    ``market``: ``("mark", symbol, ts, mark, index)`` / ``("funding", symbol, ts,
    rate_ppm)`` / ``("options", underlying, ts, index, rows)`` (one option chain after its
    revaluation, rows of ``clearing.options.queries.ticker_rows``). ``touched``: account ->
    instruments whose position or balance moved.
    ``outputs``: every clearing output in order, when the core records them
    (``Core.record_outputs``, for tests and tools).
    """

    __slots__ = ("market", "outputs", "replies", "rounds", "touched")

    def __init__(self) -> None:
        self.replies: list[tuple] = []
        self.market: list[tuple] = []
        self.touched: dict[int, set[str]] = {}
        self.outputs: list = []
        self.rounds = 0


Round = Generator[list, list, BatchResult]


class Core:
    """Clearing, order state, sessions and history: one deterministic state machine."""

    def __init__(
        self,
        config: ClearingConfig,
        *,
        max_open_orders: int = 5_000,
        client_order_ids: int = 200_000,
        engine: ClearingEngine | None = None,
        sessions: Sessions | None = None,
        history: History | None = None,
        seq: int = 0,
    ) -> None:
        self.config = config
        self.engine = engine if engine is not None else ClearingEngine(config)
        self.sessions = sessions if sessions is not None else Sessions(client_order_ids)
        self.history = history if history is not None else History()
        self.reports = rp.ReportBuilder(self.engine, self.history)
        self.max_open_orders = max_open_orders
        self.seq = seq
        """Number of the last batch applied (the journal's record sequence)."""
        self.record_outputs = False
        self._handlers: dict[type, Callable[[Any, list, list, BatchResult], None]] = {
            PlaceOrder: self._place,
            CancelOrderRequest: self._cancel,
            AmendOrderRequest: self._amend,
            MassCancelOrders: self._mass_cancel,
            CancelAll: self._cancel_all,
            Logon: self._logon,
            Logout: self._logout,
            GatewayUp: self._gateway_up,
            GatewaySync: self._gateway_sync,
            GatewayLost: self._gateway_lost,
        }

    # ------------------------------------------------------------------ the path -----
    def batch(self, inputs: Iterable[Any]) -> Round:
        """The order path for one batch (see the module docstring): yields each round's
        matcher commands, receives one event list per command, returns the result."""
        eng = self.engine
        res = BatchResult()
        cmds: list = []
        origins: list[Origin | None] = []
        ts = eng.ts
        inputs = inputs if type(inputs) is list else list(inputs)
        last = len(inputs) - 1
        # 1. pre-trade (or any other input), in order: holds taken, order ids assigned
        for i, inp in enumerate(inputs):
            if inp.ts > ts:
                ts = inp.ts
            handler = self._handlers.get(type(inp))
            if handler is not None:
                handler(inp, cmds, origins, res)
            else:  # clearing's own commands: prices, timers, admin
                if type(inp) in _MARKET_MOVES and i < last:
                    nxt = inputs[i + 1]
                    # one market move: re-mark once, after its last price or smile
                    outs = eng.apply(inp, refresh=not (type(nxt) in _MARKET_MOVES
                                                       and nxt.ts == inp.ts))  # fmt: skip
                else:
                    outs = eng.apply(inp)
                self._dispatch(outs, None, cmds, origins, res)
                if type(inp) is Tick:
                    cmds.append(mc.AdvanceTime(inp.ts))
                    origins.append(None)
        self.seq += 1
        rounds = 0
        while cmds:
            rounds += 1
            if rounds > MAX_ROUNDS:
                raise RuntimeError("follow-up chain did not settle")
            # 2. match: the round's commands go to the matcher as one batch
            results = yield cmds
            # 3. settle: reports first (clearing forgets finished orders), then clearing
            cmds, origins = self._settle(cmds, origins, results, ts, res)
            # 4. follow-ups loop back to 2
        res.rounds = rounds
        self.reports.flush_trades()
        # 5. the result: replies, market data, touched accounts
        return res

    def run_batch(self, inputs: Iterable[Any], apply: Callable[[Any], list]) -> BatchResult:
        """``batch`` with a matcher in this process: ``apply(cmd) -> events`` (the core's
        commands come from validated inputs: ``MatchingEngine.apply_trusted``)."""
        gen = self.batch(inputs)
        try:
            cmds = next(gen)
            while True:
                cmds = gen.send([apply(c) for c in cmds])
        except StopIteration as stop:
            return stop.value

    def _settle(self, cmds: list, origins: list, results: list, ts: int,
                res: BatchResult) -> tuple[list, list]:  # fmt: skip
        reports = self.reports
        handlers = rp.HANDLERS  # ReportBuilder.event, in line
        replies = res.replies
        flat: list = []
        produced: list = []
        for origin, evs in zip(origins, results):
            if not evs:
                continue
            flat.extend(evs)
            for ev in evs:
                handler = handlers.get(type(ev))
                if handler is not None:
                    handler(reports, ev, produced)
            if produced:
                if origin is None:
                    for account, rep, _ in produced:
                        replies.append((account, 0, 0, None, 0, rep, False, True))
                else:
                    owner, gw_in = origin.account, origin.gw_in
                    for account, rep, direct in produced:
                        if owner == account:
                            replies.append((account, origin.gw, origin.sid, origin.req_id,
                                            gw_in, rep, direct, True))  # fmt: skip
                        else:
                            replies.append((account, 0, 0, None, gw_in, rep, False, True))
                produced.clear()
        outs = self.engine.apply(_new(MatcherEvents, (ts, flat))) if flat else []
        self.reports.end_round()
        nxt: list = []
        nxt_origins: list = []
        self._dispatch(outs, None, nxt, nxt_origins, res)
        return nxt, nxt_origins

    # ------------------------------------------------------------------ outputs ------
    def _dispatch(self, outs: list, origin: Origin | None, cmds: list, origins: list,
                  res: BatchResult) -> None:  # fmt: skip
        """Route clearing's outputs: matcher commands to the round, refusals to the
        requester, money moves to ``touched``, marks and funding to market data."""
        if self.record_outputs:
            res.outputs.extend(outs)
        route = _ROUTE
        for o in outs:
            k = route.get(type(o))
            if k is None:
                continue
            if k == _TO_MATCHER:
                cmds.append(o)
                origins.append(origin)
            elif k == _SETTLED:
                self.reports.settled(o.seq, o.account, o.side, o.fee)
                moved = res.touched.get(o.account)
                if moved is None:
                    moved = res.touched[o.account] = set()
                moved.add(o.instrument)
            elif k == _REFUSED:
                self._refused(o, origin, res)
            elif k == _MARK:
                res.market.append(("mark", o.instrument, o.ts, o.mark, o.index))
            elif k == _FUNDING:
                res.market.append(("funding", o.instrument, o.ts, o.rate_ppm))
            elif k == _CALL:
                self._margin_call(o, res)
            elif k == _LIQ:
                self._liquidation_notice(o, res)
            elif k == _OPTIONS:
                self._option_ticker(o, res)
            else:  # deposits and withdrawals
                res.touched.setdefault(o.account, set())

    def _option_ticker(self, ev: Any, res: BatchResult) -> None:
        """A chain's marks, IVs and Greeks for market data: the batch's last revaluation of
        each underlying (an earlier one in the same batch is superseded)."""
        u = ev.underlying
        res.market[:] = [m for m in res.market if m[0] != "options" or m[1] != u]
        res.market.append(("options", u, ev.ts, ev.index, ticker_rows(self.engine, u)))

    def _reply(self, res: BatchResult, origin: Origin, report: tuple, direct: bool) -> None:
        res.replies.append((origin.account, origin.gw, origin.sid, origin.req_id,
                            origin.gw_in, report, direct, False))  # fmt: skip

    def _refused(self, ev: Any, origin: Origin | None, res: BatchResult) -> None:
        """A clearing refusal, answered in the request's own terms."""
        figures = rp.clearing_figures(ev.required, ev.available)
        reason = int(ev.reason)
        if origin is None or ev.account != origin.account:
            if type(ev.account) is int:
                rep = rp.request_refused(ev.account, reason, None, ev.text, figures, ev.ts)
                res.replies.append((ev.account, 0, 0, None, 0, rep, False, False))
            return
        req = origin.request
        t = type(req)
        if t is PlaceOrder:
            self._reply(res, origin, rp.order_refused(req, reason, ev.text, figures), False)
        elif t is CancelOrderRequest or t is AmendOrderRequest:
            kind = "cancel" if t is CancelOrderRequest else "amend"
            order = self._lookup(req)
            self._reply(res, origin, rp.cancel_refused(req, kind, reason, ev.text, figures,
                                                       ev.ts, order), True)  # fmt: skip
        else:
            ref = "mass_cancel" if t is MassCancelOrders else None
            self._reply(res, origin, rp.request_refused(origin.account, reason, ref, ev.text,
                                                        figures, ev.ts), True)  # fmt: skip

    def _margin_call(self, ev: Any, res: BatchResult) -> None:
        eng = self.engine
        acct = eng.accounts.get(ev.account)
        if acct is None:
            return
        im = max(eng.table.im[acct.slot], 0)
        fields = {"asset": eng.settle, "equity": ev.equity, "initial_margin": im,
                  "maintenance_margin": max(ev.maintenance, 0),
                  "text": "equity near maintenance margin: reduce positions or add collateral"}
        res.replies.append((ev.account, 0, 0, None, 0,
                            (rp.NOTICE, ev.account, "margin_call", fields, ev.ts), False,
                            False))  # fmt: skip

    def _liquidation_notice(self, ev: Any, res: BatchResult) -> None:
        t = type(ev)
        if t is cev.LiquidationStarted:
            notes = [(ev.account, {"stage": "started", "equity": ev.equity,
                                   "maintenance_margin": max(ev.maintenance, 0),
                                   "text": "equity below maintenance margin"})]  # fmt: skip
        elif t is cev.LiquidationOrderPlaced:
            notes = [(ev.account, {"stage": "order", "instrument": ev.instrument,
                                   "qty": ev.side * ev.qty, "price": ev.limit,
                                   "order_id": ev.order_id})]  # fmt: skip
        elif t is cev.LiquidationEnded:
            notes = [(ev.account, {"stage": "completed", "equity": ev.equity,
                                   "maintenance_margin": max(ev.maintenance, 0),
                                   "text": str(ev.outcome)[:256]})]  # fmt: skip
        else:  # AutoDeleveraged: the liquidated account and its counterparty
            body = {"stage": "deleveraged", "instrument": ev.instrument, "price": ev.price}
            notes = [(ev.account, {**body, "qty": ev.qty, "text": "auto-deleveraged"}),
                     (ev.counterparty, {**body, "qty": -ev.qty,
                                        "text": "position reduced by auto-deleveraging"})]
        for account, fields in notes:
            res.replies.append((account, 0, 0, None, 0,
                                (rp.NOTICE, account, "liquidation_notice", fields, ev.ts),
                                False, False))  # fmt: skip

    # ------------------------------------------------------------------ requests -----
    def _origin(self, inp: Any) -> Origin:
        return _new(Origin, (inp.gw, inp.sid, inp.req_id, inp.account, inp.ts, inp))

    def _place(self, inp: PlaceOrder, cmds: list, origins: list, res: BatchResult) -> None:
        (ts, gw, sid, req_id, account, instrument, side, qty, price, ord_type, tif, clid,
         post_only, reduce_only, stp, expire_ts) = inp  # fmt: skip
        origin = _new(Origin, (gw, sid, req_id, account, ts, inp))
        ss = self.sessions
        ids = ss.clids.get(account)
        if ids is not None and clid in ids:  # Sessions.used
            self._reply(res, origin, rp.request_refused(
                account, int(Reason.DUPLICATE_REQUEST), "new_order",
                f"client_order_id {clid!r} was already used; it is never executed twice",
                None, inp.ts), True)  # fmt: skip
            return
        eng = self.engine
        acct = eng.accounts.get(account)
        n_open = len(acct.orders) if acct is not None else 0
        if n_open >= self.max_open_orders:
            ss.remember(account, clid, 0)
            self._reply(res, origin, rp.order_refused(
                inp, int(Reason.TOO_MANY_OPEN_ORDERS), "",
                {"open_orders": n_open, "limit": self.max_open_orders}), False)  # fmt: skip
            return
        outs = eng.apply(_new(OrderRequest, (
            ts, account, instrument, side, qty, price, ord_type, tif, clid, post_only,
            reduce_only, stp, expire_ts)))  # fmt: skip
        oid = 0
        for o in outs:
            if type(o) is _NewOrder:
                oid = o.order_id
        if ids is None:
            ss.remember(account, clid, oid)
        else:  # Sessions.remember, in line
            ids[clid] = oid
            if len(ids) > ss.capacity:
                ids.popitem(last=False)
        self._dispatch(outs, origin, cmds, origins, res)

    def _lookup(self, inp: Any) -> Any:
        """The account's own working order named by ``order_id`` or ``client_order_id``
        (and ``instrument`` when given), else None: another account's order and an
        unknown one look the same."""
        orders = self.engine.orders
        oid = inp.order_id
        if oid is None and inp.client_order_id is not None:
            oid = self.sessions.order_id_of(inp.account, inp.client_order_id)
        order = orders.get(oid) if oid is not None else None
        if order is None or order.account != inp.account:
            return None
        if inp.instrument is not None and inp.instrument != order.symbol:
            return None
        return order

    def _cancel(self, inp: CancelOrderRequest, cmds: list, origins: list,
                res: BatchResult) -> None:  # fmt: skip
        origin = self._origin(inp)
        order = self._lookup(inp)
        if order is None:
            self._reply(res, origin, rp.cancel_refused(
                inp, "cancel", int(Reason.UNKNOWN_ORDER), "", None, inp.ts), True)  # fmt: skip
            return
        outs = self.engine.apply(CancelRequest(inp.ts, inp.account, order.symbol,
                                               order.order_id))  # fmt: skip
        self._dispatch(outs, origin, cmds, origins, res)

    def _amend(self, inp: AmendOrderRequest, cmds: list, origins: list,
               res: BatchResult) -> None:  # fmt: skip
        origin = self._origin(inp)
        order = self._lookup(inp)
        if order is None:
            self._reply(res, origin, rp.cancel_refused(
                inp, "amend", int(Reason.UNKNOWN_ORDER), "", None, inp.ts), True)  # fmt: skip
            return
        outs = self.engine.apply(AmendRequest(inp.ts, inp.account, order.symbol,
                                              order.order_id, inp.price, inp.qty))  # fmt: skip
        self._dispatch(outs, origin, cmds, origins, res)

    def _mass_cancel(self, inp: MassCancelOrders, cmds: list, origins: list,
                     res: BatchResult) -> None:  # fmt: skip
        outs = self.engine.apply(MassCancelRequest(inp.ts, inp.account, inp.instrument))
        self._dispatch(outs, self._origin(inp), cmds, origins, res)

    def _cancel_all(self, inp: CancelAll, cmds: list, origins: list,
                    res: BatchResult) -> None:  # fmt: skip
        self._cancel_account(inp.ts, inp.account, inp.reason, cmds, origins, res)

    def _cancel_account(self, ts: int, account: int, reason: int, cmds: list, origins: list,
                        res: BatchResult) -> None:  # fmt: skip
        outs = self.engine.apply(MassCancelRequest(ts, account, None))
        outs = [o._replace(reason=reason) if type(o) is mc.MassCancel else o for o in outs]
        self._dispatch(outs, None, cmds, origins, res)

    # ------------------------------------------------------------------ sessions -----
    def gateway_number(self, run_id: str) -> int | None:
        """The number ``GatewayUp(run_id)`` gave, if that gateway is known."""
        return self.sessions.gateways.get(run_id)

    def _gateway_up(self, inp: GatewayUp, cmds: list, origins: list, res: BatchResult) -> None:
        self.sessions.gateway_up(inp.run_id, inp.gw)

    def _logon(self, inp: Logon, cmds: list, origins: list, res: BatchResult) -> None:
        old = self.sessions.open(inp.gw, inp.sid, inp.account, bool(inp.cancel_on_disconnect))
        if old is not None and old[1] and old[0] != inp.account:
            self._cancel_account(inp.ts, old[0], _COD, cmds, origins, res)

    def _logout(self, inp: Logout, cmds: list, origins: list, res: BatchResult) -> None:
        ended = self.sessions.close(inp.gw, inp.sid)
        if ended is not None and ended[1]:
            self._cancel_account(inp.ts, ended[0], _COD, cmds, origins, res)

    def _gateway_sync(self, inp: GatewaySync, cmds: list, origins: list,
                      res: BatchResult) -> None:  # fmt: skip
        ss = self.sessions
        live = {}
        for item in inp.sessions:
            sid, account, cod = item
            live[sid] = (account, bool(cod))
        for gw, sid in ss.of_gateway(inp.gw):
            if sid not in live or ss.sessions[(gw, sid)] != live[sid]:
                ended = ss.close(gw, sid)
                if ended is not None and ended[1] and (sid not in live or
                                                       live[sid][0] != ended[0]):
                    self._cancel_account(inp.ts, ended[0], _COD, cmds, origins, res)
        for sid, (account, cod) in sorted(live.items()):
            if (inp.gw, sid) not in ss.sessions:
                ss.open(inp.gw, sid, account, cod)

    def _gateway_lost(self, inp: GatewayLost, cmds: list, origins: list,
                      res: BatchResult) -> None:  # fmt: skip
        done: set[int] = set()
        for account, cod in self.sessions.lose_gateway(inp.gw):
            if cod and account not in done:
                done.add(account)
                self._cancel_account(inp.ts, account, _COD, cmds, origins, res)

    # ------------------------------------------------------------------ views --------
    def open_orders(self, account: int, instrument: str | None = None) -> list:
        """The account's working orders (clearing's records), by order id."""
        acct = self.engine.accounts.get(account)
        if acct is None:
            return []
        return [o for _, o in sorted(acct.orders.items())
                if instrument is None or o.symbol == instrument]  # fmt: skip
