"""From a validated config to the task table: sweep points x executor units (pure, no I/O).

Each row names the sweep values, the seed and the unit (models/datasets) of one task and the
params recorded for its run.  The table and the base config go to jobs/<id>/plan.json; a task
rebuilds its exact config from them, on any node, after any requeue.
"""

from __future__ import annotations

from typing import Any

from dii_hpc.config import LoadedConfig, check_keys, expand, refs
from dii_hpc.config.sweep import key_path
from dii_hpc.errors import ConfigError

UNSWEEPABLE = ("experiment", "executor", "kind", "resources", "tracking", "setup", "sweep", "tags")


def check_sweepable(loaded: LoadedConfig) -> None:
    """Keys that change the job itself (resources, setup...) cannot vary inside one array."""
    sweep = loaded.config.sweep
    keys = [*sweep.grid, *sweep.zip, *(sweep.random.params if sweep.random else {}),
            *(sweep.optimize.space if sweep.optimize else {})]
    for key in keys:
        if key_path(key)[0] in UNSWEEPABLE:
            raise ConfigError(f"{loaded.source}: sweep key {key}: {key_path(key)[0]} cannot be "
                              "swept (one job array shares it); submit separate configs")


def make_executor(loaded: LoadedConfig) -> Any:
    """Instantiate the configured Executor and let it check every class up front."""
    cls = refs.resolve(loaded.config.executor, "executor", require=("run_unit",), what="executor",
                       search=loaded.search)
    ex = cls(loaded.config)
    ex.search = loaded.search  # the config's folder, for the classes it names
    ex.check()
    return ex


def point_params(base_params: dict[str, Any], values: dict[str, Any], seed: int | None,
                 unit_params: dict[str, Any]) -> dict[str, Any]:
    """The params a run of one point records: params.* set, the unit's names, then the other
    swept paths by their full key."""
    params = dict(base_params)
    extra: dict[str, Any] = {}
    for key, value in values.items():
        path = key_path(key)
        if path[0] == "params" and len(path) == 2:
            params[path[1]] = value
        else:
            extra[key] = value
    if seed is not None:
        params["seed"] = seed
    return {**params, **unit_params, **extra}


def task_table(loaded: LoadedConfig, executor: Any) -> list[dict[str, Any]]:
    """One row per (sweep point, unit): values, seed, unit and the run's recorded params.

    An adaptive sweep (`sweep.optimize`) has one row per worker instead: its points are
    asked of the study while it runs (`launch.optimize.trials`)."""
    check_keys(loaded.raw, loaded.config.sweep, loaded.source, loaded.lines)
    check_sweepable(loaded)
    if loaded.config.sweep.optimize is not None:
        return worker_table(loaded, executor)
    rows: list[dict[str, Any]] = []
    for point in expand(loaded.config.sweep):
        for unit in executor.units():
            rows.append({
                "index": len(rows), "values": point.values, "seed": point.seed,
                "unit": unit.to_dict(),
                "run_params": point_params(loaded.config.params, point.values, point.seed,
                                           executor.unit_params(unit)),
            })
    return rows


def worker_table(loaded: LoadedConfig, executor: Any) -> list[dict[str, Any]]:
    """`parallel` rows, one per worker of the study; every trial is one run of one unit."""
    config = loaded.config
    units = executor.units()
    if len(units) != 1:
        raise ConfigError(f"{loaded.source}: sweep.optimize tunes one model on at most one "
                          f"dataset; the config makes {len(units)} units "
                          f"({', '.join(str(u.to_dict()) for u in units[:3])})")
    if config.resources.world_size > 1:
        raise ConfigError(f"{loaded.source}: sweep.optimize runs one process per trial; "
                          f"resources asks for {config.resources.world_size} ranks per task")
    unit = units[0]
    params = {**config.params, **executor.unit_params(unit)}
    return [{"index": k, "worker": k, "values": {}, "seed": None, "unit": unit.to_dict(),
             "run_params": params} for k in range(config.sweep.adaptive().parallel)]


def chunks(n_tasks: int, max_array_size: int) -> list[range]:
    """Split task indexes into arrays whose indexes stay below MaxArraySize."""
    size = max(1, max_array_size if max_array_size > 0 else n_tasks)
    return [range(i, min(i + size, n_tasks)) for i in range(0, n_tasks, size)]
