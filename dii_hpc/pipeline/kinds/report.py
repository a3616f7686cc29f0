"""``report: {out: FOLDER}``: the static site of the store (`report.build`)."""

from __future__ import annotations

from dii_hpc.pipeline.context import Context
from dii_hpc.pipeline.kind import Outcome, StageConfig, StageKind, WritePath


class ReportConfig(StageConfig):
    out: WritePath | None = None  # default: <store>/site


def run(ctx: Context) -> Outcome:
    from dii_hpc.report.build import build_site

    out = ctx.config(ReportConfig).out
    # The stage is not marked FINISHED before the build: a waiter would see it done with no
    # outputs yet. The page it renders shows it RUNNING ("states as last recorded").
    result = build_site(ctx.store, out=ctx.fill(out) if out else None, progress=False)
    return {"index": str(result.index), "rendered": result.rendered}, []


REPORT = StageKind(name="report", doc="build the store's static site", config=ReportConfig,
                   run=run)
