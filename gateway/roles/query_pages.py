"""Query answers a page at a time, so that no loop turn builds a large answer.

A ``query_orders`` over 5,000 open orders is 50 ``query_reply`` frames; built, packed and
sent in one go it holds the one loop (batches, the gateway's reads, the market-data
heartbeat) for tens of milliseconds. Here an answer is a ``Pager``: its rows are rendered
lazily, ``QUERY_CHUNK`` at a time, and ``QueryPages.take`` hands out pages round robin
across the queries in progress until a per-turn row budget is spent; the rest follow on
later turns, with the batches (and everything else on the loop) in between.

What a paged answer means (docs/protocol.md, "Queries"): the pages of one answer are the
same ``query_reply`` frames as before (``last`` true on the final one), but each page
reflects the state when it was built. ``query_orders`` lists the orders open when the query
started, in order-id order, as they are when their page is built; an order that finished
before its page is left out (its execution report reached the session first, in ``seq``
order; with ``open_only`` false it is listed with the finished ones); an order placed
after the query started is not listed. Nothing else changes: a
bot that collects pages until ``last`` gets a complete answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gateway.protocol import PROTOCOL_VERSION
from gateway.render import finished_record, order_record
from gateway.roles.views import QUERY_CHUNK

_END = object()


class Pager:
    """One query's answer, page by page (``done`` once the page with ``last`` is out)."""

    __slots__ = ("_head", "_rows", "account", "done", "gw", "peer", "query", "ref_type",
                 "req_id", "sid")  # fmt: skip

    def __init__(self, peer: Any, account: int, sid: int, req_id: Any, ref_type: str,
                 query: str, rows: Iterable[dict], gw: int = 0) -> None:  # fmt: skip
        self.peer = peer
        self.gw = gw
        """The gateway number the query came from: its answer goes nowhere else."""
        self.account = account
        self.sid = sid
        self.req_id = req_id
        self.ref_type = ref_type
        """The request's type (``query_orders``): a reject names it."""
        self.query = query
        self._rows: Iterator[dict] = iter(rows)
        self._head: Any = next(self._rows, _END)
        self.done = False

    def page(self, ts: int) -> dict:
        """The next ``query_reply``: up to ``QUERY_CHUNK`` rows, ``last`` on the final one."""
        items: list[dict] = []
        head, rows = self._head, self._rows
        while head is not _END and len(items) < QUERY_CHUNK:
            items.append(head)
            head = next(rows, _END)
        self._head = head
        self.done = head is _END
        return {"v": PROTOCOL_VERSION, "type": "query_reply", "req_id": self.req_id,
                "query": self.query, "items": items, "last": self.done, "ts": ts}  # fmt: skip


class QueryPages:
    """The queries clearing has to answer: those not started yet, then the answers in
    progress. ``append((peer, query))`` as they arrive; ``take`` once a turn."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[Any, Any]] = deque()
        self._active: deque[Pager] = deque()

    def append(self, entry: tuple[Any, Any]) -> None:
        self._waiting.append(entry)

    def __len__(self) -> int:
        return len(self._waiting) + len(self._active)

    def take(self, budget: int, ts: int, start: Callable[[Any, Any], Pager | None],
             alive: Callable[[Pager], bool] = lambda _: True) -> list[tuple[Pager, dict]]:
        """Start the waiting queries (``start`` makes each one's ``Pager``, or None for a bad
        one), then hand out pages round robin until ``budget`` rows are out (one page at
        least); an answer whose asker is gone (``alive`` false) is dropped unbuilt.
        Returns ``(pager, reply)`` pairs in the order they are to be sent."""
        while self._waiting:
            pager = start(*self._waiting.popleft())
            if pager is not None:
                self._active.append(pager)
        out: list[tuple[Pager, dict]] = []
        active = self._active
        while active and budget > 0:
            pager = active.popleft()
            if not alive(pager):
                continue
            reply = pager.page(ts)
            out.append((pager, reply))
            budget -= len(reply["items"]) or 1
            if not pager.done:
                active.append(pager)
        return out

    def cancel(self) -> tuple[list[tuple[Any, Any]], list[Pager]]:
        """Stopping: every query not started and every answer in progress, forgotten here."""
        waiting, active = list(self._waiting), list(self._active)
        self._waiting.clear()
        self._active.clear()
        return waiting, active


def order_rows(core: Any, account: int, msg: dict) -> Iterator[dict]:
    """The rows of a ``query_orders``, rendered as they are taken (see the module doc)."""
    inst, oid, clid = msg["instrument"], msg["order_id"], msg["client_order_id"]
    orders = [o for o in core.open_orders(account, inst)
              if (oid is None or o.order_id == oid)
              and (clid is None or o.client_order_id == clid)]  # fmt: skip
    finished = []
    if not msg["open_only"]:
        finished = [r for r in core.history.finished_of(account)
                    if (inst is None or r[7] == inst) and (oid is None or r[5] == oid)
                    and (clid is None or r[6] == clid)]  # fmt: skip
    acct = core.engine.accounts.get(account)
    live = acct.orders if acct is not None else {}
    gone = set()
    for o in orders:
        if live.get(o.order_id) is o:  # still open now
            yield order_record(o)
        else:
            gone.add(o.order_id)
    for r in finished:
        yield finished_record(r)
    if gone and not msg["open_only"]:  # finished while the answer was being sent
        for r in core.history.finished_of(account):
            if r[5] in gone:
                yield finished_record(r)
