"""CPU accounting of the server under test (bench/cpu.py): /proc parsing, process trees,
CPU spent between two readings, and the per-request figure."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench import cpu

TICK = 1.0 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int, name: str, ppid: int, utime: int, stime: int, cutime: int,
          cstime: int) -> str:  # fmt: skip
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime ...
    return (f"{pid} ({name}) S {ppid} 1 1 0 -1 4194560 100 0 0 0 {utime} {stime} "
            f"{cutime} {cstime} 20 0 3 0 100 1000 200")


def test_parse_stat_counts_user_system_and_reaped_children() -> None:
    ppid, seconds = cpu.parse_stat(_stat(42, "python", 7, 100, 20, 30, 4))
    assert ppid == 7
    assert seconds == pytest.approx(154 * TICK)


def test_parse_stat_survives_a_name_with_spaces_and_parentheses() -> None:
    ppid, seconds = cpu.parse_stat(_stat(42, "a) b (c", 9, 1, 2, 3, 4))
    assert ppid == 9 and seconds == pytest.approx(10 * TICK)


def test_descendants_follow_parent_links_only() -> None:
    parents = {10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20, 30: 12}
    assert cpu.descendants([10], parents) == [10, 11, 12, 13, 30]
    assert cpu.descendants([10, 20], parents) == [10, 11, 12, 13, 20, 21, 30]
    assert cpu.descendants([99], parents) == [99]  # a root with no children: itself


def test_spent_charges_born_children_in_full_and_reaped_ones_once() -> None:
    before = {100: 5.0, 101: 2.0}  # server and a helper it forked
    # in between: the helper used 1 s more, exited, and was reaped into the server's
    # cutime (2 + 1 s); a new helper was born and used 0.5 s; the server itself used 4 s
    after = {100: 5.0 + 4.0 + 3.0, 102: 0.5}
    assert cpu.spent(before, after) == pytest.approx(4.0 + 1.0 + 0.5)
    assert cpu.spent({}, after) is None and cpu.spent(before, {}) is None


def test_us_per_request() -> None:
    assert cpu.us_per_request(2.0, 100_000) == 20.0
    assert cpu.us_per_request(0.123456, 1000) == 123.5
    assert cpu.us_per_request(None, 1000) is None
    assert cpu.us_per_request(1.0, 0) is None


BUSY = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass"
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {BUSY!r}])
print(child.pid, flush=True)
sys.stdin.readline()
child.wait()
print("reaped", flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_real_child_is_in_the_tree_and_charged_to_its_parent_once_reaped() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE,
                              stdin=subprocess.PIPE, text=True)  # fmt: skip
    try:
        child = int(parent.stdout.readline())
        assert {parent.pid, child} <= set(cpu.tree_pids([parent.pid]))
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "reaped"
        assert cpu.tree_pids([parent.pid]) == [parent.pid]
        # the child burnt 0.3 s of CPU; once reaped it is in the parent's cutime
        assert cpu.read_cpu([parent.pid])[parent.pid] >= 0.25
        assert cpu.read_cpu([child]) == {}  # gone: left out, not read as 0
    finally:
        parent.stdin.close()
        parent.wait(10)


def test_threads_are_split_by_name_and_the_busy_one_is_charged() -> None:
    """The main thread is ``main``; a busy second thread (named by the OS: ``python``, as
    Python does not name its threads there) is charged its CPU, the idle main one little."""
    import threading
    import time

    burned, read = threading.Event(), threading.Event()

    def burn() -> None:
        end = time.thread_time() + 0.15
        while time.thread_time() < end:
            pass
        burned.set()
        read.wait(10)  # alive until read: an ended thread takes its time with it

    before = cpu.read_threads([os.getpid()])
    t = threading.Thread(target=burn)
    t.start()
    assert burned.wait(30)
    during = cpu.read_threads([os.getpid()])
    read.set()
    t.join()
    split = cpu.threads_us_per_request(before, during, 1)
    others = {k: v for k, v in split.items() if k != "main"}
    assert "main" in split and others
    assert max(v or 0 for v in others.values()) >= 100_000  # its 0.15 s, in µs (10 ms ticks)
    assert (split["main"] or 0) < max(v or 0 for v in others.values())
