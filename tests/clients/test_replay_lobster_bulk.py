"""LOBSTER replay's bulk path: numpy blocks and packed rows give what the exact path gives.

Covers ``clients/replay/lobster_bulk.py`` and the block loop of
``clients/replay/lobster_replay.py`` (``replay_rows`` on ``pair_files`` of two unread
files). The oracle everywhere is the row-by-row reader and the pair-by-pair loop, run on
the same files through ``zip_longest`` (which never takes the bulk path).
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.replay import lobster, lobster_bulk
from clients.replay.lobster import book_depth, read_book, read_messages
from clients.replay.lobster_replay import (
    FilePairs,
    LobsterReplay,
    _Run,
    pair_files,
    replay_rows,
    report,
)

NAME = "AMZN_2012-06-21_34200000_57600000_{}_5.csv"
EXCERPT = Path(__file__).resolve().parents[1] / "data"
MESSAGES, BOOK = EXCERPT / NAME.format("message"), EXCERPT / NAME.format("orderbook")
TIMING = ("elapsed_s", "messages_per_s")


def exact(path: Path, depth: int | None) -> list:
    rows = lobster.FileRows(path, depth).rows()
    return list(rows)


def run_both(m: Path, b: Path, depth: int = 0, **kw: Any) -> tuple[dict, dict, int]:
    """The report of the bulk path and of the exact path on the same files, and how many
    chunks the bulk path ran in its block loop."""
    depth = depth or book_depth(b)
    chunks = 0
    real_chunk = _Run._chunk

    def counting(self: _Run, *args: Any) -> bool:
        nonlocal chunks
        chunks += 1
        return real_chunk(self, *args)

    out = []
    for bulk in (True, False):
        replay = LobsterReplay("T", depth)
        if bulk:
            pairs = pair_files(read_messages(m), read_book(b, depth))
            assert type(pairs) is FilePairs
        else:
            pairs = zip_longest(read_messages(m), read_book(b, depth))
        with mock.patch.object(_Run, "_chunk", counting):
            bad = replay_rows(replay, pairs, **kw)
        replay.engine.validate()
        rep = report(replay, 1.0, bad)
        for key in TIMING:
            rep.pop(key)
        out.append(rep)
    return out[0], out[1], chunks


# -- the block parsers against the exact reader -------------------------------------------


def test_blocks_of_the_excerpt_equal_the_exact_reader() -> None:
    cols = lobster_bulk.message_block(MESSAGES.read_bytes(), 1)
    assert cols is not None and cols.messages() == exact(MESSAGES, None)
    rows = lobster_bulk.book_block(BOOK.read_bytes(), 20)
    unpack = lobster_bulk.row_struct(20).unpack
    assert rows is not None and [unpack(r) for r in rows.raw] == exact(BOOK, 5)


TIME = st.one_of(
    st.builds(lambda w, f: f"{w}.{f}", st.integers(0, 90_000),
              st.text("0123456789", min_size=1, max_size=20)),
    st.sampled_from(["34200", "34200.", ".5", "-1.5", "1.2.3", "1e3", "1234567890.5"]),
)  # fmt: skip
FIELD = st.one_of(
    st.integers(-3, 3).map(str),
    st.integers(-(10**12), 10**12).map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["007", "-0", "--1", "1-", "-", "", " 4", "+2", "1.5", "9999999999",
                     "-9999999999", "0000000000000000000000001"]),
)  # fmt: skip
MESSAGE_LINE = st.one_of(
    st.tuples(TIME, st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "8", "0"]),
              *[st.sampled_from(["1", "11", "-1", "0", "2"])] * 2, FIELD,
              st.sampled_from(["1", "-1", "0"])).map(",".join),
    st.sampled_from(["", "1,2,3", "34200.1,1,5,10,100,1,7", "34200.1,1,5,10,100", "\r"]),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(MESSAGE_LINE, min_size=1, max_size=12), newline=st.booleans())
def test_a_message_block_is_the_exact_reading_or_refused(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], newline: bool
) -> None:
    data = ("\n".join(lines) + ("\n" if newline else "")).encode()
    path = tmp_path_factory.mktemp("m") / "m.csv"
    path.write_bytes(data)
    got = lobster_bulk.message_block(data, 1)
    if got is not None:  # refusing is always safe: the exact reader reads the block
        assert got.messages() == exact(path, None)


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(MESSAGE_LINE, min_size=1, max_size=12), newline=st.booleans())
def test_the_one_pass_message_parser_is_the_numpy_one(lines: list[str], newline: bool) -> None:
    """``message_block_scan`` (the compiled build's parser; here whichever build runs)
    gives what ``message_block_numpy`` (the pure build's) gives, refusals included."""
    data = ("\n".join(lines) + ("\n" if newline else "")).encode()
    want = lobster_bulk.message_block_numpy(data, 3)
    assert lobster_bulk.message_block_scan(data, 3) == want
    assert lobster_bulk.message_block(data, 3) == want


def test_the_one_pass_message_parser_on_the_excerpt_and_its_edges() -> None:
    data = MESSAGES.read_bytes()
    got = lobster_bulk.message_block_scan(data, 1, data.count(b"\n"))
    assert got is not None and got == lobster_bulk.message_block_numpy(data, 1)
    cases = [b"34200.017459617,5,0,1,2238200,-1\n", b"1.5,1,1,1,1,1", b"1.,1,1,1,1,1\n",
             b".5,1,1,1,1,1\n", b"123456789.5,1,1,1,1,1\n", b"1234567890.5,1,1,1,1,1\n",
             b"1.123456789012345678,1,1,1,1,1\n", b"1.1234567890123456789,1,1,1,1,1\n",
             b"1.0000000004,1,1,1,1,1\n", b"1.0000000005,1,1,1,1,1\n",
             b"1.9999999995,1,1,1,1,1\n", b"1.99999999949999,1,1,1,1,1\n",
             b"1.5,7,0,0,-1,0\n", b"1.5,7,0,0,2,0\n", b"1.5,7,0,0,-2,0\n", b"1.5,6,0,0,0,0\n",
             b"1.5,5,0,1,1,1\n", b"1.5,5,1,0,1,1\n", b"1.5,4,0,1,1,1\n", b"1.5,1,1,1,1,0\n",
             b"1.5,0,1,1,1,1\n", b"1.5,8,1,1,1,1\n", b"1.5,1,-5,1,1,1\n", b"1.5,1,1,1,1,-1\n",
             b"1.5,1,1,1,1\n", b"1.5,1,1,1,1,1,1\n", b"1.5,1,1,1,1,1\n\n", b"-1.5,1,1,1,1,1\n",
             b"1.-5,1,1,1,1,1\n", b"1.5,1,1,1,1,-\n", b"1.5,1,1,1,1,1-\n", b"1.5,1,1,,1,1\n",
             b"1.5,6,0,-99999999999999999,1,1\n", b"1.5,6,0,-999999999999999999,1,1\n",
             b"1.5,6,0,000000000000000001,1,1\n", b"1.5,6,0,0000000000000000001,1,1\n",
             b"1.5.5,1,1,1,1,1\n", b"1,5,1,1,1,1,1\n", b"1.5,1,1,1,1,1\r\n"]  # fmt: skip
    for data in cases:
        want = lobster_bulk.message_block_numpy(data, 1)
        assert lobster_bulk.message_block_scan(data, 1) == want, data
    assert lobster_bulk.message_block_scan(cases[0], 1) is not None
    with pytest.raises(ValueError):
        lobster_bulk.message_block_scan(cases[0] * 2, 1, 1)  # more lines than counted
    with pytest.raises(ValueError):
        lobster_bulk.message_block_scan(cases[0] * 2, 1, 3)  # fewer


SIDED = st.tuples(
    st.builds(lambda w, f: f"{w}.{f}", st.integers(0, 90_000),
              st.text("0123456789", min_size=1, max_size=12)),
    st.sampled_from(["1", "2", "3", "4", "5"]), st.integers(1, 10**12).map(str),
    st.integers(1, 10**6).map(str), st.integers(1, 10**11).map(str),
    st.sampled_from(["1", "-1"]),
).map(",".join)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(SIDED, min_size=1, max_size=12))
def test_a_valid_message_block_is_read_in_bulk(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path_factory.mktemp("m") / "m.csv"
    path.write_bytes(data)
    got = lobster_bulk.message_block(data, 1)
    assert got is not None and got.messages() == exact(path, None)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.lists(FIELD, min_size=3, max_size=5).map(",".join), min_size=1,
                      max_size=12))  # fmt: skip
