"""`dii-hpc top [EXP]`: a terminal view of an experiment's runs for SSH sessions (textual).

A table of runs (status, last metrics, a sparkline of the chosen metric) above the log tail
of the selected run, refreshed on a timer. Keys: m / M next / previous metric, s sort
column, r reverse, / filter (the `--filter` grammar; Enter applies, Escape leaves it),
q quit. What is shown comes from `TopModel`, which only reads the store. textual is
imported here only (the `tui` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Static

from dii_hpc.errors import DiiError
from dii_hpc.ui.topmodel import Snapshot, TopModel

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


class TopApp(App[None]):
    """The view; every change of state goes through the model, then `refresh_view`."""

    CSS = """
    #title { height: auto; background: $boost; }
    #runs { height: 1fr; }
    #logname { height: 1; background: $boost; }
    #log { height: 14; }
    #filter { display: none; }
    #error { height: auto; color: $error; }
    """
    BINDINGS: ClassVar[list[Any]] = [
        Binding("m", "metric(1)", "metric"),
        Binding("M", "metric(-1)", "prev metric", show=False),
        Binding("s", "sort", "sort"),
        Binding("r", "reverse", "reverse"),
        Binding("slash", "filter", "filter"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, store: Store, experiment: str, interval: float = 2.0) -> None:
        super().__init__()
        self.model = TopModel(store, experiment)
        self.interval = interval
        self.ids: list[str] = []
        self.selected: str | None = None
        self._reading = self._again = False

    def compose(self) -> ComposeResult:
        yield Static("", id="title")
        yield Input(placeholder="filter, e.g. status = RUNNING and metrics.acc > 0.9",
                    id="filter")
        yield Static("", id="error")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="logname")
        yield Static("", id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"dii-hpc top: {self.model.experiment}"
        self.refresh_view()
        self.set_interval(self.interval, self.refresh_view)
        self.set_focus(self.query_one(DataTable))

    # ---------------------------------------------------------------- drawing
    def refresh_view(self) -> None:
        """Read the store in a worker thread and draw when it is back: a slow shared
        filesystem (or a writer holding a lock) never freezes the keys. One read at a time;
        asked during one, another follows it."""
        if self._reading:
            self._again = True
            return
        self._reading, self._again = True, False
        selected = self.selected
        self.run_worker(lambda: self._read(selected), thread=True, group="read")

    def _read(self, selected: str | None) -> None:
        try:
            snap: Snapshot | str = self.model.view(selected)
        except (DiiError, OSError) as err:  # shown, and tried again at the next tick
            snap = str(err).splitlines()[0] if str(err) else type(err).__name__
        self.call_from_thread(self._draw, snap)

    def _draw(self, snap: Snapshot | str) -> None:
        self._reading = False
        if isinstance(snap, str):
            self.query_one("#error", Static).update(snap)
        else:
            self._draw_table(snap)
        if self._again:
            self.refresh_view()

    def _draw_table(self, snap: Snapshot) -> None:
        table = self.query_one(DataTable)
        keep = self.selected
        table.clear(columns=True)
        table.add_columns(*snap.headers)
        for rid, cells in zip(snap.ids, snap.rows, strict=True):
            table.add_row(*cells, key=rid)
        self.ids = snap.ids
        if keep in snap.ids:
            table.move_cursor(row=snap.ids.index(keep), scroll=False)
        row = table.cursor_row
        self.selected = snap.ids[row] if 0 <= row < len(snap.ids) else None
        self.query_one("#title", Static).update(snap.title)
        self.query_one("#error", Static).update(snap.error)
        self.query_one("#logname", Static).update(
            f"log of {self.selected or '-'}: {snap.log_name or '-'}")
        self.query_one("#log", Static).update(snap.log)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one(DataTable)
        if event.cursor_row != table.cursor_row or event.row_key is None:
            return  # a highlight of a table since redrawn
        if event.row_key.value in self.ids and event.row_key.value != self.selected:
            self.selected = event.row_key.value
            self.refresh_view()  # its log

    # ---------------------------------------------------------------- keys
    def action_metric(self, step: int) -> None:
        self.model.cycle_metric(step)
        self.refresh_view()

    def action_sort(self) -> None:
        self.model.cycle_sort()
        self.refresh_view()

    def action_reverse(self) -> None:
        self.model.state.ascending = not self.model.state.ascending
        self.refresh_view()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.model.state.filter
        box.display = True
        self.set_focus(box, scroll_visible=False)  # now: keys typed right after "/" are its

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.model.set_filter(event.value)
        self._close_filter()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.display:
            self._close_filter()
            event.stop()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = False
        self.set_focus(self.query_one(DataTable))
        self.refresh_view()


def run_top(store: Store, experiment: str, interval: float = 2.0) -> None:
    TopApp(store, experiment, interval).run()
