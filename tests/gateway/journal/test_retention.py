"""prune: whole segments at or before the snapshot go; everything after it, and the newest, stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.journal import JournalWriter, prune, read_records
from gateway.journal.layout import list_segments
from tests.gateway.journal.helpers import payloads, segment_paths, write_journal


def test_prune_deletes_only_segments_wholly_at_or_before_the_seq(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000001.journal").write_bytes(b"")  # names are all prune reads
    for first in (4, 7, 10):
        (tmp_path / f"{first:020d}.journal").write_bytes(b"")
    assert prune(tmp_path, 5) == [tmp_path / "00000000000000000001.journal"]  # 1..3 <= 5
    assert prune(tmp_path, 5) == []  # 4..6 holds 6 > 5
    assert [p.name[-10:] for p in prune(tmp_path, 6)] == ["04.journal"]
    assert [s.first_seq for s in list_segments(tmp_path)] == [7, 10]


def test_prune_never_deletes_the_newest_segment(tmp_path: Path) -> None:
    items = payloads(30, max_len=20)
    with JournalWriter(tmp_path, next_seq=1, segment_bytes=120) as w:
        for p in items:
            w.append(p)
        current = w.segment_path
        deleted = prune(tmp_path, 10**9)
        assert current not in deleted and current.exists()
        assert segment_paths(tmp_path) == [current]
        seq = w.append(b"still writing")
    assert list(read_records(tmp_path, after_seq=seq - 1)) == [(seq, b"still writing")]


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 60),
    segment_bytes=st.integers(60, 400),
    upto=st.integers(0, 70),
    seed=st.integers(0, 1000),
)
def test_after_prune_the_journal_still_covers_everything_after_the_seq(
    tmp_path_factory: pytest.TempPathFactory, count: int, segment_bytes: int, upto: int, seed: int
) -> None:
    directory = tmp_path_factory.mktemp("j")
    items = payloads(count, seed=seed, max_len=40)
    write_journal(directory, items, segment_bytes=segment_bytes)
    before = list_segments(directory)
    deleted = prune(directory, upto)
    after = list_segments(directory)
    assert after and after[-1] == before[-1]
    assert [s.path for s in before] == deleted + [s.path for s in after]
    # every deleted segment held only records <= upto: the next one starts at or before upto+1
    assert after[0].first_seq <= upto + 1 or len(after) == 1
    # and the journal still replays every record after upto (when the journal reaches it)
    start = min(upto, count)
    assert list(read_records(directory, after_seq=start)) == [
        (seq, items[seq - 1]) for seq in range(start + 1, count + 1)
    ]
    # a later prune from a segment that could be deleted would have been deleted now
    if len(after) > 1:
        assert after[1].first_seq - 1 > upto
