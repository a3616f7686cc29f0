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
