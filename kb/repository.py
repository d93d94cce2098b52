"""Queries over the glossary tables: the one place that speaks SQL."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Executable,
    Row,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    text,
    update,
)
from sqlmodel import Session, col, select

from kb import search
from kb.db import WRITER_LOCK_KEY, insert_rows, lock_schema
from kb.models import Alias, Category, Link, LinkEntry, LookupKey, Meta, Reference, Term
from kb.relations import Relation, canonical_link
from kb.rules import fold_key, lookup_key
from kb.schemas import (
    API_PREFIX,
    CategoryDetail,
    CategoryRef,
    CategorySummary,
    DemoLink,
    LinkIn,
    ReferenceModel,
    RelatedTerm,
    TermDetail,
    TermIn,
    TermLinks,
    TermPage,
    TermSummary,
)
from kb.watch import CHANNEL

DATA_VERSION = "data_version"
LOADED_FILES = "loaded_files"
LOADED_AT = "loaded_at"


# --- writing ---------------------------------------------------------------------------------


def lock_for_write(session: Session) -> None:
    """Serialise writers. SQLite already holds its write lock (``kb.db.WRITE_LOCK``)."""
    if session.get_bind().dialect.name == "postgresql":
        lock_schema(session, WRITER_LOCK_KEY)


def delete_content(session: Session) -> None:
    search.clear_index(session)
    for table in (LookupKey, Alias, LinkEntry, Link, Reference, Term, Category):
        session.execute(delete(table))


def category_rows(session: Session) -> list[tuple[str, str, str]]:
    """(slug, name, description) of every category, in order."""
    rows = session.execute(
        text("SELECT slug, name, description FROM category ORDER BY position")
    ).all()
    return [(slug, name, description) for slug, name, description in rows]


def category_ids(session: Session) -> dict[str, int]:
    return {slug: i for slug, i in session.exec(select(Category.slug, Category.id)) if i}


def term_stamps(session: Session) -> dict[str, tuple[int, str]]:
    """The id and record digest of every term, by slug."""
    rows = session.exec(select(Term.slug, Term.id, Term.digest))
    return {slug: (term_id, digest) for slug, term_id, digest in rows if term_id is not None}


def delete_term_rows(session: Session, removed: Sequence[int], edited: Sequence[int]) -> None:
    """Delete the terms ``removed`` and every row hanging off them or off ``edited`` (their
    aliases, keys, references, related lists and links), for a load to write them anew. Does
    not count on foreign-key cascades: a load on SQLite turns the checks off."""
    ids = [*removed, *edited]
    if not ids:
        return
    for table in (LookupKey, Alias, LinkEntry, Reference):
        session.execute(delete(table).where(col(table.term_id).in_(ids)))
    session.execute(
        delete(Link).where(or_(col(Link.source_id).in_(ids), col(Link.target_id).in_(ids)))
    )
    # Edited terms keep their rows (a load updates them): on PostgreSQL deleting one would
    # cascade to the rows of the other terms that link to it.
    if removed:
        session.execute(delete(Term).where(col(Term.id).in_(removed)))


def update_rows(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Set ``columns`` (the first one the row's key) of each row of ``rows``: tuples in
    ``columns`` order, in one prepared statement."""
    if not rows:
        return
    key, *rest = columns
    assignments = ", ".join(f"{c} = :{c}" for c in rest)
    session.execute(
        text(f"UPDATE {table} SET {assignments} WHERE {key} = :{key}"),
        [dict(zip(columns, row, strict=True)) for row in rows],
    )


def derive_links(session: Session, term_ids: Sequence[int]) -> None:
    """Write the links of ``term_ids`` (none stored yet) from the related lists that name
    them or that they hold: one link per pair, in its canonical direction."""
    if not term_ids:
        return
    entries = session.execute(
        text(
            "SELECT s.slug, e.relation, t.slug, s.id, t.id FROM link_entry e"
            " JOIN term s ON s.id = e.term_id JOIN term t ON t.id = e.target_id"
            " WHERE e.term_id IN :ids OR e.target_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": list(term_ids)},
    ).all()
    id_of = {slug: i for slug, _, _, i, _ in entries} | {slug: i for _, _, slug, _, i in entries}
    stored = {canonical_link(a, Relation(relation), b) for a, relation, b, _, _ in entries}
    rows = [(id_of[a], id_of[b], relation.value) for a, relation, b in sorted(stored)]
    insert_rows(session, "link", ("source_id", "target_id", "relation"), rows)


