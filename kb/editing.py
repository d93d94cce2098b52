"""Writes to single terms and categories: validated like files, versioned, recorded.

Every write runs in one transaction that also updates the derived tables (links, lookup keys,
the search index), the term's history and the data version, so a reader sees all of a change
or none of it. Writers take turns (``repository.lock_for_write``), and a write names the
version it was based on: ``UPDATE ... WHERE version = :expected`` lets exactly one of two
editors of the same version win.
"""

import secrets
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Update, bindparam, delete, func, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from kb import history, loader, repository, rules, search
from kb.db import WRITE_LOCK
from kb.models import Alias, Category, Link, LinkEntry, LookupKey, Reference, Term, TermRevision
from kb.relations import Relation, canonical_link
from kb.rules import Loc, fold_key, format_loc
from kb.schemas import CategoryIn, TermIn

# --- errors ----------------------------------------------------------------------------------


@dataclass
class Invalid(Exception):
    """422: the record breaks a rule; each problem is (location in the body, message)."""

    problems: list[tuple[Loc, str]]


@dataclass
class Conflict(Exception):
    """409: the write clashes with what other records hold."""

    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stale(Exception):
    """412: the record changed since the version the write was based on."""

    current_version: int


# --- transactions ----------------------------------------------------------------------------


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction holds the write lock; commit it to publish the change."""
    with Session(engine) as session:
        session.connection(execution_options=WRITE_LOCK)
        repository.lock_for_write(session)
        yield session


def _publish(session: Session) -> None:
    """Move the data version on, so every worker's read cache lets go of the old answers."""
    repository.set_data_version(session, "edit-" + secrets.token_hex(8))


# --- terms -----------------------------------------------------------------------------------


