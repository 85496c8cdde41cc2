"""crossbook order-flow CSV replay: reader, driver and ``crossbook replay --format csv``.

Covers ``clients/replay/csvflow.py``, ``clients/replay/csv_replay.py`` and the csv path of
``clients/replay/cli.py``, and checks the worked example of docs/csv-flow.md.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from clients.replay.csv_replay import CsvReplay, replay_flow
from clients.replay.csvflow import HEADER, FlowError, FlowRow, parse_row, read_flow
from clients.replay.rows import BadRow
from gateway.cli import main
from matching import AmendOrder, CancelOrder, NewOrder, TimeInForce

HEAD = ",".join(HEADER) + "\n"
DOC = Path(__file__).resolve().parents[2] / "docs" / "csv-flow.md"


def write(tmp_path: Path, body: str, name: str = "flow.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body)
    return path


def replay_text(tmp_path: Path, body: str, **kw: object) -> tuple[CsvReplay, int, list[BadRow]]:
    replay = CsvReplay()
    applied, bad = replay_flow(replay, read_flow(write(tmp_path, body)), check_every=1, **kw)
    replay.engine.validate()
    return replay, applied, bad


def parse(text: str, line: int = 2) -> FlowRow:
    return parse_row(text.split(","), line)


def test_parse_row_builds_engine_commands() -> None:
    gtc = int(TimeInForce.GTC)
    new = parse("5,new,1,7,ABC,b,101,3,post")
    assert new == FlowRow(2, "new", NewOrder(5, "ABC", 1, 7, 1, 3, 101, tif=gtc, post_only=True))
    assert parse("5,new,1,7,ABC,S,101,3,").command.tif == gtc
    assert parse("5,new,1,7,ABC,S,101,3,FOK").command.side == -1
    assert parse("6,cancel,1,7,ABC,,,,", 3).command == CancelOrder(6, "ABC", 1, 7)
    assert parse("7,amend,1,7,ABC,,,2,", 4).command == AmendOrder(7, "ABC", 1, 7, None, 2)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1,new,1,7,ABC,B,101,3", "expected 9 columns"),
        ("1,buy,1,7,ABC,B,101,3,GTC", "action must be"),
        ("1,new,1,7,ABC,X,101,3,GTC", "side must be"),
        ("1,new,1,7,ABC,B,101.5,3,GTC", "price must be an integer"),
        ("1,new,1,7,ABC,B,101,,GTC", "qty is required"),
        ("1,new,1,7,ABC,B,101,3,DAY", "tif must be"),
        ("x,cancel,1,7,ABC,,,,", "ts_ns must be an integer"),
        ("1,cancel,,7,ABC,,,,", "order_id is required"),
        ("1,cancel,1,7,,,,,", "instrument is required"),
        ("1,amend,1,7,ABC,,,ten,", "qty must be an integer"),
    ],
)
def test_parse_row_refuses_what_cannot_be_a_command(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse(text)


def test_header_is_required(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("ts,action\n1,new\n")
    with pytest.raises(FlowError, match="expected the header"):
        list(read_flow(wrong))
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(FlowError, match="empty"):
        list(read_flow(empty))


def test_doc_example_does_what_the_doc_says(tmp_path: Path) -> None:
    text = DOC.read_text()
    example = text[text.index("## Example"):].split("```")[1].strip() + "\n"
    path = tmp_path / "example.csv"
    path.write_text(example)
    replay = CsvReplay()
    applied, bad = replay_flow(replay, read_flow(path), check_every=1)
    assert (applied, bad) == (6, [])
    rep = replay.report(1.0, applied, bad)
    assert (rep["trades"], rep["traded_qty"]) == (2, 7)
    assert rep["top_of_book"] == {"ABC": {"bids": [[100, 3]], "asks": []}}
    assert rep["rejects"] == {}


def test_counts_trades_rejects_by_reason_and_top_of_book(tmp_path: Path) -> None:
    body = (
        "1,new,1,10,AAA,S,101,5,GTC\n"
        "2,new,2,10,AAA,S,102,5,GTC\n"
        "3,new,3,11,AAA,B,101,2,IOC\n"  # trades 2 @101
        "4,new,4,11,AAA,B,100,0,GTC\n"  # INVALID_QUANTITY
        "5,new,5,11,AAA,B,101,1,POST\n"  # POST_ONLY_WOULD_TAKE
        "6,new,1,11,AAA,B,99,1,GTC\n"  # DUPLICATE_ORDER_ID (order 1 still rests)
        "7,cancel,2,11,AAA,,,,\n"  # NOT_ORDER_OWNER
        "8,cancel,42,10,AAA,,,,\n"  # UNKNOWN_ORDER
        "9,cancel,1,10,ZZZ,,,,\n"  # UNKNOWN_INSTRUMENT: cancels do not create instruments
        "10,amend,2,10,AAA,,102,5,\n"  # INVALID_AMEND: changes nothing
        "11,amend,2,10,AAA,,,3,\n"  # down in place
        "12,new,6,12,BBB,B,50,4,GTC\n"  # a second instrument, created on sight
        "13,new,7,12,BBB,S,49,10,FOK\n"  # FOK not fillable: expired
        "14,new,8,12,AAA,B,0,1,GTC\n"  # INVALID_PRICE
        "15,cancel,1,10,AAA,,,,\n"
    )
    replay, applied, bad = replay_text(tmp_path, body)
    assert bad == [] and applied == 15
    rep = replay.report(1.0, applied, bad)
    assert (rep["orders"], rep["cancels"], rep["amends"]) == (9, 4, 2)
    assert (rep["trades"], rep["traded_qty"]) == (1, 2)
    assert rep["rejects"] == {
        "DUPLICATE_ORDER_ID": 1,
        "INVALID_AMEND": 1,
        "INVALID_PRICE": 1,
        "INVALID_QUANTITY": 1,
        "NOT_ORDER_OWNER": 1,
        "POST_ONLY_WOULD_TAKE": 1,
        "UNKNOWN_INSTRUMENT": 1,
        "UNKNOWN_ORDER": 1,
    }
    assert rep["expired"] == {"FOK_NOT_FILLABLE": 1}
    assert rep["top_of_book"] == {
        "AAA": {"bids": [], "asks": [[102, 3]]},
        "BBB": {"bids": [[50, 4]], "asks": []},
    }


def test_bad_rows_are_skipped_with_line_numbers_or_stop_with_strict(tmp_path: Path) -> None:
    body = (
        "1,new,1,10,AAA,S,101,5,GTC\n"  # line 2
        "2,new,2,10,AAA,S,1.5,5,GTC\n"  # line 3: bad price
        "\n"  # line 4: blank
        "3,new,3,10,AAA,S,102\n"  # line 5: short
        "4,new,4,11,AAA,B,101,5,GTC\n"  # line 6: trades
    )
    replay, applied, bad = replay_text(tmp_path, body)
    assert [(b.line, b.error) for b in bad] == [
        (3, "price must be an integer, got '1.5'"),
        (5, "expected 9 columns, got 7"),
    ]
    assert applied == 2 and replay.trades == 1
    strict, applied, bad = replay_text(tmp_path, body, strict=True)
    assert [b.line for b in bad] == [3] and applied == 1 and strict.trades == 0


def test_random_flows_keep_the_book_valid_and_replay_deterministically(tmp_path: Path) -> None:
    rng = random.Random(7)
    lines = []
    for i in range(1500):
        action = rng.choice(["new"] * 6 + ["cancel"] * 3 + ["amend"])
        oid = rng.randrange(1, 400)
        acct = rng.randrange(1, 4)
        sym = rng.choice(["A", "B"])
        if action == "new":
            side = rng.choice("BS")
            lines.append(f"{i},new,{oid},{acct},{sym},{side},{rng.randrange(95, 106)},"
                         f"{rng.randrange(1, 9)},{rng.choice(['GTC', 'IOC', 'FOK', 'POST'])}")
        elif action == "cancel":
            lines.append(f"{i},cancel,{oid},{acct},{sym},,,,")
        else:
            lines.append(f"{i},amend,{oid},{acct},{sym},,{rng.randrange(95, 106)},"
                         f"{rng.randrange(1, 9)},")  # fmt: skip
    body = "\n".join(lines) + "\n"
    first, applied, bad = replay_text(tmp_path, body)  # validates after every row
    second, _, _ = replay_text(tmp_path, body)
    assert applied == 1500 and bad == []
    assert first.engine.state_hash() == second.engine.state_hash()
    rep = first.report(1.0, applied, bad)
    assert rep["trades"] > 0 and sum(rep["rejects"].values()) > 0
    for sides in rep["top_of_book"].values():
        bids, asks = sides["bids"], sides["asks"]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert not bids or not asks or bids[0][0] < asks[0][0]


# -- the command line --------------------------------------------------------------------


def test_cli_end_to_end_report_keys(tmp_path: Path) -> None:
    flow = write(tmp_path, "1,new,1,10,AAA,S,101,5,GTC\n2,new,2,11,AAA,B,101,5,GTC\n")
    out = tmp_path / "report.json"
    assert main(["replay", "--format", "csv", str(flow), "--report", str(out)]) == 0
    rep = json.loads(out.read_text())
    for key in ("orders", "cancels", "amends", "trades", "traded_qty", "rejects",
                "top_of_book", "messages_per_s"):  # fmt: skip
        assert key in rep
    assert (rep["orders"], rep["trades"], rep["traded_qty"]) == (2, 1, 5)
    assert rep["top_of_book"] == {"AAA": {"bids": [], "asks": []}}


def test_cli_reports_bad_rows_and_strict_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    flow = write(tmp_path, "1,new,1,10,AAA,S,101,5,GTC\n2,new,2,11,AAA,Q,101,5,GTC\n"
                           "3,new,3,11,AAA,B,101,5,GTC\n")  # fmt: skip
    assert main(["replay", "--format", "csv", str(flow)]) == 0
    captured = capsys.readouterr()
    assert f"{flow}:3: side must be B or S, got 'Q' (skipped)" in captured.err
    assert json.loads(captured.out)["trades"] == 1
    assert main(["replay", "--format", "csv", str(flow), "--strict"]) == 1
    captured = capsys.readouterr()
    assert "stopping (--strict)" in captured.err
    rep = json.loads(captured.out)
    assert rep["stopped_at_bad_row"] is True and rep["trades"] == 0 and rep["bad_rows"] == 1


def test_cli_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad_header = tmp_path / "h.csv"
    bad_header.write_text("time,what\n")
    assert main(["replay", "--format", "csv", str(bad_header)]) == 2
    assert "expected the header" in capsys.readouterr().err
    flow = write(tmp_path, "")
    assert main(["replay", "--format", "csv", str(flow), "--book-file", str(flow)]) == 2
    assert "only applies to --format lobster" in capsys.readouterr().err
    assert main(["replay", "--format", "csv", str(flow), "--report",
                 str(tmp_path / "no" / "dir.json")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "no such directory" in err and "Traceback" not in err


def test_a_negative_time_is_the_orders_reject_not_the_end_of_its_instrument(
    tmp_path: Path,
) -> None:
    replay, applied, bad = replay_text(
        tmp_path, "-5,new,1,10,AAA,S,101,5,GTC\n6,new,2,10,AAA,S,101,5,GTC\n"
    )
    rep = replay.report(1.0, applied, bad)
    assert rep["rejects"] == {"INVALID_TIMESTAMP": 1}
    assert rep["top_of_book"]["AAA"]["asks"] == [[101, 5]]
