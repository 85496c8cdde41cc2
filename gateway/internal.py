"""msgpack encoding of the engines' own records for the links between roles.

Commands and events of ``matching`` and ``clearing`` are NamedTuples. Between the roles
(gateway, clearing, matching) they travel as msgpack extension objects that name their
class, so a record decodes back into the very same type, fields and order. This is an
internal link between processes we run ourselves; bot traffic uses ``gateway.protocol``.

Rules: only registered record types cross (an unknown tag decodes to an error, never to
an arbitrary class); ``IntEnum`` members travel as plain ints; ``strict_types`` packing
keeps tuples and records apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from enum import IntEnum
from typing import Any

import msgpack

RECORD_EXT = 7
_MODULES = (
    "matching.commands",
    "matching.events",
    "matching.instrument",
    "clearing.commands",
    "clearing.events",
    "clearing.breaker_events",
)


class InternalDecodeError(ValueError):
    """A frame on an internal link could not be decoded."""


def _record_types(module_names: Iterable[str]) -> dict[str, type]:
    registry: dict[str, type] = {}
    for name in module_names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, tuple)
                and hasattr(value, "_fields")
                and value.__module__ == module.__name__
            ):
                registry[value.__name__] = value
    return registry


class InternalCodec:
    """Encoder/decoder for one process; build once, reuse (it holds msgpack packers)."""

    def __init__(self, extra_modules: Iterable[str] = ()) -> None:
        self.types = _record_types((*_MODULES, *extra_modules))
        self._packer = msgpack.Packer(strict_types=True, default=self._default)

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, IntEnum):
            return int(obj)
        if isinstance(obj, tuple):
            cls = type(obj)
            if getattr(cls, "_fields", None) is not None and cls.__name__ in self.types:
                body = msgpack.packb(
                    [cls.__name__, list(obj)], strict_types=True, default=self._default
                )
                return msgpack.ExtType(RECORD_EXT, body)
            return list(obj)
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, (set, frozenset)):
            return sorted(obj)
        raise TypeError(f"cannot encode {type(obj).__name__} on an internal link")

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code != RECORD_EXT:
            raise InternalDecodeError(f"unknown extension type {code}")
        tag, fields = msgpack.unpackb(
            data, ext_hook=self._ext_hook, raw=False, strict_map_key=False
        )
        cls = self.types.get(tag)
        if cls is None:
            raise InternalDecodeError(f"unknown record type {tag!r}")
        return cls(*fields)

    def encode(self, obj: Any) -> bytes:
        return self._packer.pack(obj)

    def decode(self, data: bytes) -> Any:
        try:
            return msgpack.unpackb(
                data, ext_hook=self._ext_hook, raw=False, strict_map_key=False
            )
        except InternalDecodeError:
            raise
        except Exception as exc:  # msgpack raises several types for bad frames
            raise InternalDecodeError(str(exc)) from exc
