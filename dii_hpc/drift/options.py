"""Settings of a drift check: one pydantic model, read through `config.typed` like every config.

Defaults follow common practice (Evidently's data-drift preset): p-value tests at alpha 0.05,
distance tests (normalised Wasserstein, Jensen-Shannon, PSI) at 0.1, and a batch is drifted
when at least half of its features are. Each test's default threshold is its `StatTest`
record's; ``<test>_threshold: X`` (or ``thresholds: {<test>: X}``) changes it, for built-in and
plug-in tests alike. ``alpha``, when given, is the threshold of every p-value test (and of the
multivariate tests). A monitor saves its options in its profile, validated by the same model
when read back, so every nightly check judges by the same rules.

Every error is one line with the file, line and key (``drift.yaml:3: drift.alpha: 'abc' is not
a number``), or the command-line option (``--rule x: must be one of ...``), at load time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from dii_hpc.drift.stattest import STAT_TESTS, StatTest
from dii_hpc.errors import BadInput

DEFAULT_ALPHA = 0.05
SUFFIX = "_threshold"  # ``psi_threshold: 0.2``: the per-test key of a config file
OPTION_NAMES = {"tests": "--test"}  # fields whose command-line option is not --field-name


def _known_test(name: str) -> str:
    if name not in STAT_TESTS:
        raise ValueError(f"{name!r} is not a drift test (choose from {', '.join(STAT_TESTS.names())})")
    return name


TestName = Annotated[str, AfterValidator(_known_test)]
Threshold = Annotated[float, Field(gt=0)]


class DriftOptions(BaseModel):
    """Every knob of a check. ``tests`` maps a feature to a test name, overriding the default."""

    model_config = ConfigDict(extra="forbid", strict=True)

    alpha: float | None = Field(None, gt=0, lt=1)  # p-value tests: drift when (corrected) p < alpha
    thresholds: dict[TestName, Threshold] = {}  # test -> threshold (default: the test's own)
    large_sample: int = Field(1000, ge=1)   # reference rows above this -> distance tests
    few_values: int = Field(5, ge=0)        # numeric columns with <= this many values are categories
    correction: Literal["bonferroni", "bh"] | None = None  # over the batch's p-value tests
    rule: Literal["share", "mmd", "classifier"] = "share"  # what decides the batch
    drift_share: float = Field(0.5, ge=0, le=1)  # rule share: drifted when this share drifts
    tests: dict[str, TestName] = {}
    categorical: list[str] = []
    ignore: list[str] = []
    prediction_column: str | None = None    # a column holding the model's outputs (not a feature)
    # columns holding the model's class scores (not features), one per class in sorted class
    # order, or one column: the score of the larger of two classes; CBPE then needs no model
    score_columns: list[str] = []
    mmd: bool = False                       # also run the multivariate MMD test
    classifier: bool = False                # also run the domain-classifier test
    mmd_subsample: int = Field(1000, ge=2)
    mmd_permutations: int = Field(200, ge=1)
    classifier_subsample: int = Field(5000, ge=10)
    performance_max_drop: float = Field(0.05, ge=0)  # accuracy/F1 drop; MAE/RMSE relative rise
    target_column: str | None = None        # the labels' column of the reference (not a feature)
    timestamp_column: str | None = None     # time of each row (not a feature): chunk_period
    chunk_size: int | None = Field(None, ge=1)  # estimate performance per this many rows
    chunk_period: str | None = None         # ... or per period of timestamp_column (D, W, M)
    quality: dict[str, float] = {}          # data-quality rule -> threshold (default: the rule's)
    quality_off: list[str] = []             # data-quality rules not run
    sketch: bool = False                    # compare mergeable sketches (data beyond memory)
    sketch_k: int = Field(400, ge=8, le=65535)  # KLL k of the sketches (rank error ~2.3/k^0.97)
    seed: int = 0

    @model_validator(mode="wrap")
    @classmethod
    def _per_test_keys(cls, data: Any, handler: ModelWrapValidatorHandler[DriftOptions]) -> DriftOptions:
        """``<test>_threshold`` keys go into ``thresholds``; their errors keep the key as typed."""
        moved: dict[str, str] = {}
        keys = [k for k in data if isinstance(k, str) and k.endswith(SUFFIX)] \
            if isinstance(data, dict) else []
        if keys and isinstance(data.get("thresholds", {}), dict):
            data = {**data, "thresholds": dict(data.get("thresholds", {}))}
            for key in keys:
                moved[key.removesuffix(SUFFIX)] = key
                data["thresholds"][key.removesuffix(SUFFIX)] = data.pop(key)
        try:
            return handler(data)
        except ValidationError as err:
            raise _relocated(err, moved) from None

    @field_validator("correction", mode="before")
    @classmethod
    def _no_correction(cls, value: Any) -> Any:
        return None if value in ("none", "") else value

    @model_validator(mode="after")
    def _rule_runs_its_test(self) -> DriftOptions:
        if self.rule == "mmd" and not self.mmd:  # assigned only when it changes: a monitor's
            self.mmd = True                      # check keeps the options the user did not set
        if self.rule == "classifier" and not self.classifier:
            self.classifier = True
        return self

    @property
    def not_features(self) -> list[str]:
        """Columns a check never compares as features: what the model gave, the labels, the
        rows' times (and ``ignore``)."""
        named = [self.prediction_column, self.target_column, self.timestamp_column,
                 *self.score_columns, *self.ignore]
        return [c for c in named if c]

    @property
    def significance(self) -> float:
        """The alpha of the multivariate tests (and the one stored with the check)."""
        return self.alpha if self.alpha is not None else DEFAULT_ALPHA

    def threshold(self, test: StatTest) -> float:
        """The threshold ``test`` is judged by in this check."""
        if test.name in self.thresholds:
            return self.thresholds[test.name]
        if test.p_value and self.alpha is not None:
            return self.alpha
        return test.threshold

    def rule_text(self) -> str:
        """The batch rule as stored in results, e.g. 'share>=0.5'."""
        if self.rule == "share":
            return f"share>={self.drift_share:g}"
        return f"{self.rule} p<{self.significance:g}"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None, source: str = "options",
                     prefix: tuple[str, ...] = ()) -> DriftOptions:
        """Options from a mapping (a monitor's profile.json, a pipeline stage); one-line errors."""
        from dii_hpc.config import typed

        return typed.validate(cls, dict(data or {}), source=source, prefix=prefix)


