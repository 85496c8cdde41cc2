"""Latency plots for the benchmarks (matplotlib, Agg backend: no display needed).

``percentile_plot`` draws the HdrHistogram percentile distribution the way readers of
exchange-core's and wrk2's reports expect: x = percentile on a "number of nines" axis
(0 %, 90 %, 99 %, 99.9 %, ... equally spaced, i.e. ``-log10(1 - p)``), y = latency in µs
on a log scale, one line per target rate, one panel per measured path (order -> ack,
order -> fill). A dashed companion line per rate may show the uncorrected (from-the-send)
latency, so the effect of coordinated omission is visible. A line's color is keyed by the
first word of its label (the rate), so a rate's solid and dashed lines match.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.latency import nines

MAX_NINES = 5.0


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a label and (percentile, value_ns) points from ``latency.percentile_curve``."""

    label: str
    points: Sequence[tuple[float, int]]
    dashed: bool = False


def _xy(points: Sequence[tuple[float, int]], cap: float) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for pct, value in points:
        x = cap if pct >= 100.0 else min(nines(pct), cap)
        xs.append(x)
        ys.append(max(value, 1) / 1000.0)
    return xs, ys


@dataclass(frozen=True, slots=True)
class Timeline:
    """One line of a latency-over-time panel: a value (µs, None = no sample) per bin."""

    label: str
    bin_ms: int
    values_us: Sequence[float | None]


@dataclass(frozen=True, slots=True)
class RateLine:
    """One line of a latency-against-rate panel: (rate, µs or None, held) per step."""

    label: str
    points: Sequence[tuple[float, float | None, bool]]
    dashed: bool = False


def percentile_plot(
    panels: Sequence[tuple[str, Sequence[Series]]], path: Path, title: str,
    timelines: tuple[str, Sequence[Timeline]] | None = None,
    rates: tuple[str, Sequence[RateLine], float | None] | None = None,
) -> Path:  # fmt: skip
    """Write one percentile-distribution panel per ``(heading, series)`` to ``path`` (PNG),
    plus, with ``timelines``, a latency-over-time ("hiccup") panel and, with ``rates``
    ``(heading, lines, bound_us)``, a latency-against-rate panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    deepest = 0.0
    for _, series in panels:
        for s in series:
            for pct, _ in s.points:
                if pct < 100.0:
                    deepest = max(deepest, nines(pct))
    cap = min(MAX_NINES, max(2.0, math.ceil(deepest + 0.5)))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(panels) + (1 if timelines else 0) + (1 if rates else 0)
    cols = 2 if n == 4 else n
    rows = -(-n // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(6.5 * cols, 5.5 * rows), dpi=110,
                             squeeze=False)  # fmt: skip
    axes = [ax for row in grid for ax in row]
    for ax, (heading, series) in zip(axes, panels):
        _panel(ax, heading, series, cap, colors)
    k = len(panels)
    if rates:
        _rate_panel(axes[k], rates[0], rates[1], rates[2], colors)
        k += 1
    if timelines:
        _timeline_panel(axes[k], timelines[0], timelines[1], colors)
    for row in grid:
        row[0].set_ylabel("latency (log scale)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _panel(ax, heading: str, series: Sequence[Series], cap: float, colors: list[str]) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter

    color_of: dict[str, str] = {}
    for s in series:
        base = s.label.split(" ", 1)[0]
        color = color_of.setdefault(base, colors[len(color_of) % len(colors)])
        xs, ys = _xy(s.points, cap)
        if not xs:
            continue
        ax.plot(
            xs, ys, label=s.label, color=color,
            linestyle="--" if s.dashed else "-", linewidth=0.9 if s.dashed else 1.6,
        )  # fmt: skip
    ticks = [float(k) for k in range(int(cap) + 1)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(_nines_label))
    ax.set_xlim(0, cap)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_us_label))
    ax.set_xlabel("percentile")
    ax.set_title(heading, fontsize=10)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", axis="y", alpha=0.12)
    if series:
        ax.legend(fontsize=7, loc="lower right", ncol=2)


def _timeline_panel(ax, heading: str, lines: Sequence[Timeline], colors: list[str]) -> None:
    from matplotlib.ticker import FuncFormatter

    for k, line in enumerate(lines):
        xs = [i * line.bin_ms / 1000.0 for i, v in enumerate(line.values_us) if v is not None]
        ys = [max(v, 0.001) for v in line.values_us if v is not None]
        if xs:
            ax.plot(xs, ys, label=line.label, color=colors[k % len(colors)], linewidth=1.0)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_us_label))
    _minor_labels(ax)
    ax.set_xlabel("seconds into the step (after the warm-up)")
    ax.set_title(heading, fontsize=10)
    ax.grid(True, which="major", alpha=0.35)
    if lines:
        ax.legend(fontsize=7, loc="upper left", ncol=2)


def _rate_panel(ax, heading: str, lines: Sequence[RateLine], bound_us: float | None,
                colors: list[str]) -> None:  # fmt: skip
    from matplotlib.ticker import FuncFormatter

    for k, line in enumerate(lines):
        color = colors[k % len(colors)]
        pts = [(r, v, h) for r, v, h in line.points if v is not None]
        if not pts:
            continue
        ax.plot([r for r, _, _ in pts], [max(v, 0.001) for _, v, _ in pts], label=line.label,
                color=color, linestyle="--" if line.dashed else "-", linewidth=1.2)  # fmt: skip
        for r, v, h in pts:
            ax.plot([r], [max(v, 0.001)], marker="o", markersize=5, color=color,
                    markerfacecolor=color if h else "white")  # fmt: skip
    if bound_us is not None:
        ax.axhline(bound_us, color="grey", linestyle=":", linewidth=1.0,
                   label=f"held-rule p99 bound {_us_label(bound_us, 0)}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: f"{x:,.0f}/s"))
    ax.yaxis.set_major_formatter(FuncFormatter(_us_label))
    _minor_labels(ax)
    ax.set_xlabel("target rate (requests/s); filled = held, hollow = not held")
    ax.set_title(heading, fontsize=10)
    ax.grid(True, which="major", alpha=0.35)
    if lines:
        ax.legend(fontsize=7, loc="best")


def _minor_labels(ax) -> None:
    """Label a log y axis's minor ticks in µs / ms like the major ones: all of them on an
    axis spanning under one decade, only the 2x and 5x ones up to three decades, none
    beyond (the major ones say enough)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    lo, hi = ax.get_ylim()
    decades = math.log10(hi / lo) if lo > 0 else math.inf
    if decades >= 3:
        ax.yaxis.set_minor_formatter(NullFormatter())
        return
    keep = None if decades < 1 else (2, 5)

    def label(y: float, pos: int) -> str:
        mantissa = round(y / 10 ** math.floor(math.log10(y) + 1e-9))
        return _us_label(y, pos) if keep is None or mantissa in keep else ""

    ax.yaxis.set_minor_formatter(FuncFormatter(label))
    ax.tick_params(axis="y", which="minor", labelsize=7)


def _nines_label(x: float, _pos: int) -> str:
    pct = 100.0 * (1.0 - 10.0 ** (-x))
    if x == 0:
        return "0%"
    text = f"{pct:.6f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _us_label(y: float, _pos: int) -> str:
    if y >= 1000.0:
        return f"{y / 1000.0:g} ms"
    return f"{y:g} µs"
