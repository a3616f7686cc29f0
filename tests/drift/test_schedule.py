"""Cron expressions, scrontab/crontab rendering, and replacing a monitor's installed block."""

from __future__ import annotations

import pytest

from dii_hpc.drift import schedule
from dii_hpc.errors import BadInput


def test_cron_spec() -> None:
    daily = schedule.cron_spec("1d", "m")
    minute, hour, *rest = daily.split()
    assert rest == ["*", "*", "*"] and 0 <= int(minute) < 60 and 0 <= int(hour) < 6
    assert schedule.cron_spec("1d", "m") == daily  # stable per monitor
    assert schedule.cron_spec("15m", "m") == "*/15 * * * *"
    assert schedule.cron_spec("6h", "m").endswith(" */6 * * *")
    assert schedule.cron_spec("1w", "m").endswith(" * * 0")
    assert schedule.cron_spec("0 3 * * 1", "m") == "0 3 * * 1"
    for bad in ("7m", "5h", "daily!", "0d"):
        with pytest.raises(BadInput, match="--every"):
            schedule.cron_spec(bad, "m")


def test_scrontab_entry_renders_sbatch_options() -> None:
    text = schedule.entry("m1", "1d", "/data/*.parquet", "/shared/store", scrontab=True,
                          resources={"partition": "debug"})
    lines = text.splitlines()
    assert lines[0].startswith("# dii-hpc drift monitor m1 (begin)")
    assert "#SCRON --job-name=dii-drift-m1" in lines and "#SCRON --partition=debug" in lines
    assert "#SCRON --output=/shared/store/monitors/m1/scron-%j.out" in lines
    cron = [x for x in lines if not x.startswith("#")]
    assert len(cron) == 1 and "--store /shared/store drift check --monitor m1" in cron[0]
    assert lines[-1] == "# dii-hpc drift monitor m1 (end)"


def test_merge_replaces_only_this_monitors_block() -> None:
    old = schedule.entry("m1", "1d", "/a/*", "/s", scrontab=False)
    other = schedule.entry("m2", "1h", "/b/*", "/s", scrontab=False)
    table = "MAILTO=ops\n" + old + other
    new = schedule.entry("m1", "6h", "/c/*", "/s", scrontab=False)
    merged = schedule.merge(table, "m1", new)
    assert merged.count("(begin)") == 2 and "/a/*" not in merged and "/c/*" in merged
    assert merged.startswith("MAILTO=ops\n") and other.strip() in merged
    assert schedule.merge("", "m1", new) == new
