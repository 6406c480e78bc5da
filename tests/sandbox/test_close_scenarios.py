"""The month-end close played through the sandbox, as the FP&A analyst's procedure reads:
on the second working day, tie Stripe's in-transit balance to NetSuite's Undeposited Funds,
resolve any variance above $5, and only then sign the close off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from revline.api import create_app
from revline.core.auth import create_token
from revline.sandbox.runner import Run, report
from revline.sandbox.scenario import load
from revline.sandbox.world import World

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"


def _play(name: str, workdir: Path) -> dict[str, Any]:
    with World(load(CASH / f"{name}.json"), workdir) as world:
        return Run(world).play()


def _of(report: dict[str, Any], key: str, kind: str) -> list[dict[str, Any]]:
    return [entry for entry in report[key] if entry["kind"] == kind]


def test_a_month_that_ties_is_signed_off_on_the_second_working_day(tmp_path: Path) -> None:
    report = _play("month_that_ties", tmp_path)
    (close,) = _of(report, "cases", "month_end_close")
    # 1 January 2027 is a Friday and a holiday: the 2nd working day is Tuesday the 5th.
    assert (close["subject"], close["opened_at"]) == ("2026-12", "2027-01-05T09:00:00-05:00")
    assert close["state"] == "signed_off"
    (sign_off,) = _of(report, "actions", "revline.close.sign_off")
    assert sign_off["status"] == "applied"
    assert sign_off["params"]["variance"] == 0
    assert _of(report, "cases", "close_variance") == []
    assert report["ledger"]["verified"] is True


def test_a_12_40_variance_blocks_sign_off_until_the_books_are_corrected(tmp_path: Path) -> None:
    report = _play("month_with_variance", tmp_path)
    (flag,) = _of(report, "actions", "revline.close.flag_variance")
    assert (flag["at"], flag["params"]["variance"]) == ("2027-01-05T09:00:00-05:00", 1_240)
    (variance,) = _of(report, "cases", "close_variance")
    assert variance["opened_at"] == "2027-01-05T09:00:00-05:00"
    # The correcting entry is keyed on the 6th; the next morning's check ties.
    assert (variance["state"], variance["closed_at"]) == ("corrected", "2027-01-07T09:00:00-05:00")
    (sign_off,) = _of(report, "actions", "revline.close.sign_off")
    assert (sign_off["at"], sign_off["status"]) == ("2027-01-07T09:00:00-05:00", "applied")
    (close,) = _of(report, "cases", "month_end_close")
    assert close["state"] == "signed_off"


def test_an_analyst_explains_the_variance_and_the_sign_off_waits_for_an_analyst(
    tmp_path: Path,
) -> None:
    scenario = load(CASH / "month_with_variance.json")
    uncorrected = scenario.model_copy(
        update={
            "happenings": scenario.happenings[:-1],
            "until": scenario.happenings[-1].at,
            "approve": "none",
        }
    )
    with World(uncorrected, tmp_path) as world:
        Run(world).play()
        runtime = world.runtime
        with runtime.db.write() as session:
            _, jonas = create_token(
                session, name="jonas", role="fpa_analyst", now=world.clock.now()
            )
        with TestClient(create_app(runtime)) as client:
            headers = {"Authorization": f"Bearer {jonas}"}
            before = client.get("/api/close/2026-12", headers=headers).json()
            assert (before["state"], before["tieout"]["variance"]) == ("variance", 1_240)
            wrong = client.post(
                "/api/close/2026-12/explain",
                json={"variance": 1_000, "note": "bank fee"},
                headers=headers,
            ).json()
            assert wrong["state"] == "variance"
            explained = client.post(
                "/api/close/2026-12/explain",
                json={"variance": 1_240, "note": "receipt keyed twice; reversed in January"},
                headers=headers,
            ).json()
        assert explained["state"] == "awaiting_sign_off"
        assert explained["variance_case"]["state"] == "open"  # until the clearance runs
        world.worker.drain()
        after = report(world)
    (variance,) = _of(after, "cases", "close_variance")
    assert variance["state"] == "explained"
    (sign_off,) = _of(after, "actions", "revline.close.sign_off")
    assert sign_off["status"] == "awaiting_approval"
    assert sign_off["params"]["explained_by"] == "user:jonas"
