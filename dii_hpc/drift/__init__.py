"""Drift and performance monitoring of deployed models, made for cron on a cluster.

    dii-hpc drift check --reference REF --current CUR [--json FILE]         # one-off
    dii-hpc drift profile --data REF --name MONITOR [--model mod:fn] [--labels Y]
    dii-hpc drift check --monitor MONITOR --data 'batches/*.parquet' [--labels Y]
    dii-hpc drift schedule MONITOR --every 1d --data-glob PATTERN [--install]
    dii-hpc drift history MONITOR

Exit 0 no drift, 1 drift, 2 bad input. Modules: `stats` (pure two-sample statistics),
`compare` (test choice per feature, batch rule), `io` (reading and refusing bad batches),
`monitor` (profiles in <store>/monitors/<name>/, runs of kind "drift"), `model` (embeddings
and predictions of a `--model`), `performance`, `schedule` (scrontab / crontab).
Nothing heavy is imported here: the CLI imports these modules inside its commands.
"""
