"""What a report page is made of: sections holding figures (a chart and its table), tables,
key figures and notes. Charts are plain JSON specs that ``report.js`` turns into Chart.js."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
DASH = "\u2013"  # shown for a missing value
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F", "#555555")


def colours(names: list[str]) -> dict[str, str]:
    """A stable colour per name (sorted, so a feature keeps its colour across charts)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(names)))}


@dataclass(frozen=True)
class Cell:
    text: str
    value: Any = None  # the raw value, written as data-value for machines
    key: str | None = None  # the field name, written as data-key
    numeric: bool = False


def text(value: object) -> Cell:
    return Cell(DASH if value is None else str(value), value)


def count(value: int | None, key: str | None = None) -> Cell:
    return Cell(DASH if value is None else f"{value:,}", value, key, True)


def number(value: float | None, key: str | None = None, digits: int = 1) -> Cell:
    return Cell(DASH if value is None else f"{value:,.{digits}f}", value, key, True)


def percent(value: float | None, key: str | None = None) -> Cell:
    """``value`` is a fraction; shown as a percentage."""
    return Cell(DASH if value is None else f"{100 * value:.1f}%", value, key, True)


def cost(value: float | None, key: str | None = None) -> Cell:
    return Cell(DASH if value is None else f"{value:,.4f}", value, key, True)


def when(value: datetime | None) -> Cell:
    shown = DASH if value is None else value.strftime("%Y-%m-%d %H:%M UTC")
    return Cell(shown, value.isoformat() if value else None)


@dataclass(frozen=True)
class Table:
    id: str
    caption: str
    headers: list[str]
    rows: list[list[Cell]]

    def numeric(self, column: int) -> bool:
        """Whether a column holds numbers (its header is then right-aligned too)."""
        return bool(self.rows) and all(row[column].numeric for row in self.rows)


@dataclass(frozen=True)
class Chart:
    """A Chart.js chart, described as data; see ``report.js`` for the keys it reads."""

    id: str
    type: str  # "bar" or "line"
    labels: list[str]
    datasets: list[dict[str, Any]]
    y_title: str = ""
    y_format: str = "number"  # number | ms | percent | cost
    stacked: bool = False
    horizontal: bool = False
    y_max: float | None = None
    height: int = 280
    time_axis: bool = False  # the categories are time buckets (thinned when crowded)

    def spec(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "labels": self.labels,
            "datasets": self.datasets,
            "yTitle": self.y_title,
            "yFormat": self.y_format,
            "stacked": self.stacked,
            "horizontal": self.horizontal,
            "yMax": self.y_max,
            "timeAxis": self.time_axis,
        }


@dataclass(frozen=True)
class Figure:
    """A chart with the same numbers as a table below it (shown without JavaScript)."""

    title: str
    chart: Chart
    table: Table
    caption: str = ""
    wide: bool = False  # spans the whole row (set for a figure that would stand alone)


@dataclass(frozen=True)
class KeyFigure:
    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class Note:
    text: str


Block = Figure | Table | Note | list[KeyFigure]


@dataclass
class Section:
    id: str
    title: str
    intro: str = ""
    blocks: list[Block] = field(default_factory=list)

    def lay_out(self) -> Section:
        """Figures sit two to a row; the last of an odd run of figures takes the whole row."""
        run: list[int] = []
        for i, block in enumerate([*self.blocks, None]):
            if isinstance(block, Figure):
                run.append(i)
                continue
            if len(run) % 2 == 1:
                last = self.blocks[run[-1]]
                assert isinstance(last, Figure)
                self.blocks[run[-1]] = replace(last, wide=True)
            run = []
        return self

    def charts(self) -> list[Chart]:
        return [b.chart for b in self.blocks if isinstance(b, Figure)]
