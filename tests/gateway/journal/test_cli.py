"""``crossbook journal verify``: exit codes, one-line errors, text and JSON figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from tests.gateway.journal.helpers import segment_paths, snapshot_files, write_journal


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["journal", "verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    write_journal(tmp_path / "journal", [b"x" * 100] * 30, segment_bytes=1000)
    (tmp_path / "snapshots").mkdir()
    return tmp_path


def test_good_state_dir_prints_a_summary(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    code, out, err = _run(capsys, str(state_dir))
    assert (code, err) == (0, "")
    assert f"journal {state_dir / 'journal'}: ok" in out
    assert "segments   4 (" in out and "records    30 (seq 1..30)" in out
    assert "torn tail  none" in out and "snapshots  none found: links ok" in out


def test_json_has_the_same_figures(capsys: pytest.CaptureFixture[str], state_dir: Path) -> None:
    code, out, _ = _run(capsys, str(state_dir / "journal"), "--json")
    figures = json.loads(out)
    assert code == 0
    assert figures == {
        "ok": True,
        "journal_dir": str(state_dir / "journal"),
        "segments": 4,
        "records": 30,
        "first_seq": 1,
        "last_seq": 30,
        "bytes": sum(p.stat().st_size for p in segment_paths(state_dir / "journal")),
        "torn_tail": None,
        "snapshots": None,
    }


def test_torn_tail_is_reported_not_cut(capsys: pytest.CaptureFixture[str], state_dir: Path) -> None:
    last = segment_paths(state_dir / "journal")[-1]
    with open(last, "ab") as fh:
        fh.write(b"\x1f" * 7)
    before = snapshot_files(state_dir / "journal")
    code, out, _ = _run(capsys, str(state_dir), "--json")
    assert code == 0
    assert json.loads(out)["torn_tail"] == {
        "file": str(last), "offset": last.stat().st_size - 7, "bytes": 7,
    }
    assert snapshot_files(state_dir / "journal") == before


def test_flipped_byte_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    second = segment_paths(state_dir / "journal")[1]
    data = bytearray(second.read_bytes())
    data[24 + 20 + 120 + 5] ^= 0x10  # inside the payload of the segment's second record
    second.write_bytes(bytes(data))
    code, out, err = _run(capsys, str(state_dir))
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith(
        f"crossbook journal: {second}: offset 144: payload CRC mismatch in record seq 10 "
    )
    code, out, err = _run(capsys, str(state_dir), "--json")
    assert code == 1 and json.loads(out)["ok"] is False and "offset 144" in err


def test_gap_exits_1(capsys: pytest.CaptureFixture[str], state_dir: Path) -> None:
    segment_paths(state_dir / "journal")[1].unlink()
    code, _, err = _run(capsys, str(state_dir))
    assert code == 1 and "sequence gap" in err and err.count("\n") == 1


def test_snapshot_link_failure_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_journal(tmp_path / "journal", [b"a"], next_seq=9)
    code, _, err = _run(capsys, str(tmp_path))
    assert code == 1 and "records 1..8 are missing" in err and err.count("\n") == 1


@pytest.mark.parametrize("sub", ["absent", "."])
def test_not_a_journal_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sub: str
) -> None:
    code, out, err = _run(capsys, str(tmp_path / sub))
    assert (code, out) == (2, "")
    assert err.startswith("crossbook journal: ") and err.count("\n") == 1
