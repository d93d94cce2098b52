"""Term vectors for search by meaning (``kb.semantic``), keyed by the term's digest.

Revision ID: 0005_term_vectors
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_term_vectors"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "term_vector",
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", "part"),
    )


def downgrade() -> None:
    op.drop_table("term_vector")
