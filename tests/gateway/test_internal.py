"""Internal links: matcher commands and events survive msgpack with their exact types."""

from __future__ import annotations

import msgpack
import pytest

from gateway.internal import InternalCodec, InternalDecodeError
from matching import AddInstrument, Instrument, MatchingEngine, NewOrder, Side, TimeInForce


def test_commands_and_events_round_trip_with_types() -> None:
    codec = InternalCodec()
    engine = MatchingEngine([Instrument("X")])
    cmds = [
        NewOrder(1, "X", 1, 7, Side.SELL, 5, 101, tif=TimeInForce.GTC),
        NewOrder(2, "X", 2, 8, 1, 7, 101, client_order_id="abc"),
        AddInstrument(3, Instrument("Y", tick_size=5)),
    ]
    for cmd in cmds:
        back = codec.decode(codec.encode(cmd))
        assert type(back) is type(cmd) and back == cmd
        events = engine.apply(cmd)
        decoded = codec.decode(codec.encode({"seq": 1, "events": events}))
        assert decoded["events"] == events
        assert [type(e) for e in decoded["events"]] == [type(e) for e in events]


def test_unknown_record_and_garbage_are_errors() -> None:
    codec = InternalCodec()
    bad = msgpack.packb(msgpack.ExtType(7, msgpack.packb(["os.system", ["x"]])))
    with pytest.raises(InternalDecodeError):
        codec.decode(bad)
    with pytest.raises(InternalDecodeError):
        codec.decode(b"\xc1\xff\x00")
