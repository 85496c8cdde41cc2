"""CPU time of the processes under test, read from /proc: per step and per request.

``crossbook bench e2e`` charges the server for every CPU second its processes burn while
a step's counted requests are in flight, and divides by those requests
(``server_cpu_us_per_order``). Rules:

- A process's CPU is ``utime + stime + cutime + cstime`` from ``/proc/PID/stat``: user and
  system time of all its threads plus that of the children it has reaped. A *tree* is a
  root process and every live descendant, so a server that forks helpers (or a journal
  writer) is charged for them whether they are alive or already reaped.
- The CPU spent between two readings of a tree is ``sum(after) - sum(before)``: a child
  born in between counts in full, a child reaped in between moves its time into its
  parent's ``cutime`` and is not counted twice. (A descendant that exits and is reaped
  by a process outside the tree, e.g. re-parented to init, takes its time with it.)
- Readings come in clock ticks (``SC_CLK_TCK``, 10 ms at the usual 100 Hz): over a step
  of seconds that is a fraction of a percent, so per-request figures are only given over
  whole steps, never per request.
- A process that cannot be read (exited, not Linux) is left out of a reading; no
  readable process at all gives ``None``, never 0.
- Per thread (``read_threads``): ``utime + stime`` of each ``/proc/PID/task/TID``, summed
  by thread name over the tree, the main thread of each process as ``main`` (ZeroMQ's I/O
  threads are ``ZMQbg/IO/0``..., the ZAP handler a Python thread): where a server's CPU
  goes, the interpreter or libzmq's CURVE and TCP work. A thread that ends between two
  readings takes its time with it, so the split is a guide, the tree's total the figure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def parse_stat(text: str) -> tuple[int, float]:
    """(parent pid, utime + stime + cutime + cstime in seconds) of one ``/proc/PID/stat``.

    The command name (field 2) is in parentheses and may itself hold spaces or ``)``: the
    fields are counted from the last ``)``.
    """
    fields = text.rsplit(")", 1)[1].split()
    # after the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    ppid = int(fields[1])
    ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return ppid, ticks * _TICK_S


def _read_stat(pid: int) -> tuple[int, float] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return parse_stat(fh.read())
    except (OSError, IndexError, ValueError):
        return None


def descendants(roots: Iterable[int], parents: Mapping[int, int]) -> list[int]:
    """``roots`` and every process whose chain of parents (``pid -> ppid``) reaches one."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return sorted(out)


def tree_pids(roots: Iterable[int]) -> list[int]:
    """The live process tree under ``roots`` (a scan of /proc: milliseconds, call it
    outside the measured window)."""
    parents: dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return sorted(set(roots))
    for name in names:
        if name.isdigit():
            stat = _read_stat(int(name))
            if stat is not None:
                parents[int(name)] = stat[0]
    return descendants(roots, parents)


def read_cpu(pids: Iterable[int]) -> dict[int, float]:
    """CPU seconds (with reaped children) of each readable process in ``pids``."""
    out: dict[int, float] = {}
    for pid in pids:
        stat = _read_stat(pid)
        if stat is not None:
            out[pid] = stat[1]
    return out


def spent(before: Mapping[int, float], after: Mapping[int, float]) -> float | None:
    """CPU seconds a tree spent between two readings (module rules); None if unreadable."""
    if not before or not after:
        return None
    return max(0.0, sum(after.values()) - sum(before.values()))


def us_per_request(seconds: float | None, requests: int) -> float | None:
    """CPU µs per request, to 0.1 µs; None without a reading or a request."""
    if seconds is None or requests <= 0:
        return None
    return round(seconds * 1e6 / requests, 1)


def read_threads(pids: Iterable[int]) -> dict[str, float]:
    """CPU seconds per thread name over ``pids`` (module rules): ``{"main": ...,
    "ZMQbg/IO/0": ...}``."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                with open(f"{base}/comm", encoding="ascii", errors="replace") as fh:
                    name = fh.read().strip()
                with open(f"{base}/stat", encoding="ascii", errors="replace") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                seconds = (int(fields[11]) + int(fields[12])) * _TICK_S
            except (OSError, IndexError, ValueError):
                continue
            key = "main" if tid == str(pid) else name
            out[key] = out.get(key, 0.0) + seconds
    return out


def threads_us_per_request(before: Mapping[str, float], after: Mapping[str, float],
                           requests: int) -> dict[str, float | None]:  # fmt: skip
    """CPU µs per request of each thread name between two ``read_threads``."""
    return {name: us_per_request(max(0.0, t - before.get(name, 0.0)), requests)
            for name, t in sorted(after.items())}  # fmt: skip
