"""The public half of ``Exchange``: books, trades, instrument status, marks and tickers.

``PublicData`` is a mixin of ``clients.sdk.exchange.Exchange`` (it uses the client's
context, keys, endpoints, markets and task set). Rules:

- Books: ``watch_order_book`` starts one ``gateway.md_client.BookClient`` per symbol, which
  keeps a local L2 book from snapshot + deltas and resynchronises by itself on a sequence
  gap, a checksum mismatch or a heartbeat ahead of the book; ``fetch_order_book`` asks the
  snapshot service directly (a short-lived CURVE DEALER per request).
- Trades, status and marks come from one ``clients.sdk.feed.PublicFeed``. Status is state:
  when the feed reports it stale (a lost message, or one published before the
  subscription) it is re-read from a snapshot, and a message or snapshot only replaces
  what is known when its sequence number is newer.
- Tickers combine the local book's best levels, the last trade and the latest mark; an
  option's mark comes with its ``option`` ticker (mark IV, bid and ask IVs, Greeks), which
  the ticker's ``info["option"]`` holds as published (docs/marketdata.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from clients.sdk.errors import (
    BadRequest,
    BadSymbol,
    BaseError,
    NetworkError,
    RequestTimeout,
    error_from_message,
)
from clients.sdk.feed import PublicFeed
from clients.sdk.keyfiles import ClientKeys
from clients.sdk.markets import Market
from clients.sdk.records import (
    OrderBook,
    Ticker,
    Trade,
    book_from_levels,
    iso8601,
    ns_to_ms,
    public_trade,
)
from clients.sdk.streams import ListStream, StateStream
from gateway.auth import curve_client
from gateway.md_client import BookClient, MarketDataError
from gateway.md_translate import MD_VERSION
from gateway.protocol import Reason
from gateway.zmq_util import close_socket

log = logging.getLogger(__name__)

MARK_WAIT_S = 3.0
"""How long ``fetch_ticker`` waits for the first mark of an instrument it just subscribed to."""


class PublicData:
    """Public market data for ``Exchange`` (a mixin: see the module docstring)."""

    ctx: zmq.asyncio.Context
    keys: ClientKeys
    timeout: float
    md_endpoint: str
    snapshot_endpoint: str
    markets_by_id: dict[str, Market]

    def _init_public(self) -> None:
        self._books: dict[str, BookClient] = {}
        self._book_streams: dict[str, StateStream[OrderBook]] = {}
        self._trade_streams: dict[str, ListStream[Trade]] = {}
        self._ticker_streams: dict[str, StateStream[Ticker]] = {}
        self._status_streams: dict[str, StateStream[str]] = {}
        self._marks: dict[str, dict[str, Any]] = {}
        self._options: dict[str, dict[str, Any]] = {}
        self._last_trade: dict[str, dict[str, Any]] = {}
        self._status: dict[str, str] = {}
        self._status_seq: dict[str, int] = {}
        self._refreshing: set[str] = set()
        self._feed: PublicFeed | None = None

    # provided by Exchange
    async def _market(self, symbol: str) -> Market:  # pragma: no cover - overridden
        raise NotImplementedError

    def market(self, symbol: str) -> Market:  # pragma: no cover - overridden
        raise NotImplementedError

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:  # pragma: no cover
        raise NotImplementedError

    def _next_req(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- books --------------------------------------------------------------------------
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

    # -- trades, status, marks -------------------------------------------------------------
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
        elif stream == "option":  # an option's ticker carries its mark (and IVs, Greeks)
            self._options[inst] = msg
            self._marks[inst] = {"mark": msg.get("mark"), "index": msg.get("index"),
                                 "ts_event": msg.get("ts_event")}  # fmt: skip
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
            info={"mark": mark, "trade": last, **({"option": self._options[m.id]}
                                                  if m.id in self._options else {})},
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
