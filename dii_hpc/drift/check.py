"""One drift check from the inputs to the verdict: compare, keep the run, alert, write the JSON.

`run` is the whole path of `dii-hpc drift check` (and of a scheduled or scripted check): the
CLI only parses its options, calls `run`, prints the section and raises `failure` (exit 1 on
drift). What a check compares is a `Target`: two files (one-off) or a monitor and its batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.drift import alert, options, quality
from dii_hpc.drift import performance as perf
from dii_hpc.drift.io import read_table, resolve_path
from dii_hpc.drift.monitor import check_monitor, feature_columns, predictions_of
from dii_hpc.drift.options import DriftOptions
from dii_hpc.errors import BadInput, CheckFailed
from dii_hpc.records import drift as records
from dii_hpc.records.drift import DriftSection

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store, StoreLike


@dataclass(frozen=True)
class Target:
    """What a check compares: ``reference`` and ``current`` files, or ``monitor`` and ``data``
    (a glob takes the newest file), with optional ``labels`` of a monitor's batch."""

    reference: str | None = None
    current: str | None = None
    monitor: str | None = None
    data: str | None = None
    labels: str | None = None

    @property
    def one_off(self) -> bool:
        return self.reference is not None or self.current is not None

    def check(self) -> None:
        """Refuse a half-given or mixed target, naming the option that is missing."""
        if self.one_off == (self.monitor is not None or self.data is not None):
            raise BadInput("give --reference and --current, or --monitor and --data")
        if self.one_off:
            if not (self.reference and self.current):
                raise BadInput(f"--{'current' if self.reference else 'reference'} is missing")
            if self.labels:
                raise BadInput("--labels needs a monitor (its reference performance): use --monitor")
        elif not (self.monitor and self.data):
            raise BadInput(f"--{'data' if self.monitor else 'monitor'} is missing")


def compare_target(target: Target, store: Store | None, config: str | None,
                   overrides: dict[str, Any], executor: str = "local") -> DriftSection:
    """The drift section of ``target`` (options: the YAML ``config``, then ``overrides``);
    ``executor`` slurm (or the ``sketch`` option) compares mergeable sketches of every shard."""
    target.check()
    if target.one_off:
        opt = options.from_command_line(config, overrides)
        if opt.sketch or executor != "local":
            from dii_hpc.drift.sketch import check as sketched

            return sketched.check_files(str(target.reference), str(target.current), opt,
                                        executor, store)
        return check_files(str(target.reference), str(target.current), opt)
    if store is None:
        raise BadInput(f"monitor {target.monitor}: a monitor's check needs its store")
    return check_monitor(store, str(target.monitor), str(target.data), target.labels,
                         options.monitor_overrides(config, overrides), executor)


def run(target: Target, store: Store | None, *, config: str | None = None,
        overrides: dict[str, Any] | None = None, json_file: str | None = None,
        on_drift_audit: str | None = None, keep: bool = True,
        say: Callable[[str], None] = print, executor: str = "local") -> DriftSection:
    """Check ``target``; keep it as a run (``keep``), start the alert's audit on drift, write
    ``json_file``. The section's ``run_id`` names the run. ``say`` tells what is started."""
    section = compare_target(target, store, config, dict(overrides or {}), executor)
    run_id = record_check(section, store) if keep else None
    if section.drift and on_drift_audit:
        cmd = alert.audit_command(on_drift_audit, run_id)
        say(f"drift found: starting audit: {' '.join(cmd)}")
        alert.run_audit(on_drift_audit, cmd, section, store, run_id)
    section.run_id = run_id
    if json_file:
        from dii_hpc.store.atomic import dumps, write_bytes

        write_bytes(json_file, dumps(section.dump()))
    return section


def failure(section: DriftSection) -> CheckFailed | None:
    """The exit-1 error of a drifted check or of a failed data-quality rule (None: neither)."""
    failed = section.quality_failures()
    if not section.drift and not failed:
        return None
    run = f"; run {section.run_id}" if section.run_id else ""
    rules = "data quality: " + ", ".join(
        f"{q.rule}({q.column})" if q.column else q.rule for q in failed[:5]) \
        + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
    if not section.drift:
        return CheckFailed(f"{rules}{run}")
    return CheckFailed(f"drift found ({_cause(section)}){'; ' + rules if failed else ''}{run}")


def _cause(section: DriftSection) -> str:
    """What raised the alarm, in a few words for the one-line message."""
    causes = []
    if section.data_drift if section.data_drift is not None else section.drift:
        causes.append(f"data: {section.n_drifted}/{section.n_features} features, "
                      f"rule {section.rule}")
    if section.prediction is not None and section.prediction.drift:
        causes.append("predictions")
    if section.performance is not None and section.performance.drift:
        causes.append("performance: " + ", ".join(section.performance.degraded
                                                   + section.performance.alerts))
    return "; ".join(causes) or f"rule {section.rule}"


def check_files(reference: str, current: str, opt: DriftOptions) -> DriftSection:
    """A one-off comparison of two files (no monitor): the drift section."""
    ref_path, cur_path = resolve_path(reference), resolve_path(current)
    ref, cur = read_table(ref_path), read_table(cur_path)
    section = quality.compare(feature_columns(ref, opt), feature_columns(cur, opt), opt,
                              str(ref_path), str(cur_path))
    section.data_drift = section.drift
    if opt.prediction_column:
        _, rp = predictions_of(ref, np.empty(0), None, opt, str(ref_path))
        _, cp = predictions_of(cur, np.empty(0), None, opt, str(cur_path))
        if rp is not None and cp is not None:  # always: the column is in both (else BadInput)
            section.prediction = perf.prediction_drift(rp, cp, perf.task_of(rp), opt)
            section.drift = section.drift or section.prediction.drift
    section.reference, section.current = str(ref_path), str(cur_path)
    return section


def record_check(section: DriftSection, store: StoreLike = None) -> str:
    """Keep the check as a run of kind 'drift' (experiment = monitor name, or 'drift')."""
    from dii_hpc.tracking.run import start_run

    name = section.monitor
    tags = {"monitor": name or "", "verdict": "drift" if section.drift else "ok"}
    params = {"reference": section.reference, "current": section.current,
              "rule": section.rule, "alpha": section.alpha}
    with start_run(name or "drift", params=params, tags=tags, kind="drift", store=store) as run:
        records.write(run, section)
        values = {"share_drifted": section.share_drifted or 0.0, "n_drifted": section.n_drifted,
                  "drift": float(section.drift)}
        for key, part in section.multivariate.items():
            if part.p_value is not None:
                values[f"{key}_p_value"] = part.p_value
        if section.performance is not None:
            values.update(section.performance.current)
            for what in ("estimated", "realized"):
                values.update({f"{what}_{k}": e.value
                               for k, e in getattr(section.performance, what).items()})
        run.log_metrics(values, step=0)
        for name, arrays in section.kept_arrays().items():
            _keep(run, name, arrays)
        return run.id


def _keep(run: Any, name: str, arrays: dict[str, np.ndarray]) -> None:
    """Keep ``arrays`` as the run's artifact ``name`` (an .npz)."""
    import io
    import tempfile
    from pathlib import Path

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(buf.getvalue())
        run.log_artifact(path, name=name)
