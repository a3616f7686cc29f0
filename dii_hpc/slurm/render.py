"""Render the editable sbatch templates of sbatch/*.j2 (pure: text in, text out).

Sites that must wrap sbatch themselves edit these templates; everything a template needs comes
in as plain values, so the output is byte-for-byte reproducible and golden-file tested.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from dii_hpc.errors import BadInput


def template_dir() -> Path:
    """sbatch/ of a source checkout, else the copy a wheel installs as dii_hpc/_sbatch."""
    pkg = Path(__file__).resolve().parent.parent
    for candidate in (pkg / "_sbatch", pkg.parent / "sbatch"):
        if candidate.is_dir():
            return candidate
    raise BadInput(f"sbatch templates not found (looked in {pkg / '_sbatch'} and {pkg.parent / 'sbatch'})")


def _environment(directory: Path) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["shquote"] = lambda v: shlex.quote(str(v))
    env.filters["shjoin"] = lambda v: " ".join(shlex.quote(str(x)) for x in v)
    return env


def render(template: str, directory: Path | None = None, **context: Any) -> str:
    """Render sbatch/<template>; a missing value is an error naming it, never an empty line."""
    import jinja2

    directory = directory or template_dir()
    try:
        return _environment(directory).get_template(template).render(**context)
    except jinja2.TemplateNotFound as err:
        raise BadInput(f"sbatch template {template!r} not found in {directory}") from err
    except jinja2.UndefinedError as err:
        raise BadInput(f"sbatch template {template}: {err.message}") from err


def array_context(
    *, experiment: str, n_tasks: int, plan_file: str, store: str, log_dir: str, python: str,
    resources: dict[str, Any], setup: list[str] | None = None, first: int = 0,
    preempt_signal: str | None = None,
) -> dict[str, Any]:
    """The values array.sbatch.j2 needs, from a config's `resources:` section.

    ``preempt_signal`` (a name without SIG) defaults to submitit's, see `dii_hpc.slurm.preempt`.
    """
    from dii_hpc.slurm.preempt import preempt_signal_name

    parallel = int(resources.get("array_parallelism") or n_tasks)
    return {
        "experiment": experiment,
        "job_name": resources.get("job_name") or f"dii-{experiment}",
        "n_tasks": n_tasks,
        "partition": resources.get("partition"),
        "account": resources.get("account"),
        "qos": resources.get("qos"),
        "time": resources.get("time", "00:30:00"),
        "cpus_per_task": resources.get("cpus_per_task", 1),
        "mem": resources.get("mem"),
        "gpus": resources.get("gpus", 0),
        "array_first": first,
        "array_last": first + n_tasks - 1,
        "array_parallelism": max(1, min(parallel, n_tasks)),
        "signal_delay_s": resources.get("signal_delay_s", 90),
        "preempt_signal": preempt_signal or preempt_signal_name(),
        "log_dir": log_dir,
        "extra": dict(resources.get("extra") or {}),
        "setup": list(setup or []),
        "store": store,
        "python": python,
        "plan_file": plan_file,
    }
