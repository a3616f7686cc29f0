"""Where the Jinja2 templates and the static files live, in a checkout and in a wheel.

An editable install (and a plain checkout) keeps them at the repository's top level
(``templates/``, ``site/``); the wheel maps them into the package as ``dii_hpc/_templates``
and ``dii_hpc/_site`` (pyproject force-include). One resolver keeps both layouts working.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dii_hpc.errors import InfraError

_PACKAGE = Path(__file__).resolve().parents[1]


def _find(packaged: str, top_level: str, marker: str) -> Path:
    for candidate in (_PACKAGE / packaged, _PACKAGE.parent / top_level):
        if (candidate / marker).is_file():
            return candidate
    raise InfraError(
        f"report resources missing: neither {_PACKAGE / packaged} nor "
        f"{_PACKAGE.parent / top_level} holds {marker} (broken install?)"
    )


def templates_dir() -> Path:
    """The folder holding base.html and the page templates."""
    return _find("_templates", "templates", "base.html")


def static_dir() -> Path:
    """The folder of CSS/JS copied verbatim into every built site."""
    return _find("_site", "site", "app.js")


def fingerprint() -> str:
    """Hash of every template and static file: a change re-renders every page."""
    from dii_hpc._version import __version__

    digest = hashlib.sha256(__version__.encode())
    for folder in (templates_dir(), static_dir()):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
