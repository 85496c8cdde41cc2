"""The compiled LOBSTER replay against the pure-Python one: the same files, identical output.

``clients/replay/lobster.py``, ``lobster_bulk.py`` and ``lobster_replay.py`` run compiled
(Cython) where a build exists (``clients.replay._compiled``). This test runs the same
work through this process's build and through the plain ``.py`` files in a subprocess
(``CROSSBOOK_PURE=1``): whole replays of the excerpt (clean, with corrupted cells, with
bad lines, strict or not, bulk and exact paths, several block sizes, ``--top-out``'s
rows) and the block parsers on seeded random blocks, and requires equal reports, bad
rows, written rows and parsed blocks. It skips only where no compiled build exists.

The stale-build guard is tested too: a build whose record does not match the sources on
disk must not run.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from importlib.machinery import EXTENSION_SUFFIXES
from itertools import zip_longest
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clients.replay
from clients.replay import _compiled, lobster, lobster_bulk
from clients.replay.lobster_replay import (
    LobsterReplay,
    _packed_row_reader,
    _PackedRowReader,
    pair_files,
    replay_rows,
    report,
)
from tests.pure_build import both_builds

ROOT = Path(__file__).resolve().parents[2]
NAME = "AMZN_2012-06-21_34200000_57600000_{}_5.csv"
EXCERPT = Path(__file__).resolve().parents[1] / "data"
MESSAGES, BOOK = EXCERPT / NAME.format("message"), EXCERPT / NAME.format("orderbook")


def _built() -> bool:
    return all(_compiled._extension(name) is not None for name in _compiled.COMPILED_MODULES)


def _mutate(rng: random.Random, text: bytes) -> bytes:
    """``text`` with a few random characters replaced, removed or inserted."""
    out = bytearray(text)
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(out) + 1)
        ch = rng.choice(b"0123456789,.-\n +e\r")
        what = rng.randrange(3)
        if what == 0 and k < len(out):
            out[k] = ch
        elif what == 1 and k < len(out):
            del out[k]
        else:
            out.insert(k, ch)
    return bytes(out)


def blocks(seed: int = 11, count: int = 400) -> list[tuple[str, bytes]]:
    """Seeded blocks of excerpt lines, most of them mutated: (kind, data)."""
    rng = random.Random(seed)
    files = {"m": MESSAGES.read_bytes().splitlines(True), "b": BOOK.read_bytes().splitlines(True)}
    out = []
    for _ in range(count):
        kind = rng.choice("mb")
        lines = files[kind]
        start = rng.randrange(len(lines))
        data = b"".join(lines[start : start + rng.randint(1, 40)])
        if rng.random() < 0.8:
            data = _mutate(rng, data)
        if rng.random() < 0.2:
            data = data.rstrip(b"\n")
        out.append((kind, data))
    return out


def _corrupt(tmp: Path, seed: int) -> Path:
    rng = random.Random(seed)
    lines = BOOK.read_text().splitlines()
    for _ in range(3):
        r, c = rng.randrange(len(lines)), rng.randrange(20)
        fields = lines[r].split(",")
        fields[c] = str(int(fields[c]) + rng.choice([1, -1, 100, -100, 10**6]))
        lines[r] = ",".join(fields)
    out = tmp / "corrupt_orderbook_5.csv"
    out.write_text("\n".join(lines) + "\n")
    return out


def _broken(tmp: Path) -> Path:
    lines = MESSAGES.read_text().splitlines()
    lines[1700] = lines[1700].replace(",", ",x", 1)
    lines[2200] = ""
    out = tmp / "broken_message_5.csv"
    out.write_text("\n".join(lines) + "\n")
    return out


def run_all(tmp: str) -> dict:
    """Everything this test compares, run by the build this process loaded."""
    tmp_path = Path(tmp)
    out: dict = {"build": clients.replay.BUILD}
    parsed = []
    for kind, data in blocks():
        if kind == "m":
            cols = lobster_bulk.message_block(data, 3)
            parsed.append(None if cols is None else [list(c) for c in cols])
        else:
            rows = lobster_bulk.book_block(data, 20)
            parsed.append(None if rows is None else [list(c) for c in rows])
    out["blocks"] = parsed
    files = {
        "clean": (MESSAGES, BOOK),
        "corrupt": (MESSAGES, _corrupt(tmp_path, 5)),
        "broken": (_broken(tmp_path), BOOK),
    }
    for name, (m, b) in files.items():
        for strict in (False, True):
            for block in (7, 1000, lobster_bulk.BLOCK_LINES):
                for bulk in (True, False):
                    replay = LobsterReplay("AMZN", 5)
                    if bulk:
                        pairs = pair_files(lobster.read_messages(m), lobster.read_book(b, 5))
                    else:
                        pairs = zip_longest(lobster.read_messages(m), lobster.read_book(b, 5))
                    with mock.patch.object(lobster_bulk, "BLOCK_LINES", block):
                        bad = replay_rows(replay, pairs, strict=strict)
                    rep = report(replay, 1.0, bad)
                    rep.pop("elapsed_s")
                    out[f"{name}/{strict}/{block}/{bulk}"] = rep
        top = io.StringIO()
        replay = LobsterReplay("AMZN", 5)
        replay_rows(replay, pair_files(lobster.read_messages(m), lobster.read_book(b, 5)),
                    top_out=top)  # fmt: skip
        out[f"{name}/top_out"] = (top.getvalue(), report(replay, 1.0, []))
    return out


def test_compiled_replay_gives_what_pure_python_gives(tmp_path: Path) -> None:
    if not _built():
        pytest.skip(f"no compiled build of the replay here ({clients.replay.BUILD}); "
                    "`make build` compiles it")  # fmt: skip
    if os.environ.get(_compiled.ENV_PURE):
        pytest.skip(f"{_compiled.ENV_PURE} is set: this process runs the pure build")
    build = clients.replay.BUILD
    assert clients.replay.COMPILED, f"a compiled build exists but does not run: {build}"
    for name in _compiled.COMPILED_MODULES:
        assert sys.modules[name].__file__.endswith(tuple(EXTENSION_SUFFIXES)), name
    pure, compiled = both_builds("tests.clients.test_replay_compiled.run_all", run_all,
                                 str(tmp_path), tmp_path, 600)  # fmt: skip
    for k, (p, c) in enumerate(zip(pure.pop("blocks"), compiled.pop("blocks"), strict=True)):
        assert p == c, f"block {k}"
    for key in pure:
        assert pure[key] == compiled[key], key
    # the comparison is not empty: the random blocks hold plain and refused ones alike,
    # and the files replay with matches, mismatches and bad rows
    assert compiled["clean/False/8192/True"]["rows_matched"] == 2999
    assert compiled["corrupt/False/8192/True"]["first_mismatch"] is not None
    assert compiled["broken/False/8192/True"]["bad_rows"] == 2


def test_plain_and_refused_blocks_are_both_among_the_random_ones() -> None:
    got = [lobster_bulk.message_block(d, 1) if k == "m" else lobster_bulk.book_block(d, 20)
           for k, d in blocks()]  # fmt: skip
    assert 40 < sum(g is None for g in got) < 360


def _guard_reason(tmp_path: Path, record: dict | None) -> str | None:
    """``stale_reason`` for sources copied to ``tmp_path`` with ``record`` as the build's
    record (None: no record) and stand-in extension files."""
    pkg = tmp_path / "clients" / "replay"
    pkg.mkdir(parents=True)
    for name in _compiled.COMPILED_MODULES:
        stem = name.rpartition(".")[2]
        (pkg / f"{stem}.py").write_bytes((ROOT / "clients/replay" / f"{stem}.py").read_bytes())
        (pkg / f"{stem}{EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    info = pkg / "_build_info.json"
    if record is not None:
        info.write_text(json.dumps({"sources": record}))
    guard = replace(_compiled.GUARD, package_dir=pkg, build_info=info, root=tmp_path)
    return guard.stale_reason()


def test_a_stale_build_is_refused(tmp_path: Path) -> None:
    import hashlib

    good = {
        f"clients/replay/{n.rpartition('.')[2]}.py": hashlib.sha256(
            (ROOT / "clients/replay" / f"{n.rpartition('.')[2]}.py").read_bytes()
        ).hexdigest()
        for n in _compiled.COMPILED_MODULES
    }
    assert _guard_reason(tmp_path / "a", good) is None
    assert "missing" in str(_guard_reason(tmp_path / "b", None))
    edited = {**good, "clients/replay/lobster_bulk.py": "0" * 64}
    assert "lobster_bulk.py changed" in str(_guard_reason(tmp_path / "c", edited))
    with_pxd = {**good, "clients/replay/lobster_replay.pxd": "0" * 64}
    assert "lobster_replay.pxd was removed" in str(_guard_reason(tmp_path / "d", with_pxd))


def test_a_stale_build_runs_pure_with_a_warning(tmp_path: Path) -> None:
    """In a fresh interpreter whose record names other sources, the ``.py`` files run."""
    if not _built():
        pytest.skip("no compiled build of the replay here")
    script = (
        "import json, warnings\n"
        "from pathlib import Path\n"
        "from unittest import mock\n"
        "import clients.replay._compiled as c\n"
        "fake = Path(__import__('sys').argv[1])\n"
        "fake.write_text(json.dumps({'sources': {'clients/replay/lobster.py': '0' * 64}}))\n"
        "from dataclasses import replace\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    build = replace(c.GUARD, build_info=fake).select()\n"
        "import clients.replay.lobster_replay as r\n"
        "print(build, r.__file__.endswith('.py'), [str(x.message) for x in w])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != _compiled.ENV_PURE}
    got = subprocess.run([sys.executable, "-c", script, str(tmp_path / "info.json")],
                         cwd=ROOT, env=env, check=True, timeout=60, capture_output=True,
                         text=True)  # fmt: skip
    line = got.stdout.strip()
    assert line.startswith("pure: clients/replay/lobster.py changed"), line
    assert " True [" in line and "running the pure-Python" in line, line


@settings(max_examples=300, deadline=None)
@given(
    depth=st.integers(1, 6),
    asks=st.dictionaries(st.integers(1, 10**6), st.integers(1, 10**4), max_size=8),
    bids=st.dictionaries(st.integers(1, 10**6), st.integers(1, 10**4), max_size=8),
    huge=st.sampled_from([None, 1 << 63, -(1 << 63) - 1, (1 << 63) - 1]),
)
def test_the_loop_row_reader_is_the_generated_one(
    depth: int, asks: dict, bids: dict, huge: int | None
) -> None:
    """``_PackedRowReader`` (the compiled build's reader; here whichever build runs) reads
    what ``_packed_row_reader`` (the pure build's) reads: the packed row, None for a short
    side, ``b""`` for a value beyond int64."""
    if huge is not None and asks:
        asks[min(asks)] = huge
    levels = {"a": {p: SimpleNamespace(total=q) for p, q in asks.items()},
              "b": {p: SimpleNamespace(total=q) for p, q in bids.items()}}  # fmt: skip
    ask_prices, bid_prices = sorted(asks), sorted(bids)
    packer = lobster_bulk.row_struct(4 * depth)
    want = _packed_row_reader(depth, packer)(ask_prices, bid_prices, levels["a"], levels["b"])
    reader = _PackedRowReader(depth)
    for _ in range(2):  # the buffer is reused
        got = reader.read(ask_prices, bid_prices, levels["a"], levels["b"])
        assert got == want
    if len(asks) >= depth and len(bids) >= depth and huge is None:
        assert want and packer.unpack(want)[:4] == (
            ask_prices[0], asks[ask_prices[0]], bid_prices[-1], bids[bid_prices[-1]],
        )  # fmt: skip
