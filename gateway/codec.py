"""Encode and strictly decode protocol messages: msgpack maps, one message per frame.

Rules:

1. ``decode`` never raises. Whatever arrives (random bytes, a wrong type, a huge or deeply
   nested frame, an unknown type or version) it returns either the message dict or a
   ``ProtocolError`` naming the problem with a ``Reason`` 1xxx code, the offending field and,
   when it could be read, the request's ``req_id`` and type, so the gateway can answer with a
   ``reject`` and keep the connection up.
2. Order of checks: frame type and size, msgpack well-formedness under unpacker limits, a map
   without duplicate keys, ``v``, ``type``, then each field against its table in
   ``gateway.schemas``, then the required fields, then the message's cross-field rule. The
   first problem found is reported.
3. ``decode`` fills in the documented default of every absent optional field, so consumers
   index ``msg["tif"]`` directly. It returns the unpacked dict itself (no copy).
4. ``encode`` checks the message against the same tables (unknown fields refused, so the
   exchange only sends documented fields) and raises ``EncodeError``: a bad outgoing message
   is a bug in our code, not input to answer.
"""

from __future__ import annotations

from typing import Any

import msgpack

from gateway.reasons import Reason
from gateway.schemas import (
    MAX_ARRAY_LEN,
    MAX_MAP_LEN,
    MAX_MESSAGE_SIZE,
    MAX_STR_LEN,
    MESSAGES,
    PROTOCOL_VERSION,
    PUSH_TYPES,
    REQUEST_TYPES,
    SUPPORTED_VERSIONS,
    MessageSpec,
)

_MALFORMED = Reason.MALFORMED_MESSAGE
_INVALID = Reason.INVALID_FIELD
_MISSING = Reason.MISSING_FIELD
_POST_CODES = {"invalid": _INVALID, "missing": _MISSING}

_unpackb = msgpack.unpackb
_packb = msgpack.packb
_StackError = msgpack.exceptions.StackError
_ExtraData = msgpack.exceptions.ExtraData
_UNPACK_LIMITS: dict[str, Any] = {
    "raw": False,
    "strict_map_key": True,
    "use_list": True,
    "max_str_len": MAX_STR_LEN,
    "max_bin_len": MAX_STR_LEN,  # bin is never valid, but refusing it per field names the field
    "max_array_len": MAX_ARRAY_LEN,
    "max_map_len": MAX_MAP_LEN,
    "max_ext_len": 0,
}


