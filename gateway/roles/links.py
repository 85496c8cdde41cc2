"""The internal links between the roles: message kinds and their compact encodings.

Two links, both ZeroMQ DEALER (connecting role) -> ROUTER (clearing, bound), every message
one msgpack frame, every hop batched: one message per drained batch, never one per order.

**Matcher link** (``endpoints.commands``; ``inproc://`` in one process, tcp with
``--role``). Clearing runs the core; each round of a batch is one request and one reply:

- clearing -> matcher
  ``["cmds", epoch, round, codes, commands, market, ts_clr_out]``: the round's matcher
  commands (``codes[i]`` is the index in ``COMMAND_TYPES`` of ``commands[i]``, a plain
  array of its fields) and market-data extras (``("mark", ...)`` / ``("funding", ...)``)
  for the publisher;
  ``["md", epoch, market]``: extras with no command (one way);
  ``["load", epoch, round, state]``: become this exact matcher (the core's recovered or
  snapshotted state); ``["export", epoch, round]``: send your state.
- matcher -> clearing
  ``["hello", matcher_run, epoch, round]``: first message of a matcher run and its
  heartbeat; ``epoch``/``round`` say which clearing run's state it holds (None: none);
  ``["evs", epoch, round, counts, codes, events, me_in, me_out]``: the events of each
  command (``counts[i]`` events for command ``i``), in sequence order;
  ``["loaded", epoch, round, state_hash]``; ``["state", epoch, round, state, state_hash]``;
  ``["stale", epoch, round]``: a request for a state or round the matcher does not hold:
  clearing must ``load`` it first.

The matcher answers a repeated round (same epoch and round) with its cached reply, so a
resend after a lost reply never applies commands twice.

**Gateway link** (``endpoints.clearing``):

- gateway -> clearing ``[run_id, seq, inputs, queries, channels]``: ``inputs`` are packed
  core inputs (``clearing.core.inputs.pack_input``; clearing overwrites their ``gw`` with
  the sender's number, so a gateway can only speak for itself), ``queries`` are
  ``[sid, account, req_id, message]``, ``channels`` are ``[account, [channel, ...]]``. An
  empty message is a heartbeat.
- clearing -> gateway ``[run_id, seq, gw, hops, replies, pushes]``: ``gw`` is the number
  the core gave this gateway run (a change means: resynchronise your sessions),
  ``hops = [ts_clr_in, ts_clr_out, ts_me_in, ts_me_out]`` of the batch, ``replies`` are
  ``[account, sid, req_id, ts_gw_in, report, direct, matched]`` (``clearing.core.reports``;
  ``matched``: the report comes from the matcher's events, so it carries ``ts_me_*``),
  ``pushes`` are ``[account, sid, message]``: rendered messages (query replies, position
  and margin updates) to one session (``sid``) or, with ``sid == 0``, to the sessions of
  ``account`` that subscribed to the message's channel.

``seq`` counts each sender's messages per run from 1: a gap is reported and counted, a
new ``run_id`` resets the count (the peer restarted). No message is ever dropped for its
sequence number.
"""

from __future__ import annotations

from typing import Any

import msgpack

from matching import commands as mc
from matching import events as mev
from matching.instrument import Instrument

COMMAND_TYPES: tuple[type, ...] = (
    mc.NewOrder,
    mc.CancelOrder,
    mc.AmendOrder,
    mc.MassCancel,
    mc.Halt,
    mc.OpenAuction,
    mc.Resume,
    mc.SetBand,
    mc.AdvanceTime,
    mc.AddInstrument,
)
EVENT_TYPES: tuple[type, ...] = (
    mev.OrderAccepted,
    mev.OrderRejected,
    mev.Fill,
    mev.OrderCanceled,
    mev.OrderExpired,
    mev.OrderAmended,
    mev.CancelRejected,
    mev.SelfTradePrevented,
    mev.LevelChanged,
    mev.InstrumentStatusChanged,
    mev.BandChanged,
    mev.AuctionUncrossed,
    mev.MassCancelDone,
    mev.InstrumentAdded,
    mev.CommandRejected,
)
COMMAND_CODE = {t: i for i, t in enumerate(COMMAND_TYPES)}
EVENT_CODE = {t: i for i, t in enumerate(EVENT_TYPES)}
_ADD_INSTRUMENT = COMMAND_CODE[mc.AddInstrument]

MAX_LINK_MESSAGE = 1 << 30
"""Internal messages may be large (a matcher state); libzmq's own limit guards the rest."""


class LinkError(ValueError):
    """An internal message that cannot be read (counted and dropped by the reader)."""


_packer = msgpack.Packer(use_bin_type=True)


def pack(message: Any) -> bytes:
    return _packer.pack(message)


def unpack(frame: bytes) -> Any:
    try:
        msg = msgpack.unpackb(frame, raw=False, strict_map_key=False, use_list=True)
    except Exception as exc:  # msgpack raises several types on junk
        raise LinkError(f"not msgpack: {exc}") from None
    if not isinstance(msg, list) or not msg:
        raise LinkError("not a non-empty array")
    return msg


def command_codes(cmds: list) -> list[int]:
    code = COMMAND_CODE
    return [code[type(c)] for c in cmds]


def decode_commands(codes: list, fields: list) -> list:
    types = COMMAND_TYPES
    out = []
    for c, f in zip(codes, fields):
        if c == _ADD_INSTRUMENT:
            out.append(mc.AddInstrument(f[0], Instrument(*f[1])))
        else:
            out.append(types[c](*f))
    return out


def encode_events(results: list[list]) -> tuple[list[int], list[int], list]:
    """``(counts, codes, events)`` of one event list per command."""
    code = EVENT_CODE
    counts = [len(evs) for evs in results]
    flat = [e for evs in results for e in evs]
    return counts, [code[type(e)] for e in flat], flat


def decode_events(counts: list, codes: list, fields: list) -> list[list]:
    """One event list per command, from ``encode_events``' parts."""
    types = EVENT_TYPES
    flat = [types[c](*f) for c, f in zip(codes, fields)]
    out = []
    i = 0
    for n in counts:
        out.append(flat[i : i + n])
        i += n
    return out
