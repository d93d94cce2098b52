"""Validated content -> database, all of it in one transaction.

A load replaces everything or nothing: readers see the old content until the commit, a failed
or killed load leaves the old content in place, and loading the same files twice is a no-op.
Edits made over the API since the last load are never overwritten silently: ``sync`` (the
start-up path) refuses, and ``kb load`` is the explicit way to replace them with the files.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from kb import history, repository, search
from kb.content import Glossary, data_version, read_glossary
from kb.db import WRITE_LOCK
from kb.models import Alias, Category, Link, LinkEntry, LookupKey, Reference, Term
from kb.rules import lookup_key
from kb.schemas import TermIn


class UnexportedEdits(Exception):
    """The files changed, but so did the database (over the API) since it last loaded them."""


def load(
    engine: Engine,
    glossary: Glossary,
    *,
    only_if_changed: bool = False,
    discard_edits: bool = False,
) -> bool:
    """Replace the database content with ``glossary``; return whether anything was written.

    Raises ``UnexportedEdits`` if the database was edited over the API since its last load,
    unless ``discard_edits``.
    """
    with Session(engine) as session:
        session.connection(execution_options=WRITE_LOCK)
        repository.lock_for_write(session)
        current = repository.data_version(session)
        if only_if_changed and current == glossary.version:
            return False
        if not discard_edits and current != repository.loaded_files_version(session):
            raise UnexportedEdits(
                "the database was edited over the API since it last loaded files: keep the"
                " edits with `kb export` (then merge them into the files), or discard them"
                " with `kb load --discard-edits`"
            )
        versions = history.record_load(session, glossary.terms)
        repository.delete_content(session)
        _insert(session, glossary, versions)
        session.flush()
        search.rebuild_index(session)
        repository.set_data_version(session, glossary.version, loaded=True)
        session.commit()
    return True


def sync(engine: Engine, root: Path) -> bool:
    """Load ``root`` if its files changed since the database last loaded them (start-up path).

    Raises ``UnexportedEdits`` rather than overwrite changes made over the API since then.
    """
    files = data_version(root)
    with Session(engine) as session:
        if files in (repository.loaded_files_version(session), repository.data_version(session)):
            return False
    try:
        return load(engine, read_glossary(root), only_if_changed=True)
    except UnexportedEdits as exc:
        raise UnexportedEdits(f"the files in {root} changed, but {exc}") from None


def _insert(session: Session, glossary: Glossary, versions: dict[str, history.Stamp]) -> None:
    # Plain executemany inserts with ids assigned here (the tables were just emptied): ORM
    # objects or RETURNING would cost most of the time of a large load.
    category_ids = {c.slug: i for i, c in enumerate(glossary.categories, start=1)}
    term_ids = {t.slug: i for i, t in enumerate(glossary.terms, start=1)}
    categories = [
        {
            "id": i,
            "slug": c.slug,
            "name": c.name,
            "description": c.description,
            "position": i,
            "version": 1,
        }
        for i, c in enumerate(glossary.categories, start=1)
    ]
    terms = []
    parts: dict[type[SQLModel], list[dict[str, Any]]] = {
        LookupKey: [],
        Alias: [],
        Reference: [],
        LinkEntry: [],
    }
    for t in glossary.terms:
        term_id = term_ids[t.slug]
        terms.append(
            {
                "id": term_id,
                "slug": t.slug,
                "name": t.name,
                "sort_name": lookup_key(t.name),
                "initial": lookup_key(t.name)[0],
                "category_id": category_ids[t.category],
                "kind": t.kind,
                "summary": t.summary,
                "body": t.body,
                "demo": t.demo,
                "version": versions[t.slug].version,
                "digest": versions[t.slug].digest,
            }
        )
        for model, rows in term_parts(t, term_id, term_ids).items():
            parts[model] += rows
    links = [
        {
            "source_id": term_ids[link.source],
            "target_id": term_ids[link.target],
            "relation": link.relation.value,
        }
        for link in glossary.links
    ]
    tables: list[tuple[type[SQLModel], list[dict[str, Any]]]] = [
        (Category, categories),
        (Term, terms),
        *parts.items(),
        (Link, links),
    ]
    for model, rows in tables:
        if rows:
            session.execute(model.__table__.insert(), rows)  # type: ignore[attr-defined]
    repository.restart_id_sequences(session)


def term_parts(
    term: TermIn, term_id: int, ids: Mapping[str, int]
) -> dict[type[SQLModel], list[dict[str, Any]]]:
    """The rows that hang off a term: the keys it is looked up by, its aliases, references and
    related list (``ids``: the ids of the terms that list names)."""
    # The name labels a key it shares with the slug ('ReLU' rather than 'relu').
    labels = {lookup_key(term.slug): (term.slug, "slug")}
    labels |= {lookup_key(a): (a, "alias") for a in term.aliases}
    labels[lookup_key(term.name)] = (term.name, "name")
    return {
        LookupKey: [
            {"key": key, "term_id": term_id, "label": label, "source": source}
            for key, (label, source) in labels.items()
        ],
        Alias: [{"term_id": term_id, "position": i, "name": a} for i, a in enumerate(term.aliases)],
        Reference: [
            {"term_id": term_id, "position": i, **r.model_dump()}
            for i, r in enumerate(term.references)
        ],
        LinkEntry: [
            {
                "term_id": term_id,
                "position": i,
                "target_id": ids[link.term],
                "relation": link.relation.value,
            }
            for i, link in enumerate(term.related)
        ],
    }
