"""``crossbook journal verify DIR [--json]``: check a journal without changing it.

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
from typing import Any


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


def run(args: argparse.Namespace) -> int:
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
