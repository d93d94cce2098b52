"""Full-text, prefix and fuzzy search over the terms, one implementation per backend.

SQLite uses an FTS5 table with bm25 column weights; PostgreSQL a weighted
``tsvector`` with a GIN index plus ``pg_trgm`` similarity on names. Both index the same
columns with the same ranking intent: name and aliases weigh most, then the summary, then the
body. The index is rebuilt inside the load transaction, so it never disagrees with the records.

User text never reaches a query parser as-is: it is cut into word tokens (letters and digits),
and each token is quoted, so FTS5 and tsquery syntax in a query is just text.
"""

import html
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from sqlalchemy import Connection, bindparam, text
from sqlmodel import Session

from kb.rules import fold_key, prefix_key

# Weights per column: name, aliases, summary, body.
_BM25_WEIGHTS = (10.0, 8.0, 3.0, 1.0)
_MAX_TOKENS = 16
# Highlight markers that cannot occur in stored text: the snippet is HTML-escaped afterwards
# and the markers become <mark> tags, so content can never inject markup.
_OPEN, _CLOSE = "\x02", "\x03"
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Made by the migrations (kb/migrations/versions/0003_search_indexes.py); named here because
# queries pick it by name.
_RANK_INDEX = "ix_term_search_rank"
# As migration 0001 creates it: a reload drops and recreates the table (see clear_index).
_FTS_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS term_fts USING fts5("
    "name, aliases, summary, body, tokenize='porter unicode61 remove_diacritics 2')"
)
_FTS_DEFAULTS = {"automerge": 4, "hashsize": 1 << 20}  # FTS5's own


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


def clear_index(session: Session) -> None:
    if _is_postgres(session):
        # Row by row, so that readers keep seeing the old index until the commit: TRUNCATE
        # or DROP would lock them out for the whole load.
        session.execute(text("DELETE FROM term_search"))
    else:
        # Deleting the rows of a 100k-term FTS5 table took 25 s, dropping it well under one;
        # in WAL mode readers keep their snapshot, old table included, until the commit.
        session.execute(text("DROP TABLE term_fts"))
        session.execute(text(_FTS_TABLE))


def _index_terms(
    session: Session, term_ids: Collection[int] | None, *, replace: bool = False
) -> None:
    """Insert the index rows of ``term_ids`` (every term if None) from ``term`` and ``alias``:
    the one statement both the full rebuild and single-term updates use; ``replace``: in
    place of the rows they have."""
    where, params = "", {}
    if term_ids is not None:
        where, params = "t.id IN :ids", {"ids": list(term_ids)}
    if _is_postgres(session):
        statement = postgres_index_statement("", where)
        if replace:
            statement += (
                " ON CONFLICT (term_id) DO UPDATE"
                " SET document = EXCLUDED.document, head = EXCLUDED.head"
            )
    else:
        aliases = "(SELECT group_concat(a.name, ' ') FROM alias a WHERE a.term_id = t.id)"
        statement = (
            f"INSERT{' OR REPLACE' if replace else ''} INTO term_fts"
            " (rowid, name, aliases, summary, body)"
            f" SELECT t.id, t.name, coalesce({aliases}, ''), t.summary, t.body FROM term t"
            f"{' WHERE ' + where if where else ''}"
        )
    query = text(statement)
    if term_ids is not None:
        query = query.bindparams(bindparam("ids", expanding=True))
    session.execute(query, params)


