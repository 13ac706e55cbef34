"""The one table printer of the tools (`fleet`, `verify`): each row type names its own headers
and cells, as kubectl's printers do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


class Row(Protocol):
    HEADERS: ClassVar[tuple[str, ...]]

    def cells(self) -> tuple[str, ...]: ...


def print_table(title: str, rows: Sequence[Row], stream, headers: Sequence[str] = ()) -> None:
    """Rows of one type for people: boxed on a terminal; plain, wide columns as `kubectl get`
    prints them elsewhere (a CI log, a pipe). `headers` for a table that may have no rows."""
    columns = tuple(headers) or (type(rows[0]).HEADERS if rows else ())
    terminal = stream.isatty()
    console = Console(file=stream, width=None if terminal else 250)
    table = Table(title=title if terminal else None, box=box.SIMPLE if terminal else None)
    for column in columns:
        table.add_column(column if terminal else column.upper(), overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row.cells()))  # cells are text, never markup
    console.print(table)
