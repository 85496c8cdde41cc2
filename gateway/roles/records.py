"""Records of the two sequenced streams between clearing and matching.

Both streams are ``gateway.sequenced`` streams (lossless, windowed, replayable), whose
items are flat records with the stream's ``seq`` first. The matcher's events are such
records already; commands are not (they start with ``ts``), so they travel wrapped.

Clearing -> matching (the command stream, seq = clearing's command sequence number):
  ``StreamCommand(seq, name, fields)``  a ``matching`` command, by class name and fields
  ``Hello(seq, run_id, start_seq, ts, instruments)``  first item of every clearing run:
      the matcher (re)starts empty with these instruments, its event seq continuing after
      ``start_seq``, and uses ``run_id`` as the epoch of its event stream
  ``MarkPrice(seq, symbol, ts, mark, index)`` / ``FundingRate(seq, symbol, ts, rate_ppm)``
      clearing's figures for the market-data publisher in the matching role's shell

Matching -> clearing (the event stream, seq = the matcher's own gapless event seq): the
matcher's events, except that the first event of each command travels as
``Stamp(seq, cmd_seq, me_in, me_out, name, fields)``: which command caused it and that
command's matcher hop timestamps; the events that follow it until the next ``Stamp`` come
from the same command.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gateway.internal import InternalCodec
from gateway.sequenced import RecordCodec


class StreamCommand(NamedTuple):
    seq: int
    name: str
    fields: list


class Hello(NamedTuple):
    seq: int
    run_id: str
    start_seq: int
    ts: int
    instruments: list


class MarkPrice(NamedTuple):
    seq: int
    symbol: str
    ts: int
    mark: int
    index: int | None


class FundingRate(NamedTuple):
    seq: int
    symbol: str
    ts: int
    rate_ppm: int


class Stamp(NamedTuple):
    seq: int
    cmd_seq: int
    me_in: int
    me_out: int
    name: str
    fields: list


STREAM_RECORDS: tuple[type, ...] = (StreamCommand, Hello, MarkPrice, FundingRate, Stamp)
ENGINE_TYPES: dict[str, type] = InternalCodec().types


def stream_codec() -> RecordCodec:
    """The codec both ends of both streams use: engine records plus the ones above."""
    types = dict(ENGINE_TYPES)
    for cls in STREAM_RECORDS:
        types[cls.__name__] = cls
    return RecordCodec(types)


def wrap_command(seq: int, cmd: Any) -> StreamCommand:
    return StreamCommand(seq, type(cmd).__name__, list(cmd))


def unwrap(name: str, fields: list) -> Any:
    """The engine record named ``name``; KeyError/TypeError when it is not one."""
    return ENGINE_TYPES[name](*fields)