def postgres_index_statement(prefix: str, where: str = "") -> str:
    """The statement that computes and inserts the search entries of the terms ``where``
    selects (SQL over ``term t``; all if empty), from and into the tables named ``prefix`` +
    their usual name (``kb.swap`` builds fresh tables)."""
    aliases = (
        f"(SELECT string_agg(a.name, ' ' ORDER BY a.position) FROM {prefix}alias a"
        " WHERE a.term_id = t.id)"
    )
    return (
        f"INSERT INTO {prefix}term_search (term_id, document, head)"
        # The body's words weigh D, the least, which to_tsvector gives them already.
        " SELECT id, head || to_tsvector('english', body), head FROM ("
        " SELECT t.id, t.body,"
        " setweight(to_tsvector('english', t.name), 'A')"
        f" || setweight(to_tsvector('english', coalesce({aliases}, '')), 'A')"
        " || setweight(to_tsvector('english', t.summary), 'B') AS head"
        f" FROM {prefix}term t{' WHERE ' + where if where else ''}"
        # Not merged into the outer query, which would compute ``head`` twice.
        " OFFSET 0) AS parts"
    )


def rebuild_index(session: Session) -> None:
    """Index every term; call inside the transaction that wrote them. A whole load on
    PostgreSQL builds its index in fresh tables instead (``kb.swap``); there this is the index
    of every term in place, what updates of single terms must add up to."""
    clear_index(session)
    if _is_postgres(session):
        _index_terms(session, None)
    else:
        # Merging segments while they are written rewrites them again and again; one merge at
        # the end ('optimize') is cheaper and leaves a single segment. Fewer, larger segments
        # from a 16 MiB buffer of pending terms (1 MiB by default) save more: 100k terms took
        # 17.0 s, 14.1 s without merging, 11-12 s with both. Then the defaults come back, for
        # the small writes of update_index.
        _fts_config(session, "automerge", 0)
        _fts_config(session, "hashsize", 16 << 20)
        _index_terms(session, None)
        session.execute(text("INSERT INTO term_fts (term_fts) VALUES ('optimize')"))
        _fts_config(session, "automerge", _FTS_DEFAULTS["automerge"])
        _fts_config(session, "hashsize", _FTS_DEFAULTS["hashsize"])


def _fts_config(session: Session, name: str, value: int) -> None:
    # Stored in the table (term_fts_config), so it lasts beyond this connection.
    session.execute(
        text("INSERT INTO term_fts (term_fts, rank) VALUES (:name, :value)"),
        {"name": name, "value": value},
    )


def update_index(session: Session, term_ids: Collection[int], *, existing: bool = False) -> None:
    """Bring the index up to date for exactly ``term_ids``: call inside the transaction that
    changed those terms (their ``term``, ``alias`` or ``lookup_key`` rows, or deleted them),
    after flushing it, so readers see records and index change together. ``existing``: none
    of them was deleted, so one statement replaces their entries (a write's round trip less).
    """
    if not term_ids:
        return
    if existing:
        _index_terms(session, term_ids, replace=True)
        return
    table, column = ("term_search", "term_id") if _is_postgres(session) else ("term_fts", "rowid")
    session.execute(
        text(f"DELETE FROM {table} WHERE {column} IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": list(term_ids)},
    )
    # Ids no longer in ``term`` select nothing: a deleted term just leaves the index.
    _index_terms(session, term_ids)


# --- full-text search ------------------------------------------------------------------------


def _highlight(snippet: str) -> str:
    return html.escape(snippet, quote=False).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


@lru_cache(maxsize=256)
def _word_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # Close to what the stemmers match: the same word, or one of at least four letters sharing
    # a long enough start ("normalization" ~ "normalizing"); the last query word also matches
    # as a prefix. One compiled pattern per query: a Python test per body word cost 85% of
    # building a page of results.
    alternatives = []
    for i, query in enumerate(words):
        stem = query[: max(4, len(query) - 3)]
        alternatives += [re.escape(query), re.escape(stem) + f".{{{max(0, 4 - len(stem))},}}"]
        if i == len(words) - 1:
            alternatives.append(re.escape(query) + ".*")
    return re.compile("|".join(alternatives), re.DOTALL)


