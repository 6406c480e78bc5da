"""A person's rerun of a morning's payout reconciliation.

After NetSuite was corrected (a customer payment recorded by hand, an invoice fixed), the
billing analyst runs the morning again rather than waiting for the next working day. The rerun
decides on the same ``payouts:<date>`` case through the same code as the morning run, so a
payout already deposited is never posted twice: its deposit's idempotency key is the payout's.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from revline.core.runtime import Runtime
from revline.db.models import Case
from revline.errors import NotFound
from revline.playbooks.cash.payouts import PAYOUT_RECONCILIATION

# Who may ask: the reconciliation is the billing analyst's; orphans are the AR specialist's.
RERUN_ROLES = frozenset({"billing_analyst", "ar_specialist", "revops_manager", "admin"})


def rerun_payout_day(runtime: Runtime, day: date, actor: str) -> None:
    """Reconcile business date ``day`` again now; ``NotFound`` if its morning never ran."""
    with runtime.db.read() as session:
        case_id = session.execute(
            select(Case.id).where(
                Case.kind == PAYOUT_RECONCILIATION.name,
                Case.subject == f"payouts:{day.isoformat()}",
            )
        ).scalar_one_or_none()
    if case_id is None:
        raise NotFound(f"no payout reconciliation for {day.isoformat()} to run again")
    runtime.router().decide_now(case_id, actor, {"reason": "rerun"})
