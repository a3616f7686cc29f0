"""Drift and performance monitoring of deployed models, made for cron on a cluster.

    dii-hpc drift check --reference REF --current CUR [--json FILE]         # one-off
    dii-hpc drift profile --data REF --name MONITOR [--model mod:fn] [--labels Y]
    dii-hpc drift check --monitor MONITOR --data 'batches/*.parquet' [--labels Y]
    dii-hpc drift schedule MONITOR --every 1d --data-glob PATTERN [--install]
    dii-hpc drift history MONITOR

    dii-hpc drift tests                                                     # what is installed

Exit 0 no drift, 1 drift, 2 bad input. Modules: `stattest` (the `StatTest` record and its
family; the built-ins are one module each in `stattests/`, plug-ins come through the
``dii_hpc.stattests`` entry points), `stats` (pure two-sample statistics), `options` (the
pydantic options model), `compare` (test choice per feature, batch rule), `check` (one check
from inputs to verdict: compare, keep the run, alert, JSON, exit decision), `io` (reading and
refusing bad batches), `monitor` (making and checking monitors; their files are
`dii_hpc.records.monitor`), `embedding` (embeddings and predictions of a `--model`),
`performance`, `alert`, `schedule` (scrontab / crontab). The section a check writes is
`dii_hpc.records.drift`. Nothing heavy is imported here: the CLI imports these modules inside
its commands.
"""