def snippet(summary: str, body: str, words: list[str], width: int = 24) -> str:
    """About ``width`` words of the summary or body around the first match, the matches in
    <mark> tags, everything else HTML-escaped."""
    pattern = _word_pattern(tuple(words))
    matches = pattern.fullmatch
    for source in (summary, body):
        # A word that matches is a stretch of the case-folded text, so where the pattern
        # occurs nowhere no word needs reading: most bodies of terms found by a name prefix.
        if pattern.search(source.casefold()) is None:
            continue
        # Words are read only up to the end of the window around the first match.
        spans: list[tuple[int, int]] = []
        first, stop = -1, -1
        for m in _TOKEN.finditer(source):
            spans.append(m.span())
            if first < 0 and matches(m.group().casefold()):
                first = len(spans) - 1
                stop = max(0, first - 4) + width
            if len(spans) == stop:
                break
        if first >= 0:
            break
    else:
        return _highlight(summary)
    start_word = max(0, first - 4)
    end_word = min(len(spans), start_word + width)
    start, end = spans[start_word][0], spans[end_word - 1][1]
    marked, cursor = [], start
    for a, b in spans[start_word:end_word]:
        if matches(source[a:b].casefold()):
            marked += [source[cursor:a], _OPEN, source[a:b], _CLOSE]
            cursor = b
    marked.append(source[cursor:end])
    shown = " ".join("".join(marked).split())
    return _highlight(("…" if start > 0 else "") + shown + ("…" if end < len(source) else ""))


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


BROAD = 1000
"""Above this many matches (PostgreSQL: as the planner estimates them; SQLite: counted up to
here) a query is broad, and ``full_text`` ranks only some of its matches (see there)."""
_CANDIDATES = 1000  # the most matches a broad query ranks, per tier


@dataclass(frozen=True)
class Found:
    hits: list[Hit]
    total: int
    total_is_estimate: bool = False


