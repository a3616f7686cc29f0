"""Settings of a drift check, with the defaults documented in one place.

Defaults follow common practice (Evidently's data-drift preset): p-value tests at alpha 0.05,
distance tests (normalised Wasserstein, Jensen-Shannon, PSI) at 0.1, and a batch is drifted
when at least half of its features are. A monitor saves its options in its profile so every
nightly check judges by the same rules.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from dii_hpc.errors import BadInput

TESTS = ("ks", "chisquare", "wasserstein", "jensenshannon", "psi")
NUMERIC_ONLY = {"ks", "wasserstein"}
P_VALUE_TESTS = {"ks", "chisquare"}
CORRECTIONS = (None, "bonferroni", "bh")
RULES = ("share", "mmd", "classifier")


@dataclass
class DriftOptions:
    """Every knob of a check. `tests` maps a feature to a test name, overriding the default choice."""

    alpha: float = 0.05                 # p-value tests: drift when (corrected) p < alpha
    wasserstein_threshold: float = 0.1  # drift when W1 / std(reference) >= this
    jensenshannon_threshold: float = 0.1
    psi_threshold: float = 0.1
    large_sample: int = 1000            # reference rows above this -> distance tests
    few_values: int = 5                 # numeric columns with <= this many values are categories
    correction: str | None = None       # None | "bonferroni" | "bh" (Benjamini-Hochberg)
    rule: str = "share"                 # "share" | "mmd" | "classifier": what decides the batch
    drift_share: float = 0.5            # rule "share": drifted when share of drifted features >= this
    tests: dict[str, str] = field(default_factory=dict)
    categorical: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    prediction_column: str | None = None  # a column holding the model's outputs (not a feature)
    mmd: bool = False                   # also run the multivariate MMD test
    classifier: bool = False            # also run the domain-classifier test
    mmd_subsample: int = 1000
    mmd_permutations: int = 200
    classifier_subsample: int = 5000
    performance_max_drop: float = 0.05  # accuracy/F1 absolute drop; MAE/RMSE relative rise
    seed: int = 0

    def __post_init__(self) -> None:
        for name, test in self.tests.items():
            if test not in TESTS:
                raise BadInput(f"unknown drift test {test!r} for feature {name!r} "
                               f"(choose from {', '.join(TESTS)})")
        if self.correction in ("none", ""):
            self.correction = None
        if self.correction not in CORRECTIONS:
            raise BadInput(f"unknown correction {self.correction!r} (choose none, bonferroni, bh)")
        if self.rule not in RULES:
            raise BadInput(f"unknown drift rule {self.rule!r} (choose from {', '.join(RULES)})")
        if self.rule == "mmd":
            self.mmd = True
        if self.rule == "classifier":
            self.classifier = True
        if not 0 < self.alpha < 1:
            raise BadInput(f"alpha must lie in (0, 1), got {self.alpha}")

    def rule_text(self) -> str:
        """The batch rule as stored in results, e.g. 'share>=0.5'."""
        return f"share>={self.drift_share:g}" if self.rule == "share" else f"{self.rule} p<{self.alpha:g}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None, source: str = "options") -> DriftOptions:
        """Build from a mapping (YAML config, profile.json); unknown keys are named in the error."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise BadInput(f"{source}: unknown drift option {key!r}")
        try:
            return cls(**data)
        except TypeError as err:
            raise BadInput(f"{source}: {err}") from err


def parse_test_overrides(items: list[str]) -> dict[str, str]:
    """Turn CLI `--test feature=ks` items into a mapping; a malformed item is named."""
    out: dict[str, str] = {}
    for item in items:
        m = re.fullmatch(r"\s*([^=]+?)\s*=\s*(\w+)\s*", item)
        if not m:
            raise BadInput(f"--test {item!r}: expected FEATURE=TEST")
        out[m.group(1)] = m.group(2)
    return out


def load_options(path: str | None, overrides: dict[str, Any]) -> DriftOptions:
    """Options from an optional YAML file, then CLI overrides (only those the user gave)."""
    data: dict[str, Any] = {}
    if path:
        import yaml

        try:
            with open(path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh) or {}
        except OSError as err:
            raise BadInput(f"{path}: cannot read drift config ({err.strerror})") from err
        except yaml.YAMLError as err:
            raise BadInput(f"{path}: invalid YAML ({str(err).splitlines()[0]})") from err
        if not isinstance(loaded, dict):
            raise BadInput(f"{path}: drift config must be a mapping")
        data = loaded.get("drift", loaded)
    for key, value in overrides.items():
        if value in (None, [], {}):
            continue
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        elif isinstance(value, list):
            data[key] = [*data.get(key, []), *value]
        else:
            data[key] = value
    return DriftOptions.from_mapping(data, source=path or "options")


def from_command_line(config: str | None, overrides: dict[str, Any]) -> DriftOptions:
    """Options of a check: the YAML file's, then the command line's (``test``: FEATURE=TEST items)."""
    given = dict(overrides)
    given["tests"] = parse_test_overrides(given.pop("test", None) or [])
    return load_options(config, given)


def monitor_overrides(config: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """What a check of a monitor changes in the monitor's own options: every value of a YAML
    file, else only the options the user set on the command line."""
    full = from_command_line(config, overrides).to_dict()
    if config:
        return full
    given = {k for k, v in overrides.items() if v not in (None, [], {}) and k != "test"}
    if overrides.get("test"):
        given.add("tests")
    return {k: v for k, v in full.items() if k in given}
