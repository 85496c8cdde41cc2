"""The compiled matcher against the pure-Python one: the same commands, identical events.

``matching/order.py``, ``book.py`` and ``engine.py`` run compiled (Cython) where a build
exists (``matching._compiled``). This test runs seeded command logs through this process's
build and through the plain ``.py`` files in a subprocess (``CROSSBOOK_PURE=1``), and
requires the same events (values, types and ``repr``), the same state hash and the same
exported state, through every entry point. It skips only where no compiled build exists.
"""

from __future__ import annotations

import os
import pickle
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import matching
from bench.matcher import INSTRUMENT, generate_flow
from matching import Instrument, MatchingEngine, NewOrder
from matching._compiled import COMPILED_MODULES, ENV_PURE, _extension
from tests.matching.test_determinism import INSTRUMENTS, command_log
from tests.pure_build import both_builds

ROOT = Path(__file__).resolve().parents[2]


def _built() -> bool:
    return all(_extension(name) is not None for name in COMPILED_MODULES)


def malformed() -> list[object]:
    """Commands the validating entry point refuses, field by field."""
    return [
        NewOrder(1, "X", 900_001, 1, 1, "5", 100),
        NewOrder(1, "X", 900_002, 1, True, 5, 100),
        NewOrder(1, "X", 900_003, 1, 1, 5, 100.0),
        NewOrder(1, "NOPE", 900_004, 1, 1, 5, 100),
        NewOrder(1, "X", "id", 1, 1, 5, 100),
        NewOrder(1, "X", 900_005, 1, 1, 5, 100, client_order_id="c" * 65),
        NewOrder(1, "Y", 900_006, 1, 1, 15, 500),
        NewOrder(-1, "X", 900_007, 1, 1, 5, 100),
        Instrument("Z"),
    ]


def logs() -> dict[str, list]:
    return {
        "mixed": command_log(11, 4000) + malformed() + command_log(12, 2000),
        "default": generate_flow(8_000, 3, 50, "default"),
        "modify": generate_flow(8_000, 4, 50, "modify"),
    }


def run_logs(path: str) -> dict:
    """Every log through every entry point that takes it; events, hashes and state."""
    with open(path, "rb") as f:
        all_logs = pickle.load(f)
    out: dict = {"build": matching.BUILD}
    for name, log in all_logs.items():
        if name == "mixed":
            runs = {"apply": None}
            instruments = INSTRUMENTS
        else:
            runs = {"apply": None, "trusted": None, "batch": None}
            instruments = [INSTRUMENT]
        for entry in runs:
            engine = MatchingEngine(instruments)
            events: list = []
            if entry == "batch":
                for i in range(0, len(log), 64):
                    events += engine.apply_batch(log[i : i + 64])
            else:
                apply = engine.apply if entry == "apply" else engine.apply_trusted
                for cmd in log:
                    events += apply(cmd)
            engine.validate()
            out[f"{name}/{entry}"] = {
                "events": events,
                "repr": [repr(e) for e in events],
                "hash": engine.state_hash(),
                "state": engine.export_state(),
            }
    return out


def test_compiled_build_gives_the_same_events_as_pure_python(tmp_path: Path) -> None:
    if not _built():
        pytest.skip(f"no compiled build of the matcher here ({matching.BUILD}); "
                    "`make build` compiles it")  # fmt: skip
    if os.environ.get(ENV_PURE):
        pytest.skip(f"{ENV_PURE} is set: this process runs the pure build")
    assert matching.COMPILED, f"a compiled build exists but does not run: {matching.BUILD}"
    for name in COMPILED_MODULES:
        assert sys.modules[name].__file__.endswith(tuple(EXTENSION_SUFFIXES)), name
    log_file = tmp_path / "logs.pickle"
    log_file.write_bytes(pickle.dumps(logs()))
    pure, compiled = both_builds("tests.matching.test_compiled.run_logs", run_logs,
                                 str(log_file), tmp_path, 300)  # fmt: skip
    for key in pure:
        p, c = pure[key], compiled[key]
        assert len(p["events"]) == len(c["events"]), key
        for i, (pe, ce) in enumerate(zip(p["events"], c["events"])):
            assert type(pe) is type(ce) and pe == ce, f"{key}: event {i}: {pe!r} != {ce!r}"
        assert p["repr"] == c["repr"], key
        assert p["hash"] == c["hash"], key
        assert p["state"] == c["state"], key
    assert len(pure["mixed/apply"]["events"]) > 5_000
