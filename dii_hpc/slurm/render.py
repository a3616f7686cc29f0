"""Render the editable templates of sbatch/*.j2 (pure: text in, text out).

What remains here are the drift monitors' scrontab / crontab entries (`drift schedule`); job
scripts come from submitit alone (see launch/backend.py for why).  Everything a template needs
comes in as plain values, so the output is byte-for-byte reproducible.
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
