"""The ``crossbook`` command line: one console script, one subcommand per job.

Each subcommand lives in its own module exposing ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``, registered as an entry point (group ``crossbook.commands`` in
pyproject.toml); this file only wires them. Subcommand modules keep their heavy
imports inside ``run`` so that building the parser stays cheap. Bad input is reported as
one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points

ENTRY_POINTS = "crossbook.commands"
"""Subcommands are entry points of this group (pyproject.toml), each a module with
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``: this file names
none of them, so the packages that bring commands (``clients``, ``bench``) may import
``CliError`` from here without a cycle in the code."""


def subcommands() -> dict[str, EntryPoint]:
    """The installed subcommands by name."""
    return {ep.name: ep for ep in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name)}


class CliError(Exception):
    """A user-facing error: printed as one line, exit code ``code`` (2 unless given)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossbook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, ep in subcommands().items():
        try:
            module = ep.load()
        except ModuleNotFoundError as exc:
            if exc.name and ep.value.startswith(exc.name):
                p = sub.add_parser(name, help="(not available in this build)")
                p.set_defaults(_missing=True)
                continue
            raise
        help_text = getattr(module, "HELP", "")
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        module.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        print(f"crossbook {args.command}: not available in this build", file=sys.stderr)
        return 2
    module = args._module
    try:
        return int(module.run(args) or 0)
    except CliError as exc:
        print(f"crossbook {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
