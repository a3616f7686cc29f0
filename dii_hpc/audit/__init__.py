"""Model trust audits: evasion, privacy and poisoning at levels I, II and III.

User side: a model that implements the Protocols of `model.protocols` (or
`model.wrappers.TorchModelWrapper`, `model.vision_wrappers.TorchDetectorWrapper` /
`TorchSegmenterWrapper`) and a dataset (`model.wrappers.ArrayDataset`), named
"module:callable" in an audit config (`config.AuditConfig`).

Layout by concept: `specs` (the `AttackSpec` and `Suite` records and their registries, which
plug-ins extend through the entry points ``dii_hpc.attacks`` / ``dii_hpc.suites``), `job` (the
typed `AuditJob`), `engine` (job -> result), `evasion/`, `privacy/` (`reference/`),
`poisoning/`, `model/`, `core/` (randomness, statistics, checkpoints, sample shards, data,
results), `placement/` (in process, MPI, Slurm arrays and chains). Nothing heavy is imported
here: the CLI imports this package.
"""
