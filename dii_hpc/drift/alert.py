"""What a drift alert starts: the audit of the deployed model (`drift check --on-drift-audit`).

The audit runs as its own `dii-hpc audit run CONFIG` process (a level-I config runs its suite),
as a child of the drift run, so it is recorded, thresholded and exit-coded exactly as if an
operator had typed it; its exit code is kept with the check in the drift section.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from dii_hpc.drift.schedule import dii_hpc_command
from dii_hpc.records import drift as records

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def audit_command(config: str, run_id: str | None) -> list[str]:
    """The audit's command line (absolute config; `--parent-run` when the check is a run)."""
    cmd = [*dii_hpc_command(), "audit", "run", os.path.abspath(config)]
    return [*cmd, "--parent-run", run_id] if run_id else cmd


def run_audit(config: str, command: list[str], section: records.DriftSection,
              store: Store | None, run_id: str | None) -> int:
    """Run the audit; its config, command and exit code go to ``section`` (and the run)."""
    code = subprocess.run(command, check=False).returncode
    section.audit = records.AuditAlert(config=config, command=command, exit_code=code)
    if run_id and store is not None:
        records.add_audit(store, run_id, section.audit)
    return code