def _relocated(err: ValidationError, moved: dict[str, str]) -> ValidationError:
    """``err`` with ``thresholds.<test>`` locations named by the ``<test>_threshold`` key typed
    (and a mapping key's own error named by the key, not by pydantic's ``[key]``)."""
    details: list[Any] = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p != "[key]")
        if len(loc) >= 2 and loc[0] == "thresholds" and loc[1] in moved:
            loc = (moved[str(loc[1])], *loc[2:])
        detail: dict[str, Any] = {"type": e["type"], "loc": loc, "input": e["input"]}
        if "ctx" in e:
            detail["ctx"] = e["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(err.title, details)


def parse_test_overrides(items: list[str]) -> dict[str, str]:
    """Turn CLI `--test feature=ks` items into a mapping; a malformed item is named."""
    out: dict[str, str] = {}
    for item in items:
        m = re.fullmatch(r"\s*([^=]+?)\s*=\s*([\w.:-]+)\s*", item)
        if not m:
            raise BadInput(f"--test {item!r}: expected FEATURE=TEST")
        out[m.group(1)] = m.group(2)
    return out


def _given(value: Any) -> bool:
    return value not in (None, [], {})


def load_options(path: str | None, overrides: dict[str, Any]) -> DriftOptions:
    """Options from an optional YAML file (its ``drift:`` section when it has one), then the
    command line's (only those the user gave; lists and mappings add to the file's)."""
    from dii_hpc.config import typed

    data: dict[str, Any] = {}
    if path:
        raw, lines = typed.read(path)
        prefix: tuple[str, ...] = ()
        if isinstance(raw.get("drift"), dict):
            raw, prefix = raw["drift"], ("drift",)
        typed.validate(DriftOptions, raw, source=path, lines=lines, prefix=prefix)
        data = dict(raw)
    given = {k: v for k, v in overrides.items() if _given(v)}
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        elif isinstance(value, list) and isinstance(data.get(key), list):
            data[key] = [*data[key], *value]
        else:
            data[key] = value
    names = {k: OPTION_NAMES.get(k, "--" + k.replace("_", "-")) for k in given}
    return typed.validate(DriftOptions, data, source=path, options=names or None)


def from_command_line(config: str | None, overrides: dict[str, Any]) -> DriftOptions:
    """Options of a check: the YAML file's, then the command line's (``test``: FEATURE=TEST items)."""
    given = dict(overrides)
    given["tests"] = parse_test_overrides(given.pop("test", None) or [])
    return load_options(config, given)


def monitor_overrides(config: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """What a check of a monitor changes in the monitor's own options: every value of a YAML
    file, else only the options the user set on the command line."""
    opt = from_command_line(config, overrides)
    if config:
        return opt.to_dict()
    return opt.model_dump(include={k for k in opt.model_fields_set})
