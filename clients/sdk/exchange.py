"""``Exchange``: crossbook's asyncio client with ccxt's method names and argument order.

::

    async with Exchange.from_state_dir("crossbook-state") as ex:     # a demo account
        order = await ex.create_order("BTC/USD:USD", "limit", "buy", "0.010", "60000.5",
                                      {"postOnly": True})
        book = await ex.watch_order_book("BTC/USD:USD")

Rules:

1. Method names, argument order and result fields are ccxt's (``create_order(symbol, type,
   side, amount, price=None, params=None)``, ``cancel_order(id, symbol=None)``...); every
   result is a typed record (``clients.sdk.records``) with ``to_ccxt()``. ``params`` takes
   ``clientOrderId``, ``postOnly``, ``reduceOnly``, ``timeInForce`` (GTC, IOC, FOK, GTD, PO),
   ``stp`` (Binance names), ``expireTime`` (ms, GTD), and for market orders
   ``protectionPrice`` or ``slippage``; any other key is refused before sending
   (``BadRequest``), as the exchange refuses unknown fields.
2. Integers stay on the wire: amounts and prices are converted to quantity and price units
   by the instrument's ``Market`` (``load_markets``, from ``query_instruments``) at this
   edge only, and back to ``Decimal`` in the records.
3. A refusal raises the exception ``clients.sdk.errors`` maps its reason code to, carrying
   the exchange's code, name, text and figures. A request whose answer does not come
   within ``timeout`` raises ``RequestTimeout``; one in flight when the session is lost
   raises ``NetworkError`` (its outcome is unknown: query by ``clientOrderId``).
4. ``create_order`` returns once the exchange acknowledged the order (``New`` or
   ``Rejected``; for IOC, FOK and market orders once the order is done), with every report
   already received applied. ``cancel_order`` returns the ``Canceled`` order,
   ``edit_order`` the ``Replaced`` one, ``cancel_all_orders`` the orders it cancelled.
5. Local state follows the session's reports and pushes: open orders, fills, positions,
   balances and margin. After a reconnect or a gap in the session's ``seq`` the SDK
   queries its orders and positions again by itself. ``watch_*`` calls return the latest
   state once it changes (``clients.sdk.streams``: one cursor per calling task).
6. Books: ``watch_order_book`` keeps a local book per symbol from snapshot + deltas
   (``gateway.md_client.BookClient``: sequence gaps, checksum mismatches and heartbeats
   ahead of the book make it resynchronise by itself); ``fetch_order_book`` asks the
   snapshot service. Trades, status and marks come from ``clients.sdk.feed.PublicFeed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from clients.sdk.connection import Connection
from clients.sdk.errors import (
    BadRequest,
    BadSymbol,
    BaseError,
    NetworkError,
    OrderNotFound,
    RequestTimeout,
    error_from_message,
    local_error,
)
from clients.sdk.feed import PublicFeed
from clients.sdk.keyfiles import DEFAULT_STATE_DIR, ClientKeys, claim_demo_key, load_client_keys
from clients.sdk.markets import ASSET_DECIMALS, Market, Number, to_decimal_input
from clients.sdk.records import (
    Balances,
    Margin,
    Order,
    OrderBook,
    Position,
    Ticker,
    Trade,
    balances_from_records,
    book_from_levels,
    iso8601,
    margin_from_record,
    ns_to_ms,
    order_from_state,
    position_from_record,
    public_trade,
    trade_from_fill,
    trade_from_record,
)
from clients.sdk.streams import ListStream, StateStream
from gateway.auth import curve_client
from gateway.md_client import BookClient, MarketDataError
from gateway.md_translate import MD_VERSION
from gateway.protocol import (
    STP_CODES,
    TERMINAL_STATUSES,
    ExecType,
    MsgType,
    Reason,
)
from gateway.zmq_util import close_socket

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
ORDER_FIELDS = (
    "order_id",
    "client_order_id",
    "instrument",
    "side",
    "ord_type",
    "tif",
    "price",
    "order_qty",
    "cum_qty",
    "leaves_qty",
    "avg_px",
    "cum_notional",
    "ord_status",
    "ts",
    "post_only",
    "reduce_only",
    "stp",
    "expire_ts",
)
PARAMS = frozenset(
    {
        "clientOrderId",
        "postOnly",
        "reduceOnly",
        "timeInForce",
        "stp",
        "expireTime",
        "protectionPrice",
        "slippage",
    }
)
TIFS = {"GTC": "gtc", "IOC": "ioc", "FOK": "fok", "GTD": "gtd", "PO": "gtc"}
MAX_FINISHED = 10_000
DEFAULT_SLIPPAGE = Decimal("0.01")
MARK_WAIT_S = 3.0


def _endpoint_port(endpoint: str, offset: int) -> str:
    """``tcp://h:5555`` -> ``tcp://h:5556`` for ``offset`` 1 (the default port layout)."""
    head, _, port = endpoint.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"cannot derive a market-data endpoint from {endpoint!r}; pass it")
    return f"{head}:{int(port) + offset}"


@dataclass
class _Waiter:
    future: asyncio.Future[Any]
    kind: str
    req_id: int
    clid: str | None = None
    order_id: int | None = None
    until_done: bool = False
    items: list[Any] = field(default_factory=list)
    instrument: str | None = None


