"""Inputs pack to the journal's compact form and back unchanged; junk is refused."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearing.commands import IndexPrice, Tick
from clearing.core.inputs import (
    INPUT_TYPES,
    CancelOrderRequest,
    GatewaySync,
    InputDecodeError,
    PlaceOrder,
    pack_input,
    unpack_input,
)

_i64 = st.integers(-(2**63), 2**63 - 1)
_opt_int = st.none() | _i64
_text = st.text(max_size=20)

_inputs = st.one_of(
    st.builds(PlaceOrder, _i64, _i64, _i64, _opt_int, _i64, _text, _i64, _i64, _opt_int,
              _i64, _i64, _text, st.booleans(), st.booleans(), _i64, _i64),
    st.builds(CancelOrderRequest, _i64, _i64, _i64, _opt_int, _i64, st.none() | _text,
              _opt_int, st.none() | _text),
    st.builds(GatewaySync, _i64, _i64,
              st.lists(st.lists(_i64, min_size=3, max_size=3).map(list), max_size=4)),
    st.builds(IndexPrice, _i64, _text, _i64),
    st.builds(Tick, _i64),
)  # fmt: skip


@given(st.lists(_inputs, max_size=8))
def test_a_batch_survives_the_journal_encoding(batch: list) -> None:
    blob = msgpack.packb([pack_input(i) for i in batch], use_bin_type=True)
    back = [unpack_input(x) for x in msgpack.unpackb(blob, raw=False)]
    assert back == batch
    assert [type(b) for b in back] == [type(i) for i in batch]


@pytest.mark.parametrize("junk", [[], [-1], [len(INPUT_TYPES)], ["PlaceOrder"], [0, 1], 5])
def test_unknown_or_malformed_entries_are_refused(junk: object) -> None:
    with pytest.raises(InputDecodeError):
        unpack_input(junk)