class ProtocolError:
    """Why a frame was refused. Returned by ``decode``, never raised by it."""

    __slots__ = ("field", "figures", "reason", "ref_type", "req_id", "text")

    def __init__(
        self,
        reason: Reason,
        text: str,
        field: str | None = None,
        req_id: int | None = None,
        ref_type: str | None = None,
        figures: dict[str, int | str] | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.field = field
        self.req_id = req_id
        self.ref_type = ref_type
        self.figures = figures

    def to_reject(self, ts: int = 0) -> dict:
        """The ``reject`` message answering the refused frame."""
        return {
            "v": PROTOCOL_VERSION,
            "type": "reject",
            "req_id": self.req_id,
            "ref_type": self.ref_type,
            "reason": int(self.reason),
            "reason_name": self.reason.name,
            "text": self.text,
            "figures": self.figures,
            "field": self.field,
            "ts": ts,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProtocolError) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        return (self.reason, self.text, self.field, self.req_id, self.ref_type)

    def __repr__(self) -> str:
        return (
            f"ProtocolError({self.reason.name}, {self.text!r}, field={self.field!r}, "
            f"req_id={self.req_id!r}, ref_type={self.ref_type!r})"
        )


class EncodeError(ValueError):
    """``encode`` was given a message the protocol does not allow (a bug in the caller)."""

    def __init__(self, error: ProtocolError) -> None:
        super().__init__(f"{error.reason.name}: {error.text}")
        self.error = error


def _short(v: object) -> str:
    """A bounded repr of attacker-controlled data for error texts."""
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _map_len(frame: bytes | bytearray | memoryview, n: int) -> int:
    """Entries announced by the top-level msgpack map header, or -1 if it is not a map."""
    b0 = frame[0]
    if 0x80 <= b0 <= 0x8F:
        return b0 & 0x0F
    if b0 == 0xDE and n >= 3:
        return (frame[1] << 8) | frame[2]
    if b0 == 0xDF and n >= 5:
        return int.from_bytes(bytes(frame[1:5]), "big")
    return -1


def check_fields(msg: dict, spec: MessageSpec, *, strict: bool) -> tuple[Reason, str, str] | None:
    """Check ``msg`` against ``spec`` without changing it: ``None`` or ``(reason, field, text)``.

    ``strict`` refuses unknown fields (requests, and everything we encode); otherwise they
    are ignored. Defaults are not filled here (see ``decode``).
    """
    get = spec.fields.get
    for key, value in msg.items():
        f = get(key)
        if f is None:
            if strict:
                name = key if type(key) is str and len(key) <= 40 else _short(key)
                return (_INVALID, name, "unknown field")
            continue
        t = type(value)
        if t is f.pytype:  # inline fast paths of the common scalar kinds
            if t is int:
                if f.lo <= value <= f.hi:
                    continue
            elif t is str:
                choices = f.choices
                if choices is not None:
                    if value in choices:
                        continue
                elif f.min_len <= len(value) <= f.max_len and (
                    not f.printable or (value.isascii() and value.isprintable())
                ):
                    continue
            else:  # bool
                continue
        elif value is None and f.nullable:
            continue
        problem = f.check(value)
        if problem is not None:
            return (_INVALID, key, problem)
    required = spec.required
    if not required <= msg.keys():
        missing = sorted(required - msg.keys())[0]
        return (_MISSING, missing, "required field is missing")
    return None


def _post(msg: dict, spec: MessageSpec, strict: bool, fill: bool) -> tuple[Reason, str, str] | None:
    found = spec.post(msg, strict, fill)  # type: ignore[misc]
    if found is None:
        return None
    code, name, problem = found
    return (_POST_CODES[code], name, problem)


def decode(
    frame: bytes | bytearray | memoryview, accept: frozenset[str] | None = None
) -> dict | ProtocolError:
    """Decode one frame into a checked message dict, or a ``ProtocolError``. Never raises.

    ``accept`` limits the message types (``REQUEST_TYPES`` on the gateway, ``PUSH_TYPES`` in a
    client); a valid message of another type is UNKNOWN_MESSAGE_TYPE.
    """
    try:
        return _decode(frame, accept)
    except Exception as exc:  # a bug in a check must not take the gateway down
        return ProtocolError(_MALFORMED, f"undecodable message ({type(exc).__name__})")


def decode_request(frame: bytes | bytearray | memoryview) -> dict | ProtocolError:
    """Decode a frame a client sent: only request types are accepted (the gateway's entry)."""
    return decode(frame, REQUEST_TYPES)


def decode_push(frame: bytes | bytearray | memoryview) -> dict | ProtocolError:
    """Decode a frame the exchange sent: only reply/push types are accepted (the SDK's entry)."""
    return decode(frame, PUSH_TYPES)


def _decode(frame: Any, accept: frozenset[str] | None) -> dict | ProtocolError:
    t = type(frame)
    if t is not bytes and t is not bytearray and t is not memoryview:
        return ProtocolError(_MALFORMED, f"a frame must be bytes, got {t.__name__}")
    n = len(frame)
    if n > MAX_MESSAGE_SIZE:
        return ProtocolError(
            Reason.MESSAGE_TOO_LARGE,
            f"frame of {n} bytes exceeds the limit of {MAX_MESSAGE_SIZE}",
            figures={"size": n, "limit": MAX_MESSAGE_SIZE},
        )
    if n == 0:
        return ProtocolError(_MALFORMED, "empty frame")
    entries = _map_len(frame, n)
    if entries < 0:
        return ProtocolError(_MALFORMED, "a message must be a msgpack map")
    if entries > MAX_MAP_LEN:
        return ProtocolError(_MALFORMED, f"more than {MAX_MAP_LEN} fields")
    try:
        msg = _unpackb(frame, **_UNPACK_LIMITS)
    except _StackError:
        return ProtocolError(_MALFORMED, "nested too deep")
    except _ExtraData:
        return ProtocolError(_MALFORMED, "trailing bytes after the message")
    except UnicodeDecodeError:
        return ProtocolError(_MALFORMED, "string is not valid UTF-8")
    except ValueError as exc:
        text = str(exc)
        if "max_ext_len" in text:
            return ProtocolError(_MALFORMED, "msgpack ext types (timestamps included) are not used")
        if "exceeds max_" in text:
            return ProtocolError(_MALFORMED, f"limit exceeded: {text[:80]}")
        if "map key" in text:
            return ProtocolError(_MALFORMED, "map keys must be strings")
        return ProtocolError(_MALFORMED, "not valid msgpack")
    except Exception:
        return ProtocolError(_MALFORMED, "not valid msgpack")
    if type(msg) is not dict:  # the header said map; defensive
        return ProtocolError(_MALFORMED, "a message must be a msgpack map")
    if len(msg) != entries:
        return ProtocolError(_MALFORMED, "duplicate field")

    req_id = msg.get("req_id")
    if type(req_id) is not int or not 0 <= req_id < (1 << 63):
        req_id = None
    v = msg.get("v")
    if v is None:
        return ProtocolError(_MISSING, "field 'v' (protocol version) is missing", "v", req_id)
    if type(v) is not int:
        return ProtocolError(_INVALID, "field 'v' must be an int", "v", req_id)
    if v not in SUPPORTED_VERSIONS:
        return ProtocolError(
            Reason.UNSUPPORTED_VERSION,
            f"protocol version {_short(v)} is not supported (supported: {PROTOCOL_VERSION})",
            "v",
            req_id,
            figures={"supported": PROTOCOL_VERSION},
        )
    mtype = msg.get("type")
    if mtype is None:
        return ProtocolError(_MISSING, "field 'type' is missing", "type", req_id)
    if type(mtype) is not str:
        return ProtocolError(_INVALID, "field 'type' must be a string", "type", req_id)
    spec = MESSAGES.get(mtype)
    if spec is None:
        return ProtocolError(
            Reason.UNKNOWN_MESSAGE_TYPE, f"unknown message type {_short(mtype)}", "type", req_id
        )
    if accept is not None and mtype not in accept:
        where = "a request" if spec.request else "a reply"
        return ProtocolError(
            Reason.UNKNOWN_MESSAGE_TYPE,
            f"{mtype!r} is {where} and not accepted here",
            "type",
            req_id,
            mtype,
        )
    found = check_fields(msg, spec, strict=spec.request)
    if found is None:
        defaults = spec.defaults
        if defaults:
            msg = {**defaults, **msg}
        if spec.post is not None:
            found = _post(msg, spec, spec.request, True)
    if found is not None:
        reason, name, problem = found
        return ProtocolError(reason, f"field {name}: {problem}", name, req_id, mtype)
    return msg


def validate(msg: dict) -> ProtocolError | None:
    """Check an outgoing message strictly, without changing it: ``None`` if it is valid."""
    if type(msg) is not dict:
        return ProtocolError(_MALFORMED, "a message must be a dict")
    mtype = msg.get("type")
    spec = MESSAGES.get(mtype) if type(mtype) is str else None
    if spec is None:
        return ProtocolError(Reason.UNKNOWN_MESSAGE_TYPE, f"unknown message type {_short(mtype)}")
    if msg.get("v") not in SUPPORTED_VERSIONS or type(msg.get("v")) is not int:
        return ProtocolError(Reason.UNSUPPORTED_VERSION, f"bad version {_short(msg.get('v'))}")
    found = check_fields(msg, spec, strict=True)
    if found is None and spec.post is not None:
        found = _post(msg, spec, True, False)
    if found is not None:
        reason, name, problem = found
        return ProtocolError(reason, f"{mtype}.{name}: {problem}", name, None, mtype)
    return None


def encode(msg: dict, *, check: bool = True) -> bytes:
    """Pack one message into one frame. Adds ``"v"`` if absent (without changing ``msg``).

    With ``check`` (the default) the message is validated first; pass ``check=False`` only on
    a hot path whose messages tests have already validated. Raises ``EncodeError``.
    """
    if "v" not in msg:
        msg = {"v": PROTOCOL_VERSION, **msg}
    if check:
        error = validate(msg)
        if error is not None:
            raise EncodeError(error)
    try:
        data = _packb(msg, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(ProtocolError(_INVALID, f"cannot pack: {exc}")) from exc
    if len(data) > MAX_MESSAGE_SIZE:
        raise EncodeError(
            ProtocolError(
                Reason.MESSAGE_TOO_LARGE,
                f"encoded message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}; split it",
            )
        )
    return data
