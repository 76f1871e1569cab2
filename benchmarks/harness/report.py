"""The figures of a run, each next to its baseline, the problems seen, and the table."""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class Figure:
    """One line of the table. The target applies to the ratio or to the value itself."""

    name: str
    value: float | None
    unit: str  # "req/s", "events/s", "tasks/s", "ms", "MiB", "count"
    baseline: float | None = None
    baseline_label: str = ""
    target_on: str = ""  # "ratio", "value" or "" (information only)
    target_op: str = ""  # ">=", "<=", "<", "=="
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def result(self) -> str:
        if not self.target_on or self.target is None:
            return "info"
        measured = self.ratio if self.target_on == "ratio" else self.value
        if measured is None:
            return "n/a"
        ok = {
            ">=": measured >= self.target,
            "<=": measured <= self.target,
            "<": measured < self.target,
            "==": measured == self.target,
        }[self.target_op]
        return "PASS" if ok else "MISS"

    def target_text(self) -> str:
        if not self.target_on or self.target is None:
            return "-"
        if self.target_on == "ratio":
            return f"{self.target_op} {self.target:.2f}"
        return f"{self.target_op} {format_value(self.target, self.unit)}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, result=self.result, target_text=self.target_text())
        return data


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


@dataclass
class Report:
    meta: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def missing_baselines(self) -> list[str]:
        """Figures that should stand next to a baseline of the same run but have none."""
        return [fig.name for fig in self.figures if fig.baseline_label and fig.baseline is None]

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(f"  ! {text}", flush=True)

    def table(self) -> str:
        header = f"{'figure':<32}{'value':<13}{'baseline':<24}{'ratio':<8}{'target':<14}result"
        lines = [header]
        for fig in self.figures:
            baseline = format_value(fig.baseline, fig.unit) if fig.baseline is not None else "-"
            if fig.baseline is not None and fig.baseline_label:
                baseline += f" ({fig.baseline_label})"
            ratio = f"{fig.ratio:.2f}" if fig.ratio is not None else "-"
            lines.append(
                f"{fig.name:<32}{format_value(fig.value, fig.unit):<13}{baseline:<24}"
                f"{ratio:<8}{fig.target_text():<14}{fig.result}"
            )
        return "\n".join(lines)


def zero_figure(name: str, count: float, baseline: float | None = None, label: str = "") -> Figure:
    """A count that must be zero (errors, lost rows); the baseline says out of how many."""
    return Figure(name, count, "count", baseline, label, "value", "==", 0)


def log(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of already collected samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
