"""A person reruns a morning's payout reconciliation (over HTTP, and as a scenario happening)
against the simulators: what was deposited is never posted again."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from revline.api.app import create_app
from revline.core.auth import create_token
from revline.db.models import Case, Decision
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import World
from tests.api.helpers import bearer

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"


def test_the_billing_analyst_reruns_a_deposited_morning_and_nothing_is_posted_twice(
    tmp_path: Path,
) -> None:
    with World(load(CASH / "clean_payout.json"), tmp_path) as world:
        Run(world).play()
        (deposited,) = world.netsuite.books.deposits()
        runtime = world.runtime
        with runtime.db.write() as session:
            _, token = create_token(
                session, name="omar", role="billing_analyst", now=runtime.clock.now()
            )
        with TestClient(create_app(runtime)) as client:
            response = client.post("/api/cash/payouts/2026-12-04/rerun", headers=bearer(token))
        world.worker.drain()
        assert response.status_code == 200
        day = response.json()
        # The rerun finds the deposit the morning posted and says so; it posts nothing.
        assert [p["status"] for p in day["payouts"]] == ["already_deposited"]
        assert world.netsuite.books.deposits() == [deposited]


def test_the_same_day_run_twice_posts_one_deposit(tmp_path: Path) -> None:
    """examples/cash/same_day_twice.json: the morning of 4 December deposits the payout; the
    billing analyst runs that morning again before noon, and NetSuite still holds one deposit."""
    with World(load(CASH / "same_day_twice.json"), tmp_path) as world:
        report = Run(world).play()
        assert len(world.netsuite.books.deposits()) == 1
        with world.runtime.db.read() as session:
            triggers = (
                session.execute(
                    select(Decision.trigger)
                    .join(Case, Case.id == Decision.case_id)
                    .where(Case.subject == "payouts:2026-12-04")
                    .order_by(Decision.id)
                )
                .scalars()
                .all()
            )
    assert triggers[0] == "event" and triggers[-1] == "manual"  # the morning, then the rerun
    deposits = [a for a in report["actions"] if a["kind"] == "netsuite.deposit.create"]
    assert [(d["status"], d["at"]) for d in deposits] == [("applied", "2026-12-04T08:00:00-05:00")]
    assert report["ledger"]["verified"]
