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

from dii_hpc.ui.topmodel import TopModel

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


class TopApp(App[None]):
    """The view; every change of state goes through the model, then `refresh_view`."""

    CSS = """
    #title { height: 1; background: $boost; }
    #runs { height: 1fr; }
    #logname { height: 1; background: $boost; }
    #log { height: 14; }
    #filter { display: none; }
    #filter.open { display: block; }
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
        self.query_one(DataTable).focus()

    # ---------------------------------------------------------------- drawing
    def refresh_view(self) -> None:
        headers, rows, ids, matched = self.model.rows()
        total, active = self.model.counts()
        table = self.query_one(DataTable)
        keep = self.selected
        table.clear(columns=True)
        table.add_columns(*headers)
        for rid, cells in zip(ids, rows, strict=True):
            table.add_row(*cells, key=rid)
        self.ids = ids
        if keep in ids:
            table.move_cursor(row=ids.index(keep), scroll=False)
        self.selected = ids[table.cursor_row] if ids and 0 <= table.cursor_row < len(ids) else None
        self.query_one("#title", Static).update(self.model.title(matched, total, active))
        self.query_one("#error", Static).update(self.model.state.error)
        self._show_log()

    def _show_log(self) -> None:
        name, text = self.model.log_tail(self.selected)
        rid = self.selected or "-"
        self.query_one("#logname", Static).update(f"log of {rid}: {name or '-'}")
        self.query_one("#log", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.ids:
            self.selected = event.row_key.value
            self._show_log()

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
        box.add_class("open")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.model.set_filter(event.value)
        self._close_filter()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_class("open"):
            self._close_filter()
            event.stop()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("open")
        self.query_one(DataTable).focus()
        self.refresh_view()


def run_top(store: Store, experiment: str, interval: float = 2.0) -> None:
    TopApp(store, experiment, interval).run()
