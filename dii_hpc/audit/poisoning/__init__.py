"""Poisoning: backdoors with retraining, poisoned-sample detection, label flips."""
