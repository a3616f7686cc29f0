"""The pipeline pages: the stage graph, each stage's state, jobs, reuse and the runs it made.

Read from what the pipeline package saved (``<store>/pipelines/<id>/pipeline.json`` and
``stages/<stage>.json``, see `dii_hpc.pipeline.state`); the states are those last recorded
(`dii-hpc pipeline status` brings them up to date), nothing is asked of Slurm here. The graph
is drawn as SVG: one column per depth (`depths` saved at submit), an arrow per need.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 176, 44, 56, 18, 10


def _read(path: Path) -> dict[str, Any] | None:
    from dii_hpc.store.atomic import read_json

    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def load(store_root: str | Path) -> dict[str, dict[str, Any]]:
    """id -> {"record": pipeline.json, "stages": {stage: its record}} for every pipeline."""
    base = Path(store_root) / "pipelines"
    out: dict[str, dict[str, Any]] = {}
    if not base.is_dir():
        return out
    for folder in sorted(p for p in base.iterdir() if (p / "pipeline.json").is_file()):
        record = _read(folder / "pipeline.json")
        if not record or "order" not in record:
            continue
        stages = {n: _read(folder / "stages" / f"{n}.json") or {} for n in record["order"]}
        out[folder.name] = {"record": record, "stages": stages}
    return out


def _state(rec: dict[str, Any]) -> str:
    return str(rec.get("state") or "PENDING")


def overall(stages: dict[str, dict[str, Any]]) -> str:
    """As `pipeline status` says it: under way while a stage moves, then the first failure."""
    states = [_state(r) for r in stages.values()]
    if any(s in ("PENDING", "RUNNING") for s in states):
        return "PENDING" if all(s == "PENDING" for s in states) else "RUNNING"
    for word in ("FAILED", "OUT_OF_MEMORY", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "KILLED",
                 "CANCELLED"):
        if word in states:
            return word
    return "FINISHED"


def index_rows(pipelines: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for pid, p in pipelines.items():
        stages = p["stages"]
        rows.append({"id": pid, "name": p["record"]["name"], "created": p["record"].get("created"),
                     "executor": p["record"].get("executor"), "stages": len(stages),
                     "reused": sum(bool(r.get("reused")) for r in stages.values()),
                     "state": overall(stages)})
    return list(reversed(rows))


def _needs(record: dict[str, Any]) -> dict[str, list[str]]:
    return {s["name"]: list(s.get("needs") or []) for s in record["spec"]["stages"]}


def graph_svg(record: dict[str, Any], stages: dict[str, dict[str, Any]],
              links: dict[str, str]) -> Markup:
    """Boxes (state class, link to the stage's row) in columns by depth, arrows for needs."""
    needs = _needs(record)
    depths = record.get("depths") or {n: i for i, n in enumerate(record["order"])}
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for name in record["order"]:
        d = int(depths.get(name, 0))
        pos[name] = (PAD + d * (BOX_W + GAP_X), PAD + rows.get(d, 0) * (BOX_H + GAP_Y))
        rows[d] = rows.get(d, 0) + 1
    width = PAD * 2 + (max(depths.values(), default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    out = [f'<svg class="pipeline-graph" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="stage graph">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>']
    for name, wanted in needs.items():
        x2, y2 = pos[name]
        for need in wanted:
            x1, y1 = pos[need]
            out.append(f'<path class="edge" d="M{x1 + BOX_W},{y1 + BOX_H // 2} C{x1 + BOX_W + GAP_X // 2},'
                       f'{y1 + BOX_H // 2} {x2 - GAP_X // 2},{y2 + BOX_H // 2} {x2},{y2 + BOX_H // 2}" '
                       'marker-end="url(#arrow)"/>')
    for name in record["order"]:
        x, y = pos[name]
        rec = stages.get(name) or {}
        state = _state(rec)
        label = "reused" if rec.get("reused") else state.lower()
        href = escape(links.get(name, f"#stage-{name}"))
        out.append(f'<a href="{href}"><g class="node st-{escape(state.lower())}">'
                   f'<title>{escape(name)}: {escape(label)}</title>'
                   f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
                   f'<text x="{x + 8}" y="{y + 18}" class="name">{escape(name)}</text>'
                   f'<text x="{x + 8}" y="{y + 35}" class="sub">{escape(rec.get("kind") or "")} · '
                   f'{escape(label)}</text></g></a>')
    out.append("</svg>")
    return Markup("".join(out))


def context(pid: str, pipeline: dict[str, Any], known: set[str]) -> dict[str, Any]:
    record, stages = pipeline["record"], pipeline["stages"]
    needs = _needs(record)
    rows = []
    for name in record["order"]:
        rec = stages.get(name) or {}
        outputs = rec.get("outputs") or {}
        runs = [r for r in rec.get("runs") or [] if isinstance(r, str)]
        rows.append({"name": name, "kind": rec.get("kind"), "state": _state(rec),
                     "reused": bool(rec.get("reused")), "reused_from": rec.get("reused_from"),
                     "jobs": rec.get("jobs") or [], "needs": needs.get(name, []),
                     "dependency": rec.get("dependency"), "error": rec.get("error"),
                     "runs": [{"id": r, "known": r in known} for r in runs],
                     "model": outputs.get("model"), "start": rec.get("start_time"),
                     "end": rec.get("end_time"),
                     "outputs": json.dumps(outputs, default=str, sort_keys=True)[:300]})
    return {"id": pid, "name": record["name"], "created": record.get("created"),
            "source": record.get("source"), "executor": record.get("executor"),
            "git": record.get("git") or {}, "state": overall(stages), "stages": rows,
            "graph": graph_svg(record, stages, {}), "models": sorted(
                {str(r["model"]).split("/")[1] for r in rows if r["model"]})}


def fingerprint(pipeline: dict[str, Any], known: set[str]) -> Any:
    """The page's inputs: the records, and which of its runs have pages to link to."""
    runs = sorted({r for rec in pipeline["stages"].values() for r in rec.get("runs") or []
                   if isinstance(r, str)})
    return [pipeline["record"], pipeline["stages"], [r in known for r in runs]]
