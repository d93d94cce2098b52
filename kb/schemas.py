"""Request and response models, and the validated shape of a data file.

``TermIn`` is a term file's front matter plus its body: ``kb check``, ``kb load`` and (later) the
write API validate with the same rules and so give the same messages.
"""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from kb.relations import Relation

API_PREFIX = "/api/v1"
"""Where the API is mounted; the links inside responses start with it."""

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=80)]
ARXIV_PATTERN = r"^(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$"
# Control characters other than tab and line breaks, and lone surrogates: no glossary text has
# them, PostgreSQL refuses NUL, and UTF-8 cannot encode a lone surrogate.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _printable(text: str) -> str:
    found = _UNPRINTABLE.search(text)
    if found is not None:
        raise ValueError(
            f"contains the unprintable character U+{ord(found.group()):04X} at position"
            f" {found.start()}: remove it"
        )
    return text


Printable = AfterValidator(_printable)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), Printable]

# The largest record a file or a write may hold, field by field (characters, or entries of a
# list): a few times the largest in the glossary, small enough that no page takes long to render.
MAX_BODY_CHARS = 256 * 1024
MAX_ALIASES = 32
MAX_RELATED = 100
MAX_REFERENCES = 30
MAX_AUTHORS = 100
Kind = Literal["concept", "algorithm"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryIn(_Strict):
    slug: Slug
    name: Annotated[Text, StringConstraints(max_length=120)]
    description: Annotated[Text, StringConstraints(max_length=2000)]


class LinkIn(_Strict):
    term: Slug
    relation: Relation


class ReferenceModel(_Strict):
    title: Annotated[Text, StringConstraints(max_length=500)]
    authors: list[Annotated[Text, StringConstraints(max_length=200)]] = Field(
        min_length=1, max_length=MAX_AUTHORS
    )
    year: int = Field(ge=1600, le=2100)
    venue: Annotated[Text, StringConstraints(max_length=300)]
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000), Printable]
    arxiv: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$"
            ),
        ]
        | None
    ) = None
    doi: (
        Annotated[str, StringConstraints(pattern=r"^10\.\d{4,9}/\S+$", max_length=300), Printable]
        | None
    ) = None


class TermIn(_Strict):
    slug: Slug
    name: Annotated[Text, StringConstraints(max_length=120)]
    aliases: list[Annotated[Text, StringConstraints(max_length=80)]] = Field(
        default=[], max_length=MAX_ALIASES
    )
    category: Slug
    kind: Kind
    summary: Annotated[Text, StringConstraints(max_length=300)]
    related: list[LinkIn] = Field(default=[], max_length=MAX_RELATED)
    references: list[ReferenceModel] = Field(default=[], max_length=MAX_REFERENCES)
    demo: Slug | None = None
    body: Annotated[Text, StringConstraints(max_length=MAX_BODY_CHARS)]

    @field_validator("aliases")
    @classmethod
    def _aliases_unique(cls, aliases: list[str]) -> list[str]:
        seen: set[str] = set()
        for alias in aliases:
            key = alias.casefold()
            if key in seen:
                raise ValueError(f"alias {alias!r} is listed twice")
            seen.add(key)
        return aliases


# --- responses -------------------------------------------------------------------------------


class CategoryRef(BaseModel):
    slug: str
    name: str


class TermSummary(BaseModel):
    slug: str
    name: str
    summary: str
    category: str = Field(description="The category's slug.")
    kind: Kind


class TermPage(BaseModel):
    items: list[TermSummary]
    total: int
    limit: int
    offset: int


class RelatedTerm(BaseModel):
    slug: str
    name: str
    summary: str
    relation: Relation = Field(description="The relation as seen from the requested term.")


class PathStep(BaseModel):
    """One link followed: ``source`` --``relation``--> ``target``."""

    source: str
    relation: Relation = Field(description="The relation as seen from `source`.")
    target: str


class NeighbourTerm(RelatedTerm):
    distance: int = Field(description="Links between the requested term and this one.")
    path: list[PathStep] = Field(description="The links that reach this term, in order.")


class RelatedList(BaseModel):
    term: str
    relation: Relation | None
    depth: int
    items: list[NeighbourTerm]


