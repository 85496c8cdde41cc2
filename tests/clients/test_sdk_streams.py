"""What ``watch_*`` waits on: per-task cursors, latest state, failure propagation."""

from __future__ import annotations

import asyncio

import pytest

from clients.sdk.streams import ListStream, StateStream


async def test_list_stream_gives_each_task_every_item_once() -> None:
    s: ListStream[int] = ListStream()
    got: dict[str, list[int]] = {"a": [], "b": []}
    started = asyncio.Event()
    ready = {"n": 0}

    async def reader(name: str, n: int) -> None:
        first = True
        while len(got[name]) < n:
            if first:
                ready["n"] += 1
                if ready["n"] == 2:
                    started.set()
                first = False
            got[name] += await s.watch()

    ta = asyncio.create_task(reader("a", 5))
    tb = asyncio.create_task(reader("b", 5))
    await started.wait()
    await asyncio.sleep(0)
    s.extend([1, 2])
    await asyncio.sleep(0)
    s.extend([3])
    s.extend([4, 5])  # two batches before the readers run again: nothing lost
    await asyncio.wait_for(asyncio.gather(ta, tb), 2)
    assert got == {"a": [1, 2, 3, 4, 5], "b": [1, 2, 3, 4, 5]}


async def test_list_stream_first_call_returns_what_is_kept() -> None:
    s: ListStream[int] = ListStream()
    s.extend([1])

    first = await asyncio.create_task(s.watch())
    assert first == [1]

    async def second_call() -> list[int]:
        await s.watch()  # [1]
        return await s.watch()  # waits for a new item

    t = asyncio.create_task(second_call())
    await asyncio.sleep(0.01)
    assert not t.done()
    s.extend([2])
    assert await asyncio.wait_for(t, 1) == [2]


async def test_list_stream_keeps_only_maxlen() -> None:
    s: ListStream[int] = ListStream(maxlen=3)

    async def two_calls() -> list[int]:
        await s.watch()
        for i in range(10):
            s.extend([i])
        return await s.watch()

    t = asyncio.create_task(two_calls())
    await asyncio.sleep(0)
    s.extend([-1])
    assert await asyncio.wait_for(t, 1) == [7, 8, 9]


async def test_state_stream_returns_latest_once_per_change() -> None:
    box = {"v": None}
    s: StateStream[int] = StateStream(lambda: box["v"])
    t = asyncio.create_task(s.watch())
    await asyncio.sleep(0.01)
    s.publish()  # no value yet: keep waiting
    await asyncio.sleep(0.01)
    assert not t.done()
    box["v"] = 1
    s.publish()
    box["v"] = 2
    s.publish()
    assert await asyncio.wait_for(t, 1) == 2

    async def twice() -> tuple[int, bool]:
        a = await s.watch()  # this task has not seen version 3: at once
        try:
            async with asyncio.timeout(0.05):
                await s.watch()  # the same task again: waits for a change
        except TimeoutError:
            return a, False
        return a, True

    assert await asyncio.create_task(twice()) == (2, False)


async def test_fail_reaches_waiters_and_cancel_does_not_break_others() -> None:
    s: StateStream[int] = StateStream(lambda: 1)
    a = asyncio.create_task(s.watch())
    b = asyncio.create_task(s.watch())
    await asyncio.sleep(0.01)
    a.cancel()
    await asyncio.sleep(0.01)
    assert not b.done()
    s.fail(ConnectionError("gone"))
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(b, 1)
