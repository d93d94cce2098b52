"""Database tables (SQLModel). API shapes live in ``kb.schemas``, never here."""

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel


class Category(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=120)
    description: str = Field(sa_column=Column(Text, nullable=False))
    position: int


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


class Alias(SQLModel, table=True):
    term_id: int = Field(foreign_key="term.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True)
    name: str = Field(max_length=80)


class LookupKey(SQLModel, table=True):
    """Every case-folded name a term answers to: its slug, its name and its aliases."""

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
