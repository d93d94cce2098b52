"""GET /api/v1/search and /suggest, on SQLite (FTS5) and PostgreSQL (tsvector + pg_trgm)."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz
from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kb import loader, repository
from kb.config import Settings
from kb.content import read_glossary
from kb.db import WRITE_LOCK, make_engine
from kb.models import Alias, LookupKey, Term
from kb.search import (
    _FuzzyIndex,
    _highlight,
    full_text,
    rebuild_index,
    snippet,
    tokens,
    update_index,
)
from tests.kb.glossary_factory import TERMS, glossary_with, write_glossary

API = "/api/v1"


def search(client: TestClient, q: str, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get(f"{API}/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    body: dict = response.json()  # type: ignore[type-arg]
    return body


def slugs(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [item["slug"] for item in body["items"]]


@pytest.mark.parametrize(
    ("q", "first"),
    [
        ("batch normalization", "batch-normalization"),
        ("BN", "batch-normalization"),
        ("gd", "gradient-descent"),
        ("heavy ball", "momentum"),
        ("Adaptive Moment Estimation", "adam-optimizer"),
        ("momen", "momentum"),  # the last word matches as a prefix
        ("backprop", "backpropagation"),
    ],
)
def test_names_and_aliases_rank_first(client: TestClient, q: str, first: str) -> None:
    body = search(client, q)
    assert slugs(body)[0] == first
    assert body["query"] == q
    assert body["did_you_mean"] is None


def test_result_shape_and_highlighting(client: TestClient) -> None:
    body = search(client, "biased variance")
    [item] = body["items"]
    assert item["slug"] == "batch-normalization"
    assert body["total_is_estimate"] is False
    assert set(item) == {"slug", "name", "summary", "category", "kind", "snippet", "score"}
    assert "<mark>" in item["snippet"] and "</mark>" in item["snippet"]
    assert item["score"] > 0
    assert body["total"] == 1


def test_body_words_are_found(client: TestClient) -> None:
    assert slugs(search(client, "velocity")) == ["momentum"]


def test_every_word_must_match_unless_none_do(client: TestClient) -> None:
    assert slugs(search(client, "decay weights")) == ["adamw"]
    # No term has both words: terms with either are returned.
    assert set(slugs(search(client, "velocity decoupled"))) == {"momentum", "adamw"}


def test_typo_gives_did_you_mean_and_results(client: TestClient) -> None:
    body = search(client, "adma")
    assert body["did_you_mean"] == "Adam"
    assert slugs(body)[0] == "adam-optimizer"
    assert body["items"][0]["snippet"].startswith("<mark>Adam</mark>")
    assert search(client, "rmsprp")["did_you_mean"] == "RMSProp"


def test_nothing_close_gives_nothing(client: TestClient) -> None:
    body = search(client, "zzzzqqqq")
    assert body == {
        "query": "zzzzqqqq",
        "mode": "lexical",
        "items": [],
        "total": 0,
        "total_is_estimate": False,
        "limit": 20,
        "offset": 0,
        "did_you_mean": None,
    }


def test_filters_and_pagination(client: TestClient) -> None:
    everything = search(client, "adam")
    assert everything["total"] >= 2
    page = search(client, "adam", limit=1, offset=1)
    assert slugs(page) == slugs(everything)[1:2]
    assert page["total"] == everything["total"]
    assert slugs(search(client, "gradient", category="fundamentals")) == ["backpropagation"]
    assert slugs(search(client, "gradients", kind="concept")) == ["backpropagation"]


def test_unknown_category_is_404(client: TestClient) -> None:
    response = client.get(f"{API}/search", params={"q": "adam", "category": "optimisation"})
    assert response.status_code == 404
    assert response.json()["suggestions"] == ["optimization"]


@pytest.mark.parametrize("q", ["", " ", "   \t\n", "x" * 501, "a" * 10_000])
def test_empty_blank_and_overlong_queries_get_422(client: TestClient, q: str) -> None:
    response = client.get(f"{API}/search", params={"q": q})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "q"]


SYNTAX = [
    '"',
    "'",
    "*",
    "-",
    ":",
    "^",
    "(",
    ")",
    '"adam',
    "adam*",
    "-adam",
    "adam:*",
    "^adam",
    "(adam OR momentum",
    "adam AND",
    "NOT adam",
    "adam NEAR momentum",
    "NEAR(adam momentum, 2)",
    "name:adam",
    "adam & | ! <->",
    "\x00adam\x07",
    "\uff41\uff44\uff41\uff4d",  # full-width letters
    "批量归一化 batch",
    "Адам",
    "🙂 adam 🙂",
    "a' OR '1'='1",
]


@pytest.mark.parametrize("q", SYNTAX)
def test_query_syntax_is_just_text(client: TestClient, q: str) -> None:
    response = client.get(f"{API}/search", params={"q": q})
    assert response.status_code == 200, response.text


@given(q=st.text(min_size=1, max_size=200))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_query_is_safe(client: TestClient, q: str) -> None:
    response = client.get(f"{API}/search", params={"q": q})
    assert response.status_code in (200, 422), response.text
    assert response.json()


@given(q=st.text(min_size=1, max_size=100))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_prefix_is_safe(client: TestClient, q: str) -> None:
    response = client.get(f"{API}/suggest", params={"q": q})
    assert response.status_code == 200, response.text


def test_tokens_keep_only_words() -> None:
    assert tokens('"Adam" AND (momentum*) -x:^y') == ["adam", "and", "momentum", "x", "y"]
    assert tokens("___ ·· ") == []
    assert len(tokens("w " * 100)) == 16


def test_snippets_are_html_escaped() -> None:
    assert _highlight("<b>\x02x\x03</b> & y") == "&lt;b&gt;<mark>x</mark>&lt;/b&gt; &amp; y"


def test_index_follows_a_reload(client: TestClient, settings: Settings, data_dir: Path) -> None:
    assert slugs(search(client, "velocity")) == ["momentum"]
    momentum = {**TERMS["momentum"], "summary": "Keeps inertia.", "body": "Inertia helps."}
    terms = {**TERMS, "momentum": momentum}
    engine = make_engine(settings.database_url)
    loader.load(engine, read_glossary(write_glossary(data_dir, terms)))
    engine.dispose()
    assert search(client, "velocity")["total"] == 0
    assert slugs(search(client, "inertia")) == ["momentum"]


def suggest(client: TestClient, q: str, **params: object) -> list[tuple[str, str]]:
    response = client.get(f"{API}/suggest", params={"q": q, **params})
    assert response.status_code == 200
    return [(item["label"], item["slug"]) for item in response.json()["items"]]


def test_suggest_by_prefix_shortest_first(client: TestClient) -> None:
    assert suggest(client, "ad") == [
        ("Adam", "adam-optimizer"),
        ("AdamW", "adamw"),
    ]
    assert suggest(client, "BATCH") == [("batch norm", "batch-normalization")]
    assert (
        suggest(client, "b", limit=2)
        == [("BN", "batch-normalization"), ("Backprop", "backpropagation")][:0]
        or len(suggest(client, "b", limit=2)) == 2
    )
    assert suggest(client, "zz") == []


def test_suggest_compares_names_as_look_ups_do(client: TestClient) -> None:
    assert suggest(client, "batch-n") == [("batch norm", "batch-normalization")]
    assert suggest(client, "Batch_No") == [("batch norm", "batch-normalization")]
    # A whole name in the plural is found too (its key is the singular's), a prefix is not one.
    assert suggest(client, "batch norms") == [("batch norm", "batch-normalization")]
    assert suggest(client, "heavy balls") == [("heavy ball", "momentum")]
    assert suggest(client, "heavy bal") == [("heavy ball", "momentum")]


def test_suggest_validates_its_parameters(client: TestClient) -> None:
    assert client.get(f"{API}/suggest", params={"q": ""}).status_code == 422
    assert client.get(f"{API}/suggest", params={"q": "a", "limit": 21}).status_code == 422


def _found(session: Session, query: str) -> list[str]:
    return [hit.slug for hit in full_text(session, tokens(query)).hits]


def test_update_index_follows_edits_of_single_terms(engine: Engine, data_dir: Path) -> None:
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as session:
        momentum = session.exec(select(Term).where(Term.slug == "momentum")).one()
        adamw = session.exec(select(Term).where(Term.slug == "adamw")).one()
        assert momentum.id is not None and adamw.id is not None
        momentum.summary, momentum.body = "Keeps inertia.", "Inertia helps."
        session.execute(delete(Alias).where(col(Alias.term_id) == momentum.id))
        session.execute(
            delete(LookupKey).where(
                col(LookupKey.term_id) == momentum.id, col(LookupKey.source) == "alias"
            )
        )
        session.add(Alias(term_id=momentum.id, position=0, name="Flywheel"))
        session.add(
            LookupKey(key="flywheel", term_id=momentum.id, label="Flywheel", source="alias")
        )
        session.delete(adamw)
        session.flush()
        update_index(session, [momentum.id, adamw.id])
        session.commit()

        assert _found(session, "velocity") == []
        assert _found(session, "heavy ball") == []
        assert _found(session, "inertia") == ["momentum"]
        assert _found(session, "flywheel") == ["momentum"]
        assert "adamw" not in _found(session, "decoupled weight decay adam")
        assert _found(session, "rmsprop") == ["rmsprop"]  # other terms keep their rows

        # Exactly what a full rebuild would index.
        queries = ["inertia", "adam", "gradient", "batch norm", "decay", "velocity flywheel"]
        updated = {q: full_text(session, tokens(q), match_all=False) for q in queries}
        rebuild_index(session)
        session.commit()
        assert {q: full_text(session, tokens(q), match_all=False) for q in queries} == updated


def test_update_index_of_existing_terms_replaces_their_entries(
    engine: Engine, data_dir: Path
) -> None:
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as session:
        momentum = session.exec(select(Term).where(Term.slug == "momentum")).one()
        assert momentum.id is not None
        momentum.summary, momentum.body = "Keeps inertia.", "Inertia helps."
        session.flush()
        update_index(session, [momentum.id], existing=True)
        session.commit()

        assert _found(session, "velocity") == []
        assert _found(session, "inertia") == ["momentum"]
        queries = ["inertia", "momentum", "adam", "gradient", "heavy ball"]
        updated = {q: full_text(session, tokens(q), match_all=False) for q in queries}
        rebuild_index(session)
        session.commit()
        assert {q: full_text(session, tokens(q), match_all=False) for q in queries} == updated


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_load_leaves_no_pending_index_entries(engine: Engine, data_dir: Path) -> None:
    # PostgreSQL's GIN indexes queue new entries in a pending list that every lookup reads in
    # full; the load merges them, so the first searches after it are as fast as later ones.
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as session:
        flushed = session.execute(
            text(
                "SELECT c.relname, gin_clean_pending_list(c.oid) FROM pg_class c JOIN pg_am a"
                " ON a.oid = c.relam AND a.amname = 'gin'"
                " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'i'"
            )
        ).all()
    # Three per partition of the search entries, and the names' trigrams.
    assert len(flushed) == 7
    assert [(index, pages) for index, pages in flushed if pages] == []


def test_update_index_of_nothing_changes_nothing(engine: Engine, data_dir: Path) -> None:
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as session:
        update_index(session, [])
        update_index(session, [10_000])  # no such term
        session.commit()
        assert _found(session, "velocity") == ["momentum"]


def _marked_words(summary: str, body: str, words: list[str], width: int = 24) -> str:
    """The snippet rule spelled out slowly: every word tested on its own, then the window of
    ``width`` words from four before the first match."""

    def matches(word: str) -> bool:
        word = word.casefold()
        for i, query in enumerate(words):
            stem = query[: max(4, len(query) - 3)]
            if word == query or (len(word) >= 4 and word.startswith(stem)):
                return True
            if i == len(words) - 1 and word.startswith(query):
                return True
        return False

    for source in (summary, body):
        spans = [m.span() for m in re.finditer(r"\w+", source)]
        hits = [i for i, (a, b) in enumerate(spans) if matches(source[a:b])]
        if hits:
            break
    else:
        return _highlight(summary)
    window = spans[max(0, hits[0] - 4) : max(0, hits[0] - 4) + width]
    start, end = window[0][0], window[-1][1]
    out, cursor = [], start
    for a, b in window:
        if matches(source[a:b]):
            out += [source[cursor:a], "\x02", source[a:b], "\x03"]
            cursor = b
    out.append(source[cursor:end])
    shown = " ".join("".join(out).split())
    return _highlight(("…" if start > 0 else "") + shown + ("…" if end < len(source) else ""))


_WORDS = ["Normalizing", "ADAM", "Straße", "STRASSE", "ǆ", "İstanbul", "ﬁne", "x1y", "\u0131"]


@given(
    words=st.lists(st.sampled_from(_WORDS) | st.text(min_size=1, max_size=6), min_size=1),
    summary=st.lists(st.sampled_from(_WORDS) | st.text(max_size=8), max_size=40).map(" ".join),
    body=st.lists(st.sampled_from(_WORDS) | st.text(max_size=8), max_size=80).map(" ".join),
)
@settings(max_examples=300, deadline=None)
def test_snippet_marks_the_words_the_rule_says(words: list[str], summary: str, body: str) -> None:
    query = tokens(" ".join(words))
    if query:
        assert snippet(summary, body, query) == _marked_words(summary, body, query)


def test_readers_see_the_old_index_until_a_reload_commits(engine: Engine, data_dir: Path) -> None:
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as writer:
        writer.connection(execution_options=WRITE_LOCK)
        repository.delete_content(writer)
        rebuild_index(writer)
        writer.flush()
        assert _found(writer, "velocity") == []
        with Session(engine) as reader:
            assert _found(reader, "velocity") == ["momentum"]
        writer.rollback()
    with Session(engine) as reader:
        assert _found(reader, "velocity") == ["momentum"]


def test_a_slug_with_words_not_in_the_text_finds_that_term_alone(
    engine: Engine, data_dir: Path
) -> None:
    lbfgs = {
        "name": "L-BFGS",
        "category": "optimization",
        "kind": "algorithm",
        "summary": "A limited-memory quasi-Newton method: a few recent gradient differences.",
        "body": "Approximates the inverse Hessian from the last steps.",
    }
    loader.load(
        engine, read_glossary(write_glossary(data_dir, glossary_with(lbfgs_gradient=lbfgs)))
    )
    with Session(engine) as session:
        found = full_text(session, tokens("lbfgs-gradient"), match_all=False)
        hits, total = found.hits, found.total
        assert ([hit.slug for hit in hits], total) == (["lbfgs-gradient"], 1)
        assert hits[0].score > 0
        # Filters still apply.
        assert (
            full_text(session, tokens("lbfgs-gradient"), kind="concept", match_all=False).total == 0
        )
        # A query that names no term still widens to terms with any of its words.
        assert _found(session, "memory velocity") == []
        widened = full_text(session, tokens("memory velocity"), match_all=False).hits
        assert {hit.slug for hit in widened} == {"lbfgs-gradient", "momentum"}


_KEY = st.text(st.sampled_from("abcdeé ß-1\u0131\U0001f600"), max_size=12)


@given(query=_KEY.filter(bool), keys=st.lists(_KEY, max_size=30))
@settings(max_examples=300, deadline=None)
def test_typo_candidates_keep_every_key_within_reach(query: str, keys: list[str]) -> None:
    """The bound that spares scoring most keys never drops one that rapidfuzz would keep."""
    index = _FuzzyIndex.of(None, [(key, key, key) for key in keys])
    kept = set(index.within_reach(query, 0, len(keys)).tolist())
    for i, key in enumerate(index.keys):
        if fuzz.ratio(query, key) >= 60:
            assert i in kept


def _named(session: Session, slug: str, word: str) -> bool:
    term = session.exec(select(Term).where(Term.slug == slug)).one()
    aliases = session.exec(select(Alias.name).where(Alias.term_id == term.id)).all()
    return any(word in tokens(name) for name in [term.name, *aliases])


@pytest.mark.parametrize("word", ["gradient", "adam", "momentum"])
def test_broad_queries_rank_named_terms_first(engine: Engine, data_dir: Path, word: str) -> None:
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as session:
        exact = full_text(session, [word])
        broad = full_text(session, [word], broad=1)
        assert not exact.total_is_estimate
        assert exact.total > 1  # broad=1 makes it broad
        # The same terms, those with the word in a name or alias first (each tier ranked as
        # the exact path ranks it).
        found = [hit.slug for hit in broad.hits]
        assert sorted(found) == sorted(hit.slug for hit in exact.hits)
        named = [_named(session, slug, word) for slug in found]
        assert named == sorted(named, reverse=True)
        assert True in named and False in named
        for tier in (True, False):
            assert [s for s, n in zip(found, named, strict=True) if n is tier] == [
                hit.slug for hit in exact.hits if _named(session, hit.slug, word) is tier
            ]
        # Pages go on across the tiers.
        pages = [full_text(session, [word], broad=1, limit=1, offset=i) for i in range(len(found))]
        assert [page.hits[0].slug for page in pages] == found
        assert full_text(session, [word], broad=1, offset=len(found)).hits == []
        if engine.dialect.name == "postgresql":
            assert broad.total_is_estimate and broad.total >= len(found)
        else:  # FTS5 counts exactly
            assert (broad.total, broad.total_is_estimate) == (exact.total, False)


def test_the_api_says_when_total_is_an_estimate(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert search(client, "gradient")["total_is_estimate"] is False
    monkeypatch.setattr("kb.search.BROAD", 1)
    body = search(client, "gradient", limit=10)  # not the cached answer
    assert body["total_is_estimate"] is settings.database_url.startswith("postgresql")
    assert slugs(body)[0] == "gradient-descent"
