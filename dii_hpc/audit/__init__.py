"""Model trust audits with ART: evasion, privacy and poisoning at levels I, II and III.

User side: implement `protocols.AuditModel` / `protocols.AuditDataset` (or use
`wrappers.TorchModelWrapper` / `wrappers.ArrayDataset`); name them "module:callable" in an
audit config. Engine: `engine.compute(job) -> result dict`; persistence, JSON, JUnit and
thresholds: `results`; scale-out: `mpi` (--mpi N), `slurm_suite` (--executor slurm).
Nothing heavy is imported here: the CLI imports this package.
"""
