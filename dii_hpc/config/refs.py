""""module:callable" references: the one grammar every config, option and job uses.

    pkg.mod:attr            attr may be dotted (``pkg.mod:Class.factory``)
    path/to/file.py:attr    a file, imported under its own name (relative to the config's folder
                            when the reference comes from a config)
    pkg.mod.attr            the same as ``pkg.mod:attr`` (older configs spell it so)

Modules are looked up on ``sys.path``, then in the folders a caller names (the config's own
folder, then the current one), so ``dii-hpc submit ../t3/exp.yaml`` finds ``../t3/mymodel.py``.
Every failure is one `BadInput` naming the config key; the user's own exception is chained
(``raise ... from err``) so that ``DII_HPC_DEBUG=1`` shows the traceback of *their* code.
Importing runs the module's code with the caller's rights, as ``python -c "import mod"`` would:
a config is code.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dii_hpc.errors import BadInput, one_line

_IDENT = r"[A-Za-z_]\w*"
_DOTTED = re.compile(rf"^{_IDENT}(\.{_IDENT})*$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference: where the module is and which attribute (path) to take from it."""

    module: str
    attr: str

    @property
    def is_file(self) -> bool:
        return self.module.endswith(".py")

    def __str__(self) -> str:
        return f"{self.module}:{self.attr}"


def parse(text: Any, key: str = "reference") -> Ref:
    """Split a reference; BadInput naming ``key`` when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"{key}: expected \"module:callable\", got {text!r}")
    text = text.strip()
    if ":" in text:
        module, _, attr = text.rpartition(":")
    else:
        module, _, attr = text.rpartition(".")
    is_file = module.endswith(".py")
    if not module or not _DOTTED.match(attr) or not (is_file or _DOTTED.match(module)):
        raise BadInput(f"{key}: {text!r} is not a \"module:callable\" reference "
                       "(pkg.mod:name or path/to/file.py:name)")
    return Ref(module, attr)


def is_ref(text: Any) -> bool:
    """Whether ``text`` has the shape of a reference (without importing anything)."""
    try:
        parse(text)
    except BadInput:
        return False
    return True


def canonical(text: str, key: str = "reference", base: Path | None = None) -> str:
    """The reference as another process (a Slurm job) can resolve it: file paths made absolute."""
    ref = parse(text, key)
    if not ref.is_file:
        return str(ref)
    path = Path(ref.module).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return f"{path.resolve()}:{ref.attr}"


def _search_dirs(search: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The caller's folders, then the current one; appended to sys.path, never shadowing it."""
    dirs = [str(Path(d).expanduser().resolve()) for d in search]
    dirs.append(os.getcwd())
    out = []
    for d in dirs:
        if d not in out and d not in sys.path:
            out.append(d)
    return out


