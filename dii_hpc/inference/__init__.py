"""Batch inference ("deploy and scale"): a trained model predicts new data in shards that run as
one job array, with throughput, latency and drift tracked in the store.

Modules: model (load a model, its input spec and weights hash), inputs (files or a DatasetLoader
split into row ranges), output (zarr predictions, manifest, per-shard done markers), shard (the
worker one array task runs), dispatch (debug | local | slurm), job (the whole `predict`),
monitoring (drift check after the job, `predict score`), demo (a tiny fixed-seed model).
"""
