"""Certification: guarantees beside attacks (issue 31).

- `smoothing`: randomized smoothing, Cohen, Rosenfeld and Kolter's CERTIFY (level II attack,
  `smoothing.SMOOTHING`): per sample the smoothed classifier's class or abstain (-1) and
  the certified L2 radius; its noise drawn per sample from the audit's seed, so any
  sharding gives the same numbers.
- `interval_bounds`: bound propagation on the base classifier (`interval.py`, its own
  module). The suite reads two names from it, and runs it only when both exist:
  ``INTERVAL_BOUNDS`` (its `AttackSpec`) and ``unsupported(model) -> str | None`` (None
  when every layer is supported, else the one-line reason naming the first layer that is not).
- `suite.CERTIFICATION`: the level I suite (``audit suite certification``): smoothing as
  sample shards x noise shards of one array plus the merge, interval bounds as one more shard.

Result format (what the report, the policy gate and tests read):
    metrics["certified_accuracy@R"]  for each radius R of ``radii`` (``f"{R:g}"``)
    metrics["certified_accuracy"]    at the grading ``radius`` (level I grade)
    metrics["abstain_rate"], metrics["clean_accuracy"] (the smoothed classifier's, from
    the n estimation draws), metrics["base_accuracy"] (the base classifier on clean inputs)
    curves["certified_accuracy"]     [{"radius": R, "certified_accuracy": v}, ...]
    samples {"index", "label", "prediction" (class or -1), "radius" (0.0 when abstaining),
             "p_lower" (the one-sided Clopper-Pearson bound), "count" (nA), "correct"}
    params  sigma, n, n0, alpha, batch, radii, radius, train_noise, train_copies,
            noise_shards
"""
