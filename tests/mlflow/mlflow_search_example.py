"""Runs logged and searched the way MLflow users write filters (MLflow's "Search Runs" docs).

tests/mlflow/test_against_mlflow.py runs it as it is, against MLflow, and with only its import
line changed to ``import dii_hpc.mlflow as mlflow``: every filter must find the same runs.
"""

import json

import mlflow  # noqa: E402

FILTERS = [
    "params.fold = '1'",            # log_param("fold", 1) is the string '1'
    "params.fold != '1'",           # runs without a fold never match
    "params.ratio = '1.0'",         # a float param keeps its text
    "params.ratio != '1.0'",
    "run_name = 'child'",           # a bare identifier is an attribute
    "attributes.run_name = 'child'",
    "attr.run_name != 'child'",
    "metrics.acc > 0.6",
    "metrics.acc != 0.5",           # runs without acc never match
    "metrics.acc >= 0.5 AND params.opt = 'adam'",
    "tags.team = 'vision'",
    "tags.team != 'vision'",
    "tags.team IS NULL",
    "params.fold IS NOT NULL",
    "params.lr LIKE '0.0%'",
    "params.opt ILIKE 'ADAM'",
    "params.opt LIKE 'a%'",
    "tags.mlflow.runName LIKE '%ar%'",
    'tags."team" = \'nlp\'',
    "params.`fold` = '2'",
    "status = 'FINISHED'",
    "attributes.status != 'FINISHED'",
    "metrics.acc < 1 and params.fold = '2'",
]
ORDERS = [["metrics.acc DESC"], ["params.fold ASC", "metrics.acc DESC"], ["run_name"]]


if __name__ == "__main__":
    mlflow.set_experiment("search")
    with mlflow.start_run(run_name="parent"):
        mlflow.log_params({"fold": 1, "ratio": 1.0, "opt": "adam", "lr": 0.1})
        mlflow.log_metric("acc", 0.5)
        mlflow.set_tag("team", "vision")
        with mlflow.start_run(run_name="child", nested=True):
            mlflow.log_params({"lr": 0.01, "opt": "Adam"})
            mlflow.log_metric("acc", 0.7)
    with mlflow.start_run(run_name="other"):
        mlflow.log_params({"fold": 2, "ratio": 0.5, "opt": "sgd", "lr": 0.001})
        mlflow.log_metric("acc", 0.9)
        mlflow.set_tag("team", "nlp")
    with mlflow.start_run(run_name="bare"):
        pass
    with mlflow.start_run(run_name="crashed"):
        mlflow.log_param("fold", 3)
        mlflow.end_run(status="FAILED")

    found = {f: sorted(mlflow.search_runs(experiment_names=["search"], filter_string=f)
                       ["tags.mlflow.runName"].tolist()) for f in FILTERS}
    ordered = [mlflow.search_runs(experiment_names=["search"], order_by=o)
               ["tags.mlflow.runName"].tolist() for o in ORDERS]
    params = mlflow.search_runs(experiment_names=["search"], order_by=["run_name"])
    print(json.dumps({"found": found, "ordered": ordered,
                      "fold": params["params.fold"].tolist(),
                      "ratio": params["params.ratio"].tolist()}))
