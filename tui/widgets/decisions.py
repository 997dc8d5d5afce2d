"""The live decisions table: one row per request, newest first, updated in place, capped."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual.widgets import DataTable

from hybrid.trace import RequestRecord
from tui.feed import FeedFilter
from tui.rows import COLUMNS, cells


class _TimeCell(Text):
    """The time cell, carrying the row's sort key (the table sorts on cell values, not row keys)."""

    def __init__(self, text: Text, order: tuple[float, str]) -> None:
        super().__init__(text.plain, style=text.style)
        self.order = order


class DecisionsTable(DataTable):
    def __init__(self, *, fmt_time: Callable[[float], str], cap: int = 500, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.fmt_time = fmt_time
        self.cap = cap
        self.prompt_width = COLUMNS[1][2]

    def on_mount(self) -> None:
        width = self.app.size.width
        self.prompt_width = max(COLUMNS[1][2], min(80, width - 96)) if width >= 120 else COLUMNS[1][2]
        for key, label, col_width in COLUMNS:
            self.add_column(label, key=key, width=self.prompt_width if key == "prompt" else col_width)

    @property
    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def _cells(self, record: RequestRecord) -> dict[str, Text]:
        row = cells(record, self.fmt_time, self.prompt_width)
        row["time"] = _TimeCell(row["time"], (record.created_at, record.id))
        return {key: row[key] for key, _, _ in COLUMNS}

    def reset(self, records: Iterable[RequestRecord]) -> None:
        """Show exactly ``records`` (newest first, at most ``cap``)."""
        keep = self.selected_id
        with self.app.batch_update():
            self.clear()
            ordered = sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)[: self.cap]
            for record in ordered:
                self.add_row(*self._cells(record).values(), key=record.id)
            self._restore_cursor(keep)

    def apply(self, records: Iterable[RequestRecord], keep: FeedFilter) -> None:
        """Add or update each record the filter keeps; drop rows it no longer keeps."""
        selected = self.selected_id
        added = False
        with self.app.batch_update():
            for record in records:
                present = record.id in self.rows
                if not keep.matches(record):
                    if present:
                        self.remove_row(record.id)
                    continue
                if present:
                    for column, value in self._cells(record).items():
                        self.update_cell(record.id, column, value)
                else:
                    self.add_row(*self._cells(record).values(), key=record.id)
                    added = True
            if added:
                self.sort("time", key=lambda cell: cell.order, reverse=True)
                while self.row_count > self.cap:
                    self.remove_row(self.coordinate_to_cell_key((self.row_count - 1, 0)).row_key)
            self._restore_cursor(selected)

    def _restore_cursor(self, request_id: str | None) -> None:
        if request_id is not None and request_id in self.rows:
            self.move_cursor(row=self.get_row_index(request_id), animate=False)
