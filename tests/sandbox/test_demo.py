"""``revline demo`` at a small size: its summary agrees with the database and the ledger."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from revline.cli import app
from revline.db.engine import Database
from revline.db.models import Action, Case, Event, LedgerRow


def test_demo_summary_matches_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--days", "6", "--customers", "8", "--seed", "3", "--json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    for name in ("report.json", "summary.json", "summary.md", "log.txt", "revline.db"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text()) == summary

    db = Database(f"sqlite:///{out / 'revline.db'}")
    with db.read() as session:
        events = session.execute(select(func.count()).select_from(Event)).scalar_one()
        actions = Counter(session.execute(select(Action.status)).scalars())
        cases = session.execute(select(func.count()).select_from(Case)).scalar_one()
        rows = session.execute(select(func.count()).select_from(LedgerRow)).scalar_one()
        applied_rows = session.execute(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "action.applied")
        ).scalar_one()
        opened_rows = session.execute(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "case.opened")
        ).scalar_one()
    db.dispose()
    assert summary["events"]["total"] == events > 0
    assert summary["actions"] == dict(actions)
    assert summary["actions"].get("applied", 0) == applied_rows
    assert sum(sum(states.values()) for states in summary["cases"].values()) == cases
    assert cases == opened_rows
    assert summary["ledger"] == {"rows": rows, "verified": True}

    monkeypatch.setenv("REVLINE_DATABASE_URL", f"sqlite:///{out / 'revline.db'}")
    verified = CliRunner().invoke(app, ["ledger", "verify"])
    assert verified.exit_code == 0, verified.stdout + verified.stderr
