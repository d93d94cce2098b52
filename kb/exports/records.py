"""The glossary's full records, read from the database for the exports a batch at a time.

A term comes back as the ``TermIn`` its data file would hold (its ``related:`` list as written,
from ``link_entry``), plus every link it takes part in (from ``link``, stored once per link).
Terms are read in slug order, ``batch_size`` at a time, so an export's memory does not grow
with the glossary and its first bytes go out before the last term is read.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from kb import repository
from kb.content import StoredLink
from kb.models import Category, Link, Term
from kb.relations import Relation
from kb.schemas import CategoryIn, TermIn

BATCH_SIZE = 500
"""Terms per batch: a few queries each, small enough to keep memory flat at any size."""

_RELATION_ORDER = {relation: i for i, relation in enumerate(Relation)}


@dataclass(frozen=True)
class TermRecord:
    term: TermIn
    links: list[StoredLink]
    """Every link the term takes part in, in its stored direction (``kb.relations``)."""

    def seen_from_term(self) -> list[tuple[Relation, str]]:
        """Each link as ``(relation as seen from this term, the other term)``, in the order of
        ``Relation`` and then of the other slug."""
        slug = self.term.slug
        seen = [
            (link.relation, link.target)
            if link.source == slug
            else (link.relation.inverse, link.source)
            for link in self.links
        ]
        return sorted(seen, key=lambda item: (_RELATION_ORDER[item[0]], item[1]))


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """A session whose reads all see the database as it was at the first one, so that an
    export never mixes two loads. SQLite gives that to any transaction (WAL); PostgreSQL's
    default, READ COMMITTED, would take a new snapshot for every batch."""
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        yield session


def categories(session: Session) -> list[CategoryIn]:
    """The categories in display order."""
    rows = session.exec(select(Category).order_by(col(Category.position))).all()
    return [CategoryIn(slug=c.slug, name=c.name, description=c.description) for c in rows]


def _slug_order(session: Session) -> list[int]:
    # Sorted here, not by the database: PostgreSQL's collation may order '-' unlike Python.
    pairs = session.exec(select(Term.slug, Term.id)).all()
    return [term_id for _, term_id in sorted(pairs) if term_id is not None]


def term_batches(session: Session, batch_size: int = BATCH_SIZE) -> Iterator[list[TermRecord]]:
    """Every term, in slug order, ``batch_size`` at a time."""
    order = _slug_order(session)
    for start in range(0, len(order), batch_size):
        yield _records(session, order[start : start + batch_size])


def terms(session: Session, batch_size: int = BATCH_SIZE) -> Iterator[TermRecord]:
    for batch in term_batches(session, batch_size):
        yield from batch


def _records(session: Session, ids: Sequence[int]) -> list[TermRecord]:
    links = _links(session, ids)
    sources = repository.term_sources(session, ids)
    return [TermRecord(term, links[term_id]) for term_id, term in zip(ids, sources, strict=True)]


def _links(session: Session, ids: Sequence[int]) -> dict[int, list[StoredLink]]:
    """Every link of the terms ``ids``, by term, in stored direction and a stable order."""
    source, target = aliased(Term), aliased(Term)
    found: dict[int, list[StoredLink]] = defaultdict(list)
    for end in (Link.source_id, Link.target_id):
        rows = session.exec(
            select(end, source.slug, Link.relation, target.slug)
            .join(source, col(source.id) == col(Link.source_id))
            .join(target, col(target.id) == col(Link.target_id))
            .where(col(end).in_(ids))
        )
        for term_id, source_slug, relation, target_slug in rows:
            found[term_id].append(StoredLink(source_slug, Relation(relation), target_slug))
    for links in found.values():
        links.sort(key=lambda link: (_RELATION_ORDER[link.relation], link.source, link.target))
    return found
