"""The pure-Python side of the compiled-against-pure differential tests: a function of the
test suite run in a fresh interpreter on the ``.py`` files (``CROSSBOOK_PURE=1``), its
result brought back by pickle."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matching._compiled import ENV_PURE

ROOT = Path(__file__).resolve().parents[1]


def in_pure_build(target: str, arg: str, out_file: Path, timeout: float) -> Any:
    """``target`` ("package.module.function") called with ``arg`` on the pure build."""
    module, _, func = target.rpartition(".")
    script = (
        "import pickle, sys\n"
        f"from {module} import {func}\n"
        f"pickle.dump({func}(sys.argv[1]), open(sys.argv[2], 'wb'))\n"
    )
    env = {**os.environ, ENV_PURE: "1"}
    subprocess.run([sys.executable, "-c", script, arg, str(out_file)], cwd=ROOT, env=env,
                   check=True, timeout=timeout)  # fmt: skip
    return pickle.loads(out_file.read_bytes())


def both_builds(target: str, run: Callable[[str], dict], arg: str, tmp_path: Path,
                timeout: float) -> tuple[dict, dict]:  # fmt: skip
    """``run(arg)`` on the pure build (``target`` names ``run``) and here, on the compiled
    one: both results, their ``build`` labels checked and removed, holding the same keys."""
    pure = in_pure_build(target, arg, tmp_path / "pure.pickle", timeout)
    compiled = run(arg)
    assert pure.pop("build").startswith("pure")
    assert compiled.pop("build") == "compiled"
    assert pure.keys() == compiled.keys()
    return pure, compiled
