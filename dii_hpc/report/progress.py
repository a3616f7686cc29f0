"""A one-line progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``[#####.....] 120/1000 pages``; silent when not a TTY so logs and CI stay clean."""

    def __init__(self, total: int, label: str = "pages", stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.label, self.done, self._last = total, label, 0, 0.0
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = (tty if enabled is None else enabled) and total > 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            filled = int(30 * self.done / max(self.total, 1))
            self.stream.write(f"\rreport: [{'#' * filled}{'.' * (30 - filled)}] "
                              f"{self.done}/{self.total} {self.label}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