def restart_id_sequences(session: Session) -> None:
    """After rows were inserted with explicit ids, let PostgreSQL's sequences carry on after
    them (SQLite's rowids always do)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ("category", "term"):
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        )


def _set_meta(session: Session, key: str, value: str, *, notify: bool = False) -> None:
    """``notify``: also tell the other PostgreSQL processes, at commit (``kb.watch``)."""
    # One statement where the key exists (every write moves the data version on), the
    # notification included; Core statements built once, sent at once.
    connection = session.connection()
    values = {"meta_key": key, "meta_value": value}
    if not connection.execute(_UPDATE_META[notify], values).all():
        connection.execute(insert(Meta), {"key": key, "value": value})
        if notify:
            connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


_UPDATE_META = {
    notify: update(Meta)
    .where(col(Meta.key) == bindparam("meta_key"))
    .values(value=bindparam("meta_value"))
    .returning(func.pg_notify(CHANNEL, "") if notify else col(Meta.key))
    for notify in (False, True)
}


def set_data_version(session: Session, version: str, *, loaded: bool = False) -> None:
    """Record that the content changed; ``loaded``: to that of files with this version.

    On PostgreSQL, the other processes' caches hear of it at commit (``kb.watch``)."""
    notify = session.get_bind().dialect.name == "postgresql"
    _set_meta(session, DATA_VERSION, version, notify=notify)
    if loaded:
        _set_meta(session, LOADED_FILES, version)
        _set_meta(session, LOADED_AT, datetime.now(UTC).isoformat())


# --- reading ---------------------------------------------------------------------------------


def data_version(session: Session) -> str | None:
    return session.exec(select(Meta.value).where(Meta.key == DATA_VERSION)).first()


def loaded_files_version(session: Session) -> str | None:
    """The data version of the files last loaded (``data_version`` moves on with each edit)."""
    return session.exec(select(Meta.value).where(Meta.key == LOADED_FILES)).first()


def loaded_at(session: Session) -> datetime | None:
    value = session.exec(select(Meta.value).where(Meta.key == LOADED_AT)).first()
    return None if value is None else datetime.fromisoformat(value)


def count_terms(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Term)).one()


def find_term(session: Session, name: str) -> Term | None:
    """A term by its slug, name or any alias, as ``fold_key`` compares them (case, spaces,
    hyphens, underscores, apostrophes and a plural "s" do not count)."""
    statement = (
        select(Term)
        .join(LookupKey, col(LookupKey.term_id) == col(Term.id))
        .where(LookupKey.key == fold_key(name))
    )
    return session.exec(statement).first()


def names_a_term(session: Session, name: str) -> bool:
    """Whether ``name`` is a term's slug, name or alias, whatever the case (``find_term``
    without reading the term)."""
    statement = select(LookupKey.term_id).where(LookupKey.key == fold_key(name))
    return session.exec(statement).first() is not None


def closest_slugs(session: Session, name: str, limit: int = 5) -> list[str]:
    """Slugs of the terms whose slug, name or alias is most like ``name``, best first."""
    return [slug for _, slug, _ in search.closest(session, name, data_version(session), limit)]


def _summary(term: Term, category_slug: str) -> TermSummary:
    return TermSummary(
        slug=term.slug,
        name=term.name,
        summary=term.summary,
        category=category_slug,
        kind="algorithm" if term.kind == "algorithm" else "concept",
    )


def term_summary(session: Session, term: Term) -> TermSummary:
    return _summary(term, session.get_one(Category, term.category_id).slug)


