"""The model registry: named, versioned models with lineage, aliases and trust gates.

Layout (``<store>/models/<name>/``; see ``layout``): one file per version, one small file per
alias, an append-only event log (alias moves, archives, promotion decisions) and links from a
version to the runs that used it (audits, deployments). Every file is written once or
replaced by an atomic rename, so many jobs may register, audit and promote at once on a
shared filesystem without a lock. Policies are evaluated over audit and drift runs already
in the store: this package reads their records and never imports ``audit`` or ``drift``.
"""
