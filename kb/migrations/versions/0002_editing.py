"""Editing over the API: versions, each term's related list as written, and history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server defaults fill the rows already there; the application always sets both.
    for table in ("category", "term"):
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.add_column(
        "term", sa.Column("digest", sa.String(length=32), nullable=False, server_default="")
    )
    op.create_table(
        "link_entry",
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["term_id"], ["term.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_id"], ["term.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term_id", "position"),
    )
    op.create_index(op.f("ix_link_entry_target_id"), "link_entry", ["target_id"], unique=False)
    op.create_table(
        "term_revision",
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("slug", "version"),
    )
    # Which file listed a link was not stored before: each link becomes an entry of the term
    # it is stored under, which reads back (and exports) to the same links.
    op.execute(
        "INSERT INTO link_entry (term_id, position, target_id, relation)"
        " SELECT source_id, ROW_NUMBER() OVER (PARTITION BY source_id ORDER BY target_id) - 1,"
        " target_id, relation FROM link"
    )
    # Content loaded before this revision came from files and was never edited.
    op.execute(
        "INSERT INTO meta (key, value) SELECT 'loaded_files', value FROM meta"
        " WHERE key = 'data_version'"
    )


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key IN ('loaded_files', 'loaded_at')")
    op.drop_table("term_revision")
    op.drop_index(op.f("ix_link_entry_target_id"), table_name="link_entry")
    op.drop_table("link_entry")
    op.drop_column("term", "digest")
    for table in ("term", "category"):
        op.drop_column(table, "version")
