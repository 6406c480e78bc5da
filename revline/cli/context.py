"""What every command shares: the ``--config`` choice, settings and runtime, built once, lazily.

Lazily, so that ``--help`` and usage errors work without a configuration file or a database.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path

import typer
from sqlalchemy import make_url

from revline.config import Settings, load_settings
from revline.core.runtime import Runtime, from_settings
from revline.db import migrate
from revline.errors import RevlineError


class NoSchema(RevlineError):
    """The database exists but was never migrated."""

    code = "no_schema"


@dataclass
class CliState:
    config: Path | None
    _settings: Settings | None = field(default=None, init=False)
    _runtime: Runtime | None = field(default=None, init=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    def runtime(self, *, require_schema: bool = True) -> Runtime:
        """The process runtime; by default refuses a database without schema, with the fix."""
        if self._runtime is None:
            self._runtime = from_settings(self.settings())
        if require_schema and not migrate.has_schema(self._runtime.db):
            raise NoSchema(
                f"the database {display_url(self._runtime.db.url)} has no schema yet: "
                "run `revline db upgrade`"
            )
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.db.dispose()


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState), "the root callback sets the CLI state"
    return obj


def display_url(url: str) -> str:
    """A database URL fit for a terminal: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def default_actor() -> str:
    """``cli:<os user>``: who pressed the switch, as far as the machine knows."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        # No login name in the environment and no passwd entry (a bare container).
        user = "unknown"
    return f"cli:{user}"
