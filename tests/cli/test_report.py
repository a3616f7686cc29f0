"""`dii-hpc report build` (cli/report.py): where the site goes, what it prints, bad stores."""

from __future__ import annotations

import shutil
from pathlib import Path

from dii_hpc.report.pages import run_path
from dii_hpc.store.store import Store


def test_cli_builds_into_store_site_by_default(demo, tmp_path: Path, capsys) -> None:
    from dii_hpc.cli.app import main

    store_dir = tmp_path / "store"
    shutil.copytree(demo[0], store_dir)
    assert main(["--store", str(store_dir), "report", "build"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str((store_dir / "site" / "index.html").resolve())
    assert "page(s) rendered" in captured.err
    assert main(["--store", str(store_dir), "report", "build", "-e", "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err
    assert main(["--store", str(tmp_path / "typo"), "report", "build"]) == 2
    assert "no store at" in capsys.readouterr().err and not (tmp_path / "typo").exists()


def test_a_damaged_run_is_skipped_and_named(demo, tmp_path: Path, capsys) -> None:
    from dii_hpc.cli.app import main

    store_dir = tmp_path / "store"
    shutil.copytree(demo[0], store_dir)
    bad = demo[1]["train2"]
    (Store(store_dir).run_dir(bad) / "run.json").write_text('{"run_id": ')   # torn write
    assert main(["--store", str(store_dir), "report", "build", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert f"skipped damaged run {bad}" in err
    assert not (tmp_path / "o" / run_path(bad)).exists()
    assert (tmp_path / "o" / run_path(demo[1]["train1"])).is_file()


def test_a_terminal_gets_a_progress_bar_and_stdout_keeps_its_bytes(demo, tmp_path: Path) -> None:
    """stderr on a terminal shows rich's bar; a redirected stdout still holds only the path."""
    import os
    import pty
    import subprocess

    from tests.conftest import DII

    store_dir = tmp_path / "store"
    shutil.copytree(demo[0], store_dir)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([DII, "--store", str(store_dir), "report", "build"],
                              stdout=subprocess.PIPE, stderr=slave, text=True, timeout=300)
    finally:
        os.close(slave)
    screen = b""
    try:
        while chunk := os.read(master, 65536):
            screen += chunk
    except OSError:  # EIO: the terminal's other end is closed and everything was read
        pass
    os.close(master)
    assert proc.returncode == 0
    assert proc.stdout == f"{(store_dir / 'site' / 'index.html').resolve()}\n"
    text = screen.decode(errors="replace")
    assert "report: pages" in text and "━" in text and "page(s) rendered" in text


def test_list_and_dict_params_do_not_break_the_build(store_path: Path, tmp_path: Path, capsys) -> None:
    """#14 item 6: a run with a list or dict param (unhashable) once failed the whole build."""
    import dii_hpc
    from dii_hpc.cli.app import main

    for params in ({"layers": [64, 32], "opt": {"name": "adam"}, "lr": 0.1},
                   {"layers": [128], "opt": {"name": "sgd"}, "lr": 0.2}):
        with dii_hpc.start_run("mixed", params=params) as run:
            run.log_metric("acc", 0.5)
    assert main(["report", "build", "--out", str(tmp_path / "site")]) == 0, capsys.readouterr().err
    assert (tmp_path / "site" / "index.html").is_file()


def test_out_that_is_a_file_and_a_read_only_store_exit_2(demo, tmp_path: Path, capsys) -> None:
    """#14 item 12: `report build --out FILE` and a read-only store failed with exit 3."""
    import subprocess

    import pytest

    from dii_hpc.cli.app import main

    store_dir = tmp_path / "store"
    shutil.copytree(demo[0], store_dir)
    (tmp_path / "file").write_text("x")
    assert main(["--store", str(store_dir), "report", "build", "--out", str(tmp_path / "file")]) == 2
    assert f"--out {tmp_path / 'file'}: is a file; give a folder" in capsys.readouterr().err
    if subprocess.run(["chattr", "+i", str(store_dir)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (it makes a folder read-only even for root)")
    try:
        assert main(["--store", str(store_dir), "report", "build"]) == 2
        err = capsys.readouterr().err
        assert f"cannot write the site to {store_dir / 'site'}" in err and "--out" in err
        assert err.count("\n") == 1
    finally:
        subprocess.run(["chattr", "-i", str(store_dir)], check=True)


def test_level_two_audits_have_no_grade_none_and_slurm_times_are_dates(store_path: Path,
                                                                       tmp_path: Path) -> None:
    """#14 "smaller": run pages said "grade None" for level II/III audits and showed Slurm
    times as 1.796e+09."""
    import dii_hpc
    from dii_hpc.cli.app import main

    with dii_hpc.start_run("audits", kind="audit") as run:
        run.set_section("audit", {
            "level": "II", "threat": "evasion", "task": "tabular_classification", "attack": "fgsm",
            "grade": None, "summary": "one attack", "metrics": {"robust_accuracy": 0.4},
            "attacks": [{"name": "fgsm", "params": {"eps": 0.1}, "metrics": {"robust_accuracy": 0.4}}],
            "config": {}, "n_samples": 20})
        rid = run.id
    dii_hpc.Store().update_run(rid, slurm={"job_id": "83", "state": "FINISHED",
                                           "submit_time": 1796000000.0, "start_time": 1796000060.0})
    assert main(["report", "build", "--out", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / run_path(rid)).read_text()
    assert "grade None" not in page and "None</strong>" not in page and "level II" in page
    assert "1.796e+09" not in page and "2026-" in page
