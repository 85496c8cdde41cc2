"""Market data as pure functions of matcher events: topics, bodies, sequence numbers, books.

No sockets and no clocks here: ``MarketDataTranslator`` turns batches of matcher events
(and clearing's mark prices and funding rates) into ``(topic, body)`` pairs and keeps, per
instrument, a mirror of the aggregated book (``L2Book``) so a snapshot can be answered at
any moment with the sequence number it reflects. ``gateway.marketdata`` puts these on the
wire; ``gateway.md_client`` uses the same ``L2Book`` to rebuild a book on the other side.

Rules:

- Topics are ``<stream>.<symbol>|`` (``l2``, ``trade``, ``status``, ``mark``, ``funding``,
  ``option``) and ``hb|``. ZeroMQ subscriptions match byte prefixes, so the closing ``|`` keeps a
  ``BTC-PERP`` subscriber from receiving ``BTC-PERPX``; a symbol may therefore not contain
  ``|`` (nor spaces or non-printable characters): events for such a symbol are skipped
  and counted in ``skipped``.
- Sequence numbers are per instrument *and* per stream, starting at 1 and gapless, so a
  subscriber to one stream can prove it missed nothing of that stream. The heartbeat
  carries every instrument's current numbers.
- Each L2 delta carries the CRC32 ``matching.checksum.book_checksum`` of the top 10 levels
  *after* it, and ``last`` is true on the final delta an instrument got from one batch: a
  client's book is a state the matcher actually had only after a ``last`` delta. Hand one
  command's events per call for the finest grouping; larger batches make coarser groups,
  never wrong ones.
- Bodies are plain dicts (msgpack maps) with ``v`` and ``type`` like the order-entry
  protocol; enumerations are lowercase strings (``bid``/``ask``, ``buy``/``sell``,
  ``trading``/``halted``/``auction``); prices and quantities are integers in the
  instrument's units; ``ts_event`` is the matcher's time (clearing's for marks, funding
  and option tickers). The publisher adds ``ts_send``.
- Option tickers (``option``, one per series after each revaluation of its chain): the
  mark, mark IV and Greeks clearing computed, and the best bid and ask of the book mirror
  turned into implied vols (``clearing.options.implied``: Black-76 inverted with brentq).
  IVs are ppm integers, Greeks and the forward exact decimal strings (quote currency per
  unit of underlying, ``gateway.protocol.decimal_float``).
- Public data only: L3 snapshots list order id, price and quantity, never the account.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any
from zlib import crc32

import numpy as np
from sortedcontainers import SortedDict

from clearing.options.implied import implied_vols
from gateway.protocol import decimal_float
from matching.checksum import CHECKSUM_DEPTH
from matching.enums import BUY, InstrumentStatus
from matching.events import (
    AuctionUncrossed,
    BandChanged,
    Fill,
    InstrumentAdded,
    InstrumentStatusChanged,
    LevelChanged,
)

MD_VERSION = 1
TOPIC_END = "|"
STREAMS = ("l2", "trade", "status", "mark", "funding", "option")
HB_TOPIC = b"hb|"
MAX_SYMBOL_LEN = 64

STATUS_NAMES = {int(s): s.name.lower() for s in InstrumentStatus}
SIDE_NAMES = {1: "buy", -1: "sell"}
BOOK_SIDE_NAMES = {1: "bid", -1: "ask"}
BOOK_SIDES = {"bid": 1, "ask": -1}

Message = tuple[bytes, dict[str, Any]]


def _ppm(x: float) -> int | None:
    return None if np.isnan(x) else round(float(x) * 1_000_000)


def symbol_problem(symbol: object) -> str | None:
    """Why ``symbol`` cannot name a topic, or None if it can."""
    if not isinstance(symbol, str) or not symbol:
        return "symbol must be a non-empty string"
    if len(symbol) > MAX_SYMBOL_LEN:
        return f"symbol longer than {MAX_SYMBOL_LEN} characters"
    if TOPIC_END in symbol:
        return f"symbol contains the topic delimiter {TOPIC_END!r}"
    if not all("!" <= ch <= "~" for ch in symbol):
        return "symbol must be printable ASCII without spaces"
    return None


def topic(stream: str, symbol: str) -> bytes:
    """``<stream>.<symbol>|`` as bytes; ValueError for an unknown stream or a bad symbol."""
    if stream not in STREAMS:
        raise ValueError(f"unknown market-data stream {stream!r}")
    problem = symbol_problem(symbol)
    if problem:
        raise ValueError(problem)
    return f"{stream}.{symbol}{TOPIC_END}".encode("ascii")


class L2Book:
    """Aggregated price levels (price -> (qty, count)) per side, best first on demand.

    The top-10 checksum string is cached per side and rebuilt only for a side whose top 10
    levels changed (a change deeper in the book cannot alter it; a change on one side
    leaves the other side's text as it was).
    """

    __slots__ = ("_ask_text", "_bid_text", "asks", "bids")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self._bid_text: str | None = None
        self._ask_text: str | None = None

    def set_level(self, side: int, price: int, qty: int, count: int) -> None:
        """Set one level (``qty`` 0 removes it)."""
        if side == BUY:
            levels = self.bids
            # in the top 10 before or after the change: the side's text is stale
            if self._bid_text is not None and (
                len(levels) <= CHECKSUM_DEPTH or price >= levels.keys()[-CHECKSUM_DEPTH]
            ):
                self._bid_text = None
        else:
            levels = self.asks
            if self._ask_text is not None and (
                len(levels) <= CHECKSUM_DEPTH or price <= levels.keys()[CHECKSUM_DEPTH - 1]
            ):
                self._ask_text = None
        if qty:
            levels[price] = (qty, count)
        else:
            levels.pop(price, None)

    def top(self, n: int = CHECKSUM_DEPTH) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``n`` levels per side as (price, qty), best first: ``(bids, asks)``."""
        bids = self.bids
        asks = self.asks
        top_bids = [(p, bids[p][0]) for p in islice(reversed(bids), n)]
        top_asks = [(p, asks[p][0]) for p in islice(asks, n)]
        return top_bids, top_asks

    def checksum(self) -> int:
        """``matching.checksum.book_checksum`` of the top 10 levels."""
        bid_text = self._bid_text
        if bid_text is None:
            bids = self.bids
            bid_text = self._bid_text = "|".join(
                [f"{p}:{bids[p][0]}" for p in islice(reversed(bids), CHECKSUM_DEPTH)]
            )
        ask_text = self._ask_text
        if ask_text is None:
            asks = self.asks
            ask_text = self._ask_text = "|".join(
                [f"{p}:{asks[p][0]}" for p in islice(asks, CHECKSUM_DEPTH)]
            )
        return crc32(f"{ask_text}#{bid_text}".encode("ascii"))

    def levels(self, depth: int | None = None) -> tuple[list[list[int]], list[list[int]]]:
        """Levels as ``[price, qty, count]`` best first, all or the top ``depth``."""
        bids = [[p, q, c] for p, (q, c) in reversed(self.bids.items())]
        asks = [[p, q, c] for p, (q, c) in self.asks.items()]
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        return bids, asks

    def load(self, bids: Iterable[Iterable[int]], asks: Iterable[Iterable[int]]) -> None:
        """Replace the contents with ``[price, qty, count]`` rows."""
        self.bids.clear()
        self.asks.clear()
        self._bid_text = self._ask_text = None
        for side, rows in ((BUY, bids), (-BUY, asks)):
            for price, qty, count in rows:
                self.set_level(side, price, qty, count)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, L2Book):
            return NotImplemented
        return dict(self.bids) == dict(other.bids) and dict(self.asks) == dict(other.asks)

    __hash__ = None  # type: ignore[assignment]


