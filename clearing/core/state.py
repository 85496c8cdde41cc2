"""The whole exchange state as plain data: export, restore, hash; and the journal's batches.

A snapshot is the clearing engine's exported state (whose accounts are the Merkle
leaves, ``clearing.snapshot``) with one more top-level key, ``"core"``::

    {"version": 1, "journal_seq": N, "max_open_orders": ..., "client_order_ids": ...,
     "sessions": {...}, "history": {...}, "matcher": {...the matcher's export...}}

so the settlement snapshot and the recovery snapshot are one file: the header's digest
covers every byte of it. Rules:

1. ``export_state(core, matcher_state)`` after batch ``N`` and ``restore(config, state)``
   give a core and a matcher that continue exactly as the originals (same state hash, same
   replies for any further batches).
2. ``state_hash`` is SHA-256 over the canonical JSON of the core's part, the clearing
   engine's hash and the matcher's hash: the live server (which asks its matcher for its
   hash) and an offline replay compute the same value.
3. A batch is journaled as ``encode_batch(inputs)``: msgpack of the packed inputs
   (``clearing.core.inputs``); ``decode_batch`` raises ``InputDecodeError`` on junk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgpack

from clearing.config import ClearingConfig
from clearing.core.core import Core
from clearing.core.history import History
from clearing.core.inputs import InputDecodeError, pack_input, unpack_input
from clearing.core.sessions import Sessions
from clearing.engine import ClearingEngine

VERSION = 1


def export_state(core: Core, matcher_state: dict) -> dict:
    """The whole state after ``core.seq`` batches, the matcher's included."""
    state = core.engine.export_state()
    state["core"] = _core_part(core)
    state["core"]["matcher"] = matcher_state
    return state


def _core_part(core: Core) -> dict:
    return {
        "version": VERSION,
        "journal_seq": core.seq,
        "max_open_orders": core.max_open_orders,
        "client_order_ids": core.sessions.capacity,
        "sessions": core.sessions.export(),
        "history": core.history.export(),
    }


def journal_seq_of(state: dict) -> int | None:
    """The journal sequence a snapshot's state reflects (None: a settlement-only snapshot
    written before the core existed)."""
    part = state.get("core")
    return part.get("journal_seq") if isinstance(part, dict) else None


def restore(config: ClearingConfig, state: dict) -> tuple[Core, dict | None]:
    """A core continuing where ``state`` was exported, and the matcher's exported state."""
    engine = ClearingEngine.from_state(config, state)
    part = state.get("core")
    if part is None:  # an older settlement-only snapshot: no books, no sessions
        return Core(config, engine=engine), None
    if part.get("version") != VERSION:
        raise ValueError(f"unsupported core state version {part.get('version')!r}")
    capacity = part["client_order_ids"]
    core = Core(
        config,
        engine=engine,
        sessions=Sessions.restore(part["sessions"], capacity),
        history=History.restore(part["history"]),
        max_open_orders=part["max_open_orders"],
        client_order_ids=capacity,
        seq=part["journal_seq"],
    )
    return core, part["matcher"]


def state_hash(core: Core, matcher_hash: str) -> str:
    """One hash for the whole exchange (see rule 2): ``export_hash`` of its export, so the
    live state and a frozen copy of it hash alike by construction."""
    return export_hash(export_state(core, {}), matcher_hash)


def export_hash(state: dict, matcher_hash: str) -> str:
    """``state_hash`` of the exchange that ``state`` (``export_state``'s output, or a copy
    of it through msgpack) describes: the same hash, computed from the export instead of
    the live objects, so a periodic snapshot hashes its frozen copy in a thread. The
    canonical JSON is made in pieces (``canonical_pieces``): one ``json.dumps`` of the
    whole state is one C call that holds the GIL, and so the event loop, for all of it."""
    core_part = {k: v for k, v in state["core"].items() if k != "matcher"}
    engine_part = {k: v for k, v in state.items() if k != "core"}
    h = hashlib.sha256()
    for piece in canonical_pieces(engine_part):
        h.update(piece.encode())
    out = hashlib.sha256()
    for part in ("".join(canonical_pieces(core_part)), h.hexdigest(), matcher_hash):
        out.update(part.encode())
        out.update(b"\0")
    return out.hexdigest()


_WHOLE_BELOW = 64
"""Containers below this many entries, deeper than the first levels, are dumped whole."""


def canonical_pieces(obj: object, depth: int = 0) -> Iterator[str]:
    """``json.dumps(obj, sort_keys=True, separators=(",", ":"))`` in pieces whose
    concatenation is exactly that text (keys sorted as ``sort_keys`` sorts them, by the
    original key, then written as JSON writes keys)."""
    t = type(obj)
    if (t is dict or t is list or t is tuple) and (depth < 3 or len(obj) >= _WHOLE_BELOW):
        if t is dict:
            yield "{"
            sep = ""
            for k, v in sorted(obj.items()):  # type: ignore[union-attr]
                yield sep
                yield _canonical({k: 0})[1:-2]  # the key as json writes it, and the colon
                yield from canonical_pieces(v, depth + 1)
                sep = ","
            yield "}"
        else:
            yield "["
            sep = ""
            for v in obj:  # type: ignore[union-attr]
                yield sep
                yield from canonical_pieces(v, depth + 1)
                sep = ","
            yield "]"
    else:
        yield _canonical(obj)


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def encode_batch(inputs: Iterable[Any]) -> bytes:
    return msgpack.packb([pack_input(i) for i in inputs], use_bin_type=True)


def decode_batch(payload: bytes) -> list:
    try:
        items = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several types on junk
        raise InputDecodeError(f"journal record is not msgpack: {exc}") from None
    if not isinstance(items, list):
        raise InputDecodeError("journal record is not a list of inputs")
    return [unpack_input(i) for i in items]
