"""actions by effect

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 02:30:00

The actions of one effect (kind and subject, and the playbook that proposed them) are looked up
on every decision on PostgreSQL (``actions.lock_for_decision``), by every supersession and
withdrawal, and by the executor's claim: an index on them keeps those lookups off a scan of the
whole outbox, which a shadow-mode deployment only grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_actions_effect", "actions", ["kind", "subject", "playbook"])


def downgrade() -> None:
    op.drop_index("ix_actions_effect", table_name="actions")
