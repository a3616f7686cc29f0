"""`drift score`: the labels of a past check come; its realized metrics join its estimate.

The check kept what they are scored against (`assess.ARTIFACT`: the batch's predictions, class
scores and each row's chunk), so the batch file itself may be long gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dii_hpc.drift.estimate.assess import ARTIFACT, cbpe_scoring, dle_scoring, fill
from dii_hpc.drift.estimate.bands import Part
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.drift.options import DriftOptions
    from dii_hpc.records.drift import DriftSection
    from dii_hpc.store.store import Store


def score(store: Store, labels: str, run_id: str | None = None,
          monitor: str | None = None) -> DriftSection:
    """`drift score`: the realized metrics of a check (``run_id``, else the newest check of
    ``monitor``) for the labels that came, kept beside its estimate in the run's section."""
    from dii_hpc.drift.io import read_labels
    from dii_hpc.drift.monitor import history, options_of
    from dii_hpc.records import drift as records
    from dii_hpc.records import monitor as monitors

    if run_id is None:
        if monitor is None:
            raise BadInput("give --run or --monitor")
        checks = history(store, monitor)
        if not checks:
            raise BadInput(f"monitor {monitor}: no checks yet")
        run_id = str(checks[-1]["run_id"])
    section = records.read(store.run(run_id))
    if section is None or not section.monitor:
        raise BadInput(f"run {run_id}: not a monitor's check")
    opt = options_of(store, monitors.read(store, section.monitor))
    section = score_run(store, run_id, read_labels(labels), opt)
    assert section.performance is not None  # score_run refuses a check without one
    store.update_run(run_id, drift={"performance": section.performance.model_dump(
        exclude_unset=True), "drift": section.drift})
    section.run_id = run_id
    return section


def score_run(store: Store, run_id: str, y: np.ndarray, opt: DriftOptions) -> DriftSection:
    """Add the realized metrics of a stored check (its ``estimate.npz``) for labels ``y``."""
    from dii_hpc.drift import performance as perfs
    from dii_hpc.records import drift as records
    from dii_hpc.records import monitor as monitors

    section = records.read(store.run(run_id))
    perf = section.performance if section is not None else None
    if section is None or perf is None or not perf.method or not section.monitor:
        raise BadInput(f"run {run_id}: not a monitor's check with a performance estimate")
    arrays = _arrays(store, run_id)
    pred = arrays["predictions"]
    if len(y) != len(pred):
        raise BadInput(f"labels have {len(y)} rows but the check's batch had {len(pred)}")
    extras = monitors.read_extras(store, section.monitor)
    if perf.method == "cbpe":
        scoring = cbpe_scoring(extras, pred, arrays.get("scores"), y, opt.seed, estimate=False)
    else:
        scoring = dle_scoring(extras, None, None, pred, y, opt.seed, estimate=False)
    chunk = arrays["chunk"]
    keys = [c.key for c in perf.chunks] or ["all"]
    parts = [Part(k, np.flatnonzero(chunk == i)) for i, k in enumerate(keys)]
    prof = monitors.read(store, section.monitor)
    perf.current = perfs.metrics(perf.task, y, pred)
    if prof.reference_performance:
        old = perfs.performance_drift(prof.reference_performance, perf.current, perf.task, opt)
        perf.reference, perf.degraded, perf.max_drop = old.reference, old.degraded, old.max_drop
    fill(perf, scoring, parts, opt.seed)
    section.performance = perf
    section.drift = bool(section.drift) or perf.drift
    return section


def _arrays(store: Store, run_id: str) -> dict[str, np.ndarray]:
    found = store.artifacts(run_id).get(ARTIFACT)
    if found is None:
        raise BadInput(f"run {run_id}: no {ARTIFACT} (the check estimated nothing)")
    with np.load(found["path"], allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
