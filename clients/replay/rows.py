"""What every flow reader shares: the record of a row that could not be read."""

from __future__ import annotations

from typing import NamedTuple


class BadRow(NamedTuple):
    """A row that could not be read or applied: which file, which 1-based line, what is wrong."""

    file: str
    line: int
    error: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.error}"
