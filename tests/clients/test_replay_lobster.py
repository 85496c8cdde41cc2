"""LOBSTER replay: the readers, the replay rules on crafted books, the excerpt, the full day.

Covers ``clients/replay/lobster.py`` (reader, writer), ``clients/replay/lobster_replay.py``
(the driver) and the ``--format lobster`` path of ``clients/replay/cli.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.replay import lobster
from clients.replay.lobster import (
    ASK_PAD,
    BID_PAD,
    BadRow,
    LobsterMessage,
    book_depth,
    book_row,
    parse_time_ns,
    read_book,
    read_messages,
    ticker_of,
)
from clients.replay.lobster_replay import LobsterReplay, pair_files, replay_rows, report
from gateway.cli import main
from matching import BUY, SELL, InstrumentStatus

NAME = "AMZN_2012-06-21_34200000_57600000_{}_5.csv"
EXCERPT = Path(__file__).resolve().parents[1] / "data"
FULL = Path(__file__).resolve().parents[2].parent / "shared/data/lobster"


def files(where: Path) -> tuple[Path, Path]:
    return where / NAME.format("message"), where / NAME.format("orderbook")


# -- readers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("34200.017459617", 34_200_017_459_617),
        ("53142.439", 53_142_439_000_000),
        ("43002.632812672004", 43_002_632_812_672),  # float residue: rounded to the ns
        ("0.9999999995", 1_000_000_000),
        ("57600", 57_600_000_000_000),
        ("1.", 1_000_000_000),
    ],
)
def test_parse_time_ns_is_exact(text: str, ns: int) -> None:
    assert parse_time_ns(text) == ns


@pytest.mark.parametrize("text", ["", ".5", "-1.2", "1e3", "1.2.3", "12,5", "١٢.٣"])
def test_parse_time_ns_refuses_non_decimal_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time_ns(text)


def test_read_messages_types_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "34200.1,1,11,100,2238100,1\n"
        "34200.2,9,11,100,2238100,1\n"  # unknown type
        "34200.3,1,11,100\n"  # short row
        "\n"  # blank: skipped, still counted as a line
        "34200.4,3,11,0,2238100,1\n"  # zero size
        "x,3,11,5,2238100,1\n"
        "34200.5,6,-1,500,2238000,1\n"  # cross trade: negative id is fine
        "34200.6,7,0,0,-1,-1\n"  # halt
        "34200.7,4,11,5,2238100,2\n"  # direction
    )
    rows = list(read_messages(path))
    assert rows[0] == LobsterMessage(1, 34_200_100_000_000, 1, 11, 100, 2_238_100, 1)
    bad = [(r.line, r.error) for r in rows if type(r) is BadRow]
    assert [line for line, _ in bad] == [2, 3, 5, 6, 9]
    assert "unknown event type 9" in bad[0][1] and "6 columns" in bad[1][1]
    assert [r.type for r in rows if type(r) is LobsterMessage] == [1, 6, 7]


def test_book_depth_read_book_and_book_row(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        "101,5,100,7,102,1,9999999999,0\n"
        "101,5,100,7,102,1,77,0\n"  # a size-0 level is padding whatever its price
        "101,5,100,7\n"
        "101,-5,100,7,102,1,99,1\n"
    )
    assert book_depth(path) == 2
    rows = list(read_book(path, 2))
    assert rows[0] == (101, 5, 100, 7, 102, 1, BID_PAD, 0)
    assert rows[1] == rows[0]
    assert [(r.line, type(r)) for r in rows[2:]] == [(3, BadRow), (4, BadRow)]
    assert book_row([(101, 5), (102, 1)], [(100, 7)], 2) == rows[0]
    assert book_row([], [], 1) == (ASK_PAD, 0, BID_PAD, 0)
    bad = tmp_path / "odd.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="multiple of 4"):
        book_depth(bad)


def row_by_row(path: Path, parse) -> list:  # type: ignore[no-untyped-def]
    """The exact parser on every non-empty line: what the block reader must reproduce."""
    out: list = []
    for k, text in enumerate(path.read_text().split("\n"), 1):
        text = text.rstrip("\r")
        if text:
            try:
                out.append(parse(text.split(","), k))
            except ValueError as exc:
                out.append(BadRow(str(path), k, str(exc)))
    return out


def test_block_reader_gives_the_row_by_row_result_on_the_excerpt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, b = files(EXCERPT)
    width = 4 * book_depth(b)
    expected = (row_by_row(m, lobster._parse_message),
                row_by_row(b, lambda f, _k: lobster._parse_book_row(f, width)))  # fmt: skip

    def no_row_by_row(*_: object) -> None:
        raise AssertionError("a plain block went row by row")

    monkeypatch.setattr(lobster, "_parse_message", no_row_by_row)
    monkeypatch.setattr(lobster, "_parse_book_row", no_row_by_row)
    assert (list(read_messages(m)), list(read_book(b, 5))) == expected


def test_block_reader_times_of_every_decimal_count(tmp_path: Path) -> None:
    times = ["34200.5", "34200.05", "34200.000000001", "34200.123456789", "57599.99999999",
             "0.1", "34200.1000"]  # fmt: skip
    path = tmp_path / "m.csv"
    path.write_text("".join(f"{t},1,{k + 1},10,2238100,1\n" for k, t in enumerate(times)))
    got = [r.ts for r in read_messages(path)]
    assert got == [parse_time_ns(t) for t in times]
    assert got[:4] == [34_200_500_000_000, 34_200_050_000_000, 34_200_000_000_001,
                       34_200_123_456_789]  # fmt: skip


TIMES = st.one_of(
    st.builds(lambda w, f: f"{w}.{f}", st.integers(0, 90_000),
              st.text("0123456789", min_size=1, max_size=12)),
    st.integers(0, 90_000).map(str),
    st.sampled_from(["34200.5", "0.9999999995", "x", "", "34200.", ".5", " 1.5"]),
)  # fmt: skip
FIELD = st.one_of(
    st.integers(-3, 3).map(str),
    st.integers(-(10**11), 10**11).map(str),
    st.sampled_from(["007", "-0", "1.5", "", " 4", "1_0", "+2", "9999999999", "-9999999999"]),
)


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(st.one_of(
        st.tuples(TIMES, st.sampled_from(["1", "2", "3", "4", "5", "6", "7"]),
                  *[st.sampled_from(["1", "11", "-1", "0"])] * 2, FIELD,
                  st.sampled_from(["1", "-1", "2"])).map(",".join),
        st.sampled_from(["", "1,2,3", "34200.1,1,5,10,100,1,7"]),
    ), max_size=40),
    copies=st.integers(1, 300), crlf=st.booleans(),
)  # fmt: skip
def test_block_reader_gives_the_row_by_row_result_on_any_message_file(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], copies: int, crlf: bool
) -> None:
    path = tmp_path_factory.mktemp("m") / "m.csv"
    path.write_bytes((("\r\n" if crlf else "\n").join(lines * copies) + "\n").encode())
    assert list(read_messages(path)) == row_by_row(path, lobster._parse_message)


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.lists(FIELD, min_size=3, max_size=5).map(",".join), max_size=30),
       copies=st.integers(1, 400))  # fmt: skip
def test_block_reader_gives_the_row_by_row_result_on_any_book_file(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], copies: int
) -> None:
    path = tmp_path_factory.mktemp("b") / "b.csv"
    path.write_text("\n".join(lines * copies) + "\n")
    expected = row_by_row(path, lambda f, _k: lobster._parse_book_row(f, 4))
    assert list(read_book(path, 1)) == expected


def test_ticker_of_file_names() -> None:
    assert ticker_of("/x/AMZN_2012-06-21_34200000_57600000_message_5.csv") == "AMZN"
    assert ticker_of("MSFT_2012-06-21_34200000_57600000_orderbook_10.csv") == "MSFT"
    assert ticker_of("flow.csv") == "LOBSTER"


# -- crafted books: each rule of the replay -----------------------------------------------

T0 = 34_200_000_000_000


def msg(line: int, mtype: int, oid: int, size: int, price: int, direction: int) -> LobsterMessage:
    return LobsterMessage(line, T0 + line, mtype, oid, size, price, direction)


def row(asks: list[tuple[int, int]], bids: list[tuple[int, int]], depth: int = 1):
    return book_row(asks, bids, depth)


def run(pairs: list, depth: int = 1) -> LobsterReplay:
    replay = LobsterReplay("T", depth)
    bad = replay_rows(replay, pairs, check_every=1)
    assert bad == []
    replay.engine.validate()
    return replay


def level(replay: LobsterReplay, side: int, price: int) -> list[tuple[int, int]]:
    levels = replay.book.bids if side == BUY else replay.book.asks
    lv = levels.get(price)
    return [] if lv is None else [(o.order_id, o.leaves) for o in lv.orders()]


def test_seed_puts_one_synthetic_order_per_level_and_new_orders_queue_behind() -> None:
    pairs = [
        (msg(1, 5, 0, 1, 10050, 1), row([(101, 5), (103, 2)], [(100, 5)], 2)),  # hidden
        (msg(2, 1, 7, 3, 100, 1), row([(101, 5), (103, 2)], [(100, 8)], 2)),
        (msg(3, 1, 8, 2, 102, -1), row([(101, 5), (102, 2)], [(100, 8)], 2)),
    ]
    replay = run(pairs, depth=2)
    st = replay.stats
    assert st.seeded_orders == 3 and st.hidden_executions == 1
    assert st.rows_matched == st.rows_compared == 2
    head, *rest = level(replay, BUY, 100)
    assert head[0] < 0 and head[1] == 5 and rest == [(7, 3)]
    assert level(replay, SELL, 103)[0][1] == 2  # pushed out of view, still in the book


def test_slide_in_then_unknown_execution_is_moved_onto_synthetic_volume() -> None:
    # depth 1: a new best bid hides level 100; when it leaves, 100 slides back into view
    # with 4 more shares than the replay saw (they arrived unseen)
    pairs = [
        (msg(1, 1, 50, 5, 100, 1), row([(102, 5)], [(100, 5)])),  # seed
        (msg(2, 1, 7, 3, 100, 1), row([(102, 5)], [(100, 8)])),
        (msg(3, 1, 8, 2, 101, 1), row([(102, 5)], [(101, 2)])),
        (msg(4, 3, 8, 2, 101, 1), row([(102, 5)], [(100, 12)])),  # slide-in: +4 synthetic
        (msg(5, 3, 999, 5, 100, 1), row([(102, 5)], [(100, 7)])),  # unknown id: synthetic first
        (msg(6, 4, 12345, 2, 100, 1), row([(102, 5)], [(100, 5)])),  # unknown id execution
    ]
    replay = run(pairs)
    st = replay.stats
    assert st.rows_compared == st.rows_matched == 5
    assert st.rows_with_slide_in == 1 and st.slide_in_added == 4
    # the IOC hit order 7 (head of the queue); the fill was moved onto the synthetic order
    queue = level(replay, BUY, 100)
    assert queue[0] == (7, 3) and queue[1][0] < 0 and queue[1][1] == 2
    assert (st.executions, st.executions_unknown_id, st.executions_moved) == (1, 1, 1)
    assert st.executions_hit_named == 0


def test_execution_of_a_named_order_behind_others_is_moved_onto_it() -> None:
    pairs = [
        (msg(1, 1, 50, 10, 101, -1), row([(101, 10)], [(100, 5)])),  # seed: synthetic 10
        (msg(2, 1, 1, 4, 101, -1), row([(101, 14)], [(100, 5)])),
        (msg(3, 4, 1, 3, 101, -1), row([(101, 11)], [(100, 5)])),  # hits the synthetic head
        (msg(4, 3, 1, 1, 101, -1), row([(101, 10)], [(100, 5)])),  # order 1 has exactly 1 left
        (msg(5, 1, 2, 6, 101, -1), row([(101, 16)], [(100, 5)])),
        (msg(6, 4, 2, 6, 101, -1), row([(101, 10)], [(100, 5)])),  # moved: 2 leaves
        (msg(7, 3, 77, 10, 101, -1), row([(102, 1)], [(100, 5)])),  # 102 slides into view
    ]
    replay = run(pairs)
    st = replay.stats
    assert st.rows_compared == st.rows_matched == 6
    # without the moves order 1 would still hold 3 shares at its delete (a surplus)
    assert st.executions == 2 and st.executions_moved == 2 and st.surplus_on_delete == 0
    assert 1 not in replay.engine.orders and 2 not in replay.engine.orders
    assert not replay.book.asks.get(101) and level(replay, SELL, 102)[0][1] == 1


def test_partial_cancel_keeps_place_and_delete_surplus_stays_as_synthetic() -> None:
    pairs = [
        (msg(1, 1, 50, 5, 101, -1), row([(101, 5)], [(100, 5)])),
        (msg(2, 1, 7, 10, 101, -1), row([(101, 15)], [(100, 5)])),
        (msg(3, 1, 8, 1, 101, -1), row([(101, 16)], [(100, 5)])),
        (msg(4, 2, 7, 3, 101, -1), row([(101, 13)], [(100, 5)])),  # amend down in place
        (msg(5, 3, 7, 4, 101, -1), row([(101, 9)], [(100, 5)])),  # 7 holds 7, file says 4
        (msg(6, 2, 8, 2, 101, -1), row([(101, 7)], [(100, 5)])),  # more than 8 holds
    ]
    replay = run(pairs)
    st = replay.stats
    assert st.rows_compared == st.rows_matched == 5
    assert st.surplus_on_delete == 3
    queue = level(replay, SELL, 101)
    # seed 5, then the surplus of 7 in 7's place (minus the 1 share order 8 lacked)
    assert [q for _, q in queue] == [4, 3] and all(oid < 0 for oid, _ in queue)
    assert 7 not in replay.engine.orders and 8 not in replay.engine.orders


def test_halt_quoting_and_resume_follow_the_messages() -> None:
    pairs = [
        (msg(1, 1, 50, 10, 101, -1), row([(101, 10)], [(100, 10)])),
        (msg(2, 7, 0, 0, -1, -1), row([(101, 10)], [(100, 10)])),  # halt
        (msg(3, 1, 5, 5, 100, 1), row([(101, 10)], [(100, 15)])),  # order entered while halted
        (msg(4, 2, 5, 1, 100, 1), row([(101, 10)], [(100, 14)])),
        (msg(5, 7, 0, 0, 0, -1), row([(101, 10)], [(100, 14)])),  # quoting resumes
        (msg(6, 1, 6, 4, 102, 1), row([(101, 10)], [(102, 4)])),  # crosses: no trade yet
        (msg(7, 7, 0, 0, 1, -1), row([(101, 10)], [(102, 4)])),  # trading resumes: crossed
        (msg(8, 6, -3, 4, 101, 1), row([(101, 10)], [(102, 4)])),  # the cross print
        (msg(9, 4, 6, 4, 102, 1), row([(101, 10)], [(100, 14)])),  # executions uncross it
        (msg(10, 4, 51, 4, 101, -1), row([(101, 6)], [(100, 14)])),  # back to the matcher
    ]
    replay = run(pairs)
    st = replay.stats
    assert st.rows_compared == st.rows_matched == 9
    assert st.halt_messages == 3 and st.cross_trades == 1 and st.cross_qty == 4
    assert replay.book.status == InstrumentStatus.TRADING
    assert st.executions == 2 and st.drift == {}


def test_a_mismatch_is_recorded_then_the_book_is_resynchronised() -> None:
    pairs = [
        (msg(1, 1, 50, 10, 101, -1), row([(101, 10)], [(100, 10)])),
        (msg(2, 1, 1, 5, 101, -1), row([(101, 16)], [(100, 10)])),  # the file disagrees
        (msg(3, 1, 2, 5, 101, -1), row([(101, 21)], [(100, 10)])),  # and is right after
    ]
    replay = run(pairs)
    st = replay.stats
    assert (st.rows_compared, st.rows_matched, st.resyncs) == (2, 1, 1)
    assert st.first_mismatch == {
        "line": 2,
        "message": [T0 + 2, 1, 1, 5, 101, -1],
        "expected": [101, 16, 100, 10],
        "got": [101, 15, 100, 10],
    }


def test_bad_rows_are_skipped_with_line_numbers_or_stop_the_run(tmp_path: Path) -> None:
    m, b = tmp_path / "T_message_1.csv", tmp_path / "T_orderbook_1.csv"
    m.write_text(
        "1.0,1,50,10,101,-1\n"
        "1.1,1,1,5,101,-1\n"
        "1.2,1,two,5,101,-1\n"  # bad message: skipped, book row 3 resyncs
        "1.3,1,3,5,101,-1\n"
        "1.4,1,4,5,101,-1\n"
        "1.5,1,5,5,101,-1\n"
    )
    b.write_text(
        "101,10,100,10\n"
        "101,15,100,10\n"
        "101,20,100,10\n"
        "101,25\n"  # bad book row: message 4 applied, row 5 resyncs (no boundary known)
        "101,30,100,10\n"
        "101,35,100,10\n"
    )
    replay = LobsterReplay("T", 1)
    bad = replay_rows(replay, pair_files(read_messages(m), read_book(b, 1)), check_every=1)
    assert [(x.file, x.line) for x in bad] == [(str(m), 3), (str(b), 4)]
    assert replay.stats.rows_compared == replay.stats.rows_matched == 2
    assert replay.top() == (101, 35, 100, 10)
    strict = LobsterReplay("T", 1)
    bad = replay_rows(strict, pair_files(read_messages(m), read_book(b, 1)), strict=True)
    assert [x.line for x in bad] == [3] and strict.stats.rows_compared == 1
    # one file shorter than the other
    b.write_text("101,10,100,10\n101,15,100,10\n")
    short = LobsterReplay("T", 1)
    bad = replay_rows(short, pair_files(read_messages(m), read_book(b, 1)))
    assert [(x.file, x.line) for x in bad] == [("orderbook file", 3)]


def test_crossed_rows_are_bad_rows_not_tracebacks() -> None:
    pairs = [
        (msg(1, 1, 50, 10, 101, -1), row([(101, 10)], [(102, 10)])),  # crossed: cannot seed
        (msg(2, 1, 51, 10, 101, -1), row([(101, 10)], [(100, 10)])),  # seeds here
        (msg(3, 1, 1, 5, 101, -1), row([(101, 15)], [(100, 10)])),
        (msg(4, 1, 2, 5, 99, 1), row([(101, 15)], [(103, 5)])),  # row contradicts: crossed
        (msg(5, 1, 3, 5, 101, -1), row([(101, 20)], [(100, 10)])),  # resynchronised
        (msg(6, 1, 4, 5, 101, -1), row([(101, 25)], [(100, 10)])),
    ]
    replay = LobsterReplay("T", 1)
    bad = replay_rows(replay, pairs, check_every=1)
    assert [(b.line, b.error.split(":")[0]) for b in bad] == [
        (1, "cannot seed from this row"),
        (4, "cannot apply"),
    ]
    replay.engine.validate()
    st = replay.stats  # row 4 is compared (a mismatch) before its resync fails
    assert (st.rows_compared, st.rows_matched, st.first_mismatch["line"]) == (3, 2, 4)
    assert replay.top() == (101, 25, 100, 10)


# -- real data ---------------------------------------------------------------------------


def derive(msgs: list, rows: list, depth: int) -> list:
    """A level-``depth`` file from a deeper one: only messages that change the top ``depth``."""
    width = 4 * depth
    out = [(msgs[0], rows[0][:width])]
    for i in range(1, len(msgs)):
        if rows[i][:width] != rows[i - 1][:width]:
            out.append((msgs[i], rows[i][:width]))
    return out


def test_excerpt_every_row_matches() -> None:
    m, b = files(EXCERPT)
    replay = LobsterReplay(ticker_of(m), book_depth(b))
    bad = replay_rows(replay, pair_files(read_messages(m), read_book(b, 5)), check_every=250)
    replay.engine.validate()
    st = replay.stats
    assert bad == [] and st.first_mismatch is None
    assert st.rows_compared == st.rows_matched == 2999
    assert st.rows_with_slide_in > 0 and st.seeded_orders == 10
    assert st.executions_hit_named > 0.8 * st.executions


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_excerpt_cut_to_a_shallower_depth_still_matches_every_row(depth: int) -> None:
    m, b = files(EXCERPT)
    pairs = derive(list(read_messages(m)), list(read_book(b, 5)), depth)
    replay = LobsterReplay("AMZN", depth)
    assert replay_rows(replay, pairs, check_every=500) == []
    replay.engine.validate()
    assert replay.stats.rows_compared == replay.stats.rows_matched == len(pairs) - 1


@pytest.mark.slow
@pytest.mark.skipif(not FULL.is_dir(), reason=f"full LOBSTER sample not present at {FULL}")
def test_full_day_every_row_matches() -> None:
    m, b = files(FULL)
    replay = LobsterReplay(ticker_of(m), book_depth(b))
    bad = replay_rows(replay, pair_files(read_messages(m), read_book(b, 5)), check_every=20_000)
    replay.engine.validate()
    out = report(replay, 1.0, bad)
    assert out["rows_compared"] == out["rows_matched"] == 155_934
    assert out["first_mismatch"] is None and out["drift"] == {}
    assert out["executions"] == 8974 and out["executions_hit_named"] > 0.8 * 8974


# -- the command line --------------------------------------------------------------------


def test_cli_end_to_end_report_and_top_out(tmp_path: Path) -> None:
    m, b = files(EXCERPT)
    out, top = tmp_path / "report.json", tmp_path / "top.csv"
    rc = main(["replay", "--format", "lobster", str(m), "--book-file", str(b),
               "--report", str(out), "--top-out", str(top)])  # fmt: skip
    assert rc == 0
    rep = json.loads(out.read_text())
    for key in ("rows_compared", "rows_matched", "first_mismatch", "executions",
                "executions_hit_named", "messages_per_s"):  # fmt: skip
        assert key in rep
    assert rep["rows_compared"] == rep["rows_matched"] == 2999
    assert rep["messages_per_s"] > 0
    assert top.read_text() == b.read_text()  # the engine's book, row for row, byte for byte


def test_cli_prints_the_report_without_report_flag(capsys: pytest.CaptureFixture) -> None:
    m, b = files(EXCERPT)
    assert main(["replay", "--format", "lobster", str(m), "--book-file", str(b)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows_matched"] == 2999
    assert "2999/2999 orderbook rows matched" in captured.err


def test_cli_user_errors_are_one_line_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    m, b = files(EXCERPT)
    assert main(["replay", "--format", "lobster", str(m)]) == 2
    assert "needs --book-file" in capsys.readouterr().err
    assert main(["replay", "--format", "lobster", str(tmp_path / "nope.csv"),
                 "--book-file", str(b)]) == 2  # fmt: skip
    assert "no such file" in capsys.readouterr().err
    odd = tmp_path / "odd.csv"
    odd.write_text("1,2,3\n")
    assert main(["replay", "--format", "lobster", str(m), "--book-file", str(odd)]) == 2
    err = capsys.readouterr().err
    assert "multiple of 4" in err and "Traceback" not in err


def test_cli_strict_stops_with_exit_code_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    m, b = tmp_path / "m.csv", tmp_path / "b.csv"
    m.write_text("1.0,1,50,10,101,-1\n1.1,1,1,5,101,-1\n1.2,1,x,5,101,-1\n1.3,1,3,5,101,-1\n")
    b.write_text("101,10,100,10\n101,15,100,10\n101,20,100,10\n101,25,100,10\n")
    out = tmp_path / "r.json"
    base = ["replay", "--format", "lobster", str(m), "--book-file", str(b), "--report", str(out)]
    assert main(base) == 0
    assert f"{m}:3:" in capsys.readouterr().err
    rep = json.loads(out.read_text())
    assert rep["bad_rows"] == 1 and rep["rows_matched"] == rep["rows_compared"] == 2
    assert main([*base, "--strict"]) == 1
    assert "--strict" in capsys.readouterr().err
    rep = json.loads(out.read_text())
    assert rep["stopped_at_bad_row"] is True and rep["rows_compared"] == 1


# -- property: any consistent level-N view of a true book replays exactly ------------------


class TrueBook:
    """A deliberately simple FIFO book: the exchange whose level-N view LOBSTER records."""

    def __init__(self) -> None:
        self.levels: dict[int, dict[int, list[list[int]]]] = {BUY: {}, SELL: {}}
        self.where: dict[int, tuple[int, int]] = {}

    def best(self, side: int) -> int | None:
        prices = self.levels[side]
        if not prices:
            return None
        return max(prices) if side == BUY else min(prices)

    def add(self, oid: int, side: int, price: int, size: int) -> None:
        self.levels[side].setdefault(price, []).append([oid, size])
        self.where[oid] = (side, price)

    def reduce(self, oid: int, size: int) -> None:
        side, price = self.where[oid]
        queue = self.levels[side][price]
        entry = next(e for e in queue if e[0] == oid)
        entry[1] -= size
        if entry[1] == 0:
            queue.remove(entry)
            del self.where[oid]
            if not queue:
                del self.levels[side][price]

    def size_of(self, oid: int) -> int:
        side, price = self.where[oid]
        return next(e[1] for e in self.levels[side][price] if e[0] == oid)

    def row(self, depth: int) -> tuple[int, ...]:
        asks = sorted(self.levels[SELL].items())[:depth]
        bids = sorted(self.levels[BUY].items(), reverse=True)[:depth]
        return book_row([(p, sum(e[1] for e in q)) for p, q in asks],
                        [(p, sum(e[1] for e in q)) for p, q in bids], depth)  # fmt: skip


def true_flow(seed: int, depth: int, warmup: int, ops: int) -> list:
    """Random flow on a ``TrueBook``; the recorded part filtered as a level-``depth`` file."""
    import random

    rng = random.Random(seed)
    book = TrueBook()
    next_id = 1
    ts = T0
    out: list = []
    prev_row = None
    halt = 0  # 0 trading, 1 halted, 2 quoting
    for i in range(warmup + ops):
        ts += rng.randrange(0, 3)
        r = rng.random()
        live = list(book.where)
        if i >= warmup and r < 0.006:
            # halt indicator cycle: -1, 0, 1 (book unchanged, row duplicated)
            price = (-1, 0, 1)[halt]
            halt = (halt + 1) % 3
            message = (7, 0, 0, price, -1)
        elif r < 0.45 or len(live) < 4:
            side = rng.choice((BUY, SELL))
            best_other = book.best(-side)
            if side == BUY:
                top = (best_other - 1) if best_other is not None else 105
                price = top - rng.randrange(0, 8)
            else:
                bottom = (best_other + 1) if best_other is not None else 95
                price = bottom + rng.randrange(0, 8)
            if price <= 0:
                continue
            size = rng.randrange(1, 10)
            book.add(next_id, side, price, size)
            message = (1, next_id, size, price, side)
            next_id += 1
        elif r < 0.55:
            oid = rng.choice(live)
            have = book.size_of(oid)
            if have < 2:
                continue
            size = rng.randrange(1, have)
            side, price = book.where[oid]
            book.reduce(oid, size)
            message = (2, oid, size, price, side)
        elif r < 0.8:
            oid = rng.choice(live)
            side, price = book.where[oid]
            size = book.size_of(oid)
            book.reduce(oid, size)
            message = (3, oid, size, price, side)
        elif r < 0.95:
            side = rng.choice((BUY, SELL))
            price = book.best(side)
            if price is None:
                continue
            oid, have = book.levels[side][price][0]  # FIFO: the head is executed
            size = rng.randrange(1, have + 1)
            book.reduce(oid, size)
            message = (4, oid, size, price, side)
        else:
            side = rng.choice((BUY, SELL))
            message = (5, 0, rng.randrange(1, 5), 100, side)
        row = book.row(depth)
        if i < warmup:
            continue
        mtype = message[0]
        if prev_row is None or mtype in (5, 7) or row != prev_row:
            out.append((LobsterMessage(len(out) + 1, ts, *message), row))
        prev_row = row
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), depth=st.integers(1, 4), warmup=st.integers(0, 300))
def test_replay_reproduces_every_row_of_any_consistent_flow(seed: int, depth: int,
                                                            warmup: int) -> None:  # fmt: skip
    pairs = true_flow(seed, depth, warmup, 400)
    replay = LobsterReplay("T", depth)
    assert replay_rows(replay, pairs, check_every=50) == []
    replay.engine.validate()
    st_ = replay.stats
    assert st_.first_mismatch is None
    assert st_.rows_compared == st_.rows_matched == len(pairs) - 1
    assert st_.drift == {}
