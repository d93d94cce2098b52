"""The content of a database in slugs, to compare two databases that number terms apart."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb.search import full_text, tokens

_QUERIES = ["adam", "velocity", "inertia", "decay", "flywheel", "gradient", "normalization"]

# Per table, the rows of every term in slugs instead of ids (a load renumbers terms).
_SNAPSHOT = {
    "alias": "SELECT t.slug, a.position, a.name FROM alias a JOIN term t ON t.id = a.term_id",
    "lookup_key": "SELECT k.key, t.slug, k.label, k.source FROM lookup_key k"
    " JOIN term t ON t.id = k.term_id",
    "reference": "SELECT t.slug, r.position, r.title FROM reference r"
    " JOIN term t ON t.id = r.term_id",
    "link_entry": "SELECT t.slug, e.position, o.slug, e.relation FROM link_entry e"
    " JOIN term t ON t.id = e.term_id JOIN term o ON o.id = e.target_id",
    "link": "SELECT s.slug, t.slug, l.relation FROM link l JOIN term s ON s.id = l.source_id"
    " JOIN term t ON t.id = l.target_id",
    "term": "SELECT t.slug, t.name, t.sort_name, c.slug, t.summary, t.body, t.digest, t.version"
    " FROM term t"
    " JOIN category c ON c.id = t.category_id",
}


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every table a load writes, in slugs, and the answers to a few searches."""
    with Session(engine) as session:
        tables = {
            name: sorted(tuple(row) for row in session.execute(text(sql)).all())
            for name, sql in _SNAPSHOT.items()
        }
        found = {q: [h.slug for h in full_text(session, tokens(q)).hits] for q in _QUERIES}
    return {**tables, "search": found}