def _import_file(ref: Ref, key: str, search: Sequence[str | os.PathLike[str]]) -> Any:
    path = Path(ref.module).expanduser()
    candidates = [path] if path.is_absolute() else [Path(d) / path for d in search] + [path]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        looked = ", ".join(str(p.parent.resolve()) for p in candidates)
        raise BadInput(f"{key}: {str(ref)!r}: no such file {ref.module} (looked in {looked})")
    # The file's own stem as module name, as `python file.py`'s neighbours would import it, so
    # that objects it defines pickle to a name a job with that folder on its path can load.
    resolved = str(found.resolve())
    name = found.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == resolved:
        return loaded
    if loaded is not None or not name.isidentifier():
        name = "dii_user_" + re.sub(r"\W", "_", found.stem) + f"_{len(sys.modules)}"
    spec = importlib.util.spec_from_file_location(name, found)
    if spec is None or spec.loader is None:
        raise BadInput(f"{key}: {str(ref)!r}: {found} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import(ref: Ref, key: str, search: Sequence[str | os.PathLike[str]]) -> Any:
    try:
        if ref.is_file:
            return _import_file(ref, key, search)
        extra = _search_dirs(search)
        sys.path.extend(extra)
        return importlib.import_module(ref.module)
    except BadInput:
        raise
    except ModuleNotFoundError as err:
        missing = err.name or ref.module
        if ref.module == missing or ref.module.startswith(f"{missing}."):
            looked = ", ".join(["sys.path", *(_shown(d) for d in search), "."])
            raise BadInput(f"{key}: {str(ref)!r}: cannot import module {missing!r} "
                           f"(looked in {looked})") from err
        raise BadInput(f"{key}: {str(ref)!r}: importing {ref.module!r} failed: "
                       f"module {missing!r} is not installed") from err
    except Exception as err:  # noqa: BLE001 - the user's module failed while importing
        raise BadInput(f"{key}: {str(ref)!r}: importing {ref.module!r} failed: "
                       f"{type(err).__name__}: {one_line(err)}") from err


def _shown(d: str | os.PathLike[str]) -> str:
    return str(Path(d).expanduser())




def missing_methods(obj: Any, methods: Iterable[str]) -> list[str]:
    """Names in ``methods`` that ``obj`` does not have as callables."""
    return [m for m in methods if not callable(getattr(obj, m, None))]


def describe_missing(what: str, name: str, missing: Sequence[str]) -> str:
    """One sentence: "'x:Y' has no methods get_grad and fit, which a model must define"."""
    names = " and ".join(missing) if len(missing) < 3 else ", ".join(missing[:-1]) + f" and {missing[-1]}"
    word = "method" if len(missing) == 1 else "methods"
    return f"{name!r} has no {word} {names}, which {_article(what)} {what} must define"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def resolve(text: Any, key: str = "reference", *, require: Iterable[str] = (),
            what: str | None = None, search: Sequence[str | os.PathLike[str]] = ()) -> Any:
    """Import the module of ``text`` and return its attribute, checking required methods.

    ``key`` names where the reference came from (``models.cnn.class``, ``--model``) in every
    error; ``search`` lists folders to look in after ``sys.path`` (e.g. the config's folder).
    """
    ref = parse(text, key)
    target = _import(ref, key, search)
    for i, part in enumerate(ref.attr.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError as err:
            owner = ref.module if i == 0 else ".".join(ref.attr.split(".")[:i])
            raise BadInput(f"{key}: {str(ref)!r}: {owner!r} has no attribute {part!r}") from err
    missing = missing_methods(target, require)
    if missing:
        raise BadInput(f"{key}: {describe_missing(what or 'class', str(text), missing)}")
    return target


def build(spec: Any, key: str = "reference", *, params: dict[str, Any] | None = None,
          search: Sequence[str | os.PathLike[str]] = ()) -> Any:
    """Resolve a factory and call it: ``"mod:f"`` or ``{factory|class|callable: ..., params}``.

    A failure inside the factory is the user's: BadInput naming the key, their error chained.
    """
    kwargs = dict(params or {})
    if isinstance(spec, dict):
        kwargs = {**dict(spec.get("params") or {}), **kwargs}
        spec = spec.get("factory") or spec.get("class") or spec.get("callable")
    factory = resolve(spec, key, search=search)
    if not callable(factory):
        raise BadInput(f"{key}: {spec!r} is not callable")
    try:
        return factory(**kwargs)
    except BadInput:
        raise
    except Exception as err:  # noqa: BLE001 - the user's factory failed
        raise BadInput(f"{key}: {spec}({_kwargs(kwargs)}) failed: "
                       f"{type(err).__name__}: {one_line(err)}") from err


def _kwargs(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) if kwargs else ""


def display(spec: Any) -> str:
    """The reference of a spec for messages and records: ``{factory: x}`` -> ``x``."""
    if isinstance(spec, dict):
        return str(spec.get("factory") or spec.get("class") or spec.get("callable") or spec)
    return str(spec)
