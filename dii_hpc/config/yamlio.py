"""Safe YAML loading that remembers the line of every key, so errors can point at it.

Built on yaml's composer (SafeLoader: no object construction from tags) and a small tree walk:
the value is a plain dict/list/scalar tree, and `lines` maps each key path to its 1-based line.
Duplicate keys are an error, since YAML would otherwise silently keep the last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dii_hpc.errors import ConfigError

KeyPath = tuple[str | int, ...]
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _walk(loader: Any, node: Any, path: KeyPath, lines: dict[KeyPath, int], where: str) -> Any:
    import yaml

    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise ConfigError(f"{where}:{node.start_mark.line + 1}: {dotted(path)}: "
                          f"unsupported YAML tag {node.tag}")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise ConfigError(f"{where}:{key_node.start_mark.line + 1}: a key must be a plain value")
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                raise ConfigError(
                    f"{where}:{key_node.start_mark.line + 1}: {dotted((*path, key))}: duplicate key"
                )
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _walk(loader, value_node, (*path, key), lines, where)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, n, (*path, i), lines, where) for i, n in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def loads(text: str, where: str = "<string>") -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML text -> (data, {key path: line}); syntax errors name file and line."""
    import yaml

    loader = None
    try:
        loader = yaml.SafeLoader(text)  # the reader itself refuses control characters
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        data = _walk(loader, node, (), lines, where) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}{line}: invalid YAML: {err.problem or err.context}") from err
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{where}: invalid YAML: {first}") from err
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def load(path: str | Path) -> tuple[Any, dict[KeyPath, int]]:
    """Read and parse a YAML file; a missing/unreadable file is a ConfigError naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{p}: cannot read config ({err.strerror or err})") from err
    except UnicodeDecodeError as err:  # a binary file, or latin-1 text
        raise ConfigError(f"{p}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset "
                          f"{err.start})") from err
    return loads(text, str(p))


def dotted(path: KeyPath) -> str:
    """('models', 'cnn', 'params', 0) -> 'models.cnn.params[0]'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """Line of the deepest existing prefix of `path` (the key itself, or its parent)."""
    for i in range(len(path), -1, -1):
        if tuple(path[:i]) in lines:
            return lines[tuple(path[:i])]
    return None
