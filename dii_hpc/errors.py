"""One exception tree for the whole toolkit.

The CLI maps each class to an exit code of the design brief (1 check failed, 2 bad input,
3 runtime/infrastructure failure) and prints ``str(err)`` as one line, so every message
must stand on its own: name the key, file, run or column at fault.
"""

from __future__ import annotations


class DiiError(Exception):
    """Base of every error dii-hpc raises on purpose."""

    exit_code: int = 3


class BadInput(DiiError):
    """The user gave something we cannot use (config, arguments, data)."""

    exit_code = 2


class StoreError(BadInput):
    """The store path is unusable (a file, not writable) or an id/name is unknown."""


class NotFound(StoreError):
    """An experiment, run or metric that does not exist; carries close-name suggestions."""

    def __init__(self, what: str, name: str, candidates: list[str] | None = None) -> None:
        import difflib

        close = difflib.get_close_matches(name, candidates or [], n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        super().__init__(f"unknown {what} {name!r}{hint}")
        self.what, self.name, self.suggestions = what, name, close


class ConfigError(BadInput):
    """A config file or override is invalid; the message names the key path and line."""


class FilterSyntaxError(BadInput):
    """A --filter expression does not parse; the message points at the position."""


class CheckFailed(DiiError):
    """A check ran and its verdict is negative (drift found, audit threshold breached)."""

    exit_code = 1


class InfraError(DiiError):
    """The world failed us: a job died, Slurm is unreachable, a file system error."""

    exit_code = 3


class SchedulerError(InfraError):
    """Slurm refused or could not be reached; the message carries Slurm's own words."""


class DamagedRun(DiiError):
    """A run record or metric array cannot be read; listing skips it and reports it."""

    exit_code = 3


class NotSupported(BadInput, AttributeError):
    """A name of another project's API (e.g. ``mlflow.autolog``) that dii-hpc does not offer.

    Also an AttributeError, so ``hasattr`` and ``getattr(module, name, default)`` keep working.
    """


def one_line(message: BaseException | str, limit: int = 1000) -> str:
    """A message as the one line the CLI and the records show: its lines joined, never only
    the first (torch's "Error(s) in loading state_dict for Net:" says what failed on the
    lines after its colon), cut at ``limit`` characters with a note of how many were left."""
    text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    if not text and isinstance(message, BaseException):
        text = type(message).__name__
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text
