"""Printing: JSON documents for machines, Rich tables for people, messages to stderr.

With ``--json`` a command writes exactly one JSON document to stdout; everything meant for a
person alone (progress, warnings, errors) goes to stderr so pipes stay clean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from revline.core.queries import document

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)

NONE = "-"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Piped or captured output has no terminal width; Rich would assume 80 columns and squeeze
# tables. Rows stay whole instead, for `grep` and `less -S`.
UNBOUNDED_WIDTH = 240

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]
LimitOption = Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows.")]


def emit_json(value: Any) -> None:
    """One JSON document on stdout: query results as ``queries.document`` renders them."""
    typer.echo(json.dumps(document(value), indent=2, ensure_ascii=False))


def say(message: str, style: str | None = None) -> None:
    """A result for a person, on stdout. ``message`` is plain text, never markup."""
    stdout.print(Text(message, style=style or ""), soft_wrap=True)


def note(message: str, style: str | None = None) -> None:
    """Progress, a warning or an error, on stderr."""
    stderr.print(Text(message, style=style or ""), soft_wrap=True)


class Times:
    """Formats stored UTC times in the company's timezone."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)

    def __call__(self, when: datetime | None) -> str:
        return NONE if when is None else when.astimezone(self.tz).strftime(TIME_FORMAT)

    @property
    def caption(self) -> str:
        return f"times in {self.timezone}"


class Col(StrEnum):
    """How a column is laid out when the terminal is too narrow for every row."""

    TEXT = "text"
    ID = "id"  # copied into other commands: folded onto more lines, never cut
    TIME = "time"  # never wrapped
    NUMBER = "number"
    DOCUMENT = "document"  # JSON on one line, cut short: `--json` shows it whole


def table(title: str, columns: list[tuple[str, Col]], caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, title_justify="left")
    for header, kind in columns:
        if kind is Col.ID:
            t.add_column(header, overflow="fold")
        elif kind is Col.TIME:
            t.add_column(header, no_wrap=True)
        elif kind is Col.NUMBER:
            t.add_column(header, justify="right")
        elif kind is Col.DOCUMENT:
            t.add_column(header, no_wrap=True, overflow="ellipsis", max_width=60)
        else:
            t.add_column(header)
    return t


def cell(value: Any) -> Text:
    """A table cell: ``-`` for nothing, compact JSON for documents, text for the rest.

    Always ``Text``: stored values (errors, reasons) are shown as written, never read as markup.
    """
    if value is None or (isinstance(value, Mapping | list | tuple) and not value):
        return Text(NONE, style="dim")
    if isinstance(value, Mapping | list | tuple):
        return Text(json.dumps(document(value), separators=(",", ":"), ensure_ascii=False))
    return Text(str(value))


def add_row(t: Table, *values: Any) -> None:
    t.add_row(*(cell(value) for value in values))


def print_table(t: Table) -> None:
    if t.row_count == 0:
        say(f"{t.title}: none", style="dim")
        return
    console = stdout if stdout.is_terminal else Console(highlight=False, width=UNBOUNDED_WIDTH)
    console.print(t)
