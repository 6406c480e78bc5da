"""Cash reconciliation: payouts, orphan payments, payout variances, duplicate invoices,
month-end tie-out."""

from __future__ import annotations

from revline.core.playbook import Playbook


def playbooks() -> list[Playbook]:
    """The cash area's playbooks, for the default registry."""
    from revline.playbooks.cash.close import MonthEndClose
    from revline.playbooks.cash.close_variance import CloseVariance
    from revline.playbooks.cash.duplicates import DuplicateInvoiceResolution
    from revline.playbooks.cash.orphans import OrphanPaymentInvestigation
    from revline.playbooks.cash.payout_variance import PayoutVariance
    from revline.playbooks.cash.payouts import PayoutReconciliation

    return [
        PayoutReconciliation(),
        OrphanPaymentInvestigation(),
        PayoutVariance(),
        DuplicateInvoiceResolution(),
        MonthEndClose(),
        CloseVariance(),
    ]
