"""Replay recorded order flow into a running exchange, over the wire, as plain order flow.

``crossbook replay --format lobster|csv FILE --endpoint tcp://HOST:PORT --key FILE
[--instrument SYMBOL] [--speed X | --max]`` sends the requests of
``clients.replay.plain`` (no seeding, no reveal, no fill repair) from one funded account
through the SDK's order-entry session (``clients.sdk.connection``). Rules:

1. Pacing by absolute deadlines: request i is due at ``start + (ts_i - ts_0) / speed``
   (``Schedule``). The sender sleeps until the next deadline, and when it is behind it sends
   at once without trying to "make up" sleep later, so pacing neither drifts nor builds a
   sleep debt; ``behind_ms`` in the report says how late the latest sends were. With
   ``--max`` there are no deadlines.
2. Flow control: at most ``window`` requests are in flight (sent, not yet answered), so a
   fast file cannot flood the exchange past its high-water marks. Requests go out in file
   order on one session and the exchange handles them in that order, so the final book
   does not depend on the speed (as long as nothing is refused for want of margin: the
   exchange holds margin for every order in flight until the matcher has answered, so a
   large window needs a larger account). A request refused with ``RATE_LIMITED`` is sent again,
   with the same client order id, after ``retry_after_ms`` (counted).
3. Acknowledgement = the exchange's direct answer: for a new order its ``New`` or
   ``Rejected`` report, for a cancel ``Canceled``, for an amend ``Replaced``, or a
   ``cancel_reject`` / ``reject``. Latency is measured from the moment the request is handed
   to the session to its answer, recorded in microseconds into an HdrHistogram.
4. The report: sent (by action), acknowledged, accepted, rejected by reason name, fills
   (execution reports ``F``) and filled quantity, achieved rate, acknowledgement latency
   percentiles, pacing lateness, what the translation skipped, and the final book (every
   level, from the snapshot service).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq
import zmq.asyncio
from hdrh.histogram import HdrHistogram

from clients.replay.plain import FlowRequest, FlowStats
from clients.sdk.connection import Connection
from clients.sdk.errors import BadSymbol, RequestTimeout
from clients.sdk.keyfiles import ClientKeys
from gateway.auth import curve_client
from gateway.md_translate import MD_VERSION
from gateway.protocol import ExecType, MsgType
from gateway.zmq_util import close_socket

PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)
DEFAULT_WINDOW = 100
RETRY_LIMIT = 20


class Schedule:
    """Absolute deadlines for recorded timestamps: ``start + (ts - ts0) / speed``."""

    def __init__(self, ts0: int, start: float, speed: float | None) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("speed must be positive")
        self.ts0 = ts0
        self.start = start
        self.speed = speed

    def deadline(self, ts: int) -> float:
        """When a request recorded at ``ts`` is due (``start`` for every one with --max)."""
        if self.speed is None:
            return self.start
        return self.start + max(ts - self.ts0, 0) / 1e9 / self.speed


@dataclass
class _Pending:
    index: int
    req: FlowRequest
    sent_at: float
    attempts: int = 1


@dataclass
class WireStats:
    sent: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    fills: int = 0
    filled_qty: int = 0
    trade_ids: set[int] = field(default_factory=set)
    rate_limited_retries: int = 0
    behind_max_s: float = 0.0
    behind_last_s: float = 0.0


class WireReplay:
    """Sends ``FlowRequest``s on one order-entry session and follows their answers."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        keys: ClientKeys,
        *,
        instrument: str,
        snapshot_endpoint: str | None = None,
        window: int = DEFAULT_WINDOW,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.keys = keys
        self.instrument = instrument
        self.snapshot_endpoint = snapshot_endpoint
        self.window = max(1, window)
        self.timeout = timeout
        self.clock = clock
        self.stats = WireStats()
        self.histogram = HdrHistogram(1, 60_000_000, 3)  # 1 us .. 60 s
        self.instrument_record: dict[str, Any] | None = None
        self.open_orders_left: int | None = None
        self.first_rejects: list[dict[str, Any]] = []
        self.conn = Connection(
            ctx, endpoint, keys.pair, keys.server_public, on_message=self._on_message,
            timeout=timeout, reconnect=False, client="crossbook-replay",
        )  # fmt: skip
        self._req_n = 0
        self._by_req: dict[int, _Pending] = {}
        self._by_clid: dict[tuple[str, str], deque[int]] = {}
        self._retry: list[tuple[float, int]] = []
        self._answered = asyncio.Event()
        self._query: tuple[int, asyncio.Future[list[dict[str, Any]]], list[Any]] | None = None

    # -- session ------------------------------------------------------------------------
    async def start(self) -> dict[str, Any]:
        """Log on and fetch the instrument's definition (``BadSymbol`` if not listed)."""
        await self.conn.start()
        items = await self._ask({"type": MsgType.QUERY_INSTRUMENTS, "instrument": self.instrument})
        if not items:
            raise BadSymbol(f"the exchange lists no instrument {self.instrument!r}")
        self.instrument_record = items[0]
        return items[0]

    async def close(self) -> None:
        await self.conn.close()

    async def _ask(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        self._req_n += 1
        fut: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._query = (self._req_n, fut, [])
        self.conn.send({**msg, "req_id": self._req_n})
        try:
            async with asyncio.timeout(self.timeout):
                return await fut
        except TimeoutError:
            raise RequestTimeout(f"no answer to {msg['type']}") from None
        finally:
            self._query = None

    # -- answers ------------------------------------------------------------------------
    def _key(self, req: FlowRequest) -> tuple[str, str]:
        return (req.action, req.clid)

    def _answer(self, pending: _Pending | None, msg: dict[str, Any] | None = None) -> None:
        """Count the direct answer to ``pending``; ``msg`` is the refusal, if it was one."""
        if pending is None:
            return
        reason = None if msg is None else str(msg.get("reason_name") or msg.get("reason"))
        self._by_req.pop(pending.index, None)
        q = self._by_clid.get(self._key(pending.req))
        if q is not None:
            with contextlib.suppress(ValueError):
                q.remove(pending.index)
            if not q:
                del self._by_clid[self._key(pending.req)]
        st = self.stats
        st.acknowledged += 1
        if reason is None:
            st.accepted += 1
        else:
            st.rejected[reason] += 1
            if len(self.first_rejects) < 10:
                assert msg is not None
                self.first_rejects.append({
                    "line": pending.req.line, "action": pending.req.action,
                    "client_order_id": pending.req.clid, "reason": reason,
                    "text": msg.get("text"), "figures": msg.get("figures"),
                })  # fmt: skip
        us = max(1, int((self.clock() - pending.sent_at) * 1e6))
        self.histogram.record_value(min(us, 60_000_000))
        self._answered.set()

    def _pending_for(self, msg: dict[str, Any], action: str) -> _Pending | None:
        p = self._by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
        if p is not None and p.req.action == action:
            return p
        clid = msg.get("client_order_id")
        q = self._by_clid.get((action, clid)) if clid else None  # type: ignore[arg-type]
        return self._by_req.get(q[0]) if q else None

    def _on_message(self, msg: dict[str, Any]) -> None:
        t = msg["type"]
        if t == MsgType.QUERY_REPLY and self._query is not None:
            req_id, fut, items = self._query
            if msg.get("req_id") == req_id:
                items.extend(msg["items"])
                if msg.get("last", True) and not fut.done():
                    fut.set_result(items)
            return
        if t == MsgType.EXEC_REPORT:
            et = msg["exec_type"]
            if et == ExecType.TRADE:
                self.stats.fills += 1
                self.stats.filled_qty += msg.get("last_qty") or 0
                if msg.get("trade_id"):
                    self.stats.trade_ids.add(msg["trade_id"])
            elif et == ExecType.NEW:
                self._answer(self._pending_for(msg, "new"))
            elif et == ExecType.REJECTED:
                self._answer(self._pending_for(msg, "new"), msg)
            elif et == ExecType.CANCELED:
                self._answer(self._pending_for(msg, "cancel"))
            elif et == ExecType.REPLACED:
                self._answer(self._pending_for(msg, "amend"))
        elif t == MsgType.CANCEL_REJECT:
            action = "amend" if msg.get("response_to") == "amend" else "cancel"
            self._answer(self._pending_for(msg, action), msg)
        elif t == MsgType.REJECT:
            p = self._by_req.get(msg.get("req_id"))  # type: ignore[arg-type]
            if p is None:
                return
            if msg.get("reason_name") == "RATE_LIMITED" and p.attempts < RETRY_LIMIT:
                figures = msg.get("figures") or {}
                wait = int(figures.get("retry_after_ms") or 10) / 1000
                self.stats.rate_limited_retries += 1
                self._retry.append((self.clock() + wait, p.index))
                self._answered.set()
                return
            self._answer(p, msg)

    # -- sending ------------------------------------------------------------------------
    def _send(self, index: int, req: FlowRequest, attempts: int = 1) -> None:
        msg = req.message(self.instrument)
        msg["req_id"] = index
        p = _Pending(index, req, self.clock(), attempts)
        self._by_req[index] = p
        self._by_clid.setdefault(self._key(req), deque()).append(index)
        self.conn.send(msg)

    @property
    def in_flight(self) -> int:
        return len(self._by_req)

    async def _wait_answer(self, timeout: float) -> None:
        self._answered.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._answered.wait()

    async def _resend_due(self) -> None:
        now = self.clock()
        due = [r for r in self._retry if r[0] <= now]
        if not due:
            return
        self._retry = [r for r in self._retry if r[0] > now]
        for _, index in sorted(due, key=lambda r: r[1]):
            p = self._by_req.pop(index)
            q = self._by_clid.get(self._key(p.req))
            if q is not None:
                with contextlib.suppress(ValueError):
                    q.remove(index)
            self._send(index, p.req, p.attempts + 1)

    async def run(
        self,
        requests: Sequence[FlowRequest],
        *,
        speed: float | None,
        tick: Callable[[int], None] | None = None,
    ) -> float:
        """Send every request on schedule, then wait for their answers; returns the seconds
        the sending took (first send to last send)."""
        if not requests:
            return 0.0
        self._req_n = max(self._req_n, 1_000_000)  # queries and requests never share an id
        start = self.clock()
        sched = Schedule(requests[0].ts, start, speed)
        st = self.stats
        i = 0
        n = len(requests)
        last_send = start
        since_yield = 0
        while i < n:
            if self._retry:
                await self._resend_due()
            now = self.clock()
            due = sched.deadline(requests[i].ts)
            if due > now:
                await asyncio.sleep(due - now)
                continue
            if self.in_flight >= self.window:
                await self._wait_answer(self.timeout)
                if self.in_flight >= self.window and not self._retry:
                    raise RequestTimeout(
                        f"{self.in_flight} requests unanswered for {self.timeout} s"
                    )
                continue
            req = requests[i]
            self._req_n += 1
            self._send(self._req_n, req)
            st.sent[req.action] += 1
            st.behind_last_s = max(now - due, 0.0)
            st.behind_max_s = max(st.behind_max_s, st.behind_last_s)
            last_send = now
            i += 1
            since_yield += 1
            if tick is not None and i % 256 == 0:
                tick(256)
            if since_yield >= 64:  # let the session task put frames on the wire
                since_yield = 0
                await asyncio.sleep(0)
        if tick is not None and i % 256:
            tick(i % 256)
        elapsed = max(last_send - start, 1e-9)
        deadline = self.clock() + self.timeout
        while (self._by_req or self._retry) and self.clock() < deadline:
            if self._retry:
                await self._resend_due()
            await self._wait_answer(0.05)
        # a barrier: the session's messages arrive in order, so once this query's answer is
        # here every report of the requests before it (the fills of the last IOC orders
        # too) has been counted
        self.open_orders_left = len(
            await self._ask({"type": MsgType.QUERY_ORDERS, "instrument": self.instrument})
        )
        return elapsed

    # -- results ------------------------------------------------------------------------
    def latency(self) -> dict[str, Any]:
        h = self.histogram
        if h.get_total_count() == 0:
            return {"count": 0}
        out: dict[str, Any] = {"count": h.get_total_count(), "mean_us": round(h.get_mean_value())}
        for p in PERCENTILES:
            out[f"p{p:g}_us"] = h.get_value_at_percentile(p)
        out["max_us"] = h.get_max_value()
        return out

    async def snapshot(self) -> dict[str, Any] | None:
        """The instrument's L2 book from the snapshot service (None without an endpoint)."""
        if self.snapshot_endpoint is None:
            return None
        sock = self.ctx.socket(zmq.DEALER)
        try:
            sock.linger = 0
            curve_client(sock, self.keys.pair, self.keys.server_public)
            sock.connect(self.snapshot_endpoint)
            body = {"v": MD_VERSION, "type": "snapshot", "sym": self.instrument, "req_id": 1}
            await sock.send(msgpack.packb(body))
            if not await sock.poll(int(self.timeout * 1000)):
                raise RequestTimeout(f"no snapshot of {self.instrument}")
            reply = msgpack.unpackb(await sock.recv(), raw=False)
            return reply if isinstance(reply, dict) and reply.get("type") == "snapshot" else None
        finally:
            close_socket(sock)

    def report(self, elapsed_s: float, flow: FlowStats, speed: float | None) -> dict[str, Any]:
        st = self.stats
        sent = sum(st.sent.values())
        return {
            "sent": sent,
            "acknowledged": st.acknowledged,
            "filled": st.fills,
            "rejected": dict(sorted(st.rejected.items())),
            "achieved_rate_per_s": round(sent / elapsed_s) if elapsed_s > 0 else None,
            "ack_latency": self.latency(),
            "sent_by_action": dict(sorted(st.sent.items())),
            "accepted": st.accepted,
            "unanswered": len(self._by_req),
            "filled_qty": st.filled_qty,
            "trades": len(st.trade_ids),
            "rate_limited_retries": st.rate_limited_retries,
            "speed": "max" if speed is None else speed,
            "window": self.window,
            "elapsed_s": round(elapsed_s, 3),
            "behind_max_ms": None if speed is None else round(st.behind_max_s * 1000, 3),
            "behind_last_ms": None if speed is None else round(st.behind_last_s * 1000, 3),
            "open_orders_left": self.open_orders_left,
            "instrument": self.instrument,
            "endpoint": self.endpoint,
            "flow": flow.as_dict(),
            "first_rejects": self.first_rejects,
        }


def book_levels(snap: dict[str, Any] | None) -> dict[str, list[list[int]]] | None:
    """``[[price, qty], ...]`` per side of a snapshot, best first."""
    if snap is None:
        return None
    return {side: [[row[0], row[1]] for row in snap[side]] for side in ("bids", "asks")}


# -- the command line (flags are declared in clients.replay.cli) ----------------------------
def _requests(args: Any, record: dict[str, Any], stats: FlowStats) -> list[FlowRequest]:
    from clients.replay import lobster
    from clients.replay.csvflow import FlowError, read_flow
    from clients.replay.plain import csv_requests, lobster_requests
    from gateway.cli import CliError

    if args.format == "lobster":
        return list(lobster_requests(
            lobster.read_messages(args.file), price_decimals=int(record["price_decimals"]),
            qty_decimals=int(record["qty_decimals"]), prefix=f"{args.clid_prefix}L",
            stats=stats,
        ))  # fmt: skip
    try:
        return list(csv_requests(
            read_flow(args.file), tick_size=int(record["tick_size"]),
            lot_size=int(record["lot_size"]), prefix=f"{args.clid_prefix}C",
            only=None if args.instrument_given else record["symbol"], stats=stats,
        ))  # fmt: skip
    except FlowError as exc:
        raise CliError(str(exc)) from None


def _default_instrument(args: Any) -> str:
    from clients.replay import lobster
    from clients.replay.csvflow import read_flow
    from clients.replay.rows import BadRow

    if args.format == "lobster":
        return f"{lobster.ticker_of(args.file)}-PERP"
    for row in read_flow(args.file):
        if type(row) is not BadRow:
            return row.command.instrument
    return "BTC-PERP"


async def _run_wire_async(args: Any, keys: ClientKeys, show: bool) -> dict[str, Any]:
    import secrets

    from clients.replay.progress import Progress
    from clients.sdk.exchange import _endpoint_port
    from gateway.cli import CliError

    args.instrument_given = args.instrument is not None
    instrument = args.instrument or _default_instrument(args)
    args.clid_prefix = secrets.token_hex(3)
    snap_ep = args.snapshot_endpoint or _endpoint_port(args.endpoint, 2)
    ctx = zmq.asyncio.Context()
    replay = WireReplay(ctx, args.endpoint, keys, instrument=instrument,
                        snapshot_endpoint=snap_ep, window=args.window)  # fmt: skip
    try:
        try:
            record = await replay.start()
        except BadSymbol as exc:
            raise CliError(f"{exc.text} (choose one with --instrument)") from None
        except RequestTimeout as exc:
            raise CliError(f"{args.endpoint}: {exc.text}") from None
        flow = FlowStats()
        requests = _requests(args, record, flow)
        speed = None if args.max else args.speed
        with Progress(len(requests), f"replay {args.file.name} -> {instrument}", enabled=show,
                      unit="req") as bar:  # fmt: skip
            elapsed = await replay.run(requests, speed=speed, tick=bar.update)
        report = replay.report(elapsed, flow, speed)
        report["file"] = str(args.file)
        report["account"] = replay.conn.account
        try:
            report["final_book"] = book_levels(await replay.snapshot())
        except RequestTimeout:
            report["final_book"] = None
        return report
    finally:
        await replay.close()
        ctx.destroy(linger=0)


def run_wire(args: Any) -> int:
    """``crossbook replay ... --endpoint``: send the flow, print the report."""
    import json
    import sys

    from clients.replay.progress import wanted
    from clients.sdk.keyfiles import claim_demo_key, load_client_keys
    from gateway.cli import CliError
    from gateway.keys import KeyFileError

    if args.speed is not None and not args.speed > 0:
        raise CliError("--speed must be positive")
    if args.speed is None:
        args.speed = 1.0
    if not args.file.is_file():
        raise CliError(f"no such file: {args.file}")
    try:
        if args.key is not None:
            keys = load_client_keys(args.key)
        else:
            keys = claim_demo_key(args.state_dir)
    except KeyFileError as exc:
        raise CliError(str(exc)) from None
    try:
        report = asyncio.run(_run_wire_async(args, keys, wanted()))
    finally:
        keys.release()
    text = json.dumps(report, indent=2) + "\n"
    if args.report is None:
        sys.stdout.write(text)
    else:
        args.report.write_text(text, encoding="utf-8")
    lat = report["ack_latency"]
    rejected = sum(report["rejected"].values())
    print(
        f"crossbook replay: {report['sent']} sent to {report['instrument']} at "
        f"{report['endpoint']}, {report['acknowledged']} acknowledged, {report['filled']} fills, "
        f"{rejected} rejected; {report['achieved_rate_per_s']} requests/s; ack latency "
        f"p50 {lat.get('p50_us')} us, p99 {lat.get('p99_us')} us, max {lat.get('max_us')} us",
        file=sys.stderr,
    )
    return 0 if report["unanswered"] == 0 else 1
