"""Progress bars: a rich bar on a terminal, nothing at all (not even an import of rich) elsewhere."""

from __future__ import annotations

import io
import subprocess
import sys

from dii_hpc import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_renders_on_a_terminal_nested_bars_share_it() -> None:
    screen = _Terminal()
    with progress.bar("audit: attacks", 3, stream=screen) as outer:
        assert outer.shown
        for _ in range(3):
            with progress.bar("fgsm: samples", 4, stream=screen) as inner:
                inner.advance(4)
            outer.advance()
    text = screen.getvalue()
    assert "audit: attacks" in text and "3/3" in text and "━" in text  # rich's bar glyph
    assert "fgsm: samples" in text


def test_forced_on_it_renders_as_on_a_terminal() -> None:
    buf = io.StringIO()  # not a terminal: `enabled=True` still draws (the report's --progress)
    with progress.bar("report: pages", 4, stream=buf, enabled=True) as bar:
        for _ in range(4):
            bar.advance()
    assert "report: pages" in buf.getvalue() and "4/4" in buf.getvalue()
    assert "\x1b[" in buf.getvalue()  # terminal control codes, as on a tty


def test_off_a_terminal_nothing_is_printed() -> None:
    quiet = io.StringIO()
    with progress.bar("report: pages", 10, stream=quiet) as bar:
        assert not bar.shown
        bar.advance(10)
        bar.update(completed=3, total=5)
    assert quiet.getvalue() == ""
    loud = _Terminal()
    with progress.bar("x", 5, stream=loud, enabled=False) as bar:
        bar.advance()
    assert loud.getvalue() == ""
    with progress.bar("nothing to do", 0, stream=_Terminal()) as bar:
        assert not bar.shown


def test_no_rich_import_when_stderr_is_not_a_terminal() -> None:
    code = ("import sys; from dii_hpc import progress\n"
            "with progress.bar('work', 3) as b:\n    b.advance(3)\n"
            "print('rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False" and out.stderr == ""
