"""The CLI under test: in-process through Typer's runner, pointed at the test database by env.

The CLI reads its settings the way production does (``REVLINE_DATABASE_URL``), from a working
directory of its own so no stray ``revline.toml`` is picked up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from revline.cli import app
from revline.core.playbook import PlaybookRegistry


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args))

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, f"revline {' '.join(args)}: {result.output}"
        assert "Traceback" not in result.output
        return result

    def json(self, *args: str) -> Any:
        """Run a read command with ``--json``: stdout must be exactly one JSON document."""
        return json.loads(self.ok(*args, "--json").stdout)

    def fails(self, *args: str, code: int = 1) -> Result:
        """A refused command: the message on stderr, the exit code, no traceback."""
        result = self(*args)
        assert result.exit_code == code, f"revline {' '.join(args)}: {result.output}"
        assert "Traceback" not in result.output
        assert result.stderr.startswith("error: "), result.output
        return result


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cwd"
    path.mkdir()
    monkeypatch.chdir(path)
    monkeypatch.delenv("REVLINE_CONFIG", raising=False)
    return path


@pytest.fixture
def cli(database_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.setenv("REVLINE_DATABASE_URL", database_url)
    yield Cli()


@pytest.fixture
def cli_registry(monkeypatch: pytest.MonkeyPatch) -> PlaybookRegistry:
    """Makes the CLI's runtime run the test playbooks (the default registry is empty for now)."""
    from tests.support.playbooks import test_registry

    registry = test_registry()
    monkeypatch.setattr("revline.playbooks.default_registry", lambda: registry)
    return registry
