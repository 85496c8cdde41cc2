"""The gateway <-> clearing link: batches of items, a sequence number on every message.

A gateway connects a DEALER to the clearing role's ROUTER. Each direction carries
two-frame messages ``[header, body]``:

- ``header`` = msgpack ``[LINK_VERSION, run_id, seq]``: ``run_id`` names the sending
  process run (a restart is a new run), ``seq`` counts that sender's messages to this peer
  from 1, gapless. An empty batch is a heartbeat (it carries a seq too).
- ``body`` = ``InternalCodec`` encoding of a list of items (tuples of plain values and
  engine records).

``LinkSequencer`` numbers outgoing messages; ``LinkTracker`` checks incoming ones: a new
``run_id`` resets the expected seq (the peer restarted), a gap or a repeat is counted (the
link is one TCP connection, so a gap means a restart or a bug) and reported to the caller.

Items, gateway -> clearing:
  ``("hello", gateway_run_id)``
  ``("req", session_id, account, ts_gw_in, message)``   a decoded protocol request
  ``("cancel_all", session_id, account, ts, end_reason)`` cancel-on-disconnect, dead man
  ``("channels", account, [channel, ...])``               private updates wanted
Items, clearing -> gateway:
  ``("a", account, origin_session_id, message)``  to every session of the account
  ``("d", session_id, message)``                   to one session (a direct answer)
  ``("run", clearing_run_id)``                     sent first, and in heartbeats
"""

from __future__ import annotations

from typing import Any

import msgpack

from gateway.internal import InternalCodec, InternalDecodeError

LINK_VERSION = 1
MAX_HEADER_BYTES = 256


class LinkError(ValueError):
    """A link message that cannot be read."""


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


class LinkSequencer:
    """Numbers one sender's messages to one peer."""

    __slots__ = ("codec", "run_id", "seq")

    def __init__(self, run_id: str, codec: InternalCodec) -> None:
        self.run_id = run_id
        self.codec = codec
        self.seq = 0

    def frames(self, items: list) -> list[bytes]:
        self.seq += 1
        return [_pack((LINK_VERSION, self.run_id, self.seq)), self.codec.encode(items)]


class LinkTracker:
    """Checks the sequence of one peer's messages."""

    __slots__ = ("gaps", "last", "run_id")

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.last = 0
        self.gaps = 0

    def check(self, run_id: str, seq: int) -> str:
        """``"ok"``, ``"restart"`` (new run: expectations reset), ``"gap"`` or ``"repeat"``."""
        if run_id != self.run_id:
            fresh = self.run_id is None
            self.run_id = run_id
            self.last = seq
            return "ok" if fresh and seq == 1 else "restart"
        expected = self.last + 1
        if seq == expected:
            self.last = seq
            return "ok"
        if seq <= self.last:
            return "repeat"
        self.gaps += 1
        self.last = seq
        return "gap"


def read_header(frame: bytes) -> tuple[str, int]:
    if len(frame) > MAX_HEADER_BYTES:
        raise LinkError("header too large")
    try:
        h = msgpack.unpackb(frame, raw=False, max_array_len=8, max_map_len=0)
    except Exception as exc:
        raise LinkError(f"bad header: {exc}") from None
    if (
        not isinstance(h, list)
        or len(h) != 3
        or h[0] != LINK_VERSION
        or not isinstance(h[1], str)
        or type(h[2]) is not int
    ):
        raise LinkError("bad header")
    return h[1], h[2]


def read_body(codec: InternalCodec, frame: bytes) -> list:
    try:
        items = codec.decode(frame)
    except InternalDecodeError as exc:
        raise LinkError(f"bad body: {exc}") from None
    if not isinstance(items, list):
        raise LinkError("body is not a list")
    return items
