"""A person reruns a morning's payout reconciliation over HTTP, against the simulators."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from revline.api.app import create_app
from revline.core.auth import create_token
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
