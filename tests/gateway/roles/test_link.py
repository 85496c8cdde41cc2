"""The gateway <-> clearing link: numbered batches, restarts and gaps are told apart."""

from __future__ import annotations

import msgpack
import pytest

from gateway.internal import InternalCodec
from gateway.roles.link import (
    LinkError,
    LinkSequencer,
    LinkTracker,
    read_body,
    read_header,
)
from matching import NewOrder


def test_frames_round_trip_with_records_and_dicts() -> None:
    codec = InternalCodec()
    seqr = LinkSequencer("run-a", codec)
    items = [("req", 1, 7, 99, {"type": "cancel", "order_id": 3}),
             ("x", NewOrder(1, "X", 1, 7, 1, 2, 3))]
    h1, b1 = seqr.frames(items)
    h2, _ = seqr.frames([])
    assert read_header(h1) == ("run-a", 1) and read_header(h2) == ("run-a", 2)
    back = read_body(codec, b1)
    assert back[0] == ["req", 1, 7, 99, {"type": "cancel", "order_id": 3}]
    assert type(back[1][1]) is NewOrder


def test_tracker_reports_gaps_repeats_and_restarts() -> None:
    t = LinkTracker()
    assert [t.check("a", s) for s in (1, 2, 4, 4, 3, 5)] == ["ok", "ok", "gap", "repeat",
                                                              "repeat", "ok"]  # fmt: skip
    assert t.gaps == 1
    assert t.check("b", 1) == "restart" and t.check("b", 2) == "ok"
    fresh = LinkTracker()
    assert fresh.check("z", 5) == "restart"  # joined a run already under way


@pytest.mark.parametrize("frame", [b"", b"\xc1", msgpack.packb([2, "a", 1]),
                                   msgpack.packb([1, 5, 1]), msgpack.packb([1, "a", "1"]),
                                   msgpack.packb({"v": 1}), b"\x91" * 300])  # fmt: skip
def test_bad_headers_are_link_errors(frame: bytes) -> None:
    with pytest.raises(LinkError):
        read_header(frame)


def test_bad_bodies_are_link_errors() -> None:
    codec = InternalCodec()
    with pytest.raises(LinkError):
        read_body(codec, b"\xc1")
    with pytest.raises(LinkError):
        read_body(codec, msgpack.packb({"not": "a list"}))
