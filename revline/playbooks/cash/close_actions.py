"""The close's own actions, carried out inside Revline rather than at a provider.

- ``revline.close.flag_variance`` and ``revline.close.clear_variance``: the close cannot open or
  close another playbook's case, so each records a finding (source ``finding``, one event per
  action, insert-or-ignore) that the ``close_variance`` playbook routes, as ``flags.py`` does
  for orphan payments.
- ``revline.close.sign_off``: the FP&A analyst's sign-off of the month. Proposed only when the
  tie-out ties, and gated by the ``fpa_analyst`` role; carrying it out after approval is what
  signs the month off (the close follows the outcome to ``signed_off``). The approval may come
  days after the proposal, and the books may have moved since: so the sign-off reads the books
  again, as the close does, and refuses to sign a month that no longer ties. What it signed on
  is its result: the tie-out it read, and the customers held with their dunning cases as they
  stood then. That is the signed report (``close_report``), whatever happens to them later.

Being actions, they are in the ledger, obey shadow mode and the emergency stop, and a repeated
check proposes nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from revline.clock import Clock
from revline.config import Policy
from revline.core import inbox
from revline.core.playbook import Enrichment
from revline.db.engine import Database
from revline.db.models import Action, ActionStatus
from revline.money import Money
from revline.playbooks.cash.close_holds import held_customers
from revline.playbooks.cash.flags import FINDING_SOURCE
from revline.playbooks.cash.tieout import ClosePeriod, gather, tie_out
from revline.providers.base import ActionRequest, Handlers, ProviderError

SIGN_OFF = "revline.close.sign_off"
FLAG_VARIANCE = "revline.close.flag_variance"
CLEAR_VARIANCE = "revline.close.clear_variance"
VARIANCE_FLAGGED = "close_variance.flagged"
VARIANCE_CLEARED = "close_variance.cleared"
NO_LONGER_TIES = "close_no_longer_ties"
ALREADY_SIGNED = "close_already_signed_off"


def register(
    handlers: Handlers, db: Database, clock: Clock, *, books: Enrichment, policy: Policy
) -> None:
    """The handlers of the close's actions; ``books`` offers the adapters the sign-off reads."""

    def finding(event_type: str) -> Any:
        def record(request: ActionRequest) -> Mapping[str, Any]:
            # The action's key is unique per flag or clearance: one event each, replay-safe.
            event = inbox.IncomingEvent(
                FINDING_SOURCE,
                request.idempotency_key,
                event_type,
                clock.now(),
                dict(request.params),
            )
            with db.write() as session:
                (new,) = inbox.record(session, [event], clock.now())
            return {"event": request.idempotency_key, "replayed": not new}

        return record

    def sign_off(request: ActionRequest) -> Mapping[str, Any]:
        month = str(request.params["month"])
        with db.read() as session:
            earlier = session.execute(
                select(Action).where(
                    Action.kind == SIGN_OFF,
                    Action.subject == month,
                    Action.status == ActionStatus.APPLIED,
                    Action.idempotency_key != request.idempotency_key,
                )
            ).first()
        if earlier is not None:
            # A month is signed off once: a second sign-off, approved after the first was
            # carried out, signs nothing (the audit trail would show the period signed twice).
            (signed,) = earlier
            raise ProviderError(
                f"{month} is already signed off (action {signed.id}, at "
                f"{signed.applied_at.isoformat() if signed.applied_at else 'unknown'}); "
                "nothing is signed again",
                retryable=False,
                provider="revline",
                provider_code=ALREADY_SIGNED,
            )
        tieout = tie_out(gather(books, ClosePeriod.parse(month)), policy.close_variance_threshold)
        if not tieout.ties:

            def money(amount: int) -> str:
                return Money(amount, tieout.currency).format(books.company.locale)

            # Not retryable: trying again reads the same books. The failure brings the close
            # back to its check, which blocks it on this variance.
            raise ProviderError(
                f"{month} no longer ties: a variance of {money(tieout.variance)} is above the "
                f"{money(tieout.threshold)} threshold (it was "
                f"{money(int(request.params['variance']))} when the sign-off was proposed); "
                "nothing is signed off",
                retryable=False,
                provider="revline",
                provider_code=NO_LONGER_TIES,
            )
        with db.read() as session:
            held = held_customers(session, tieout.held, policy.max_manual_retries)
        return {
            "month": month,
            "signed_off_at": clock.now().isoformat(),
            "stripe_in_transit": tieout.stripe_in_transit,
            "undeposited_funds": tieout.undeposited_funds,
            "variance": tieout.variance,
            "tieout": tieout.model_dump(mode="json"),
            "held_recognition": [customer.model_dump(mode="json") for customer in held],
        }

    handlers.register(FLAG_VARIANCE, finding(VARIANCE_FLAGGED))
    handlers.register(CLEAR_VARIANCE, finding(VARIANCE_CLEARED))
    handlers.register(SIGN_OFF, sign_off)
