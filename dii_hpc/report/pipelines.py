"""The pipeline pages: the stage graph, each stage's state, jobs, reuse and the runs it made.

Read through the pipeline records (`dii_hpc.records.pipeline`: ``pipeline.json`` and
``stages/<stage>.json``, and their roll-up of stage states, the one `pipeline status` uses);
the states are those last recorded (`dii-hpc pipeline status` brings them up to date),
nothing is asked of Slurm here. The graph is drawn as SVG: one column per depth (`depths`
saved at submit), an arrow per need.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from dii_hpc.records import pipeline as records
from dii_hpc.records.pipeline import PipelineRecord, StageRecord

Saved = tuple[PipelineRecord, dict[str, StageRecord]]

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 176, 44, 56, 18, 10


def load(store_root: str | Path) -> dict[str, Saved]:
    """id -> (pipeline record, {stage: its record}) for every pipeline of the store."""
    return records.load_all(store_root)


def index_rows(pipelines: dict[str, Saved]) -> list[dict[str, Any]]:
    rows = []
    for pid, (record, stages) in pipelines.items():
        rows.append({"id": pid, "name": record.name, "created": record.created,
                     "executor": record.executor, "stages": len(stages),
                     "reused": sum(r.reused for r in stages.values()),
                     "state": records.state_of(stages)})
    return list(reversed(rows))


def graph_svg(record: PipelineRecord, stages: dict[str, StageRecord],
              links: dict[str, str]) -> Markup:
    """Boxes (state class, link to the stage's row) in columns by depth, arrows for needs."""
    needs = record.needs()
    depths = record.depths or {n: i for i, n in enumerate(record.order)}
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for name in record.order:
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
    for name in record.order:
        x, y = pos[name]
        rec = stages.get(name) or StageRecord(stage=name)
        state = rec.shown_state
        label = "reused" if rec.reused else state.lower()
        href = escape(links.get(name, f"#stage-{name}"))
        out.append(f'<a href="{href}"><g class="node st-{escape(state.lower())}">'
                   f'<title>{escape(name)}: {escape(label)}</title>'
                   f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
                   f'<text x="{x + 8}" y="{y + 18}" class="name">{escape(name)}</text>'
                   f'<text x="{x + 8}" y="{y + 35}" class="sub">{escape(rec.kind or "")} · '
                   f'{escape(label)}</text></g></a>')
    out.append("</svg>")
    return Markup("".join(out))


def context(pid: str, pipeline: Saved, known: Container[str]) -> dict[str, Any]:
    record, stages = pipeline
    needs = record.needs()
    rows = []
    for name in record.order:
        rec = stages.get(name) or StageRecord(stage=name)
        outputs = rec.outputs or {}
        rows.append({"name": name, "kind": rec.kind, "state": rec.shown_state,
                     "reused": rec.reused, "reused_from": rec.reused_from, "jobs": rec.jobs,
                     "needs": needs.get(name, []), "dependency": rec.dependency,
                     "error": rec.error, "runs": [{"id": r, "known": r in known} for r in rec.runs],
                     "model": outputs.get("model"), "start": rec.start_time, "end": rec.end_time,
                     "outputs": json.dumps(outputs, default=str, sort_keys=True)[:300]})
    return {"id": pid, "name": record.name, "created": record.created, "source": record.source,
            "executor": record.executor, "git": record.git, "state": records.state_of(stages),
            "stages": rows, "graph": graph_svg(record, stages, {}), "models": sorted(
                {str(r["model"]).split("/")[1] for r in rows if r["model"]})}


def fingerprint(pipeline: Saved, known: Container[str], link: Callable[[str], str]) -> Any:
    """The page's inputs: the records, and where its runs' links go (``link``) if known."""
    record, stages = pipeline
    runs = sorted({r for rec in stages.values() for r in rec.runs})
    return [record.model_dump(mode="json"),
            {n: r.model_dump(mode="json") for n, r in stages.items()},
            [link(r) if r in known else None for r in runs]]
