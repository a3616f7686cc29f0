"""Privacy: membership and attribute inference, the DP canary audit, the level I suite."""
