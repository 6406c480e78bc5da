"""Every command's help reads as written: Typer renders it with Rich, which takes ``[word]`` for
markup and drops it, and lists each command by the first paragraph of its docstring."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from rich.text import Text

from revline.cli import app


def _commands(command: Any, path: str = "revline") -> Iterator[tuple[str, Any]]:
    """Each command and group, by its path (Typer carries its own copy of Click's classes, so
    groups are told by their ``commands``)."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_no_help_text_is_lost_as_markup() -> None:
    lost = [
        f"{path} {param.name}: {param.help!r}"
        for path, command in _commands(typer.main.get_command(app))
        for param in command.params
        if getattr(param, "help", None) and Text.from_markup(param.help).plain != param.help
    ]
    assert lost == []


def test_each_command_is_listed_by_one_line() -> None:
    listed = [
        (path, (command.help or "").split("\n\n")[0])
        for path, command in _commands(typer.main.get_command(app))
    ]
    assert len(listed) > 20
    assert [(path, summary) for path, summary in listed if "\n" in summary.strip()] == []
