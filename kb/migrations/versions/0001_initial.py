"""The schema as the first release created it: terms, categories, links, search index.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "term",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("sort_name", sa.String(length=120), nullable=False),
        sa.Column("initial", sa.String(length=1), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("demo", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["category.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_index(op.f("ix_term_category_id"), "term", ["category_id"], unique=False)
    op.create_index(op.f("ix_term_initial"), "term", ["initial"], unique=False)
    op.create_index(op.f("ix_term_kind"), "term", ["kind"], unique=False)
    op.create_index(op.f("ix_term_sort_name"), "term", ["sort_name"], unique=False)
    op.create_table(
        "alias",
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["term_id"], ["term.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term_id", "position"),
    )
    op.create_table(
        "link",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["term.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_id"], ["term.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id", "target_id"),
    )
    op.create_index("ix_link_target", "link", ["target_id"], unique=False)
    op.create_table(
        "lookup_key",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["term_id"], ["term.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_lookup_key_term_id"), "lookup_key", ["term_id"], unique=False)
    op.create_table(
        "reference",
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("venue", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("arxiv", sa.String(length=40), nullable=True),
        sa.Column("doi", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["term_id"], ["term.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term_id", "position"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        op.execute(
            "CREATE TABLE term_search ("
            " term_id INTEGER PRIMARY KEY REFERENCES term(id) ON DELETE CASCADE,"
            " document TSVECTOR NOT NULL,"
            " head TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_term_search_document ON term_search USING GIN (document)")
        op.execute(
            "CREATE INDEX ix_term_sort_name_trgm ON term USING GIN (sort_name public.gin_trgm_ops)"
        )
        op.execute('CREATE INDEX ix_lookup_key_prefix ON lookup_key (key COLLATE "C")')
    else:
        op.execute(
            "CREATE VIRTUAL TABLE term_fts USING fts5("
            "name, aliases, summary, body, tokenize='porter unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE term_search")
    else:
        op.execute("DROP TABLE term_fts")
    for table in ("reference", "lookup_key", "link", "alias", "term", "meta", "category"):
        op.drop_table(table)
