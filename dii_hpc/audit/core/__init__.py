"""Shared machinery of every audit: randomness, statistics, checkpoints, sample shards,
results."""
