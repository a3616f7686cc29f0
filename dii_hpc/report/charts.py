"""Inline SVG charts built as strings.

Why not matplotlib: its SVG carries an XML doctype and namespace URLs (the site must not refer
to any external URL), and at ~50 ms a figure it would blow the 10 s budget of a 1,000-run site.
A chart here is a few polylines on nice ticks; colours come from CSS classes (``s0``..``s9``)
so the markup stays small.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

Number = float | int


@dataclass
class Series:
    """One line (or point set) of a chart."""

    label: str
    x: Sequence[Number]
    y: Sequence[Number]
    marks: Sequence[bool] = field(default_factory=list)  # points drawn as flagged (e.g. drift)
    line: bool = True  # False: points only (a scatter, e.g. one value per trial)
    band: tuple[Sequence[Number], Sequence[Number]] | None = None  # (lower, upper): shaded


_NUMERIC = (int, float)


def finite(value: object) -> bool:
    return type(value) in _NUMERIC and math.isfinite(value)  # type: ignore[arg-type]


def _clean(s: Series) -> list[tuple[float, float] | None]:
    """The drawable (x, y) pairs of a series; None between pieces broken by NaN/inf."""
    isfinite = math.isfinite
    try:  # the common case: plain floats (metric arrays)
        return [(x, y) if isfinite(x) and isfinite(y) else None
                for x, y in zip(s.x, s.y, strict=False)]
    except TypeError:  # None, strings, bools in a saved section
        return [(x, y) if finite(x) and finite(y) else None  # type: ignore[misc]
                for x, y in zip(s.x, s.y, strict=False)]


def downsample(xs: Sequence[Number], ys: Sequence[Number], n: int) -> tuple[list, list]:
    """Keep at most ``n`` evenly spaced points, always the first and the last."""
    count = len(xs)
    if count <= n:
        return list(xs), list(ys)
    idx = sorted({round(i * (count - 1) / (n - 1)) for i in range(n)})
    return [xs[i] for i in idx], [ys[i] for i in idx]


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    t = first
    while t <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(0.0 if abs(t) < step * 1e-9 else t)
        t += step
    return ticks


def fmt_tick(value: float) -> str:
    return f"{value:.4g}"


def _bounds(values: list[float], pad: float = 0.0) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.1 or 1), hi + (abs(hi) * 0.1 or 1)
    span = hi - lo
    return lo - span * pad, hi + span * pad


class _Frame:
    """Maps data to pixels inside the plot area of a ``width`` x ``height`` box."""

    left, right, top, bottom = 56, 28, 10, 34

    def __init__(self, width: int, height: int, xr: tuple[float, float], yr: tuple[float, float]):
        self.w, self.h, self.xr, self.yr = width, height, xr, yr

    def px(self, x: float) -> float:
        span = self.w - self.left - self.right
        return self.left + (x - self.xr[0]) / (self.xr[1] - self.xr[0]) * span

    def py(self, y: float) -> float:
        span = self.h - self.top - self.bottom
        return self.h - self.bottom - (y - self.yr[0]) / (self.yr[1] - self.yr[0]) * span


def _axes(fr: _Frame, xlabel: str, ylabel: str, xfmt: Callable[[float], str],
          yfmt: Callable[[float], str] = fmt_tick) -> list[str]:
    out = [f'<rect class="plot" x="{fr.left}" y="{fr.top}" width="{fr.w - fr.left - fr.right}" '
           f'height="{fr.h - fr.top - fr.bottom}"/>']
    for t in nice_ticks(*fr.yr):
        y = fr.py(t)
        out.append(f'<line class="grid" x1="{fr.left}" x2="{fr.w - fr.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{fr.left - 4}" y="{y + 3:.1f}" text-anchor="end">'
                   f"{escape(yfmt(t))}</text>")
    for t in nice_ticks(*fr.xr, target=5):
        x = fr.px(t)
        out.append(f'<line class="grid" y1="{fr.top}" y2="{fr.h - fr.bottom}" x1="{x:.1f}" x2="{x:.1f}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{fr.h - fr.bottom + 13}" text-anchor="middle">'
                   f"{escape(xfmt(t))}</text>")
    out.append(f'<text class="label" x="{(fr.w + fr.left) / 2:.0f}" y="{fr.h - 4}" '
               f'text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text class="label" transform="translate(12 {(fr.h - fr.bottom) / 2:.0f}) '
               f'rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
    return out


def _path(fr: _Frame, pts: list) -> str:
    # the pixel transform inlined: this loop is the hot spot of a 1,000-run build
    ax = (fr.w - fr.left - fr.right) / (fr.xr[1] - fr.xr[0])
    bx = fr.left - fr.xr[0] * ax
    ay = -(fr.h - fr.top - fr.bottom) / (fr.yr[1] - fr.yr[0])
    by = fr.h - fr.bottom - fr.yr[0] * ay
    if None not in pts:  # the common case: one unbroken line
        return "M" + "L".join([f"{ax * x + bx:.1f} {ay * y + by:.1f}" for x, y in pts])
    parts, pen = [], "M"
    for p in pts:
        if p is None:
            pen = "M"
            continue
        parts.append(f"{pen}{ax * p[0] + bx:.1f} {ay * p[1] + by:.1f}")
        pen = "L"
    return "".join(parts)


def line_chart(
    series: Sequence[Series],
    *,
    xlabel: str = "step",
    ylabel: str = "",
    width: int = 560,
    height: int = 240,
    xfmt: Callable[[float], str] = fmt_tick,
    xrange: tuple[float, float] | None = None,
    yrange: tuple[float, float] | None = None,
    diagonal: bool = False,
    points: bool = False,
    yfmt: Callable[[float], str] = fmt_tick,
) -> Markup:
    """An SVG line chart; an empty ``<p>`` when there is no finite point to draw."""
    clean = [_clean(s) for s in series]
    xs = [p[0] for pts in clean for p in pts if p is not None]
    ys = [p[1] for pts in clean for p in pts if p is not None]
    ys += [y for s in series if s.band for y in (*s.band[0], *s.band[1]) if finite(y)]
    if not xs:
        return Markup('<p class="muted">no finite values to plot</p>')
    fr = _Frame(width, height, xrange or _bounds(xs), yrange or _bounds(ys, 0.05))
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="{escape(ylabel)} vs {escape(xlabel)}">']
    out += _axes(fr, xlabel, ylabel, xfmt, yfmt)
    if diagonal:
        out.append(f'<line class="diag" x1="{fr.px(fr.xr[0]):.1f}" y1="{fr.py(fr.yr[0]):.1f}" '
                   f'x2="{fr.px(fr.xr[1]):.1f}" y2="{fr.py(fr.yr[1]):.1f}"/>')
    for i, (s, pts) in enumerate(zip(series, clean, strict=True)):
        cls = f"s{i % 10}"
        if s.band:
            out.append(_band(fr, s, cls))
        if s.line:
            out.append(f'<path class="line {cls}" d="{_path(fr, pts)}"><title>{escape(s.label)}'
                       "</title></path>")
        if points or s.marks or not s.line:
            out += _points(fr, s, cls)
    out.append("</svg>")
    legend = "".join(f'<span class="key s{i % 10}">{escape(s.label)}</span>'
                     for i, s in enumerate(series) if s.label)
    if len(series) > 1 and legend:
        out.append(f'<div class="legend">{legend}</div>')
    return Markup("".join(out))


def _band(fr: _Frame, s: Series, cls: str) -> str:
    """The shaded area between a series' lower and upper values (finite points only)."""
    assert s.band is not None
    lo = [(x, y) for x, y in zip(s.x, s.band[0], strict=False) if finite(x) and finite(y)]
    hi = [(x, y) for x, y in zip(s.x, s.band[1], strict=False) if finite(x) and finite(y)]
    if not lo or not hi:
        return ""
    return (f'<path class="band {cls}" d="{_path(fr, [*hi, *reversed(lo)])}Z">'
            f"<title>{escape(s.label)}: band</title></path>")