def test_a_book_block_is_the_exact_reading_or_refused(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path_factory.mktemp("b") / "b.csv"
    path.write_bytes(data)
    got = lobster_bulk.book_block(data, 4)
    if got is not None:
        assert [lobster_bulk.row_struct(4).unpack(r) for r in got.raw] == exact(path, 1)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.lists(FIELD, min_size=3, max_size=5).map(",".join), min_size=1,
                      max_size=12),
       newline=st.booleans())  # fmt: skip
def test_the_one_pass_book_parser_is_the_numpy_one(lines: list[str], newline: bool) -> None:
    """``book_block_scan`` (the compiled build's parser; here whichever build runs) gives
    what ``book_block_numpy`` (the pure build's) gives, refusals included."""
    data = ("\n".join(lines) + ("\n" if newline else "")).encode()
    assert lobster_bulk.book_block_scan(data, 4) == lobster_bulk.book_block_numpy(data, 4)
    assert lobster_bulk.book_block(data, 4) == lobster_bulk.book_block_numpy(data, 4)


def test_the_one_pass_book_parser_on_the_excerpt_and_its_edges() -> None:
    data = BOOK.read_bytes()
    got = lobster_bulk.book_block_scan(data, 20, data.count(b"\n"))
    assert got is not None and got == lobster_bulk.book_block_numpy(data, 20)
    cases = [b"5,1,4,1\n-3,0,-1,0\n", b"5,1,4,1\n5,1,4,1\n6,1,4,1\n", b"5,1,4,1",
             b"999999999999999999,1,4,1\n", b"1000000000000000000,1,4,1\n",
             b"-999999999999999999,0,4,1\n", b"-1000000000000000000,0,4,1\n",
             b"-99999999999999999999,0,4,1\n", b"0000000000000000000000001,1,4,1\n",
             b"5,1,4,-0\n", b"5,1,4,1,\n", b"5,1,4\n", b"5,1,4,1\n\n", b"5,,4,1\n",
             b"-,1,4,1\n", b"5,1-,4,1\n", b"5,1,4,1\r\n", b"5,0,4,1\n0,1,4,1\n"]  # fmt: skip
    for data in cases:
        assert lobster_bulk.book_block_scan(data, 4) == lobster_bulk.book_block_numpy(data, 4), data
    wide = b"".join(b",".join(b"%d" % (r * 100 + c + 1) for c in range(64)) + b"\n"
                    for r in range(3))  # fmt: skip
    got = lobster_bulk.book_block_scan(wide, 64)
    assert got is not None and got.changed == [-1, -1, -1]
    assert got == lobster_bulk.book_block_numpy(wide, 64)
    with pytest.raises(ValueError):
        lobster_bulk.book_block_scan(b"5,1,4,1\n5,1,4,1\n", 4, 1)  # more lines than counted


