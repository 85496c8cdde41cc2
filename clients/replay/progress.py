"""A progress bar for replays that costs nothing when nobody is watching.

The bar is tqdm's, drawn on stderr, and only when stdout is a terminal (in CI, pipes and
tests it is off, so nothing but the report reaches the output). Drivers call ``update(n)``
every few thousand rows, never per row.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def wanted(stream: TextIO | None = None) -> bool:
    """Whether to draw a bar: only when ``stream`` (stdout by default) is a terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """``update(n)`` and ``close()``; a no-op unless ``enabled``."""

    def __init__(self, total: int | None, desc: str, *, enabled: bool, unit: str = "row") -> None:
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr,
                dynamic_ncols=True, leave=False,
            )  # fmt: skip

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
