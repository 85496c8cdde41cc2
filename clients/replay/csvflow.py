"""crossbook's order-flow CSV (docs/csv-flow.md): rows in, matching commands out.

Header ``ts_ns,action,order_id,account,instrument,side,price,qty,tif``; one command per
row; ``action`` is ``new``, ``cancel`` or ``amend``; ``side`` ``B``/``S``; ``tif``
``GTC``/``IOC``/``FOK``/``POST``; price in ticks, quantity in lots, time in integer
nanoseconds.

Rules of this module:

- It only reads and converts; it knows no engine, so a driver that sends the flow to a
  running exchange can reuse it.
- A row is *bad* (yielded as a ``BadRow`` with its line number, never raised) when it
  cannot be turned into a command at all: wrong column count, a number that is not an
  integer, an unknown action, side or time in force, a missing required field. Anything
  that *is* a well-formed command goes to the matcher, which decides: a zero quantity,
  an off-tick price or an unknown order id is the engine's reject, with its reason code.
- A missing or wrong header is not a bad row but an error for the whole file
  (``FlowError``): without it no column can be trusted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from clients.replay.rows import BadRow
from matching.commands import AmendOrder, CancelOrder, NewOrder
from matching.enums import BUY, SELL, TimeInForce

HEADER = ("ts_ns", "action", "order_id", "account", "instrument", "side", "price", "qty", "tif")
ACTIONS = ("new", "cancel", "amend")
SIDES = {"B": BUY, "S": SELL}
TIFS = {
    "GTC": (int(TimeInForce.GTC), False),
    "IOC": (int(TimeInForce.IOC), False),
    "FOK": (int(TimeInForce.FOK), False),
    "POST": (int(TimeInForce.GTC), True),
}
"""Time in force text -> (engine TimeInForce, post_only)."""

FlowCommand = NewOrder | CancelOrder | AmendOrder


class FlowError(ValueError):
    """The file as a whole cannot be read (no header, wrong header, unreadable)."""


class FlowRow(NamedTuple):
    """One parsed row: its line number and the command it stands for."""

    line: int
    action: str
    command: FlowCommand


def _int(text: str, name: str) -> int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        if not text:
            raise ValueError(f"{name} is required") from None
        raise ValueError(f"{name} must be an integer, got {text!r}") from None


def _opt_int(text: str, name: str) -> int | None:
    return None if not text.strip() else _int(text, name)


def parse_row(fields: list[str], line: int) -> FlowRow:
    """One row's fields to a ``FlowRow``; ``ValueError`` says what is wrong."""
    if len(fields) != len(HEADER):
        raise ValueError(f"expected {len(HEADER)} columns, got {len(fields)}")
    ts_f, action_f, oid_f, acct_f, sym_f, side_f, price_f, qty_f, tif_f = fields
    action = action_f.strip().lower()
    if action not in ACTIONS:
        raise ValueError(f"action must be new, cancel or amend, got {action_f.strip()!r}")
    ts = _int(ts_f, "ts_ns")
    order_id = _int(oid_f, "order_id")
    account = _int(acct_f, "account")
    symbol = sym_f.strip()
    if not symbol:
        raise ValueError("instrument is required")
    if action == "new":
        side = SIDES.get(side_f.strip().upper())
        if side is None:
            raise ValueError(f"side must be B or S, got {side_f.strip()!r}")
        price = _int(price_f, "price")
        qty = _int(qty_f, "qty")
        tif_text = tif_f.strip().upper() or "GTC"
        if tif_text not in TIFS:
            raise ValueError(f"tif must be GTC, IOC, FOK or POST, got {tif_f.strip()!r}")
        tif, post_only = TIFS[tif_text]
        cmd: FlowCommand = NewOrder(
            ts, symbol, order_id, account, side, qty, price, tif=tif, post_only=post_only
        )
    elif action == "cancel":
        cmd = CancelOrder(ts, symbol, order_id, account)
    else:
        cmd = AmendOrder(
            ts, symbol, order_id, account, _opt_int(price_f, "price"), _opt_int(qty_f, "qty")
        )
    return FlowRow(line, action, cmd)


def read_flow(path: Path | str) -> Iterator[FlowRow | BadRow]:
    """Every row after the header, as a ``FlowRow`` or a ``BadRow``; blank lines skipped.

    Raises ``FlowError`` (before yielding anything) when the header is missing or wrong.
    """
    name = str(path)
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        header_line = 0
        for line, text in enumerate(fh, 1):
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            if not header_line:
                got = tuple(f.strip().lower() for f in text.lstrip("\ufeff").split(","))
                if got != HEADER:
                    raise FlowError(
                        f"{name}:{line}: expected the header {','.join(HEADER)}, got {text!r}"
                    )
                header_line = line
                continue
            try:
                yield parse_row(text.split(","), line)
            except ValueError as exc:
                yield BadRow(name, line, str(exc))
        if not header_line:
            raise FlowError(f"{name}: empty file (expected the header {','.join(HEADER)})")
