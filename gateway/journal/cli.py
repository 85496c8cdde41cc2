"""``crossbook journal verify DIR [--json]`` and ``crossbook journal replay DIR [--to SEQ]
[--report F] [--config FILE]``.

``replay`` re-runs a state directory offline (``gateway.journal.replay``) and prints
``journal seq N state hash H`` (the hash the server logged for that sequence); ``--report``
writes the JSON report. Exit 1 with one line when the directory cannot be replayed.

DIR is a state directory (``journal/`` and ``snapshots/`` in it: the snapshot links are
checked too) or a journal directory. Exit 0 with a short summary (segments, records,
first/last seq, bytes, torn tail, snapshots); exit 1 with one line on stderr naming the
file, the offset and what is wrong; exit 2 when DIR is no journal or cannot be read.
``--json`` prints the same figures as one JSON object (``"ok": false`` and ``"error"`` on
exit 1). The checks are ``gateway.journal.verify``'s; the layout is in docs/journal.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HELP = "verify the input journal; replay a state directory offline"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="journal_action", metavar="ACTION")
    sub.required = True
    verify = sub.add_parser(
        "verify",
        help="check every CRC, the sequence across segments and the snapshot links",
        description="Check every record's CRCs, the gapless sequence across segments, report "
        "a torn tail, and check the snapshot links. Read-only. Exit 0 valid, 1 invalid.",
    )
    verify.add_argument("dir", metavar="DIR", help="state directory or journal directory")
    verify.add_argument("--json", action="store_true", help="print the figures as JSON")
    rep = sub.add_parser(
        "replay",
        help="re-run a state directory offline and print the state hash",
        description="Load the newest snapshot at or before SEQ and replay the journal after "
        "it through the exchange core; print the journal seq and the state hash.",
    )
    rep.add_argument("dir", metavar="DIR", help="state directory (or its journal/)")
    rep.add_argument("--to", type=int, metavar="SEQ", help="stop after this record")
    rep.add_argument("--report", type=Path, metavar="F", help="write the JSON report here")
    rep.add_argument("--config", type=Path, metavar="FILE",
                     help="exchange TOML (default: the one recorded in DIR)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.journal_action == "replay":
        return _replay(args)
    return _verify(args)


def _replay(args: argparse.Namespace) -> int:
    from clearing.config import ConfigError
    from gateway.cli import CliError
    from gateway.journal.replay import config_for, replay, state_dir_of
    from gateway.recovery import RecoveryError

    state_dir = state_dir_of(args.dir)
    if not state_dir.is_dir():
        raise CliError(f"no such directory: {args.dir}")
    if args.to is not None and args.to < 0:
        raise CliError("--to must be 0 or more")
    try:
        report = replay(config_for(state_dir, args.config), args.to)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    except RecoveryError as exc:
        print(f"crossbook journal: {exc}", file=sys.stderr)
        return 1
    if args.report is not None:
        try:
            args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {args.report}: {exc.strerror or exc}") from None
    print(f"journal seq {report['journal_seq']} state hash {report['state_hash']}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from gateway.cli import CliError
    from gateway.journal.layout import JournalError
    from gateway.journal.verify import NotAJournal, verify_path

    try:
        report = verify_path(args.dir)
    except NotAJournal as exc:
        raise CliError(str(exc)) from None
    except JournalError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"crossbook journal: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise CliError(f"cannot read {exc.filename or args.dir}: {exc.strerror or exc}") from None
    figures = _figures(report)
    print(json.dumps(figures, indent=2) if args.json else _text(figures))
    return 0


def _figures(report: Any) -> dict[str, Any]:
    j = report.journal
    torn = None
    if j.torn_tail is not None:
        t = j.torn_tail
        torn = {"file": str(t.path), "offset": t.offset, "bytes": t.bytes}
    snaps = None
    if report.snapshots is not None:
        snaps = {"count": report.snapshots.count, "newest_seq": report.snapshots.newest_seq}
    return {
        "ok": True,
        "journal_dir": str(j.directory),
        "segments": j.segments,
        "records": j.records,
        "first_seq": j.first_seq,
        "last_seq": j.last_seq,
        "bytes": j.bytes,
        "torn_tail": torn,
        "snapshots": snaps,
    }


def _text(f: dict[str, Any]) -> str:
    if f["records"]:
        seqs = f"seq {f['first_seq']:,}..{f['last_seq']:,}"
    else:
        seqs = "no record" + (f", next seq {f['last_seq'] + 1:,}" if f["segments"] else "")
    torn = f["torn_tail"]
    torn_line = (
        "none" if torn is None
        else f"{torn['bytes']:,} bytes at {torn['file']} offset {torn['offset']:,} "
        "(cut off when the server opens the journal)"
    )
    snaps = f["snapshots"]
    if snaps is None:
        snap_line = "not checked (a journal directory was given, not a state directory)"
    elif snaps["count"] == 0:
        snap_line = "none found: links ok"
    else:
        snap_line = f"{snaps['count']}, newest at seq {snaps['newest_seq']:,}: links ok"
    return "\n".join([
        f"journal {f['journal_dir']}: ok",
        f"  segments   {f['segments']:,} ({f['bytes']:,} bytes)",
        f"  records    {f['records']:,} ({seqs})",
        f"  torn tail  {torn_line}",
        f"  snapshots  {snap_line}",
    ])