class _Instrument:
    __slots__ = ("band", "book", "seqs", "status", "topics")

    def __init__(self, symbol: str) -> None:
        self.book = L2Book()
        self.seqs = dict.fromkeys(STREAMS[:5], 0)  # "option" joins with the first ticker
        self.topics = {s: topic(s, symbol) for s in STREAMS}
        self.status = int(InstrumentStatus.TRADING)
        self.band: tuple[int | None, int | None] = (None, None)


class MarketDataTranslator:
    """Matcher events in, market-data messages out; holds the per-instrument state."""

    def __init__(self, symbols: Iterable[str] = ()) -> None:
        self.instruments: dict[str, _Instrument] = {}
        self.skipped = 0
        for symbol in symbols:
            problem = symbol_problem(symbol)
            if problem:
                raise ValueError(f"{symbol!r}: {problem}")
            self.instruments[symbol] = _Instrument(symbol)

    # -- state -------------------------------------------------------------------------
    def _instrument(self, symbol: object) -> _Instrument | None:
        inst = self.instruments.get(symbol) if isinstance(symbol, str) else None
        if inst is None:
            if symbol_problem(symbol) is not None:
                self.skipped += 1
                return None
            inst = self.instruments[symbol] = _Instrument(symbol)  # type: ignore[index]
        return inst

    def _message(self, inst: _Instrument, stream: str, ts: int, body: dict[str, Any]) -> Message:
        seq = inst.seqs.get(stream, 0) + 1
        inst.seqs[stream] = seq
        head = {"v": MD_VERSION, "type": stream, "seq": seq, "ts_event": ts}
        head.update(body)
        return inst.topics[stream], head

    def seqs(self) -> dict[str, dict[str, int]]:
        """Every instrument's current sequence number per stream."""
        return {sym: dict(inst.seqs) for sym, inst in self.instruments.items()}

    def book(self, symbol: str) -> L2Book | None:
        inst = self.instruments.get(symbol)
        return None if inst is None else inst.book

    # -- matcher events ----------------------------------------------------------------
    def on_events(self, events: Iterable[Any]) -> list[Message]:
        """Market-data messages for one batch of matcher events, in event order."""
        out: list[Message] = []
        last_l2: dict[str, int] = {}
        for ev in events:
            kind = type(ev)
            if kind is LevelChanged:
                inst = self._instrument(ev.instrument)
                if inst is None:
                    continue
                inst.book.set_level(ev.side, ev.price, ev.qty, ev.count)
                body = {
                    "sym": ev.instrument,
                    "side": BOOK_SIDE_NAMES[ev.side],
                    "price": ev.price,
                    "qty": ev.qty,
                    "count": ev.count,
                    "last": False,
                    "checksum": inst.book.checksum(),
                }
                last_l2[ev.instrument] = len(out)
                out.append(self._message(inst, "l2", ev.ts, body))
            elif kind is Fill:
                inst = self._instrument(ev.instrument)
                if inst is None:
                    continue
                body = {
                    "sym": ev.instrument,
                    "trade_id": ev.trade_id,
                    "price": ev.price,
                    "qty": ev.qty,
                    "aggressor": SIDE_NAMES.get(ev.aggressor),  # None: auction print
                }
                out.append(self._message(inst, "trade", ev.ts, body))
            elif kind is InstrumentStatusChanged:
                inst = self._instrument(ev.instrument)
                if inst is None:
                    continue
                inst.status = int(ev.status)
                body = {
                    "sym": ev.instrument,
                    "kind": "status",
                    "status": STATUS_NAMES.get(int(ev.status), str(ev.status)),
                    "reason": ev.reason,
                }
                out.append(self._message(inst, "status", ev.ts, body))
            elif kind is BandChanged:
                inst = self._instrument(ev.instrument)
                if inst is None:
                    continue
                inst.band = (ev.low, ev.high)
                body = {"sym": ev.instrument, "kind": "band", "low": ev.low, "high": ev.high}
                out.append(self._message(inst, "status", ev.ts, body))
            elif kind is AuctionUncrossed:
                inst = self._instrument(ev.instrument)
                if inst is None:
                    continue
                body = {"sym": ev.instrument, "kind": "uncross", "price": ev.price, "qty": ev.qty}
                out.append(self._message(inst, "status", ev.ts, body))
            elif kind is InstrumentAdded:
                inst = self._instrument(ev.instrument)
                if inst is None:
                    continue
                body = {
                    "sym": ev.instrument,
                    "kind": "added",
                    "status": STATUS_NAMES[inst.status],
                    "reason": "",
                }
                out.append(self._message(inst, "status", ev.ts, body))
            # order lifecycle events are private: they go to their owner, not to the feed
        for i in last_l2.values():
            out[i][1]["last"] = True
        return out

    # -- clearing's figures --------------------------------------------------------------
    def mark(self, symbol: str, ts: int, mark: int, index: int | None = None) -> Message | None:
        inst = self._instrument(symbol)
        if inst is None:
            return None
        return self._message(inst, "mark", ts, {"sym": symbol, "mark": mark, "index": index})

    def funding(
        self, symbol: str, ts: int, rate_ppm: int, next_ts: int | None = None
    ) -> Message | None:
        inst = self._instrument(symbol)
        if inst is None:
            return None
        body = {"sym": symbol, "rate_ppm": rate_ppm, "next_ts": next_ts}
        return self._message(inst, "funding", ts, body)

    def options(self, underlying: str, ts: int, index: int, rows: list) -> list[Message]:
        """One ``option`` ticker per row of ``clearing.options.queries.ticker_rows``."""
        out: list[Message] = []
        insts = [self._instrument(r[0]) for r in rows]
        bids = np.full(len(rows), np.nan)
        asks = np.full(len(rows), np.nan)
        for i, inst in enumerate(insts):
            if inst is not None:
                book = inst.book
                if book.bids:
                    bids[i] = book.bids.keys()[-1]
                if book.asks:
                    asks[i] = book.asks.keys()[0]
        F = np.array([r[3] for r in rows], dtype=np.float64)
        T = np.array([r[4] for r in rows], dtype=np.float64)
        K = np.array([r[5] for r in rows], dtype=np.float64)
        call = np.array([r[6] for r in rows], dtype=bool)
        bid_iv = implied_vols(bids, F, K, T, call)
        ask_iv = implied_vols(asks, F, K, T, call)
        for i, (inst, r) in enumerate(zip(insts, rows, strict=True)):
            if inst is None:
                continue
            sym, mark, iv_ppm, fwd, _years, strike, is_call = r[:7]
            body = {
                "sym": sym, "underlying": underlying, "index": index,
                "forward": decimal_float(fwd), "mark": mark, "mark_iv_ppm": iv_ppm,
                "bid": None if np.isnan(bids[i]) else int(bids[i]),
                "ask": None if np.isnan(asks[i]) else int(asks[i]),
                "bid_iv_ppm": _ppm(bid_iv[i]), "ask_iv_ppm": _ppm(ask_iv[i]),
                "delta": decimal_float(r[7]), "gamma": decimal_float(r[8]),
                "vega": decimal_float(r[9]), "theta": decimal_float(r[10]),
                "stale_iv": bool(r[11]), "strike": strike,
                "option_type": "call" if is_call else "put",
            }  # fmt: skip
            out.append(self._message(inst, "option", ts, body))
        return out

    # -- heartbeat and snapshots -----------------------------------------------------------
    def heartbeat(self) -> Message:
        return HB_TOPIC, {"v": MD_VERSION, "type": "hb", "seqs": self.seqs()}

    def snapshot(self, symbol: str, depth: int | None = None) -> dict[str, Any] | None:
        """The L2 book of ``symbol`` and the L2 seq it reflects (None: unknown symbol)."""
        inst = self.instruments.get(symbol)
        if inst is None:
            return None
        bids, asks = inst.book.levels(depth)
        return {
            "v": MD_VERSION,
            "type": "snapshot",
            "sym": symbol,
            "seq": inst.seqs["l2"],
            "seqs": dict(inst.seqs),
            "depth": depth,
            "bids": bids,
            "asks": asks,
            "checksum": inst.book.checksum(),
            "status": STATUS_NAMES.get(inst.status, str(inst.status)),
            "band": list(inst.band),
        }


def public_l3(l3: dict[str, list[tuple[int, int, int, int]]]) -> dict[str, list[list[int]]]:
    """``OrderBook.l3()`` without the account column: ``[order_id, price, qty]`` rows."""
    return {
        side: [[oid, price, leaves] for oid, _account, price, leaves in rows]
        for side, rows in (("bids", l3.get("bids", [])), ("asks", l3.get("asks", [])))
    }
