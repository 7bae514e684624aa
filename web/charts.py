"""Small server-rendered SVG charts (no JavaScript, no third-party files).

Colours come from presentation attributes, so the strict Content-Security-Policy
(no inline styles) does not block them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#2e7d32", "#f9a825", "#c62828", "#1565c0", "#6a1b9a", "#78909c")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    colour: str = ""


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v == int(v) else f"{v:.1f}"


def _legend(series: Sequence[Series], y: float) -> list[str]:
    out, x = [], 40.0
    for i, s in enumerate(series):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{y + 9}" font-size="11">{escape(s.name)}</text>')
        x += 24 + 7 * text_width(s.name)
    return out


def text_width(text: str) -> int:
    """Width in half-width characters: a Chinese character is two.

    >>> text_width("answered"), text_width("接通")
    (8, 4)
    """
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def bars(
    labels: Sequence[str],
    series: Sequence[Series],
    title: str,
    stacked: bool = True,
    width: int = 760,
    height: int = 240,
    line: Series | None = None,
    line_max: float = 1.0,
) -> Markup:
    """Stacked (or grouped) bars per label, with an optional line on a 0..line_max scale."""
    left, right, top, bottom = 40, 40 if line else 10, 24, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(labels))
    totals = [
        sum(v or 0 for v in col) if stacked else max((v or 0 for v in col), default=0)
        for col in zip(*(s.values for s in series), strict=False)
    ] or [0]
    top_value = max(max(totals), 1)
    slot = plot_w / n
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">'
        f"{_fmt(top_value)}</text>",
    ]
    for i, label in enumerate(labels):
        x0 = left + i * slot
        base: float = top + plot_h
        group_w = (slot * 0.8) / (1 if stacked else max(1, len(series)))
        for j, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else None
            if not v:
                continue
            h = plot_h * v / top_value
            colour = s.colour or PALETTE[j % len(PALETTE)]
            x = x0 + slot * 0.1 + (0 if stacked else j * group_w)
            y = base - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{group_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(label)} {escape(s.name)}: {_fmt(v)}</title></rect>'
            )
            if stacked:
                base = y
        if n <= 16 or i % max(1, n // 12) == 0:
            out.append(
                f'<text x="{x0 + slot / 2:.1f}" y="{top + plot_h + 12}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    if line is not None:
        pts = [
            f"{left + (i + 0.5) * slot:.1f},{top + plot_h - plot_h * v / line_max:.1f}"
            for i, v in enumerate(line.values)
            if v is not None
        ]
        colour = line.colour or "#1565c0"
        if pts:
            out.append(
                f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        out.append(
            f'<text x="{left + plot_w + 4}" y="{top + 8}" font-size="10">'
            f"{_fmt(line_max * 100)}%</text>"
        )
    out += _legend([*series, *([line] if line else [])], height - 16)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 (every text part is escaped above)
