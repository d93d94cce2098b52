"""Validated content -> database, all of it in one transaction.

A load replaces everything or nothing: readers see the old content until the commit, a failed
or killed load leaves the old content in place, and loading the same files twice is a no-op.
A load that changes little writes just that (``_load_changes``); one that replaces everything
refills the tables on SQLite, and on PostgreSQL builds fresh tables beside the live ones and
swaps them in at the commit (``kb.swap``).
Edits made over the API since the last load are never overwritten silently: ``sync`` (the
start-up path) refuses, and ``kb load`` is the explicit way to replace them with the files.
"""

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb import history, repository, search, swap
from kb.content import Glossary, data_version, read_glossary
from kb.db import BULK_LOAD, insert_rows
from kb.rules import fold_key, lookup_key
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
        session.connection(execution_options=BULK_LOAD)
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
        if not _load_changes(session, glossary, versions):
            _replace_all(session, glossary, versions)
        repository.set_data_version(session, glossary.version, loaded=True)
        session.commit()
    return True


def _replace_all(session: Session, glossary: Glossary, versions: dict[str, history.Stamp]) -> None:
    """Replace every row of content with ``glossary``'s, in ``session``'s transaction."""
    if session.get_bind().dialect.name == "sqlite":
        repository.delete_content(session)
        _insert(session, glossary, versions)
        session.flush()
        search.rebuild_index(session)
        return
    try:
        _insert(session, glossary, versions)
        swap.put_in_place(session)
    except BaseException:
        session.rollback()  # before dropping: the swap may hold the tables
        # If even that fails (the server went away), the next load drops them.
        with suppress(Exception):
            swap.discard(swap.engine_of(session))
        raise
    repository.restart_id_sequences(session)


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


_CATEGORY_COLUMNS = ("id", "slug", "name", "description", "position", "version")
TERM_RECORD_COLUMNS = (
    "name", "sort_name", "initial", "category_id", "kind", "summary", "body", "demo",
)  # fmt: skip
"""The columns of a term's row that its record decides, in ``term_record_values`` order."""
_TERM_COLUMNS = ("id", "slug", *TERM_RECORD_COLUMNS, "version", "digest")
_LINK_COLUMNS = ("source_id", "target_id", "relation")
PART_COLUMNS = {
    "lookup_key": ("key", "term_id", "label", "source"),
    "alias": ("term_id", "position", "name"),
    "reference": (
        "term_id", "position", "title", "authors", "year", "venue", "url", "arxiv", "doi",
    ),
    "link_entry": ("term_id", "position", "target_id", "relation"),
}  # fmt: skip
"""The tables of the rows ``term_parts`` gives, and their columns in order."""


def _insert(session: Session, glossary: Glossary, versions: dict[str, history.Stamp]) -> None:
    """Write every row of ``glossary``: into the emptied tables on SQLite, into fresh tables
    beside the live ones on PostgreSQL (``kb.swap``)."""
    rows = _content_rows(glossary, versions)
    if session.get_bind().dialect.name == "postgresql":
        swap.build(session, rows)
        return
    for table, (columns, values) in rows.items():
        insert_rows(session, table, columns, values)


Rows = dict[str, tuple[Sequence[str], Iterable[tuple[Any, ...]]]]
"""Table -> (columns, rows), in an order that inserts referenced rows first."""


def _content_rows(glossary: Glossary, versions: dict[str, history.Stamp]) -> Rows:
    """Every row of ``glossary``; the categories' and terms' as lists, the rest made while
    they are inserted (on PostgreSQL, while other connections compute the search entries).

    Ids are assigned here (the rows replace all there are), and rows are plain tuples handed
    to the driver: ORM objects, RETURNING or SQLAlchemy's parameter handling would cost most
    of the time of a large load."""
    category_ids = {c.slug: i for i, c in enumerate(glossary.categories, start=1)}
    term_ids = {t.slug: i for i, t in enumerate(glossary.terms, start=1)}
    categories = [
        (i, c.slug, c.name, c.description, i, 1) for i, c in enumerate(glossary.categories, start=1)
    ]
    terms = [
        (
            term_ids[t.slug],
            t.slug,
            *term_record_values(t, category_ids[t.category]),
            versions[t.slug].version,
            versions[t.slug].digest,
        )
        for t in glossary.terms
    ]

    def parts(table: str) -> Iterator[tuple[Any, ...]]:
        for t in glossary.terms:
            yield from term_parts(t, term_ids[t.slug], term_ids, (table,))[table]

    links = (
        (term_ids[link.source], term_ids[link.target], link.relation.value)
        for link in glossary.links
    )
    return {
        "category": (_CATEGORY_COLUMNS, categories),
        "term": (_TERM_COLUMNS, terms),
        **{table: (PART_COLUMNS[table], parts(table)) for table in PART_COLUMNS},
        "link": (_LINK_COLUMNS, links),
    }


INCREMENTAL_SHARE = 0.1
"""A load that changes (adds, edits or removes) less than this share of the terms, and no
category, rewrites just those terms; a larger one (or any, at 0) replaces everything."""


