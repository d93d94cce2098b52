"""Alembic's entry point: migrations run on the connection ``kb.db.migrate`` hands over."""

from alembic import context
from sqlmodel import SQLModel

from kb import models  # noqa: F401  (registers the tables on SQLModel.metadata)

# Structures the backends' search code creates by hand (FTS5 tables and their shadow tables,
# tsvector and trigram indexes) are not in the models; comparing them would only report noise.
_UNMODELLED_PREFIXES = (
    "term_fts",
    "term_search",
    "ix_term_search",
    "ix_term_sort_name_trgm",
    "ix_lookup_key_prefix",
)


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    if name is None or type_ not in ("table", "index"):
        return True
    return not name.startswith(_UNMODELLED_PREFIXES)


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    include_name=_include_name,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
