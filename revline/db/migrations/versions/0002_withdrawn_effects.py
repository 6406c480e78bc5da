"""withdrawn effects

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 05:00:00

Effects a playbook withdrew for good (a returned payout's deposit), so that an action of that
kind on that subject proposed or claimed after the withdrawal is never carried out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import revline.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "withdrawn_effects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("playbook", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=128), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("withdrawn_by", sa.String(length=128), nullable=False),
        sa.Column("withdrawn_at", revline.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", "kind", "playbook", name="uq_withdrawn_effects_effect"),
    )


def downgrade() -> None:
    op.drop_table("withdrawn_effects")