LEVEL = st.one_of(
    st.tuples(st.integers(1, 10**11), st.integers(1, 10**6)),
    st.tuples(st.sampled_from([0, 5, -9999999999, 9999999999]), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(LEVEL, min_size=2, max_size=2), min_size=1, max_size=12))
def test_a_valid_book_block_is_read_in_bulk(
    tmp_path_factory: pytest.TempPathFactory, rows: list
) -> None:
    data = "".join(",".join(str(v) for lv in row for v in lv) + "\n" for row in rows).encode()
    path = tmp_path_factory.mktemp("b") / "b.csv"
    path.write_bytes(data)
    got = lobster_bulk.book_block(data, 4)
    assert got is not None
    assert [lobster_bulk.row_struct(4).unpack(r) for r in got.raw] == exact(path, 1)


def test_plain_rows_are_not_refused() -> None:
    data = b"34200.017459617,5,0,1,2238200,-1\n34200.1,1,7,-0,2238100,1\n"
    assert lobster_bulk.message_block(data, 1) is None  # size 0 breaks a rule
    data = b"34200.017459617,5,0,1,2238200,-1\n34200.1,3,7,5,2238100,1\n0.123456789012,6,0,5,1,0"
    cols = lobster_bulk.message_block(data, 4)
    assert cols is not None and list(cols.line) == [4, 5, 6]
    assert cols.ts == [34_200_017_459_617, 34_200_100_000_000, 123_456_789]
    rows = lobster_bulk.book_block(b"5,1,4,1\n-3,0,-1,0\n", 4)
    unpack = lobster_bulk.row_struct(4).unpack
    assert rows is not None and [unpack(r) for r in rows.raw] == [
        (5, 1, 4, 1),
        (lobster.ASK_PAD, 0, lobster.BID_PAD, 0),
    ]


# -- the replay: bulk path against the pair-by-pair path ---------------------------------


def test_the_excerpt_replays_the_same_on_both_paths() -> None:
    bulk, exact_path, chunks = run_both(MESSAGES, BOOK, check_every=250)
    assert chunks > 0
    assert bulk == exact_path
    assert bulk["rows_compared"] == bulk["rows_matched"] == 2999


