"""Which build of the LOBSTER replay's modules runs: compiled (Cython) or the plain ``.py``.

``clients/replay/lobster.py``, ``lobster_bulk.py`` and ``lobster_replay.py`` are the one
source. ``setup.py`` compiles them with Cython where it can and records in
``clients/replay/_build_info.json`` the SHA-256 of every ``.py`` and ``.pxd`` it compiled
from. Python imports an extension module before a ``.py`` of the same name, so an edited
``.py`` beside an older extension would silently run old code; ``select()`` (called by
``clients/replay/__init__`` before any of the three loads) prevents that, as
``matching._compiled`` does for the matcher:

- no extension modules: the ``.py`` files run, as on a machine without a compiler;
- extensions whose recorded hashes match the files on disk: the compiled build runs;
- anything else (a changed ``.py`` or ``.pxd``, a missing record, only some modules
  built): a ``RuntimeWarning`` names the cause and all three modules load from their
  ``.py`` files, never a mix;
- ``CROSSBOOK_PURE=1`` in the environment: the ``.py`` files run, without a warning
  (the differential test runs the pure build this way).

The matcher's build is chosen on its own (``matching.BUILD``): either may be compiled
while the other runs pure. ``make build`` (run by ``make test``) recompiles when a source
changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

COMPILED_MODULES = ("clients.replay.lobster", "clients.replay.lobster_bulk",
                    "clients.replay.lobster_replay")  # fmt: skip
"""In dependency order; keep in step with ``setup.py``."""
ENV_PURE = "CROSSBOOK_PURE"
PACKAGE_DIR = Path(__file__).resolve().parent
BUILD_INFO = PACKAGE_DIR / "_build_info.json"
ROOT = PACKAGE_DIR.parents[1]
"""The directory ``setup.py`` records the sources' paths from."""


def _extension(name: str) -> Path | None:
    stem = name.rpartition(".")[2]
    for suffix in EXTENSION_SUFFIXES:
        path = PACKAGE_DIR / (stem + suffix)
        if path.exists():
            return path
    return None


def stale_reason() -> str | None:
    """Why the compiled build on disk must not run, or None if it matches its sources."""
    missing = [n for n in COMPILED_MODULES if _extension(n) is None]
    if missing:
        return f"no compiled build of {', '.join(missing)}"
    try:
        recorded = json.loads(BUILD_INFO.read_text())["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{BUILD_INFO.name} is missing or unreadable"
    for name in COMPILED_MODULES:
        base = name.replace(".", "/")
        for suffix in (".py", ".pxd"):
            rel = base + suffix
            path = ROOT / rel
            if not path.exists():
                if rel in recorded:
                    return f"{rel} was removed since the compiled build"
                continue  # nothing to compare with (an install without sources)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if recorded.get(rel) != digest:
                return f"{rel} changed since the compiled build"
    return None


def _load_pure() -> None:
    package = sys.modules["clients.replay"]
    for name in COMPILED_MODULES:
        stem = name.rpartition(".")[2]
        spec = importlib.util.spec_from_file_location(name, PACKAGE_DIR / f"{stem}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        setattr(package, stem, module)


def select() -> str:
    """Load the build that may run; return ``"compiled"`` or ``"pure: <why>"``."""
    if os.environ.get(ENV_PURE):
        _load_pure()
        return f"pure: {ENV_PURE} is set"
    if all(_extension(n) is None for n in COMPILED_MODULES):
        return "pure: no compiled build"
    reason = stale_reason()
    if reason is None:
        return "compiled"
    warnings.warn(
        f"clients.replay: {reason}; running the pure-Python LOBSTER replay modules "
        "(rebuild with `make build`)",
        RuntimeWarning,
        stacklevel=3,
    )
    _load_pure()
    return f"pure: {reason}"
