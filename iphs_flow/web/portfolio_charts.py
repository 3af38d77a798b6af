"""Server-drawn bar charts for the portfolio page: accessible SVG, no JavaScript.

Each chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>`
(templates/_portfolio_chart.html); every bar carries its value as text beside it, and a
second series is told apart by a hatch pattern and the legend, never by colour alone.
The colours meet WCAG 2.1 AA against white: the bars 3:1 for graphics (1.4.11), the
text 4.5:1 (1.4.3). The data table beside each chart holds the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LABEL_WIDTH = 230  # room for the bar's name on the left
BAR_AREA = 380
VALUE_WIDTH = 130
BAR_HEIGHT = 18
GAP = 10
TOP = 8


@dataclass(frozen=True)
class Bar:
    y: float
    width: float
    series: int  # 0 solid, 1 hatched
    value_text: str


@dataclass(frozen=True)
class Group:
    label: str
    y: float  # the label's baseline
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    series: tuple[str, ...]
    groups: tuple[Group, ...]
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT


def bar_chart(key: str, title: str, description: str, labels: Sequence[str],
              series: Sequence[tuple[str, Sequence[float | None]]], fmt: Callable[[Any], str]) -> Chart:
    """Horizontal bars, one group per label and one bar per series, scaled to the largest value."""
    values = [v for _name, vs in series for v in vs if isinstance(v, int | float)]
    top = max(values) if values and max(values) > 0 else 1
    groups, y = [], TOP
    per_group = len(series)
    for i, label in enumerate(labels):
        bars = []
        for s, (_name, vs) in enumerate(series):
            value = vs[i]
            width = 0.0 if not isinstance(value, int | float) else max(0.0, BAR_AREA * value / top)
            bars.append(Bar(y + s * (BAR_HEIGHT + 2), round(width, 1), s, fmt(value)))
        group_height = per_group * (BAR_HEIGHT + 2) - 2
        groups.append(Group(label, y + group_height / 2 + 5, tuple(bars)))
        y += group_height + GAP
    return Chart(key, title, description, tuple(name for name, _v in series), tuple(groups),
                 LABEL_WIDTH + BAR_AREA + VALUE_WIDTH, int(y + TOP))
