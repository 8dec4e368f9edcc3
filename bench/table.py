"""Rows of the result table: samples, medians, ratios, goals, printed as a Markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Unit = str  # "s" (shown as ms or s), "items/s", "MB", "%"


@dataclass(frozen=True, slots=True)
class Sample:
    """Repeated measurements of one thing; the median is what the table shows."""

    name: str
    values: tuple[float, ...]
    unit: Unit = "s"

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, value: float | None = None) -> str:
        return fmt(self.median if value is None else value, self.unit)

    def spread(self) -> str:
        """``n=5, 190–260 ms``: how much the repeats disagreed."""
        if len(self.values) < 2:
            return "n=1"
        lo, hi = min(self.values), max(self.values)
        return f"n={len(self.values)}, {fmt(lo, self.unit)}–{fmt(hi, self.unit)}"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "unit": self.unit, "median": self.median, "values": list(self.values)}


def sample(name: str, values: Sequence[float], unit: Unit = "s") -> Sample:
    return Sample(name, tuple(values), unit)


def fmt(value: float, unit: Unit) -> str:
    if unit == "s":
        if value >= 10:
            return f"{value:.1f} s"
        if value >= 1:
            return f"{value:.2f} s"
        ms = value * 1000
        return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms"
    if unit == "items/s":
        return f"{value:,.0f} items/s"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:g} {unit}"


def ratio_text(r: float, higher_is_better: bool = False) -> str:
    """``1.41x`` (ours takes 1.41 times the baseline), ``182x faster``, ``38.0x higher`` (throughput)."""
    if higher_is_better:
        return f"{r:.1f}x higher" if r >= 1 else f"{1 / r:.1f}x lower"
    if r >= 1:
        return f"{r:.2f}x"
    return f"{1 / r:,.0f}x faster" if 1 / r >= 10 else f"{1 / r:.2f}x faster"


Judge = Callable[[float, float | None], bool]


@dataclass(slots=True)
class Row:
    """One line of the table: our figure, a baseline beside it, the goal and whether it is met."""

    figure: str
    what: str
    ours: Sample | None
    baseline: Sample | None = None
    goal: str = ""
    judge: Judge | None = None
    higher_is_better: bool = False
    note: str = ""
    todo: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.baseline is None or self.baseline.median == 0:
            return None
        return self.ours.median / self.baseline.median

    @property
    def met(self) -> bool | None:
        if self.judge is None or self.ours is None:
            return None
        return self.judge(self.ours.median, None if self.baseline is None else self.baseline.median)

    def ratio_text(self) -> str:
        return "–" if self.ratio is None else ratio_text(self.ratio, self.higher_is_better)

    def cells(self) -> list[str]:
        if self.todo:
            return [self.figure, self.what, "TODO", "–", "–", self.goal, f"TODO: {self.todo}"]
        assert self.ours is not None
        ours = f"{self.ours.show()} ({self.ours.spread()})"
        base = "–" if self.baseline is None else f"{self.baseline.name}: {self.baseline.show()}"
        met = {True: "yes", False: "**no**", None: "info"}[self.met]
        return [self.figure, self.what, ours, base, self.ratio_text(), self.goal, met]

    def as_dict(self) -> dict[str, object]:
        return {
            "figure": self.figure,
            "what": self.what,
            "ours": None if self.ours is None else self.ours.as_dict(),
            "baseline": None if self.baseline is None else self.baseline.as_dict(),
            "ratio": self.ratio,
            "ratio_text": self.ratio_text(),
            "higher_is_better": self.higher_is_better,
            "goal": self.goal,
            "met": self.met,
            "note": self.note,
            "todo": self.todo,
            **self.extra,
        }


HEADER = ["#", "figure", "ours: median (spread)", "baseline: median", "ratio", "goal", "met"]


def markdown(rows: Sequence[Row]) -> str:
    """The table, with each row's note as a numbered footnote under it."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |")
    notes = [f"- {row.figure}: {row.note}" for row in rows if row.note]
    return "\n".join(lines + (["", *notes] if notes else []))
