"""The re-mark of an instrument with few rows runs in Python ints; it must give exactly
what the numpy sweep gives: same state, same outputs (margin calls, liquidations, risk
cancels) on random flows with price moves."""

from __future__ import annotations

import pytest

from clearing import remark
from clearing.pipeline import Pipeline
from tests.clearing.conftest import make_config
from tests.clearing.test_export import _flow


def _run(monkeypatch: pytest.MonkeyPatch, small_rows: int, seed: int) -> tuple:
    monkeypatch.setattr(remark, "SMALL_ROWS", small_rows)
    p = Pipeline.from_config(make_config(X={"mark_band_ppm": 20_000, "taker_fee_ppm": 300,
                                            "maker_fee_ppm": -50, "impact_notional": 1_000}))
    outputs: list = []
    real = p.submit

    def submit(cmd: object) -> list:
        out = real(cmd)
        outputs.extend(out)
        return out

    p.submit = submit  # type: ignore[method-assign]
    _flow(p, seed, 150, 0)
    p.clearing.validate()
    return p.clearing.export_state(), [repr(o) for o in outputs]


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_python_and_numpy_re_marks_agree(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    state_np, out_np = _run(monkeypatch, 0, seed)
    state_py, out_py = _run(monkeypatch, 10_000, seed)
    assert state_py == state_np
    assert out_py == out_np
    assert any("MarkChanged" in o for o in out_np)
