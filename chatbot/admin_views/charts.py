"""Small server-rendered SVG charts (lines and bars) for the analytics dashboard: no JavaScript, no CDN.

Colours come from CSS classes (static/chatbot/admin/dashboard.css) bound to Wagtail's colour custom
properties, so the charts follow the admin's theme, including dark mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True, kw_only=True)
class Series:
    name: str
    values: Sequence[float | None]
    tone: str = "primary"  # primary, positive, critical, info, muted


def number_format(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def percent_format(value: float) -> str:
    return f"{value:.0%}"


def seconds_format(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _nice_max(value: float) -> float:
    """An axis maximum at or above `value` whose quarters are round (steps of 1, 2 or 5 × 10^n)."""
    if value <= 0:
        return 1.0
    step = value / 4
    magnitude = 10 ** math.floor(math.log10(step))
    for nice in (1, 2, 5, 10):
        if step <= nice * magnitude:
            return 4 * nice * magnitude
    return 40 * magnitude


def _frame(
    labels: Sequence[str], y_max: float, y_format: Callable[[float], str], title: str
) -> tuple[list[SafeString], Callable[[float], float]]:
    plot_h = HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_max)

    parts = [
        format_html(
            '<svg class="w-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
            'preserveAspectRatio="xMidYMid meet">'
            "<title>{}</title>",
            WIDTH,
            HEIGHT,
            title,
            title,
        )
    ]
    for step in range(5):
        value = y_max * step / 4
        parts.append(
            format_html(
                '<line class="w-chart__grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="w-chart__label" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                _f(y(value)),
                _f(y(value)),
                LEFT - 6,
                _f(y(value) + 4),
                y_format(value),
            )
        )
    return parts, y


def _x_labels(labels: Sequence[str], xs: Sequence[float]) -> list[SafeString]:
    if not labels:
        return []
    every = max(1, math.ceil(len(labels) / 8))  # at most ~8 labels fit under 640 px
    shown = list(range(0, len(labels), every))
    if len(labels) - 1 - shown[-1] >= every:
        shown.append(len(labels) - 1)
    return [
        format_html(
            '<text class="w-chart__label" x="{}" y="{}" text-anchor="middle">{}</text>',
            _f(xs[i]),
            HEIGHT - 8,
            labels[i],
        )
        for i in shown
    ]


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_max: float | None = None,
    y_format: Callable[[float], str] = number_format,
) -> SafeString:
    """Lines over `labels`; a None value leaves a gap. Each point has a tooltip with its value."""
    values = [v for s in series for v in s.values if v is not None]
    top = y_max if y_max is not None else _nice_max(max(values, default=0.0))
    parts, y = _frame(labels, top, y_format, title)
    count = max(len(labels), 1)
    span = WIDTH - LEFT - RIGHT
    xs = [LEFT + span * (i / (count - 1) if count > 1 else 0.5) for i in range(count)]
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append((xs[i], y(value)))
            parts.append(
                format_html(
                    '<circle class="w-chart__dot w-chart--{}" cx="{}" cy="{}" r="3">'
                    "<title>{}: {} {}</title></circle>",
                    s.tone,
                    _f(xs[i]),
                    _f(y(value)),
                    labels[i],
                    s.name,
                    y_format(value),
                )
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                parts.insert(
                    1,
                    format_html('<polyline class="w-chart__line w-chart--{}" points="{}"/>', s.tone, points),
                )
    parts += _x_labels(labels, xs)
    parts.append(mark_safe("</svg>"))  # every piece above is built with format_html
    return mark_safe("".join(parts))  # noqa: S308


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    stacked: bool = False,
    y_format: Callable[[float], str] = number_format,
) -> SafeString:
    """Bars per label, side by side (grouped) or stacked, with a tooltip per bar."""
    count = max(len(labels), 1)
    if stacked:
        totals = [sum((s.values[i] or 0.0) for s in series) for i in range(len(labels))]
    else:
        totals = [v or 0.0 for s in series for v in s.values]
    top = _nice_max(max(totals, default=0.0))
    parts, y = _frame(labels, top, y_format, title)
    slot = (WIDTH - LEFT - RIGHT) / count
    group = slot * 0.7
    bar_w = group if stacked else group / max(len(series), 1)
    xs = [LEFT + slot * i + slot / 2 for i in range(count)]
    for i in range(len(labels)):
        base = 0.0
        for n, s in enumerate(series):
            value = s.values[i] or 0.0
            x = xs[i] - group / 2 + (0 if stacked else n * bar_w)
            low = base if stacked else 0.0
            height = y(low) - y(low + value)
            if value > 0:
                parts.append(
                    format_html(
                        '<rect class="w-chart__bar w-chart--{}" x="{}" y="{}" '
                        'width="{}" height="{}" rx="1">'
                        "<title>{}: {} {}</title></rect>",
                        s.tone,
                        _f(x),
                        _f(y(low + value)),
                        _f(max(bar_w - 1, 1)),
                        _f(height),
                        labels[i],
                        s.name,
                        y_format(value),
                    )
                )
            if stacked:
                base += value
    parts += _x_labels(labels, xs)
    parts.append(mark_safe("</svg>"))
    return mark_safe("".join(parts))  # noqa: S308


def legend(series: Sequence[Series]) -> SafeString:
    items = "".join(
        f'<li><span class="w-chart__swatch w-chart--{escape(s.tone)}"></span>{escape(s.name)}</li>'
        for s in series
    )
    return mark_safe(f'<ul class="w-chart__legend">{items}</ul>')  # noqa: S308 - escaped above
