"""``crossbook bench KIND``: benchmark harnesses that write JSON (and plots).

Numbers come from these harnesses, never from timed unit tests. Each harness module
exposes ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib

HARNESSES: dict[str, tuple[str, str]] = {
    "matcher": ("bench.matcher", "in-process matcher throughput and per-operation latency"),
    "clearing": ("bench.clearing", "pre-trade check latency and 100k-account re-mark time"),
    "e2e": ("bench.e2e", "open-loop order round trips through a running exchange"),
    "journal": ("bench.journal", "journal append throughput and latency, write and fsync modes"),
    "flood": ("bench.flood", "one account floods a running exchange: the others' ack latency"),
    "batches": ("bench.batches", "server CPU per request by burst size: per-batch vs per-order"),
}

HELP = "run a benchmark harness and write JSON"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="harness", metavar="HARNESS")
    sub.required = True
    for name, (module_name, help_text) in HARNESSES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_harness=module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                p.set_defaults(_harness_missing=True)
                continue
            raise
        module.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "_harness_missing", False):
        from gateway.cli import CliError

        raise CliError(f"harness {args.harness!r} is not available in this build")
    return int(importlib.import_module(args._harness).run(args) or 0)
