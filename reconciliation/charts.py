"""Small server-rendered SVG charts: no chart library, nothing fetched from a CDN, works offline in a store."""

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.translation import gettext

MAX_DOTS = 62  # two months of days
TOP = 16  # room above the tallest bar or point for its value, so the label is never cut off
BOTTOM = 20  # room below for the labels along the axis


def _number(value) -> str:
    """A value as the page's language writes it ("13,60" in Spanish)."""
    return number_format(value, use_l10n=True, force_grouping=True)


PALETTE = ["#2e7d32", "#1565c0", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457"]


def bar_chart(
    points: list[tuple[str, int]], *, width: int = 560, height: int = 160, title: str = "", label_from: int = 5
) -> str:
    """Vertical bars, one per (label, value), labelled every few bars with ``label[label_from:]`` (by default an
    ISO date without its year)."""
    top = max([value for _, value in points] + [1])
    step = width / max(len(points), 1)
    bars, labels = [], []
    for index, (label, value) in enumerate(points):
        bar_height = (height - TOP - BOTTOM) * value / top
        x = index * step + 2
        bars.append(
            f'<rect x="{x:.1f}" y="{height - BOTTOM - bar_height:.1f}" width="{step - 4:.1f}" '
            f'height="{bar_height:.1f}" fill="{PALETTE[0]}"><title>{escape(label)}: {_number(value)}</title></rect>'
        )
        if value:
            bars.append(
                f'<text x="{x + (step - 4) / 2:.1f}" y="{height - BOTTOM - 4 - bar_height:.1f}" class="v">'
                f"{_number(value)}</text>"
            )
        if index % max(1, len(points) // 7) == 0:
            labels.append(f'<text x="{x:.1f}" y="{height - 5}" class="l">{escape(label[label_from:])}</text>')
    return _svg(width, height, title, bars + labels)


def ranking_chart(points: list[tuple[str, str, object]], *, width: int = 560, title: str = "") -> str:
    """Horizontal bars, one row per (name, code, value), largest first as given: a name and its code (a product
    and its SKU) read in full on the left of their bar, however many rows, where a vertical bar's label would not."""
    row, label_width = 22, 250
    top = max([value for _, _, value in points] + [1])
    height = max(len(points), 1) * row + 4
    parts = []
    for index, (name, code, value) in enumerate(points):
        y = index * row + 2
        bar = (width - label_width - 70) * value / top
        shown = name if len(name) <= 24 else name[:23] + "…"
        parts += [
            f'<text x="0" y="{y + 15}" class="n">{escape(shown)} <tspan class="code">{escape(code)}</tspan>'
            f"<title>{escape(name)} ({escape(code)})</title></text>",
            f'<rect x="{label_width}" y="{y + 3}" width="{bar:.1f}" height="{row - 6}" fill="{PALETTE[0]}">'
            f"<title>{escape(name)} ({escape(code)}): {_number(value)}</title></rect>",
            f'<text x="{label_width + bar + 4:.1f}" y="{y + 15}" class="n">{_number(value)}</text>',
        ]
    return _svg(width, height, title, parts)


def line_chart(
    series: dict[str, list[tuple[str, int]]], *, width: int = 560, height: int = 160, title: str = ""
) -> str:
    """One line per series (e.g. per branch), values against their position in time. With a single point in time
    (the first day of a report) a line has nowhere to go: the series are then bars side by side, one per series."""
    if series and all(len(points) <= 1 for points in series.values()):
        return bar_chart(
            [(name, points[0][1] if points else 0) for name, points in sorted(series.items())],
            width=width,
            height=height,
            title=title,
            label_from=0,
        )
    top = max([value for points in series.values() for _, value in points] + [1])
    parts, legend = [], []
    for index, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        step = (width - 10) / max(len(points) - 1, 1)
        plot = height - TOP - BOTTOM
        xy = [(5 + i * step, height - BOTTOM - plot * value / top) for i, (_, value) in enumerate(points)]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        # A dot per point: a series of one point (one day so far) still shows, and each names its value. Not for a
        # dense series, where the dots would hide the line (and weigh on the page).
        parts += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)} {escape(label)}: '
            f"{_number(value)}</title></circle>"
            for (x, y), (label, value) in zip(xy, points, strict=True)
            if len(points) <= MAX_DOTS
        ]
        legend.append(f'<text x="{5 + index * 70}" y="{height - 5}" class="l" fill="{colour}">{escape(name)}</text>')
    # Its own class: the stylesheet centres "v" labels, which would push this one past the right edge.
    top_label = escape(gettext("max %(value)s") % {"value": _number(top)})
    parts.append(f'<text x="{width - 5}" y="12" class="top">{top_label}</text>')
    return _svg(width, height, title, parts + legend)


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