def list_terms(
    session: Session,
    *,
    category: str | None = None,
    kind: str | None = None,
    letter: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> TermPage:
    statement = select(Term, Category.slug).join(
        Category, col(Category.id) == col(Term.category_id)
    )
    if category is not None:
        statement = statement.where(Category.slug == category)
    if kind is not None:
        statement = statement.where(Term.kind == kind)
    if letter is not None:
        statement = statement.where(Term.initial == letter.casefold())
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    page = session.exec(
        statement.order_by(col(Term.sort_name), col(Term.slug)).limit(limit).offset(offset)
    ).all()
    return TermPage(
        items=[_summary(term, cat) for term, cat in page], total=total, limit=limit, offset=offset
    )


_RELATION_ORDER = {relation: i for i, relation in enumerate(Relation)}


# The terms linked to {term} in either direction: the relation as stored, whether the link
# points at {term}, and the linked terms' columns only (whole rows would read their bodies).
_LINKED_COLUMNS = "l.relation, l.target_id = {term}, t.slug, t.name, t.summary"
_LINKED = (
    "FROM link l JOIN term t ON t.id = CASE WHEN l.source_id = {term} THEN l.target_id"
    " ELSE l.source_id END WHERE l.source_id = {term} OR l.target_id = {term}"
)
_RELATED_TERMS = text(f"SELECT {_LINKED_COLUMNS} {_LINKED}".format(term=":id"))


def related_terms(
    session: Session, term_id: int, relation: Relation | None = None
) -> list[RelatedTerm]:
    """Every term linked to ``term_id``, with the relation as seen from ``term_id``."""
    return _related(session.execute(_RELATED_TERMS, {"id": term_id}).all(), relation)


def _related(rows: Sequence[Sequence[Any]], relation: Relation | None = None) -> list[RelatedTerm]:
    """Rows of ``_LINKED_COLUMNS`` as ``related_terms`` gives them."""
    seen_from_here = [
        (Relation(r).inverse if incoming else Relation(r), slug, name, summary)
        for r, incoming, slug, name, summary in rows
    ]
    items = [
        RelatedTerm(slug=slug, name=name, summary=summary, relation=r)
        for r, slug, name, summary in seen_from_here
        if relation is None or r is relation
    ]
    return sorted(items, key=lambda item: (_RELATION_ORDER[item.relation], item.name.casefold()))


def term_detail(
    session: Session,
    term: Term,
    source: TermIn | None = None,
    related: list[RelatedTerm] | None = None,
) -> TermDetail:
    """The API's record of ``term``; ``source`` and ``related``: its ``term_source`` and
    ``related_terms``, if the caller has them."""
    assert term.id is not None
    source = source or term_source(session, term)
    category = session.info.get(_CATEGORIES, {}).get(term.category_id)
    if category is None:
        row = session.get_one(Category, term.category_id)
        category = CategoryRef(slug=row.slug, name=row.name)
    href = f"{API_PREFIX}/terms/{term.slug}"
    demo_href = f"{href}/demo" if term.demo else None
    return TermDetail(
        slug=term.slug,
        version=term.version,
        name=term.name,
        aliases=source.aliases,
        summary=term.summary,
        body=term.body,
        category=category,
        kind=source.kind,
        related=related_terms(session, term.id) if related is None else related,
        references=source.references,
        demo=DemoLink(slug=term.demo, href=demo_href) if term.demo and demo_href else None,
        links=TermLinks(self=href, related=f"{href}/related", demo=demo_href),
    )


def term_source(session: Session, term: Term) -> TermIn:
    """The term as its data file gives it: front matter and body, its own related list."""
    assert term.id is not None
    return term_sources(session, [term.id])[0]


_CATEGORIES = "kb.repository.categories"
"""The ``Session.info`` key of the categories ``term_sources`` read, for ``term_detail``."""

# A term's record in one statement: its row, its category, and its lists as JSON arrays of
# [position, ...] rows. Each database names the JSON functions its own way: (make an array,
# aggregate rows into one, read a JSON column as JSON: SQLite keeps it as text).
_JSON_FUNCTIONS = {
    "sqlite": ("json_array", "json_group_array", "json"),
    "postgresql": ("json_build_array", "json_agg", ""),
}
_LISTS = (
    "(SELECT {agg}({array}(a.position, a.name)) FROM alias a WHERE a.term_id = term.id)",
    "(SELECT {agg}({array}(r.position, r.title, {json}(r.authors), r.year, r.venue, r.url,"
    " r.arxiv, r.doi)) FROM reference r WHERE r.term_id = term.id)",
    "(SELECT {agg}({array}(e.position, e.relation, o.slug)) FROM link_entry e"
    " JOIN term o ON o.id = e.target_id WHERE e.term_id = term.id)",
)
_RELATED_LIST = "(SELECT {agg}({array}(" + _LINKED_COLUMNS + ")) " + _LINKED + ")"
"""Its ``related_terms``, as rows of ``_LINKED_COLUMNS``."""


@cache
def _records_statement(dialect: str, *, by_key: bool) -> Executable:
    """The records of the terms ``:ids``, or of the one that ``:key`` names and its
    ``related_terms``; built once."""
    array, agg, as_json = _JSON_FUNCTIONS[dialect]
    parts = (*_LISTS, _RELATED_LIST) if by_key else _LISTS
    lists: list[ColumnClause[Any]] = [
        literal_column(sql.format(array=array, agg=agg, json=as_json, term="term.id"))
        for sql in parts
    ]
    statement = select(Term, Category.slug, Category.name, *lists).join(
        Category, col(Category.id) == col(Term.category_id)
    )
    if by_key:
        return statement.join(LookupKey, col(LookupKey.term_id) == col(Term.id)).where(
            col(LookupKey.key) == bindparam("key")
        )
    return statement.where(col(Term.id).in_(bindparam("ids", expanding=True)))


def _json_rows(rows: Any) -> list[list[Any]]:
    """A JSON array of rows of ``_records_statement``: text from SQLite, parsed already from
    PostgreSQL, which gives NULL for no rows."""
    return json.loads(rows) if isinstance(rows, str) else rows or []


def _positioned(rows: Any) -> list[list[Any]]:
    """A JSON array of ``_LISTS`` in position order: neither database promises the order of
    an aggregate."""
    return sorted(_json_rows(rows))


def _source(session: Session, row: Row[Any]) -> TermIn:
    """A row of ``_records_statement`` as its data file gives it."""
    term, category, category_name, aliases, references, related = tuple(row)[:6]
    session.info.setdefault(_CATEGORIES, {})[term.category_id] = CategoryRef(
        slug=category, name=category_name
    )
    return TermIn(
        slug=term.slug,
        name=term.name,
        aliases=[alias for _, alias in _positioned(aliases)],
        category=category,
        kind="algorithm" if term.kind == "algorithm" else "concept",
        summary=term.summary,
        related=[
            LinkIn(term=target, relation=Relation(relation))
            for _, relation, target in _positioned(related)
        ],
        references=[
            ReferenceModel(
                title=title, authors=authors, year=year, venue=venue, url=url, arxiv=arxiv, doi=doi
            )
            for _, title, authors, year, venue, url, arxiv, doi in _positioned(references)
        ],
        demo=term.demo,
        body=term.body,
    )


def term_sources(session: Session, ids: Sequence[int]) -> list[TermIn]:
    """``term_source`` of each of ``ids``, in that order, in one statement for all of them."""
    statement = _records_statement(session.get_bind().dialect.name, by_key=False)
    rows = session.execute(statement, {"ids": list(ids)}).all()
    found = {row[0].id: _source(session, row) for row in rows}
    return [found[i] for i in ids]


def find_term_source(session: Session, name: str) -> tuple[Term, TermIn, list[RelatedTerm]] | None:
    """``find_term``, and the ``term_source`` and ``related_terms`` of what it finds, in one
    statement."""
    statement = _records_statement(session.get_bind().dialect.name, by_key=True)
    row = session.execute(statement, {"key": fold_key(name)}).first()
    if row is None:
        return None
    return row[0], _source(session, row), _related(_json_rows(row[-1]))


def find_category(session: Session, slug: str) -> Category | None:
    return session.exec(select(Category).where(Category.slug == lookup_key(slug))).first()


def _term_counts(session: Session) -> dict[int, int]:
    rows = session.exec(select(Term.category_id, func.count()).group_by(col(Term.category_id)))
    return dict(rows.all())


def list_categories(session: Session) -> list[CategorySummary]:
    counts = _term_counts(session)
    categories = session.exec(select(Category).order_by(col(Category.position))).all()
    return [_category_summary(c, counts) for c in categories]


def _category_summary(category: Category, counts: dict[int, int]) -> CategorySummary:
    assert category.id is not None
    return CategorySummary(
        slug=category.slug,
        name=category.name,
        description=category.description,
        term_count=counts.get(category.id, 0),
    )


def category_detail(session: Session, category: Category) -> CategoryDetail:
    terms: Sequence[Term] = session.exec(
        select(Term)
        .where(Term.category_id == category.id)
        .order_by(col(Term.sort_name), col(Term.slug))
    ).all()
    summary = _category_summary(category, {category.id or 0: len(terms)})
    return CategoryDetail(
        **summary.model_dump(),
        version=category.version,
        terms=[_summary(t, category.slug) for t in terms],
    )


def category_slugs(session: Session) -> list[str]:
    return list(session.exec(select(Category.slug).order_by(col(Category.position))).all())
