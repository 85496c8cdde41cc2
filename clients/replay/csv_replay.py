"""Drive crossbook's order-flow CSV through the matcher and count what happened.

Rules:

- Commands go to the engine exactly as the file states them (the file's ``order_id`` is
  the engine's order id: the flow is a sequenced command log, whoever wrote it assigned
  the ids). The engine judges every command; its rejects are counted by reason name.
- An instrument is created, with tick size 1 and lot size 1, the first time a ``new``
  order names it (a cancel or amend of an instrument never seen is the engine's
  ``UNKNOWN_INSTRUMENT`` reject).
- Bad rows (see ``clients.replay.csvflow``) are skipped and returned with their line
  numbers, or end the run at the first one with ``strict``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from clients.replay.csvflow import FlowRow
from clients.replay.rows import BadRow
from gateway.reasons import Reason
from matching.commands import AddInstrument, NewOrder
from matching.engine import MatchingEngine
from matching.enums import EndReason
from matching.events import (
    CancelRejected,
    CommandRejected,
    Fill,
    OrderAccepted,
    OrderExpired,
    OrderRejected,
)
from matching.instrument import Instrument

DEFAULT_MAX_QTY = 1 << 40
TOP_LEVELS = 10

Observer = Callable[[object, list], None]


def _reason_name(code: int) -> str:
    try:
        return Reason(code).name
    except ValueError:
        return str(code)



def flow_report(actions: Counter, trades: int, traded_qty: int, rejects: Counter,
                engine: MatchingEngine, rows: int, elapsed_s: float) -> dict[str, Any]:
    """The contract keys of a CSV replay report (``docs/csv-flow.md``), in contract order."""
    return {
        "orders": actions["new"],
        "cancels": actions["cancel"],
        "amends": actions["amend"],
        "trades": trades,
        "traded_qty": traded_qty,
        "rejects": dict(sorted(rejects.items())),
        "top_of_book": top_of_book(engine),
        "messages_per_s": round(rows / elapsed_s) if elapsed_s > 0 else None,
    }


def top_of_book(engine: MatchingEngine, levels: int = TOP_LEVELS) -> dict[str, dict[str, list]]:
    """Best ``levels`` levels per side per instrument, as [price, qty] best first."""
    out = {}
    for sym in sorted(engine.books):
        bids, asks = engine.books[sym].depth(levels)
        out[sym] = {"bids": [[p, q] for p, q in bids], "asks": [[p, q] for p, q in asks]}
    return out

class CsvReplay:
    """An engine fed from order-flow rows, with the counts the report needs."""

    def __init__(
        self, engine: MatchingEngine | None = None, observer: Observer | None = None
    ) -> None:
        self.engine = engine if engine is not None else MatchingEngine()
        self.observer = observer
        self.actions: Counter[str] = Counter()
        self.accepted = 0
        self.trades = 0
        self.traded_qty = 0
        self.rejects: Counter[str] = Counter()
        self.expired: Counter[str] = Counter()
        self._tried: set[str] = set()

    def _apply(self, cmd: object) -> list:
        events = self.engine.apply(cmd)
        if self.observer is not None:
            self.observer(cmd, events)
        for e in events:
            t = type(e)
            if t is Fill:
                self.trades += 1
                self.traded_qty += e.qty
            elif t is OrderAccepted:
                self.accepted += 1
            elif t is OrderRejected or t is CancelRejected or t is CommandRejected:
                self.rejects[_reason_name(e.reason)] += 1
            elif t is OrderExpired:
                self.expired[EndReason(e.reason).name] += 1
        return events

    def step(self, row: FlowRow) -> list:
        """Apply one row (creating its instrument first if a new order names it)."""
        cmd = row.command
        self.actions[row.action] += 1
        if type(cmd) is NewOrder:
            sym = cmd.instrument
            if sym not in self.engine.books and sym not in self._tried:
                self._tried.add(sym)
                ts = cmd.ts if cmd.ts >= 0 else 0  # a bad ts is the order's reject, not its book's
                self._apply(AddInstrument(ts, Instrument(sym, 1, 1, 1, DEFAULT_MAX_QTY)))
        return self._apply(cmd)

    def report(self, elapsed_s: float, rows: int, bad: list[BadRow]) -> dict[str, Any]:
        """The JSON report: the contract keys first, then detail."""
        return {
            **flow_report(self.actions, self.trades, self.traded_qty, self.rejects, self.engine,
                          rows, elapsed_s),
            "rows": rows,
            "accepted": self.accepted,
            "expired": dict(sorted(self.expired.items())),
            "elapsed_s": round(elapsed_s, 3),
            "bad_rows": len(bad),
            "bad_row_list": [b._asdict() for b in bad[:100]],
            "state_hash": self.engine.state_hash(),
        }


def replay_flow(
    replay: CsvReplay,
    rows: Iterable[FlowRow | BadRow],
    *,
    strict: bool = False,
    on_bad_row: Callable[[BadRow], None] | None = None,
    tick: Callable[[int], None] | None = None,
    check_every: int = 0,
) -> tuple[int, list[BadRow]]:
    """Apply every good row; return (rows applied, bad rows). ``strict`` stops at a bad row."""
    bad: list[BadRow] = []
    applied = 0
    pending = 0
    step = replay.step
    for row in rows:
        pending += 1
        if pending == 4096 and tick is not None:
            tick(pending)
            pending = 0
        if type(row) is BadRow:
            bad.append(row)
            if on_bad_row is not None:
                on_bad_row(row)
            if strict:
                break
            continue
        step(row)
        applied += 1
        if check_every and applied % check_every == 0:
            replay.engine.validate()
    if tick is not None and pending:
        tick(pending)
    return applied, bad