def _points(fr: _Frame, s: Series, cls: str) -> list[str]:
    out = []
    marks = list(s.marks) or [False] * len(s.x)
    for x, y, flagged in zip(s.x, s.y, marks, strict=False):
        if finite(x) and finite(y):
            kind = "pt flag" if flagged else "pt"
            out.append(f'<circle class="{kind} {cls}" cx="{fr.px(x):.1f}" cy="{fr.py(y):.1f}" r="3.5">'
                       f"<title>{escape(fmt_tick(y))}</title></circle>")
    return out


def _decade(t: float) -> str:
    """Tick label of a log10 axis: the power of ten at whole decades, nothing between."""
    return f"{10 ** round(t):g}" if abs(t - round(t)) < 1e-9 else ""


def loglog_chart(series: Sequence[Series], *, floor: float, xlabel: str = "", ylabel: str = "",
                 width: int = 360, height: int = 300) -> Markup:
    """Both axes log10 from ``floor`` to 1 (an ROC where low FPR matters: the membership
    literature's standard plot); points below ``floor`` are drawn at it, the diagonal is
    the coin flip."""
    lo = math.log10(floor)

    def log(values: Sequence[Number]) -> list[float]:
        return [math.log10(max(float(v), floor)) if finite(v) else math.nan for v in values]

    logged = [Series(s.label, log(s.x), log(s.y)) for s in series]
    return line_chart(logged, xlabel=xlabel, ylabel=ylabel, width=width, height=height,
                      xrange=(lo, 0.0), yrange=(lo, 0.0), diagonal=True, xfmt=_decade,
                      yfmt=_decade)
