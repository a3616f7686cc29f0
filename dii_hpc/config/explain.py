"""Pydantic's validation errors as the one line a user can act on.

Every loader of a typed config (experiment configs, predict configs) and every command that
builds a model from options (`dii-hpc run --time ...`) explains a `ValidationError` here, so
pydantic's own wording ("Value error,", "String should match pattern '^[...'", "For further
information visit https://errors.pydantic.dev/...") never reaches users:

    exp.yaml:2: modles: unknown key; did you mean models?
    exp.yaml:9: resources.cpus_per_task: 0 must be at least 1
    --time bogus: not a Slurm time (M, M:S, H:M:S, D-H, D-H:M or D-H:M:S)
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import TYPE_CHECKING, Any

from dii_hpc.config import yamlio

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import BaseModel, ValidationError
    from pydantic_core import ErrorDetails

# pydantic error type -> what is wrong with the value, said after it ("0 must be at least 1").
_PHRASES = {
    "int_parsing": "is not an integer", "int_type": "is not an integer",
    "int_from_float": "is not an integer", "float_parsing": "is not a number",
    "float_type": "is not a number", "bool_parsing": "is not true or false",
    "bool_type": "is not true or false", "string_type": "is not a string",
    "dict_type": "must be a mapping", "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping", "list_type": "must be a list",
    "tuple_type": "must be a list", "set_type": "must be a list",
    "greater_than_equal": "must be at least {ge}", "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}", "less_than": "must be less than {lt}",
    "too_short": "needs at least {min_length} item(s)", "too_long": "takes at most {max_length} item(s)",
    "string_too_long": "is longer than {max_length} characters",
    "literal_error": "must be one of {expected}", "enum": "must be one of {expected}",
    "finite_number": "must be a finite number",
}


def explain(err: ValidationError, model: type[BaseModel], *, source: str | None = None,
            lines: dict[yamlio.KeyPath, int] | None = None,
            options: dict[str, str] | None = None,
            blame: dict[yamlio.KeyPath, str] | None = None,
            prefix: yamlio.KeyPath = ()) -> str:
    """One line for the first error of ``err`` (raised validating ``model``).

    ``options`` maps top-level field names to the command-line options that gave them: the
    line then names the option and the value as typed ("--mem lots: ...").  Otherwise it
    names the key path, after ``source`` and the key's line in ``lines`` when known, or
    after what ``blame`` names for a key path that contains it (``--set resources.time=x``:
    the file's line was never changed). ``prefix`` is where the validated mapping sits in
    the file (``("drift",)``): lines are looked up and keys named from the file's root."""
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")  # a typo first:
    first = errors[0]                                     # it explains the 'missing' beside it
    path = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    subject, problem = describe(first, model, path)
    if options and path and path[0] in options:
        return f"{options[path[0]]} {first.get('input')}: {problem.removeprefix('is ')}"
    line = yamlio.line_of(lines or {}, (*prefix, *path)) if lines else None
    where = f"{source}:{line}: " if source and line else f"{source}: " if source else ""
    culprit = [text for key, text in (blame or {}).items() if tuple(path[:len(key)]) == key]
    if culprit:
        where = f"{culprit[-1]}: "
    extra = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    text = f"{subject} {problem}" if subject else problem
    if not (prefix or path):  # the mapping as a whole (a rule across its keys)
        return f"{where}{text}{extra}"
    return f"{where}{yamlio.dotted((*prefix, *path))}: {text}{extra}"


KNOWN_LISTED = 12  # an unknown key with no close match lists the known ones up to this many

# Error types the schema raises itself (PydanticCustomError): worded for users already.
OWN_KINDS = ("space", "optimize")


def describe(error: ErrorDetails, model: type[BaseModel], path: tuple[Any, ...]) -> tuple[str, str]:
    """(the value as shown before the problem, or "", the problem) of one pydantic error."""
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        known = keys_at(model, path[:-1]) if path else []
        close = suggest(str(path[-1]), known) if path else None
        if close:
            return "", f"unknown key; did you mean {close}?"
        listed = known and len(known) <= KNOWN_LISTED  # a short list says more than no hint
        return "", "unknown key" + (f"; known keys: {', '.join(known)}" if listed else "")
    if kind == "missing":
        return "", "required key is missing"
    if kind in OWN_KINDS:  # the schema's own PydanticCustomError: its message is ours
        return "", str(error["msg"])
    if kind in ("value_error", "assertion_error"):
        msg = str((error.get("ctx") or {}).get("error") or error["msg"])
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        shown = repr(value)
        return (shown, msg[len(shown) + 1:]) if msg.startswith(shown + " ") else ("", msg)
    if kind == "string_pattern_mismatch":
        field = field_at(model, path)
        hint = f" ({field.description})" if field is not None and field.description else ""
        return repr(value), f"is not a valid name{hint}"
    phrase = _PHRASES.get(kind)
    if phrase is None:
        phrase = str(error["msg"]).replace("Input should be", "must be").split(". ")[0]
    return repr(value), phrase.format(**(error.get("ctx") or {}))


def suggest(name: str, known: list[str]) -> str | None:
    """The known key a typo most likely meant: one it abbreviates (cpus -> cpus_per_task),
    else the closest spelling (modles -> models)."""
    longer = [k for k in known if k.startswith(name) and len(name) >= 3]
    if len(longer) == 1:
        return longer[0]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def keys_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at ``path`` (for suggesting the one a typo meant)."""
    inner = model_at(model, path)
    if inner is None:
        return []
    return [f.alias or name for name, f in inner.model_fields.items()]


def field_at(model: type[BaseModel], path: tuple[Any, ...]) -> Any:
    """The pydantic FieldInfo of the key at ``path`` (None when the path leaves the models)."""
    inner = model_at(model, path[:-1]) if path else None
    if inner is None:
        return None
    fields = {f.alias or name: f for name, f in inner.model_fields.items()}
    return fields.get(path[-1]) or inner.model_fields.get(str(path[-1]))


def model_at(model: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow ``path`` through nested models, dict values and list items."""
    from pydantic import BaseModel

    current: Any = model
    parts = list(path)
    while True:
        current = _unwrap(current, parts)
        if not parts:
            return current if isinstance(current, type) and issubclass(current, BaseModel) else None
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        part = parts.pop(0)
        fields = {f.alias or name: f for name, f in current.model_fields.items()}
        field = fields.get(part) or current.model_fields.get(str(part))
        if field is None:
            return None
        current = field.annotation


def _unwrap(annotation: Any, parts: list[Any]) -> Any:
    """Optional[X] -> X; dict[str, X] and list[X] -> X, consuming the key/index from ``parts``."""
    from pydantic import BaseModel

    while True:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType):
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else next((a for a in args if a is not type(None)), None)
        elif origin is dict and len(args) == 2 and parts:
            parts.pop(0)
            annotation = args[1]
        elif origin in (list, tuple, set) and args and parts and isinstance(parts[0], int):
            parts.pop(0)
            annotation = args[0]
        else:
            return annotation
