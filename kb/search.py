"""Full-text, prefix and fuzzy search over the terms, one implementation per backend.

SQLite uses an FTS5 table with prefix indexes and bm25 column weights; PostgreSQL a weighted
``tsvector`` with a GIN index plus ``pg_trgm`` similarity on names. Both index the same
columns with the same ranking intent: name and aliases weigh most, then the summary, then the
body. The index is rebuilt inside the load transaction, so it never disagrees with the records.

User text never reaches a query parser as-is: it is cut into word tokens (letters and digits),
and each token is quoted, so FTS5 and tsquery syntax in a query is just text.
"""

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import Connection, text
from sqlmodel import Session

from kb.content import lookup_key

# Weights per column: name, aliases, summary, body.
_BM25_WEIGHTS = (10.0, 8.0, 3.0, 1.0)
_MAX_TOKENS = 16
# Highlight markers that cannot occur in stored text: the snippet is HTML-escaped afterwards
# and the markers become <mark> tags, so content can never inject markup.
_OPEN, _CLOSE = "\x02", "\x03"
_TOKEN = re.compile(r"\w+", re.UNICODE)
# A term whose slug, name or alias is exactly the query ranks first, however often other
# bodies mention it ("RBM" finds the restricted Boltzmann machine before deep belief networks).
_EXACT_FIRST = "(SELECT count(*) FROM lookup_key k WHERE k.term_id = t.id AND k.key = :phrase) DESC"


def tokens(query: str) -> list[str]:
    """The searchable words of a query: letters and digits only, case-folded, at most 16."""
    return [t for t in _TOKEN.findall(query.casefold()) if t.strip("_")][:_MAX_TOKENS]


@dataclass(frozen=True)
class Hit:
    slug: str
    name: str
    summary: str
    category: str
    kind: str
    snippet: str
    score: float


@dataclass(frozen=True)
class Suggestion:
    label: str
    slug: str
    name: str


def _is_postgres(session: Session | Connection) -> bool:
    bind = session.get_bind() if isinstance(session, Session) else session
    return bind.dialect.name == "postgresql"


# --- schema and index ------------------------------------------------------------------------


def create_search_schema(connection: Connection) -> None:
    """The backend's search structures, next to the tables of ``kb.models``."""
    if _is_postgres(connection):
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public"))
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS term_search ("
                " term_id INTEGER PRIMARY KEY REFERENCES term(id) ON DELETE CASCADE,"
                " document TSVECTOR NOT NULL)"
            )
        )
        for statement in (
            "CREATE INDEX IF NOT EXISTS ix_term_search_document"
            " ON term_search USING GIN (document)",
            "CREATE INDEX IF NOT EXISTS ix_term_sort_name_trgm"
            " ON term USING GIN (sort_name public.gin_trgm_ops)",
            # Byte-wise order makes a prefix a contiguous key range whatever the locale.
            'CREATE INDEX IF NOT EXISTS ix_lookup_key_prefix ON lookup_key (key COLLATE "C")',
        ):
            connection.execute(text(statement))
    else:
        connection.execute(
            text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS term_fts USING fts5("
                "name, aliases, summary, body, prefix='2 3 4',"
                " tokenize='porter unicode61 remove_diacritics 2')"
            )
        )


def clear_index(session: Session) -> None:
    session.execute(
        text("DELETE FROM term_search" if _is_postgres(session) else "DELETE FROM term_fts")
    )


def rebuild_index(session: Session) -> None:
    """Index every term; call inside the transaction that wrote them."""
    clear_index(session)
    aliases = (
        "(SELECT string_agg(a.name, ' ') FROM alias a WHERE a.term_id = t.id)"
        if _is_postgres(session)
        else "(SELECT group_concat(a.name, ' ') FROM alias a WHERE a.term_id = t.id)"
    )
    if _is_postgres(session):
        session.execute(
            text(
                "INSERT INTO term_search (term_id, document) SELECT t.id,"
                " setweight(to_tsvector('english', t.name), 'A')"
                f" || setweight(to_tsvector('english', coalesce({aliases}, '')), 'A')"
                " || setweight(to_tsvector('english', t.summary), 'B')"
                " || setweight(to_tsvector('english', t.body), 'D')"
                " FROM term t"
            )
        )
    else:
        session.execute(
            text(
                "INSERT INTO term_fts (rowid, name, aliases, summary, body)"
                f" SELECT t.id, t.name, coalesce({aliases}, ''), t.summary, t.body FROM term t"
            )
        )


