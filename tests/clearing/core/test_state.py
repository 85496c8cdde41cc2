"""The whole state exports and restores exactly: a core and matcher rebuilt from a
snapshot's state continue as if never stopped (same replies, same hash); journal batches
decode back to the same inputs."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearing.core.inputs import InputDecodeError, Logon
from clearing.core.state import (
    canonical_pieces,
    decode_batch,
    encode_batch,
    export_hash,
    export_state,
    journal_seq_of,
    restore,
    state_hash,
)
from clearing.pipeline import Pipeline
from clearing.snapshot import ZERO_ROOT, build_snapshot, verify_snapshot
from matching.engine import MatchingEngine
from tests.clearing.conftest import make_config
from tests.clearing.core.test_core import _pipe, _random_flow


def _hash(p: Pipeline) -> str:
    return state_hash(p.core, p.matcher.state_hash())


@pytest.mark.parametrize("seed", [1, 2])
def test_restored_core_continues_exactly(seed: int) -> None:
    p, gw = _pipe()
    batches = _random_flow(seed, gw, 120)
    p.run([Logon(50, gw, 1, 1, True), Logon(50, gw, 2, 2, False)])
    for batch in batches[:60]:
        p.run(batch)
    state = msgpack.unpackb(msgpack.packb(export_state(p.core, p.matcher.export_state())),
                            raw=False, strict_map_key=False)  # fmt: skip
    assert journal_seq_of(state) == p.core.seq
    core, matcher_state = restore(make_config(), state)
    assert matcher_state is not None
    q = Pipeline(core, MatchingEngine.from_state(matcher_state))
    assert _hash(q) == _hash(p)
    for batch in batches[60:]:
        assert q.run(batch).replies == p.run(batch).replies
    assert _hash(q) == _hash(p)
    assert q.core.seq == p.core.seq
    q.clearing.validate()


def test_whole_state_is_a_valid_settlement_snapshot() -> None:
    p, gw = _pipe()
    for batch in _random_flow(4, gw, 40):
        p.run(batch)
    blob = build_snapshot(export_state(p.core, p.matcher.export_state()), ZERO_ROOT)
    assert verify_snapshot(blob).ok


def test_batches_round_trip_and_junk_is_refused() -> None:
    _, gw = _pipe()
    batch = _random_flow(9, gw, 1)[0]
    assert decode_batch(encode_batch(batch)) == batch
    for junk in (b"\xc1", msgpack.packb({"a": 1}), msgpack.packb([[99, 1]])):
        with pytest.raises(InputDecodeError):
            decode_batch(junk)


@pytest.mark.parametrize("seed", [3, 4])
def test_the_hash_of_a_frozen_export_is_the_live_state_hash(seed: int) -> None:
    """A periodic snapshot hashes its frozen copy in a thread (``export_hash``): it must be
    the hash the live state gives at that seq, and change with the state."""
    p, gw = _pipe()
    p.run([Logon(50, gw, 1, 1, True), Logon(50, gw, 2, 2, False)])
    seen = set()
    for i, batch in enumerate(_random_flow(seed, gw, 60)):
        p.run(batch)
        if i % 15 == 14:
            frozen = msgpack.unpackb(msgpack.packb(export_state(p.core,
                                                                p.matcher.export_state())),
                                     strict_map_key=False)  # fmt: skip
            live = _hash(p)
            assert export_hash(frozen, p.matcher.state_hash()) == live
            seen.add(live)
    assert len(seen) == 4


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=6))
_tree = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=80),
        st.dictionaries(st.text(max_size=4), kids, max_size=70),
        st.dictionaries(st.integers(-50, 50), kids, max_size=70),
    ),
    max_leaves=400,
)


@settings(max_examples=200, deadline=None)
@given(_tree)
def test_canonical_pieces_are_json_dumps_sorted(obj: object) -> None:
    """The hash's canonical JSON, made in pieces, is exactly ``json.dumps`` with sorted
    keys: nested and long containers (split) and short deep ones (dumped whole), int and
    string keys."""
    assert "".join(canonical_pieces(obj)) == json.dumps(obj, sort_keys=True,
                                                         separators=(",", ":"))
