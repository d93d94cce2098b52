"""Search indexes that spare reading term bodies: ranking on SQLite, name prefixes on PostgreSQL.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Prefixes of names and aliases: the GIN index of the whole document cannot check
        # weights, so a prefix search through it rechecks every body word with that prefix
        # (170-240 ms per prefix at 100k terms; 23-44 ms through this one).
        op.execute("CREATE INDEX ix_term_search_head ON term_search USING GIN (head)")
    else:
        # What ranking and filtering read of each match, without the body: joining matches to
        # ``term`` by rowid reads a page of body text per match (a 45k-match query: 91 ms to
        # count through the table, 20 ms through this index, at 100k terms).
        op.execute("CREATE INDEX ix_term_search_rank ON term (id, category_id, kind, sort_name)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_term_search_head")
    else:
        op.execute("DROP INDEX ix_term_search_rank")
