"""``crossbook bench journal``: journal append throughput and per-append latency, per mode.

For each durability mode (``"write"``, ``"fsync"``) and payload size (200 B, 2 KB, 20 KB
by default) a fresh ``JournalWriter`` in a temporary directory under the state
directory (so on the file system the server would journal to) runs:

1. a warm-up of ``--warmup`` appends, not counted;
2. a throughput pass: ``--appends`` appends back to back, one clock read at each end;
3. a latency pass: the same count, each ``append`` timed with ``perf_counter_ns`` into an
   HdrHistogram (clock overhead included).

``"fsync"`` runs ``--fsync-appends`` (fewer: each one waits for the disk). The payload is
random bytes, the same object every call (the CRC cost does not depend on the content).
The garbage collector is frozen after setup. The JSON holds, per run, ``appends_per_s``,
``mb_per_s`` and the latency summary in µs (p50/p90/p99/p99.9/max), ``fsync_cost_us``
(fsync p50 minus write p50, per size), the file system the directory is on, and the
machine. The temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (200, 2_000, 20_000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gateway.exchange_config import DEFAULT_STATE_DIR

    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument(
        "--state-dir", type=Path, default=Path(DEFAULT_STATE_DIR), metavar="DIR",
        help=f"journal into a temporary folder under DIR (default {DEFAULT_STATE_DIR}; its "
        "nearest existing parent if it does not exist)",
    )
    parser.add_argument("--appends", type=int, default=20_000,
                        help="appends per pass in write mode (20000)")
    parser.add_argument("--fsync-appends", type=int, default=1_000,
                        help="appends per pass in fsync mode (1000)")
    parser.add_argument("--warmup", type=int, default=200, help="appends before timing (200)")
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, metavar="B,B,...",
                        help="payload sizes in bytes (200,2000,20000)")
    parser.add_argument("--modes", type=_modes, default=("write", "fsync"), metavar="M,M",
                        help="durability modes (write,fsync)")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not sizes or min(sizes) < 0:
        raise argparse.ArgumentTypeError(f"sizes must be >= 0: {text!r}")
    return sizes


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(text.split(","))
    if not set(modes) <= {"write", "fsync"}:
        raise argparse.ArgumentTypeError(f"modes are 'write' and 'fsync': {text!r}")
    return modes


def _base_dir(state_dir: Path) -> Path:
    p = state_dir.resolve()
    while not p.is_dir():
        p = p.parent
    return p


def _filesystem(path: Path) -> dict[str, str]:
    """The mount that holds ``path``, from /proc/mounts (longest matching mount point)."""
    best = {"mount": "", "type": "unknown", "device": "unknown"}
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                device, mount, fstype, *_ = line.split()
                inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best["mount"]):
                    best = {"mount": mount, "type": fstype, "device": device}
    except OSError:
        pass
    return best


def _one(base: Path, durability: str, size: int, count: int, warmup: int) -> dict[str, Any]:
    from bench.latency import Recorder, summary
    from gateway.journal import JournalWriter

    payload = os.urandom(size)
    directory = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=base))
    try:
        with JournalWriter(directory, next_seq=1, durability=durability) as w:  # type: ignore[arg-type]
            append = w.append
            for _ in range(warmup):
                append(payload)
            gc.collect()
            gc.freeze()
            t0 = time.perf_counter()
            for _ in range(count):
                append(payload)
            seconds = time.perf_counter() - t0
            clock = time.perf_counter_ns
            samples = [0] * count
            for i in range(count):
                s = clock()
                append(payload)
                samples[i] = clock() - s
            gc.unfreeze()
        rec = Recorder()
        rec.record_all(samples)
        return {
            "durability": durability,
            "payload_bytes": size,
            "appends": count,
            "seconds": round(seconds, 4),
            "appends_per_s": round(count / seconds),
            "mb_per_s": round(count * size / seconds / 1e6, 1),
            "latency": summary(rec),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    from bench.environment import describe, write_result
    from gateway.cli import CliError

    base = _base_dir(args.state_dir)
    if not os.access(base, os.W_OK):
        raise CliError(f"cannot write under {base}")
    runs = []
    for durability in args.modes:
        count = args.appends if durability == "write" else args.fsync_appends
        for size in args.sizes:
            r = _one(base, durability, size, count, args.warmup)
            runs.append(r)
            lat = r["latency"]
            print(
                f"journal {durability:5} {size:>6} B: {r['appends_per_s']:>9,} appends/s "
                f"{r['mb_per_s']:>7} MB/s  p50 {lat['p50_us']} µs  p99 {lat['p99_us']} µs  "
                f"max {lat['max_us']} µs"
            )
    by = {(r["durability"], r["payload_bytes"]): r for r in runs}
    fsync_cost = {
        str(size): round(
            by[("fsync", size)]["latency"]["p50_us"] - by[("write", size)]["latency"]["p50_us"], 1
        )
        for size in args.sizes
        if ("fsync", size) in by and ("write", size) in by
    }
    result = {
        "harness": "journal",
        "directory": str(base),
        "filesystem": _filesystem(base),
        "runs": runs,
        "fsync_cost_us": fsync_cost,
        "environment": describe(),
        "notes": "one JournalWriter per run in a fresh temporary folder; throughput pass "
        "back to back, latency pass times each append() with perf_counter_ns (clock overhead "
        "included); gc frozen after the warm-up; fsync_cost_us = fsync p50 - write p50",
    }
    write_result(args.json, result)
    print(f"-> {args.json}")
    return 0
