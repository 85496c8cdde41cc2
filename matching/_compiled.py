"""Which build of the matcher's hot modules runs: compiled (Cython) or the plain ``.py``.

``matching/order.py``, ``book.py`` and ``engine.py`` are the one source. ``setup.py``
compiles them with Cython where it can and records in ``_build_info.json`` the SHA-256 of
every ``.py`` and ``.pxd`` it compiled from. Python imports an extension module before a
``.py`` of the same name, so an edited ``.py`` beside an older extension would silently
run old code; ``select()`` (called by ``matching/__init__`` before anything else of the
package loads) prevents that:

- no extension modules: the ``.py`` files run, as on a machine without a compiler;
- extensions whose recorded hashes match the files on disk: the compiled build runs;
- anything else (a changed ``.py`` or ``.pxd``, a missing record, only some modules
  built): a ``RuntimeWarning`` names the cause and all three modules load from their
  ``.py`` files, never a mix (compiled code checks the types it was built against);
- ``CROSSBOOK_PURE=1`` in the environment: the ``.py`` files run, without a warning
  (the differential test runs the pure build this way).

``make build`` (run by ``make test``) recompiles when a source changed. ``BuildGuard`` is
the check itself; ``clients.replay._compiled`` guards the compiled LOBSTER replay with it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import warnings
from dataclasses import dataclass
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

ENV_PURE = "CROSSBOOK_PURE"


@dataclass(frozen=True)
class BuildGuard:
    """The compiled build of ``modules`` (one package, in dependency order) may run only
    if ``build_info`` records the SHA-256 of every ``.py`` and ``.pxd`` now on disk
    (paths relative to ``root``, as ``setup.py`` records them)."""

    package: str
    modules: tuple[str, ...]
    package_dir: Path
    build_info: Path
    root: Path
    what: str
    """Named in the warning: what runs pure-Python instead."""

    def extension(self, name: str) -> Path | None:
        stem = name.rpartition(".")[2]
        for suffix in EXTENSION_SUFFIXES:
            path = self.package_dir / (stem + suffix)
            if path.exists():
                return path
        return None

    def stale_reason(self) -> str | None:
        """Why the compiled build on disk must not run, or None if it matches its sources."""
        missing = [n for n in self.modules if self.extension(n) is None]
        if missing:
            return f"no compiled build of {', '.join(missing)}"
        try:
            recorded = json.loads(self.build_info.read_text())["sources"]
        except (OSError, ValueError, KeyError, TypeError):
            return f"{self.build_info.name} is missing or unreadable"
        for name in self.modules:
            base = name.replace(".", "/")
            for suffix in (".py", ".pxd"):
                rel = base + suffix
                path = self.root / rel
                if not path.exists():
                    if rel in recorded:
                        return f"{rel} was removed since the compiled build"
                    continue  # nothing to compare with (an install without sources)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if recorded.get(rel) != digest:
                    return f"{rel} changed since the compiled build"
        return None

    def load_pure(self) -> None:
        package = sys.modules[self.package]
        for name in self.modules:
            stem = name.rpartition(".")[2]
            spec = importlib.util.spec_from_file_location(name, self.package_dir / f"{stem}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            setattr(package, stem, module)

    def select(self) -> str:
        """Load the build that may run; return ``"compiled"`` or ``"pure: <why>"``."""
        if os.environ.get(ENV_PURE):
            self.load_pure()
            return f"pure: {ENV_PURE} is set"
        if all(self.extension(n) is None for n in self.modules):
            return "pure: no compiled build"
        reason = self.stale_reason()
        if reason is None:
            return "compiled"
        warnings.warn(
            f"{self.package}: {reason}; running the pure-Python {self.what} "
            "(rebuild with `make build`)",
            RuntimeWarning,
            stacklevel=3,
        )
        self.load_pure()
        return f"pure: {reason}"


COMPILED_MODULES = ("matching.order", "matching.book", "matching.engine")
"""In dependency order; keep in step with ``setup.py``."""
PACKAGE_DIR = Path(__file__).resolve().parent
GUARD = BuildGuard("matching", COMPILED_MODULES, PACKAGE_DIR, PACKAGE_DIR / "_build_info.json",
                   PACKAGE_DIR.parent, "modules")  # fmt: skip


_extension = GUARD.extension
stale_reason = GUARD.stale_reason
"""Why the compiled build on disk must not run (None: it may)."""
select = GUARD.select
"""Load the build that may run; ``"compiled"`` or ``"pure: <why>"``."""
