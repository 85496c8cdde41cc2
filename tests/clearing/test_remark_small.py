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


def _options_run(monkeypatch: pytest.MonkeyPatch, small_rows: int) -> tuple:
    """A seeded options flow with accounts switching to portfolio mode (their perpetual
    rows carry no tier charges), re-marked both ways."""
    import random

    from clearing.commands import IndexPrice, IVUpdate, OrderRequest, SetMarginMode
    from tests.clearing.test_options_engine import EXP, T0, pipe

    monkeypatch.setattr(remark, "SMALL_ROWS", small_rows)
    rng = random.Random(5)
    p = pipe()
    outputs: list = []
    ts = T0
    for _ in range(200):
        ts += 10**9
        k = rng.random()
        if k < 0.7:
            cmd: object = OrderRequest(ts, rng.randint(1, 3), "BTC-PERP", rng.choice([1, -1]),
                                       rng.randint(1, 30),
                                       (60_000 + rng.randint(-800, 800)) // 5 * 5, tif=3)
        elif k < 0.85:
            cmd = IndexPrice(ts, "BTC", rng.randint(54_000, 66_000))
        elif k < 0.93:
            cmd = IVUpdate(ts, "BTC", EXP, rng.randint(300_000, 1_200_000), 0, 0)
        else:
            cmd = SetMarginMode(ts, rng.randint(1, 3), rng.choice(["standard", "portfolio"]))
        outputs.extend(repr(o) for o in p.submit(cmd))
    p.clearing.validate()
    return p.clearing.export_state(), outputs


def test_python_and_numpy_re_marks_agree_with_portfolio_accounts(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    state_np, out_np = _options_run(monkeypatch, 0)
    state_py, out_py = _options_run(monkeypatch, 10_000)
    assert state_py == state_np and out_py == out_np
