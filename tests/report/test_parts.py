"""Small pieces of the report: charts, names, resource lookup."""

from __future__ import annotations

import math

from dii_hpc.report import charts, display, resources
from dii_hpc.report.render import script_json


def test_nice_ticks_cover_the_range() -> None:
    assert [round(t, 6) for t in charts.nice_ticks(0, 1)] == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = charts.nice_ticks(-3.3, 17.1)
    assert ticks[0] >= -3.3 and ticks[-1] <= 17.1 and len(ticks) >= 4


def test_downsample_keeps_ends() -> None:
    xs, ys = charts.downsample(list(range(1000)), list(range(1000)), 50)
    assert len(xs) == 50 and xs[0] == 0 and xs[-1] == 999
    assert charts.downsample([1, 2], [3, 4], 50) == ([1, 2], [3, 4])


def test_line_chart_skips_non_finite_and_escapes_labels() -> None:
    svg = charts.line_chart([charts.Series("<b>", [0, 1, 2, 3], [1.0, math.nan, 2.0, math.inf])],
                            ylabel="<i>")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&lt;i&gt;" in svg
    assert "nan" not in svg.lower() and "inf" not in svg.lower() and "http" not in svg
    assert "no finite values" in charts.line_chart([charts.Series("x", [0], [math.nan])])


def test_safe_names_cannot_escape_the_site() -> None:
    assert display.safe_name("digits") == "digits"
    for hostile in ("../x", "<script>", "a/b", "..", ".hidden", "x" * 300):
        name = display.safe_name(hostile)
        assert "/" not in name and not name.startswith(".") and len(name) < 120


def test_best_direction() -> None:
    assert display.lower_is_better("val/loss") and not display.lower_is_better("val_acc")
    assert display.primary_metric(["loss", "val_acc", "acc"]) == "val_acc"


def test_script_json_cannot_close_the_script_element() -> None:
    text = str(script_json({"n": "</script><script>alert(1)</script>", "v": math.nan}))
    assert "<" not in text and ">" not in text and "null" in text


def test_resources_are_found() -> None:
    assert (resources.templates_dir() / "run.html").is_file()
    assert (resources.static_dir() / "style.css").is_file()
    assert len(resources.fingerprint()) == 16


def test_wheel_layout_is_preferred(tmp_path, monkeypatch) -> None:
    """A wheel ships templates/ and site/ as dii_hpc/_templates and dii_hpc/_site."""
    import shutil

    pkg = tmp_path / "dii_hpc"
    shutil.copytree(resources.templates_dir(), pkg / "_templates")
    shutil.copytree(resources.static_dir(), pkg / "_site")
    monkeypatch.setattr(resources, "_PACKAGE", pkg)
    assert resources.templates_dir() == pkg / "_templates"
    assert resources.static_dir() == pkg / "_site"


def test_display_names_and_resources() -> None:
    audit = {"run_id": "01X", "kind": "audit", "tags": {},
             "audit": {"suite": "evasion", "level": "I"}}
    assert display.display_name(audit) == "evasion suite, level I"
    assert display.display_name({"run_id": "01X", "tags": {"name": "baseline"}}) == "baseline"
    assert display.display_name({"run_id": "01X", "tags": {}}) == "01X"
    assert display.resources({"slurm": {}}) == ""
    assert display.resources({"slurm": {"job_id": "7", "elapsed_s": 5.0}}) == "job 7 · 5.0 s"


def test_curves_are_encoded_within_a_level_of_their_range() -> None:
    """data.py stores each value as one of 65,535 levels of the curve's range (non-finite:
    missing); steps evenly spaced as (x0, dx), else listed."""
    from dii_hpc.report import data

    values = [math.sin(i / 7) * 1e3 for i in range(300)] + [math.nan, math.inf]
    steps = [float(5 * i) for i in range(302)]
    curve = data.encode_curve(steps, values)
    assert curve[:2] == [0, 5]
    got_steps, got = data.decode_curve(curve)
    assert got_steps == steps and got[-2:] == [None, None]
    level = (max(values[:300]) - min(values[:300])) / data.SCALE
    assert max(abs(a - b) for a, b in zip(got[:300], values[:300], strict=True)) <= level
    odd = data.decode_curve(data.encode_curve([0.0, 1.0, 5.0], [1.0, 1.0, 1.0]))
    assert odd == ([0, 1, 5], [1.0, 1.0, 1.0])
    long = {"loss": ([float(i) for i in range(1000)], [1.0] * 1000)}
    short, longer = data.run_curves(long)
    assert longer and len(data.decode_curve(short["loss"])[0]) <= data.HIST_POINTS
    assert data.read_js(data.to_js("hist-0", {"c": short})) == {"c": short}