def full_text(
    session: Session,
    words: list[str],
    *,
    category: str | None = None,
    kind: str | None = None,
    limit: int = 20,
    offset: int = 0,
    match_all: bool = True,
    query: str | None = None,
    broad: int | None = None,
) -> Found:
    """Terms matching ``words`` (all of them, or any), best first, and how many match.

    A term whose slug, name or alias is the query as look-ups compare names (``fold_key``)
    ranks first, however often other bodies mention it ("RBM" finds the restricted Boltzmann
    machine before deep belief networks). ``query`` is the text as typed, when the words
    dropped something that tells terms apart ("k-means++" is not "k means"). Ranking touches
    only ids and scores; the page's rows are read afterwards.

    A query with more than ``broad`` (default ``BROAD``) matches ranks in tiers instead of
    ranking every match (a common word's 45k matches at 100k terms cost 150-250 ms on
    PostgreSQL): first the matches with a query word in their name or an alias (the ones that
    rank high anyway), then the others, each tier ranked over at most ``_CANDIDATES`` of its
    matches. On PostgreSQL ``total`` is then the planner's estimate (``total_is_estimate``);
    FTS5 counts its matches exactly and cheaply. The real glossary (442 terms) never has so
    many matches: its answers are those of ranking every match.
    """
    if not words:
        return Found([], 0)
    phrase = fold_key(" ".join(words))
    typed = phrase if query is None else fold_key(query)
    exact = session.execute(
        text(
            "SELECT term_id FROM lookup_key WHERE key IN (:typed, :phrase)"
            " ORDER BY key = :typed DESC LIMIT 1"
        ),
        {"typed": typed, "phrase": phrase},
    ).scalar()
    where, params = _filters(category, kind)
    if exact is not None and not match_all:
        # Widening to any word is for queries no term matches; this one names a term (by its
        # slug, whose words need not be in its text), so that term alone is the answer, not
        # with every term that shares one of its words (at 100k terms: 40-60k, 100-300 ms).
        where += " AND t.id = :exact"
    params |= {"phrase": phrase, "exact": exact or 0, "limit": limit, "offset": offset}
    postgres = _is_postgres(session)
    if postgres:
        # The planner prices a GIN prefix search (':*') above scanning the table, but a scan
        # has to detoast every document: 34-44 ms against 1.2-1.7 ms at 10k terms. Steer it
        # to bitmap scans, for this transaction only. The same estimates start the JIT
        # compiler on common words: 65 ms of compiling for a query that runs in less.
        session.execute(
            text(
                "SELECT set_config('enable_seqscan', 'off', true),"
                " set_config('enable_indexscan', 'off', true), set_config('jit', 'off', true),"
                " set_config('max_parallel_workers_per_gather', '0', true)"
            )
        )
        params["query"] = _tsquery(words, match_all)
        # The tsquery is written inline (not joined in as a row): only a constant right-hand
        # side lets the planner use the GIN index.
        query = "to_tsquery('english', :query)"
        # The same condition as ``document @@ query``, but the last word's prefix is looked up
        # in the GIN index of ``head`` (whose weight-A lexemes are the document's): the index
        # of the document cannot tell a name from a body word, so every body word with that
        # prefix cost a detoasted document to recheck (100k terms, "qzv": 217 -> 44 ms).
        params |= {
            "words": (" & " if match_all else " | ").join(f"'{w}'" for w in words),
            "prefix": f"'{words[-1]}':*A",
            "rest": " & ".join(f"'{w}'" for w in words[:-1]),
            "named": " | ".join([*(f"'{w}'" for w in words), f"'{words[-1]}':*"]),
        }
        other_words = "TRUE"
        if match_all and len(words) > 1:
            # Stop words drop out of a tsquery; if nothing is left, nothing is required.
            rest = "to_tsquery('english', :rest)"
            other_words = f"(numnode({rest}) = 0 OR s.document @@ {rest})"
        # Two disjoint sets: one bitmap of both would recheck, weight by weight, every row on
        # a page holding a prefix match, detoasting documents that the words' GIN lookup alone
        # decides (a common word's 45k matches: 130-220 -> 40-60 ms). The document holds
        # ``head``: where it has the words, so does the document.
        words_query = "to_tsquery('english', :words)"
        by_words = f"SELECT term_id, head FROM term_search WHERE document @@ {words_query}"
        # A broad query ranks only the terms that have its words, not those found by the
        # last word as a name prefix alone: rechecking those detoasts a document each (1k of
        # them, 37 ms), and completing a name is what /suggest is for.
        broad_index = f"({by_words}) AS s"
        index = (
            f"({by_words}"
            " UNION ALL SELECT term_id, head FROM term_search s"
            f" WHERE s.head @@ to_tsquery('english', :prefix) AND {other_words}"
            f" AND NOT (s.head @@ {words_query} OR s.document @@ {words_query})) AS s"
        )
        match = "TRUE"
        terms = "term t ON t.id = s.term_id"
        score = f"ts_rank(s.head, {query}) + public.similarity(t.sort_name, :phrase)"
        # A query word in a name or an alias: the expression of ix_term_search_names.
        named = "(ts_filter(s.head, '{a}') @@ to_tsquery('english', :named) OR s.term_id = :exact)"
        tiers = (f" AND {named}", f" AND NOT {named}")
    else:
        params["query"] = _fts5_query(words, match_all)
        index, match = "term_fts", "term_fts MATCH :query"
        broad_index = index
        # The planner would look terms up by rowid, reading their bodies (see _RANK_INDEX).
        terms = f"term t INDEXED BY {_RANK_INDEX} ON t.id = term_fts.rowid"
        score = f"-bm25(term_fts, {', '.join(str(w) for w in _BM25_WEIGHTS)})"
        named_words = _fts5_named(words)
        params |= {
            "named": f"({params['query']}) AND {named_words}",
            "unnamed": f"({params['query']}) NOT {named_words}",
        }
        tiers = (" AND term_fts MATCH :named", " AND term_fts MATCH :unnamed")

    def matching_in(index: str) -> str:
        joined = f"{index} JOIN {terms} JOIN category c ON c.id = t.category_id"
        return f" FROM {joined} WHERE {match}{where}"

    matching = matching_in(index)
    # Every row of the index is a term: without filters there is nothing to join.
    counting = matching if where else f" FROM {index} WHERE {match}"
    # What a broad query ranks and counts (PostgreSQL: a plan far quicker to make than the
    # whole match's).
    ranking = matching_in(broad_index)
    broad = BROAD if broad is None else broad
    estimate = _estimate(
        session, ranking if where else f" FROM {broad_index} WHERE {match}", params, broad
    )
    if estimate > broad:
        return _broad(session, words, ranking, score, tiers, counting, params, estimate)
    # Ranking visits every match anyway. On PostgreSQL it counts them too: a second statement
    # found them all again (a common word's 45k matches at 100k terms: 170-240 ms more,
    # rechecking documents). FTS5 counts from its index alone, faster than a window that
    # holds every ranked row (5 ms against 50 more for 45k matches).
    # The window is taken before the order, which then keeps only the page's rows in memory
    # (below the window it sorted every match).
    count_column = ", count(*) OVER () AS total" if postgres else ""
    ranked = session.execute(
        text(
            f"SELECT id, score{', total' if postgres else ''} FROM"
            f" (SELECT t.id, {score} AS score, t.sort_name{count_column}{matching}) AS ranked"
            " ORDER BY id = :exact DESC, score DESC, sort_name LIMIT :limit OFFSET :offset"
        ),
        params,
    ).all()
    if offset == 0 and len(ranked) < limit:  # a first page that is not full holds them all
        total = len(ranked)
    elif postgres and ranked:
        total = int(ranked[0][2])
    else:
        total = session.execute(text(f"SELECT count(*){counting}"), params).scalar_one()
    return Found(page_hits(session, [(row[0], float(row[1])) for row in ranked], words), total)