def create_term(session: Session, term: TermIn, actor: str) -> Term:
    existing = repository.find_term(session, term.slug)
    if existing is not None:
        raise Conflict(
            f"term {term.slug!r} already exists"
            + ("" if existing.slug == term.slug else f" as a name or alias of {existing.slug!r}")
            + f"; change it with PUT or PATCH /api/v1/terms/{existing.slug}",
            {"slug": existing.slug},
        )
    last = history.latest_revisions(session, [term.slug]).get(term.slug)
    version = last.version + 1 if last else 1
    targets = _check(session, term, row_id=None)
    category_id = _category_id(session, term.category)
    assert category_id is not None  # _check refused an unknown category
    row = Term(
        slug=term.slug,
        **_term_columns(term, category_id),
        version=version,
        digest=history.digest_of(term),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    _write_parts(session, row.id, term, targets, set(loader.PART_COLUMNS), _EVERYTHING)
    _after_change(session, row, term, actor, "create")
    return row


def replace_term(
    session: Session,
    row: Term,
    term: TermIn,
    expected: int,
    actor: str,
    old: TermIn | None = None,
) -> Term:
    """Replace ``row``'s record with ``term``; ``old``: its current record (``term_source``),
    if the caller has it. Only what changed is rewritten and checked again: the rules that
    hold between the unchanged parts and other terms held before, and every write since kept
    them (a PATCH of a summary went through 36 statements, 11 now)."""
    if term.slug != row.slug:
        raise Invalid([(("slug",), f"must stay {row.slug!r}: a term's slug cannot change")])
    assert row.id is not None
    old = old or repository.term_source(session, row)
    changed = _changed_parts(old, term)
    category_id = (
        row.category_id if "category" not in changed else _category_id(session, term.category)
    )
    # The claim writes the new columns too (one statement, not two); an unknown category
    # claims only, so that a stale write is still a 412, and _check refuses it below.
    columns: dict[str, Any] = {}
    if category_id is not None:
        columns = _term_columns(term, category_id) | {"digest": history.digest_of(term)}
    recorded = _claim(session, Term, row.id, expected, columns)
    targets = _check(session, term, row_id=row.id, changed=changed)
    if not recorded:
        _remember_base(session, row, expected, old)
    # What the row holds now, without reading it back.
    for name, value in (*columns.items(), ("version", expected + 1)):
        set_committed_value(row, name, value)
    tables = {name for name in _PART_TABLES if name in changed}
    for name in tables:
        table = _PART_TABLES[name]
        session.execute(delete(table).where(col(table.term_id) == row.id))
    session.flush()
    _write_parts(session, row.id, term, targets, tables, changed)
    _after_change(session, row, term, actor, "update")
    return row


_PART_TABLES: dict[str, type[Alias | LookupKey | Reference | LinkEntry]] = {
    "alias": Alias,
    "lookup_key": LookupKey,
    "reference": Reference,
    "link_entry": LinkEntry,
}
"""The tables of ``loader.PART_COLUMNS``."""


def _changed_parts(old: TermIn, new: TermIn) -> set[str]:
    """What a write from ``old`` to ``new`` changes: the tables of ``loader.PART_COLUMNS``
    whose rows differ, ``category``, and ``search`` if the search index must follow."""
    changed = set()
    if (old.slug, old.name, old.aliases) != (new.slug, new.name, new.aliases):
        changed |= {"alias", "lookup_key", "search"}
    if old.references != new.references:
        changed.add("reference")
    if old.related != new.related:
        changed.add("link_entry")
    if old.category != new.category:
        changed.add("category")
    if (old.summary, old.body) != (new.summary, new.body):
        changed.add("search")
    return changed


def delete_term(session: Session, row: Term, expected: int, actor: str, cascade: bool) -> list[str]:
    """Delete ``row``; return the slugs of the terms whose lists lost a link to it.

    Other terms' links to it make this a ``Conflict`` unless ``cascade`` removes them too
    (each of those terms gets a new version and a history entry of its own).
    """
    assert row.id is not None
    linking = session.exec(
        select(Term)
        .join(LinkEntry, col(LinkEntry.term_id) == col(Term.id))
        .where(LinkEntry.target_id == row.id)
        .order_by(col(Term.slug))
    ).all()
    _claim(session, Term, row.id, expected)
    if linking and not cascade:
        slugs = [t.slug for t in linking]
        raise Conflict(
            f"{len(slugs)} term(s) link to {row.slug!r}: {', '.join(slugs)}. Remove those links"
            " first, or delete with ?cascade=links to remove them in the same change.",
            {"linked_from": slugs},
        )
    _remember_base(session, row, expected)
    changed = []
    for other in linking:  # each once: a related list never names a term twice
        _remember_base(session, other, other.version)
        old = repository.term_source(session, other)
        new = old.model_copy(update={"related": [e for e in old.related if e.term != row.slug]})
        session.execute(
            delete(LinkEntry).where(
                col(LinkEntry.term_id) == other.id, col(LinkEntry.target_id) == row.id
            )
        )
        _renumber_entries(session, other)
        other.version += 1
        other.digest = history.digest_of(new)
        _record(session, other.slug, other.version, actor, "update", new)
        changed.append(other.slug)
    session.execute(delete(Term).where(col(Term.id) == row.id))
    session.flush()
    search.update_index(session, [row.id])
    _record(session, row.slug, expected + 1, actor, "delete", None)
    _publish(session)
    return sorted(changed)


def _claim(
    session: Session,
    table: type[Term] | type[Category],
    row_id: int,
    expected: int,
    values: dict[str, Any] | None = None,
) -> Any:
    """Move the row to its next version if it is still at ``expected``, writing ``values``
    (its other columns) in the same statement; else ``Stale``. Returns what the statement
    read too, so that a write asks one question less: whether a term has any revision on
    record; a category's new version.

    The one conditional UPDATE is what makes concurrent writes safe: on PostgreSQL the loser
    waits for the winner's row lock, then finds the version moved on and updates nothing.
    """
    values = values or {}
    statement = _claim_statement(table, tuple(values))
    parameters = {f"new_{name}": value for name, value in values.items()}
    claimed = (
        session.connection()
        .execute(statement, {**parameters, "row_id": row_id, "expected": expected})
        .first()
    )
    if claimed is None:
        session.rollback()
        current = session.exec(select(table.version).where(table.id == row_id)).first()
        raise Stale(current or 0)
    return claimed[0]


@cache
def _claim_statement(table: type[Term] | type[Category], columns: tuple[str, ...]) -> Update:
    """``_claim``'s UPDATE of ``columns``, built once: building it took longer than running
    it. Core, not ORM: the caller sets what the session's row holds."""
    returning = history.any_revision(Term.slug) if table is Term else col(table.version)
    return (
        update(table)
        .where(col(table.id) == bindparam("row_id"), col(table.version) == bindparam("expected"))
        .values(**{name: bindparam(f"new_{name}") for name in columns}, version=table.version + 1)
        .returning(returning)
    )


def _category_id(session: Session, slug: str) -> int | None:
    return session.exec(select(Category.id).where(Category.slug == slug)).first()


def _term_columns(term: TermIn, category_id: int) -> dict[str, Any]:
    """The term's own columns, but its digest."""
    values = loader.term_record_values(term, category_id)
    return dict(zip(loader.TERM_RECORD_COLUMNS, values, strict=True))


_EVERYTHING = frozenset({"alias", "lookup_key", "reference", "link_entry", "category", "search"})
"""What ``_changed_parts`` says of a term written anew."""


def _write_parts(
    session: Session,
    term_id: int,
    term: TermIn,
    targets: dict[str, int],
    tables: set[str],
    changed: Collection[str],
) -> None:
    """The term's rows in ``tables`` (of ``loader.PART_COLUMNS``), then its links if its
    related list changed (``targets``: the ids of the terms it names), and its search index
    entry if ``changed`` says so."""
    loader.insert_term_parts(session, term, term_id, targets, tables)
    if "link_entry" in changed:
        _derive_links(session, term_id)
        session.flush()
        _refuse_broader_cycle(session, term_id)
        _refuse_link_to_broader_term(session, term_id)
    if "search" in changed:
        session.flush()
        search.update_index(session, [term_id], existing=True)


def _ids_of(session: Session, slugs: list[str]) -> dict[str, int]:
    if not slugs:
        return {}
    rows = session.exec(select(Term.slug, Term.id).where(col(Term.slug).in_(slugs))).all()
    return {slug: term_id for slug, term_id in rows if term_id is not None}


def _derive_links(session: Session, term_id: int) -> None:
    """Rebuild the stored links of ``term_id`` from the related lists that mention it."""
    session.execute(
        delete(Link).where(or_(col(Link.source_id) == term_id, col(Link.target_id) == term_id))
    )
    repository.derive_links(session, [term_id])


def _renumber_entries(session: Session, term: Term) -> None:
    entries = session.exec(
        select(LinkEntry).where(LinkEntry.term_id == term.id).order_by(col(LinkEntry.position))
    ).all()
    rows = [
        {"term_id": e.term_id, "position": i, "target_id": e.target_id, "relation": e.relation}
        for i, e in enumerate(entries)
    ]
    session.execute(delete(LinkEntry).where(col(LinkEntry.term_id) == term.id))
    if rows:
        session.execute(LinkEntry.__table__.insert(), rows)  # type: ignore[attr-defined]


def _check(
    session: Session, term: TermIn, row_id: int | None, changed: Collection[str] = _EVERYTHING
) -> dict[str, int]:
    """The rules ``kb check`` applies across files, against the database: 409 for a name that
    another term already answers to, 422 for the rest; those between other terms and the
    parts of the record that did not change (``changed``, see ``_changed_parts``) held before
    and are not checked again. Returns the ids of the terms the related list names."""
    problems = rules.own_problems(term)
    taken = _taken_names(session, term, row_id) if "lookup_key" in changed else []
    if taken:
        loc, _, owner = taken[0]
        raise Conflict(
            "; ".join(f"{format_loc(where)}: {message}" for where, message, _ in taken),
            {"field": format_loc(loc), "term": owner},
        )
    if "category" in changed:
        known = repository.category_slugs(session)
        if term.category not in known:
            problems.append((("category",), rules.unknown_category(term.category, known)))
    demo = rules.demo_problem(term)
    if demo is not None:
        problems.append(demo)
    existing: dict[str, int] = {}
    if "link_entry" in changed:
        to_others = rules.links_to_others(term)
        existing = _ids_of(session, [link.term for _, link in to_others])
        for i, link in to_others:
            if link.term not in existing:
                problems.append((("related", i, "term"), rules.unknown_term(link.term)))
        problems += _conflicting_entries(session, term, row_id)
    if problems:
        raise Invalid(problems)
    return existing


def _taken_names(session: Session, term: TermIn, row_id: int | None) -> list[tuple[Loc, str, str]]:
    own = {fold_key(term.slug), fold_key(term.name)}
    wanted: list[tuple[Loc, str]] = [(("slug",), term.slug), (("name",), term.name)]
    wanted += [(("aliases", i), a) for i, a in enumerate(term.aliases) if fold_key(a) not in own]
    owners = {
        key: (slug, label)
        for key, slug, label in session.exec(
            select(LookupKey.key, Term.slug, LookupKey.label)
            .join(Term, col(Term.id) == col(LookupKey.term_id))
            .where(
                col(LookupKey.key).in_({fold_key(text) for _, text in wanted}),
                col(Term.id) != (row_id or -1),
            )
        ).all()
    }
    clashes = []
    for loc, text in wanted:
        if fold_key(text) in owners:
            owner, label = owners[fold_key(text)]
            clashes.append((loc, rules.taken(text, owner, label), owner))
    return clashes


def _conflicting_entries(
    session: Session, term: TermIn, row_id: int | None
) -> list[tuple[Loc, str]]:
    """Entries of ``term``'s list that another term's list declares differently."""
    if row_id is None:
        return []
    theirs = session.exec(
        select(Term.slug, LinkEntry.relation)
        .join(Term, col(Term.id) == col(LinkEntry.term_id))
        .where(LinkEntry.target_id == row_id)
    ).all()
    declared = {
        slug: canonical_link(slug, Relation(relation), term.slug) for slug, relation in theirs
    }
    problems: list[tuple[Loc, str]] = []
    for i, link in rules.links_to_others(term):
        other = declared.get(link.term)
        if other is not None and other != canonical_link(term.slug, link.relation, link.term):
            where = f"term {link.term!r}'s related list"
            message = rules.conflicting_relation(link.term, link.relation, where, other)
            problems.append((("related", i, "relation"), message))
    return problems


def _broader_closure(session: Session, term_id: int, *, upward: bool) -> set[int]:
    """The ids of the terms above ``term_id`` (``upward``) or below it through ``broader``."""
    near, far = (Link.source_id, Link.target_id) if upward else (Link.target_id, Link.source_id)
    found: set[int] = set()
    frontier = {term_id}
    while frontier:
        rows = session.exec(
            select(far).where(Link.relation == Relation.broader.value, col(near).in_(frontier))
        ).all()
        frontier = set(rows) - found - {term_id}
        found |= frontier
    return found


def _refuse_link_to_broader_term(session: Session, term_id: int) -> None:
    """After writing a term's links: ``Invalid`` if a link other than ``broader`` now joins a
    term to one of its broader terms (``kb.content`` checks the same for files). Only links
    between the term and what lies below it, and the term and what lies above it, can have
    become one."""
    lower = _broader_closure(session, term_id, upward=False) | {term_id}
    upper = _broader_closure(session, term_id, upward=True) | {term_id}
    row = session.exec(
        select(Link.source_id, Link.relation, Link.target_id).where(
            Link.relation != Relation.broader.value,
            or_(
                col(Link.source_id).in_(lower) & col(Link.target_id).in_(upper),
                col(Link.source_id).in_(upper) & col(Link.target_id).in_(lower),
            ),
        )
    ).first()
    if row is None:
        return
    source, relation, target = row
    below, above = (source, target) if source in lower and target in upper else (target, source)
    slugs = dict(
        session.exec(select(Term.id, Term.slug).where(col(Term.id).in_([source, target]))).all()
    )
    link = (slugs[source], Relation(relation), slugs[target])
    raise Invalid([(("related",), rules.linked_to_broader_term(link, slugs[below], slugs[above]))])


def _refuse_broader_cycle(session: Session, term_id: int) -> None:
    """After writing a term's links: ``Invalid`` if its ``broader`` chain leads back to it."""
    parent_of: dict[int, int] = {}
    frontier = {term_id}
    while frontier:
        rows = session.exec(
            select(Link.source_id, Link.target_id).where(
                Link.relation == Relation.broader.value, col(Link.source_id).in_(frontier)
            )
        ).all()
        frontier = set()
        for child, parent in rows:
            if parent == term_id:
                chain = [child]
                while chain[-1] != term_id:
                    chain.append(parent_of[chain[-1]])
                ids = [*reversed(chain), term_id]
                slugs = dict(
                    session.exec(select(Term.id, Term.slug).where(col(Term.id).in_(ids))).all()
                )
                raise Invalid([(("related",), rules.broader_cycle([slugs[i] for i in ids]))])
            if parent not in parent_of and parent != term_id:
                parent_of[parent] = child
                frontier.add(parent)


def _remember_base(session: Session, row: Term, version: int, record: TermIn | None = None) -> None:
    """Give a term that was never edited the revision it had, before an edit replaces it
    (``record``: its ``term_source``, if the caller has it)."""
    if history.has_revisions(session, row.slug):
        return
    at = repository.loaded_at(session) or datetime.now(UTC)
    record = record or repository.term_source(session, row)
    _record(session, row.slug, version, "load", "load", record, at=at)


def _record(
    session: Session,
    slug: str,
    version: int,
    actor: str,
    action: str,
    record: TermIn | None,
    at: datetime | None = None,
) -> None:
    # A Core INSERT, sent at once: the session's unit of work took 0.1 ms to set up.
    session.connection().execute(
        _INSERT_REVISION,
        {
            "slug": slug,
            "version": version,
            "at": at or datetime.now(UTC),
            "actor": actor,
            "action": action,
            "record": None if record is None else history.record_of(record),
        },
    )


_INSERT_REVISION = insert(TermRevision)


def _after_change(session: Session, row: Term, term: TermIn, actor: str, action: str) -> None:
    _record(session, row.slug, row.version, actor, action, term)
    _publish(session)


# --- categories ------------------------------------------------------------------------------


def create_category(session: Session, category: CategoryIn) -> Category:
    if repository.find_category(session, category.slug) is not None:
        raise Conflict(
            f"category {category.slug!r} already exists; change it with PUT or PATCH"
            f" /api/v1/categories/{category.slug}",
            {"slug": category.slug},
        )
    position = session.exec(select(func.coalesce(func.max(Category.position), 0))).one() + 1
    row = Category(**category.model_dump(), position=position, version=1)
    session.add(row)
    session.flush()
    _publish(session)
    return row


def replace_category(
    session: Session, row: Category, category: CategoryIn, expected: int
) -> Category:
    if category.slug != row.slug:
        raise Invalid([(("slug",), f"must stay {row.slug!r}: a category's slug cannot change")])
    assert row.id is not None
    _claim(session, Category, row.id, expected)
    session.execute(
        update(Category)
        .where(col(Category.id) == row.id)
        .values(name=category.name, description=category.description)
    )
    _publish(session)
    session.flush()
    session.refresh(row)
    return row


def delete_category(session: Session, row: Category, expected: int) -> None:
    assert row.id is not None
    _claim(session, Category, row.id, expected)
    terms = session.exec(
        select(Term.slug).where(Term.category_id == row.id).order_by(col(Term.slug))
    ).all()
    if terms:
        raise Conflict(
            f"{len(terms)} term(s) belong to category {row.slug!r}: move or delete them first"
            f" ({', '.join(terms[:20])}{', ...' if len(terms) > 20 else ''}).",
            {"terms": list(terms)},
        )
    session.execute(delete(Category).where(col(Category.id) == row.id))
    _publish(session)
