"""Progress bars for long operations (rich.progress), on stderr and only on a terminal.

Library code (audit attacks and sample batches, predict shards, report pages, `submit --wait`)
opens a bar unconditionally; when stderr is not a terminal it gets a no-op and rich is never
imported, so captured output, cron mails, logs and CI stay exactly as they were.

A bar opened while another is shown joins the same display (rich allows one live display at a
time), so an audit suite shows its attacks and, below, the batches of the current attack; the
inner bar goes away when its step ends. While a bar is shown, lines printed to stderr (and to
stdout when stdout is the terminal too) appear above it instead of tearing it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

_shown: Any = None  # the rich Progress on screen; nested bars add their task to it


class Bar:
    """What `bar()` yields: move it on with `advance`, or set it with `update`."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress, self._task = progress, task

    @property
    def shown(self) -> bool:
        """Whether this bar is on screen (a caller may then report finer steps)."""
        return self._progress is not None

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, completed: float | None = None, total: float | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=total)


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether bars show on ``stream`` (default stderr): only when it is a terminal."""
    stream = stream or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextlib.contextmanager
def bar(description: str, total: float | None, *, enabled: bool | None = None,
        stream: TextIO | None = None) -> Iterator[Bar]:
    """A bar of ``total`` steps (None: unknown) while the block runs.

    ``enabled`` forces it on or off (default: on when ``stream``, stderr by default, is a
    terminal); a forced bar renders as on a terminal, whatever the stream is.
    """
    global _shown
    out = stream or sys.stderr
    if not (on_terminal(out) if enabled is None else enabled) or (total is not None and total <= 0):
        yield Bar()
        return
    if _shown is not None:  # nested: one more line in the display already shown
        outer = _shown
        task = outer.add_task(description, total=total)
        outer.refresh()  # show the new line now, not at the next tick
        try:
            yield Bar(outer, task)
        finally:
            outer.remove_task(task)
        return
    shown = _new_display(out)
    _shown = shown
    shown.start()
    try:
        yield Bar(shown, shown.add_task(description, total=total))
    finally:
        _shown = None
        shown.stop()


def _new_display(out: TextIO) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    # stdout is redirected above the bar only when it is the terminal too: a redirected
    # stdout (`dii-hpc report build > index.txt`) must keep every byte it had.
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(file=out, force_terminal=True), transient=False,
                    redirect_stdout=on_terminal(sys.stdout), redirect_stderr=out is sys.stderr,
                    refresh_per_second=5)
