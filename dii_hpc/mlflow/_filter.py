"""MLflow's search filter and order-by, with MLflow's meaning (``search_runs``).

MLflow's documented syntax ("Search Runs"): comparisons joined by ``AND``. An identifier is
``metrics.KEY``, ``params.KEY``, ``tags.KEY`` or ``attributes.KEY`` (also ``metric``,
``param``, ``parameter(s)``, ``tag``, ``attr``, ``attribute``, ``run``), KEY quoted with
``"..."`` or backticks when it holds other characters; an identifier without a prefix is an
attribute: ``run_id``, ``run_name``, ``status``, ``artifact_uri``, ``user_id``,
``start_time``, ``end_time`` (milliseconds), ``created`` and ``"run name"``.

Values and comparators follow MLflow: metrics and times take numbers (``= != < <= > >=``);
params and tags are strings and take quoted strings (``= != LIKE ILIKE``, ``IS [NOT] NULL``);
the other attributes take quoted strings (``= != LIKE ILIKE``; ``run_id IN ('a', 'b')``). A
run without the key never matches a comparison (``!=`` included); only ``IS NULL`` finds it.
Anything else is one line (BadInput) naming what MLflow would refuse too.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_TOKEN = re.compile(r"""\s*(?:
    (?P<ident>(?:`[^`]*`|[A-Za-z_]\w*)\.(?:"[^"]*"|`[^`]*`|[\w.:/-]+))
  | (?P<str>'(?:[^']|'')*'|"[^"]*")
  | (?P<tick>`[^`]*`)
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_]\w*)
)""", re.VERBOSE)
_KEYWORDS = {"AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL", "ASC", "DESC"}
_ENTITY = {**dict.fromkeys(("metric", "metrics"), "metric"),
           **dict.fromkeys(("param", "params", "parameter", "parameters"), "param"),
           **dict.fromkeys(("tag", "tags"), "tag"),
           **dict.fromkeys(("attribute", "attributes", "attr", "run"), "attribute")}
_NUMERIC_ATTRIBUTES = {"start_time": "start_time", "end_time": "end_time",
                       "created": "start_time", "Created": "start_time"}
_STRING_ATTRIBUTES = {"run_id": "run_id", "run_name": "run_name", "status": "status",
                      "artifact_uri": "artifact_uri", "user_id": "user_id",
                      "run name": "run_name", "Run name": "run_name", "Run Name": "run_name"}
_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
_NULL_OPS = ("IS NULL", "IS NOT NULL")


@dataclass(frozen=True)
class Clause:
    kind: str  # metric | param | tag | attribute
    key: str  # for attributes, the canonical name (created -> start_time)
    op: str
    value: Any = None  # float, str, tuple of str (IN), None (IS NULL)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str, what: str) -> list[_Tok]:
    out, pos = [], 0
    while text[pos:].strip():
        m = _TOKEN.match(text, pos)
        if not m:
            col = len(text) - len(text[pos:].lstrip())
            raise BadInput(f"{what} {text!r}: unexpected {text[col:col + 10]!r} at position {col}")
        kind = m.lastgroup or ""
        word, start = m.group(kind), m.start(kind)
        if kind == "word" and word.upper() in _KEYWORDS:
            kind, word = "kw", word.upper()
        out.append(_Tok(kind, word, start))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return text[1:-1].replace("''", "'") if text[0] == "'" else text[1:-1]
    return text


def _identifier(tok: _Tok, what: str, text: str) -> tuple[str, str]:
    """(kind, key) of an identifier token; a name without a prefix is an attribute."""
    if tok.kind == "ident":
        entity, key = re.match(r"(`[^`]*`|[A-Za-z_]\w*)\.(.*)$", tok.text).groups()  # type: ignore[union-attr]
        kind = _ENTITY.get(_unquote(entity))
        if kind is None:
            raise BadInput(f"{what} {text!r}: unknown entity {_unquote(entity)!r} (use metrics., "
                           "params., tags. or attributes.)")
        key = _unquote(key)
    elif tok.kind in ("word", "tick") or (tok.kind == "str" and tok.text[0] == '"'):
        kind, key = "attribute", _unquote(tok.text)
    else:
        found = repr(tok.text) if tok.kind != "end" else "the end"
        raise BadInput(f"{what} {text!r}: expected an identifier such as metrics.acc or "
                       f"params.lr at position {tok.pos}, found {found}")
    if kind == "attribute":
        key = _attribute(key, what, text)
    return kind, key


def _attribute(key: str, what: str, text: str) -> str:
    if key in _NUMERIC_ATTRIBUTES:
        return _NUMERIC_ATTRIBUTES[key]
    if key in _STRING_ATTRIBUTES:
        return _STRING_ATTRIBUTES[key]
    raise BadInput(f"{what} {text!r}: unknown attribute {key!r} (attributes: run_id, run_name, "
                   "status, artifact_uri, user_id, start_time, end_time; a param is "
                   f"params.{key}, a metric metrics.{key})")


