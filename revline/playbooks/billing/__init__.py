"""Failed-payment recovery: retry cadence, dunning, recognition hold (issue: billing)."""

from __future__ import annotations

from revline.core.playbook import Playbook


def playbooks() -> list[Playbook]:
    """The billing area's playbooks, for the default registry."""
    from revline.playbooks.billing.failed_payment import FailedPaymentRecovery

    return [FailedPaymentRecovery()]
