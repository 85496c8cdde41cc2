"""Settlement snapshot contents: canonical leaves, header, Merkle root, verification, proofs.

A snapshot freezes the whole clearing state (``ClearingEngine.export_state()``, see
docs/snapshots.md and clearing/export.py) into one msgpack document::

    {"header": {...}, "state": {...the exported state, unchanged...}}

or, when the server signed it, with a third key
``"signature": {"alg": "ed25519", "key": <32 bytes>, "sig": <64 bytes>}``.

Rules of this module:

1. Pure: bytes in, bytes or values out. No files, no clock (the time in the header is the
   state's own ``ts``), no randomness. The same state and previous root give the same bytes.
2. One canonical msgpack encoding (``canonical_pack``) for leaves and for the whole file:
   map keys sorted (all-int keys numerically, all-str keys by code point; mixed key types
   are refused), ints/strs/bytes/bools/None/lists/maps only, no floats, every int and
   length in its shortest msgpack form, strs as msgpack str and bytes as msgpack bin.
3. Leaf of account ``a`` = ``canonical_pack({"account": a, "entry": state["accounts"][a]})``;
   leaves are ordered by account id ascending, and the Merkle root (``clearing.merkle``,
   RFC 6962, SHA-256) over them goes into the header.
4. The header is a pure function of (state, previous root, previous header digest):
   verification rebuilds it and compares field by field, so any edit to the state must be
   matched by an edit of the header. Two links chain a snapshot to its predecessor:
   ``prev_root`` (the previous account root, for people who follow published roots) and
   ``prev_digest`` = ``header_digest`` of the previous header, which commits to the whole
   previous snapshot (its root, its ``globals_digest`` over the non-account state, and its
   own links). Rewriting an old snapshot therefore means rewriting every later header up to
   the newest, whose root and digest have been published.
5. Conservation per asset, exact: sum of account balances + fee_pool + insurance_fund ==
   deposits - withdrawals. The header records both sides; a snapshot whose state breaks
   the identity is still written (it is the record of what happened) and fails
   verification with ``Fault.CONSERVATION_VIOLATED``.
6. Untrusted bytes are decoded with msgpack's strict settings (``raw=False``, size limits,
   no extension types); ``strict_map_key=False`` only because account ids are int keys.
7. A signature is over ``signed_message(header)`` = ``SIGNATURE_CONTEXT`` followed by the
   32-byte ``header_digest``, which commits to everything (rule 4). It is outside the
   header, so signing changes neither the header digest nor the chain: a signed and an
   unsigned snapshot of the same state chain identically. This module only carries the
   signature; making and checking it (Ed25519, a key) is ``gateway.snapshot_signing``.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, NamedTuple

import msgpack

from clearing.merkle import HASH_SIZE, MerkleTree

FORMAT = "crossbook-snapshot"
VERSION = 1
ZERO_ROOT = bytes(HASH_SIZE)
MAX_SNAPSHOT_BYTES = 1 << 30
MAX_STR_BYTES = 1 << 20
MAX_CONTAINER_LEN = 50_000_000
SIGNATURE_ALG = "ed25519"
SIGNATURE_CONTEXT = b"crossbook-snapshot-v1 header digest:"
"""Prefix of the signed message, so a crossbook snapshot signature means nothing else."""
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1
_MONEY_MAPS = ("fee_pool", "insurance_fund", "deposits", "withdrawals")
_INT_KEYS = frozenset({int})
_STR_KEYS = frozenset({str})


class Fault(StrEnum):
    """Why a snapshot failed verification (stable codes, printed by the CLI)."""

    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported_version"
    ROOT_MISMATCH = "root_mismatch"
    HEADER_MISMATCH = "header_mismatch"
    CONSERVATION_VIOLATED = "conservation_violated"
    PREVIOUS_INVALID = "previous_invalid"
    CHAIN_BROKEN = "chain_broken"
    CHAIN_ORDER = "chain_order"


class CanonicalError(ValueError):
    """A value cannot be encoded canonically (a float, a mixed-key map, an oversized int).

    ``str()`` names where: ``$.accounts.7.positions.BTC-PERP.size: float is not allowed``.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []  # innermost first, filled while unwinding

    def __str__(self) -> str:
        return f"${''.join(reversed(self.path))}: {self.problem}"


class SnapshotError(ValueError):
    """Snapshot bytes or a state dict that cannot be read; ``fault`` says which check."""

    def __init__(self, fault: Fault, message: str) -> None:
        super().__init__(message)
        self.fault = fault