def _load_changes(session: Session, glossary: Glossary, versions: dict[str, history.Stamp]) -> bool:
    """Write only what ``glossary`` changes, if that is little (``INCREMENTAL_SHARE``): the
    rows of the terms it adds, edits or removes, the links that touch them and their search
    entries; other terms keep their rows (ids included). Return False, writing nothing, if
    it changes too much for that: then the caller replaces everything.

    At 100k terms a full load takes 30 s on SQLite and minutes on PostgreSQL, where ten
    edited files change ten terms.
    """
    categories = [(c.slug, c.name, c.description) for c in glossary.categories]
    if categories != repository.category_rows(session):
        return False
    current = repository.term_stamps(session)  # slug -> (id, digest)
    changed = [
        t for t in glossary.terms if current.get(t.slug, (0, ""))[1] != versions[t.slug].digest
    ]
    removed = current.keys() - {t.slug for t in glossary.terms}
    if len(changed) + len(removed) >= INCREMENTAL_SHARE * max(len(current), len(glossary.terms)):
        return False
    ids = {slug: term_id for slug, (term_id, _) in current.items()}
    next_id = max(ids.values(), default=0) + 1
    for term in changed:
        if term.slug not in ids:
            ids[term.slug] = next_id
            next_id += 1
    gone = [ids[slug] for slug in removed]
    edited = [ids[t.slug] for t in changed if t.slug in current]
    affected = [*gone, *edited, *(ids[t.slug] for t in changed if t.slug not in current)]
    repository.delete_term_rows(session, gone, edited)
    category_ids = repository.category_ids(session)
    rows = [
        (
            ids[t.slug],
            t.slug,
            *term_record_values(t, category_ids[t.category]),
            versions[t.slug].version,
            versions[t.slug].digest,
        )
        for t in changed
    ]
    insert_rows(session, "term", _TERM_COLUMNS, [row for row in rows if row[1] not in current])
    repository.update_rows(
        session, "term", _TERM_COLUMNS, [row for row in rows if row[1] in current]
    )
    parts: dict[str, list[tuple[Any, ...]]] = {table: [] for table in PART_COLUMNS}
    for t in changed:
        for table, part in term_parts(t, ids[t.slug], ids).items():
            parts[table] += part
    for table, part in parts.items():
        insert_rows(session, table, PART_COLUMNS[table], part)
    repository.derive_links(session, affected)
    repository.restart_id_sequences(session)
    session.flush()
    search.update_index(session, affected)
    return True


def term_record_values(term: TermIn, category_id: int) -> tuple[Any, ...]:
    """The values of ``TERM_RECORD_COLUMNS`` for ``term`` (an editor's write uses these too)."""
    sort_name = lookup_key(term.name)
    return (
        term.name, sort_name, sort_name[0], category_id, term.kind, term.summary, term.body,
        term.demo,
    )  # fmt: skip


def term_parts(
    term: TermIn,
    term_id: int,
    ids: Mapping[str, int],
    tables: Collection[str] = PART_COLUMNS.keys(),
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows that hang off a term, as tuples in ``PART_COLUMNS`` order: the keys it is
    looked up by, its aliases, references and related list (``ids``: the ids of the terms
    that list names); of ``tables`` only, if given."""
    parts: dict[str, list[tuple[Any, ...]]] = {}
    if "lookup_key" in tables:
        keys = lookup_keys(term.slug, term.name, term.aliases)
        parts["lookup_key"] = [
            (key, term_id, label, source) for key, (label, source) in keys.items()
        ]
    if "alias" in tables:
        parts["alias"] = [(term_id, i, a) for i, a in enumerate(term.aliases)]
    if "reference" in tables:
        parts["reference"] = [
            (term_id, i, r.title, json.dumps(r.authors), r.year, r.venue, r.url, r.arxiv, r.doi)
            for i, r in enumerate(term.references)
        ]
    if "link_entry" in tables:
        parts["link_entry"] = [
            (term_id, i, ids[link.term], link.relation.value) for i, link in enumerate(term.related)
        ]
    return parts


def lookup_keys(slug: str, name: str, aliases: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The keys a term is found by (``fold_key``), each with the text that gives it and where
    that text comes from (slug, name or alias)."""
    # The name labels a key it shares with the slug ('ReLU' rather than 'relu'), and an
    # alias one it shares with the slug ('k-NN' rather than 'k-nn').
    labels = {fold_key(slug): (slug, "slug")}
    labels |= {fold_key(a): (a, "alias") for a in aliases}
    labels[fold_key(name)] = (name, "name")
    return labels


def insert_term_parts(
    session: Session,
    term: TermIn,
    term_id: int,
    ids: Mapping[str, int],
    tables: Collection[str] = PART_COLUMNS.keys(),
) -> None:
    """Write ``term_parts`` (an editor's write of one term uses this too), of ``tables`` only
    if given."""
    for table, rows in term_parts(term, term_id, ids, tables).items():
        insert_rows(session, table, PART_COLUMNS[table], rows)
