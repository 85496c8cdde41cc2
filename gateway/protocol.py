"""crossbook's wire protocol: the one module a client imports.

Every message is a msgpack map in its own ZeroMQ frame, with ``"v"`` (the protocol version)
and ``"type"`` (see ``MsgType``). Prices and quantities are integers (price units and
quantity units; the ``instruments`` query gives tick size, lot size and decimals so a
client converts at its edge). ``docs/protocol.md`` documents every message and field; its
field tables and reject-code table are generated from this package
(``python -m gateway.protocol --write-docs docs/protocol.md``) and a test keeps them in step.

What is here:

- ``encode(msg) -> bytes`` and the strict ``decode(frame) -> dict | ProtocolError`` (plus
  ``decode_request`` for the gateway and ``decode_push`` for clients); decoding never raises.
- ``MsgType`` (message type names), the field tables ``MESSAGES`` and ``RECORDS``, the limits,
  and the vocabularies: ``SIDE_CODES``, ``ORD_TYPE_CODES``, ``TIF_CODES``, ``STP_CODES``,
  ``END_REASON_CODES`` (wire string -> matcher int) with their inverses ``*_NAMES``;
  ``ExecType`` / ``OrdStatus`` (FIX 4.4 codes).
- ``Reason`` (reject codes of every stage, from ``gateway.reasons``) and ``book_checksum``
  (re-exported from ``matching.checksum``) so a client needs nothing else.
- ``decimal_ratio`` (exact decimal strings such as ``avg_px``) and ``to_decimal`` (integer
  units -> ``Decimal`` at the client's edge).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from gateway.codec import (
    EncodeError,
    ProtocolError,
    decode,
    decode_push,
    decode_request,
    encode,
    validate,
)
from gateway.reasons import Reason
from gateway.schemas import (
    CHANNELS,
    CXL_REJ_RESPONSE_TO,
    END_REASON_CODES,
    END_REASON_NAMES,
    EXEC_TYPE_NAMES,
    HOP_FIELDS,
    INSTRUMENT_STATUS_CODES,
    INSTRUMENT_STATUS_NAMES,
    LIQUIDITY,
    MAX_ARRAY_LEN,
    MAX_DEPTH,
    MAX_MAP_LEN,
    MAX_MESSAGE_SIZE,
    MAX_STR_LEN,
    MESSAGES,
    ORD_STATUS_NAMES,
    ORD_TYPE_CODES,
    ORD_TYPE_NAMES,
    PROTOCOL_VERSION,
    PUSH_TYPES,
    QUERIES,
    RECORDS,
    REQUEST_TYPES,
    SIDE_CODES,
    SIDE_NAMES,
    STP_CODES,
    STP_NAMES,
    SUPPORTED_VERSIONS,
    TERMINAL_STATUSES,
    TIF_CODES,
    TIF_NAMES,
    ExecType,
    OrdStatus,
    common_table,
    field_table,
    record_table,
)
from matching.checksum import CHECKSUM_DEPTH, book_checksum

__all__ = [
    "AVG_PX_DECIMALS",
    "CHANNELS",
    "CHECKSUM_DEPTH",
    "CXL_REJ_RESPONSE_TO",
    "END_REASON_CODES",
    "END_REASON_NAMES",
    "EXEC_TYPE_NAMES",
    "HOP_FIELDS",
    "INSTRUMENT_STATUS_CODES",
    "INSTRUMENT_STATUS_NAMES",
    "LIQUIDITY",
    "MAX_ARRAY_LEN",
    "MAX_DEPTH",
    "MAX_MAP_LEN",
    "MAX_MESSAGE_SIZE",
    "MAX_STR_LEN",
    "MESSAGES",
    "ORD_STATUS_NAMES",
    "ORD_TYPE_CODES",
    "ORD_TYPE_NAMES",
    "PROTOCOL_VERSION",
    "PUSH_TYPES",
    "QUERIES",
    "RECORDS",
    "REQUEST_TYPES",
    "SIDE_CODES",
    "SIDE_NAMES",
    "STP_CODES",
    "STP_NAMES",
    "SUPPORTED_VERSIONS",
    "TERMINAL_STATUSES",
    "TIF_CODES",
    "TIF_NAMES",
    "EncodeError",
    "ExecType",
    "MsgType",
    "OrdStatus",
    "ProtocolError",
    "Reason",
    "book_checksum",
    "decimal_float",
    "decimal_ratio",
    "decode",
    "decode_push",
    "decode_request",
    "encode",
    "reason_table",
    "to_decimal",
    "validate",
]


class MsgType:
    """Message type names (the ``"type"`` field). A test checks this matches ``MESSAGES``."""

    # requests: client -> exchange
    LOGON = "logon"
    LOGOUT = "logout"
    HEARTBEAT = "heartbeat"
    NEW_ORDER = "new_order"
    CANCEL = "cancel"
    AMEND = "amend"
    MASS_CANCEL = "mass_cancel"
    CANCEL_ALL_AFTER = "cancel_all_after"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    QUERY_ORDERS = "query_orders"
    QUERY_TRADES = "query_trades"
    QUERY_POSITIONS = "query_positions"
    QUERY_BALANCES = "query_balances"
    QUERY_MARGIN = "query_margin"
    QUERY_INSTRUMENTS = "query_instruments"
    QUERY_OPTION_CHAIN = "query_option_chain"
    QUERY_GREEKS = "query_greeks"
    # replies and pushes: exchange -> client
    LOGON_ACK = "logon_ack"
    LOGOUT_ACK = "logout_ack"
    HEARTBEAT_ACK = "heartbeat_ack"
    REJECT = "reject"
    EXEC_REPORT = "exec_report"
    CANCEL_REJECT = "cancel_reject"
    MASS_CANCEL_REPORT = "mass_cancel_report"
    CANCEL_ALL_AFTER_ACK = "cancel_all_after_ack"
    SUBSCRIBE_ACK = "subscribe_ack"
    QUERY_REPLY = "query_reply"
    POSITION_UPDATE = "position_update"
    BALANCE_UPDATE = "balance_update"
    MARGIN_UPDATE = "margin_update"
    MARGIN_CALL = "margin_call"
    LIQUIDATION_NOTICE = "liquidation_notice"


AVG_PX_DECIMALS = 8
"""Fractional digits of a price unit kept in ``avg_px`` / ``entry_price`` strings."""


def decimal_ratio(num: int, den: int, places: int = AVG_PX_DECIMALS) -> str:
    """``num / den`` as a decimal string, e.g. ``decimal_ratio(301, 3) == "100.33333333"``.

    Exact whenever the quotient has at most ``places`` fractional digits, otherwise rounded
    half-to-even at the last place; trailing zeros are dropped (``"100.5"``, ``"100"``).
    ``den == 0`` gives ``"0"`` (no fills yet).
    """
    if den == 0:
        return "0"
    if den < 0:
        num, den = -num, -den
    sign = "-" if num < 0 else ""
    num = abs(num)
    whole, rem = divmod(num, den)
    if rem == 0:
        return f"{sign}{whole}" if whole else "0"
    scale = 10**places
    q, r = divmod(num * scale, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    whole, frac = divmod(q, scale)
    if frac == 0:
        return f"{sign}{whole}" if whole else "0"
    digits = f"{frac:0{places}d}".rstrip("0")
    return f"{sign}{whole}.{digits}"


FLOAT_DIGITS = 10
"""Significant digits kept when a float figure (a Greek, a forward) goes on the wire."""


def decimal_float(x: float, digits: int = FLOAT_DIGITS, max_places: int = 24) -> str | None:
    """A float figure as a decimal string: ``digits`` significant digits (half-even), at most
    ``max_places`` fractional digits, no exponent (``3.85113e-05`` -> ``"0.0000385113"``);
    None for NaN or an infinity."""
    if not math.isfinite(x):
        return None
    d = Decimal(repr(float(x)))
    if d == 0:
        return "0"
    d = d.quantize(Decimal(1).scaleb(max(-max_places, d.adjusted() - digits + 1)),
                   rounding=ROUND_HALF_EVEN)  # fmt: skip
    if d == 0:
        return "0"
    text = f"{d:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def to_decimal(units: int | str, decimals: int) -> Decimal:
    """Integer wire units (or a decimal string such as ``avg_px``) -> a ``Decimal`` for
    display, e.g. ``to_decimal(6500050, 2) == Decimal("65000.50")``."""
    return Decimal(units).scaleb(-decimals)


# -- documentation ----------------------------------------------------------------------
def reason_table() -> str:
    """Markdown table of every ``Reason``: code, name, stage, default text."""
    rows = ["| code | name | stage | default text |", "|---|---|---|---|"]
    rows += [f"| {r.value} | `{r.name}` | {r.stage} | {r.text} |" for r in Reason]
    return "\n".join(rows)


def generated_blocks() -> dict[str, str]:
    """Every generated block of ``docs/protocol.md``, by marker name."""
    blocks = {"common": common_table(), "reasons": reason_table()}
    for name in MESSAGES:
        blocks[f"message:{name}"] = field_table(name)
    for name in RECORDS:
        blocks[f"record:{name}"] = record_table(name)
    return blocks


_BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[a-z_:]+) -->\n)(?P<body>.*?)(<!-- end:(?P=name) -->)", re.S
)


def render_docs(text: str) -> tuple[str, list[str]]:
    """Replace every generated block in ``text``; return the new text and the names of
    blocks that have no marker (documentation missing)."""
    blocks = generated_blocks()
    seen: set[str] = set()

    def repl(m: re.Match[str]) -> str:
        name = m.group("name")
        seen.add(name)
        body = blocks.get(name, f"(unknown generated block {name!r})")
        return f"{m.group(1)}{body}\n{m.group(4)}"

    out = _BLOCK.sub(repl, text)
    return out, sorted(set(blocks) - seen)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gateway.protocol --write-docs FILE`` / ``--check-docs FILE``."""
    parser = argparse.ArgumentParser(prog="python -m gateway.protocol", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-docs", metavar="FILE", type=Path)
    group.add_argument("--check-docs", metavar="FILE", type=Path)
    args = parser.parse_args(argv)
    path: Path = args.write_docs or args.check_docs
    text = path.read_text(encoding="utf-8")
    new, missing = render_docs(text)
    if missing:
        print(f"{path}: no generated block for {', '.join(missing)}", file=sys.stderr)
    if args.write_docs:
        path.write_text(new, encoding="utf-8")
        return 1 if missing else 0
    if new != text:
        print(f"{path}: generated blocks are stale; run --write-docs", file=sys.stderr)
        return 1
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
