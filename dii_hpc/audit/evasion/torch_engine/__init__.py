"""The torch engine: evasion attacks written directly in torch for torch models.

ART stays the reference engine and the one for every other model; this engine runs on the
audited `nn.Module` itself (`target.Target`): batches live on the module's device, and no
step goes through numpy. Two families:

- ART-parity attacks (`pgd.fgsm`, `pgd.pgd`, `apgd_art.apgd`, `cw.carlini_l2`): ART's
  algorithms with ART's arithmetic, so `--engine torch` gives ART's numbers on
  deterministic settings (no random init), only faster;
- AutoAttack's attacks (`apgd.apgd` with CE / DLR / targeted DLR, `fab.fab_targeted`,
  `square.square`): the reference algorithms of fra31/auto-attack, which the standard
  evaluation (`dii_hpc.audit.evasion.autoattack.standard`) composes.

Every attack is a pure function of an (x, y) block plus global sample indices: random draws
come per sample from (seed, index) (`target.sample_noise`), so splitting the samples into
blocks (Slurm array tasks) gives the numbers of one process.
torch is imported inside functions; importing this package costs nothing.
"""
