"""Build hook: compile the matcher's hot modules with Cython where that is possible.

``matching/order.py``, ``matching/book.py`` and ``matching/engine.py`` are the one source
(Cython pure-Python mode; the ``.pxd`` files beside them only add types). Where Cython or
a C compiler is missing, or the build fails, the install goes on without the extension
modules and the same ``.py`` files run as plain Python. ``CROSSBOOK_PURE=1`` at build time
skips compiling.

Each build writes ``matching/_build_info.json``: the SHA-256 of every ``.py`` and ``.pxd``
the extensions were compiled from. ``matching/_compiled.py`` compares it with the files on
disk at import and runs the pure modules, with a warning, when they differ (an edited
``.py`` beside an older extension never runs stale code).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
# keep in step with matching/_compiled.py COMPILED_MODULES (dependency order)
COMPILED_MODULES = ("matching.order", "matching.book", "matching.engine")
DIRECTIVES = {
    "language_level": 3,
    # types come from the .pxd files only: an ``int`` annotation must not make Cython
    # refuse an IntEnum member, nor ``NewOrder`` a plain tuple
    "annotation_typing": False,
    "boundscheck": False,
    "wraparound": True,
    "cdivision": False,
    "infer_types": None,
    "embedsignature": False,
}


def source_hashes() -> dict[str, str]:
    out = {}
    for name in COMPILED_MODULES:
        base = HERE / name.replace(".", "/")
        for suffix in (".py", ".pxd"):
            path = base.with_suffix(suffix)
            if path.exists():
                out[path.relative_to(HERE).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return out


def _warn(what: str, exc: BaseException | None = None) -> None:
    detail = f": {exc!r}" if exc is not None else ""
    print(f"crossbook: {what}{detail}; the matcher runs as plain Python", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install; records what it compiled from."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            _warn("compiled matcher not built", exc)
            return
        built = [e.name for e in self.extensions if Path(self.get_ext_fullpath(e.name)).exists()]
        if set(built) != set(COMPILED_MODULES):
            return
        info = Path(self.get_ext_fullpath(COMPILED_MODULES[0])).parent / "_build_info.json"
        info.write_text(json.dumps({"sources": source_hashes()}, indent=1, sort_keys=True) + "\n")

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"compiling {ext.name} failed", exc)


def extensions() -> list:
    if os.environ.get("CROSSBOOK_PURE"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed")
        return []
    try:
        return cythonize(
            [name.replace(".", "/") + ".py" for name in COMPILED_MODULES],
            compiler_directives=DIRECTIVES,
            build_dir="build/cython",
            quiet=True,
        )
    except Exception as exc:
        _warn("cythonize failed", exc)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
