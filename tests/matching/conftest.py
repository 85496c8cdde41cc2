"""Fixtures for matcher tests: a small instrument set and helpers to drive an engine."""

from __future__ import annotations

import pytest

from matching import Instrument, MatchingEngine


@pytest.fixture
def engine() -> MatchingEngine:
    return MatchingEngine(
        [
            Instrument("X", tick_size=1, lot_size=1, min_qty=1, max_qty=1_000_000),
            Instrument("Y", tick_size=5, lot_size=10, min_qty=10, max_qty=10_000),
        ]
    )
