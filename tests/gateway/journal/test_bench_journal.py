"""The journal harness (bench/journal.py): a tiny run writes every contract key, leaves nothing.

It sits here rather than in tests/bench/ only because the journal branch owns this folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main


def test_cli_writes_the_contract_keys_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "out" / "j.json"
    state = tmp_path / "state"
    state.mkdir()
    assert main(["bench", "journal", "--json", str(out), "--state-dir", str(state),
                 "--appends", "40", "--fsync-appends", "4", "--warmup", "2",
                 "--sizes", "10,300"]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    runs = {(r["durability"], r["payload_bytes"]): r for r in result["runs"]}
    assert set(runs) == {("write", 10), ("write", 300), ("fsync", 10), ("fsync", 300)}
    for (mode, _), r in runs.items():
        assert r["appends"] == (40 if mode == "write" else 4)
        assert r["appends_per_s"] > 0 and r["mb_per_s"] >= 0
        lat = r["latency"]
        assert 0 < lat["p50_us"] <= lat["p99_us"] <= lat["max_us"]
        assert lat["count"] == r["appends"]
    assert set(result["fsync_cost_us"]) == {"10", "300"}
    assert result["directory"] == str(state) and result["filesystem"]["type"]
    assert list(state.iterdir()) == []  # the temporary journals are gone


def test_bad_sizes_are_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", "journal", "--json", str(tmp_path / "x.json"), "--sizes", "2k"])
    assert info.value.code == 2
    assert "not a list of integers" in capsys.readouterr().err
