"""Slurm time strings, one grammar for configs, sacct/scontrol output and submitit minutes.

Slurm's forms (sbatch(1) --time): M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.  sacct prints CPU
times with fractional seconds ("00:01.234" is M:S.mmm) and "UNLIMITED"/"Partition_Limit"
for no limit.  A dash means days, so "1-12" is one day and twelve hours.
"""

from __future__ import annotations

import math
import re

_FORM = re.compile(r"^(?:(?P<d>\d+)-)?(?P<f>\d+(?::\d+){0,2}(?:\.\d+)?)$")
NO_LIMIT = frozenset({"UNLIMITED", "INFINITE", "Partition_Limit", "NONE", "INVALID", "N/A"})


def parse(text: str) -> float | None:
    """Seconds in a Slurm time string; None for "no limit" words; ValueError otherwise."""
    text = str(text).strip()
    if text in NO_LIMIT or text.upper() in NO_LIMIT:
        return None
    match = _FORM.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Slurm time (M, M:S, H:M:S, D-H, D-H:M or D-H:M:S)")
    fields = match["f"].split(":")
    if "." in fields[-1] and (match["d"] is not None or len(fields) == 1):
        raise ValueError(f"{text!r}: only seconds may have a fraction")
    values = [float(v) for v in fields]
    if match["d"] is not None:  # D-H, D-H:M, D-H:M:S
        h, m, s = (values + [0.0, 0.0])[:3]
        return int(match["d"]) * 86400 + h * 3600 + m * 60 + s
    if len(values) == 1:  # M
        return values[0] * 60
    if len(values) == 2:  # M:S
        return values[0] * 60 + values[1]
    h, m, s = values  # H:M:S
    return h * 3600 + m * 60 + s


def parse_or_none(text: str | None) -> float | None:
    """For scheduler output: an unknown or empty field is None rather than an error."""
    if not text:
        return None
    try:
        return parse(text)
    except ValueError:
        return None


def minutes(text: str) -> int:
    """Whole minutes, rounded up, for submitit's ``timeout_min``; ValueError for no limit."""
    seconds = parse(text)
    if seconds is None:
        raise ValueError(f"{text!r} is no time limit; submitit needs minutes")
    return math.ceil(seconds / 60)


def format_seconds(seconds: float) -> str:
    """Seconds -> Slurm's own display form: "D-HH:MM:SS" (days only when there are any)."""
    total = math.ceil(max(float(seconds), 0.0))
    days, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}-{clock}" if days else clock
