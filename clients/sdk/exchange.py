"""``Exchange``: crossbook's asyncio client with ccxt's method names and argument order.

::

    async with Exchange.from_state_dir("crossbook-state") as ex:     # a demo account
        order = await ex.create_order("BTC/USD:USD", "limit", "buy", "0.010", "60000.5",
                                      {"postOnly": True})
        book = await ex.watch_order_book("BTC/USD:USD")

Rules:

1. Method names, argument order and result fields are ccxt's (``create_order(symbol, type,
   side, amount, price=None, params=None)``, ``cancel_order(id, symbol=None)``...; the
   camelCase spellings ``createOrder``... are aliases, as in ccxt's Python); every
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
5. Local state follows the session's reports and pushes (``clients.sdk.private``, no
   I/O): open orders, fills, positions, balances and margin. After a reconnect or a gap in
   the session's ``seq`` the SDK queries its orders and positions again by itself.
   ``watch_*`` calls return the latest state once it changes (``clients.sdk.streams``: one
   cursor per calling task).
6. Public data (``clients.sdk.public``): ``watch_order_book`` keeps a local book per symbol
   from snapshot + deltas and resynchronises by itself; ``fetch_order_book`` asks the
   snapshot service; trades, status, marks and option tickers come from
   ``clients.sdk.feed``.
7. Options (docs/options.md): ``fetch_option_chain(code)``, ``fetch_option(symbol)`` and
   ``fetch_greeks(symbol)`` ask the exchange (``query_option_chain``) for the marks, IVs
   and Greeks clearing holds now; ``fetch_positions`` shows each position's Greeks;
   ``fetch_margin`` the mode behind IMR and MMR, what standard mode would require and the
   worst scenario; ``fetch_account_greeks`` the sums per underlying (``query_greeks``).
8. Keys and endpoints: ``key`` is an account's secret key file (the server's public key is
   read beside it); without one a free demo account of ``state_dir`` is claimed
   (``clients.sdk.keyfiles``). Defaults come from ``$CROSSBOOK_ENDPOINT``,
   ``$CROSSBOOK_MD_ENDPOINT``, ``$CROSSBOOK_SNAPSHOT_ENDPOINT`` and ``$CROSSBOOK_STATE_DIR``,
   else tcp://127.0.0.1:5555 with market data and snapshots on the next two ports and
   ``./crossbook-state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

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
    local_error,
)
from clients.sdk.keyfiles import DEFAULT_STATE_DIR, ClientKeys, claim_demo_key, load_client_keys
from clients.sdk.markets import ASSET_DECIMALS, Market, Number, to_decimal_input
from clients.sdk.private import PrivateState, Waiter
from clients.sdk.public import PublicData
from clients.sdk.records import (
    AccountGreeks,
    Balances,
    Greeks,
    Margin,
    Option,
    Order,
    Position,
    Trade,
    account_greeks_from_records,
    balances_from_records,
    greeks_from_record,
    margin_from_record,
    option_from_record,
    position_from_record,
    trade_from_record,
)
from gateway.protocol import (
    STP_CODES,
    TERMINAL_STATUSES,
    MsgType,
    Reason,
)

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
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
DEFAULT_SLIPPAGE = Decimal("0.01")


def _endpoint_port(endpoint: str, offset: int) -> str:
    """``tcp://h:5555`` -> ``tcp://h:5556`` for ``offset`` 1 (the default port layout)."""
    head, _, port = endpoint.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"cannot derive a market-data endpoint from {endpoint!r}; pass it")
    return f"{head}:{int(port) + offset}"