# --- full-text search ------------------------------------------------------------------------


def _highlight(snippet: str) -> str:
    return html.escape(snippet, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _hit(row: Sequence[Any]) -> Hit:
    return Hit(
        slug=row[0],
        name=row[1],
        summary=row[2],
        category=row[3],
        kind=row[4],
        snippet=_highlight(row[5]),
        score=round(float(row[6]), 6),
    )


def _filters(category: str | None, kind: str | None) -> tuple[str, dict[str, object]]:
    clauses: list[str] = []
    params: dict[str, object] = {}
    if category is not None:
        clauses.append("c.slug = :category")
        params["category"] = category
    if kind is not None:
        clauses.append("t.kind = :kind")
        params["kind"] = kind
    return "".join(f" AND {c}" for c in clauses), params


def full_text(
    session: Session,
    words: list[str],
    *,
    category: str | None = None,
    kind: str | None = None,
    limit: int = 20,
    offset: int = 0,
    match_all: bool = True,
) -> tuple[list[Hit], int]:
    """Terms matching ``words`` (all of them, or any), best first, and how many match."""
    if not words:
        return [], 0
    if _is_postgres(session):
        return _full_text_postgres(session, words, category, kind, limit, offset, match_all)
    return _full_text_sqlite(session, words, category, kind, limit, offset, match_all)


def _fts5_query(words: list[str], match_all: bool) -> str:
    # Every token is a quoted string, so nothing in it is FTS5 syntax; the last one also
    # matches as a prefix, for people still typing.
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return (" AND " if match_all else " OR ").join(quoted)


def _full_text_sqlite(
    session: Session,
    words: list[str],
    category: str | None,
    kind: str | None,
    limit: int,
    offset: int,
    match_all: bool,
) -> tuple[list[Hit], int]:
    where, params = _filters(category, kind)
    params |= {
        "match": _fts5_query(words, match_all),
        "phrase": " ".join(words),
        "limit": limit,
        "offset": offset,
    }
    joins = (
        " FROM term_fts JOIN term t ON t.id = term_fts.rowid"
        " JOIN category c ON c.id = t.category_id"
        f" WHERE term_fts MATCH :match{where}"
    )
    total = session.execute(text(f"SELECT count(*){joins}"), params).scalar_one()
    weights = ", ".join(str(w) for w in _BM25_WEIGHTS)
    rows = session.execute(
        text(
            "SELECT t.slug, t.name, t.summary, c.slug, t.kind,"
            f" snippet(term_fts, -1, '{_OPEN}', '{_CLOSE}', '…', 16),"
            f" -bm25(term_fts, {weights}) AS score{joins}"
            f" ORDER BY {_EXACT_FIRST}, score DESC, t.sort_name LIMIT :limit OFFSET :offset"
        ),
        params,
    ).all()
    return [_hit(row) for row in rows], total


def _tsquery(words: list[str], match_all: bool) -> str:
    # Tokens hold only word characters, so single quotes make each a plain lexeme.
    parts = [f"'{w}'" for w in words]
    parts[-1] += ":*"
    return (" & " if match_all else " | ").join(parts)


def _full_text_postgres(
    session: Session,
    words: list[str],
    category: str | None,
    kind: str | None,
    limit: int,
    offset: int,
    match_all: bool,
) -> tuple[list[Hit], int]:
    where, params = _filters(category, kind)
    params |= {
        "query": _tsquery(words, match_all),
        "phrase": " ".join(words),
        "limit": limit,
        "offset": offset,
    }
    joins = (
        " FROM term_search s JOIN term t ON t.id = s.term_id"
        " JOIN category c ON c.id = t.category_id,"
        " to_tsquery('english', :query) q"
        f" WHERE s.document @@ q{where}"
    )
    total = session.execute(text(f"SELECT count(*){joins}"), params).scalar_one()
    rows = session.execute(
        text(
            "SELECT t.slug, t.name, t.summary, c.slug, t.kind,"
            " ts_headline('english', t.summary || ' ' || t.body, q,"
            f" 'StartSel={_OPEN}, StopSel={_CLOSE}, MaxWords=24, MinWords=10, MaxFragments=1'),"
            " ts_rank(s.document, q) + public.similarity(t.sort_name, :phrase) AS score"
            f"{joins} ORDER BY {_EXACT_FIRST}, score DESC, t.sort_name"
            " LIMIT :limit OFFSET :offset"
        ),
        params,
    ).all()
    return [_hit(row) for row in rows], total


# --- type-ahead ------------------------------------------------------------------------------


def suggest(session: Session, prefix: str, limit: int = 8) -> list[Suggestion]:
    """Names and aliases that start with ``prefix`` (case-insensitive), shortest first."""
    key = lookup_key(prefix)
    if not key:
        return []
    collate = ' COLLATE "C"' if _is_postgres(session) else ""
    rows = session.execute(
        text(
            "SELECT k.label, t.slug, t.name FROM lookup_key k JOIN term t ON t.id = k.term_id"
            f" WHERE k.source <> 'slug' AND k.key{collate} >= :low AND k.key{collate} < :high"
            f" ORDER BY length(k.key), k.key{collate} LIMIT :limit"
        ),
        # U+10FFFF sorts after every character, byte-wise as in code points.
        {"low": key, "high": key + "\U0010ffff", "limit": limit * 3},
    ).all()
    seen: set[str] = set()
    suggestions = []
    for label, slug, name in rows:
        if slug not in seen:
            seen.add(slug)
            suggestions.append(Suggestion(label, slug, name))
    return suggestions[:limit]


# --- typo tolerance --------------------------------------------------------------------------


@dataclass(frozen=True)
class _FuzzyIndex:
    version: str | None
    keys: list[str]
    labels: list[tuple[str, str]]  # (label, slug) per key


_fuzzy_lock = Lock()
_fuzzy_indexes: dict[str, _FuzzyIndex] = {}


def _fuzzy_index(session: Session, version: str | None) -> _FuzzyIndex:
    # One index per database, rebuilt when the data version moves on.
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    index = _fuzzy_indexes.get(database)
    if index is not None and index.version == version:
        return index
    rows = session.execute(
        text("SELECT k.key, k.label, t.slug FROM lookup_key k JOIN term t ON t.id = k.term_id")
    ).all()
    index = _FuzzyIndex(version, [r[0] for r in rows], [(r[1], r[2]) for r in rows])
    with _fuzzy_lock:
        _fuzzy_indexes[database] = index
    return index


def closest(
    session: Session, query: str, version: str | None, limit: int = 5
) -> list[tuple[str, str, float]]:
    """``(label, slug, score)`` of the slugs, names and aliases nearest to ``query``, by edit
    distance (0-100), best first, one per term."""
    key = " ".join(tokens(query))
    if not key:
        return []
    index = _fuzzy_index(session, version)
    matches = process.extract(key, index.keys, scorer=fuzz.ratio, limit=limit * 4, score_cutoff=60)
    best: dict[str, tuple[str, str, float]] = {}
    for _key, score, i in matches:
        label, slug = index.labels[i]
        if slug not in best or score > best[slug][2]:
            best[slug] = (label, slug, round(float(score), 1))
    return sorted(best.values(), key=lambda m: -m[2])[:limit]


def fuzzy_hits(
    session: Session,
    close: list[tuple[str, str, float]],
    category: str | None = None,
    kind: str | None = None,
) -> list[Hit]:
    """The terms of ``closest`` matches as search hits, in the same order, filters applied."""
    if not close:
        return []
    where, params = _filters(category, kind)
    slugs = {slug: i for i, (_, slug, _) in enumerate(close)}
    params |= {f"s{i}": slug for slug, i in slugs.items()}
    rows = session.execute(
        text(
            "SELECT t.slug, t.name, t.summary, c.slug, t.kind"
            " FROM term t JOIN category c ON c.id = t.category_id"
            f" WHERE t.slug IN ({', '.join(f':s{i}' for i in slugs.values())}){where}"
        ),
        params,
    ).all()
    hits = []
    for slug, name, summary, category_slug, term_kind in rows:
        label, _, score = close[slugs[slug]]
        snippet = f"{_OPEN}{label}{_CLOSE}: {summary}"
        hits.append(
            Hit(slug, name, summary, category_slug, term_kind, _highlight(snippet), score / 100)
        )
    return sorted(hits, key=lambda hit: slugs[hit.slug])
