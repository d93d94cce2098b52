"""Versions and history of terms: what each load and each edit changed, and who made it.

A term's version goes up with every change to its record, by an editor or by a load that
changed it; the record of each version an editor made (and the one before it) is kept in
``term_revision``, keyed by slug so that it outlives reloads and deletions. A term nobody has
edited has no revisions: its history is its loaded record.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Exists, exists, func
from sqlmodel import Session, col, select

from kb import repository
from kb.models import Term, TermRevision
from kb.schemas import FieldChange, Revision, TermHistory, TermIn, TermVersion

Record = dict[str, Any]


@dataclass(frozen=True)
class Stamp:
    version: int
    digest: str


def record_of(term: TermIn) -> Record:
    """A term as its data file gives it, in plain JSON types."""
    return term.model_dump(mode="json")


def digest_of(term: TermIn) -> str:
    """A hash of the record: equal records, equal digests (pydantic writes fields in order)."""
    return hashlib.blake2b(term.model_dump_json().encode(), digest_size=16).hexdigest()


def latest_revisions(
    session: Session, slugs: Iterable[str] | None = None
) -> dict[str, TermRevision]:
    """The newest revision of each slug that has any (of ``slugs`` only, if given)."""
    newest = select(TermRevision.slug, func.max(TermRevision.version).label("version"))
    if slugs is not None:
        newest = newest.where(col(TermRevision.slug).in_(list(slugs)))
    latest = newest.group_by(col(TermRevision.slug)).subquery()
    rows = session.exec(
        select(TermRevision).join(
            latest,
            (col(TermRevision.slug) == latest.c.slug)
            & (col(TermRevision.version) == latest.c.version),
        )
    ).all()
    return {row.slug: row for row in rows}


def any_revision(slug: Any) -> Exists:
    """Whether ``slug`` (a value, or a column of the statement) has any revision on record."""
    return exists().where(col(TermRevision.slug) == slug)


def has_revisions(session: Session, slug: str) -> bool:
    """Whether ``slug`` has any revision on record (``latest_revisions`` without reading it)."""
    return bool(session.exec(select(any_revision(slug))).one())


def record_load(session: Session, terms: list[TermIn]) -> dict[str, Stamp]:
    """The version each loaded term gets, recording a revision for every term with a history.

    Call before the old content is deleted: a term keeps its version if the load leaves its
    record unchanged, and moves one past its last version (stored or in its history) if not.
    """
    now = datetime.now(UTC)
    current = {
        slug: Stamp(version, digest)
        for slug, version, digest in session.exec(
            select(Term.slug, Term.version, Term.digest)
        ).all()
    }
    revisions = latest_revisions(session)
    stamps: dict[str, Stamp] = {}
    for term in terms:
        digest = digest_of(term)
        before = current.get(term.slug)
        last = revisions.get(term.slug)
        if before is not None and before.digest == digest:
            stamps[term.slug] = before
            continue
        version = max(before.version if before else 0, last.version if last else 0) + 1
        stamps[term.slug] = Stamp(version, digest)
        if last is not None:
            action = "create" if last.record is None else "load"
            session.add(
                TermRevision(
                    slug=term.slug,
                    version=version,
                    at=now,
                    actor="load",
                    action=action,
                    record=record_of(term),
                )
            )
    loaded = {term.slug for term in terms}
    for slug, last in revisions.items():
        if slug not in loaded and last.record is not None:
            session.add(
                TermRevision(
                    slug=slug,
                    version=last.version + 1,
                    at=now,
                    actor="load",
                    action="delete",
                    record=None,
                )
            )
    return stamps


def _revisions(session: Session, slug: str) -> list[TermRevision]:
    return list(
        session.exec(
            select(TermRevision)
            .where(TermRevision.slug == slug)
            .order_by(col(TermRevision.version))
        ).all()
    )


def _as_loaded(session: Session, term: Term) -> TermRevision:
    """The one version of a term nobody has edited: its loaded record."""
    return TermRevision(
        slug=term.slug,
        version=term.version,
        at=repository.loaded_at(session) or datetime.now(UTC),
        actor="load",
        action="load",
        record=record_of(repository.term_source(session, term)),
    )


def revisions_of(session: Session, slug: str, term: Term | None) -> list[TermRevision]:
    """Every version of ``slug`` on record, oldest first ([]: no such term, ever)."""
    revisions = _revisions(session, slug)
    if not revisions and term is not None:
        return [_as_loaded(session, term)]
    return revisions


def term_history(slug: str, revisions: list[TermRevision]) -> TermHistory:
    items = []
    before: Record | None = None
    for revision in revisions:
        items.append(
            Revision(
                version=revision.version,
                at=_utc(revision.at),
                actor=revision.actor,
                action=revision.action,
                changes=_changes(before, revision.record),
            )
        )
        before = revision.record
    return TermHistory(slug=slug, items=items[::-1])


def _changes(before: Record | None, after: Record | None) -> list[FieldChange]:
    """The fields that differ, in the order of the data format."""
    old, new = before or {}, after or {}
    return [
        FieldChange(field=name, before=old.get(name), after=new.get(name))
        for name in TermIn.model_fields
        if old.get(name) != new.get(name)
    ]


def term_version(revision: TermRevision) -> TermVersion:
    return TermVersion(
        slug=revision.slug,
        version=revision.version,
        at=_utc(revision.at),
        actor=revision.actor,
        action=revision.action,
        record=None if revision.record is None else TermIn.model_validate(revision.record),
    )


def _utc(at: datetime) -> datetime:
    """SQLite hands back the UTC times it stores without their zone."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
