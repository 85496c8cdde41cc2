"""Integer arithmetic shared by the clearing modules: ppm scaling and directed rounding.

Rules: every function takes and returns Python ints (exact, unbounded); none reads a
float. Rounding is always explicit in the name (``ceil``/``floor``) so a caller states
which way it goes; the house rule is "against the account", so a requirement or a
charge is rounded up and a credit down.
"""

from __future__ import annotations

PPM = 1_000_000
"""One whole in parts per million."""


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for ``b > 0``."""
    return -((-a) // b)


def ppm_ceil(amount: int, ppm: int) -> int:
    """``ceil(amount · ppm / 1e6)``."""
    return -((-amount * ppm) // PPM)


def ppm_floor(amount: int, ppm: int) -> int:
    """``floor(amount · ppm / 1e6)``."""
    return (amount * ppm) // PPM


def median_int(values: list[int]) -> int:
    """Median of a non-empty list; for an even count the floor of the two middles' mean."""
    v = sorted(values)
    n = len(v)
    mid = n // 2
    if n % 2:
        return v[mid]
    return (v[mid - 1] + v[mid]) // 2


def clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


def round_up_to(value: int, step: int) -> int:
    """The smallest multiple of ``step`` that is >= ``value``."""
    return -((-value) // step) * step


def round_down_to(value: int, step: int) -> int:
    """The largest multiple of ``step`` that is <= ``value``."""
    return (value // step) * step
