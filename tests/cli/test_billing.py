"""``revline billing dunning``."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_dunning_json_on_an_empty_book(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    assert cli.json("billing", "dunning", "--json") == []
    assert "in dunning" in cli.ok("billing", "dunning").stdout
