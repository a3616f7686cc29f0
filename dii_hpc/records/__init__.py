"""The records floor: every format one package writes and another reads, typed, in one place.

Why a floor of its own: packages used to keep their boundaries by copying each other's formats
(the report re-read pipeline records and re-implemented their status roll-up; the registry
read audit and drift sections by string keys), and the copies drifted. Here each format is a
typed record with its path and its reader/writer; producers write through it and consumers
(registry, report, CLI, UI) read through it, never by re-implementing the producer.

Rules: a module here knows the shape of one format (run sections `audit`, `drift`,
`inference`, `trial`; job records under `jobs/`; pipeline and stage records; monitor
profiles; where a run's files live). It may use `dii_hpc.store` (paths, atomic writes) and
nothing above it: no audit, drift, pipeline, launch, report or registry import. Heavy
imports (pandas, numpy) inside functions.
"""
