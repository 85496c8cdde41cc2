"""The exchange's reject reasons as clients see them: the engines' and the gateway's.

``matching.reasons.Reason`` holds the codes the engines and the exchange core decide
(2xxx clearing, 3xxx matching, and 1010/1011, which the core decides since client order
ids and open-order limits are journaled state); the codes only the gateway decides (wire
format, session, rate limits) are listed here. ``Reason`` below is one closed enumeration
of both, the one the wire protocol documents (``gateway.protocol.Reason``). Values are
stable wire codes: never renumber. A client tells from the thousands digit which stage
refused it: 1xxx gateway, 2xxx clearing, 3xxx matching.
"""

from __future__ import annotations

from enum import IntEnum

from matching.reasons import Reason as EngineReason
from matching.reasons import ReasonText

GATEWAY_REASONS: dict[str, int] = {
    "MALFORMED_MESSAGE": 1001,
    "UNKNOWN_MESSAGE_TYPE": 1002,
    "UNSUPPORTED_VERSION": 1003,
    "MESSAGE_TOO_LARGE": 1004,
    "INVALID_FIELD": 1005,
    "MISSING_FIELD": 1006,
    "NOT_LOGGED_ON": 1007,
    "AUTHENTICATION_FAILED": 1008,
    "RATE_LIMITED": 1009,
    "SERVICE_UNAVAILABLE": 1012,
}
"""Codes only the gateway decides."""


class _ReasonBase(ReasonText, IntEnum):
    pass


_ALL = {m.name: int(m) for m in EngineReason}
_ALL.update(GATEWAY_REASONS)
Reason = _ReasonBase("Reason", sorted(_ALL.items(), key=lambda kv: kv[1]), module=__name__)
Reason.__doc__ = "Why a request was refused (engine and gateway codes). Never renumber."
