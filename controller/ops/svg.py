"""Chart geometry for the console's server-drawn SVG (pure: numbers in, coordinates out; no markup here).

A chart has `count` equal slots left to right (hours, days) inside a `Plot`'s margins; values go up from the
bottom edge to `top_value`, which :func:`nice_ceiling` rounds up to 1, 2 or 5 times a power of ten so the
gridlines (:func:`ticks`) fall on round numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x, y, width, height


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above `value` (1 for nothing to show)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return float(step * power)
    return float(10 * power)  # not reached: 10 x power is always enough


def ticks(top_value: float, count: int = 4) -> list[float]:
    """`count` + 1 evenly spaced gridline values from 0 to `top_value`."""
    return [top_value * index / count for index in range(count + 1)]


@dataclass(frozen=True, slots=True)
class Plot:
    width: float = 900
    height: float = 220
    left: float = 60
    right: float = 16
    top: float = 14
    bottom: float = 40

    @property
    def inner_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def base(self) -> float:
        """The y of the value 0 (SVG's y grows downwards)."""
        return self.height - self.bottom

    def slot(self, count: int) -> float:
        return self.inner_width / max(count, 1)

    def x(self, index: int, count: int) -> float:
        """The centre of slot `index` of `count`."""
        return self.left + self.slot(count) * (index + 0.5)

    def y(self, value: float, top_value: float) -> float:
        share = min(max(value / top_value, 0.0), 1.0) if top_value > 0 else 0.0
        return self.base - share * (self.base - self.top)


def polylines(values: Sequence[float | None], plot: Plot, top_value: float) -> list[list[Point]]:
    """The points of a line through each slot's value; a slot without one (None) breaks the line."""
    runs: list[list[Point]] = []
    current: list[Point] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
            continue
        current.append((plot.x(index, len(values)), plot.y(value, top_value)))
    if current:
        runs.append(current)
    return runs


def bars(values: Sequence[float], plot: Plot, top_value: float, fill: float = 0.7) -> list[Box]:
    """One bar per slot, `fill` of the slot wide and centred on it; a zero is a bar of no height."""
    width = plot.slot(len(values)) * fill
    boxes = []
    for index, value in enumerate(values):
        y = plot.y(value, top_value)
        boxes.append((plot.x(index, len(values)) - width / 2, y, width, plot.base - y))
    return boxes


def stacked_bars(stacks: Sequence[Sequence[float]], plot: Plot, top_value: float, fill: float = 0.7) -> list[list[Box]]:
    """Per slot, one box per part, the first at the bottom; each box as tall as its part."""
    width = plot.slot(len(stacks)) * fill
    result = []
    for index, parts in enumerate(stacks):
        x, below, boxes = plot.x(index, len(stacks)) - width / 2, 0.0, []
        for part in parts:
            low, high = plot.y(below, top_value), plot.y(below + part, top_value)
            boxes.append((x, high, width, low - high))
            below += part
        result.append(boxes)
    return result


def label_every(count: int, plot: Plot, label_width: float = 44) -> int:
    """Label one slot in this many so the labels do not overlap."""
    return max(1, math.ceil(label_width / plot.slot(count))) if count else 1