class _Parser:
    def __init__(self, text: str, what: str) -> None:
        self.text, self.what = text, what
        self.toks, self.i = _tokens(text, what), 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def fail(self, message: str) -> BadInput:
        return BadInput(f"{self.what} {self.text!r}: {message}")

    def clauses(self) -> list[Clause]:
        out = [self.comparison()]
        while self.peek().text == "AND":
            self.take()
            out.append(self.comparison())
        tok = self.peek()
        if tok.text == "OR":
            raise self.fail("OR is not part of MLflow's search syntax (join comparisons with "
                            "AND; `dii-hpc runs list --filter` accepts or)")
        if tok.kind != "end":
            raise self.fail(f"expected AND or the end at position {tok.pos}, found {tok.text!r}")
        return out

    def comparison(self) -> Clause:
        kind, key = _identifier(self.take(), self.what, self.text)
        op = self.operator()
        value: float | str | tuple[str, ...] | None
        if op in _NULL_OPS:
            value = None
        elif op in ("IN", "NOT IN"):
            value = self.strings()
        else:
            tok = self.take()
            if tok.kind not in ("num", "str"):
                raise self.fail(f"expected a value after {op} at position {tok.pos}")
            value = float(tok.text) if tok.kind == "num" else _unquote(tok.text)
        return _checked(Clause(kind, key, op, value), self.fail)

    def operator(self) -> str:
        tok = self.take()
        if tok.kind == "op":
            return "!=" if tok.text == "<>" else tok.text
        words = [tok.text]
        if tok.text in ("NOT", "IS"):
            words.append(self.take().text)
            if words == ["IS", "NOT"]:
                words.append(self.take().text)
        op = " ".join(words)
        if op not in ("LIKE", "ILIKE", "IN", "NOT IN", *_NULL_OPS):
            raise self.fail(f"expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, "
                            f"IS NULL) at position {tok.pos}, found {tok.text or 'the end'!r}")
        return op

    def strings(self) -> tuple[str, ...]:
        if self.take().text != "(":
            raise self.fail("IN takes a list of quoted strings: run_id IN ('a', 'b')")
        out = []
        while True:
            tok = self.take()
            if tok.kind != "str":
                raise self.fail("IN takes a list of quoted strings: run_id IN ('a', 'b')")
            out.append(_unquote(tok.text))
            sep = self.take().text
            if sep == ")":
                return tuple(out)
            if sep != ",":
                raise self.fail("IN takes a list of quoted strings: run_id IN ('a', 'b')")


def _checked(c: Clause, fail: Callable[[str], BadInput]) -> Clause:
    """MLflow's rules of which value and comparator each kind of key takes."""
    name = f"{c.kind}s.{c.key}" if c.kind != "attribute" else c.key
    numeric = c.kind == "metric" or (c.kind == "attribute" and c.key in ("start_time", "end_time"))
    if numeric:
        ops: tuple[str, ...] = _NUMBER_OPS
    elif c.kind in ("param", "tag"):
        ops = _STRING_OPS + _NULL_OPS
    else:
        ops = _STRING_OPS + (("IN", "NOT IN") if c.key == "run_id" else ())
    if c.op not in ops:
        raise fail(f"{c.op} does not apply to {name} (it takes {', '.join(ops)})")
    if numeric and not isinstance(c.value, float):
        raise fail(f"{name} compares with a number, got {c.value!r}")
    if not numeric and c.op not in _NULL_OPS and isinstance(c.value, float):
        raise fail(f"{name} is a string, as in MLflow: quote the value ('{_number_text(c.value)}')")
    return c


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def parse(text: str) -> list[Clause]:
    """The clauses of an MLflow ``filter_string`` (empty for a blank one)."""
    return _Parser(text, "search_runs filter").clauses() if text.strip() else []


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """SQL LIKE as MLflow matches it: % any run, _ one character, anchored at both ends."""
    regex = re.escape(pattern).replace("%", ".*").replace("_", ".")
    return re.compile(("" if pattern.startswith("%") else "^") + regex
                      + ("" if pattern.endswith("%") else "$"), flags)


def _column(df: pd.DataFrame, kind: str, key: str) -> pd.Series:
    """The values a clause compares: numbers (metrics, times in ms) or strings, None missing."""
    import pandas as pd

    if kind == "attribute":
        if key in ("start_time", "end_time"):
            return pd.Series([t.timestamp() * 1000 if pd.notna(t) else math.nan
                              for t in df[key]], index=df.index, dtype=float)
        name = {"run_name": "tags.mlflow.runName", "user_id": "tags.mlflow.user"}.get(key, key)
    else:
        name = f"{kind}s.{key}"
    if name not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    if kind == "metric":
        return pd.to_numeric(df[name], errors="coerce")
    return df[name]


_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def _holds(c: Clause, value: Any) -> bool:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if c.op in _NULL_OPS:
        return missing == (c.op == "IS NULL")
    if missing:
        return False  # a run without the key never matches a comparison
    if c.op in ("LIKE", "ILIKE"):
        return _like(c.value, re.IGNORECASE if c.op == "ILIKE" else 0).match(str(value)) is not None
    if c.op in ("IN", "NOT IN"):
        return (str(value) in c.value) == (c.op == "IN")
    return bool(_COMPARE[c.op](value, c.value))


def matches(df: pd.DataFrame, clauses: list[Clause]) -> pd.Series:
    """Which rows of ``search_runs``' table every clause holds for."""
    import pandas as pd

    keep = pd.Series(True, index=df.index)
    for c in clauses:
        keep &= pd.Series([_holds(c, v) for v in _column(df, c.kind, c.key)], index=df.index,
                          dtype=bool)
    return keep


def order(clause: str) -> tuple[Callable[[pd.DataFrame], pd.Series], bool]:
    """``"metrics.acc DESC"`` -> (the values it sorts by, ascending?); ASC by default."""
    parser = _Parser(clause, "search_runs order_by")
    kind, key = _identifier(parser.take(), parser.what, clause)
    tok = parser.take()
    if tok.kind == "end":
        return (lambda df: _column(df, kind, key)), True
    if tok.text not in ("ASC", "DESC") or parser.peek().kind != "end":
        raise parser.fail(f"expected ASC or DESC after the column, found {tok.text!r}")
    return (lambda df: _column(df, kind, key)), tok.text == "ASC"
