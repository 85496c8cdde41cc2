"""The ``crossbook`` command line: one console script, one subcommand per job.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them. Subcommand modules keep their heavy
imports inside ``run`` so that building the parser stays cheap. Bad input is reported as
one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "replay": ("clients.replay.cli", "replay historical order flow through the matcher"),
    "bench": ("bench.cli", "run a benchmark harness and write JSON"),
    "serve": ("gateway.serve", "run the exchange (all roles, or one with --role)"),
    "snapshot": ("gateway.snapshot_cli", "verify settlement snapshots, print inclusion proofs"),
    "journal": ("gateway.journal.cli", "verify the input journal: CRCs, sequence, snapshot links"),
    "bot": ("clients.bots.cli", "run an example trading bot against an exchange"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit code ``code`` (2 unless given)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossbook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                p.set_defaults(_missing=True)
                continue
            raise
        module.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        print(f"crossbook {args.command}: not available in this build", file=sys.stderr)
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except CliError as exc:
        print(f"crossbook {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
