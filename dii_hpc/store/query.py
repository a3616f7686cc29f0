"""The ``--filter`` language of ``runs list``: comparisons joined by and/or/not.

    params.lr > 0.001 and metrics.acc >= 0.9
    status = FINISHED or (tags.team != "vision" and not params.seed = 0)

A number compares numerically; a quoted string (or a bare word) compares with the value's
text, the way MLflow compares params (a param logged as 1 is '1').  A run without a value
for the column never matches a comparison, ``!=`` included, as in MLflow (``not`` negates
the comparison, so ``not params.seed = 0`` does match it).

Parsing is a pure function that returns a predicate over the runs DataFrame; every syntax
error points at the character position where it went wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import FilterSyntaxError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>==|!=|<=|>=|=|<|>)
    | (?P<paren>[()])
    | (?P<word>[A-Za-z_][A-Za-z0-9_./:@%+-]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            col = len(text) - len(text[pos:].lstrip())
            raise _error(text, col, f"unexpected character {text[col]!r}")
        kind = m.lastgroup or ""
        start = m.start(kind)
        word = m.group(kind)
        if kind == "word" and word.lower() in _KEYWORDS:
            kind = word.lower()
        tokens.append(Token(kind, word, start))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _error(text: str, pos: int, message: str) -> FilterSyntaxError:
    return FilterSyntaxError(
        f"bad --filter at position {pos}: {message} (in {text[:pos]!r} <-- here {text[pos:]!r})"
    )


Predicate = Callable[["pd.DataFrame"], "pd.Series"]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            found = f"{tok.text!r}" if tok.kind != "end" else "the end"
            raise _error(self.text, tok.pos, f"expected {what}, found {found}")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        self.take("end", "'and', 'or' or the end of the expression")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek().kind == "or":
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _fold(parts, "or")

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.peek().kind == "and":
            self.i += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else _fold(parts, "and")

    def not_expr(self) -> Predicate:
        if self.peek().kind == "not":
            self.i += 1
            inner = self.not_expr()
            return lambda df: ~inner(df)
        if self.peek().kind == "paren" and self.peek().text == "(":
            self.i += 1
            inner = self.or_expr()
            tok = self.peek()
            if not (tok.kind == "paren" and tok.text == ")"):
                raise _error(self.text, tok.pos, "expected ')'")
            self.i += 1
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        col = self.take("word", "a column name such as params.lr or metrics.acc")
        op = self.take("op", f"a comparison (=, !=, <, <=, >, >=) after {col.text!r}")
        tok = self.peek()
        if tok.kind not in ("num", "str", "word"):
            raise _error(self.text, tok.pos, f"expected a value after {op.text!r}")
        self.i += 1
        value: Any = tok.text
        if tok.kind == "num":
            value = float(tok.text)
        elif tok.kind == "str":
            value = bytes(tok.text[1:-1], "utf-8").decode("unicode_escape")
        return _compare(col, op.text, value, self.text)


def _fold(parts: list[Predicate], how: str) -> Predicate:
    def pred(df: pd.DataFrame) -> pd.Series:
        out = parts[0](df)
        for p in parts[1:]:
            out = (out & p(df)) if how == "and" else (out | p(df))
        return out

    return pred


def _compare(col: Token, op: str, value: Any, text: str) -> Predicate:
    import operator

    fn = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
          "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

    def pred(df: pd.DataFrame) -> pd.Series:
        import pandas as pd

        name = resolve_column(df, col.text, text, col.pos)
        series = df[name]
        if isinstance(value, float):
            lhs = pd.to_numeric(series, errors="coerce")
        elif op not in ("=", "==", "!="):
            raise _error(text, col.pos, f"{op!r} needs a number, got {value!r}")
        else:
            lhs = series.astype("string")
        # missing (or, for a number, not a number): no comparison holds, != neither
        return (fn(lhs, value) & lhs.notna()).fillna(False).astype(bool)

    return pred


def resolve_column(df: pd.DataFrame, name: str, text: str = "", pos: int = 0) -> str:
    """Exact column, or a unique ``<group>.<name>`` match for a bare name (``lr`` -> params.lr)."""
    if name in df.columns:
        return name
    hits = [str(c) for c in df.columns if str(c).split(".", 1)[-1] == name]
    if len(hits) == 1:
        return hits[0]
    import difflib

    close = difflib.get_close_matches(name, [str(c) for c in df.columns], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    msg = f"unknown column {name!r}{hint}"
    raise _error(text, pos, msg) if text else FilterSyntaxError(msg)


def parse_filter(text: str) -> Predicate:
    """Compile a filter expression; raise FilterSyntaxError pointing at the bad position."""
    if not text.strip():
        raise FilterSyntaxError("bad --filter: the expression is empty")
    return _Parser(text).parse()


def apply_filter(df: pd.DataFrame, text: str) -> pd.DataFrame:
    return df[parse_filter(text)(df)].reset_index(drop=True) if len(df) else df


def sort_runs(df: pd.DataFrame, name: str, ascending: bool = False) -> pd.DataFrame:
    """``--sort``: numbers, then booleans, then text, then anything else (lists, dicts) as text,
    each group in the asked order; missing values (None, NaN) last either way.  Columns that mix
    types are normal here (a param that is an int in one run and a string in another), and a
    plain ``sort_values`` raises on them."""
    col = resolve_column(df, name)
    if df[col].dtype.kind in "fiu":  # numbers only: the same order, without a Python loop
        return _sort_numeric(df, col, ascending)
    groups: dict[int, list[tuple[Any, int]]] = {0: [], 1: [], 2: [], 3: []}
    missing = []
    for pos, value in enumerate(df[col].tolist()):
        key = _sort_key(value)
        (missing.append(pos) if key is None else groups[key[0]].append((key[1], pos)))
    order = [pos for g in sorted(groups) for _, pos in
             sorted(groups[g], key=lambda kv: kv[0], reverse=not ascending)]
    return df.iloc[order + missing].reset_index(drop=True)


def _sort_numeric(df: pd.DataFrame, col: str, ascending: bool) -> pd.DataFrame:
    """`sort_runs` of a column of numbers (NaN missing), vectorised: a stable sort of the
    values (of their negation when descending, which keeps ties in place as Python's
    ``sorted(reverse=True)`` does), missing last. A listing of 100,000 runs sorts in
    milliseconds instead of ~0.1 s."""
    import numpy as np

    values = df[col].to_numpy(dtype="float64")
    present = np.flatnonzero(~np.isnan(values))
    keys = values[present] if ascending else -values[present]
    order = present[np.argsort(keys, kind="stable")]
    return df.iloc[np.concatenate([order, np.flatnonzero(np.isnan(values))])].reset_index(drop=True)


def _sort_key(value: Any) -> tuple[int, Any] | None:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return 1, int(value)
    if isinstance(value, (int, float)):
        return 0, float(value)
    if isinstance(value, str):
        return 2, value
    if hasattr(value, "timestamp") and value == value:  # datetimes (NaT is missing, below)
        return 0, value.timestamp()
    try:
        import pandas as pd

        if pd.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    return 3, str(value)
