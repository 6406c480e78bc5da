"""``GET /api/cash/payouts``: a day's payouts as the morning reconciliation left them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from revline.api import create_app
from revline.core.auth import create_token
from revline.core.cases import CaseKind
from revline.core.runtime import Runtime, from_settings
from revline.db.models import Action
from revline.playbooks.cash.flags import ORPHAN_FLAG
from revline.playbooks.cash.orphans import ORPHAN_PAYMENT
from revline.playbooks.cash.payouts import PAYOUT_RECONCILIATION
from tests.api.helpers import bearer
from tests.conftest import make_settings
from tests.support.cases import stored_case

DEPOSIT_LINES = [
    {"type": "payment", "amount": 180_000, "reference": "5001"},
    {"type": "fee", "amount": -5_250, "account": "6700-8", "reference": "Stripe fees po_1"},
]


@dataclass(frozen=True)
class Morning:
    """The case ids of the seeded mornings."""

    earlier: str  # payouts:2026-12-02, which deposited po_1
    today: str  # payouts:2026-12-04, with po_2 waiting for an orphan
    orphan: str  # the investigation of ch_orphan


def seed_morning(runtime: Runtime) -> Morning:
    """Two mornings as the payout reconciliation records them (its decision's data on the
    case, its actions in the outbox) and the orphan investigation the second one opened."""
    now = runtime.clock.now()
    with runtime.db.write() as session:

        def case(kind: CaseKind, playbook: str, subject: str, **fields: Any) -> str:
            return stored_case(session, kind, playbook, subject, now, **fields)

        def action(
            case_id: str, kind: str, subject: str, params: dict[str, Any], **fields: Any
        ) -> None:
            session.add(
                Action(
                    id=f"act_{kind}_{subject}",
                    case_id=case_id,
                    playbook="payout_reconciliation",
                    kind=kind,
                    subject=subject,
                    idempotency_key=f"payout_reconciliation:{kind}:{subject}:0",
                    params=params,
                    params_hash="h",
                    not_before=now,
                    proposed_by="playbook",
                    created_at=now,
                    updated_at=now,
                    **fields,
                )
            )

        po_1 = {"payout": "po_1", "amount": 174_750, "currency": "USD", "arrival": "2026-12-01"}
        earlier = case(
            PAYOUT_RECONCILIATION,
            "payout_reconciliation",
            "payouts:2026-12-02",
            state="reconciled",
            data={
                "business_date": "2026-12-02",
                "payouts": [{**po_1, "status": "deposit_proposed"}],
            },
        )
        action(
            earlier,
            "netsuite.deposit.create",
            "po_1",
            {**po_1, "date": "2026-12-01", "lines": DEPOSIT_LINES},
            status="applied",
            applied_at=now,
            result={"deposit": "5002", "number": "DEP-1"},
        )
        today = case(
            PAYOUT_RECONCILIATION,
            "payout_reconciliation",
            "payouts:2026-12-04",
            state="exceptions",
            queue="ar_specialist",
            data={
                "business_date": "2026-12-04",
                "payouts": [
                    {**po_1, "status": "already_deposited"},
                    {
                        "payout": "po_2",
                        "amount": 1_074_472,
                        "currency": "USD",
                        "arrival": "2026-12-03",
                        "status": "orphans_pending",
                        "fees": 37_528,
                        "variance": None,
                        "unresolved": ["txn_orphan"],
                        # The bank returned po_0 before NetSuite deposited it: po_2 carries it.
                        "returned": [{"payout": "po_0", "amount": 50_000, "deposits": []}],
                        "matches": [
                            {
                                "transaction": "txn_acme",
                                "charge": "ch_acme",
                                "status": "matched",
                                "netsuite": ["5004"],
                                "tier": "exact_charge_id",
                                "reason": "Stripe charge id carried on the NetSuite record",
                            },
                            {
                                "transaction": "txn_orphan",
                                "charge": "ch_orphan",
                                "status": "unmatched",
                                "netsuite": [],
                                "tier": None,
                                "reason": "no NetSuite record carries its ids",
                            },
                        ],
                    },
                ],
            },
        )
        action(
            today,
            ORPHAN_FLAG,
            "ch_orphan",
            {"charge": "ch_orphan", "balance_transaction": "txn_orphan"},
            status="applied",
            applied_at=now,
        )
        orphan = case(
            ORPHAN_PAYMENT,
            "orphan_payment",
            "ch_orphan",
            state="awaiting_cardholder",
            queue="ar_specialist",
        )
    return Morning(earlier, today, orphan)


def test_a_day_lists_each_payout_its_deposit_and_its_orphans(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    morning = seed_morning(runtime)
    response = client.get("/api/cash/payouts?date=2026-12-04", headers=bearer(tokens["viewer"]))
    assert response.status_code == 200
    day = response.json()
    assert (day["case_id"], day["state"], day["queue"]) == (
        morning.today,
        "exceptions",
        "ar_specialist",
    )
    deposited, waiting = day["payouts"]
    # Deposited on an earlier morning: the deposit is found on that morning's case.
    assert (deposited["status"], deposited["arrival"]) == ("already_deposited", "2026-12-01")
    deposit = deposited["deposit"]
    assert (deposit["case_id"], deposit["status"]) == (morning.earlier, "applied")
    assert deposit["netsuite_deposit"] == "5002"
    assert [(line["type"], line["account"]) for line in deposit["lines"]] == [
        ("payment", None),
        ("fee", "6700-8"),
    ]
    assert (waiting["status"], waiting["deposit"], waiting["fees"]) == (
        "orphans_pending",
        None,
        37_528,
    )
    matched, orphan = waiting["transactions"]
    assert (matched["tier"], matched["netsuite"], matched["charge"], matched["orphan_case"]) == (
        "exact_charge_id",
        ["5004"],
        "ch_acme",
        None,
    )
    assert orphan["charge"] == "ch_orphan"
    assert orphan["orphan_case"] == {
        "case_id": morning.orphan,
        "state": "awaiting_cardholder",
        "queue": "ar_specialist",
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "date is required (YYYY-MM-DD)"),
        ("?date=", "date is required (YYYY-MM-DD)"),
        ("?date=2026-13-01", "date must be a date as YYYY-MM-DD, not '2026-13-01'"),
        ("?date=yesterday", "date must be a date as YYYY-MM-DD, not 'yesterday'"),
        # Forms Python reads as dates, which a person mistyping would not mean.
        ("?date=20261204", "date must be a date as YYYY-MM-DD, not '20261204'"),
        ("?date=2026-W49-5", "date must be a date as YYYY-MM-DD, not '2026-W49-5'"),
        ("?date=%D9%A2026-12-04", "date must be a date as YYYY-MM-DD, not '\u0662026-12-04'"),
        (
            "?date=2026-12-04&date=2026-12-02",
            "date is given 2 times (2026-12-04, 2026-12-02); give one",
        ),
    ],
)
def test_a_missing_or_malformed_date_is_refused_naming_the_parameter(
    client: TestClient, runtime: Runtime, tokens: dict[str, str], query: str, message: str
) -> None:
    response = client.get(f"/api/cash/payouts{query}", headers=bearer(tokens["viewer"]))
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid_request", "message": message}}


def test_a_day_without_a_reconciliation_is_not_found(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    seed_morning(runtime)
    response = client.get("/api/cash/payouts?date=2026-12-03", headers=bearer(tokens["viewer"]))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "no payout reconciliation for 2026-12-03",
    }


def test_reading_payouts_needs_a_token(client: TestClient, runtime: Runtime) -> None:
    assert client.get("/api/cash/payouts?date=2026-12-04").status_code == 401


@pytest.mark.parametrize("role", ["viewer", "agent", "fpa_analyst", "spend_ops_lead"])
def test_a_rerun_is_the_reconcilers_to_ask_for(
    client: TestClient, runtime: Runtime, tokens: dict[str, str], role: str
) -> None:
    seed_morning(runtime)
    response = client.post("/api/cash/payouts/2026-12-04/rerun", headers=bearer(tokens[role]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_rerun_where_the_providers_are_not_configured_is_a_503_naming_them(
    runtime: Runtime, database_url: str
) -> None:
    """The API process as ``revline serve`` builds it, with a database and no provider keys."""
    seed_morning(runtime)
    served = from_settings(make_settings(database_url), clock=runtime.clock)
    with served.db.write() as session:
        _, token = create_token(
            session, name="omar", role="billing_analyst", now=runtime.clock.now()
        )
    with TestClient(create_app(served)) as client:
        response = client.post("/api/cash/payouts/2026-12-04/rerun", headers=bearer(token))
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "provider_not_configured"
    assert error["message"] == "stripe is not configured in this process: set stripe_api_key"


@pytest.mark.parametrize(
    ("day", "status", "message"),
    [
        ("2026-12-03", 404, "no payout reconciliation for 2026-12-03 to run again"),
        ("04-12-2026", 400, "date must be a date as YYYY-MM-DD, not '04-12-2026'"),
    ],
)
def test_a_rerun_of_a_morning_that_never_ran_or_of_no_date_is_refused(
    client: TestClient,
    runtime: Runtime,
    tokens: dict[str, str],
    day: str,
    status: int,
    message: str,
) -> None:
    seed_morning(runtime)
    headers = bearer(tokens["billing_analyst"])
    response = client.post(f"/api/cash/payouts/{day}/rerun", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["message"] == message
