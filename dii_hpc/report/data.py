"""The experiment page's data files: its runs table in pages and each run's curves.

Under ``data/<experiment>/`` a build writes::

    runs-<k>.js     rows k*PAGE_ROWS .. (k+1)*PAGE_ROWS-1 of the experiment, oldest run first
                    (a new run lands in the last page; the page shows newest first)
    hist-<k>.js     the curves of the same runs, in the same order, at most HIST_POINTS each
    full/<run>.js   a run's whole series, only for a run with a curve longer than HIST_POINTS

Each file is a script that hands one JSON value to ``diiData(key, value)`` (site/app.js):
a page opened from disk (file://) may load a script, while Chromium refuses its fetch() of
a local file.  Python reads them back with :func:`read_js` (the build's curve cache).

Curves are stored compactly because 100,000 runs must fit in tens of megabytes: a curve is
``[x0, dx, ys]`` (steps ``x0 + i*dx``; ``dx`` null when the steps are irregular and ``x0``
is their list) and ``ys`` is ``[lo, hi, b64]``, each value a little-endian uint16 between lo
and hi (65535: not a finite number).  At 1/65534 of the curve's range, that is far finer than
a chart's pixel; the table's numbers come from the run's own summary, never from a curve.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from dii_hpc.report import display
from dii_hpc.report.charts import downsample
from dii_hpc.report.source import RunEntry

PAGE_ROWS = 2000
HIST_POINTS = 200
MISSING = 65535
SCALE = 65534
_KEY = re.compile(r"^[A-Za-z0-9_.\-/]+$")


# --------------------------------------------------------------------------- paths
def folder(experiment: str) -> str:
    return f"data/{display.safe_name(experiment)}"


def rows_path(experiment: str, page: int) -> str:
    return f"{folder(experiment)}/runs-{page}.js"


def hist_path(experiment: str, page: int) -> str:
    return f"{folder(experiment)}/hist-{page}.js"


def full_path(experiment: str, run_id: str) -> str:
    return f"{folder(experiment)}/full/{display.safe_name(run_id)}.js"


def paged(items: Sequence[Any], size: int | None = None) -> list[list[Any]]:
    """Consecutive pages of ``size`` (default PAGE_ROWS, read at the call: tests page a small
    store) items; at least one page, maybe empty."""
    size = size or PAGE_ROWS
    return [list(items[i:i + size]) for i in range(0, len(items), size)] or [[]]


# --------------------------------------------------------------------------- files
def to_js(key: str, value: Any) -> str:
    """The script of one data file: ``diiData("<key>",<json>);``."""
    from dii_hpc.report.render import script_json

    if not _KEY.match(key):
        raise ValueError(f"data key {key!r}: letters, digits and ._-/ only")
    return f'diiData("{key}",{script_json(value)});\n'


def read_js(text: str) -> Any:
    """The JSON value of a data file written by :func:`to_js` (ValueError when it is not one)."""
    start, end = text.find(","), text.rfind(");")
    if not text.startswith('diiData("') or start < 0 or end < start:
        raise ValueError("not a dii-hpc data file")
    return json.loads(text[start + 1:end])


# --------------------------------------------------------------------------- curves
def _number(value: float) -> float | int:
    if value == int(value) and abs(value) < 2**53:
        return int(value)
    return float(f"{value:.7g}")


def _steps(steps: Sequence[float]) -> tuple[Any, Any]:
    """(x0, dx) of evenly spaced steps, else (the steps, None)."""
    isfinite = math.isfinite
    n = len(steps)
    if n and all(isfinite(s) for s in steps):
        x0 = steps[0]
        dx = (steps[-1] - x0) / (n - 1) if n > 1 else 1.0
        tol = 1e-9 * max(1.0, abs(steps[-1]))
        if dx > 0 and all(abs(s - x0 - i * dx) <= tol for i, s in enumerate(steps)):
            return _number(x0), _number(dx)
    return [_number(s) if isfinite(s) else None for s in steps], None


def encode_values(values: Sequence[float]) -> list[Any]:
    """``[lo, hi, base64 of uint16 levels]`` of a sequence of floats (see the docstring).

    Plain Python, not numpy: a curve is short (HIST_POINTS) and numpy's call overhead on
    small arrays made this the largest cost of a 100,000-run build."""
    from array import array

    isfinite = math.isfinite
    finite = [v for v in values if isfinite(v)]
    if not finite:
        codes = array("H", [MISSING] * len(values))
        lo = hi = 0.0
    else:
        lo, hi = min(finite), max(finite)
        scale = SCALE / (hi - lo) if hi > lo else 0.0
        codes = array("H", [round((v - lo) * scale) if isfinite(v) else MISSING for v in values])
    if codes.itemsize != 2 or array("H", [1]).tobytes() != b"\x01\x00":
        codes.byteswap()  # little-endian on every machine
    return [_number(lo), _number(hi), base64.b64encode(codes.tobytes()).decode()]


def decode_values(ys: list[Any]) -> list[float | None]:
    """The inverse of :func:`encode_values` (tests and the build's band statistics)."""
    import struct

    lo, hi, raw = ys
    data = base64.b64decode(raw)
    codes = struct.unpack(f"<{len(data) // 2}H", data)
    return [None if c == MISSING else lo + (hi - lo) * c / SCALE for c in codes]


def encode_curve(steps: Sequence[float], values: Sequence[float]) -> list[Any]:
    x0, dx = _steps(steps)
    return [x0, dx, encode_values(values)]


def decode_curve(curve: list[Any]) -> tuple[list[float], list[float | None]]:
    x0, dx, ys = curve
    values = decode_values(ys)
    steps = list(x0) if dx is None else [x0 + i * dx for i in range(len(values))]
    return steps, values


def run_curves(histories: dict[str, tuple[list[float], list[float]]],
               points: int = HIST_POINTS) -> tuple[dict[str, list[Any]], bool]:
    """The run's curves at most ``points`` each, and whether any was longer (a full file)."""
    out, longer = {}, False
    for key in sorted(histories):
        steps, values = histories[key]
        longer = longer or len(steps) > points
        out[key] = encode_curve(*downsample(steps, values, points))
    return out, longer


def full_curves(histories: dict[str, tuple[list[float], list[float]]]) -> dict[str, list[Any]]:
    return {key: encode_curve(*histories[key]) for key in sorted(histories)}


# --------------------------------------------------------------------------- rows
BASE_COLUMNS = ["id", "name", "kind", "status", "start", "duration", "resources", "note",
                "tags", "flags"]
ARCHIVED, HAS_PAGE = 1, 2  # bits of "flags"


def columns(pkeys: list[str], mkeys: list[str]) -> list[str]:
    """Every row's cells in order: run fields, params, metrics' last values, their best."""
    return (BASE_COLUMNS + [f"params.{k}" for k in pkeys] + [f"metrics.{k}" for k in mkeys]
            + [f"best.{k}" for k in mkeys])


def _short(value: float | None, digits: int = 6) -> float | int | None:
    if value is None:
        return None
    return float(f"{value:.{digits}g}") if value != int(value) else _number(value)


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return str(value)[:80]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def row(run: RunEntry, pkeys: list[str], mkeys: list[str], has_page: bool,
        archived: bool) -> list[Any]:
    """One table row (see :func:`columns`); numbers at 6 significant digits."""
    rec = run.record
    params = rec.get("params") or {}
    mets = rec.get("metrics") or {}
    name = display.display_name(rec)
    start = display.number(rec.get("start_time"))
    last = [_short(display.number((mets.get(k) or {}).get("last"))) for k in mkeys]
    best = [_short(display.best_value(mets.get(k) or {}, k)) for k in mkeys]
    return [run.run_id, None if name == run.run_id else name, run.kind,
            rec.get("status") or "", None if start is None else round(start, 1),
            _short(display.duration(rec), 4), display.resources(rec) or None,
            display.note(rec), display.user_tags(rec) or None,
            (ARCHIVED if archived else 0) | (HAS_PAGE if has_page else 0),
            *[_cell(params.get(k)) for k in pkeys], *last, *best]
