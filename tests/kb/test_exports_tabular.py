"""kb.exports.tabular and GET /api/v1/export/{format}: CSV and JSON Lines parse back to the
database's records, are produced a batch at a time, and go out with the right headers."""

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from kb import loader
from kb.content import read_glossary
from kb.exports import Format, records, stream
from kb.exports.tabular import CSV_COLUMNS
from kb.schemas import TermDetail, TermIn
from tests.kb.glossary_factory import TERMS, glossary_with, write_glossary


def items(cell: str) -> list[str]:
    """A list cell split at its documented separator."""
    return cell.split("; ") if cell else []


def test_csv_parses_back_to_the_term_records(client: TestClient) -> None:
    response = client.get("/api/v1/export/csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [row["slug"] for row in rows] == sorted(TERMS)
    for row in rows:
        detail = TermDetail.model_validate(client.get(f"/api/v1/terms/{row['slug']}").json())
        assert row["name"] == detail.name
        assert items(row["aliases"]) == detail.aliases
        assert row["category"] == detail.category.slug
        assert row["kind"] == detail.kind
        assert row["summary"] == detail.summary
        assert row["body"] == detail.body
        assert row["demo"] == (detail.demo.slug if detail.demo else "")
        related = [f"{r.relation.value}:{r.slug}" for r in detail.related]
        assert sorted(items(row["related"])) == sorted(related)
        assert row["references"].split() == [r.url for r in detail.references]


def test_csv_quotes_what_needs_quoting(tmp_path: Path, engine: Engine) -> None:
    odd = {
        **TERMS["adamw"],
        "name": 'Adam "W", decoupled',
        "summary": 'Line one,\nline two; "three"',
        "body": 'a\r\nb,\n\n"c"',
    }
    loader.load(engine, read_glossary(write_glossary(tmp_path / "data", glossary_with(adamw=odd))))
    text = b"".join(stream(engine, Format.csv)).decode()
    row = next(r for r in csv.DictReader(io.StringIO(text, newline="")) if r["slug"] == "adamw")
    assert (row["name"], row["summary"]) == (odd["name"], odd["summary"])
    assert row["body"] == 'a\nb,\n\n"c"'  # files are read with universal newlines
    assert text.count("\r\n") >= len(TERMS) + 1  # RFC 4180 row ends


def test_jsonl_parses_back_to_the_records_and_links(data_dir: Path, client: TestClient) -> None:
    response = client.get("/api/v1/export/jsonl")
    glossary = read_glossary(data_dir)
    lines = response.text.splitlines()
    assert len(lines) == len(TERMS)
    decoded = [json.loads(line) for line in lines]
    names = {c.slug: c.name for c in glossary.categories}
    by_slug = {t.slug: t for t in glossary.terms}
    for record in decoded:
        links = record.pop("links")
        category_name = record.pop("category_name")
        term = TermIn.model_validate(record)
        assert term == by_slug[term.slug]  # related as written in its own file
        assert category_name == names[term.category]
        expected = [link for link in glossary.links if term.slug in (link.source, link.target)]
        assert sorted((x["source"], x["relation"], x["target"]) for x in links) == sorted(
            (link.source, link.relation.value, link.target) for link in expected
        )
    assert [record["slug"] for record in decoded] == sorted(TERMS)


def test_jsonl_keeps_every_line_on_one_line(tmp_path: Path, engine: Engine) -> None:
    odd = {**TERMS["adamw"], "summary": "a\u2028b\x85c", "body": "x\ny\u2029z"}
    loader.load(engine, read_glossary(write_glossary(tmp_path / "data", glossary_with(adamw=odd))))
    text = b"".join(stream(engine, Format.jsonl)).decode()
    assert len(text.splitlines()) == len(TERMS)  # str.splitlines breaks at U+2028 too
    record = {r["slug"]: r for r in map(json.loads, text.splitlines())}["adamw"]
    assert (record["summary"], record["body"]) == (odd["summary"], odd["body"])


@pytest.mark.parametrize("format", [Format.csv, Format.jsonl])
def test_streams_a_batch_at_a_time(
    engine: Engine, data_dir: Path, format: Format, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader.load(engine, read_glossary(data_dir))
    read: list[str] = []
    real = records._records

    def counting(*args: object) -> list[records.TermRecord]:
        batch = real(*args)  # type: ignore[arg-type]
        read.extend(record.term.slug for record in batch)
        return batch

    monkeypatch.setattr(records, "_records", counting)
    chunks = stream(engine, format, batch_size=2)
    assert read == []  # nothing is read before the first chunk is asked for
    if format is Format.csv:
        assert next(chunks).decode().startswith("slug,name,")
    first = next(chunks).decode()
    assert read == sorted(TERMS)[:2]  # one batch read, and it went out before the next
    assert sorted(TERMS)[1] in first and sorted(TERMS)[2] not in first
    rest = list(chunks)
    assert len(rest) == (len(TERMS) - 1) // 2 and read == sorted(TERMS)


@pytest.mark.parametrize(
    ("format", "media_type", "filename"),
    [
        ("turtle", "text/turtle; charset=utf-8", "glossary.ttl"),
        ("jsonld", "application/ld+json", "glossary.jsonld"),
        ("csv", "text/csv; charset=utf-8", "glossary.csv"),
        ("jsonl", "application/x-ndjson", "glossary.jsonl"),
    ],
)
def test_api_sends_a_download(
    client: TestClient, format: str, media_type: str, filename: str
) -> None:
    response = client.get(f"/api/v1/export/{format}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert "content-length" not in response.headers  # streamed
    assert "adam-optimizer" in response.text


def test_skos_uris_start_with_the_public_url_else_the_request_url(client: TestClient) -> None:
    assert "<http://testserver/api/v1/terms/adamw>" in client.get("/api/v1/export/turtle").text
    client.app.state.public_url = "https://glossary.example.org/kb"  # type: ignore[attr-defined]
    text = client.get("/api/v1/export/turtle").text
    assert "<https://glossary.example.org/kb/api/v1/terms/adamw>" in text


def test_unknown_format_is_422_naming_the_formats(client: TestClient) -> None:
    response = client.get("/api/v1/export/xml")
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert all(f"'{f.value}'" in message for f in Format), message


def test_empty_database_exports_empty_files(engine: Engine) -> None:
    assert b"".join(stream(engine, Format.jsonl)) == b""
    assert b"".join(stream(engine, Format.csv)).decode().splitlines() == [",".join(CSV_COLUMNS)]
    with records.snapshot(engine) as session:
        assert records.categories(session) == []