class Exchange:
    """An asyncio client of one crossbook exchange, for one account (one key pair)."""

    id = "crossbook"
    name = "crossbook"
    has: dict[str, bool] = {  # ccxt's capability map
        "createOrder": True,
        "cancelOrder": True,
        "editOrder": True,
        "cancelAllOrders": True,
        "fetchOrder": True,
        "fetchOpenOrders": True,
        "fetchClosedOrders": True,
        "fetchMyTrades": True,
        "fetchBalance": True,
        "fetchPositions": True,
        "fetchOrderBook": True,
        "fetchTicker": True,
        "fetchMarkets": True,
        "loadMarkets": True,
        "watchOrderBook": True,
        "watchTrades": True,
        "watchOrders": True,
        "watchMyTrades": True,
        "watchPositions": True,
        "watchBalance": True,
        "watchTicker": True,
        "createOrderWs": False,
        "fetchTrades": False,
        "cancelAllAfter": True,
    }

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        key: str | os.PathLike[str] | ClientKeys | None = None,
        server_key: str | os.PathLike[str] | bytes | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        md_endpoint: str | None = None,
        snapshot_endpoint: str | None = None,
        heartbeat_ms: int = 2000,
        cancel_on_disconnect: bool = False,
        timeout: float = 10.0,
        reconnect: bool = True,
        client: str = "crossbook-sdk/0.1",
        asset_decimals: Mapping[str, int] | None = None,
        ctx: zmq.asyncio.Context | None = None,
    ) -> None:
        env = os.environ
        if isinstance(key, ClientKeys):
            self.keys = key
        elif key is not None:
            self.keys = load_client_keys(key, server_key)
        else:
            where = state_dir or env.get("CROSSBOOK_STATE_DIR") or DEFAULT_STATE_DIR
            self.keys = claim_demo_key(where, server_key)
        endpoint = endpoint or env.get("CROSSBOOK_ENDPOINT") or DEFAULT_ENDPOINT
        self.endpoint = endpoint
        self.md_endpoint = (
            md_endpoint or env.get("CROSSBOOK_MD_ENDPOINT") or _endpoint_port(endpoint, 1)
        )
        self.snapshot_endpoint = (
            snapshot_endpoint
            or env.get("CROSSBOOK_SNAPSHOT_ENDPOINT")
            or _endpoint_port(endpoint, 2)
        )
        self.timeout = timeout
        self.asset_decimals = dict(asset_decimals or ASSET_DECIMALS)
        self._own_ctx = ctx is None
        self.ctx = ctx if ctx is not None else zmq.asyncio.Context()
        self.conn = Connection(
            self.ctx,
            endpoint,
            self.keys.pair,
            self.keys.server_public,
            on_message=self._on_message,
            on_state=self._on_state,
            heartbeat_ms=heartbeat_ms,
            cancel_on_disconnect=cancel_on_disconnect,
            client=client,
            timeout=timeout,
            reconnect=reconnect,
        )
        self.markets: dict[str, Market] = {}
        self.markets_by_id: dict[str, Market] = {}
        self._clid_prefix = secrets.token_hex(4)
        self._clid_n = 0
        self._req_n = 0
        # correlation
        self._by_req: dict[int, _Waiter] = {}
        self._by_clid: dict[str, _Waiter] = {}
        self._by_order: dict[int, list[_Waiter]] = {}
        # private state
        self._orders: dict[int, dict[str, Any]] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()
        self._live_clid: dict[str, int] = {}
        self._sent_flags: dict[str, tuple[bool, bool]] = {}
        self._positions: dict[str, dict[str, Any]] = {}
        self._balances: dict[str, dict[str, Any]] = {}
        self._margin: dict[str, Any] | None = None
        self._channels: set[str] = set()
        self.notices: deque[dict[str, Any]] = deque(maxlen=1000)
        self.orders_stream: ListStream[Order] = ListStream()
        self.my_trades_stream: ListStream[Trade] = ListStream()
        self.positions_stream: StateStream[list[Position]] = StateStream(self._position_list)
        self.balance_stream: StateStream[Balances] = StateStream(self._balance_record)
        self.margin_stream: StateStream[Margin] = StateStream(self._margin_record)
        # public state
        self._books: dict[str, BookClient] = {}
        self._book_streams: dict[str, StateStream[OrderBook]] = {}
        self._trade_streams: dict[str, ListStream[Trade]] = {}
        self._ticker_streams: dict[str, StateStream[Ticker]] = {}
        self._status_streams: dict[str, StateStream[str]] = {}
        self._marks: dict[str, dict[str, Any]] = {}
        self._last_trade: dict[str, dict[str, Any]] = {}
        self._status: dict[str, str] = {}
        self._status_seq: dict[str, int] = {}
        self._refreshing: set[str] = set()
        self._feed: PublicFeed | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.resyncs = 0
        self._started = False
        self._closed = False

    # -- construction helpers ----------------------------------------------------------------
    @classmethod
    def from_state_dir(
        cls, state_dir: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> Exchange:
        """A client on a free demo account of a state directory written by ``crossbook serve``
        (``clients.sdk.keyfiles``; default ``$CROSSBOOK_STATE_DIR`` or ``./crossbook-state``).
        """
        return cls(state_dir=state_dir, **kwargs)

    @property
    def account(self) -> int | None:
        """The account the exchange mapped this key to (known after logon)."""
        return self.conn.account

    async def __aenter__(self) -> Exchange:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Log on and load the markets (called by ``async with``)."""
        if self._started:
            return
        self._started = True
        try:
            await self.conn.start()
            await self.load_markets()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Log out, stop every task, close every socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.conn.close()
        self._fail_all(NetworkError("the client was closed"))
        self.keys.release()
        if self._own_ctx:
            self.ctx.destroy(linger=0)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- requests ---------------------------------------------------------------------------
    def _next_req(self) -> int:
        self._req_n += 1
        return self._req_n

    def _next_clid(self) -> str:
        self._clid_n += 1
        return f"{self._clid_prefix}-{self._clid_n}"

    def _waiter(self, kind: str, req_id: int, **kw: Any) -> _Waiter:
        w = _Waiter(asyncio.get_running_loop().create_future(), kind, req_id, **kw)
        self._by_req[req_id] = w
        if w.clid is not None:
            self._by_clid[w.clid] = w
        if w.order_id is not None:
            self._by_order.setdefault(w.order_id, []).append(w)
        return w

    def _drop(self, w: _Waiter) -> None:
        if self._by_req.get(w.req_id) is w:
            del self._by_req[w.req_id]
        if w.clid is not None and self._by_clid.get(w.clid) is w:
            del self._by_clid[w.clid]
        if w.order_id is not None:
            lst = self._by_order.get(w.order_id)
            if lst is not None and w in lst:
                lst.remove(w)
                if not lst:
                    del self._by_order[w.order_id]

    def _resolve(self, w: _Waiter, value: Any) -> None:
        self._drop(w)
        if not w.future.done():
            w.future.set_result(value)

    def _reject(self, w: _Waiter, exc: BaseException) -> None:
        self._drop(w)
        if not w.future.done():
            w.future.set_exception(exc)

    def _fail_all(self, exc: BaseException) -> None:
        for w in list(self._by_req.values()):
            self._reject(w, exc)

    async def _send(self, msg: dict[str, Any], w: _Waiter) -> Any:
        """Send ``msg`` (with ``w``'s req_id) and wait for ``w``; cleans up on every exit."""
        try:
            await self.conn.ready(self.timeout)
            msg["req_id"] = w.req_id
            self.conn.send(msg)
            async with asyncio.timeout(self.timeout):
                return await w.future
        except TimeoutError:
            raise RequestTimeout(
                f"no answer to {msg['type']} within {self.timeout} s (outcome unknown)"
            ) from None
        finally:
            self._drop(w)

    async def _query(self, qtype: str, **fields: Any) -> list[dict[str, Any]]:
        w = self._waiter("query", self._next_req())
        msg = {"type": qtype}
        msg.update({k: v for k, v in fields.items() if v is not None})
        return await self._send(msg, w)

    # -- incoming ---------------------------------------------------------------------------
    def _on_state(self, state: str, info: dict[str, Any] | None) -> None:
        if state == "up":
            if self.conn.stats.logons > 1:
                self._spawn(self._resync("reconnect"), "crossbook-resync")
        elif state == "down":
            self._fail_all(NetworkError(f"session with {self.endpoint} lost; outcome unknown"))
        elif state == "gap":
            self._spawn(self._resync("gap"), "crossbook-resync")
        elif state == "failed" and info is not None:
            exc = info.get("error")
            if isinstance(exc, BaseException):
                self._fail_all(exc)
                for s in (
                    self.orders_stream,
                    self.my_trades_stream,
                    self.positions_stream,
                    self.balance_stream,
                    self.margin_stream,
                ):
                    s.fail(exc)

    def _on_message(self, msg: dict[str, Any]) -> None:
        t = msg["type"]
        if t == MsgType.EXEC_REPORT:
            self._on_exec(msg)
        elif t == MsgType.QUERY_REPLY:
            w = self._by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                w.items.extend(msg["items"])
                if msg.get("last", True):
                    self._resolve(w, w.items)
        elif t in (MsgType.SUBSCRIBE_ACK, MsgType.CANCEL_ALL_AFTER_ACK):
            w = self._by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                self._resolve(w, msg)
        elif t == MsgType.MASS_CANCEL_REPORT:
            w = self._by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                self._resolve(w, w.items)
        elif t == MsgType.REJECT:
            w = self._by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is not None:
                self._reject(w, error_from_message(msg))
            else:
                log.warning("reject without a request: %s", msg.get("text"))
        elif t == MsgType.CANCEL_REJECT:
            w = self._by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if w is None and msg.get("order_id") is not None:
                kind = "amend" if msg.get("response_to") == "amend" else "cancel"
                for cand in self._by_order.get(msg["order_id"], []):
                    if cand.kind == kind:
                        w = cand
                        break
            if w is not None:
                self._reject(w, error_from_message(msg))
        elif t == MsgType.POSITION_UPDATE:
            self._positions[msg["instrument"]] = msg
            self.positions_stream.publish()
        elif t == MsgType.BALANCE_UPDATE:
            self._balances[msg["asset"]] = msg
            self.balance_stream.publish()
        elif t == MsgType.MARGIN_UPDATE:
            self._margin = msg
            self.margin_stream.publish()
        elif t in (MsgType.MARGIN_CALL, MsgType.LIQUIDATION_NOTICE):
            self.notices.append(msg)
            log.warning("%s: %s", t, msg.get("text"))

    def _on_exec(self, rep: dict[str, Any]) -> None:
        et = rep["exec_type"]
        clid = rep.get("client_order_id") or ""
        oid = rep.get("order_id")
        if et == ExecType.REJECTED:
            w = self._by_req.get(rep.get("req_id"))  # type: ignore[arg-type]
            if w is None and clid:
                w = self._by_clid.get(clid)
            if w is not None and w.kind == "new":
                self._reject(w, error_from_message(rep))
        if oid is None:  # a reject before an order id was assigned: nothing to track
            return
        st = self._orders.get(oid)
        if st is None:
            st = self._orders[oid] = {"created_ts": rep.get("ts")}
            flags = self._sent_flags.pop(clid, None)
            if flags is not None:
                st["post_only"], st["reduce_only"] = flags
        for k in ORDER_FIELDS:
            v = rep.get(k)
            if v is not None:
                st[k] = v
        status = rep.get("ord_status")
        if et == ExecType.TRADE:
            st["last_trade_ts"] = rep.get("ts")
        if status in TERMINAL_STATUSES:
            if self._live_clid.get(clid) == oid:
                del self._live_clid[clid]
            self._finished[oid] = None
            while len(self._finished) > MAX_FINISHED:
                old, _ = self._finished.popitem(last=False)
                self._orders.pop(old, None)
        elif clid:
            self._live_clid[clid] = oid
        market = self.markets_by_id.get(str(rep.get("instrument")))
        if market is not None:
            self.orders_stream.extend([order_from_state(st, market)])
            if et == ExecType.TRADE and rep.get("last_qty"):
                self.my_trades_stream.extend([trade_from_fill(rep, market)])
        # waiters: the new order, then cancels/amends/mass cancels of this order
        w = self._by_clid.get(clid) if clid else None
        if w is not None:
            if w.kind == "new":
                if status in TERMINAL_STATUSES or (et == ExecType.NEW and not w.until_done):
                    self._resolve(w, oid)
            elif (w.kind == "cancel" and et == ExecType.CANCELED) or (
                w.kind == "amend" and et == ExecType.REPLACED
            ):
                self._resolve(w, oid)
        for cand in list(self._by_order.get(oid, [])):
            done = ExecType.CANCELED if cand.kind == "cancel" else ExecType.REPLACED
            if et == done:
                self._resolve(cand, oid)
        if et == ExecType.CANCELED and rep.get("end_reason") == "mass_cancel":
            for cand in self._by_req.values():
                if cand.kind == "mass_cancel" and cand.instrument in (None, rep.get("instrument")):
                    cand.items.append(oid)

    async def _resync(self, why: str) -> None:
        """Query open orders (and subscribed state) again after a reconnect or a seq gap."""
        self.resyncs += 1
        log.info("resynchronising private state (%s)", why)
        try:
            if self._channels:
                await self._subscribe(set(self._channels), force=True)
            items = await self._query(MsgType.QUERY_ORDERS, open_only=True)
            live = {it["order_id"] for it in items}
            for it in items:
                self._adopt(it)
            for oid, st in list(self._orders.items()):
                if st.get("ord_status") not in TERMINAL_STATUSES and oid not in live:
                    # finished while we were not listening: ask for its final state
                    final = await self._query(MsgType.QUERY_ORDERS, order_id=oid, open_only=False)
                    if final:
                        self._adopt(final[0])
                    else:
                        st["ord_status"] = "4"
                        st["leaves_qty"] = 0
                        self._finished[oid] = None
            if "positions" in self._channels:
                await self.fetch_positions()
            if "balances" in self._channels:
                await self.fetch_balance()
        except BaseError as exc:
            log.warning("resync (%s) failed: %s", why, exc)

    def _adopt(self, rec: dict[str, Any]) -> None:
        oid = rec["order_id"]
        st = self._orders.setdefault(oid, {"created_ts": rec.get("ts")})
        for k in ORDER_FIELDS:
            if k in rec:
                st[k] = rec[k]
        clid = rec.get("client_order_id") or ""
        if rec.get("ord_status") in TERMINAL_STATUSES:
            self._finished[oid] = None
            if self._live_clid.get(clid) == oid:
                del self._live_clid[clid]
        elif clid:
            self._live_clid[clid] = oid
        market = self.markets_by_id.get(rec["instrument"])
        if market is not None:
            self.orders_stream.extend([order_from_state(st, market)])

    # -- markets ----------------------------------------------------------------------------
    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        """Instrument definitions, by unified symbol (``BTC/USD:USD``)."""
        if self.markets and not reload:
            return self.markets
        items = await self._query(MsgType.QUERY_INSTRUMENTS)
        markets = [Market.from_record(it) for it in items]
        self.markets = {m.symbol: m for m in markets}
        self.markets_by_id = {m.id: m for m in markets}
        for m in markets:
            self._status.setdefault(m.id, m.status)
        return self.markets

    async def fetch_markets(self) -> list[Market]:
        return list((await self.load_markets(reload=True)).values())

    def market(self, symbol: str) -> Market:
        """The market of a unified symbol or an exchange id; ``BadSymbol`` if unknown."""
        m = self.markets.get(symbol) or self.markets_by_id.get(symbol)
        if m is None:
            raise BadSymbol(
                f"unknown symbol {symbol!r}", reason=Reason.UNKNOWN_INSTRUMENT, local=True
            )
        return m

    async def _market(self, symbol: str) -> Market:
        try:
            return self.market(symbol)
        except BadSymbol:
            await self.load_markets(reload=True)
            return self.market(symbol)

    def cached_order(self, id: str | int | None) -> Order | None:
        """The latest state of an order this client has seen (no request is sent)."""
        try:
            oid = int(id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        st = self._orders.get(oid)
        if st is None or st.get("instrument") not in self.markets_by_id:
            return None
        return self._order_record(oid)

    def _order_record(self, oid: int) -> Order:
        st = self._orders[oid]
        return order_from_state(st, self.markets_by_id[st["instrument"]])

    # -- trading ----------------------------------------------------------------------------
    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Number,
        price: Number | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Order:
        """Place an order; see the module rules for ``params`` and when it returns."""
        m = await self._market(symbol)
        p = dict(params or {})
        unknown = sorted(set(p) - PARAMS)
        if unknown:
            raise BadRequest(
                f"unknown params {unknown}; known: {sorted(PARAMS)}",
                reason=Reason.INVALID_FIELD,
                field=unknown[0],
                local=True,
            )
        ord_type = str(type).lower()
        if ord_type not in ("limit", "market"):
            raise local_error(
                Reason.INVALID_ORDER_TYPE, f"type must be limit or market, got {type!r}"
            )
        side_l = str(side).lower()
        if side_l not in ("buy", "sell"):
            raise local_error(Reason.INVALID_SIDE, f"side must be buy or sell, got {side!r}")
        tif_in = str(p.get("timeInForce") or ("IOC" if ord_type == "market" else "GTC")).upper()
        if tif_in not in TIFS:
            raise local_error(
                Reason.INVALID_TIME_IN_FORCE,
                f"timeInForce must be one of {sorted(TIFS)}, got {tif_in!r}",
            )
        post_only = bool(p.get("postOnly", False)) or tif_in == "PO"
        reduce_only = bool(p.get("reduceOnly", False))
        clid = str(p.get("clientOrderId") or self._next_clid())
        msg: dict[str, Any] = {
            "type": MsgType.NEW_ORDER,
            "instrument": m.id,
            "side": side_l,
            "ord_type": ord_type,
            "qty": m.amount_units(amount),
            "tif": TIFS[tif_in],
            "client_order_id": clid,
        }
        if post_only:
            msg["post_only"] = True
        if reduce_only:
            msg["reduce_only"] = True
        if p.get("stp") is not None:
            stp = str(p["stp"]).lower()
            if stp not in STP_CODES:
                raise local_error(
                    Reason.INVALID_STP_MODE,
                    f"stp must be one of {sorted(STP_CODES)}, got {p['stp']!r}",
                )
            msg["stp"] = stp
        if msg["tif"] == "gtd":
            exp = p.get("expireTime")
            if exp is None:
                raise local_error(Reason.INVALID_EXPIRE_TIME, "GTD needs params expireTime (ms)")
            msg["expire_ts"] = int(exp) * 1_000_000
        if price is None and ord_type == "market":
            price = p.get("protectionPrice")
            if price is None:
                price = await self._protection_price(m, side_l, p.get("slippage"))
        if price is None and ord_type == "limit":
            raise local_error(Reason.INVALID_PRICE, "a limit order needs a price")
        if price is not None:
            msg["price"] = m.price_units(price)
        self._sent_flags[clid] = (post_only, reduce_only)
        until_done = ord_type == "market" or msg["tif"] in ("ioc", "fok")
        w = self._waiter("new", self._next_req(), clid=clid, until_done=until_done)
        try:
            oid = await self._send(msg, w)
        finally:
            if len(self._sent_flags) > 10_000:
                self._sent_flags.clear()
        return self._order_record(oid)

    async def _protection_price(self, m: Market, side: str, slippage: Any) -> Decimal:
        """The worst acceptable price of a market order: the best opposite price moved by
        ``slippage`` (1 % by default) against the order, on the tick grid."""
        s = (
            DEFAULT_SLIPPAGE
            if slippage is None
            else to_decimal_input(slippage, "slippage", Reason.INVALID_PRICE)
        )
        book = await self.fetch_order_book(m.symbol, 1)
        level = book.asks if side == "buy" else book.bids
        ref = level[0][0] if level else None
        if ref is None:
            mark = self._marks.get(m.id)
            ref = m.price(mark["mark"]) if mark else None
        if ref is None:
            raise local_error(
                Reason.MISSING_PROTECTION_PRICE,
                f"no {'ask' if side == 'buy' else 'bid'} on {m.symbol} to protect a "
                "market order against: pass a price",
            )
        if side == "buy":
            return m.round_price(ref * (1 + s), up=False)
        return max(m.round_price(ref * (1 - s), up=True), m.tick)

    async def create_limit_buy_order(
        self, symbol: str, amount: Number, price: Number, params: Mapping[str, Any] | None = None
    ) -> Order:
        return await self.create_order(symbol, "limit", "buy", amount, price, params)

    async def create_limit_sell_order(
        self, symbol: str, amount: Number, price: Number, params: Mapping[str, Any] | None = None
    ) -> Order:
        return await self.create_order(symbol, "limit", "sell", amount, price, params)

    async def create_market_buy_order(
        self, symbol: str, amount: Number, params: Mapping[str, Any] | None = None
    ) -> Order:
        return await self.create_order(symbol, "market", "buy", amount, None, params)

    async def create_market_sell_order(
        self, symbol: str, amount: Number, params: Mapping[str, Any] | None = None
    ) -> Order:
        return await self.create_order(symbol, "market", "sell", amount, None, params)

    def _target(self, id: str | int | None, params: Mapping[str, Any]) -> dict[str, Any]:
        """``order_id`` (exchange id) or ``client_order_id`` (``params.clientOrderId``)."""
        clid = params.get("clientOrderId")
        if id is not None:
            try:
                return {"order_id": int(id)}
            except (TypeError, ValueError):
                raise local_error(
                    Reason.INVALID_ORDER_ID, f"order id must be an integer, got {id!r}"
                ) from None
        if clid:
            return {"client_order_id": str(clid)}
        raise local_error(Reason.INVALID_ORDER_ID, "pass an order id or params clientOrderId")

    def _known_oid(self, target: dict[str, Any]) -> int | None:
        if "order_id" in target:
            return target["order_id"]
        return self._live_clid.get(target["client_order_id"])

    async def cancel_order(
        self,
        id: str | int | None,
        symbol: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Order:
        """Cancel one order by exchange id (or ``params.clientOrderId``)."""
        p = dict(params or {})
        target = self._target(id, p)
        msg: dict[str, Any] = {"type": MsgType.CANCEL, **target}
        if symbol is not None:
            msg["instrument"] = (await self._market(symbol)).id
        oid = self._known_oid(target)
        # an order this session never saw by its client id: resolve by the report's clid
        clid = None if oid is not None else target.get("client_order_id")
        w = self._waiter("cancel", self._next_req(), order_id=oid, clid=clid)
        got = await self._send(msg, w)
        return self._order_record(got)

    async def edit_order(
        self,
        id: str | int | None,
        symbol: str,
        type: str | None = None,
        side: str | None = None,
        amount: Number | None = None,
        price: Number | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Order:
        """Amend price and/or total amount (ccxt's edit_order; ``amount`` is the new total,
        fills included). Type and side cannot change: a different one is ``InvalidOrder``."""
        m = await self._market(symbol)
        p = dict(params or {})
        target = self._target(id, p)
        oid = self._known_oid(target)
        st = self._orders.get(oid) if oid is not None else None
        if st is not None:
            for name, given, have in (
                ("type", type, st.get("ord_type")),
                ("side", side, st.get("side")),
            ):
                if given is not None and have is not None and str(given).lower() != have:
                    raise local_error(
                        Reason.INVALID_AMEND,
                        f"an amend cannot change the {name} ({have} -> {given})",
                    )
        msg: dict[str, Any] = {"type": MsgType.AMEND, "instrument": m.id, **target}
        if price is not None:
            msg["price"] = m.price_units(price)
        if amount is not None:
            msg["qty"] = m.amount_units(amount)
        clid = None if oid is not None else target.get("client_order_id")
        w = self._waiter("amend", self._next_req(), order_id=oid, clid=clid)
        got = await self._send(msg, w)
        return self._order_record(got)

    async def cancel_all_orders(
        self, symbol: str | None = None, params: Mapping[str, Any] | None = None
    ) -> list[Order]:
        """Mass cancel (one instrument, or all); returns the orders it cancelled."""
        inst = (await self._market(symbol)).id if symbol is not None else None
        w = self._waiter("mass_cancel", self._next_req(), instrument=inst)
        msg: dict[str, Any] = {"type": MsgType.MASS_CANCEL}
        if inst is not None:
            msg["instrument"] = inst
        oids = await self._send(msg, w)
        return [self._order_record(o) for o in oids if o in self._orders]

    async def cancel_all_after(self, seconds: int) -> dict[str, Any]:
        """Dead man's switch: cancel everything unless called again within ``seconds``."""
        w = self._waiter("ack", self._next_req())
        return await self._send({"type": MsgType.CANCEL_ALL_AFTER, "seconds": int(seconds)}, w)

    # -- private queries ----------------------------------------------------------------------
    async def fetch_order(
        self,
        id: str | int | None,
        symbol: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Order:
        """One order (working or recently finished) by id or ``params.clientOrderId``."""
        target = self._target(id, dict(params or {}))
        inst = (await self._market(symbol)).id if symbol is not None else None
        items = await self._query(MsgType.QUERY_ORDERS, open_only=False, instrument=inst, **target)
        if not items:
            raise OrderNotFound(f"no order {target}", reason=Reason.UNKNOWN_ORDER, local=True)
        self._adopt(items[0])
        return self._order_record(items[0]["order_id"])

    async def _orders_query(self, symbol: str | None, open_only: bool) -> list[Order]:
        inst = (await self._market(symbol)).id if symbol is not None else None
        items = await self._query(MsgType.QUERY_ORDERS, open_only=open_only, instrument=inst)
        for it in items:
            self._adopt(it)
        return [self._order_record(it["order_id"]) for it in items]

    @staticmethod
    def _since_limit(rows: list[Any], since: int | None, limit: int | None) -> list[Any]:
        if since is not None:
            rows = [r for r in rows if r.timestamp is not None and r.timestamp >= since]
        if limit is not None:
            rows = rows[-limit:]
        return rows

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Order]:
        return self._since_limit(await self._orders_query(symbol, True), since, limit)

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Order]:
        rows = [o for o in await self._orders_query(symbol, False) if o.status != "open"]
        return self._since_limit(rows, since, limit)

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Trade]:
        """Your fills, oldest first (``since`` in ms; at most ``limit``, up to 1000)."""
        inst = (await self._market(symbol)).id if symbol is not None else None
        items = await self._query(
            MsgType.QUERY_TRADES,
            instrument=inst,
            since_ts=None if since is None else max(int(since), 0) * 1_000_000,
            limit=None if limit is None else max(1, min(int(limit), 1000)),
        )
        out = []
        for it in items:
            m = self.markets_by_id.get(it["instrument"]) or await self._market(it["instrument"])
            out.append(trade_from_record(it, m))
        return out

    async def fetch_positions(
        self, symbols: Iterable[str] | None = None, params: Mapping[str, Any] | None = None
    ) -> list[Position]:
        """Positions (flat ones included when the exchange lists them)."""
        wanted = None
        if symbols is not None:
            wanted = {(await self._market(s)).id for s in symbols}
        items = await self._query(MsgType.QUERY_POSITIONS)
        for it in items:
            self._positions[it["instrument"]] = it
        self.positions_stream.publish()
        out = []
        for it in items:
            if wanted is not None and it["instrument"] not in wanted:
                continue
            m = self.markets_by_id.get(it["instrument"]) or await self._market(it["instrument"])
            out.append(position_from_record(it, m, self.asset_decimals))
        return out

    async def fetch_balance(self, params: Mapping[str, Any] | None = None) -> Balances:
        items = await self._query(MsgType.QUERY_BALANCES)
        for it in items:
            self._balances[it["asset"]] = it
        self.balance_stream.publish()
        return balances_from_records(items, self.asset_decimals)

    async def fetch_margin(self) -> Margin:
        """Account equity, initial and maintenance margin, free collateral, margin ratio."""
        items = await self._query(MsgType.QUERY_MARGIN)
        if not items:
            raise NetworkError("the exchange sent no margin record")
        self._margin = items[0]
        self.margin_stream.publish()
        return margin_from_record(items[0], self.asset_decimals)

    # -- private streams -----------------------------------------------------------------------
    async def _subscribe(self, channels: set[str], force: bool = False) -> None:
        new = channels if force else channels - self._channels
        if not new:
            return
        self._channels |= new
        w = self._waiter("ack", self._next_req())
        await self._send({"type": MsgType.SUBSCRIBE, "channels": sorted(new)}, w)

    def _position_list(self) -> list[Position] | None:
        out = []
        for inst, rec in self._positions.items():
            m = self.markets_by_id.get(inst)
            if m is not None:
                out.append(position_from_record(rec, m, self.asset_decimals))
        return out

    def _balance_record(self) -> Balances | None:
        if not self._balances:
            return None
        return balances_from_records(list(self._balances.values()), self.asset_decimals)

    def _margin_record(self) -> Margin | None:
        return (
            None if self._margin is None else margin_from_record(self._margin, self.asset_decimals)
        )

    async def watch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Order]:
        """Your orders that changed since this task's previous call (waits for one)."""
        sym = (await self._market(symbol)).symbol if symbol is not None else None
        while True:
            rows = await self.orders_stream.watch()
            if sym is not None:
                rows = [o for o in rows if o.symbol == sym]
            rows = self._since_limit(rows, since, limit)
            if rows:
                return rows

    async def watch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Trade]:
        """Your fills since this task's previous call (waits for one)."""
        sym = (await self._market(symbol)).symbol if symbol is not None else None
        while True:
            rows = await self.my_trades_stream.watch()
            if sym is not None:
                rows = [t for t in rows if t.symbol == sym]
            rows = self._since_limit(rows, since, limit)
            if rows:
                return rows

    async def watch_positions(
        self,
        symbols: Iterable[str] | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Position]:
        """Every position, whenever one changes (subscribes to ``positions`` on first use)."""
        if "positions" not in self._channels:
            await self._subscribe({"positions"})
            await self.fetch_positions()
        wanted = None
        if symbols is not None:
            wanted = {(await self._market(s)).symbol for s in symbols}
        while True:
            rows = await self.positions_stream.watch()
            if wanted is not None:
                rows = [r for r in rows if r.symbol in wanted]
            if rows or wanted is None:
                return rows

    async def watch_balance(self, params: Mapping[str, Any] | None = None) -> Balances:
        if "balances" not in self._channels:
            await self._subscribe({"balances"})
            await self.fetch_balance()
        return await self.balance_stream.watch()

    async def watch_margin(self) -> Margin:
        if "margin" not in self._channels:
            await self._subscribe({"margin"})
            await self.fetch_margin()
        return await self.margin_stream.watch()

    # -- public data: books ------------------------------------------------------------------
    def _curve(self) -> tuple[Any, bytes]:
        return (self.keys.pair, self.keys.server_public)

    async def _snapshot(self, inst: str, depth: int | None) -> dict[str, Any]:
        """One snapshot request to the snapshot service (a short-lived DEALER)."""
        sock = self.ctx.socket(zmq.DEALER)
        try:
            sock.linger = 0
            curve_client(sock, *self._curve())
            sock.connect(self.snapshot_endpoint)
            req_id = self._next_req()
            body: dict[str, Any] = {
                "v": MD_VERSION,
                "type": "snapshot",
                "sym": inst,
                "req_id": req_id,
            }
            if depth is not None:
                body["depth"] = depth
            await sock.send(msgpack.packb(body))
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not await sock.poll(int(left * 1000) + 1):
                    raise RequestTimeout(f"no snapshot of {inst} within {self.timeout} s")
                reply = msgpack.unpackb(await sock.recv(), raw=False)
                if not isinstance(reply, dict) or reply.get("req_id") != req_id:
                    continue
                if reply.get("type") == "error":
                    raise error_from_message(reply)
                return reply
        finally:
            close_socket(sock)

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBook:
        """The book from the exchange's snapshot service (``limit`` levels per side)."""
        m = await self._market(symbol)
        if limit is not None and (type(limit) is not int or limit < 1):
            raise BadRequest(
                f"limit must be a positive integer, got {limit!r}",
                reason=Reason.INVALID_FIELD,
                field="limit",
                local=True,
            )
        snap = await self._snapshot(m.id, limit)
        if snap.get("status"):
            self._status[m.id] = snap["status"]
        return book_from_levels(
            snap["bids"],
            snap["asks"],
            m,
            nonce=snap.get("seq"),
            ts_ns=snap.get("ts_send"),
            status=snap.get("status"),
        )

    def _book_client(self, m: Market) -> tuple[BookClient, StateStream[OrderBook]]:
        client = self._books.get(m.id)
        if client is not None:
            return client, self._book_streams[m.id]
        holder: dict[str, int | None] = {"limit": None}

        def build() -> OrderBook | None:
            if not client.local.synced:
                return None
            bids, asks = client.book.levels(holder["limit"])
            return book_from_levels(
                bids, asks, m, nonce=client.seq, ts_ns=time.time_ns(), status=self._status.get(m.id)
            )

        stream: StateStream[OrderBook] = StateStream(build)

        def on_update(c: BookClient) -> None:
            if c.status:
                self._status.setdefault(m.id, c.status)
            stream.publish()
            ts = self._ticker_streams.get(m.id)
            if ts is not None:
                ts.publish()

        client = BookClient(
            self.ctx,
            self.md_endpoint,
            self.snapshot_endpoint,
            m.id,
            curve=self._curve(),
            on_update=on_update,
            subscribe_wait=1.0,
        )
        self._books[m.id] = client
        self._book_streams[m.id] = stream
        self._spawn(self._run_book(client, stream), f"crossbook-book {m.id}")
        return client, stream

    async def _run_book(self, client: BookClient, stream: StateStream[OrderBook]) -> None:
        try:
            await client.run()
        except MarketDataError as exc:
            stream.fail(BadSymbol(str(exc), reason=Reason.UNKNOWN_INSTRUMENT))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must reach the watcher, not vanish in a task
            log.exception("book client for %s failed", client.symbol)
            stream.fail(NetworkError(f"book client failed: {exc!r}"))

    async def watch_order_book(self, symbol: str, limit: int | None = None) -> OrderBook:
        """The local book once it changes (first call: once it is synchronised)."""
        m = await self._market(symbol)
        _client, stream = self._book_client(m)
        book = await stream.watch()
        if limit is not None:
            book = OrderBook(
                book.symbol,
                book.bids[:limit],
                book.asks[:limit],
                book.timestamp,
                book.datetime,
                book.nonce,
                book.status,
            )
        return book

    def local_book(self, symbol: str) -> BookClient | None:
        """The ``BookClient`` behind ``watch_order_book(symbol)`` (stats, seq, raw book)."""
        m = self.market(symbol)
        return self._books.get(m.id)

    # -- public data: trades, status, marks ----------------------------------------------------
    def _ensure_feed(self, m: Market) -> None:
        if self._feed is None:
            self._feed = PublicFeed(
                self.ctx, self.md_endpoint, self._on_feed, curve=self._curve(),
                on_stale=self._on_stale,
            )  # fmt: skip
            self._spawn(self._feed.run(), "crossbook-feed")
        if m.id not in self._feed.symbols:
            self._feed.add(m.id)
            self._on_stale("status", m.id)

    def _on_stale(self, stream: str, inst: str) -> None:
        if stream == "status" and inst not in self._refreshing:
            self._refreshing.add(inst)
            self._spawn(self._refresh_status(inst), f"crossbook-status {inst}")

    async def _refresh_status(self, inst: str) -> None:
        """Read an instrument's status from a snapshot (after a missed status message)."""
        try:
            snap = await self._snapshot(inst, 1)
        except BaseError as exc:
            log.warning("cannot refresh the status of %s: %s", inst, exc)
            return
        finally:
            self._refreshing.discard(inst)
        seq = (snap.get("seqs") or {}).get("status", 0)
        if self._feed is not None:
            self._feed.note_seq("status", inst, seq)
        if seq >= self._status_seq.get(inst, -1) and snap.get("status"):
            self._set_status(inst, snap["status"], seq)

    def _set_status(self, inst: str, status: str, seq: int) -> None:
        self._status_seq[inst] = seq
        if self._status.get(inst) != status:
            self._status[inst] = status
            ss = self._status_streams.get(inst)
            if ss is not None:
                ss.publish()

    async def subscribe_public(self, symbol: str, timeout: float | None = None) -> None:
        """Subscribe to ``symbol``'s public trades, status and marks now, and wait (up to
        ``timeout``) until a feed heartbeat shows the subscription is in place, so no trade
        printed afterwards is missed (``watch_trades`` subscribes on its first call)."""
        m = await self._market(symbol)
        self._ensure_feed(m)
        assert self._feed is not None
        async with asyncio.timeout(self.timeout if timeout is None else timeout):
            await asyncio.sleep(0)  # let the feed task apply the subscription
            while not self._feed.subscribed.is_set() or m.id in self._feed._pending_ids():
                await self._feed.subscribed.wait()
                await asyncio.sleep(0)

    def _on_feed(self, stream: str, inst: str, msg: dict[str, Any]) -> None:
        m = self.markets_by_id.get(inst)
        if m is None:
            return
        if stream == "trade":
            self._last_trade[inst] = msg
            ts = self._trade_streams.get(inst)
            if ts is not None:
                ts.extend([public_trade(msg, m)])
        elif stream == "status":
            seq = msg.get("seq")
            if msg.get("kind") in ("status", "added") and msg.get("status") and type(seq) is int:
                if seq > self._status_seq.get(inst, -1):
                    self._set_status(inst, msg["status"], seq)
            return
        elif stream == "mark":
            self._marks[inst] = msg
        else:
            return
        tk = self._ticker_streams.get(inst)
        if tk is not None:
            tk.publish()

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Trade]:
        """Public trades since this task's previous call (waits for one)."""
        m = await self._market(symbol)
        stream = self._trade_streams.get(m.id)
        if stream is None:
            stream = self._trade_streams[m.id] = ListStream(1000)
        self._ensure_feed(m)
        while True:
            rows = self._since_limit(await stream.watch(), since, limit)
            if rows:
                return rows

    def status(self, symbol: str) -> str:
        """The latest known trading status of ``symbol``: trading, halted or auction."""
        m = self.market(symbol)
        return self._status.get(m.id, m.status)

    async def watch_status(self, symbol: str) -> str:
        """The instrument's status once it changes (first call: at once)."""
        m = await self._market(symbol)
        stream = self._status_streams.get(m.id)
        if stream is None:
            stream = self._status_streams[m.id] = StateStream(lambda: self._status.get(m.id))
            stream.publish()
        self._ensure_feed(m)
        return await stream.watch()

    def _ticker(self, m: Market) -> Ticker | None:
        client = self._books.get(m.id)
        bid = ask = bid_v = ask_v = None
        if client is not None and client.local.synced:
            bids, asks = client.book.top(1)
            if bids:
                bid, bid_v = m.price(bids[0][0]), m.amount(bids[0][1])
            if asks:
                ask, ask_v = m.price(asks[0][0]), m.amount(asks[0][1])
        mark = self._marks.get(m.id)
        last = self._last_trade.get(m.id)
        ts = max((x.get("ts_event") or 0) for x in (mark or {}, last or {}))
        ms = ns_to_ms(ts) or ns_to_ms(time.time_ns())
        return Ticker(
            symbol=m.symbol,
            timestamp=ms,
            datetime=iso8601(ms),
            bid=bid,
            bidVolume=bid_v,
            ask=ask,
            askVolume=ask_v,
            last=m.price(last["price"]) if last else None,
            markPrice=m.price(mark["mark"]) if mark else None,
            indexPrice=m.price(mark["index"]) if mark and mark.get("index") is not None else None,
            info={"mark": mark, "trade": last},
        )

    async def watch_ticker(self, symbol: str, params: Mapping[str, Any] | None = None) -> Ticker:
        """Best bid/ask (from the local book), last trade and mark price, once one changes."""
        m = await self._market(symbol)
        stream = self._ticker_streams.get(m.id)
        if stream is None:
            stream = self._ticker_streams[m.id] = StateStream(lambda: self._ticker(m))
        self._ensure_feed(m)
        self._book_client(m)
        return await stream.watch()

    async def fetch_ticker(self, symbol: str, params: Mapping[str, Any] | None = None) -> Ticker:
        """Best bid/ask from a snapshot, with the latest mark price (waits up to ``timeout``
        for the first mark of an instrument this client has not followed yet)."""
        m = await self._market(symbol)
        self._ensure_feed(m)
        book = await self.fetch_order_book(symbol, 1)
        if m.id not in self._marks:
            stream = self._ticker_streams.get(m.id)
            if stream is None:
                stream = self._ticker_streams[m.id] = StateStream(lambda: self._ticker(m))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.timeout, MARK_WAIT_S)):
                    while m.id not in self._marks:
                        await stream.watch()
        t = self._ticker(m)
        assert t is not None
        return Ticker(
            symbol=t.symbol,
            timestamp=t.timestamp,
            datetime=t.datetime,
            bid=book.bids[0][0] if book.bids else None,
            bidVolume=book.bids[0][1] if book.bids else None,
            ask=book.asks[0][0] if book.asks else None,
            askVolume=book.asks[0][1] if book.asks else None,
            last=t.last,
            markPrice=t.markPrice,
            indexPrice=t.indexPrice,
            info=t.info,
        )


__all__ = ["DEFAULT_ENDPOINT", "Exchange"]
