"""State export: restoring and applying what came after gives the same state as never
stopping; the exported state passes the snapshot module's canonical form and
conservation check when it is there."""

from __future__ import annotations

import random

import pytest

from clearing.commands import CancelRequest, IndexPrice, OrderRequest, Tick
from clearing.engine import ClearingEngine
from clearing.events import OrderAdmitted
from clearing.pipeline import Pipeline
from tests.clearing.conftest import make_config
from tests.clearing.helpers import of


def _recording(p: Pipeline) -> list:
    inputs: list = []
    real = p.clearing.apply

    def apply(cmd: object) -> list:
        inputs.append(cmd)
        return real(cmd)

    p.clearing.apply = apply  # type: ignore[method-assign]
    return inputs


_REPORT_FIELDS = ("ord_type", "tif", "post_only", "stp", "expire_ts", "cum_notional", "ts")


def _clearing_only(state: dict) -> dict:
    """The state without the order fields the core's report builder keeps (a bare engine
    replaying clearing's inputs does not set them; ``tests/clearing/core`` checks them)."""
    orders = [{k: v for k, v in o.items() if k not in _REPORT_FIELDS}
              for o in state["engine"]["orders"]]  # fmt: skip
    return {**state, "engine": {**state["engine"], "orders": orders}}


def _flow(p: Pipeline, seed: int, steps: int, ts0: int) -> None:
    rng = random.Random(seed)
    live: list = []
    ts = ts0
    for _ in range(steps):
        ts += 20_000_000_000
        r = rng.random()
        if r < 0.15:
            p.submit(IndexPrice(ts, "X", rng.randint(95, 105)))
        elif r < 0.25 and live:
            a, oid = live.pop(rng.randrange(len(live)))
            p.submit(CancelRequest(ts, a, "X", oid))
        elif r < 0.3:
            p.submit(Tick(ts))
        else:
            out = p.submit(OrderRequest(ts, rng.randint(1, 3), "X", rng.choice((1, -1)),
                                        rng.randint(1, 80) * 5, rng.randint(96, 104),
                                        tif=rng.choice((1, 1, 3))))  # fmt: skip
            live += [(o.account, o.order_id) for o in of(out, OrderAdmitted)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restore_then_replay_equals_never_stopping(seed: int) -> None:
    config = make_config(X={"mark_band_ppm": 20_000, "taker_fee_ppm": 300,
                            "maker_fee_ppm": -50, "impact_notional": 1_000})  # fmt: skip
    p = Pipeline.from_config(config)
    _flow(p, seed, 60, 0)
    state = p.clearing.export_state()
    inputs = _recording(p)
    _flow(p, seed + 100, 60, 10**13)
    restored = ClearingEngine.from_state(config, state)
    restored.validate()
    assert restored.export_state() == state
    for cmd in inputs:
        restored.apply(cmd)
    assert _clearing_only(restored.export_state()) == _clearing_only(p.clearing.export_state())


def test_state_is_canonical_and_conserved() -> None:
    snapshot = pytest.importorskip("clearing.snapshot")
    p = Pipeline.from_config(make_config())
    _flow(p, 5, 40, 0)
    state = p.clearing.export_state()
    built = snapshot.build(state, snapshot.ZERO_ROOT)
    assert built is not None
    blob = snapshot.build_snapshot(state, snapshot.ZERO_ROOT)
    result = snapshot.verify_snapshot(blob) if hasattr(snapshot, "verify_snapshot") else None
    if result is not None:
        assert result.ok, result
