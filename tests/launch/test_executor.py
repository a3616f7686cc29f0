"""The Executor contract, run in-process through submitit's DebugExecutor (no scheduler)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dii_hpc.cli.tables import task_table
from dii_hpc.config import from_dict
from dii_hpc.errors import BadInput, ConfigError
from dii_hpc.launch.executor import Executor, Unit
from dii_hpc.launch.submit import run_debug_jobs, submit
from dii_hpc.store.store import Store

REPO = Path(__file__).resolve().parents[2]
FIX = "tests.launch.fixtures.models"


def _config(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "experiment": "fx",
        "models": {"q": {"class": f"{FIX}:Quadratic", "params": {"width": 4}}},
        "datasets": {"p": {"class": f"{FIX}:Points", "params": {"n": 5}}},
        "params": {"lr": 0.1, "epochs": 3},
        "resources": {"time": "00:01:00", "sys_metrics_s": 0},
    }
    cfg.update(over)
    return cfg


@pytest.fixture()
def store(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.chdir(REPO)
    return Store(store_path)


def _run(store: Store, raw: dict[str, Any], overrides: list[str] | None = None) -> Any:
    res = submit(from_dict(raw, overrides), store, "debug")
    run_debug_jobs(res.submission_id)
    return res


def test_grid_times_seeds_gives_one_finished_run_each(store: Store) -> None:
    raw = _config(sweep={"grid": {"lr": [0.1, 0.2], "models.q.params.width": [2, 3]},
                         "seeds": [0, 1]})
    res = _run(store, raw)
    df = store.runs("fx")
    assert len(df) == 8 and set(df["status"]) == {"FINISHED"}
    assert sorted(zip(df["params.lr"], df["params.models.q.params.width"], df["params.seed"],
                      strict=True)) == sorted((lr, w, s) for lr in (0.1, 0.2) for w in (2, 3) for s in (0, 1))
    rec = store.run(res.run_ids[-1])  # lr 0.2, width 3, seed 1
    assert rec["metrics"]["loss"]["count"] == 3
    assert rec["metrics"]["loss"]["last"] == pytest.approx(3 * 0.2 / 3 + 1)
    assert rec["metrics"]["acc"]["last"] == pytest.approx(0.8)
    assert rec["params"]["model"] == "q" and rec["params"]["dataset"] == "p"
    assert rec["result"] == {"note": "ok"} and "weights.txt" in store.artifacts(rec["run_id"])
    man = rec["manifest"]
    assert man["seed"] == 1 and man["config"]["params"]["seed"] == 1
    assert man["config"]["models"]["q"]["params"]["width"] == 3 and "sweep" not in man["config"]
    assert man["python"] and "submitit" in man["packages"] and man["host"]


def test_failing_model_ends_failed_with_its_error(store: Store) -> None:
    res = _run(store, _config(models={"b": {"class": f"{FIX}:Boom"}}))
    rec = store.run(res.run_ids[0])
    assert rec["status"] == "FAILED" and "exploded on purpose" in rec["error"]


@pytest.mark.parametrize(("models", "message"), [
    ({"n": {"class": f"{FIX}:NoTrain"}}, f"models.n.class: '{FIX}:NoTrain' has no method train_function, which a model must define"),
    ({"n": {"class": "no_such_pkg.mod:Model"}}, "cannot import module 'no_such_pkg'"),
    ({"n": {"class": f"{FIX}:Nope"}}, f"models.n.class: '{FIX}:Nope': '{FIX}' has no attribute 'Nope'"),
])
def test_bad_classes_are_refused_before_anything_is_written(store: Store, models: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(BadInput, match=message.replace("(", r"\(")):
        submit(from_dict(_config(models=models)), store, "debug")
    assert store.experiments() == []


def test_dataset_without_get_dataset_is_named(store: Store) -> None:
    raw = _config(datasets={"d": {"class": f"{FIX}:Quadratic"}})
    with pytest.raises(BadInput, match="datasets.d.class: .* has no method get_dataset, which a dataset must define"):
        submit(from_dict(raw), store, "debug")


def test_sweep_over_missing_key_writes_nothing(store: Store) -> None:
    raw = _config(sweep={"grid": {"models.q.params.depth": [1, 2]}})
    with pytest.raises(ConfigError, match="sweep.grid.models.q.params.depth"):
        submit(from_dict(raw), store, "debug")
    with pytest.raises(ConfigError, match="resources cannot be swept"):
        submit(from_dict(_config(sweep={"grid": {"resources.time": ["1", "2"]}})), store, "debug")
    assert store.experiments() == []


def test_default_design_is_each_model_times_each_dataset(store: Store) -> None:
    raw = _config(models={"a": {"class": f"{FIX}:Quadratic"}, "b": {"class": f"{FIX}:Quadratic",
                                                                     "params": {"width": 9}}},
                  datasets={"x": {"class": f"{FIX}:Points"}, "y": {"class": f"{FIX}:Points",
                                                                   "params": {"n": 2}}})
    _run(store, raw)
    df = store.runs("fx")
    assert sorted(zip(df["params.model"], df["params.dataset"], strict=True)) == [
        ("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert set(df["metrics.n_points"]) == {10.0, 2.0}


class AllModelsOneRun(Executor):
    """A custom design: every model on the first dataset, in one run."""

    def units(self) -> list[Unit]:
        return [Unit(tuple(self.config.models), tuple(self.config.datasets)[:1])]

    def run_unit(self, unit: Unit, run: Any, params: dict[str, Any]) -> dict[str, float]:
        data = self.load_dataset(unit.datasets[0])
        out = {}
        for name in unit.models:
            res = self.make_model(name).train_function(data, run=run, **params)
            out[f"{name}/acc"] = res["acc"]
        return out


def test_subclassed_executor_changes_the_design(store: Store) -> None:
    raw = _config(executor=f"{__name__}:AllModelsOneRun",
                  models={"a": {"class": f"{FIX}:Quadratic"}, "b": {"class": f"{FIX}:Quadratic"}})
    res = _run(store, raw)
    assert len(res.run_ids) == 1
    rec = store.run(res.run_ids[0])
    assert rec["status"] == "FINISHED" and {"a/acc", "b/acc"} <= set(rec["metrics"])
    assert rec["params"]["model"] == "a,b"


def test_executor_class_must_exist(store: Store) -> None:
    with pytest.raises(BadInput, match=r"executor: 'tests.nothing:X': cannot import module 'tests.nothing' \(looked in"):
        submit(from_dict(_config(executor="tests.nothing:X")), store, "debug")


def test_dry_run_writes_nothing(store: Store) -> None:
    res = submit(from_dict(_config(sweep={"seeds": [1, 2, 3]})), store, "debug", dry_run=True)
    assert len(res.rows) == 3 and "#SBATCH --array=0-2%3" in res.script
    assert "seed" in task_table(res.rows).splitlines()[0] and not store.root.exists()


def test_from_run_recreates_the_task(store: Store) -> None:
    res = _run(store, _config(sweep={"seeds": [7]}))
    original = store.run(res.run_ids[0])
    again = submit(from_dict(original["manifest"]["config"]), store, "debug",
                   parent_run=original["run_id"])
    run_debug_jobs(again.submission_id)
    copy = store.run(again.run_ids[0])
    assert copy["parent_run"] == original["run_id"] and copy["params"]["seed"] == 7
    assert copy["metrics"]["loss"]["last"] == original["metrics"]["loss"]["last"]
    assert copy["manifest"]["config"] == original["manifest"]["config"]


def test_arrays_split_below_max_array_size() -> None:
    from dii_hpc.launch.plan import chunks

    assert [list(c) for c in chunks(5, 2)] == [[0, 1], [2, 3], [4]]
    assert [(c.start, c.stop) for c in chunks(2500, 1001)] == [(0, 1001), (1001, 2002), (2002, 2500)]
    assert [(c.start, c.stop) for c in chunks(3, 0)] == [(0, 3)]


def test_auto_falls_back_to_local_without_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dii_hpc.errors import SchedulerError
    from dii_hpc.launch.submit import choose_executor

    monkeypatch.setenv("PATH", str(tmp_path))  # no Slurm commands here
    assert choose_executor("auto") == ("local", None)
    assert choose_executor("debug") == ("debug", None)
    with pytest.raises(SchedulerError, match="sbatch not found"):
        choose_executor("slurm")
    with pytest.raises(BadInput, match="--executor cloud"):
        choose_executor("cloud")


def test_returned_numbers_go_to_the_summary_not_a_new_history_point(store: Store) -> None:
    """#26 item 6: a returned key the run logged per epoch got a 41st point for 40 epochs.
    Returned numbers are the summary's values; only a key never logged gets a point."""
    raw = _config(models={"e": {"class": f"{FIX}:Epochs"}}, datasets={}, params={"epochs": 40})
    (rid,) = _run(store, raw).run_ids
    rec = store.run(rid)
    assert rec["status"] == "FINISHED"
    for key in ("acc", "loss"):
        assert store.metric_array(rid, key)[:, 0].astype(int).tolist() == list(range(40))
        assert rec["metrics"][key]["count"] == 40 and rec["metrics"][key]["returned"] is True
    history = store.metric_array(rid, "acc")[:, 1]
    assert rec["metrics"]["acc"]["last"] == pytest.approx(history.max())  # the returned best
    assert history[-1] < history.max() - 0.05  # ... which is not the last epoch's value
    assert store.runs("fx").loc[0, "metrics.acc"] == pytest.approx(history.max())
    assert store.metric_array(rid, "f1")[:, :2].tolist() == [[0.0, 0.75]]  # never logged: 1 point
    assert rec["metrics"]["f1"]["last"] == 0.75