def _estimate(session: Session, counting: str, params: dict[str, object], broad: int) -> int:
    """How many terms match, as far as telling whether more than ``broad`` do: PostgreSQL's
    planner estimate (its statistics of the documents' lexemes: within 5 % of the count on
    the synthetic glossary, 0.2-0.5 ms, where counting 45k matches took 30-40), FTS5's
    count stopped after ``broad + 1``."""
    if _is_postgres(session):
        plan = session.execute(
            text(f"EXPLAIN (FORMAT JSON) SELECT 1{counting}"), params
        ).scalar_one()
        return int(plan[0]["Plan"]["Plan Rows"])
    return int(
        session.execute(
            text(f"SELECT count(*) FROM (SELECT 1{counting} LIMIT {int(broad) + 1})"), params
        ).scalar_one()
    )


def _broad(
    session: Session,
    words: list[str],
    matching: str,
    score: str,
    tiers: tuple[str, str],
    counting: str,
    params: dict[str, object],
    estimate: int,
) -> Found:
    """``full_text`` of a query with many matches (``estimate``, see ``_estimate``): the
    named tier, then the rest, each ranked over at most ``_CANDIDATES`` of its matches."""
    offset, limit = int(str(params["offset"])), int(str(params["limit"]))
    ranked: list[tuple[int, float]] = []
    skip = offset
    for tier in tiers:
        rows = session.execute(
            text(
                "SELECT id, score, total FROM (SELECT id, score, sort_name,"
                " count(*) OVER () AS total FROM"
                f" (SELECT t.id, {score} AS score, t.sort_name{matching}{tier}"
                f" LIMIT {_CANDIDATES}) AS candidates) AS ranked"
                " ORDER BY id = :exact DESC, score DESC, sort_name LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": limit - len(ranked), "offset": skip},
        ).all()
        ranked += [(row[0], float(row[1])) for row in rows]
        if len(ranked) == limit:
            break
        # The tier holds ``total`` candidates: the page goes on that far into the next one.
        tier_total = int(rows[0][2]) if rows else _tier_size(session, matching, tier, params)
        skip = max(0, skip - tier_total)
    hits = page_hits(session, ranked, words)
    if _is_postgres(session):
        return Found(hits, max(estimate, offset + len(hits)), total_is_estimate=True)
    return Found(hits, session.execute(text(f"SELECT count(*){counting}"), params).scalar_one())


