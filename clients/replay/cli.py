"""``crossbook replay``: drive recorded order flow through the matcher, as fast as it can.

::

    crossbook replay --format lobster MESSAGE_FILE --book-file ORDERBOOK_FILE
                     [--report FILE] [--top-out FILE] [--strict]
    crossbook replay --format csv FILE [--report FILE] [--strict]
    crossbook replay --format journal STATE_DIR [--report FILE]

The report is JSON, written to ``--report FILE`` or else printed on stdout; a one-line
summary goes to stderr. Bad rows are reported on stderr with file and line number and
skipped; with ``--strict`` the first one ends the run with exit code 1 (the report of
what ran is still written). Bad arguments and unreadable files are a one-line error,
exit code 2 (``gateway.cli.CliError``), never a traceback.

How this module is laid out, for whoever adds flags next: ``add_arguments`` puts every
option in a named group (common, then one per format or destination), so a new
destination (replay through clearing, into a running exchange) adds its own group and
its own ``_run_*`` function. The readers (``clients.replay.lobster``,
``clients.replay.csvflow``) know nothing of engines and can be reused as they are; the
drivers (``lobster_replay``, ``csv_replay``) accept an ``engine`` and an ``observer`` that
sees every command with the events it caused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

FORMATS = ("lobster", "csv", "journal")
MAX_PRINTED_BAD_ROWS = 20



HELP = "replay historical order flow through the matcher"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", type=Path, metavar="FILE",
        help="the order flow: a LOBSTER message file, a crossbook order-flow CSV, or a "
             "state directory whose journal to re-run (--format journal)",
    )  # fmt: skip
    common = parser.add_argument_group("replay")
    common.add_argument("--format", required=True, choices=FORMATS, help="format of FILE")
    common.add_argument(
        "--report", type=Path, metavar="FILE", help="write the JSON report here (default: stdout)"
    )
    common.add_argument(
        "--strict", action="store_true", help="stop at the first bad row (exit code 1)"
    )
    lobster = parser.add_argument_group("LOBSTER (--format lobster)")
    lobster.add_argument(
        "--book-file", type=Path, metavar="ORDERBOOK_FILE",
        help="the LOBSTER orderbook file paired with the message file (required)",
    )  # fmt: skip
    lobster.add_argument(
        "--top-out", type=Path, metavar="FILE",
        help="write the engine's top N after every message, in the orderbook file's layout",
    )  # fmt: skip
    wire = parser.add_argument_group(
        "into a running exchange (--endpoint): plain order flow, see clients/replay/wire.py"
    )
    wire.add_argument(
        "--endpoint", metavar="tcp://HOST:PORT",
        help="order-entry endpoint of a running exchange (replaces the matcher)",
    )  # fmt: skip
    wire.add_argument(
        "--key", type=Path, metavar="FILE",
        help="the account's secret key file (default: a free demo account)",
    )  # fmt: skip
    wire.add_argument(
        "--state-dir", type=Path, default=Path("crossbook-state"), metavar="DIR",
        help="where to find a demo account without --key",
    )  # fmt: skip
    wire.add_argument(
        "--instrument", metavar="SYMBOL",
        help="listed instrument to map the file onto (default: TICKER-PERP)",
    )  # fmt: skip
    wire.add_argument(
        "--speed", type=float, metavar="X",
        help="pace by the recorded timestamps, X times faster (default 1)",
    )  # fmt: skip
    wire.add_argument("--max", action="store_true", help="as fast as the exchange takes it")
    wire.add_argument(
        "--window", type=int, default=100, metavar="N",
        help="requests in flight at most (default 100)",
    )  # fmt: skip
    wire.add_argument(
        "--snapshot-endpoint", metavar="tcp://HOST:PORT",
        help="market-data snapshot endpoint (default: order-entry port + 2)",
    )  # fmt: skip
    through = parser.add_argument_group("through clearing (--format csv)")
    through.add_argument(
        "--clearing", type=Path, metavar="CONFIG.toml",
        help="send the flow through pre-trade, the matcher and settlement (clearing_replay)",
    )  # fmt: skip
    through.add_argument(
        "--snapshot-out", type=Path, metavar="FILE", help="write the final settlement snapshot"
    )


class _BadRowPrinter:
    """Prints the first few bad rows on stderr as they come, then counts the rest."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.count = 0

    def __call__(self, row: Any) -> None:
        self.count += 1
        if self.count <= MAX_PRINTED_BAD_ROWS:
            what = "stopping (--strict)" if self.strict else "skipped"
            print(f"crossbook replay: {row.file}:{row.line}: {row.error} ({what})", file=sys.stderr)

    def close(self) -> None:
        if self.count > MAX_PRINTED_BAD_ROWS:
            more = self.count - MAX_PRINTED_BAD_ROWS
            print(f"crossbook replay: ... and {more} more bad rows (see the report)",
                  file=sys.stderr)  # fmt: skip


def _check_args(args: argparse.Namespace) -> None:
    from gateway.cli import CliError

    if args.format == "lobster" and args.book_file is None:
        raise CliError("--format lobster needs --book-file ORDERBOOK_FILE")
    if args.clearing is not None and args.format != "csv":
        raise CliError("--clearing only applies to --format csv")
    if args.snapshot_out is not None and args.clearing is None:
        raise CliError("--snapshot-out needs --clearing CONFIG.toml")
    if args.format != "lobster":
        for flag, value in (("--book-file", args.book_file), ("--top-out", args.top_out)):
            if value is not None:
                raise CliError(f"{flag} only applies to --format lobster")
    if args.format == "journal":
        if not args.file.is_dir():
            raise CliError(f"no such state directory: {args.file}")
        return
    inputs = [args.file] + ([args.book_file] if args.book_file is not None else [])
    for path in inputs:
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    for path in (args.report, args.top_out):
        if path is not None and not path.resolve().parent.is_dir():
            raise CliError(f"cannot write {path}: no such directory")


