"""Pipelines: the model lifecycle as stages that run as dependent jobs (issue 18).

A pipeline YAML names stages (train sweep, select, audit, register/gate/promote, profile,
predict, report, command) and what each `needs`; `submit` sends every stage to Slurm at once,
chained with `--dependency=afterok:` (`aftercorr:` task by task), and returns. A stage is a
job: `dii_hpc.pipeline.stage` runs one through the library and records its outcome under
``<store>/pipelines/<id>/``. A stage whose inputs did not change (its config, the content of
the files it names, the outcomes it needs, the code version) is reused, not run again.

Modules: `spec` (parse, one-line errors prefixed by the stage name), `graph` (needs, cycles),
`checks` (each stage's own config validated before anything is submitted), `cache` (stage
keys), `state` (the records), `submit` (Slurm and local), `stage` (the job body), `kinds`
(what each stage kind does), `status` (one sacct call; cancel).
"""
