"""submit.py's one private dependency: submitit's ``_make_sbatch_string`` (the dry-run script)."""

from __future__ import annotations

import inspect
from pathlib import Path

from dii_hpc.config.schema import Resources
from dii_hpc.launch.submit import resource_parameters, sbatch_script


def test_submitits_private_sbatch_writer_still_takes_what_we_pass(tmp_path: Path) -> None:
    """Fails loudly when a submitit release renames or reshapes ``_make_sbatch_string``:
    ``submit --dry-run`` shows its output as the exact sbatch file submitit would write."""
    from submitit.slurm import slurm

    assert hasattr(slurm, "_make_sbatch_string"), "submitit dropped _make_sbatch_string"
    accepted = set(inspect.signature(slurm._make_sbatch_string).parameters)
    res = Resources(partition="debug", account="lab", qos="normal", time="01:00:00", mem="2G",
                    gpus=1, array_parallelism=4, extra={"constraint": "a100"})
    params = resource_parameters(res, ["module load x"], tmp_path / "store", "dii-exp")
    passed = {"command", "folder", "map_count", *params}
    assert passed <= accepted, f"_make_sbatch_string no longer takes {sorted(passed - accepted)}"
    script = sbatch_script(params, tmp_path / "submitit", 8)
    for line in ("#SBATCH --array=0-7%4", "#SBATCH --partition=debug", "#SBATCH --time=60",
                 "#SBATCH --constraint=a100", "module load x"):
        assert line in script, line
