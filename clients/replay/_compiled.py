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

from pathlib import Path

from matching._compiled import ENV_PURE, BuildGuard

__all__ = ["COMPILED_MODULES", "ENV_PURE", "GUARD", "select", "stale_reason"]

COMPILED_MODULES = ("clients.replay.lobster", "clients.replay.lobster_bulk",
                    "clients.replay.lobster_replay")  # fmt: skip
"""In dependency order; keep in step with ``setup.py``."""
PACKAGE_DIR = Path(__file__).resolve().parent
GUARD = BuildGuard("clients.replay", COMPILED_MODULES, PACKAGE_DIR,
                   PACKAGE_DIR / "_build_info.json", PACKAGE_DIR.parents[1],
                   "LOBSTER replay modules")  # fmt: skip
"""``ROOT`` for the recorded paths is the repository (``PACKAGE_DIR.parents[1]``)."""


_extension = GUARD.extension
stale_reason = GUARD.stale_reason
"""Why the compiled build on disk must not run (None: it may)."""
select = GUARD.select
"""Load the build that may run; ``"compiled"`` or ``"pure: <why>"``."""
