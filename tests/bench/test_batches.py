"""``crossbook bench batches``: the line fit, and a short run against a real exchange
(the shape of the result, not the speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.batches import fit_line
from gateway.cli import main


def test_fit_line_recovers_a_line_and_needs_two_sizes() -> None:
    slope, intercept = fit_line([(1.0, 380.0), (0.2, 140.0), (0.05, 95.0)])  # type: ignore[misc]
    assert slope == pytest.approx(300.0) and intercept == pytest.approx(80.0)
    assert fit_line([(1.0, 5.0), (1.0, 6.0)]) is None


@pytest.mark.timeout(90)
def test_bench_batches_smoke(tmp_path: Path) -> None:
    out = tmp_path / "batches.json"
    assert main(["bench", "batches", "--json", str(out), "--sizes", "1,4",
                 "--requests", "400"]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert result["harness"] == "batches" and result["exit_codes"] == {"serve": 0}
    assert [s["k"] for s in result["sizes"]] == [1, 4]
    for s in result["sizes"]:
        assert s["requests"] >= 400 and s["refused"] == 0  # every order rested, every cancel hit
        assert s["server_cpu_us_per_request"] > 0 and s["wall_us_per_request"] > 0
        assert "main" in s["server_cpu_us_per_request_by_thread"]
    assert set(result["fit"]) == {"per_batch_us", "per_request_us"}
