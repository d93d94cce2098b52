"""Validated content -> database, all of it in one transaction.

A load replaces everything or nothing: readers see the old content until the commit, a failed
or killed load leaves the old content in place, and loading the same files twice is a no-op.
"""

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb import repository, search
from kb.content import Glossary, data_version, lookup_key, read_glossary
from kb.db import WRITE_LOCK
from kb.models import Alias, Category, Link, LookupKey, Reference, Term


def load(engine: Engine, glossary: Glossary, *, only_if_changed: bool = False) -> bool:
    """Replace the database content with ``glossary``; return whether anything was written."""
    with Session(engine) as session:
        session.connection(execution_options=WRITE_LOCK)
        repository.lock_for_write(session)
        if only_if_changed and repository.data_version(session) == glossary.version:
            return False
        repository.delete_content(session)
        _insert(session, glossary)
        session.flush()
        search.rebuild_index(session)
        repository.set_data_version(session, glossary.version)
        session.commit()
    return True


def sync(engine: Engine, root: Path) -> bool:
    """Load ``root`` if the database does not hold exactly its content yet (start-up path)."""
    with Session(engine) as session:
        if repository.data_version(session) == data_version(root):
            return False
    return load(engine, read_glossary(root), only_if_changed=True)


def _insert(session: Session, glossary: Glossary) -> None:
    categories = {
        c.slug: Category(slug=c.slug, name=c.name, description=c.description, position=i)
        for i, c in enumerate(glossary.categories)
    }
    session.add_all(categories.values())
    session.flush()
    category_ids = _ids(categories)
    terms = {
        t.slug: Term(
            slug=t.slug,
            name=t.name,
            sort_name=lookup_key(t.name),
            initial=lookup_key(t.name)[0],
            category_id=category_ids[t.category],
            kind=t.kind,
            summary=t.summary,
            body=t.body,
            demo=t.demo,
        )
        for t in glossary.terms
    }
    session.add_all(terms.values())
    session.flush()
    term_ids = _ids(terms)
    for t in glossary.terms:
        term_id = term_ids[t.slug]
        # The name labels a key it shares with the slug ('ReLU' rather than 'relu').
        labels = {lookup_key(t.slug): (t.slug, "slug")}
        labels |= {lookup_key(a): (a, "alias") for a in t.aliases}
        labels[lookup_key(t.name)] = (t.name, "name")
        session.add_all(
            LookupKey(key=key, term_id=term_id, label=label, source=source)
            for key, (label, source) in labels.items()
        )
        session.add_all(Alias(term_id=term_id, position=i, name=a) for i, a in enumerate(t.aliases))
        session.add_all(
            Reference(term_id=term_id, position=i, **r.model_dump())
            for i, r in enumerate(t.references)
        )
    session.add_all(
        Link(
            source_id=term_ids[link.source],
            target_id=term_ids[link.target],
            relation=link.relation.value,
        )
        for link in glossary.links
    )


def _ids(rows: Mapping[str, Category] | Mapping[str, Term]) -> dict[str, int]:
    """The database ids of rows just flushed, by slug."""
    ids = {slug: row.id for slug, row in rows.items()}
    missing = [slug for slug, row_id in ids.items() if row_id is None]
    if missing:
        raise RuntimeError(f"rows were not flushed: {missing}")
    return {slug: row_id for slug, row_id in ids.items() if row_id is not None}
