"""The CLI's one formatter (cli/tables.py): values, aligned columns, and the layouts built on them."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from dii_hpc.cli.tables import cell, render_frame, status_lines, status_summary, table, task_table


def test_cell_formats_numbers_missing_values_and_times() -> None:
    assert cell(0.123456) == "0.1235" and cell(1234567.0, grouped=True) == "1.235e+06"
    assert cell(12345.6, grouped=True) == "1.235e+04" and cell(1234.5, grouped=True) == "1,234"
    assert cell(None) == "-" and cell(math.nan) == "-" and cell(None, none="") == ""
    assert cell(0.1234567, digits=6) == "0.123457" and cell(3) == "3" and cell("x") == "x"
    assert cell(dt.datetime(2024, 5, 1, 12, 30, 5)) == "2024-05-01 12:30:05"
    assert cell(pd.Timestamp("2024-05-01 12:30:05.9")) == "2024-05-01 12:30:05"


def test_table_aligns_pads_and_strips() -> None:
    text = table([["a", 1.5, ""], ["bbb", 10, "z"]], ["name", "v", "w"], rule=True, align="lr")
    assert text.splitlines() == ["name    v  w", "----  ---  -", "a     1.5", "bbb    10  z"]
    assert table([["x", "y"]], min_widths=(3,), sep=" ") == "x   y"
    assert table([]) == ""


def test_status_lines_keep_the_fixed_layout() -> None:
    rows = [{"run_id": "01JD0000000000000000000001", "status": "FAILED", "job_id": "1234_5",
             "elapsed_s": 42.4, "max_rss_mb": 512.0, "error": "Slurm: TIMEOUT"},
            {"run_id": "01JD0000000000000000000002", "status": "FINISHED", "job_id": "",
             "elapsed_s": None, "max_rss_mb": None, "error": ""}]
    old = [f"{r['run_id']}  {r['status']:<13} {r['job_id'] or '-':<12} "
           f"{(format(r['elapsed_s'], '.0f') + 's') if r['elapsed_s'] else '-':>7} "
           f"{(format(r['max_rss_mb'], '.0f') + 'MB') if r['max_rss_mb'] else '-':>8}  "
           f"{r['error']}".rstrip() for r in rows]
    assert status_lines(rows).splitlines() == old
    assert status_summary([{**r, "experiment": "e"} for r in rows]) == \
        "e: 2 run(s): 1 FAILED, 1 FINISHED"


def test_task_table_and_frames() -> None:
    rows = [{"index": i, "run_params": {"lr": lr, "seed": i, "note": None}}
            for i, lr in enumerate((0.1, 0.0012345678))]
    assert task_table(rows).splitlines() == ["task  lr          seed  note", "0     0.1         0",
                                             "1     0.00123457  1"]
    assert task_table(rows, limit=1).splitlines()[-1] == "... and 1 more task(s)"
    df = pd.DataFrame({"run_id": ["r1"], "metrics.acc": [0.91234]})
    assert render_frame(df, "table").splitlines() == ["run_id  metrics.acc", "------  -----------",
                                                      "r1      0.9123"]
    assert render_frame(df, "csv") == "run_id,metrics.acc\nr1,0.91234"
    assert render_frame(df.iloc[:0], "table") == "(no runs)"
