"""Scheduling a monitor: a scrontab entry (Slurm's cron) when Slurm has it, else a crontab line.

scrontab is preferred on a cluster because the check then runs as a Slurm job on a compute node
(accounted, limited, logged) instead of on the login node. The entry is rendered from an
editable template (sbatch/drift-scrontab.j2 / drift-crontab.j2) and framed by begin/end marker
comments, so installing it again replaces the monitor's old entry instead of adding a second.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from dii_hpc.errors import BadInput, SchedulerError


def cron_spec(every: str, name: str) -> str:
    """A 5-field cron expression for `every` (30m, 6h, 1d, 2d, 1w, or a raw cron expression).

    Daily and longer checks start at a minute and night hour (00:00-05:59) derived from the
    monitor's name, so a site with many monitors does not start them all at the same second.
    """
    if len(every.split()) == 5:
        return check_cron(every)
    m = re.fullmatch(r"\s*(\d*)\s*([mhdw])\s*", every.lower())
    if not m:
        raise BadInput(f"--every {every!r}: use e.g. 30m, 6h, 1d, 1w or a cron expression")
    n = int(m.group(1) or 1)
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    minute, hour = digest % 60, (digest // 60) % 6
    unit = m.group(2)
    if n < 1:
        raise BadInput(f"--every {every!r}: the interval must be at least 1")
    if unit == "m":
        if n >= 60 or 60 % n:
            raise BadInput(f"--every {every!r}: minutes must divide 60 (use hours above that)")
        return f"*/{n} * * * *"
    if unit == "h":
        if n >= 24 or 24 % n:
            raise BadInput(f"--every {every!r}: hours must divide 24 (use 1d above that)")
        return f"{minute} */{n} * * *" if n > 1 else f"{minute} * * * *"
    if unit == "d":
        return f"{minute} {hour} */{n} * *" if n > 1 else f"{minute} {hour} * * *"
    if n != 1:
        raise BadInput(f"--every {every!r}: only 1w is supported for weeks")
    return f"{minute} {hour} * * 0"


# cron(5)'s fields: name, range, and the names allowed instead of numbers
_CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
                ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                  "oct", "nov", "dec")),
                ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))


def check_cron(expr: str) -> str:
    """A raw 5-field cron expression, refused (one line naming the field) when cron would
    reject it or never run it: "61 * * * *" would otherwise be installed and stay silent."""
    for text, (field, lo, hi, names) in zip(expr.split(), _CRON_FIELDS, strict=True):
        for item in text.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) < 1):
                raise BadInput(f"--every {expr!r}: {field} {item}: a step must be at least 1")
            if base == "*":
                continue
            for bound in base.split("-", 1):
                value = _cron_value(bound, lo, names)
                if value is None:
                    raise BadInput(f"--every {expr!r}: {field} {item!r} is not a number, range or list")
                if not lo <= value <= hi:
                    raise BadInput(f"--every {expr!r}: {field} {value} is outside {lo}-{hi}")
    return expr


def _cron_value(text: str, lo: int, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    low = text.lower()
    return names.index(low) + (1 if lo == 1 else 0) if low in names else None


def dii_hpc_command() -> list[str]:
    """How cron should start dii-hpc: the script beside this Python, else `python -m`."""
    script = Path(sys.executable).with_name("dii-hpc")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "dii_hpc.cli.app"]


def check_command(monitor: str, data_glob: str, store: str,
                  on_drift_audit: str | None = None, labels: str | None = None) -> str:
    """The shell command the scheduler runs (absolute store; the glob is resolved at run time)."""
    # cron starts in $HOME: relative patterns are made absolute against where schedule ran
    pattern = os.path.abspath(os.path.expanduser(data_glob))
    args = [*dii_hpc_command(), "--store", store, "drift", "check", "--monitor", monitor,
            "--data", pattern]
    if labels:
        args += ["--labels", labels]
    if on_drift_audit:
        args += ["--on-drift-audit", os.path.abspath(on_drift_audit)]
    return " ".join(shlex.quote(a) for a in args)


def has_scrontab() -> bool:
    return shutil.which("scrontab") is not None


def entry(monitor: str, every: str, data_glob: str, store: str, *, scrontab: bool,
          on_drift_audit: str | None = None, resources: dict[str, Any] | None = None) -> str:
    """The text to install: a scrontab block or a crontab block, with begin/end markers."""
    from dii_hpc.slurm.render import render

    res = dict(resources or {})
    command = check_command(monitor, data_glob, store, on_drift_audit)
    log_dir = Path(store) / "monitors" / monitor
    if scrontab:
        return render("drift-scrontab.j2", monitor=monitor, cron=cron_spec(every, monitor),
                      command=command, job_name=res.get("job_name", f"dii-drift-{monitor}"),
                      partition=res.get("partition"), account=res.get("account"),
                      time=res.get("time", "00:30:00"), cpus_per_task=res.get("cpus_per_task", 2),
                      mem=res.get("mem", "8G"), output=str(log_dir / "scron-%j.out"))
    # crontab turns an unescaped % into a newline
    return render("drift-crontab.j2", monitor=monitor, cron=cron_spec(every, monitor),
                  command=command.replace("%", r"\%"), output=shlex.quote(str(log_dir / "cron.log")))


def merge(existing: str, monitor: str, block: str) -> str:
    """`existing` crontab text with this monitor's block replaced (or appended)."""
    begin = f"# dii-hpc drift monitor {monitor} (begin)"
    end = f"# dii-hpc drift monitor {monitor} (end)"
    out: list[str] = []
    skipping = False
    for line in existing.splitlines():
        if line.startswith(begin):
            skipping = True
        elif skipping and line.startswith(end):
            skipping = False
        elif not skipping:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    text = "\n".join(out)
    return (text + "\n" if text else "") + block.rstrip("\n") + "\n"


def install(monitor: str, block: str, scrontab: bool) -> str:
    """Install the block with `scrontab` / `crontab` (replacing an older one); returns the table."""
    tool = "scrontab" if scrontab else "crontab"
    if shutil.which(tool) is None:
        raise SchedulerError(f"{tool} not found on PATH; print the entry and install it by hand")
    current = subprocess.run([tool, "-l"], capture_output=True, text=True, check=False)
    # `crontab -l` fails with "no crontab for user" when the table is empty: start from nothing
    existing = current.stdout if current.returncode == 0 else ""
    table = merge(existing, monitor, block)
    with tempfile.NamedTemporaryFile("w", suffix=".cron", delete=False) as fh:
        fh.write(table)
    try:  # a file argument works for both tools (scrontab has no stdin form)
        done = subprocess.run([tool, fh.name], capture_output=True, text=True, check=False)
    finally:
        os.unlink(fh.name)
    if done.returncode != 0:
        msg = (done.stderr or done.stdout).strip().splitlines()
        raise SchedulerError(f"{tool} refused the entry: {msg[0] if msg else done.returncode}")
    return table
