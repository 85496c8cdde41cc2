"""The pipeline forwards matcher commands and feeds every matcher event back in order."""

from __future__ import annotations

from clearing.events import FillSettled
from clearing.pipeline import Pipeline
from matching.commands import NewOrder
from tests.clearing.conftest import make_config
from tests.clearing.helpers import of, order


def test_submit_runs_the_whole_path() -> None:
    p = Pipeline.from_config(make_config())
    p.submit(order(1, 3, -1, 10, 100))
    out = p.submit(order(2, 1, 1, 10, 100))
    assert of(out, NewOrder) and len(of(out, FillSettled)) == 2
    assert p.clearing.last_seq == p.matcher.seq
    assert p.clearing.position(1, "X") == (10, 1_000)
