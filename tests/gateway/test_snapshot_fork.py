"""``gateway.snapshot_fork``: a job run by a forked child on the image of the fork, its
answer or its error carried back; a snapshot written by a child continues the parent's
chain (``SnapshotWriter.adopt``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clearing.snapshot import verify_snapshot
from gateway import snapshot_fork
from gateway.snapshot_fork import ForkedJobError, fork_job
from gateway.snapshot_store import SnapshotWriter, list_snapshots, snapshot_dir, snapshot_name
from tests.gateway.test_snapshot_store import make_state

pytestmark = [
    pytest.mark.skipif(not snapshot_fork.available(), reason="forked snapshots: Linux only"),
    pytest.mark.timeout(30),
]


async def test_the_child_answers_from_the_image_of_the_fork() -> None:
    book = [1, 2, 3]
    job = fork_job(lambda: [sum(book), "done", b"\x00\x01"])
    book.append(100)  # the parent moves on at once; the child keeps its copy
    assert await job.result() == [6, "done", b"\x00\x01"]
    assert book == [1, 2, 3, 100]


async def test_an_error_in_the_child_is_raised_in_the_parent() -> None:
    def fails() -> None:
        raise ValueError("no state at that seq")

    with pytest.raises(ForkedJobError, match="ValueError: no state at that seq"):
        await fork_job(fails).result()


async def test_a_child_that_dies_without_an_answer_is_an_error() -> None:
    job = fork_job(lambda: os._exit(3))
    with pytest.raises(ForkedJobError, match="without an answer"):
        await job.result()


async def test_a_snapshot_written_by_a_child_continues_the_parents_chain(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path)
    first = writer.write(make_state(10, ts=1))

    def job() -> list:  # the child's copy of the writer chains onto ``first``
        path = writer.write(make_state(20, ts=2, usd_a=650))
        return [str(path), writer.prev_root, writer.prev_digest]

    path, root, digest = await fork_job(job).result()
    assert writer.latest == first  # the parent's writer learns of it only by adopting it
    writer.adopt(Path(path), root, digest)
    third = writer.write(make_state(30, ts=3, usd_a=600))
    files = list_snapshots(snapshot_dir(tmp_path))
    assert [p.name for p in files] == [snapshot_name(s) for s in (10, 20, 30)]
    contents = [p.read_bytes() for p in files]
    assert verify_snapshot(contents[1], contents[0]).ok
    assert verify_snapshot(contents[2], contents[1]).ok
    assert third == files[2]
