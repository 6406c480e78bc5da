"""orphan cases look at the books

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 21:00:00

An orphan payment's case waiting with the AR specialist (``match_proposed``,
``awaiting_cardholder``) now looks after each working morning for the payment NetSuite recorded
otherwise, on a timer it sets as it decides. A case left in those states before had no timer,
and nothing would wake it: it is given one, due at once (its last change), so the next timer
sweep looks and sets the next. No schema change; downgrading leaves the timers (harmless).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE cases SET next_action_at = updated_at "
            "WHERE kind = 'orphan_payment' AND state IN ('match_proposed', 'awaiting_cardholder') "
            "AND closed_at IS NULL AND next_action_at IS NULL"
        )
    )


def downgrade() -> None:
    pass  # the timers set stay; each fires once and sets the next, as new cases' do
