"""``crossbook bench clearing`` on a tiny load: the portfolio keys are written and sane."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import clearing as bench


def test_bench_writes_the_portfolio_keys(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "clearing.json"
    args = parser.parse_args(["--json", str(out), "--checks", "300", "--accounts", "200",
                              "--remarks", "3", "--pm-accounts", "300", "--pm-runs", "3"])
    assert bench.run(args) == 0
    data = json.loads(out.read_text())
    for key in ("pm_remargin_100k_ms", "pm_remargin_all_dirty_100k_ms",
                "pm_remargin_kernel_100k_ms", "pm_pretrade_p50_ns",
                "pm_pretrade_kernel_p50_ns"):
        assert data[key] > 0, key
    assert data["pm_pretrade_checks"] == 300 and data["pm_remargin_accounts"] == 300
    assert data["pm_pretrade_admitted"] > 0


def test_the_engine_built_for_the_bench_is_consistent() -> None:
    eng = bench.build_pm_engine(50, seed=3)
    eng.validate()
    s = eng.account_summary(1)
    assert s["margin_mode"] == "portfolio" and s["initial_margin"] > 0