class Exchange(PublicData):
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
        "fetchOption": True,
        "fetchOptionChain": True,
        "fetchGreeks": True,
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
        self.markets: dict[str, Market] = {}
        self.markets_by_id: dict[str, Market] = {}
        self.state = PrivateState(self.markets_by_id, self.asset_decimals)
        self._own_ctx = ctx is None
        self.ctx = ctx if ctx is not None else zmq.asyncio.Context()
        self.conn = Connection(
            self.ctx,
            endpoint,
            self.keys.pair,
            self.keys.server_public,
            on_message=self.state.on_message,
            on_state=self._on_state,
            heartbeat_ms=heartbeat_ms,
            cancel_on_disconnect=cancel_on_disconnect,
            client=client,
            timeout=timeout,
            reconnect=reconnect,
        )
        self._clid_prefix = secrets.token_hex(4)
        self._clid_n = 0
        self._req_n = 0
        self._channels: set[str] = set()
        self._init_public()
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
        self.state.fail_all(NetworkError("the client was closed"))
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

    async def _send(self, msg: dict[str, Any], w: Waiter) -> Any:
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
            self.state.drop(w)

    async def _query(self, qtype: str, **fields: Any) -> list[dict[str, Any]]:
        w = self.state.waiter("query", self._next_req())
        msg = {"type": qtype}
        msg.update({k: v for k, v in fields.items() if v is not None})
        return await self._send(msg, w)

    # -- incoming ---------------------------------------------------------------------------
    def _on_state(self, state: str, info: dict[str, Any] | None) -> None:
        if state == "up":
            if self.conn.stats.logons > 1:
                self._spawn(self._resync("reconnect"), "crossbook-resync")
        elif state == "down":
            self.state.fail_all(NetworkError(f"session with {self.endpoint} lost; outcome unknown"))
        elif state == "gap":
            self._spawn(self._resync("gap"), "crossbook-resync")
        elif state == "failed" and info is not None:
            exc = info.get("error")
            if isinstance(exc, BaseException):
                self.state.fail_all(exc)
                for s in (
                    self.state.orders_stream,
                    self.state.my_trades_stream,
                    self.state.positions_stream,
                    self.state.balance_stream,
                    self.state.margin_stream,
                ):
                    s.fail(exc)

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
                self.state.adopt(it)
            for oid, st in list(self.state.orders.items()):
                if st.get("ord_status") not in TERMINAL_STATUSES and oid not in live:
                    # finished while we were not listening: ask for its final state
                    final = await self._query(MsgType.QUERY_ORDERS, order_id=oid, open_only=False)
                    if final:
                        self.state.adopt(final[0])
                    else:
                        st["ord_status"] = "4"
                        st["leaves_qty"] = 0
                        self.state.finished[oid] = None
            if "positions" in self._channels:
                await self.fetch_positions()
            if "balances" in self._channels:
                await self.fetch_balance()
        except BaseError as exc:
            log.warning("resync (%s) failed: %s", why, exc)

    # -- markets ----------------------------------------------------------------------------
    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        """Instrument definitions, by unified symbol (``BTC/USD:USD``)."""
        if self.markets and not reload:
            return self.markets
        items = await self._query(MsgType.QUERY_INSTRUMENTS)
        markets = [Market.from_record(it) for it in items]
        # updated in place: the private state and the public data hold these dicts
        self.markets.clear()
        self.markets.update((m.symbol, m) for m in markets)
        self.markets_by_id.clear()
        self.markets_by_id.update((m.id, m) for m in markets)
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
        return self.state.cached_order(id)

    @property
    def notices(self) -> deque[dict[str, Any]]:
        """Margin calls and liquidation notices received (the latest 1000)."""
        return self.state.notices

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
        self.state.sent_flags[clid] = (post_only, reduce_only)
        until_done = ord_type == "market" or msg["tif"] in ("ioc", "fok")
        w = self.state.waiter("new", self._next_req(), clid=clid, until_done=until_done)
        try:
            oid = await self._send(msg, w)
        finally:
            if len(self.state.sent_flags) > 10_000:
                self.state.sent_flags.clear()
        return self.state.order_record(oid)

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
        return self.state.live_clid.get(target["client_order_id"])

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
        w = self.state.waiter("cancel", self._next_req(), order_id=oid, clid=clid)
        got = await self._send(msg, w)
        return self.state.order_record(got)

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
        st = self.state.orders.get(oid) if oid is not None else None
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
        w = self.state.waiter("amend", self._next_req(), order_id=oid, clid=clid)
        got = await self._send(msg, w)
        return self.state.order_record(got)

    async def cancel_all_orders(
        self, symbol: str | None = None, params: Mapping[str, Any] | None = None
    ) -> list[Order]:
        """Mass cancel (one instrument, or all); returns the orders it cancelled."""
        inst = (await self._market(symbol)).id if symbol is not None else None
        w = self.state.waiter("mass_cancel", self._next_req(), instrument=inst)
        msg: dict[str, Any] = {"type": MsgType.MASS_CANCEL}
        if inst is not None:
            msg["instrument"] = inst
        oids = await self._send(msg, w)
        return [self.state.order_record(o) for o in oids if o in self.state.orders]

    async def cancel_all_after(self, seconds: int) -> dict[str, Any]:
        """Dead man's switch: cancel everything unless called again within ``seconds``."""
        w = self.state.waiter("ack", self._next_req())
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
        self.state.adopt(items[0])
        return self.state.order_record(items[0]["order_id"])

    async def _orders_query(self, symbol: str | None, open_only: bool) -> list[Order]:
        inst = (await self._market(symbol)).id if symbol is not None else None
        items = await self._query(MsgType.QUERY_ORDERS, open_only=open_only, instrument=inst)
        for it in items:
            self.state.adopt(it)
        return [self.state.order_record(it["order_id"]) for it in items]

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
            self.state.positions[it["instrument"]] = it
        self.state.positions_stream.publish()
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
            self.state.balances[it["asset"]] = it
        self.state.balance_stream.publish()
        return balances_from_records(items, self.asset_decimals)

    async def fetch_margin(self) -> Margin:
        """Account equity, initial and maintenance margin, free collateral, margin ratio."""
        items = await self._query(MsgType.QUERY_MARGIN)
        if not items:
            raise NetworkError("the exchange sent no margin record")
        self.state.margin = items[0]
        self.state.margin_stream.publish()
        return margin_from_record(items[0], self.asset_decimals)

    # -- options ------------------------------------------------------------------------------
    async def _option_market(self, symbol: str) -> Market:
        m = await self._market(symbol)
        if not m.option:
            raise BadSymbol(f"{symbol!r} is not an option", reason=Reason.UNKNOWN_INSTRUMENT,
                            local=True)  # fmt: skip
        return m

    async def _chain_records(self, code: str | None = None,
                             instrument: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        return await self._query(MsgType.QUERY_OPTION_CHAIN, underlying=code,
                                 instrument=instrument)  # fmt: skip

    async def fetch_option_chain(
        self, code: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Option]:
        """Every listed option on underlying ``code`` (``BTC``), by ccxt symbol, with mark,
        mark IV, best bid/ask and the forward (ccxt's option chain)."""
        out: dict[str, Option] = {}
        for rec in await self._chain_records(str(code)):
            m = self.markets_by_id.get(rec["symbol"]) or await self._market(rec["symbol"])
            out[m.symbol] = option_from_record(rec, m, self._last_trade.get(m.id))
        return out

    async def fetch_option(self, symbol: str, params: Mapping[str, Any] | None = None) -> Option:
        """One option's mark, mark IV, best bid/ask and forward (ccxt's option structure)."""
        m = await self._option_market(symbol)
        recs = await self._chain_records(instrument=m.id)
        if not recs:
            raise BadSymbol(f"no option {symbol!r}", reason=Reason.UNKNOWN_INSTRUMENT)
        return option_from_record(recs[0], m, self._last_trade.get(m.id))

    async def fetch_greeks(self, symbol: str, params: Mapping[str, Any] | None = None) -> Greeks:
        """One option's Greeks with its mark, bid and ask IVs (ccxt's greeks structure)."""
        m = await self._option_market(symbol)
        recs = await self._chain_records(instrument=m.id)
        if not recs:
            raise BadSymbol(f"no option {symbol!r}", reason=Reason.UNKNOWN_INSTRUMENT)
        return greeks_from_record(recs[0], m, self._last_trade.get(m.id))

    async def fetch_account_greeks(self, code: str | None = None) -> dict[str, AccountGreeks]:
        """Your positions' Greeks summed per underlying (each position's inside); not a
        ccxt method: ccxt's ``fetch_greeks`` is per market."""
        items = await self._query(MsgType.QUERY_GREEKS, underlying=code)
        return account_greeks_from_records(items, self.markets_by_id)

    # -- private streams -----------------------------------------------------------------------
    async def _subscribe(self, channels: set[str], force: bool = False) -> None:
        new = channels if force else channels - self._channels
        if not new:
            return
        self._channels |= new
        w = self.state.waiter("ack", self._next_req())
        await self._send({"type": MsgType.SUBSCRIBE, "channels": sorted(new)}, w)

    async def _watch_symbol_rows(
        self, stream: Any, symbol: str | None, since: int | None, limit: int | None
    ) -> list[Any]:
        """Rows of ``stream`` that changed since the previous call, for one symbol or all."""
        sym = (await self._market(symbol)).symbol if symbol is not None else None
        while True:
            rows = await stream.watch()
            if sym is not None:
                rows = [r for r in rows if r.symbol == sym]
            rows = self._since_limit(rows, since, limit)
            if rows:
                return rows

    async def watch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Order]:
        """Your orders that changed since this task's previous call (waits for one)."""
        return await self._watch_symbol_rows(self.state.orders_stream, symbol, since, limit)

    async def watch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[Trade]:
        """Your fills since this task's previous call (waits for one)."""
        return await self._watch_symbol_rows(self.state.my_trades_stream, symbol, since, limit)

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
            rows = await self.state.positions_stream.watch()
            if wanted is not None:
                rows = [r for r in rows if r.symbol in wanted]
            if rows or wanted is None:
                return rows

    async def watch_balance(self, params: Mapping[str, Any] | None = None) -> Balances:
        if "balances" not in self._channels:
            await self._subscribe({"balances"})
            await self.fetch_balance()
        return await self.state.balance_stream.watch()

    async def watch_margin(self) -> Margin:
        if "margin" not in self._channels:
            await self._subscribe({"margin"})
            await self.fetch_margin()
        return await self.state.margin_stream.watch()


CCXT_METHODS = (
    "load_markets", "fetch_markets", "create_order", "create_limit_buy_order",
    "create_limit_sell_order", "create_market_buy_order", "create_market_sell_order",
    "cancel_order", "edit_order", "cancel_all_orders", "cancel_all_after", "fetch_order",
    "fetch_open_orders", "fetch_closed_orders", "fetch_my_trades", "fetch_positions",
    "fetch_balance", "fetch_order_book", "fetch_ticker", "fetch_option_chain", "fetch_option",
    "fetch_greeks", "watch_order_book", "watch_trades",
    "watch_orders", "watch_my_trades", "watch_positions", "watch_balance", "watch_ticker",
)  # fmt: skip
"""Methods ccxt also offers in camelCase (``createOrder``...): aliases, as in ccxt."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


for _name in CCXT_METHODS:
    setattr(Exchange, _camel(_name), getattr(Exchange, _name))

__all__ = ["CCXT_METHODS", "DEFAULT_ENDPOINT", "Exchange"]
