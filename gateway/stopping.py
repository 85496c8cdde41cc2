"""Stopping within the drain timeout: one deadline from the signal, and what is cut.

SIGTERM (or Ctrl-C) starts one clock, ``StopDeadline``: the process must be gone within
``[exchange] drain_timeout_ms`` of the signal's arrival, however loaded it is. The stop
runs in this order; each step gets what the earlier ones left:

1. **At once**: the gateway stops reading bot frames. Frames still queued in ZeroMQ are
   never read: never journaled, never acknowledged (the bot sees no reply, as after a
   crash). What the gateway had already decoded goes to clearing in one last message.
2. **The batch in flight**: clearing takes what is on its gateway link (one turn, at most
   ``BATCH_MESSAGES`` messages) as its last batch: journaled, matched, replied to.
   Queries still waiting are refused (``SERVICE_UNAVAILABLE``) instead of answered: an
   answer costs milliseconds per thousand rows and changes nothing. A periodic snapshot
   being written is waited for (the chain needs it).
3. **The final snapshot**: the journal is closed first (every batch is in it), then the
   state is exported, hashed, built and written (fsync) in a daemon thread, with what is
   left until ``MARGIN_S`` before the deadline. The snapshot is not needed for safety, only
   for a fast restart: if it is not done by then, it is cut with a warning (the write is
   atomic: no file, or a whole one) and the next start replays the journal from the
   previous snapshot. A periodic snapshot still being written is waited for the same way.
4. **Delivery**: replies still queued for bots are sent for up to ``LINGER_S``, and not
   past ``MARGIN_S`` before the deadline (the order-entry socket's LINGER); whatever
   ZeroMQ still holds then is dropped.
5. **The backstop**: if the deadline passes anyway (a stuck peer, a disk that does not
   answer), ``Watchdog`` ends the process with exit code 1 and one line saying so. The
   journal survives that like any crash; the exit code says the stop was not clean.

``StopDeadline`` is pure (it reads the clock it is given); ``Watchdog``, ``in_daemon_thread``
and ``install_signals`` are the process-level parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("crossbook.stop")

MARGIN_S = 0.25
"""Kept free before the deadline for closing sockets and leaving the process."""
LINGER_S = 0.5
"""At most this long for replies still queued to bots once the gateway closes: a bot that
does not read them by then loses them (and a gateway that lingers longer looks silent
to a clearing role that is still up)."""


class StopDeadline:
    """When the stop began and how long is left of the drain timeout."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = budget_s
        self.clock = clock
        self.started: float | None = None

    def start(self) -> bool:
        """Start the clock (the first call only); True if this call started it."""
        if self.started is not None:
            return False
        self.started = self.clock()
        return True

    @property
    def at(self) -> float:
        """The monotonic time the process must be gone by (``inf`` before the start)."""
        return float("inf") if self.started is None else self.started + self.budget_s

    def left(self, margin_s: float = 0.0) -> float:
        """Seconds left before the deadline minus ``margin_s`` (never below 0; the whole
        budget before the start)."""
        if self.started is None:
            return max(0.0, self.budget_s - margin_s)
        return max(0.0, self.started + self.budget_s - margin_s - self.clock())

    def elapsed_ms(self) -> int:
        return 0 if self.started is None else round((self.clock() - self.started) * 1000)


class Watchdog:
    """Ends the process at the deadline if the orderly stop has not (see rule 5)."""

    def __init__(self, deadline: StopDeadline, what: Callable[[], str]) -> None:
        self.deadline = deadline
        self.what = what
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is not None:
            return
        timer = threading.Timer(self.deadline.left(), self._fire)
        timer.daemon = True
        timer.start()
        self._timer = timer

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _fire(self) -> None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.write(f"crossbook serve: drain timeout of {self.deadline.budget_s:g} s "
                             f"passed while {self.what()}: stopped without finishing; the "
                             f"journal holds every acknowledged request\n")  # fmt: skip
            sys.stderr.flush()
        os._exit(1)


def install_signals(stop: asyncio.Event, on_signal: Callable[[], None]) -> None:
    """SIGTERM and SIGINT call ``on_signal`` at once (between two bytecodes of whatever
    the loop is running: the deadline starts when the signal arrives, not when the loop
    next looks) and then set ``stop`` on the loop."""
    loop = asyncio.get_running_loop()

    def handler(signum: int, frame: object) -> None:
        on_signal()
        with contextlib.suppress(RuntimeError):  # a signal after the loop has closed
            loop.call_soon_threadsafe(stop.set)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: no signals here
            signal.signal(sig, handler)


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """``await`` ``fn(*args)`` run in a daemon thread of its own. Unlike
    ``asyncio.to_thread`` (whose pool is joined at interpreter exit), a call cut by a
    timeout never holds the process up: it is abandoned when the process exits."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, failed: bool) -> None:
        if not fut.done():
            if failed:
                fut.set_exception(value)
            else:
                fut.set_result(value)

    def work() -> None:
        try:
            value, failed = fn(*args), False
        except BaseException as exc:  # handed to the awaiting task
            value, failed = exc, True
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(settle, value, failed)

    threading.Thread(target=work, name=getattr(fn, "__name__", "work"), daemon=True).start()
    return await fut