class UnknownAccount(LookupError):
    """The requested account has no leaf in the snapshot."""


class VerifyResult(NamedTuple):
    """Outcome of ``verify_snapshot``: ``reason`` is None when ``ok``; ``checked`` lists
    the checks that passed, in order, for the CLI to report."""

    ok: bool
    reason: Fault | None
    detail: str = ""
    checked: tuple[str, ...] = ()


# -- canonical encoding ------------------------------------------------------------------


def _normalize(value: Any) -> Any:
    """Return ``value`` with maps rebuilt in canonical key order; refuse what is not allowed.

    Fast path on exact types (this runs over every value of every account); subclasses
    such as IntEnum or StrEnum are turned into plain ints and strs on the slow path. The
    path to an offending value is collected only while a ``CanonicalError`` unwinds.
    """
    t = type(value)
    if t is int:
        if _INT_MIN <= value <= _INT_MAX:
            return value
        raise CanonicalError(f"int {value} does not fit in 64 bits")
    if t is str or t is bytes or t is bool or value is None:
        return value
    if t is dict or isinstance(value, Mapping):
        key_types = set(map(type, value))
        if not (key_types <= _INT_KEYS or key_types <= _STR_KEYS):
            kinds = ", ".join(sorted(k.__name__ for k in key_types))
            raise CanonicalError(f"map keys must be all ints or all strs, received {kinds}")
        out = {}
        for k in sorted(value):
            v = value[k]
            tv = type(v)
            if tv is str or (tv is int and _INT_MIN <= v <= _INT_MAX):
                out[k] = v  # the common leaf values, without a call
                continue
            try:
                out[k] = _normalize(v)
            except CanonicalError as exc:
                exc.path.append(f".{k}")
                raise
        return out
    if t is list or t is tuple:
        items = []
        for i, v in enumerate(value):
            try:
                items.append(_normalize(v))
            except CanonicalError as exc:
                exc.path.append(f"[{i}]")
                raise
        return items
    if isinstance(value, int):
        return _normalize(int(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise CanonicalError(
        f"{t.__name__} is not allowed (ints, strs, bytes, bools, None, lists and maps only)"
    )


def canonical_pack(value: Any) -> bytes:
    """Encode ``value`` in crossbook's canonical msgpack form (see the module rules)."""
    return msgpack.packb(_normalize(value), use_bin_type=True)


def _unpack(content: bytes) -> Any:
    if len(content) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(
            Fault.MALFORMED, f"{len(content)} bytes is above the {MAX_SNAPSHOT_BYTES}-byte limit"
        )

    def no_ext(code: int, data: bytes) -> Any:
        raise ValueError(f"msgpack extension type {code} is not allowed")

    try:
        return msgpack.unpackb(
            content,
            raw=False,
            strict_map_key=False,
            use_list=True,
            ext_hook=no_ext,
            timestamp=0,
            max_str_len=MAX_STR_BYTES,
            max_bin_len=MAX_STR_BYTES,
            max_array_len=MAX_CONTAINER_LEN,
            max_map_len=MAX_CONTAINER_LEN,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.exceptions.ExtraData) as exc:
        raise SnapshotError(Fault.MALFORMED, f"not a valid msgpack document: {exc}") from exc


# -- state shape and derived figures -----------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _money_map(value: object, where: str) -> None:
    if not isinstance(value, Mapping):
        raise SnapshotError(Fault.MALFORMED, f"{where} must be a map of asset to int")
    for asset, amount in value.items():
        if not isinstance(asset, str) or not _is_int(amount):
            raise SnapshotError(
                Fault.MALFORMED, f"{where}[{asset!r}] must be an int amount under a str asset"
            )


def _check_state(state: object) -> Mapping[str, Any]:
    if not isinstance(state, Mapping):
        raise SnapshotError(Fault.MALFORMED, "state must be a map")
    for key in ("ts", "last_fill_seq"):
        if not _is_int(state.get(key)):
            raise SnapshotError(Fault.MALFORMED, f"state[{key!r}] must be an int")
    accounts = state.get("accounts")
    if not isinstance(accounts, Mapping):
        raise SnapshotError(Fault.MALFORMED, "state['accounts'] must be a map")
    for account_id, entry in accounts.items():
        if not _is_int(account_id):
            raise SnapshotError(Fault.MALFORMED, f"account id {account_id!r} is not an int")
        if not isinstance(entry, Mapping):
            raise SnapshotError(Fault.MALFORMED, f"account {account_id} entry must be a map")
        _money_map(entry.get("balances", {}), f"accounts[{account_id}]['balances']")
    for key in _MONEY_MAPS:
        _money_map(state.get(key, {}), f"state[{key!r}]")
    asset = state.get("settlement_asset", "")
    if not isinstance(asset, str):
        raise SnapshotError(Fault.MALFORMED, "state['settlement_asset'] must be a str")
    return state


def _normalized_state(state: object, *, shape_checked: bool = False) -> dict[str, Any]:
    """Check the state's shape and return it in canonical form (maps in key order)."""
    if not shape_checked:
        _check_state(state)
    try:
        return _normalize(state)
    except CanonicalError as exc:
        raise SnapshotError(Fault.MALFORMED, f"state {exc}") from exc


def _leaves_of(norm: dict[str, Any]) -> tuple[list[int], list[bytes]]:
    # ``norm`` is canonical already: accounts in id order, {"account", "entry"} is sorted.
    accounts = norm["accounts"]
    leaves = [
        msgpack.packb({"account": a, "entry": entry}, use_bin_type=True)
        for a, entry in accounts.items()
    ]
    return list(accounts), leaves


def account_leaves(state: Mapping[str, Any]) -> tuple[list[int], list[bytes]]:
    """Return (account ids ascending, their canonical leaves) for a state dict."""
    return _leaves_of(_normalized_state(state))


def _globals_digest(norm: dict[str, Any]) -> bytes:
    rest = {k: v for k, v in norm.items() if k != "accounts"}
    return hashlib.sha256(msgpack.packb(rest, use_bin_type=True)).digest()


def _totals_and_conservation(
    state: Mapping[str, Any],
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
    balances: dict[str, int] = {}
    for entry in state["accounts"].values():
        for asset, amount in entry.get("balances", {}).items():
            balances[asset] = balances.get(asset, 0) + amount
    maps = {key: state.get(key, {}) for key in _MONEY_MAPS}
    assets = sorted(set(balances).union(*(set(m) for m in maps.values())))
    totals: dict[str, dict[str, int]] = {}
    conservation: dict[str, dict[str, Any]] = {}
    for asset in assets:
        row = {"balances": balances.get(asset, 0)}
        row.update({key: maps[key].get(asset, 0) for key in _MONEY_MAPS})
        totals[asset] = row
        ledger = row["balances"] + row["fee_pool"] + row["insurance_fund"]
        net = row["deposits"] - row["withdrawals"]
        conservation[asset] = {
            "ledger_total": ledger,
            "net_deposits": net,
            "difference": ledger - net,
            "ok": ledger == net,
        }
    return totals, conservation


# -- header ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotHeader:
    """The snapshot header. ``totals[asset]`` holds balances, fee_pool, insurance_fund,
    deposits and withdrawals; ``conservation[asset]`` holds ledger_total (balances +
    fee_pool + insurance_fund), net_deposits (deposits - withdrawals), difference, ok."""

    version: int
    root: bytes
    prev_root: bytes
    prev_digest: bytes
    last_fill_seq: int
    ts: int
    account_count: int
    settlement_asset: str
    globals_digest: bytes
    totals: dict[str, dict[str, int]]
    conservation: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The header as stored in the file (bytes stay bytes: msgpack bin)."""
        return {
            "format": FORMAT,
            "version": self.version,
            "root": self.root,
            "prev_root": self.prev_root,
            "prev_digest": self.prev_digest,
            "last_fill_seq": self.last_fill_seq,
            "ts": self.ts,
            "account_count": self.account_count,
            "settlement_asset": self.settlement_asset,
            "globals_digest": self.globals_digest,
            "totals": self.totals,
            "conservation": self.conservation,
        }

    @classmethod
    def from_dict(cls, raw: object) -> SnapshotHeader:
        """Parse a stored header, raising ``SnapshotError`` for anything off-shape."""
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT:
            raise SnapshotError(Fault.MALFORMED, f"no {FORMAT!r} header")
        if raw.get("version") != VERSION:
            raise SnapshotError(
                Fault.UNSUPPORTED_VERSION,
                f"snapshot version {raw.get('version')!r}; this build reads version {VERSION}",
            )
        names = [f.name for f in fields(cls)]
        expected = {*names, "format"}
        if set(raw) != expected:
            odd = sorted(map(str, set(raw) ^ expected))
            raise SnapshotError(Fault.MALFORMED, f"header fields differ from v1: {odd}")
        for key in ("root", "prev_root", "prev_digest", "globals_digest"):
            if not isinstance(raw[key], bytes) or len(raw[key]) != HASH_SIZE:
                raise SnapshotError(Fault.MALFORMED, f"header {key} must be {HASH_SIZE} bytes")
        for key in ("last_fill_seq", "ts", "account_count"):
            if not _is_int(raw[key]):
                raise SnapshotError(Fault.MALFORMED, f"header {key} must be an int")
        if not isinstance(raw["settlement_asset"], str):
            raise SnapshotError(Fault.MALFORMED, "header settlement_asset must be a str")
        for key in ("totals", "conservation"):
            if not isinstance(raw[key], dict) or not all(
                isinstance(v, dict) for v in raw[key].values()
            ):
                raise SnapshotError(Fault.MALFORMED, f"header {key} must be a map of maps")
        return cls(**{k: raw[k] for k in names})


def header_digest(header: SnapshotHeader) -> bytes:
    """SHA-256 of the header's canonical encoding: the snapshot's identity in the chain."""
    return hashlib.sha256(canonical_pack(header.to_dict())).digest()


def signed_message(header: SnapshotHeader) -> bytes:
    """The bytes a snapshot signature is over: ``SIGNATURE_CONTEXT`` + ``header_digest``."""
    return SIGNATURE_CONTEXT + header_digest(header)


@dataclass(frozen=True, slots=True)
class SnapshotSignature:
    """A snapshot's signature: the signer's Ed25519 public ``key`` (32 bytes, as the signer
    claims: a verifier checks ``sig`` with the key it trusts, never with this one) and
    ``sig`` (64 bytes) over ``signed_message(header)``."""

    key: bytes
    sig: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"alg": SIGNATURE_ALG, "key": self.key, "sig": self.sig}

    @classmethod
    def from_dict(cls, raw: object) -> SnapshotSignature:
        """Parse a stored signature, raising ``SnapshotError`` for anything off-shape."""
        if not isinstance(raw, Mapping) or set(raw) != {"alg", "key", "sig"}:
            raise SnapshotError(Fault.MALFORMED, "signature must be a map of alg, key and sig")
        if raw["alg"] != SIGNATURE_ALG:
            raise SnapshotError(Fault.MALFORMED, f"signature alg {raw['alg']!r} is not ed25519")
        for name, size in (("key", PUBLIC_KEY_SIZE), ("sig", SIGNATURE_SIZE)):
            if not isinstance(raw[name], bytes) or len(raw[name]) != size:
                raise SnapshotError(Fault.MALFORMED, f"signature {name} must be {size} bytes")
        return cls(raw["key"], raw["sig"])


Signer = Callable[[bytes], SnapshotSignature]
"""Signs a message (``signed_message(header)``); ``gateway.snapshot_signing`` makes one."""


def _make_header(
    norm: dict[str, Any],
    prev_root: bytes,
    prev_digest: bytes,
    tree: MerkleTree,
    count: int,
) -> SnapshotHeader:
    totals, conservation = _totals_and_conservation(norm)
    return SnapshotHeader(
        version=VERSION,
        root=tree.root(),
        prev_root=prev_root,
        prev_digest=prev_digest,
        last_fill_seq=norm["last_fill_seq"],
        ts=norm["ts"],
        account_count=count,
        settlement_asset=norm.get("settlement_asset", ""),
        globals_digest=_globals_digest(norm),
        totals=totals,
        conservation=conservation,
    )


# -- build, load ---------------------------------------------------------------------------


class BuiltSnapshot(NamedTuple):
    content: bytes
    header: SnapshotHeader


def build(
    state: Mapping[str, Any],
    prev_root: bytes,
    prev_digest: bytes = ZERO_ROOT,
    sign: Signer | None = None,
) -> BuiltSnapshot:
    """Build the snapshot bytes and return them with the header (see ``build_snapshot``);
    with ``sign`` the file also carries its signature over ``signed_message(header)``."""
    for name, link in (("prev_root", prev_root), ("prev_digest", prev_digest)):
        if not isinstance(link, bytes) or len(link) != HASH_SIZE:
            raise SnapshotError(Fault.MALFORMED, f"{name} must be {HASH_SIZE} bytes")
    norm = _normalized_state(state)
    ids, leaves = _leaves_of(norm)
    header = _make_header(norm, prev_root, prev_digest, MerkleTree(leaves), len(ids))
    doc = {"header": _normalize(header.to_dict()), "state": norm}
    if sign is not None:
        doc["signature"] = sign(signed_message(header)).to_dict()
    return BuiltSnapshot(msgpack.packb(doc, use_bin_type=True), header)


def build_snapshot(
    state: Mapping[str, Any], prev_root: bytes, prev_digest: bytes = ZERO_ROOT
) -> bytes:
    """Return the snapshot bytes of ``state`` chained to the previous snapshot.

    ``prev_root`` is the previous snapshot's root and ``prev_digest`` its
    ``header_digest``; both are ``ZERO_ROOT`` for the first snapshot of a chain.
    ``gateway.snapshot_store.SnapshotWriter`` passes both.
    Raises ``SnapshotError`` (fault MALFORMED) when the state is off-shape or holds a value
    the canonical encoding refuses (a float, a numpy scalar, a map with mixed key types).
    """
    return build(state, prev_root, prev_digest).content


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A decoded snapshot: its header and the clearing state it carries."""

    header: SnapshotHeader
    state: dict[str, Any]
    signature: SnapshotSignature | None = None

    def account_ids(self) -> list[int]:
        """Account ids in leaf order (ascending)."""
        return sorted(self.state["accounts"])

    def leaves(self) -> list[bytes]:
        """The canonical leaf bytes in leaf order."""
        return account_leaves(self.state)[1]


def load_snapshot(content: bytes) -> Snapshot:
    """Decode snapshot bytes (strictly) into a ``Snapshot``; does not check integrity.

    Raises ``SnapshotError`` (MALFORMED or UNSUPPORTED_VERSION) for bytes that are not a
    well-formed version-1 snapshot. Use ``verify_snapshot`` to check root, header,
    conservation and chain.
    """
    doc = _unpack(bytes(content))
    if not isinstance(doc, dict) or set(doc) - {"signature"} != {"header", "state"}:
        raise SnapshotError(
            Fault.MALFORMED, "a snapshot is a map of exactly header and state (and signature)"
        )
    header = SnapshotHeader.from_dict(doc["header"])
    state = _check_state(doc["state"])
    signature = SnapshotSignature.from_dict(doc["signature"]) if "signature" in doc else None
    return Snapshot(header, dict(state), signature)


# -- verification --------------------------------------------------------------------------


def _fail(fault: Fault, detail: str, checked: list[str]) -> VerifyResult:
    return VerifyResult(False, fault, detail, tuple(checked))


def _verify_one(content: bytes, checked: list[str]) -> tuple[Snapshot | None, VerifyResult]:
    try:
        snap = load_snapshot(content)
        norm = _normalized_state(snap.state, shape_checked=True)
        _ids, leaves = _leaves_of(norm)
        tree = MerkleTree(leaves)
        expected = _make_header(
            norm, snap.header.prev_root, snap.header.prev_digest, tree, len(leaves)
        )
    except SnapshotError as exc:
        return None, _fail(exc.fault, str(exc), checked)
    checked.append(f"format version {VERSION}")
    got = snap.header
    if got.root != expected.root:
        return snap, _fail(
            Fault.ROOT_MISMATCH,
            f"header root {got.root.hex()} != root recomputed from "
            f"{len(leaves)} leaves {expected.root.hex()}",
            checked,
        )
    checked.append(f"root recomputed from {len(leaves)} account leaves")
    for field in (
        "account_count",
        "last_fill_seq",
        "ts",
        "settlement_asset",
        "globals_digest",
        "totals",
        "conservation",
    ):
        have, want = getattr(got, field), getattr(expected, field)
        if have != want:
            shown = (have.hex(), want.hex()) if isinstance(have, bytes) else (have, want)
            return snap, _fail(
                Fault.HEADER_MISMATCH,
                f"header {field} is {shown[0]!r} but the state gives {shown[1]!r}",
                checked,
            )
    checked.append("header fields match the state")
    broken = {a: c for a, c in expected.conservation.items() if not c["ok"]}
    if broken:
        figures = "; ".join(
            f"{a}: balances+fee_pool+insurance_fund = {c['ledger_total']} but "
            f"deposits-withdrawals = {c['net_deposits']} (difference {c['difference']})"
            for a, c in broken.items()
        )
        return snap, _fail(Fault.CONSERVATION_VIOLATED, figures, checked)
    assets = ", ".join(expected.conservation) or "no assets"
    checked.append(f"conservation exact for {assets}")
    return snap, VerifyResult(True, None, "", tuple(checked))


def verify_snapshot(content: bytes, prev_content: bytes | None = None) -> VerifyResult:
    """Check a snapshot: format, Merkle root from the leaves, every header field against
    the state, exact conservation per asset, and, when ``prev_content`` is given, the
    previous snapshot itself and the chain (``prev_root`` == previous root, ``prev_digest``
    == previous header digest, fill sequence not going backwards). Never raises for bad
    bytes; the first failed check is reported.
    """
    checked: list[str] = []
    snap, result = _verify_one(content, checked)
    if not result.ok or prev_content is None:
        return result
    assert snap is not None
    prev, prev_result = _verify_one(prev_content, [])
    # A previous snapshot that records a conservation failure is still a sound link (its
    # root and header are intact); that failure is reported when it is verified itself.
    if prev is None or not (prev_result.ok or prev_result.reason is Fault.CONSERVATION_VIOLATED):
        return _fail(
            Fault.PREVIOUS_INVALID,
            f"previous snapshot: {prev_result.reason}: {prev_result.detail}",
            checked,
        )
    if snap.header.prev_root != prev.header.root:
        return _fail(
            Fault.CHAIN_BROKEN,
            f"prev_root {snap.header.prev_root.hex()} != previous snapshot's root "
            f"{prev.header.root.hex()}",
            checked,
        )
    if snap.header.prev_digest != header_digest(prev.header):
        return _fail(
            Fault.CHAIN_BROKEN,
            f"prev_digest {snap.header.prev_digest.hex()} != previous snapshot's header "
            f"digest {header_digest(prev.header).hex()}",
            checked,
        )
    if snap.header.last_fill_seq < prev.header.last_fill_seq:
        return _fail(
            Fault.CHAIN_ORDER,
            f"last_fill_seq {snap.header.last_fill_seq} is before the previous snapshot's "
            f"{prev.header.last_fill_seq}",
            checked,
        )
    checked.append("chain: prev_root and prev_digest match the previous snapshot")
    return VerifyResult(True, None, "", tuple(checked))


# -- inclusion proofs ----------------------------------------------------------------------


def inclusion_proof(content: bytes, account_id: int) -> dict[str, Any]:
    """Return the JSON-able inclusion proof of ``account_id`` in the snapshot ``content``.

    Keys: account, leaf (hex of the canonical leaf bytes), leaf_index, tree_size,
    audit_path (hex hashes, bottom up), root (hex), plus last_fill_seq and ts to name the
    snapshot. ``clearing.merkle.verify_inclusion`` checks it after hex-decoding. Raises
    ``UnknownAccount`` for an account without a leaf, and ``SnapshotError`` when the file
    is malformed or its header root does not match its leaves (no proof against a root the
    snapshot does not hold).
    """
    snap = load_snapshot(content)
    ids, leaves = _leaves_of(_normalized_state(snap.state, shape_checked=True))
    tree = MerkleTree(leaves)
    if tree.root() != snap.header.root:
        raise SnapshotError(
            Fault.ROOT_MISMATCH, "the header root does not match the leaves; no proof issued"
        )
    if isinstance(account_id, bool) or not isinstance(account_id, int):
        raise UnknownAccount(f"account id must be an int, received {account_id!r}")
    index = _find(ids, account_id)
    if index is None:
        raise UnknownAccount(f"account {account_id} is not in this snapshot ({len(ids)} accounts)")
    return {
        "account": account_id,
        "leaf": leaves[index].hex(),
        "leaf_index": index,
        "tree_size": tree.size,
        "audit_path": [h.hex() for h in tree.inclusion_proof(index)],
        "root": tree.root().hex(),
        "last_fill_seq": snap.header.last_fill_seq,
        "ts": snap.header.ts,
    }


def _find(sorted_ids: list[int], account_id: int) -> int | None:
    i = bisect_left(sorted_ids, account_id)
    return i if i < len(sorted_ids) and sorted_ids[i] == account_id else None


def decode_leaf(leaf: bytes) -> dict[str, Any]:
    """Decode a leaf back into {"account": id, "entry": {...}} (for display)."""
    doc = _unpack(leaf)
    if not isinstance(doc, dict) or set(doc) != {"account", "entry"}:
        raise SnapshotError(Fault.MALFORMED, "a leaf is a map of exactly account and entry")
    return doc
