"""Replay an order-flow CSV through clearing: pre-trade -> matcher -> settlement, in-process.

``crossbook replay --format csv FILE --clearing CONFIG.toml [--snapshot-out FILE]``.
Accounts, deposits, instruments and risk parameters come from the TOML file
(docs/clearing-config.md); the flow is the CSV of docs/csv-flow.md with two differences:

- prices and quantities are in the configured instruments' price and quantity units, and
  the file's ``order_id`` is the *flow's* id: clearing assigns the exchange's ids, and this
  driver maps one to the other so ``cancel``/``amend`` rows find their order;
- one more action, ``index``, feeds the oracle: ``TS,index,,,NAME,,PRICE,,`` sets index
  ``NAME`` to ``PRICE`` (the index's own price units);
- and for option chains (docs/options.md), ``iv`` feeds the vol oracle:
  ``TS,iv,,,BTC-26MAR27,,ATM_PPM,SKEW_PPM,CURVATURE_PPM`` is an ``IVUpdate`` of the smile
  of underlying ``BTC`` at its listed expiry on that date (skew and curvature may be
  empty: 0). Option series are instruments like any other (their native names).

Every row becomes a clearing command and goes through ``clearing.pipeline.Pipeline``; the
report adds to the CSV replay's figures ``pretrade_rejects`` (count per reason name),
``refused`` (the first 100 refused ``new`` rows: flow order id, account, reason),
``liquidations``, ``halts``, ``margin_calls``, ``adl``, the option figures
(``iv_updates``, ``option_settlements``, ``liquidation_hedges``,
``liquidation_option_closes``, ``insurance_takeovers``) and per-account equity, margins
(with the margin mode and, in portfolio mode, SCAN and the worst scenario) and
positions. ``--snapshot-out`` writes the final clearing state as a settlement snapshot
(``clearing.snapshot``, atomically through ``gateway.snapshot_store``).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from clearing.commands import AmendRequest, CancelRequest, IndexPrice, IVUpdate, OrderRequest
from clearing.config import ClearingConfig
from clearing.events import (
    AmendAdmitted,
    AutoDeleveraged,
    InsuranceTakeover,
    IVUpdated,
    LiquidationHedge,
    LiquidationOptionClose,
    LiquidationStarted,
    MarginCall,
    OptionSettled,
    OrderAdmitted,
    PreTradeRejected,
    RequestRejected,
)
from clearing.options.series import MONTHS, expiry_ts_of
from clearing.pipeline import Pipeline
from clients.replay.csv_replay import flow_report
from clients.replay.csvflow import HEADER, FlowError, FlowRow, parse_row
from clients.replay.rows import BadRow
from gateway.reasons import Reason
from matching.commands import AmendOrder, CancelOrder, NewOrder
from matching.events import CancelRejected, Fill, OrderRejected


class IndexRow(NamedTuple):
    line: int
    ts: int
    name: str
    price: int


class IVRow(NamedTuple):
    """``TS,iv,,,BTC-26MAR27,,ATM,SKEW,CURVATURE``: the smile of one underlying's expiry."""

    line: int
    ts: int
    underlying: str
    year: int
    month: int
    day: int
    atm_ppm: int
    skew_ppm: int
    curvature_ppm: int


_EXPIRY = re.compile(r"^([A-Z0-9]+)-(\d{1,2})([A-Z]{3})(\d{2})$")


def _iv_row(fields: list[str], line: int) -> IVRow:
    m = _EXPIRY.match(fields[4].strip())
    if not m or m.group(3) not in MONTHS:
        raise ValueError(f"iv rows name an underlying and expiry such as BTC-26MAR27 in "
                         f"'instrument', got {fields[4].strip()!r}")  # fmt: skip

    def num(i: int, name: str, default: int | None = None) -> int:
        text = fields[i].strip()
        if not text and default is not None:
            return default
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {text!r}") from None

    u, day, mon, yy = m.groups()
    return IVRow(line, num(0, "ts_ns"), u, 2000 + int(yy), MONTHS.index(mon) + 1, int(day),
                 num(6, "atm_ppm (price column)"), num(7, "skew_ppm (qty column)", 0),
                 num(8, "curvature_ppm (tif column)", 0))  # fmt: skip


_OPTION_EVENTS = {IVUpdated: "iv_updates", OptionSettled: "option_settlements",
                  LiquidationHedge: "liquidation_hedges",
                  LiquidationOptionClose: "liquidation_option_closes",
                  InsuranceTakeover: "insurance_takeovers"}  # fmt: skip


def _name(code: int) -> str:
    try:
        return Reason(code).name
    except ValueError:
        return str(code)


