"""Writes over the API: keys, If-Match, the same rules as ``kb check``, history, atomicity."""

import logging
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from kb import search
from kb.app import create_app
from kb.auth import new_key
from kb.config import Settings
from kb.content import ContentError, read_glossary
from kb.db import make_engine
from tests.kb.glossary_factory import TERMS, glossary_with, write_glossary
from tests.kb.test_api_caching import StatementCounter

API = "/api/v1"
KEY, DIGEST = new_key()
AUTH = {"Authorization": f"Bearer {KEY}"}

NEW_TERM: dict[str, Any] = {
    "slug": "nadam",
    "name": "NAdam",
    "aliases": ["Nesterov Adam"],
    "category": "optimization",
    "kind": "algorithm",
    "summary": "Adam with a Nesterov look-ahead in the first moment.",
    "related": [{"term": "adam-optimizer", "relation": "variant-of"}],
    "body": "The momentum term looks one step ahead: $m_t$ is used before it is updated.",
}


@pytest.fixture
def writable(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=data_dir, cache_ttl=0, api_keys={"alice": DIGEST}
    )


@pytest.fixture
def api(writable: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(writable)) as client:
        yield client


def etag(api: TestClient, slug: str) -> str:
    response = api.get(f"{API}/terms/{slug}")
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def edit(api: TestClient, method: str, slug: str, **kwargs: Any) -> Any:
    headers = {**AUTH, "If-Match": etag(api, slug), **kwargs.pop("headers", {})}
    return api.request(method, f"{API}/terms/{slug}", headers=headers, **kwargs)


def source(term: str, **changes: Any) -> dict[str, Any]:
    """A term of the test glossary as a write body, with ``changes``."""
    return {"slug": term, **deepcopy(TERMS[term]), **changes}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        "category",
        "term",
        "alias",
        "lookup_key",
        "link",
        "link_entry",
        "reference",
        "term_revision",
        "meta",
    ]
    with engine.connect() as connection:
        return {
            table: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {table}"))), key=repr)
            for table in tables
        }


# --- keys ------------------------------------------------------------------------------------


