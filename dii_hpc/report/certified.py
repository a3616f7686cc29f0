"""Certified robustness beside empirical robustness on a certification audit's page.

A certification audit (`smoothing`, `interval_bounds`, `suite certification`) saves per
sample the class and the certified radius; its certified-accuracy curve over the radius is
drawn from them (the fraction of samples both right and certified at least that far), with
any curve it saved at fixed radii (the suite's `interval_bounds.certified_accuracy`). Beside
it: the empirical robustness of evasion audits of the same model (same weights), the suite's
PGD curve (robust accuracy vs eps) and level II attacks with an ``eps`` (one point each).

Why a sanity flag: an attack finds an upper bound of robust accuracy, a certificate a lower
bound, so at every radius of the same norm the empirical curve must stay at or above the
certified one. Below it, one of them is wrong (or they are not of the same classifier: the
smoothed one is certified, the base one attacked). Only saved numbers are read here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dii_hpc.report.charts import Series, line_chart

STEPS = 400  # distinct radii drawn as exact steps; past that, this many grid points
FLAG = "empirical_below_certified"


@dataclass(frozen=True)
class Curve:
    """Accuracy against radius in one norm (``"2"``, ``"inf"``, ...)."""

    label: str
    norm: str
    x: list[float]
    y: list[float]
    radii: list[float] | None = None  # per sample, right samples only (certified curves)
    n: int = 0
    scatter: bool = False  # points of separate attacks, not a curve


def norm_of(value: Any) -> str:
    """A saved norm ("inf", inf, 2, "2", "l2") as ``"inf"`` / ``"2"`` / ``"1"``."""
    text = str(value).lower().removeprefix("l").removeprefix("np.")
    try:
        number = float(text)
    except ValueError:
        return text
    return "inf" if math.isinf(number) else f"{number:g}"


def model_key(record: dict[str, Any]) -> str | None:
    """What makes two audits audits of the same model: its weights' hash, else the model
    reference the manifest recorded."""
    from dii_hpc.records.audit import weights_sha256

    sha = weights_sha256(record)
    if sha:
        return f"sha256:{sha}"
    model = (record.get("manifest") or {}).get("model")
    return f"model:{model}" if model else None


def is_certification(record: dict[str, Any]) -> bool:
    from dii_hpc.records import audit

    found = audit.of(record)
    return found is not None and found.threat == "certification"


def is_empirical(record: dict[str, Any]) -> bool:
    from dii_hpc.records import audit

    found = audit.of(record)
    return found is not None and found.threat == "evasion"


def certified(record: dict[str, Any]) -> list[Curve]:
    """The certified curves of a certification audit: the per-sample one of its own method
    and any saved at fixed radii by another (``<method>.certified_accuracy``)."""
    from dii_hpc.records import audit

    found = audit.of(record) or audit.AuditSection()
    method = found.attack or (found.attack_records() or [{}])[0].get("name") or "certified"
    norm = norm_of(found.params.get("norm", "2"))  # smoothing certifies L2 radii
    out = []
    samples = found.extra.get("samples")
    if isinstance(samples, dict) and isinstance(samples.get("radius"), list):
        right = [bool(c) for c in samples.get("correct") or []]
        radii = [float(r) for r, ok in zip(samples["radius"], right, strict=False) if ok]
        out.append(Curve(f"certified: {method} (L{norm})", norm, [], [], radii,
                         len(samples["radius"])))
    for name, points in found.curves.items():
        if name.endswith(".certified_accuracy") and isinstance(points, list):
            other = name.removesuffix(".certified_accuracy")
            rec = next((a for a in found.attack_records() if a.get("name") == other), {})
            n_norm = norm_of((rec.get("params") or {}).get("norm", "2"))
            out.append(_points(f"certified: {other} (L{n_norm})", n_norm, points, "radius",
                               "certified_accuracy"))
    return [c for c in out if c.radii or c.x]


def empirical(record: dict[str, Any]) -> list[Curve]:
    """The robustness an evasion audit measured: its suite's PGD curve over eps, and each
    attack with an ``eps`` and a ``norm`` (a level II attack, the suite's attacks) as one
    point at its eps."""
    from dii_hpc.records import audit

    found = audit.of(record) or audit.AuditSection()
    rid = str(record.get("run_id", ""))[-6:]
    out = []
    curve = found.curves.get("robustness")
    if isinstance(curve, list) and curve:
        pgd = next((a for a in found.attack_records() if a.get("name") == "pgd"), {})
        norm = norm_of((pgd.get("params") or {}).get("norm", "inf"))
        out.append(_points(f"empirical: evasion suite PGD curve (L{norm}, {rid})", norm, curve,
                           "eps", "robust_accuracy"))
    points: dict[str, list[tuple[float, float]]] = {}  # norm -> (eps, robust accuracy)
    for a in found.attack_records():
        params, acc = a.get("params") or {}, (a.get("metrics") or {}).get("robust_accuracy")
        if isinstance(acc, (int, float)) and _finite(acc) and _finite(params.get("eps")) \
                and "norm" in params:
            points.setdefault(norm_of(params["norm"]), []).append((float(params["eps"]),
                                                                   float(acc)))
    for norm, pts in sorted(points.items()):
        name = found.attack if found.attack and len(pts) == 1 else "evasion attacks"
        out.append(Curve(f"empirical: {name} (L{norm}, {rid})", norm, [p[0] for p in pts],
                         [p[1] for p in pts], scatter=True))
    return [c for c in out if c.x]


def _points(label: str, norm: str, rows: list[Any], xkey: str, ykey: str) -> Curve:
    pts = sorted((float(r[xkey]), float(r[ykey])) for r in rows if isinstance(r, dict)
                 and _finite(r.get(xkey)) and _finite(r.get(ykey)))
    return Curve(label, norm, [p[0] for p in pts], [p[1] for p in pts])


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def at(curve: Curve, radius: float) -> float | None:
    """Certified accuracy at ``radius``: exact from per-sample radii; from saved points,
    the value at the next saved radius up (a lower bound: the curve never rises)."""
    if curve.radii is not None:
        return sum(r >= radius for r in curve.radii) / curve.n if curve.n else None
    above = [y for x, y in zip(curve.x, curve.y, strict=True) if x >= radius - 1e-12]
    return above[0] if above else None


def _below(norm: str, x: float, y: float, cert: list[Curve]) -> float | None:
    """The certified accuracy an empirical point (x, y) of ``norm`` falls below, if any."""
    for c in cert:
        v = at(c, x) if c.norm == norm else None
        if v is not None and y < v - 1e-9:
            return v
    return None


def flags(cert: list[Curve], emp: list[Curve]) -> list[dict[str, Any]]:
    """One sanity row per certified curve that has an empirical curve of its norm."""
    out = []
    for c in cert:
        same = [e for e in emp if e.norm == c.norm]
        if not same:
            continue
        below = [(e, x, y, v) for e in same for x, y in zip(e.x, e.y, strict=True)
                 if (v := _below(c.norm, x, y, [c])) is not None]
        detail = (f"{c.label}: the empirical curve stays at or above it "
                  f"({', '.join(e.label for e in same)})")
        if below:
            e, x, y, v = below[0]
            detail = (f"{e.label} finds robust accuracy {y:.3f} at radius {x:g}, below "
                      f"{c.label}'s {v:.3f}: an attack cannot beat a certificate (same "
                      f"classifier?); {len(below)} point(s) below")
        out.append({"flag": FLAG, "ok": not below, "detail": detail})
    return out


def context(record: dict[str, Any], partners: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The charts (one per norm) and the flags of a certification audit's page (None: not
    one)."""
    cert = certified(record)
    if not cert:
        return None
    emp = [c for p in partners for c in empirical(p)]
    norms = sorted({c.norm for c in cert + emp}, key=lambda n: (n != cert[0].norm, n))
    charts = [_chart([c for c in cert if c.norm == n], [e for e in emp if e.norm == n], n)
              for n in norms]
    return {"charts": charts, "flags": flags(cert, emp), "n_empirical": len(emp),
            "norms": {"certified": sorted({c.norm for c in cert}),
                      "empirical": sorted({e.norm for e in emp})}}


def _steps(c: Curve, top: float) -> tuple[list[float], list[float]]:
    """The per-sample curve as its exact steps (it drops just past each radius), or on a
    grid when there are too many distinct radii."""
    radii = sorted({r for r in c.radii or [] if 0 < r <= top})
    if len(radii) > STEPS:
        grid = [top * i / (STEPS - 1) for i in range(STEPS)]
        return grid, [at(c, x) or 0.0 for x in grid]
    n = c.n or 1
    xs, ys = [0.0], [sum(r >= 0 for r in c.radii or []) / n]
    for r in radii:
        xs += [r, r]
        ys += [sum(v >= r for v in c.radii or []) / n, sum(v > r for v in c.radii or []) / n]
    return xs + [top], ys + [ys[-1]]


def _chart(cert: list[Curve], emp: list[Curve], norm: str) -> dict[str, Any]:
    """Certified and empirical accuracy over the radius of one norm."""
    top = max([max(c.radii or [0.0]) for c in cert] + [max(c.x or [0.0]) for c in cert + emp])
    top = top * 1.05 or 1.0
    series = [Series(c.label, *_steps(c, top)) if c.radii is not None
              else Series(c.label, c.x, c.y) for c in cert]
    series += [Series(e.label, e.x, e.y, line=not e.scatter,
                      marks=[_below(e.norm, x, y, cert) is not None
                             for x, y in zip(e.x, e.y, strict=True)]) for e in emp]
    what = ("certified and empirical" if cert and emp else "certified" if cert
            else "empirical")
    missing = ("" if cert and emp else " (no evasion audit of this model in this norm)" if cert
               else " (no certificate in this norm)")
    return {"title": f"L{norm}: {what} accuracy over the radius{missing}",
            "svg": line_chart(series, xlabel=f"radius (L{norm})", ylabel="accuracy",
                              yrange=(0.0, 1.0), xrange=(0.0, top), width=560, height=280)}