def corrupt(tmp: Path, cells: list[tuple[int, int, int]]) -> Path:
    """A copy of the excerpt's orderbook with ``cells`` (row, column, delta) changed."""
    lines = BOOK.read_text().splitlines()
    for r, c, delta in cells:
        fields = lines[r].split(",")
        fields[c] = str(int(fields[c]) + delta)
        lines[r] = ",".join(fields)
    out = tmp / "corrupt_orderbook_5.csv"
    out.write_text("\n".join(lines) + "\n")
    return out


def test_a_corrupted_best_ask_size_is_a_mismatch_at_its_row(tmp_path: Path) -> None:
    b = corrupt(tmp_path, [(1500, 1, 1)])
    bulk, exact_path, chunks = run_both(MESSAGES, b)
    assert chunks > 0 and bulk == exact_path
    assert bulk["first_mismatch"]["line"] == 1501
    assert bulk["rows_matched"] < bulk["rows_compared"] == 2999


@settings(max_examples=25, deadline=None)
@given(cells=st.lists(st.tuples(st.integers(0, 2999), st.integers(0, 19),
                                st.sampled_from([1, -1, 100, -100, 7, 10**6])),
                      min_size=1, max_size=3),
       block=st.sampled_from([1, 7, 640, 2999, 5000]))  # fmt: skip
def test_corrupted_cells_are_reported_as_the_exact_path_reports_them(
    tmp_path_factory: pytest.TempPathFactory, cells: list, block: int
) -> None:
    b = corrupt(tmp_path_factory.mktemp("c"), cells)
    with mock.patch.object(lobster_bulk, "BLOCK_LINES", block):
        bulk, exact_path, _ = run_both(MESSAGES, b)
    assert bulk == exact_path


def write_pairs(tmp: Path, messages: list[str], rows: list[str]) -> tuple[Path, Path]:
    m, b = tmp / "T_message_1.csv", tmp / "T_orderbook_1.csv"
    m.write_text("".join(line + "\n" for line in messages))
    b.write_text("".join(line + "\n" for line in rows))
    return m, b


CROSSED = (
    ["1.0,1,50,10,101,-1", "1.1,1,51,10,101,-1", "1.2,1,1,5,101,-1", "1.3,1,2,5,99,1",
     "1.4,1,3,5,101,-1", "1.5,1,4,5,101,-1"],
    ["101,10,102,10", "101,10,100,10", "101,15,100,10", "101,15,103,5", "101,20,100,10",
     "101,25,100,10"],
)  # fmt: skip


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("block", [1, 2, 4, 1000])
def test_rows_the_book_cannot_take_are_bad_rows_on_both_paths(
    tmp_path: Path, strict: bool, block: int
) -> None:
    m, b = write_pairs(tmp_path, *CROSSED)
    with mock.patch.object(lobster_bulk, "BLOCK_LINES", block):
        bulk, exact_path, chunks = run_both(m, b, strict=strict, check_every=1)
    assert bulk == exact_path
    assert bulk["bad_rows"] == (1 if strict else 2)  # strict stops at the unseedable row 1
    assert chunks > 0 or strict


@pytest.mark.parametrize("block", [1, 2, 3, 1000])
@pytest.mark.parametrize("strict", [False, True])
def test_a_bad_line_anywhere_falls_back_to_the_exact_path(
    tmp_path: Path, block: int, strict: bool
) -> None:
    messages = [f"1.{k},1,{k + 1},5,101,-1" for k in range(6)]
    rows = [f"101,{5 * (k + 1)},100,10" for k in range(6)]
    for k in range(6):
        for broken_m, broken_b in ((f"1.{k},1,x,5,101,-1", rows[k]),
                                   (messages[k], "101,25"), (messages[k], "")):  # fmt: skip
            m, b = write_pairs(tmp_path, [*messages[:k], broken_m, *messages[k + 1 :]],
                               [*rows[:k], broken_b, *rows[k + 1 :]])  # fmt: skip
            with mock.patch.object(lobster_bulk, "BLOCK_LINES", block):
                bulk, exact_path, _ = run_both(m, b, 1, strict=strict)
            assert bulk == exact_path


