"""Bring runs in from MLflow and TensorBoard, and send them out to any MLflow tracking URI.

Each direction reads or writes with the other project's own reader/client (MLflow's
``MlflowClient``, TensorBoard's ``EventAccumulator``), imported inside the functions, so a
user without those packages only loses these commands (extra ``dii-hpc[mlflow]``).
"""