def _tier_size(session: Session, matching: str, tier: str, params: dict[str, object]) -> int:
    """How many candidates a tier has (at most ``_CANDIDATES``): for a page past its end."""
    return int(
        session.execute(
            text(f"SELECT count(*) FROM (SELECT 1{matching}{tier} LIMIT {_CANDIDATES}) AS c"),
            params,
        ).scalar_one()
    )


def page_hits(session: Session, ranked: list[tuple[int, float]], words: list[str]) -> list[Hit]:
    """The hits of a page: ``ranked`` (term id, score), in that order, each with its snippet
    for ``words``."""
    if not ranked:
        return []
    position = {term_id: i for i, (term_id, _) in enumerate(ranked)}
    rows = session.execute(
        text(
            "SELECT t.id, t.slug, t.name, t.summary, c.slug, t.kind, t.body"
            " FROM term t JOIN category c ON c.id = t.category_id"
            f" WHERE t.id IN ({', '.join(str(int(i)) for i in position)})"
        )
    ).all()
    hits = sorted(rows, key=lambda row: position[row[0]])
    return [
        Hit(
            slug=slug,
            name=name,
            summary=summary,
            category=category,
            kind=kind,
            snippet=snippet(summary, body, words),
            score=round(ranked[position[term_id]][1], 6),
        )
        for term_id, slug, name, summary, category, kind, body in hits
    ]


# The last word also matches as the start of a name or alias, for people still typing; not as
# the start of any body word, which at scale would match most of the glossary.


def _fts5_query(words: list[str], match_all: bool) -> str:
    # Every token is a quoted string, so nothing in it is FTS5 syntax.
    quoted = [f'"{w}"' for w in words]
    quoted[-1] = f"({quoted[-1]} OR {{name aliases}} : {quoted[-1]}*)"
    return (" AND " if match_all else " OR ").join(quoted)


def _fts5_named(words: list[str]) -> str:
    """A query word in the name or an alias (the last one also as a prefix there)."""
    quoted = [f'"{w}"' for w in words]
    return f"({{name aliases}} : ({' OR '.join([*quoted, quoted[-1] + '*'])}))"


def _tsquery(words: list[str], match_all: bool) -> str:
    # Tokens hold only word characters, so single quotes make each a plain lexeme; weight A
    # is the name and the aliases.
    parts = [f"'{w}'" for w in words]
    parts[-1] = f"({parts[-1]} | {parts[-1]}:*A)"
    return (" & " if match_all else " | ").join(parts)


# --- type-ahead ------------------------------------------------------------------------------


def suggest(session: Session, prefix: str, limit: int = 8) -> list[Suggestion]:
    """Names and aliases that start with ``prefix``, shortest first, compared as look-ups
    compare them (``prefix_key``: "learning r" finds "Learning-rate schedule"), and the one
    that ``prefix`` names whole, plural folded ("k-means" finds k-means, stored as "kmean")."""
    key = prefix_key(prefix)
    if not key:
        return []
    collate = ' COLLATE "C"' if _is_postgres(session) else ""
    rows = session.execute(
        text(
            "SELECT k.label, t.slug, t.name FROM lookup_key k JOIN term t ON t.id = k.term_id"
            f" WHERE k.source <> 'slug' AND (k.key{collate} >= :low AND k.key{collate} < :high"
            f" OR k.key = :whole) ORDER BY length(k.key), k.key{collate} LIMIT :limit"
        ),
        # U+10FFFF sorts after every character, byte-wise as in code points.
        {"low": key, "high": key + "\U0010ffff", "whole": fold_key(prefix), "limit": limit * 3},
    ).all()
    seen: set[str] = set()
    suggestions = []
    for label, slug, name in rows:
        if slug not in seen:
            seen.add(slug)
            suggestions.append(Suggestion(label, slug, name))
    return suggestions[:limit]


# --- typo tolerance --------------------------------------------------------------------------


