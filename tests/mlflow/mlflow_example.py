"""An MLflow tracking script written the way MLflow's documentation shows it.

tests/mlflow/test_against_mlflow.py runs it twice: as it is, against MLflow, and with only
its import line changed to ``import dii_hpc.mlflow as mlflow``, against a dii-hpc store.
"""

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402


def train(params):
    """A pretend training loop: deterministic curves, so both runs log the same values."""
    for epoch in range(params["epochs"]):
        loss = 2.0 * math.exp(-params["learning_rate"] * 30 * epoch)
        yield epoch, loss, {"val_loss": loss * 1.1, "val_acc": 1.0 - loss / 2.5}


if __name__ == "__main__":
    mlflow.set_experiment("mlflow-quickstart")
    params = {"learning_rate": 0.01, "epochs": 8, "optimizer": "adam", "batch_size": 32}
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_params(params)
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"dataset": "digits", "stage": "dev"})
        losses = []
        for epoch, loss, val in train(params):
            mlflow.log_metric("train_loss", loss, step=epoch)
            mlflow.log_metrics(val, step=epoch)
            losses.append(loss)
        mlflow.log_dict({"layers": [64, 32], "activation": "relu"}, "config/model.json")
        mlflow.log_text("trained on the digits set", "notes.txt")
        fig, ax = plt.subplots()
        ax.plot(losses)
        mlflow.log_figure(fig, "loss_curve.png")
        with mlflow.start_run(run_name="evaluation", nested=True):
            mlflow.log_param("split", "test")
            mlflow.log_metric("test_acc", 0.91, step=0)
        assert mlflow.active_run().info.run_id == run.info.run_id
    assert mlflow.active_run() is None
    runs = mlflow.search_runs(experiment_names=["mlflow-quickstart"],
                              filter_string="params.optimizer = 'adam'",
                              order_by=["metrics.val_acc DESC"])
    best = mlflow.search_runs(experiment_names=["mlflow-quickstart"],
                              filter_string="metrics.test_acc > 0.9")
    print(json.dumps({"columns": sorted(runs.columns), "n": len(runs),
                      "best": best["tags.mlflow.runName"].tolist(),
                      "status": runs["status"].tolist(),
                      "learning_rate": runs["params.learning_rate"].tolist()}))
