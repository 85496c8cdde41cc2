"""``gateway.stopping``: the stop's deadline, the backstop, work cut by a timeout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from gateway.stopping import StopDeadline, in_daemon_thread

pytestmark = pytest.mark.timeout(30)


def test_the_deadline_counts_from_its_first_start() -> None:
    now = [10.0]
    d = StopDeadline(3.0, lambda: now[0])
    assert d.left() == 3.0 and d.left(0.5) == 2.5 and d.at == float("inf")
    assert d.start() and not d.start()
    now[0] = 11.0
    assert d.start() is False and d.at == 13.0
    assert d.left() == 2.0 and d.left(0.25) == 1.75 and d.elapsed_ms() == 1000
    now[0] = 20.0
    assert d.left() == 0.0


async def test_work_in_a_daemon_thread_returns_or_raises() -> None:
    assert await in_daemon_thread(sum, [1, 2, 3]) == 6
    with pytest.raises(ZeroDivisionError):
        await in_daemon_thread(lambda: 1 // 0)


def _run(code: str) -> tuple[int, str, float]:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=20)  # fmt: skip
    return out.returncode, out.stderr, time.monotonic() - t0


def test_work_cut_by_a_timeout_does_not_hold_the_process_up() -> None:
    code, err, took = _run("""
        import asyncio, time
        from gateway.stopping import in_daemon_thread

        async def main():
            try:
                await asyncio.wait_for(in_daemon_thread(time.sleep, 30), 0.2)
            except TimeoutError:
                return 0
            return 1

        raise SystemExit(asyncio.run(main()))
    """)
    assert code == 0, err
    assert took < 10


def test_the_watchdog_ends_a_stop_that_overruns_its_deadline() -> None:
    code, err, took = _run("""
        import time
        from gateway.stopping import StopDeadline, Watchdog

        d = StopDeadline(0.3)
        d.start()
        Watchdog(d, lambda: "the test slept").arm()
        time.sleep(30)
    """)
    assert code == 1
    assert "drain timeout of 0.3 s passed while the test slept" in err
    assert took < 10