def test_writes_need_a_valid_key_and_reads_do_not(api: TestClient) -> None:
    missing = api.post(f"{API}/terms", json=NEW_TERM)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="kb"'
    assert "Authorization: Bearer" in missing.json()["detail"]
    wrong = api.post(f"{API}/terms", json=NEW_TERM, headers={"Authorization": "Bearer kb_nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Bearer realm="kb", error="invalid_token"'
    basic = api.post(f"{API}/terms", json=NEW_TERM, headers={"Authorization": f"Basic {KEY}"})
    assert basic.status_code == 401
    assert 'error="invalid_request"' in basic.headers["www-authenticate"]
    for method in ("put", "patch", "delete"):
        assert api.request(method, f"{API}/terms/adamw").status_code == 401
    assert api.get(f"{API}/terms/nadam").status_code == 404  # nothing was written
    assert api.get(f"{API}/terms/adamw").status_code == 200


def test_without_configured_keys_the_api_is_read_only(database_url: str, data_dir: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=data_dir, cache_ttl=0)
    with TestClient(create_app(settings)) as api:
        assert api.post(f"{API}/terms", json=NEW_TERM, headers=AUTH).status_code == 401


def test_keys_are_never_logged(api: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api.post(f"{API}/terms", json=NEW_TERM, headers=AUTH)
    api.post(f"{API}/terms", json=NEW_TERM, headers={"Authorization": f"Bearer {KEY}x"})
    assert caplog.records  # something was logged at DEBUG: the check below means something
    assert not any(KEY in record.getMessage() for record in caplog.records)


def test_settings_refuse_a_key_in_place_of_its_digest() -> None:
    with pytest.raises(ValueError, match="SHA-256 digest"):
        Settings(api_keys={"alice": KEY})


# --- create ----------------------------------------------------------------------------------


def test_create_links_indexes_and_records_the_term(api: TestClient) -> None:
    created = api.post(f"{API}/terms", json=NEW_TERM, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{API}/terms/nadam"
    assert created.headers["etag"].startswith('"1-')
    assert created.json()["version"] == 1
    assert api.get(f"{API}/terms/Nesterov Adam").json()["slug"] == "nadam"
    adam = api.get(f"{API}/terms/adam-optimizer").json()
    assert {"slug": "nadam", "relation": "has-variant"}.items() <= next(
        r for r in adam["related"] if r["slug"] == "nadam"
    ).items()
    found = api.get(f"{API}/search", params={"q": "look-ahead"}).json()["items"]
    assert [item["slug"] for item in found] == ["nadam"]
    assert api.get(f"{API}/suggest", params={"q": "nad"}).json()["items"][0]["slug"] == "nadam"
    history = api.get(f"{API}/terms/nadam/history").json()["items"]
    assert [(h["version"], h["actor"], h["action"]) for h in history] == [(1, "alice", "create")]
    assert {c["field"] for c in history[0]["changes"]} >= {"slug", "name", "body", "related"}


def test_create_an_existing_slug_name_or_alias_is_a_conflict(api: TestClient) -> None:
    again = api.post(f"{API}/terms", json=source("adamw"), headers=AUTH)
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    alias = api.post(f"{API}/terms", json={**NEW_TERM, "aliases": ["adam"]}, headers=AUTH)
    assert alias.status_code == 409
    body = alias.json()
    assert (
        body["detail"] == "aliases[0]: 'adam' is already the slug, name or alias of term"
        " 'adam-optimizer'"
    )
    assert (body["field"], body["term"]) == ("aliases[0]", "adam-optimizer")
    folded = api.post(f"{API}/terms", json={**NEW_TERM, "aliases": ["Heavy-Balls"]}, headers=AUTH)
    assert folded.status_code == 409
    assert folded.json()["detail"] == (
        "aliases[0]: 'Heavy-Balls' is already the slug, name or alias of term 'momentum' (as"
        " 'heavy ball': look-ups ignore case, accents, spaces, hyphens, underscores, apostrophes"
        " and a plural 's')"
    )


# --- the same rules and messages as kb check -------------------------------------------------

BAD_TERMS: dict[str, dict[str, Any]] = {
    "unknown link": {"related": [{"term": "no-such-term", "relation": "uses"}]},
    "unknown category": {"category": "nowhere"},
    "unknown demo": {"demo": "no-such-demo"},
    "alias repeats the name": {"aliases": ["nadam"]},
    "linked to itself": {"related": [{"term": "nadam", "relation": "related"}]},
    "listed twice": {
        "related": [
            {"term": "momentum", "relation": "uses"},
            {"term": "momentum", "relation": "related"},
        ]
    },
    "unknown key": {"sumary": "a typo"},
    "missing field": {"summary": None},
    "bad reference": {
        "references": [{"title": "T", "authors": [], "year": 1200, "venue": "V", "url": "ftp://x"}]
    },
    "long name": {"name": "x" * 121},
    "control character": {"summary": "NUL\x00 and BEL\x07 are not text"},
}


def _file_problems(root: Path, term: dict[str, Any]) -> set[tuple[str, str]]:
    fields = {k: v for k, v in term.items() if k != "slug" and v is not None}
    write_glossary(root, {**deepcopy(TERMS), term["slug"]: fields})
    with pytest.raises(ContentError) as caught:
        read_glossary(root)
    return {(p.field or "", p.message) for p in caught.value.problems}


def _api_problems(response: Any) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    problems = set()
    for error in response.json()["detail"]:
        loc = error["loc"][1:]  # after "body"
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        problems.add((where, error["msg"]))
    return problems


@pytest.mark.parametrize("case", BAD_TERMS)
def test_writes_are_checked_by_the_rules_of_kb_check(
    api: TestClient, tmp_path: Path, case: str
) -> None:
    term = {**NEW_TERM, **BAD_TERMS[case]}
    expected = _file_problems(tmp_path / "files", term)
    body = {k: v for k, v in term.items() if v is not None}
    assert _api_problems(api.post(f"{API}/terms", json=body, headers=AUTH)) == expected
    api.post(f"{API}/terms", json=NEW_TERM, headers=AUTH)
    assert _api_problems(edit(api, "put", "nadam", json=body)) == expected
    assert api.get(f"{API}/terms/nadam").json()["version"] == 1


def test_a_relation_that_contradicts_the_other_term_is_refused(api: TestClient) -> None:
    """adam-optimizer lists adamw as 'has-variant'; adamw may not call it anything else."""
    response = edit(
        api,
        "put",
        "adamw",
        json=source("adamw", related=[{"term": "adam-optimizer", "relation": "uses"}]),
    )
    [error] = response.json()["detail"]
    assert response.status_code == 422
    assert error["loc"] == ["body", "related", 0, "relation"]
    assert error["msg"].startswith(
        "conflicting relation with 'adam-optimizer': declared here as"
        " 'uses' but in term 'adam-optimizer''s related list as"
    )
    # Saying the same thing again from this side is fine.
    same = edit(
        api,
        "put",
        "adamw",
        json=source("adamw", related=[{"term": "adam-optimizer", "relation": "variant-of"}]),
    )
    assert same.status_code == 200, same.text


def test_a_broader_cycle_is_refused_and_nothing_is_written(
    api: TestClient, writable: Settings
) -> None:
    broader = {"relation": "broader"}
    nadam = {**NEW_TERM, "related": [{"term": "adam-optimizer", **broader}]}
    assert api.post(f"{API}/terms", json=nadam, headers=AUTH).status_code == 201
    adam = [*TERMS["adam-optimizer"]["related"], {"term": "gradient-descent", **broader}]
    assert edit(api, "patch", "adam-optimizer", json={"related": adam}).status_code == 200
    engine = make_engine(writable.database_url)
    before = snapshot(engine)
    response = edit(
        api, "patch", "gradient-descent", json={"related": [{"term": "nadam", **broader}]}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == (
        "'broader' links form a cycle:"
        " gradient-descent -> nadam -> adam-optimizer -> gradient-descent"
    )
    assert snapshot(engine) == before
    engine.dispose()


def test_a_link_to_a_broader_term_of_ones_own_is_refused(
    api: TestClient, writable: Settings
) -> None:
    """momentum is a variant of gradient-descent; putting nadam between them as momentum's
    broader term and gradient-descent's narrower one would relate momentum to a broader term
    of its own (SKOS S27), as kb check would say of the files."""
    engine = make_engine(writable.database_url)
    before = snapshot(engine)
    nadam = {
        **NEW_TERM,
        "related": [
            {"term": "gradient-descent", "relation": "broader"},
            {"term": "momentum", "relation": "narrower"},
        ],
    }
    response = api.post(f"{API}/terms", json=nadam, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"].startswith(
        "the link momentum variant-of gradient-descent joins 'momentum' to 'gradient-descent',"
        " one of its broader terms"
    )
    assert snapshot(engine) == before
    fine = {**nadam, "related": [{"term": "gradient-descent", "relation": "broader"}]}
    assert api.post(f"{API}/terms", json=fine, headers=AUTH).status_code == 201
    engine.dispose()


# --- replace and patch -----------------------------------------------------------------------


def test_put_replaces_the_whole_record(api: TestClient) -> None:
    replaced = edit(
        api, "put", "momentum", json=source("momentum", aliases=["velocity method"], related=[])
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"].startswith('"2-')
    assert api.get(f"{API}/terms/heavy ball").status_code == 404
    assert api.get(f"{API}/terms/velocity method").json()["slug"] == "momentum"
    related = api.get(f"{API}/terms/gradient-descent").json()["related"]
    assert "momentum" not in {r["slug"] for r in related}


def test_patch_merges_and_null_removes(api: TestClient) -> None:
    patched = edit(
        api,
        "patch",
        "adam-optimizer",
        json={"summary": "Momentum and RMSProp, bias-corrected.", "demo": None},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    term = patched.json()
    assert term["summary"] == "Momentum and RMSProp, bias-corrected."
    assert term["demo"] is None
    assert term["aliases"] == TERMS["adam-optimizer"]["aliases"]
    found = api.get(f"{API}/search", params={"q": "bias-corrected"}).json()["items"]
    assert [item["slug"] for item in found] == ["adam-optimizer"]


def test_a_summary_patch_costs_six_statements_at_most(api: TestClient) -> None:
    # The write lock (PostgreSQL's; SQLite's is its BEGIN), finding the term with its record
    # and related terms, the claim (which writes the columns), its search entry, its revision,
    # the data version (and NOTIFY): what issue 20's write latency rests on
    # (bench/bench_writes.py).
    first = edit(api, "patch", "adamw", json={"summary": "First."})  # gives it a history
    counter = StatementCounter(api.app.state.engine)  # type: ignore[attr-defined]
    response = api.patch(
        f"{API}/terms/adamw",
        json={"summary": "Second."},
        headers={**AUTH, "If-Match": first.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    assert counter.count <= 6
    assert api.get(f"{API}/search", params={"q": "second"}).json()["items"][0]["slug"] == "adamw"


@pytest.mark.parametrize(
    "patch",
    [
        {"summary": "Momentum and RMSProp, bias-corrected."},
        {
            "related": [
                *TERMS["adam-optimizer"]["related"],
                {"term": "batch-normalization", "relation": "related"},
            ]
        },
        {"related": TERMS["adam-optimizer"]["related"][1:]},
    ],
    ids=["summary", "link added", "link removed"],
)
def test_a_patch_answers_with_the_record_a_get_then_gives(
    api: TestClient, patch: dict[str, Any]
) -> None:
    # The related terms of the answer were read before the write when its list is unchanged.
    patched = edit(api, "patch", "adam-optimizer", json=patch)
    assert patched.status_code == 200, patched.text
    assert patched.json() == api.get(f"{API}/terms/adam-optimizer").json()


def test_the_slug_cannot_change(api: TestClient) -> None:
    response = edit(api, "patch", "adamw", json={"slug": "adam-w"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "slug"]


# --- versions --------------------------------------------------------------------------------


def test_if_match_is_required_and_must_be_current(api: TestClient) -> None:
    url = f"{API}/terms/adamw"
    body = {"summary": "Changed."}
    assert api.patch(url, json=body, headers=AUTH).status_code == 428
    assert api.patch(url, json=body, headers={**AUTH, "If-Match": "*"}).status_code == 428
    old = etag(api, "adamw")
    assert api.patch(url, json=body, headers={**AUTH, "If-Match": old}).status_code == 200
    stale = api.patch(url, json={"summary": "Again."}, headers={**AUTH, "If-Match": old})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    assert api.patch(url, json=body, headers={**AUTH, "If-Match": '"zzz"'}).status_code == 412
    # The bare version number is enough.
    assert (
        api.patch(url, json={"summary": "Third."}, headers={**AUTH, "If-Match": '"2"'}).status_code
        == 200
    )
    assert api.get(url).json()["summary"] == "Third."


def test_history_and_old_versions(api: TestClient) -> None:
    edit(api, "patch", "adamw", json={"summary": "Second."})
    edit(api, "patch", "adamw", json={"aliases": ["Adam-W"]})
    items = api.get(f"{API}/terms/adamw/history").json()["items"]
    assert [(i["version"], i["actor"], i["action"]) for i in items] == [
        (3, "alice", "update"),
        (2, "alice", "update"),
        (1, "load", "load"),
    ]
    assert items[0]["changes"] == [{"field": "aliases", "before": [], "after": ["Adam-W"]}]
    assert items[1]["changes"] == [
        {"field": "summary", "before": TERMS["adamw"]["summary"], "after": "Second."}
    ]
    first = api.get(f"{API}/terms/adamw", params={"version": 1}).json()
    assert first["record"]["summary"] == TERMS["adamw"]["summary"]
    assert (first["version"], first["action"]) == (1, "load")
    for bad in ("0", "-1", "two", "1000000001"):
        invalid = api.get(f"{API}/terms/adamw", params={"version": bad})
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["loc"] == ["query", "version"]
    missing = api.get(f"{API}/terms/adamw", params={"version": 9})
    assert missing.status_code == 404
    assert "its versions are: 1, 2, 3" in missing.json()["detail"]


def test_a_term_nobody_edited_has_its_loaded_version(api: TestClient) -> None:
    items = api.get(f"{API}/terms/backprop/history").json()["items"]
    assert [(i["version"], i["actor"]) for i in items] == [(1, "load")]
    assert (
        api.get(f"{API}/terms/backprop", params={"version": 1}).json()["record"]["slug"]
        == "backpropagation"
    )


# --- delete ----------------------------------------------------------------------------------


def test_delete_a_linked_term_needs_cascade(api: TestClient) -> None:
    refused = edit(api, "delete", "gradient-descent")
    assert refused.status_code == 409
    assert refused.json()["linked_from"] == [
        "backpropagation",
        "batch-normalization",
        "momentum",
        "rmsprop",
    ]
    versions = {
        s: api.get(f"{API}/terms/{s}").json()["version"] for s in refused.json()["linked_from"]
    }
    deleted = edit(api, "delete", "gradient-descent", params={"cascade": "links"})
    assert deleted.status_code == 204
    assert api.get(f"{API}/terms/gradient-descent").status_code == 404
    assert api.get(f"{API}/search", params={"q": "first-order"}).json()["items"] == []
    for slug, version in versions.items():
        term = api.get(f"{API}/terms/{slug}").json()
        assert term["version"] == version + 1
        assert "gradient-descent" not in {r["slug"] for r in term["related"]}
        assert api.get(f"{API}/terms/{slug}/history").json()["items"][0]["actor"] == "alice"
    gone = api.get(f"{API}/terms/gradient-descent/history").json()["items"]
    assert [(i["version"], i["action"]) for i in gone] == [(2, "delete"), (1, "load")]
    old = api.get(f"{API}/terms/gradient-descent", params={"version": 1}).json()
    assert old["record"]["name"] == "Gradient descent"


def test_a_deleted_slug_can_be_created_again_and_its_history_goes_on(api: TestClient) -> None:
    edit(api, "delete", "adamw", params={"cascade": "links"})
    again = api.post(f"{API}/terms", json=source("adamw", related=[]), headers=AUTH)
    assert again.status_code == 201
    assert again.json()["version"] == 3
    actions = [i["action"] for i in api.get(f"{API}/terms/adamw/history").json()["items"]]
    assert actions == ["create", "delete", "load"]


# --- atomicity -------------------------------------------------------------------------------


def test_a_write_that_fails_midway_changes_nothing(
    writable: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(writable.database_url)
    with TestClient(create_app(writable), raise_server_exceptions=False) as api:
        before = snapshot(engine)
        tag = etag(api, "adamw")

        def broken(*_args: object) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(search, "update_index", broken)
        response = api.patch(
            f"{API}/terms/adamw", json={"summary": "Lost?"}, headers={**AUTH, "If-Match": tag}
        )
        assert response.status_code == 500
        assert snapshot(engine) == before
        monkeypatch.undo()
        assert (
            api.patch(
                f"{API}/terms/adamw", json={"summary": "Kept."}, headers={**AUTH, "If-Match": tag}
            ).status_code
            == 200
        )
    engine.dispose()


# --- categories ------------------------------------------------------------------------------


def test_category_writes(api: TestClient) -> None:
    url = f"{API}/categories"
    new = {"slug": "probabilistic", "name": "Probabilistic models", "description": "Energies."}
    created = api.post(url, json=new, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{url}/probabilistic"
    assert api.post(url, json=new, headers=AUTH).status_code == 409
    tag = created.headers["etag"]
    renamed = api.patch(
        f"{url}/probabilistic",
        json={"name": "Energy-based models"},
        headers={**AUTH, "If-Match": tag},
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Energy-based models"
    assert (
        api.patch(
            f"{url}/probabilistic", json={"name": "x"}, headers={**AUTH, "If-Match": tag}
        ).status_code
        == 412
    )
    busy = api.delete(
        f"{url}/optimization",
        headers={**AUTH, "If-Match": api.get(f"{url}/optimization").headers["etag"]},
    )
    assert busy.status_code == 409
    assert "adamw" in busy.json()["terms"]
    assert (
        api.delete(
            f"{url}/probabilistic", headers={**AUTH, "If-Match": renamed.headers["etag"]}
        ).status_code
        == 204
    )
    assert api.get(f"{url}/probabilistic").status_code == 404


# --- loads and edits -------------------------------------------------------------------------


def test_reload_keeps_versions_of_unchanged_terms_and_moves_changed_ones(
    writable: Settings, data_dir: Path
) -> None:
    with TestClient(create_app(writable)) as api:
        assert api.get(f"{API}/terms/adamw").json()["version"] == 1
    changed = glossary_with(adamw={**TERMS["adamw"], "summary": "Changed in the file."})
    write_glossary(data_dir, changed)
    with TestClient(create_app(writable)) as api:
        assert api.get(f"{API}/terms/adamw").json()["version"] == 2
        assert api.get(f"{API}/terms/momentum").json()["version"] == 1


def test_start_refuses_to_load_files_over_unexported_edits(
    writable: Settings, data_dir: Path
) -> None:
    with TestClient(create_app(writable)) as api:
        assert edit(api, "patch", "adamw", json={"summary": "Edited."}).status_code == 200
    with TestClient(create_app(writable)) as api:  # same files: the edit stays
        assert api.get(f"{API}/terms/adamw").json()["summary"] == "Edited."
    write_glossary(data_dir, glossary_with(momentum={**TERMS["momentum"], "summary": "New."}))
    with pytest.raises(Exception, match="edited over the API"), TestClient(create_app(writable)):
        pass
    settings = Settings(database_url=writable.database_url, cache_ttl=0)
    with TestClient(create_app(settings)) as api:
        assert api.get(f"{API}/terms/adamw").json()["summary"] == "Edited."


# --- edits back to files ---------------------------------------------------------------------


def test_edits_exported_as_files_load_to_the_same_records(
    api: TestClient, writable: Settings, tmp_path: Path
) -> None:
    """The review path: edit over the API, ``kb export``, commit, ``kb load`` elsewhere."""
    from kb import loader
    from kb.db import migrate
    from kb.exports import files

    assert api.post(f"{API}/terms", json=NEW_TERM, headers=AUTH).status_code == 201
    assert edit(api, "patch", "momentum", json={"aliases": ["velocity"]}).status_code == 200
    deleted = edit(api, "delete", "rmsprop", params={"cascade": "links"})
    assert deleted.status_code == 204
    engine = make_engine(writable.database_url)
    files.export(engine, tmp_path / "exported")
    engine.dispose()
    glossary = read_glossary(tmp_path / "exported")
    assert {t.slug for t in glossary.terms} == set(TERMS) - {"rmsprop"} | {"nadam"}

    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    migrate(fresh)
    loader.load(fresh, glossary)
    fresh.dispose()
    reloaded = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.sqlite3'}", cache_ttl=0)
    with TestClient(create_app(reloaded)) as copy:
        for slug in sorted(set(TERMS) - {"rmsprop"} | {"nadam"}):
            ours, theirs = api.get(f"{API}/terms/{slug}").json(), copy.get(f"{API}/terms/{slug}")
            assert theirs.status_code == 200
            assert {**theirs.json(), "version": None} == {**ours, "version": None}, slug


def test_kb_load_keeps_api_edits_unless_told_to_discard_them(
    api: TestClient, writable: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from kb.cli import app

    assert edit(api, "patch", "adamw", json={"summary": "Edited."}).status_code == 200
    monkeypatch.setenv("KB_DATABASE_URL", writable.database_url)
    runner = CliRunner()
    refused = runner.invoke(app, ["load", str(data_dir)])
    assert refused.exit_code == 1
    assert "nothing loaded: the database was edited over the API" in refused.output
    assert api.get(f"{API}/terms/adamw").json()["summary"] == "Edited."
    discarded = runner.invoke(app, ["load", str(data_dir), "--discard-edits"])
    assert discarded.exit_code == 0, discarded.output
    assert api.get(f"{API}/terms/adamw").json()["summary"] == TERMS["adamw"]["summary"]
    history = api.get(f"{API}/terms/adamw/history").json()["items"]
    assert [(h["version"], h["actor"]) for h in history] == [(3, "load"), (2, "alice"), (1, "load")]
