"""Adaptive sweeps (`sweep.optimize`): a study asked for trials by worker jobs.

`study`: the study in the store (spec, Optuna's journal, the claim lock, samplers).
`trials`: the worker, submitit's callable (claim, run the trial as a sweep task, tell).
`workers`: the submit side (prepare, preview, the worker jobs, stop, wait, outcome).
`view`: what `dii-hpc sweep show` prints (trials, best, importances).
"""