def read_flow(path: Path | str) -> Iterator[FlowRow | IndexRow | IVRow | BadRow]:
    """The CSV rows, with ``index`` rows as ``IndexRow`` and ``iv`` rows as ``IVRow``
    (see the module docstring)."""
    name = str(path)
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        header = 0
        for line, text in enumerate(fh, 1):
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            fields = text.lstrip("\ufeff").split(",")
            if not header:
                if tuple(f.strip().lower() for f in fields) != HEADER:
                    raise FlowError(f"{name}:{line}: expected the header {','.join(HEADER)}")
                header = line
                continue
            try:
                if len(fields) == len(HEADER) and fields[1].strip().lower() == "index":
                    ts, price = int(fields[0]), int(fields[6])
                    if not fields[4].strip():
                        raise ValueError("index rows need the index name in 'instrument'")
                    yield IndexRow(line, ts, fields[4].strip(), price)
                elif len(fields) == len(HEADER) and fields[1].strip().lower() == "iv":
                    yield _iv_row(fields, line)
                else:
                    yield parse_row(fields, line)
            except ValueError as exc:
                yield BadRow(name, line, str(exc))
        if not header:
            raise FlowError(f"{name}: empty file (expected the header {','.join(HEADER)})")


class ClearingReplay:
    """A pipeline fed from flow rows, with the counts the report needs."""

    def __init__(self, config: ClearingConfig) -> None:
        self.config = config
        self.pipe = Pipeline.from_config(config)
        self.ids: dict[int, int] = {}
        self.actions: Counter[str] = Counter()
        self.pretrade_rejects: Counter[str] = Counter()
        self.request_rejects: Counter[str] = Counter()
        self.matcher_rejects: Counter[str] = Counter()
        self.admitted = 0
        self.margin_calls = 0
        self.liquidated_accounts: list[int] = []
        self.adl = 0
        self.trades = 0
        self.traded_qty = 0
        self.refused: list[dict[str, Any]] = []
        self.option_events: Counter[str] = Counter()

    def expiry_ts(self, row: IVRow) -> int:
        """The listed expiry of ``row``'s underlying on its date (else 08:00 UTC that day,
        which the engine refuses as unlisted)."""
        chain = self.config.options.get(row.underlying)
        for e in chain.expiries if chain is not None else ():
            d = datetime.fromtimestamp(e // 1_000_000_000, tz=UTC)
            if (d.year, d.month, d.day) == (row.year, row.month, row.day):
                return e
        return expiry_ts_of(row.year, row.month, row.day)

    def step(self, row: FlowRow | IndexRow | IVRow) -> list:
        if type(row) is IndexRow:
            self.actions["index"] += 1
            return self._submit(IndexPrice(row.ts, row.name, row.price))
        if type(row) is IVRow:
            self.actions["iv"] += 1
            return self._submit(IVUpdate(row.ts, row.underlying, self.expiry_ts(row),
                                         row.atm_ppm, row.skew_ppm, row.curvature_ppm))
        self.actions[row.action] += 1  # type: ignore[union-attr]
        cmd = row.command  # type: ignore[union-attr]
        if type(cmd) is NewOrder:
            out = self._submit(OrderRequest(
                cmd.ts, cmd.account, cmd.instrument, cmd.side, cmd.qty, cmd.price,
                cmd.ord_type, cmd.tif, f"f{cmd.order_id}", cmd.post_only, cmd.reduce_only,
                cmd.stp, cmd.expire_ts))  # fmt: skip
            for o in out:
                if type(o) is OrderAdmitted and o.client_order_id == f"f{cmd.order_id}":
                    self.ids[cmd.order_id] = o.order_id
                elif (type(o) is PreTradeRejected and o.client_order_id == f"f{cmd.order_id}"
                      and len(self.refused) < 100):
                    self.refused.append({"order_id": cmd.order_id, "account": cmd.account,
                                         "instrument": cmd.instrument,
                                         "reason": _name(o.reason), "required": o.required,
                                         "available": o.available})  # fmt: skip
            return out
        oid = self.ids.get(cmd.order_id, -1)
        if type(cmd) is CancelOrder:
            return self._submit(CancelRequest(cmd.ts, cmd.account, cmd.instrument, oid))
        assert type(cmd) is AmendOrder
        return self._submit(AmendRequest(cmd.ts, cmd.account, cmd.instrument, oid, cmd.price,
                                         cmd.qty))  # fmt: skip

    def _submit(self, cmd: object) -> list:
        before = len(self.pipe.matcher_events)
        out = self.pipe.submit(cmd)
        for o in out:
            t = type(o)
            if t is PreTradeRejected:
                self.pretrade_rejects[_name(o.reason)] += 1
            elif t is RequestRejected:
                self.request_rejects[_name(o.reason)] += 1
            elif t is OrderAdmitted or t is AmendAdmitted:
                self.admitted += 1
            elif t is MarginCall:
                self.margin_calls += 1
            elif t is LiquidationStarted:
                self.liquidated_accounts.append(o.account)
            elif t is AutoDeleveraged:
                self.adl += 1
            elif t in _OPTION_EVENTS:
                self.option_events[_OPTION_EVENTS[t]] += 1
        for ev in self.pipe.matcher_events[before:]:
            t = type(ev)
            if t is Fill:
                self.trades += 1
                self.traded_qty += ev.qty
            elif t is OrderRejected or t is CancelRejected:
                self.matcher_rejects[_name(ev.reason)] += 1
        del self.pipe.matcher_events[:]
        return out

    def report(self, elapsed_s: float, rows: int, bad: list[BadRow]) -> dict[str, Any]:
        c = self.pipe.clearing
        accounts = {}
        for aid in sorted(c.accounts):
            s = c.account_summary(aid)
            acct = c.accounts[aid]
            accounts[str(aid)] = {
                **s,
                "balances": dict(sorted(acct.balances.items())),
                "positions": {sym: c.position(aid, sym)[0] for sym in sorted(acct.positions)},
            }
        rejects = Counter(self.pretrade_rejects)
        rejects.update(self.request_rejects)
        rejects.update(self.matcher_rejects)
        return {
            # the keys of the plain CSV report, then what clearing adds
            **flow_report(self.actions, self.trades, self.traded_qty, rejects,
                          self.pipe.matcher, rows, elapsed_s),
            "equity": {aid: a["equity"] for aid, a in accounts.items()},
            "format": "csv",
            "through": "clearing",
            "rows": rows,
            "actions": dict(sorted(self.actions.items())),
            "admitted": self.admitted,
            "pretrade_rejects": dict(sorted(self.pretrade_rejects.items())),
            "request_rejects": dict(sorted(self.request_rejects.items())),
            "matcher_rejects": dict(sorted(self.matcher_rejects.items())),
            "refused": self.refused,
            "margin_calls": self.margin_calls,
            "liquidations": c.counters["liquidations"],
            "liquidated_accounts": self.liquidated_accounts,
            "adl": c.counters["adl"],
            "halts": c.counters["halts"],
            **{k: self.option_events[k] for k in _OPTION_EVENTS.values()},
            "accounts": accounts,
            "insurance_fund": dict(sorted(c.insurance_fund.items())),
            "fee_pool": dict(sorted(c.fee_pool.items())),
            "marks": {s: i.mark for s, i in sorted(c.instruments.items())},
            "last_fill_seq": c.last_seq,
            "clearing_state_hash": c.state_hash(),
            "matcher_state_hash": self.pipe.matcher.state_hash(),
            "elapsed_s": round(elapsed_s, 3),
            "rows_per_s": round(rows / elapsed_s) if elapsed_s > 0 else None,
            "bad_rows": len(bad),
            "bad_row_list": [b._asdict() for b in bad[:100]],
        }


def replay_file(config: ClearingConfig, path: Path | str, *, strict: bool = False,
                on_bad_row: Callable[[BadRow], None] | None = None,
                ) -> tuple[ClearingReplay, dict[str, Any]]:
    """Run a whole flow file; return the replay and its report."""
    replay = ClearingReplay(config)
    bad: list[BadRow] = []
    rows = 0
    start = time.perf_counter()
    for row in read_flow(path):
        if type(row) is BadRow:
            bad.append(row)
            if on_bad_row is not None:
                on_bad_row(row)
            if strict:
                break
            continue
        replay.step(row)  # type: ignore[arg-type]
        rows += 1
    elapsed = time.perf_counter() - start
    out = replay.report(elapsed, rows, bad)
    out["file"] = str(path)
    out["stopped_at_bad_row"] = bool(bad) and strict
    return replay, out


def write_snapshot(replay: ClearingReplay, path: Path) -> str:
    """Write the final clearing state as a settlement snapshot; return its root (hex)."""
    from clearing.snapshot import ZERO_ROOT, build
    from gateway.snapshot_store import atomic_write_bytes

    built = build(replay.pipe.clearing.export_state(), ZERO_ROOT)
    atomic_write_bytes(path, built.content)
    root = getattr(built.header, "root", b"")
    return root.hex() if isinstance(root, bytes) else str(root)


def run_clearing(args: Any) -> tuple[dict[str, Any], bool, str]:
    """The ``--clearing`` branch of ``crossbook replay --format csv`` (see clients.replay.cli)."""
    from clearing.config import ConfigError, load_config
    from gateway.cli import CliError

    try:
        config = load_config(args.clearing)
    except (OSError, ConfigError) as exc:
        raise CliError(f"--clearing {args.clearing}: {exc}") from None
    try:
        replay, out = replay_file(config, args.file, strict=args.strict)
    except (FlowError, OSError) as exc:
        raise CliError(str(exc)) from None
    if getattr(args, "snapshot_out", None) is not None:
        try:
            out["snapshot_root"] = write_snapshot(replay, args.snapshot_out)
        except OSError as exc:
            raise CliError(f"cannot write {args.snapshot_out}: {exc}") from None
        out["snapshot"] = str(args.snapshot_out)
    summary = (
        f"{out['rows']} rows through clearing; {out['trades']} trades; "
        f"{sum(out['pretrade_rejects'].values())} pre-trade rejects; "
        f"{out['liquidations']} liquidations; {out['halts']} halts; {out['bad_rows']} bad rows"
    )
    return out, out["stopped_at_bad_row"], summary
