"""What ``watch_*`` waits on: a latest-state stream and an append-only list stream.

ccxt Pro's rule is that each ``watch_*`` call returns the latest state once it changes.
Here a *reader* is the asyncio task that calls: each task has its own cursor, so a bot
that calls ``watch_orders()`` in a loop never misses an update that happened between two
of its calls, and two tasks watching the same stream do not steal updates from each other.

- ``StateStream``: ``publish()`` marks a new version (the value is built lazily by
  ``getter``, so a book changing a thousand times between two reads is built once).
  ``watch()`` returns at once if the task has not seen the current version (also on its
  first call, once there is a value), else waits for the next version.
- ``ListStream``: ``extend(items)`` appends; ``watch()`` returns the items appended since
  the task's previous call (on its first call: every item still kept, like ccxt's cache:
  the stream starts when the client subscribes, so nothing is lost between placing an
  order and watching it), waiting until there is at least one. At most ``maxlen`` items
  are kept; a task that fell further behind gets what is left.
- ``fail(exc)`` makes every current and future ``watch()`` raise ``exc`` (the session can
  never come back); ``error`` is cleared by ``publish``/``extend``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _reader() -> object:
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - watch() is always awaited in a task
        raise RuntimeError("watch() must run inside an asyncio task")
    return task


class _Signal:
    """A future per generation: waiters hold the current one, a change resolves it."""

    __slots__ = ("_fut",)

    def __init__(self) -> None:
        self._fut: asyncio.Future[None] | None = None

    def future(self) -> asyncio.Future[None]:
        if self._fut is None or self._fut.done():
            self._fut = asyncio.get_running_loop().create_future()
        return self._fut

    def fire(self, exc: BaseException | None = None) -> None:
        fut, self._fut = self._fut, None
        if fut is not None and not fut.done():
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: not every waiter may be around


class StateStream(Generic[T]):
    def __init__(self, getter: Callable[[], T | None]) -> None:
        self.getter = getter
        self.version = 0
        self.error: BaseException | None = None
        self._signal = _Signal()
        self._seen: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    def publish(self) -> None:
        self.version += 1
        self.error = None
        self._signal.fire()

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self._signal.fire(exc)

    async def watch(self) -> T:
        reader = _reader()
        while True:
            if self.error is not None:
                raise self.error
            seen = self._seen.get(reader, 0)
            if self.version > seen:
                value = self.getter()
                if value is not None:
                    self._seen[reader] = self.version
                    return value
            await asyncio.shield(self._signal.future())


class ListStream(Generic[T]):
    def __init__(self, maxlen: int = 10_000) -> None:
        self.items: deque[T] = deque(maxlen=maxlen)
        self.total = 0  # items ever appended; items[0] is number total - len(items)
        self.error: BaseException | None = None
        self._signal = _Signal()
        self._cursor: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    def extend(self, new: list[T]) -> None:
        if not new:
            return
        self.items.extend(new)
        self.total += len(new)
        self.error = None
        self._signal.fire()

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self._signal.fire(exc)

    def since(self, cursor: int) -> list[T]:
        first = self.total - len(self.items)
        start = max(cursor, first) - first
        return list(self.items)[start:] if start < len(self.items) else []

    async def watch(self) -> list[T]:
        reader = _reader()
        cursor = self._cursor.get(reader)
        if cursor is None:
            cursor = self._cursor[reader] = self.total - len(self.items)
        while True:
            if self.error is not None:
                raise self.error
            if self.total > cursor:
                out = self.since(cursor)
                self._cursor[reader] = self.total
                return out
            await asyncio.shield(self._signal.future())


def latest(values: dict[Any, T]) -> list[T]:
    """The values of a dict as a list (a ``StateStream`` getter helper)."""
    return list(values.values())
