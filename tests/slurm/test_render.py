"""Template rendering (drift schedule entries) is pure; a missing value or template is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.slurm.render import render, template_dir


def test_crontab_entry_renders_exactly() -> None:
    text = render("drift-crontab.j2", monitor="prod", cron="0 3 * * *",
                  command="dii-hpc drift check --monitor prod", output="/s/cron.log")
    assert text.splitlines() == [
        "# dii-hpc drift monitor prod (begin) -- rendered from sbatch/drift-crontab.j2",
        "0 3 * * * dii-hpc drift check --monitor prod >> /s/cron.log 2>&1",
        "# dii-hpc drift monitor prod (end)"]


def test_missing_value_names_it() -> None:
    with pytest.raises(BadInput, match="output"):
        render("drift-crontab.j2", monitor="m", cron="* * * * *", command="x")


def test_unknown_template_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="array.sbatch.j2"):
        render("array.sbatch.j2", directory=tmp_path)
    assert (template_dir() / "drift-scrontab.j2").is_file()
    assert not (template_dir() / "array.sbatch.j2").exists()  # job scripts: submitit only