def _run_lobster(args: argparse.Namespace, show: bool) -> tuple[dict[str, Any], bool, str]:
    import time

    from clients.replay import lobster
    from clients.replay.lobster_replay import LobsterReplay, pair_files, replay_rows, report
    from clients.replay.progress import Progress
    from gateway.cli import CliError

    try:
        depth = lobster.book_depth(args.book_file)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    replay = LobsterReplay(lobster.ticker_of(args.file), depth)
    printer = _BadRowPrinter(args.strict)
    total = lobster.count_lines(args.file) if show else None
    try:
        with contextlib.ExitStack() as stack:
            top_out = None
            if args.top_out is not None:
                top_out = stack.enter_context(open(args.top_out, "w", encoding="ascii"))
            bar = stack.enter_context(
                Progress(total, f"replay {args.file.name}", enabled=show, unit="msg")
            )
            start = time.perf_counter()
            bad = replay_rows(
                replay,
                pair_files(lobster.read_messages(args.file),
                           lobster.read_book(args.book_file, depth)),
                strict=args.strict, top_out=top_out, on_bad_row=printer, tick=bar.update,
                names=(str(args.file), str(args.book_file)),
            )  # fmt: skip
            elapsed = time.perf_counter() - start
    except OSError as exc:
        raise CliError(str(exc)) from None
    printer.close()
    out = report(replay, elapsed, bad)
    out["message_file"] = str(args.file)
    out["book_file"] = str(args.book_file)
    stopped = bool(bad) and args.strict
    out["stopped_at_bad_row"] = stopped
    st = replay.stats
    summary = (
        f"{st.rows_matched}/{st.rows_compared} orderbook rows matched; "
        f"{st.executions} executions, {st.executions_hit_named} hit the named order; "
        f"{len(bad)} bad rows; {out['messages_per_s']} messages/s"
    )
    return out, stopped, summary


def _run_csv(args: argparse.Namespace, show: bool) -> tuple[dict[str, Any], bool, str]:
    import time

    from clients.replay.csv_replay import CsvReplay, replay_flow
    from clients.replay.csvflow import FlowError, read_flow
    from clients.replay.lobster import count_lines
    from clients.replay.progress import Progress
    from gateway.cli import CliError

    replay = CsvReplay()
    printer = _BadRowPrinter(args.strict)
    total = max(count_lines(args.file) - 1, 0) if show else None
    try:
        with Progress(total, f"replay {args.file.name}", enabled=show) as bar:
            start = time.perf_counter()
            applied, bad = replay_flow(
                replay, read_flow(args.file), strict=args.strict, on_bad_row=printer,
                tick=bar.update,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
    except FlowError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(str(exc)) from None
    printer.close()
    out = replay.report(elapsed, applied, bad)
    out["file"] = str(args.file)
    stopped = bool(bad) and args.strict
    out["stopped_at_bad_row"] = stopped
    summary = (
        f"{applied} rows; {out['orders']} orders, {out['cancels']} cancels, "
        f"{out['amends']} amends; {out['trades']} trades ({out['traded_qty']} lots); "
        f"{sum(out['rejects'].values())} rejects; {len(bad)} bad rows; "
        f"{out['messages_per_s']} rows/s"
    )
    return out, stopped, summary


def _run_journal(args: argparse.Namespace) -> tuple[dict[str, Any], bool, str]:
    """A state directory's journal through the exchange core, offline: the same replay
    as ``crossbook journal replay`` (``gateway.journal.replay``), with the usual report."""
    from clearing.config import ConfigError
    from gateway.cli import CliError
    from gateway.journal.replay import config_for, replay, state_dir_of
    from gateway.recovery import RecoveryError

    try:
        out = replay(config_for(state_dir_of(args.file)), earliest=True)
    except (ConfigError, RecoveryError) as exc:
        raise CliError(str(exc)) from None
    out["file"] = str(args.file)
    summary = (
        f"journal seq {out['journal_seq']} state hash {out['state_hash']}; "
        f"{out['records']} records; {out['orders']} orders, {out['cancels']} cancels, "
        f"{out['amends']} amends; {out['trades']} trades ({out['traded_qty']} lots); "
        f"{sum(out['rejects'].values())} rejects"
    )
    return out, False, summary


def _emit(report: dict[str, Any], args: argparse.Namespace) -> None:
    from gateway.cli import CliError

    text = json.dumps(report, indent=2) + "\n"
    if args.report is None:
        sys.stdout.write(text)
        return
    try:
        args.report.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {args.report}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Check the arguments, drive the flow, write the report; 1 if ``--strict`` stopped it."""
    from clients.replay.progress import wanted

    if args.endpoint is not None:
        from clients.replay.wire import run_wire

        return run_wire(args)
    _check_args(args)
    show = wanted()
    if args.format == "lobster":
        report, stopped, summary = _run_lobster(args, show)
    elif args.format == "journal":
        report, stopped, summary = _run_journal(args)
    elif args.clearing is not None:
        from clients.replay.clearing_replay import run_clearing

        report, stopped, summary = run_clearing(args)
    else:
        report, stopped, summary = _run_csv(args, show)
    _emit(report, args)
    where = f" (report: {args.report})" if args.report is not None else ""
    print(f"crossbook replay: {summary}{where}", file=sys.stderr)
    return 1 if stopped else 0