def test_files_of_unequal_length_report_the_missing_row(tmp_path: Path) -> None:
    messages = [f"1.{k},1,{k + 1},5,101,-1" for k in range(6)]
    rows = [f"101,{5 * (k + 1)},100,10" for k in range(6)]
    for cut_m, cut_b in ((6, 4), (3, 6)):
        m, b = write_pairs(tmp_path, messages[:cut_m], rows[:cut_b])
        with mock.patch.object(lobster_bulk, "BLOCK_LINES", 2):
            bulk, exact_path, _ = run_both(m, b)
        assert bulk == exact_path and bulk["bad_rows"] == 1


def test_progress_ticks_add_up_to_the_pairs(tmp_path: Path) -> None:
    ticks: list[int] = []
    replay = LobsterReplay("AMZN", 5)
    replay_rows(replay, pair_files(read_messages(MESSAGES), read_book(BOOK, 5)), tick=ticks.append)
    assert sum(ticks) == 3000 and all(t > 0 for t in ticks)


def test_a_started_reader_is_not_read_again_in_bulk() -> None:
    messages = read_messages(MESSAGES)
    first = next(messages)
    pairs = pair_files(messages, read_book(BOOK, 5))
    assert type(pairs) is not FilePairs
    assert next(pairs)[0] == exact(MESSAGES, None)[1] != first


def test_pairs_read_in_bulk_are_taken_like_any_iterator() -> None:
    pairs = pair_files(read_messages(MESSAGES), read_book(BOOK, 5))
    replay_rows(LobsterReplay("AMZN", 5), pairs)
    assert list(pairs) == []


def test_an_observer_sees_every_command_on_both_paths() -> None:
    """With an observer the bulk path sends every command through ``_apply``/``_order``
    (none straight to the engine): it sees what the exact path's observer sees, and the
    report is the one without an observer."""
    seen: dict[bool, list] = {True: [], False: []}
    reports = []
    for bulk in (True, False, None):
        observer = None if bulk is None else (lambda cmd, ev, b=bulk: seen[b].append((cmd, ev)))
        replay = LobsterReplay("T", 5, observer=observer)
        if bulk is False:
            pairs = zip_longest(read_messages(MESSAGES), read_book(BOOK, 5))
        else:
            pairs = pair_files(read_messages(MESSAGES), read_book(BOOK, 5))
        rep = report(replay, 1.0, replay_rows(replay, pairs))
        rep.pop("elapsed_s")
        reports.append(rep)
    assert reports[0] == reports[1] == reports[2]
    assert seen[True] == seen[False]
    new_orders = [c for c, _ in seen[True] if type(c).__name__ == "NewOrder" and c.account == 1]
    assert len(new_orders) == reports[0]["new_orders"] > 1000


HALTS = (
    ["1.01,1,50,10,101,-1", "1.02,7,0,0,-1,-1", "1.03,1,5,5,100,1", "1.04,2,5,1,100,1",
     "1.05,7,0,0,0,-1", "1.06,1,6,4,102,1", "1.07,7,0,0,1,-1", "1.08,6,-3,4,101,1",
     "1.09,1,7,3,99,1", "1.10,4,6,4,102,1", "1.11,4,51,4,101,-1", "1.12,1,8,2,100,1",
     "1.13,3,8,2,100,1"],
    ["101,10,100,10", "101,10,100,10", "101,10,100,15", "101,10,100,14", "101,10,100,14",
     "101,10,102,4", "101,10,102,4", "101,10,102,4", "101,10,102,4", "101,10,100,14",
     "101,6,100,14", "101,6,100,16", "101,6,100,14"],
)  # fmt: skip


@pytest.mark.parametrize("block", [1, 2, 3, 5, 1000])
@pytest.mark.parametrize("uncross", ["1.10,4,6,4,102,1", "1.10,3,6,4,102,1"])
def test_halts_and_a_pending_resume_run_the_same_on_both_paths(
    tmp_path: Path, block: int, uncross: str
) -> None:
    """A halt, quoting, a resume that waits for the book to uncross (new orders meanwhile
    go through ``step``), uncrossed by an execution or by a delete (after which ``step``
    resumes at once), then new orders and a delete straight to the engine again."""
    messages = [uncross if line.startswith("1.10,") else line for line in HALTS[0]]
    m, b = write_pairs(tmp_path, messages, HALTS[1])
    with mock.patch.object(lobster_bulk, "BLOCK_LINES", block):  # chunks as long as blocks
        bulk, exact_path, chunks = run_both(m, b, 1)
    assert bulk == exact_path and chunks > 0
    assert bulk["halt_messages"] == 3 and bulk["bad_rows"] == 0
    assert bulk["rows_compared"] == bulk["rows_matched"] == len(HALTS[0]) - 1