# Keys whose length differs from the query's by more than this are not compared: an edit
# distance that large is no typo, and skipping them keeps a 100k-term glossary fast.
_LENGTH_WINDOW = 3


# fuzz.ratio is 200 * (longest common subsequence) / (sum of the lengths), 0-100.
_MIN_RATIO = 60


@dataclass(frozen=True)
class _FuzzyIndex:
    version: str | None
    keys: list[str]  # shortest first
    owners: list[tuple[str, str]]  # (label, slug) of each key
    lengths: npt.NDArray[np.int64]  # of each key
    # Of each key: bit (code point % 64) set for each of its characters.
    characters: npt.NDArray[np.uint64]

    @classmethod
    def of(cls, version: str | None, rows: list[tuple[str, str, str]]) -> "_FuzzyIndex":
        """The index of ``(key, label, slug)`` rows."""
        rows = sorted(rows, key=lambda row: len(row[0]))
        # Fresh copies of the keys, made one after another, lie next to each other in memory;
        # as the rows leave them, interleaved with labels and slugs, scanning 50k of them took
        # 2.6 times as long (cache misses, at 100k terms).
        keys = [key.encode().decode() for key, _, _ in rows]
        lengths = np.array([len(k) for k in keys], dtype=np.int64)
        # Every key's characters in one array, then each key's bits or-ed together.
        code_points = np.frombuffer("".join(keys).encode("utf-32-le"), dtype=np.uint32)
        bits = np.left_shift(np.uint64(1), (code_points % 64).astype(np.uint64))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if keys else lengths
        # reduceat gives an empty key the bits of the next: more bits only loosen the bound.
        characters = (
            np.bitwise_or.reduceat(bits, starts) if len(bits) else np.zeros(len(keys), np.uint64)
        )
        return cls(version, keys, [(label, slug) for _, label, slug in rows], lengths, characters)

    def window(self, length: int) -> tuple[int, int]:
        """The range of ``keys`` whose length is close enough to ``length``."""
        low = np.searchsorted(self.lengths, length - _LENGTH_WINDOW, side="left")
        high = np.searchsorted(self.lengths, length + _LENGTH_WINDOW, side="right")
        return int(low), int(high)

    def within_reach(self, key: str, low: int, high: int) -> npt.NDArray[np.intp]:
        """Positions of the keys in ``low:high`` that may score ``_MIN_RATIO`` against ``key``.

        Their common subsequence is at most the count of ``key``'s characters that each of
        them has (or shares a bit with): a bound computed for all at once, where scoring
        them one by one took 3 ms at 100k terms, most of them hopeless.
        """
        characters = self.characters[low:high]
        common = np.zeros(high - low, dtype=np.int64)
        for character, count in Counter(key).items():
            bit = np.uint64(1 << (ord(character) % 64))
            common += count * ((characters & bit) != 0)
        reach = 200 * common >= _MIN_RATIO * (len(key) + self.lengths[low:high])
        return low + np.flatnonzero(reach)


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
    )
    index = _FuzzyIndex.of(version, [(key, label, slug) for key, label, slug in rows])
    with _fuzzy_lock:
        _fuzzy_indexes[database] = index
    return index


def closest(
    session: Session, query: str, version: str | None, limit: int = 5
) -> list[tuple[str, str, float]]:
    """``(label, slug, score)`` of the slugs, names and aliases nearest to ``query``, by edit
    distance (0-100), best first, one per term."""
    key = fold_key(" ".join(tokens(query)))
    if not key:
        return []
    index = _fuzzy_index(session, version)
    near = index.within_reach(key, *index.window(len(key)))
    matches = process.extract(
        key,
        [index.keys[i] for i in near],
        scorer=fuzz.ratio,
        limit=limit * 4,
        score_cutoff=_MIN_RATIO,
    )
    best: dict[str, tuple[str, str, float]] = {}
    for _key, score, i in matches:
        label, slug = index.owners[near[i]]
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
