"""`dii-hpc top` driven through a real terminal (tmux send-keys / capture-pane) on a live run.

tmux runs on a private socket, in its default 80x24 window (the common terminal, where a
one-line title once cut the filter off); every step waits for the screen it needs, with a
deadline.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DII
from tests.ui.conftest import wait_for

pytestmark = pytest.mark.terminal  # skipped without tmux: tests/conftest.py


class Terminal:
    """One tmux session on its own socket, running one command."""

    def __init__(self, socket: Path, command: str) -> None:
        self.socket = socket
        self._tmux("new-session", "-d", "-x", "80", "-y", "24", command)

    def _tmux(self, *args: str) -> str:
        res = subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True,
                             text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self._tmux("send-keys", *(["-l"] if literal else []), *keys)

    def shows(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        """Wait until the screen matches ``pattern``; the match."""
        return wait_for(lambda: re.search(pattern, self.screen()), timeout,
                        f"{pattern!r} on screen; last screen:\n{self.screen()}")

    def filter(self, text: str) -> None:
        """Type ``text`` into top's filter box ("" clears it) and apply it with Enter, each key
        once the screen shows the box ready for it."""
        self.keys("/")
        self.shows(r"▊ +[^▔▁ ]")  # the box's text line: the placeholder or the filter
        self.keys("BSpace")  # the box opens with the current filter selected
        self.shows(rf"▊ +{re.escape('filter, e.g.')}")
        if text:
            self.keys(text, literal=True)
            self.shows(rf"▊ +{re.escape(text)} ")
        self.keys("Enter")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-S", str(self.socket), "has-session"],
                              capture_output=True, timeout=30).returncode == 0

    def close(self) -> None:
        if self.alive():
            subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True,
                           timeout=30)


@pytest.fixture()
def terminal(tmp_path: Path) -> Iterator[Any]:
    held: list[Terminal] = []

    def start(command: str) -> Terminal:
        term = Terminal(tmp_path / "tmux.sock", command)
        held.append(term)
        return term

    yield start
    for term in held:
        term.close()


def test_top_follows_a_live_run(store_path: Path, logging_run: Any, terminal: Any) -> None:
    run = logging_run("live")
    term = terminal(f"env DII_HPC_STORE={store_path} {DII} top live --interval 0.3")
    term.shows(r"live: 1 of 1 runs, 1 active .*metric: acc")
    term.shows(rf"{run.run_id[-10:]}\s+RUNNING")
    first = int(term.shows(r"step (\d+) loss")[1])
    # the log tail moves on while the run logs: new lines without a key pressed
    wait_for(lambda: max(map(int, re.findall(r"step (\d+) loss", term.screen()))) > first + 3,
             90, "newer log lines")

    term.keys("m")  # next metric: the sparkline column follows it
    term.shows(r"metric: loss ")
    term.shows(r"loss\s+acc\s+loss history")
    term.filter("status = FINISHED")
    term.shows(r"live: 0 of 1 runs, 1 active .*\n.*filter: status = FINISHED")
    term.filter("lr >")
    term.shows(r"bad --filter at position")  # said on screen; the previous filter stays
    term.shows(r"0 of 1 runs, 1 active .*\n.*filter: status = FINISHED")

    run.stop()  # the run ends: top sees it without a key pressed
    term.filter("")
    term.shows(r"live: 1 of 1 runs, 0 active")
    term.shows(rf"{run.run_id[-10:]}\s+FINISHED")
    term.keys("q")
    wait_for(lambda: not term.alive(), 90, "top to quit on q")
