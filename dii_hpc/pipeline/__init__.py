"""Pipelines: the model lifecycle as stages that run as dependent jobs (issue 18).

A pipeline YAML names stages (train sweep, select, audit, register/gate/promote, profile,
predict, report, command, or a kind a plug-in adds) and what each `needs`; `submit` sends
every stage to Slurm at once, chained with `--dependency=afterok:` (`aftercorr:` task by
task), and returns. A stage is a job: `dii_hpc.pipeline.stage` runs one through the library
and records its outcome under ``<store>/pipelines/<id>/`` (`dii_hpc.records.pipeline`). A
stage whose inputs did not change (its config, the content of the files it names, the
outcomes it needs, the code version) is reused, not run again.

Modules: `kind` (the `StageKind` record and its family, `STAGE_KINDS`), `kinds/` (the
built-in kinds, one module each), `spec` (parse through the kinds' pydantic models, one-line
errors prefixed by the stage name), `graph` (needs, cycles), `checks` (each stage's own
config validated before anything is submitted), `cache` (stage keys), `submit` (Slurm and
local), `stage` (the job body), `context` (what a body is given), `status` (one sacct call;
cancel). Nothing outside `kinds/` (and a plug-in's own module) knows a kind by name.
"""
