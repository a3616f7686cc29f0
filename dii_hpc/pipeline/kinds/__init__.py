"""The built-in stage kinds, one `StageKind` per module (`kind.STAGE_KINDS` finds them).

A new built-in kind is one new module here; a user's own is a record registered through the
entry-point group ``dii_hpc.stages``. Both are listed by `dii-hpc pipeline kinds`.
"""
