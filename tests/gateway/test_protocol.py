"""The wire protocol (gateway/protocol.py, codec.py, schemas.py): round trips of every
message type, strict decoding of hostile frames, and docs that match the code."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import gateway.reasons
import matching.checksum
from gateway import protocol as P
from gateway.schemas import CHANNELS, MESSAGES, QUERIES, RECORDS, Field
from matching.enums import EndReason, OrdType, Side, StpMode, TimeInForce

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
Reason = P.Reason


_CHARS = st.characters(exclude_categories=("Cs",))  # lone surrogates cannot be UTF-8


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def err(frame: bytes, accept: frozenset[str] | None = None) -> P.ProtocolError:
    result = P.decode(frame, accept)
    assert isinstance(result, P.ProtocolError), result
    return result


NEW = {
    "v": 1,
    "type": "new_order",
    "req_id": 5,
    "instrument": "BTC-PERP",
    "side": "buy",
    "qty": 3,
    "price": 100,
    "client_order_id": "c1",
}


# -- valid messages from the tables ------------------------------------------------------
def _scalar(f: Field) -> st.SearchStrategy:
    if f.pytype is int:
        s: st.SearchStrategy = st.integers(f.lo, f.hi)
    elif f.pytype is bool:
        s = st.booleans()
    elif f.pytype is str and f.choices is not None:
        s = st.sampled_from(sorted(f.choices))
    elif f.pytype is str:
        chars = st.characters(min_codepoint=32, max_codepoint=126) if f.printable else _CHARS
        s = st.text(chars, min_size=f.min_len, max_size=min(f.max_len, 20))
    elif f.kind.startswith("decimal str"):  # avg_px, entry_price, Greeks, contract_size
        s = st.builds(P.decimal_ratio, st.integers(-(10**12), 10**12), st.integers(1, 10**4))
    elif f.name == "figures":
        s = st.dictionaries(
            st.text(_CHARS, min_size=1, max_size=8),
            st.integers(-(2**63), 2**63 - 1) | st.text(_CHARS, max_size=10),
            max_size=4,
        )
    elif f.name == "channels":
        s = st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True)
    else:
        raise AssertionError(f"no strategy for {f!r}")
    if f.nullable or f.name == "figures":
        s = s | st.none()
    return s


def _record(record: Any) -> st.SearchStrategy:
    required = {f.name: _scalar(f) for f in record.fields if f.required}
    optional = {f.name: _scalar(f) for f in record.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


@st.composite
def valid_message(draw: st.DrawFn, mtype: str) -> dict:
    spec = MESSAGES[mtype]
    msg: dict[str, Any] = {"v": 1, "type": mtype}
    for f in spec.fields.values():
        if f.name in ("v", "type"):
            continue
        if f.name == "items":
            continue
        if f.required or draw(st.booleans()):
            msg[f.name] = draw(_scalar(f))
    if mtype == "query_reply":
        msg["items"] = draw(st.lists(_record(RECORDS[msg["query"]]), max_size=3))
    assume(P.validate(msg) is None)  # cross-field rules (limit needs a price, ...)
    return msg


def with_defaults(msg: dict) -> dict:
    out = {**MESSAGES[msg["type"]].defaults, **msg}
    if msg["type"] == "query_reply":
        record = RECORDS[msg["query"]]
        out["items"] = [
            {**{f.name: f.default for f in record.fields if not f.required}, **item}
            for item in msg["items"]
        ]
    return out


@pytest.mark.parametrize("mtype", sorted(MESSAGES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_message_type_round_trips(mtype: str, data: st.DataObject) -> None:
    msg = data.draw(valid_message(mtype))
    frame = P.encode(msg)
    assert len(frame) <= P.MAX_MESSAGE_SIZE
    decoded = P.decode(frame)
    assert decoded == with_defaults(msg)
    accept = P.REQUEST_TYPES if mtype in P.REQUEST_TYPES else P.PUSH_TYPES
    assert P.decode(frame, accept) == decoded
    assert P.decode(P.encode(decoded)) == decoded  # a decoded message re-encodes as is


def test_minimal_request_gets_its_defaults_filled() -> None:
    msg = P.decode_request(P.encode(NEW))
    assert msg == {
        **NEW,
        "ord_type": "limit",
        "tif": "gtc",
        "post_only": False,
        "reduce_only": False,
        "stp": "none",
        "expire_ts": 0,
    }


def test_msg_type_names_match_the_tables() -> None:
    names = {v for k, v in vars(P.MsgType).items() if k.isupper()}
    assert names == set(MESSAGES)
    assert set(MESSAGES) == P.REQUEST_TYPES | P.PUSH_TYPES
    assert not P.REQUEST_TYPES & P.PUSH_TYPES


def test_vocabularies_follow_the_matcher_enums() -> None:
    assert P.SIDE_CODES == {"buy": Side.BUY, "sell": Side.SELL}
    assert P.ORD_TYPE_CODES == {"market": OrdType.MARKET, "limit": OrdType.LIMIT}
    assert P.TIF_CODES == {"gtc": 1, "ioc": 3, "fok": 4, "gtd": 6}
    assert set(P.TIF_CODES.values()) == {int(t) for t in TimeInForce}
    assert set(P.STP_CODES.values()) == {int(m) for m in StpMode}
    assert set(P.END_REASON_CODES.values()) == {int(r) for r in EndReason}
    assert all(P.SIDE_NAMES[v] == k for k, v in P.SIDE_CODES.items())


def test_reexports_are_the_matching_objects() -> None:
    assert P.Reason is gateway.reasons.Reason
    assert P.book_checksum is matching.checksum.book_checksum
    assert P.book_checksum([(100, 7), (99, 1)], [(101, 5)]) == matching.checksum.book_checksum(
        [(100, 7), (99, 1)], [(101, 5)]
    )


# -- strictness, one problem at a time ---------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"qty": True}, "qty", Reason.INVALID_FIELD),  # bool is not int
        ({"qty": 1.0}, "qty", Reason.INVALID_FIELD),
        ({"qty": 0}, "qty", Reason.INVALID_FIELD),
        ({"qty": 2**63}, "qty", Reason.INVALID_FIELD),  # beyond int64
        ({"price": -5}, "price", Reason.INVALID_FIELD),
        ({"side": "BUY"}, "side", Reason.INVALID_FIELD),
        ({"side": 1}, "side", Reason.INVALID_FIELD),
        ({"tif": "day"}, "tif", Reason.INVALID_FIELD),
        ({"post_only": 1}, "post_only", Reason.INVALID_FIELD),
        ({"client_order_id": "x" * 65}, "client_order_id", Reason.INVALID_FIELD),
        ({"client_order_id": ""}, "client_order_id", Reason.INVALID_FIELD),
        ({"client_order_id": "a\nb"}, "client_order_id", Reason.INVALID_FIELD),
        ({"instrument": "BTC-PERPé"}, "instrument", Reason.INVALID_FIELD),
        ({"instrument": ["BTC-PERP"]}, "instrument", Reason.INVALID_FIELD),
        ({"instrument": {"a": 1}}, "instrument", Reason.INVALID_FIELD),
        ({"instrument": b"BTC-PERP"}, "instrument", Reason.INVALID_FIELD),  # bin is not str
        ({"req_id": -1}, "req_id", Reason.INVALID_FIELD),
        ({"post_olny": True}, "post_olny", Reason.INVALID_FIELD),  # unknown field
        ({"price": None}, "price", Reason.MISSING_FIELD),  # limit order needs a price
        ({"tif": "gtd"}, "expire_ts", Reason.MISSING_FIELD),
        ({"expire_ts": 10**18}, "expire_ts", Reason.INVALID_FIELD),  # only with gtd
    ],
)
def test_new_order_field_errors_name_the_field(change: dict, field: str, reason: Reason) -> None:
    e = err(pack({**NEW, **change}))
    assert (e.reason, e.field, e.ref_type) == (reason, field, "new_order")
    assert e.req_id == (5 if "req_id" not in change else None)
    assert field in e.text


@pytest.mark.parametrize("missing", ["instrument", "side", "qty", "client_order_id"])
def test_missing_required_field(missing: str) -> None:
    msg = {k: v for k, v in NEW.items() if k != missing}
    e = err(pack(msg))
    assert (e.reason, e.field) == (Reason.MISSING_FIELD, missing)


@pytest.mark.parametrize(
    ("msg", "reason", "field"),
    [
        ({"v": 1, "type": "cancel"}, Reason.MISSING_FIELD, "order_id"),
        ({"v": 1, "type": "cancel", "order_id": 1, "client_order_id": "a"}, Reason.INVALID_FIELD,
         "client_order_id"),
        ({"v": 1, "type": "amend", "order_id": 1}, Reason.MISSING_FIELD, "price"),
        ({"v": 1, "type": "cancel_all_after", "seconds": -1}, Reason.INVALID_FIELD, "seconds"),
        ({"v": 1, "type": "subscribe", "channels": []}, Reason.INVALID_FIELD, "channels"),
        ({"v": 1, "type": "subscribe", "channels": ["trades"]}, Reason.INVALID_FIELD, "channels"),
        ({"v": 1, "type": "subscribe", "channels": ["margin", "margin"]}, Reason.INVALID_FIELD,
         "channels"),
        ({"v": 1, "type": "logon", "heartbeat_ms": 10}, Reason.INVALID_FIELD, "heartbeat_ms"),
        ({"type": "logon"}, Reason.MISSING_FIELD, "v"),
        ({"v": True, "type": "logon"}, Reason.INVALID_FIELD, "v"),
        ({"v": 2, "type": "logon"}, Reason.UNSUPPORTED_VERSION, "v"),
        ({"v": 1}, Reason.MISSING_FIELD, "type"),
        ({"v": 1, "type": 3}, Reason.INVALID_FIELD, "type"),
        ({"v": 1, "type": "hack"}, Reason.UNKNOWN_MESSAGE_TYPE, "type"),
    ],
)  # fmt: skip
def test_request_errors(msg: dict, reason: Reason, field: str) -> None:
    e = err(pack(msg))
    assert (e.reason, e.field) == (reason, field)


def test_unsupported_version_says_which_is_supported() -> None:
    e = err(pack({"v": 9, "type": "logon", "req_id": 4}))
    assert e.figures == {"supported": 1} and e.req_id == 4


def test_gateway_refuses_exchange_messages_and_clients_refuse_requests() -> None:
    report = pack({"v": 1, "type": "subscribe_ack", "channels": []})
    e = err(report, P.REQUEST_TYPES)
    assert e.reason == Reason.UNKNOWN_MESSAGE_TYPE and "not accepted" in e.text
    assert isinstance(P.decode_request(report), P.ProtocolError)
    assert isinstance(P.decode_push(report), dict)
    assert isinstance(P.decode_push(pack(NEW)), P.ProtocolError)


def test_unknown_fields_in_exchange_messages_are_passed_through() -> None:
    frame = pack({"v": 1, "type": "logout_ack", "ts": 5, "new_field": [1, 2]})
    assert P.decode_push(frame) == {"v": 1, "type": "logout_ack", "ts": 5, "new_field": [1, 2],
                                    "req_id": None, "seq": None}  # fmt: skip
    with pytest.raises(P.EncodeError):  # but the exchange never sends undocumented fields
        P.encode({"v": 1, "type": "logout_ack", "ts": 5, "new_field": 1})


def test_query_reply_items_are_checked_against_their_record() -> None:
    good = {"v": 1, "type": "query_reply", "query": "balances", "ts": 1,
            "items": [{"asset": "USD", "total": 5, "free": 4, "used": 1, "ts": 1}]}  # fmt: skip
    assert isinstance(P.decode(pack(good)), dict)
    bad = {**good, "items": [{"asset": "USD", "total": 5, "free": True, "used": 1, "ts": 1}]}
    e = err(pack(bad))
    assert (e.reason, e.field) == (Reason.INVALID_FIELD, "items[0].free")
    e = err(pack({**good, "items": [{"asset": "USD"}]}))
    assert (e.reason, e.field) == (Reason.MISSING_FIELD, "items[0].total")
    e = err(pack({**good, "items": [1]}))
    assert (e.reason, e.field) == (Reason.INVALID_FIELD, "items")


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (b"", "empty"),
        (b"\x93\x01\x02\x03", "map"),  # an array
        (b"\xc0", "map"),  # nil
        (pack(NEW)[:-3], "msgpack"),  # truncated
        (pack(NEW) + b"\x00", "trailing"),
        (b"\x81\xa1v\xa2\xff\xfe", "UTF-8"),
        (b"\x81\xc1\x01", "msgpack"),  # reserved byte
        (pack({"v": 1, "type": "logon", "x": msgpack.ExtType(1, b"ab")}), "ext"),
        (pack({"v": 1, "type": "logon", "x": msgpack.Timestamp(1, 0)}), "ext"),
        (pack({1: 2}), "keys"),
        (b"\x82\xa1v\x01\xa1v\x01", "duplicate"),
        (b"\x81\xa1x" + b"\x91" * 2000 + b"\x01", "deep"),
        (pack({"v": 1, "type": "logon", "client": "x" * 5000}), "limit"),
        (pack({"v": 1, "type": "subscribe", "channels": ["margin"] * 2000}), "limit"),
        (pack({f"k{i}": i for i in range(70)}), "fields"),
        (b"\xde\x00", "map"),  # map16 header cut short
    ],
)
def test_malformed_frames(frame: bytes, needle: str) -> None:
    e = err(frame)
    assert e.reason == Reason.MALFORMED_MESSAGE
    assert needle.lower() in e.text.lower()


@pytest.mark.parametrize("frame", ["text", None, 12, [1], bytearray(pack(NEW))])
def test_frames_that_are_not_bytes(frame: Any) -> None:
    result = P.decode(frame)
    if isinstance(frame, bytearray):
        assert isinstance(result, dict)
    else:
        assert isinstance(result, P.ProtocolError) and result.reason == Reason.MALFORMED_MESSAGE


def test_too_large_frame_is_refused_before_unpacking() -> None:
    frame = pack({**NEW, "client_order_id": "x" * (P.MAX_MESSAGE_SIZE + 1)})
    e = err(frame)
    assert e.reason == Reason.MESSAGE_TOO_LARGE
    assert e.figures == {"size": len(frame), "limit": P.MAX_MESSAGE_SIZE}


def test_nesting_inside_a_field_is_an_invalid_field() -> None:
    nested: Any = 1
    for _ in range(500):
        nested = [nested]
    e = err(pack({**NEW, "price": nested}))
    assert (e.reason, e.field) == (Reason.INVALID_FIELD, "price")


def test_rejects_are_valid_messages_themselves() -> None:
    e = err(pack({**NEW, "qty": "3"}))
    reject = e.to_reject(ts=123)
    assert P.decode_push(P.encode(reject)) == {**reject, "seq": None, "account": None}
    assert reject["reason_name"] == "INVALID_FIELD" and reject["req_id"] == 5


def test_encode_checks_and_does_not_mutate() -> None:
    msg = {k: v for k, v in NEW.items() if k != "v"}
    frame = P.encode(msg)
    assert "v" not in msg and P.decode(frame)["v"] == 1
    with pytest.raises(P.EncodeError) as exc:
        P.encode({**NEW, "qty": True})
    assert exc.value.error.field == "qty"
    with pytest.raises(P.EncodeError):
        P.encode({"v": 1, "type": "nope"})
    with pytest.raises(P.EncodeError) as exc:
        P.encode(
            {"v": 1, "type": "query_reply", "query": "orders", "ts": 0, "items": []}
            | {"items": [{"junk": "x" * 4000}] * 20}
        )
    with pytest.raises(P.EncodeError) as exc:  # too large even unchecked
        P.encode({"v": 1, "type": "logon", "client": "x" * 70000}, check=False)
    assert exc.value.error.reason == Reason.MESSAGE_TOO_LARGE


# -- hypothesis: hostile input never raises and always names the problem -----------------
def _assert_refused_or_valid(frame: bytes, accept: frozenset[str] | None = None) -> None:
    result = P.decode(frame, accept)
    if isinstance(result, P.ProtocolError):
        assert result.reason.stage == "gateway"
        assert result.text
        P.encode(result.to_reject())  # the answer is itself a valid message
    else:
        assert type(result) is dict and result["type"] in MESSAGES
        if accept is P.REQUEST_TYPES:
            assert P.validate(result) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes(frame: bytes) -> None:
    _assert_refused_or_valid(frame)


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True)
    | st.text(_CHARS, max_size=20)
    | st.binary(max_size=10)
    | st.sampled_from(["v", "type", "new_order", "buy", "BTC-PERP", "gtc", 1])
)
_objects = st.recursive(
    _leaf,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(_CHARS, max_size=8) | st.sampled_from(["v", "type", "qty"]), children,
                      max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(_objects)
def test_random_msgpack_objects(obj: Any) -> None:
    _assert_refused_or_valid(pack(obj), P.REQUEST_TYPES)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted({f for s in MESSAGES.values() for f in s.fields})),
                    _objects, max_size=6),
    st.sampled_from(sorted(MESSAGES)),
)  # fmt: skip
def test_random_fields_on_real_types(fields: dict, mtype: str) -> None:
    _assert_refused_or_valid(pack({"v": 1, "type": mtype, **fields}), P.REQUEST_TYPES)
    _assert_refused_or_valid(pack({"v": 1, "type": mtype, **fields}), P.PUSH_TYPES)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.sampled_from(sorted(P.REQUEST_TYPES)), st.data())
def test_one_wrong_value_is_named(mtype: str, data: st.DataObject) -> None:
    msg = data.draw(valid_message(mtype))
    spec = MESSAGES[mtype]
    name = data.draw(st.sampled_from(sorted(n for n in spec.fields if n not in ("v", "type"))))
    value = data.draw(_objects)
    assume(spec.fields[name].check(value) is not None)
    e = err(pack({**msg, name: value}))
    assert (e.reason, e.field) == (Reason.INVALID_FIELD, name)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.sampled_from(sorted(P.REQUEST_TYPES)), st.data())
def test_one_missing_field_is_named(mtype: str, data: st.DataObject) -> None:
    spec = MESSAGES[mtype]
    required = sorted(n for n in spec.required if n not in ("v", "type"))
    assume(required)
    msg = data.draw(valid_message(mtype))
    name = data.draw(st.sampled_from(required))
    del msg[name]
    e = err(pack(msg))
    assert (e.reason, e.field) == (Reason.MISSING_FIELD, name)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["list", "map"]))
def test_deep_nesting(depth: int, kind: str) -> None:
    nested: Any = 1
    for _ in range(depth):
        nested = [nested] if kind == "list" else {"a": nested}
    try:
        frame = pack({**NEW, "price": nested})
    except ValueError:  # the packer has its own depth limit; build the bytes by hand
        head = b"\x91" if kind == "list" else b"\x81\xa1a"
        frame = b"\x81\xa5price" + head * depth + b"\x01"  # {"price": [[[...1...]]]}
    result = err(frame)
    assert result.reason in (Reason.MALFORMED_MESSAGE, Reason.INVALID_FIELD,
                             Reason.MISSING_FIELD)  # fmt: skip
    if depth > 1024:
        assert result.reason == Reason.MALFORMED_MESSAGE and "deep" in result.text


@settings(max_examples=20, deadline=None)
@given(st.integers(P.MAX_MESSAGE_SIZE + 1, 4 * P.MAX_MESSAGE_SIZE))
def test_huge_frames(size: int) -> None:
    frame = pack({**NEW, "client_order_id": "x" * size})
    e = err(frame)
    assert e.reason == Reason.MESSAGE_TOO_LARGE


# -- decimals ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("num", "den", "text"),
    [(0, 0, "0"), (0, 5, "0"), (505, 5, "101"), (1015, 10, "101.5"), (709, 7, "101.28571429"),
     (-3, 2, "-1.5"), (1, 3, "0.33333333"), (2, 3, "0.66666667"), (1, 2 * 10**8, "0"),
     (3, 2 * 10**8, "0.00000002"), (5, -2, "-2.5")],
)  # fmt: skip
def test_decimal_ratio(num: int, den: int, text: str) -> None:
    assert P.decimal_ratio(num, den) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**20), 10**20), st.integers(1, 10**9))
def test_decimal_ratio_is_nearest_with_ties_to_even(num: int, den: int) -> None:
    text = P.decimal_ratio(num, den)
    assert MESSAGES["exec_report"].fields["avg_px"].check(text) is None
    exact = Fraction(num, den)
    got = Fraction(text)
    ulp = Fraction(1, 10**P.AVG_PX_DECIMALS)
    assert abs(got - exact) <= ulp / 2
    if (exact / ulp).denominator == 1:
        assert got == exact  # exact whenever representable


def test_to_decimal() -> None:
    assert str(P.to_decimal(6500050, 2)) == "65000.50"
    assert str(P.to_decimal("101.5", 3)) == "0.1015"


# -- the documentation -------------------------------------------------------------------
def test_docs_generated_blocks_are_current() -> None:
    text = DOCS.read_text(encoding="utf-8")
    new, missing = P.render_docs(text)
    assert not missing, f"docs/protocol.md lacks blocks for {missing}"
    assert new == text, (
        "docs/protocol.md is stale: python -m gateway.protocol --write-docs docs/protocol.md"
    )


def test_docs_reason_table_lists_every_reason() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d{4}) \| `([A-Z_]+)` \|", text, re.M)
    assert [(int(c), n) for c, n in rows] == [(r.value, r.name) for r in Reason]


def test_docs_examples_are_valid_messages() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) >= 25
    seen = set()
    for block in blocks:
        msg = json.loads(block)
        result = P.decode(P.encode(msg))
        assert isinstance(result, dict), (msg.get("type"), result)
        seen.add(msg["type"])
    assert {"new_order", "exec_report", "reject", "cancel_reject", "query_reply"} <= seen


def test_docs_mention_every_message_and_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name, spec in MESSAGES.items():
        assert f"### `{name}`" in text or f"#### `{name}`" in text or f"`{name}`" in text
        for field in spec.fields:
            assert f"`{field}`" in text, (name, field)
    for query in QUERIES:
        assert f"`{query}`" in text
