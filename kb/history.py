"""Versions and history of terms: what each load and each edit changed, and who made it.

A term's version goes up with every change to its record, by an editor or by a load that
changed it; the record of each version an editor made (and the one before it) is kept in
``term_revision``, keyed by slug so that it outlives reloads and deletions. A term nobody has
edited has no revisions: its history is its loaded record.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from kb.models import Term, TermRevision
from kb.schemas import TermIn

Record = dict[str, Any]


@dataclass(frozen=True)
class Stamp:
    version: int
    digest: str


def record_of(term: TermIn) -> Record:
    """A term as its data file gives it, in plain JSON types."""
    return term.model_dump(mode="json")


def digest_of(record: Record) -> str:
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


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
        record = record_of(term)
        digest = digest_of(record)
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
                    record=record,
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
