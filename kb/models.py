"""Database tables (SQLModel). API shapes live in ``kb.schemas``, never here."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


class Category(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(sa_column=Column(Text, nullable=False))
    position: int
    version: int = Field(default=1, description="Bumped by every write; sent as the ETag.")


class Term(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=120)
    sort_name: str = Field(max_length=120, index=True)
    initial: str = Field(max_length=1, index=True)
    category_id: int = Field(foreign_key="category.id", index=True)
    kind: str = Field(max_length=16, index=True)
    summary: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    demo: str | None = Field(default=None, max_length=80)
    version: int = Field(default=1, description="Bumped by every change; sent as the ETag.")
    digest: str = Field(
        default="", max_length=32, description="Hash of the record, to tell a reload's changes."
    )


class Alias(SQLModel, table=True):
    term_id: int = Field(foreign_key="term.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True)
    name: str = Field(max_length=80)


class LookupKey(SQLModel, table=True):
    """Every name a term answers to (its slug, its name and its aliases), as ``fold_key`` folds
    it."""

    __tablename__ = "lookup_key"

    key: str = Field(max_length=120, primary_key=True)
    term_id: int = Field(foreign_key="term.id", index=True, ondelete="CASCADE")
    label: str = Field(max_length=120, description="The key as written: 'BN', 'Adam optimizer'.")
    source: str = Field(max_length=8, description="Where the key comes from: slug, name or alias.")


class Link(SQLModel, table=True):
    """One typed relation, stored once in its canonical direction (see ``kb.relations``)."""

    __table_args__ = (Index("ix_link_target", "target_id"),)

    source_id: int = Field(foreign_key="term.id", primary_key=True, ondelete="CASCADE")
    target_id: int = Field(foreign_key="term.id", primary_key=True, ondelete="CASCADE")
    relation: str = Field(max_length=32)


class LinkEntry(SQLModel, table=True):
    """One entry of a term's ``related:`` list, as its file or its last write gave it.

    ``Link`` is derived from these: a link exists while either of its two terms lists it. They
    are kept so that a term's own list can be edited and written back to its file unchanged.
    """

    __tablename__ = "link_entry"

    term_id: int = Field(foreign_key="term.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True)
    target_id: int = Field(foreign_key="term.id", index=True, ondelete="CASCADE")
    relation: str = Field(max_length=32, description="As written, seen from ``term_id``.")


class Reference(SQLModel, table=True):
    term_id: int = Field(foreign_key="term.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    authors: list[str] = Field(sa_column=Column(JSON, nullable=False))
    year: int
    venue: str = Field(sa_column=Column(Text, nullable=False))
    url: str = Field(sa_column=Column(Text, nullable=False))
    arxiv: str | None = Field(default=None, max_length=40)
    doi: str | None = Field(default=None, max_length=200)


class Meta(SQLModel, table=True):
    """Key-value facts about the loaded content, e.g. its ``data_version``."""

    key: str = Field(max_length=64, primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class TermRevision(SQLModel, table=True):
    """One version of a term, as written by a load or an editor; the term's history.

    Keyed by slug, not id: history outlives a reload (which renumbers terms) and a deletion.
    A term that was never edited has no rows: its one version is the loaded record.
    """

    __tablename__ = "term_revision"

    slug: str = Field(max_length=80, primary_key=True)
    version: int = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str = Field(max_length=80, description="The API key's name, or 'load'.")
    action: str = Field(max_length=8, description="create, update, delete or load.")
    record: dict[str, Any] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="The term as a data file gives it (front matter and body); null: deleted.",
    )


class TermVector(SQLModel, table=True):
    """A term's embedding for search by meaning (``kb.semantic``), keyed by the term's digest:
    a reload or an edit that leaves a term's record alone keeps its vectors."""

    __tablename__ = "term_vector"

    digest: str = Field(max_length=32, primary_key=True)
    part: int = Field(primary_key=True, description="Which text of the term: 0 is its head.")
    model: str = Field(max_length=64, description="The encoder and text recipe that made it.")
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
