"""Build hook: compile the hot modules with Cython where that is possible.

Two groups: the matcher's (``matching/order.py``, ``book.py``, ``engine.py``) and the
LOBSTER replay's (``clients/replay/lobster.py``, ``lobster_bulk.py``, ``lobster_replay.py``).
The ``.py`` files are the one source (Cython pure-Python mode; a ``.pxd`` beside one only
adds types). Where Cython or a C compiler is missing, or the build fails, the install goes
on without the extension modules and the same ``.py`` files run as plain Python.
``CROSSBOOK_PURE=1`` at build time skips compiling.

Each group whose modules all built gets a ``_build_info.json`` in its package directory:
the SHA-256 of every ``.py`` and ``.pxd`` its extensions were compiled from.
``matching/_compiled.py`` and ``clients/replay/_compiled.py`` compare it with the files on
disk at import and run the pure modules, with a warning, when they differ (an edited
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
# keep in step with matching/_compiled.py and clients/replay/_compiled.py COMPILED_MODULES
# (dependency order); each group's build is recorded and checked on its own
GROUPS = {
    "matching": ("matching.order", "matching.book", "matching.engine"),
    "clients.replay": (
        "clients.replay.lobster",
        "clients.replay.lobster_bulk",
        "clients.replay.lobster_replay",
    ),
}
COMPILED_MODULES = tuple(name for group in GROUPS.values() for name in group)
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
# the replay's modules index lists and tuples everywhere without types: keep the checks
GROUP_DIRECTIVES = {"matching": DIRECTIVES, "clients.replay": {**DIRECTIVES, "boundscheck": True}}


def source_hashes(modules: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in modules:
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
    print(f"crossbook: {what}{detail}; those modules run as plain Python", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install; records what each group compiled from."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            _warn("compiled matcher not built", exc)
            return
        built = {e.name for e in self.extensions if Path(self.get_ext_fullpath(e.name)).exists()}
        for modules in GROUPS.values():
            if not built.issuperset(modules):
                continue
            info = Path(self.get_ext_fullpath(modules[0])).parent / "_build_info.json"
            record = {"sources": source_hashes(modules)}
            info.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")

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
        return [
            ext
            for group, modules in GROUPS.items()
            for ext in cythonize(
                [name.replace(".", "/") + ".py" for name in modules],
                compiler_directives=GROUP_DIRECTIVES[group],
                build_dir="build/cython",
                quiet=True,
            )
        ]
    except Exception as exc:
        _warn("cythonize failed", exc)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