class TermPath(BaseModel):
    source: str = Field(description="Slug of the start term.")
    target: str = Field(description="Slug of the end term.")
    length: int
    steps: list[PathStep]


class GraphNode(BaseModel):
    slug: str
    name: str
    category: str
    kind: Kind


class GraphEdge(BaseModel):
    source: str
    relation: Relation = Field(description="Stored direction: read `source relation target`.")
    target: str


class Graph(BaseModel):
    category: str | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class SearchResult(BaseModel):
    slug: str
    name: str
    summary: str
    category: str
    kind: Kind
    snippet: str = Field(description="HTML-escaped text with the matches in <mark> tags.")
    score: float = Field(description="Higher is better; comparable within one response.")


SearchMode = Literal["hybrid", "lexical", "semantic"]


class SearchPage(BaseModel):
    query: str
    mode: SearchMode = Field(
        default="lexical",
        description="Which ranking answered: lexical (words), semantic (meaning) or hybrid.",
    )
    items: list[SearchResult]
    total: int
    total_is_estimate: bool = Field(
        default=False,
        description="Whether ``total`` is an estimate: on PostgreSQL a query that matches more"
        " than about a thousand terms is counted from the planner's statistics.",
    )
    limit: int
    offset: int
    did_you_mean: str | None = Field(
        description="A close name or alias when the query found little, else null."
    )


class Suggestion(BaseModel):
    label: str = Field(description="The name or alias that starts with the query.")
    slug: str
    name: str


class SuggestionList(BaseModel):
    query: str
    items: list[Suggestion]


class DemoLink(BaseModel):
    slug: str
    href: str


class TermLinks(BaseModel):
    self: str
    related: str
    demo: str | None


class TermDetail(BaseModel):
    slug: str
    version: int = Field(description="Goes up with every change; the ETag starts with it.")
    name: str
    aliases: list[str]
    summary: str
    body: str
    category: CategoryRef
    kind: Kind
    related: list[RelatedTerm]
    references: list[ReferenceModel]
    demo: DemoLink | None
    links: TermLinks


class CategorySummary(BaseModel):
    slug: str
    name: str
    description: str
    term_count: int


class CategoryList(BaseModel):
    items: list[CategorySummary]


class CategoryDetail(CategorySummary):
    version: int = Field(description="Goes up with every change; the ETag starts with it.")
    terms: list[TermSummary]


class SemanticStatus(BaseModel):
    state: Literal["off", "computing", "ready"] = Field(
        description="off: no model (search is lexical only); computing: term vectors are being"
        " computed (searches use those already there); ready."
    )
    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    terms: int
    database: Literal["sqlite", "postgresql"]
    data_version: str | None
    semantic_search: SemanticStatus


class SimilarTerm(BaseModel):
    slug: str
    name: str
    summary: str
    category: str
    kind: Kind
    score: float = Field(description="Cosine similarity of the two terms' texts, -1 to 1.")


class SimilarList(BaseModel):
    term: str
    items: list[SimilarTerm] = Field(
        description="The nearest terms by meaning that the term is not linked to, nearest first."
    )


class ErrorBody(BaseModel):
    detail: str


class NotFoundBody(BaseModel):
    detail: str
    suggestions: list[str] = Field(description="The closest slugs, best first.")


class ConflictBody(BaseModel):
    detail: str

    model_config = ConfigDict(extra="allow")


class StaleBody(BaseModel):
    detail: str
    current_version: int


class TermVersion(BaseModel):
    """A term as it was at one version: its record in the data-file shape (null: deleted)."""

    slug: str
    version: int
    at: datetime
    actor: str = Field(description="The API key's name, or 'load' for a load of the files.")
    action: Literal["create", "update", "delete", "load"]
    record: TermIn | None


class FieldChange(BaseModel):
    field: str
    before: Any = Field(description="The field's value in the previous version (null: none).")
    after: Any = Field(description="Its value in this version (null: removed).")


class Revision(BaseModel):
    version: int
    at: datetime
    actor: str
    action: Literal["create", "update", "delete", "load"]
    changes: list[FieldChange]


class TermHistory(BaseModel):
    slug: str
    items: list[Revision] = Field(description="Newest first.")
