"""The close's own actions, carried out inside Revline rather than at a provider.

- ``revline.close.flag_variance`` and ``revline.close.clear_variance``: the close cannot open or
  close another playbook's case, so each records a finding (source ``finding``, one event per
  action, insert-or-ignore) that the ``close_variance`` playbook routes, as ``flags.py`` does
  for orphan payments.
- ``revline.close.sign_off``: the FP&A analyst's sign-off of the month. Proposed only when the
  tie-out ties, and gated by the ``fpa_analyst`` role; carrying it out after approval is what
  signs the month off (the close follows the outcome to ``signed_off``).

Being actions, they are in the ledger, obey shadow mode and the emergency stop, and a repeated
check proposes nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revline.clock import Clock
from revline.core import inbox
from revline.db.engine import Database
from revline.playbooks.cash.flags import FINDING_SOURCE
from revline.providers.base import ActionRequest, Handlers

SIGN_OFF = "revline.close.sign_off"
FLAG_VARIANCE = "revline.close.flag_variance"
CLEAR_VARIANCE = "revline.close.clear_variance"
VARIANCE_FLAGGED = "close_variance.flagged"
VARIANCE_CLEARED = "close_variance.cleared"


def register(handlers: Handlers, db: Database, clock: Clock) -> None:
    """The handlers of the close's actions."""

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
        return {"month": request.params["month"], "signed_off_at": clock.now().isoformat()}

    handlers.register(FLAG_VARIANCE, finding(VARIANCE_FLAGGED))
    handlers.register(CLEAR_VARIANCE, finding(VARIANCE_CLEARED))
    handlers.register(SIGN_OFF, sign_off)
