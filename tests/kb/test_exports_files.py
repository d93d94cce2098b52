"""kb.exports.files and ``kb export``: the database written back as data files that load to
the same state, byte for byte for a freshly loaded data/, whatever the text holds."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from kb import exports, loader, repository
from kb.app import create_app
from kb.cache import ResponseCache
from kb.cli import ExportFormat, app
from kb.config import Settings
from kb.content import Glossary, read_glossary
from kb.db import make_engine, migrate
from kb.exports import Format, files, records
from kb.exports.files import ExportError, render_term, write_directory
from kb.exports.yaml_text import WIDTH, flow_list, folded, quoted, scalar
from kb.models import Term
from kb.rules import fold_key
from kb.schemas import CategoryIn, TermIn
from tests.kb.glossary_factory import CATEGORIES, TERMS, write_glossary

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
runner = CliRunner()


def by_slug(glossary: Glossary) -> dict[str, TermIn]:
    return {term.slug: term for term in glossary.terms}


def same_content(a: Glossary, b: Glossary) -> bool:
    """Equal records (term order aside: files are read in file-name order)."""
    return (
        by_slug(a) == by_slug(b)
        and a.categories == b.categories
        and sorted(a.links, key=repr) == sorted(b.links, key=repr)
    )


def kb(*args: str, database_url: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"KB_DATABASE_URL": database_url})
    return result.exit_code, result.stdout, result.stderr


# --- YAML scalars: whatever the text, PyYAML reads back exactly that ---------------------------

# Text as the API could store it: any Unicode scalar value (no surrogates: not UTF-8).
any_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60)
yaml_words = st.sampled_from(
    [
        *"yes no on off null ~ true 1.5 0x1F 1_000 2015-01-01 1:20 .inf = << - ? : #".split(),
        *"& * ! | > @ ` --- ... 'x' \"x\" [a] {a} a, a:".split(),
        *["a: b", "a #b", "- a", "? a", "%YAML", "!!str"],
    ]
)
tricky_text = st.one_of(
    any_text,
    yaml_words,
    st.lists(st.one_of(yaml_words, any_text), min_size=1, max_size=5).map(" ".join),
)


@given(tricky_text)
def test_scalar_reads_back_as_itself(text: str) -> None:
    assert yaml.safe_load(f"key: {scalar(text)}") == {"key": text}
    assert yaml.safe_load(f"key: {quoted(text)}") == {"key": text}
    assert yaml.safe_load(f"key: {flow_list([text, text])}") == {"key": [text, text]}


@given(tricky_text)
def test_folded_block_reads_back_as_itself(text: str) -> None:
    lines = folded("summary", text, indent=2)
    assert yaml.safe_load("\n".join(lines) + "\n") == {"summary": text}
    # A line that is just --- would end the front matter early (kb.content).
    assert all(line.strip() != "---" for line in lines)


def test_scalar_style() -> None:
    assert scalar("Adam optimizer") == "Adam optimizer"
    assert scalar("https://arxiv.org/abs/1412.6980") == "https://arxiv.org/abs/1412.6980"
    for text in ["yes", "1.5", "2015-01-01", "- x", "a: b", "a #b", "'x'", "x:", " x", "null"]:
        assert scalar(text).startswith('"'), text
    assert flow_list(["a, b", "c"]) == '["a, b", c]'
    assert quoted('a "b"\\\n\x00\u2028é') == '"a \\"b\\"\\\\\\n\\0\\Lé"'


def test_folded_wraps_greedily_at_the_line_length() -> None:
    words = ["word"] * 60
    lines = folded("summary", " ".join(words), indent=2)
    assert lines[0] == "summary: >-"
    assert all(len(line) <= WIDTH for line in lines)
    assert all(len(line) + len(" word") > WIDTH for line in lines[1:-1])
    # Runs of spaces stay inside a line: folding would turn a break there into one space.
    assert yaml.safe_load("\n".join(folded("k", "a" * 97 + "  b", indent=2)))["k"].endswith("  b")
    assert folded("k", "one\ntwo", indent=2) == ['k: "one\\ntwo"']
    assert folded("k", "x " * 60 + "---", indent=2)[0].startswith("k: >-")
    alone = "a" * 97 + " --- " + "b" * 97  # wrapped, "---" would be a line of its own
    assert folded("k", alone, indent=2) == [f'k: "{alone}"']


# --- data files: any record survives the files round trip --------------------------------------

single_line = st.text(
    st.characters(codec="utf-8", exclude_characters="\r"), min_size=1, max_size=40
).map(str.strip)
# The body is read with universal newlines (as text files are), so a CR is a line break there.
body_text = st.text(st.characters(codec="utf-8", exclude_characters="\r"), min_size=1)


@st.composite
def terms(draw: st.DrawFn) -> TermIn:
    name = draw(tricky_text.map(str.strip).filter(bool))
    aliases = draw(st.lists(tricky_text.map(str.strip).filter(bool), max_size=3))
    keys = [fold_key(name), fold_key("odd-term"), *map(fold_key, aliases)]
    assume(len(set(keys)) == len(keys))
    summary = draw(
        st.one_of(
            tricky_text,
            st.lists(tricky_text, min_size=2, max_size=4).map("\n".join),
            st.lists(st.sampled_from(["word", "-", "---", "#", "a:", "b"]), max_size=80).map(
                " ".join
            ),
        )
    )
    body = draw(
        st.one_of(
            body_text,
            st.lists(st.one_of(body_text, st.just("---"), st.just("---\nslug: x")), max_size=4).map(
                "\n".join
            ),
        )
    )
    reference = {
        "title": draw(tricky_text),
        "authors": draw(st.lists(tricky_text, min_size=1, max_size=2)),
        "year": 2000,
        "venue": draw(tricky_text),
        "url": "https://example.org/a:b#c",
        "doi": "10.1000/x:y",
    }
    try:
        return TermIn.model_validate(
            {
                "slug": "odd-term",
                "name": name,
                "aliases": aliases,
                "category": "optimization",
                "kind": "concept",
                "summary": summary[:300],
                "references": [reference],
                "body": body,
            }
        )
    except ValidationError:  # too long, or only white space: not a term the API would store
        reject()


@given(terms())
@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_term_survives_the_round_trip(tmp_path: Path, term: TermIn) -> None:
    categories = [CategoryIn.model_validate(c) for c in CATEGORIES]
    root = tmp_path / "out"
    write_directory(root, categories, [term])
    assert read_glossary(root).terms == [term]


def test_rendered_term_has_the_documented_layout() -> None:
    text = render_term(TermIn.model_validate({"slug": "adam-optimizer", **TERMS["adam-optimizer"]}))
    keys = [line.split(":")[0] for line in text.split("---")[1].splitlines() if line[:1].isalpha()]
    assert keys == [
        *"slug name aliases category kind summary related references demo".split(),
    ]
    assert "aliases: [Adam, Adaptive Moment Estimation]\n" in text
    assert "  - {term: momentum, relation: uses}\n" in text
    assert '  - title: "Adam: A Method for Stochastic Optimization"\n' in text
    assert '    arxiv: "1412.6980"\n' in text
    bare = render_term(TermIn.model_validate({"slug": "adamw", **TERMS["adamw"], "aliases": []}))
    assert "aliases: []\n" in bare and "references: []\n" in bare and "demo:" not in bare


# --- the database round trip, on both backends --------------------------------------------------


def test_round_trip_of_the_factory_glossary(tmp_path: Path, data_dir: Path, engine: Engine) -> None:
    original = read_glossary(data_dir)
    loader.load(engine, original)
    written = files.export(engine, tmp_path / "out")
    assert written.terms == len(TERMS)
    exported = read_glossary(tmp_path / "out")
    assert same_content(exported, original)
    assert_served_alike(engine, exported, tmp_path)


def api_records(engine: Engine) -> dict[str, Any]:
    """GET /api/v1/terms/{slug} for every term, from an app on ``engine`` (no lifespan: the
    read routes need only the engine and the response cache, as in kb.cli)."""
    api = create_app(Settings(database_url="sqlite://", data_dir=None, cache_ttl=0))
    api.state.engine = engine
    api.state.cache = ResponseCache(engine, ttl=0, max_entries=0)
    client = TestClient(api)
    with Session(engine) as session:
        slugs = [record.term.slug for record in records.terms(session)]
    answers = {slug: client.get(f"/api/v1/terms/{slug}") for slug in slugs}
    assert all(answer.status_code == 200 for answer in answers.values())
    return {slug: answer.json() for slug, answer in answers.items()}


def assert_served_alike(engine: Engine, exported: Glossary, tmp_path: Path) -> None:
    """The export loads into a fresh database whose API serves every term as ``engine``'s."""
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    migrate(fresh)
    loader.load(fresh, exported)
    try:
        served = api_records(engine)
        assert len(served) == len(exported.terms)
        assert api_records(fresh) == served
    finally:
        fresh.dispose()


def test_real_data_exports_byte_for_byte(tmp_path: Path, engine: Engine) -> None:
    loader.load(engine, read_glossary(DATA))
    files.export(engine, tmp_path / "data")
    produced = sorted(p.relative_to(tmp_path / "data") for p in (tmp_path / "data").rglob("*"))
    # The glossary itself; data/ also keeps the reviewers' logs, which no database holds.
    expected = sorted(
        p.relative_to(DATA) for p in DATA.rglob("*") if p.relative_to(DATA).parts[0] != "reviews"
    )
    assert produced == expected
    for path in expected:
        if (DATA / path).is_file():
            assert (tmp_path / "data" / path).read_bytes() == (DATA / path).read_bytes(), path


def test_round_trip_of_the_real_data(tmp_path: Path, engine: Engine) -> None:
    original = read_glossary(DATA)
    loader.load(engine, original)
    files.export(engine, tmp_path / "out")
    exported = read_glossary(tmp_path / "out")
    assert same_content(exported, original)
    assert_served_alike(engine, exported, tmp_path)


def test_unusual_text_survives_the_database_round_trip(tmp_path: Path, engine: Engine) -> None:
    odd = {
        **TERMS["adamw"],
        "name": "yes",
        "aliases": ["no", ": colon", "# hash", "- dash", "'single'", '"double"', "ünï ✓ 𝛉", "1.5"],
        "summary": "First line: with a colon\n\nsecond # paragraph, \"quoted\", 'too'\n- dash",
        "body": "---\nslug: not-front-matter\n---\n\n    indented code\n\n---",
        "references": [
            {
                "title": "null",
                "authors": ["O'Brien, Pat", "[bracket]"],
                "year": 2020,
                "venue": "@venue: {x}",
                "url": "https://example.org/?q=a#b",
            }
        ],
    }
    root = write_glossary(tmp_path / "data", {**TERMS, "adamw": odd})
    original = read_glossary(root)
    loader.load(engine, original)
    files.export(engine, tmp_path / "out")
    exported = read_glossary(tmp_path / "out")
    assert same_content(exported, original)
    assert by_slug(exported)["adamw"].body.startswith("---\nslug: not-front-matter")


# --- writing safely -----------------------------------------------------------------------------


@pytest.fixture
def out(tmp_path: Path, data_dir: Path, engine: Engine) -> Path:
    """The factory glossary, loaded and then exported to ``tmp_path / "out"``."""
    loader.load(engine, read_glossary(data_dir))
    files.export(engine, tmp_path / "out")
    return tmp_path / "out"


def test_export_over_old_files_replaces_only_what_changed(
    tmp_path: Path, out: Path, engine: Engine
) -> None:
    (out / "terms" / "gone.md").write_text("a term deleted since")
    (out / "terms" / "adamw.md").write_text("stale")
    (out / "README").write_text("not ours")
    untouched = (out / "terms" / "momentum.md").stat().st_mtime_ns
    written = files.export(engine, out)
    assert written.changed == 2
    assert not (out / "terms" / "gone.md").exists()
    assert (out / "terms" / "adamw.md").read_text().startswith("---\nslug: adamw\n")
    assert (out / "terms" / "momentum.md").stat().st_mtime_ns == untouched
    assert (out / "README").read_text() == "not ours"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failure_while_writing_leaves_the_old_files(tmp_path: Path, out: Path) -> None:
    before = {p: p.read_bytes() for p in out.rglob("*.*")}

    def fail_midway() -> Any:
        yield TermIn.model_validate({"slug": "adamw", **TERMS["adamw"], "name": "Changed"})
        raise OSError(28, "No space left on device")

    categories = [CategoryIn.model_validate(c) for c in CATEGORIES]
    with pytest.raises(OSError, match="No space"):
        write_directory(out, categories, fail_midway())
    assert {p: p.read_bytes() for p in out.rglob("*.*")} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_kill_mid_export_leaves_whole_files(tmp_path: Path, data_dir: Path) -> None:
    """A process killed while it moves files into place leaves each file old or new, whole."""
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as session:
        session.execute(update(Term).values(summary="Edited over the API."))
        session.commit()
    engine.dispose()
    out = tmp_path / "out"
    write_glossary(out)
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from kb.db import make_engine\n"
        "from kb.exports import files\n"
        "moved = 0\n"
        "real = os.replace\n"
        "def replace_then_die(a, b):\n"
        "    global moved\n"
        "    real(a, b)\n"
        "    moved += 1\n"
        "    if moved == 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.replace = replace_then_die\n"
        "files.export(make_engine(sys.argv[1]), Path(sys.argv[2]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, url, str(out)], env=env, check=False)
    assert done.returncode == -9
    contents = [p.read_text() for p in sorted((out / "terms").glob("*.md"))]
    edited = [text for text in contents if "Edited over the API." in text]
    assert len(edited) == 3 and len(contents) == len(TERMS)
    for text in contents:  # each one whole: it parses, old or new
        yaml.safe_load(text.split("---\n")[1])


def test_refuses_a_directory_that_is_not_a_glossary(tmp_path: Path, engine: Engine) -> None:
    loader.load(engine, read_glossary(write_glossary(tmp_path / "data")))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.md").write_text("mine")
    with pytest.raises(ExportError, match="not a glossary directory"):
        files.export(engine, tmp_path / "home")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        files.export(engine, tmp_path / "file")
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["notes.md"]


def test_refuses_to_export_an_empty_database(tmp_path: Path, engine: Engine) -> None:
    write_glossary(tmp_path / "data")
    with pytest.raises(ExportError, match="holds no glossary"):
        files.export(engine, tmp_path / "data")
    assert len(list((tmp_path / "data" / "terms").glob("*.md"))) == len(TERMS)


# --- the database counts exported files as loaded -----------------------------------------------


def edit_over_api(engine: Engine, slug: str, summary: str) -> None:
    """What an edit does to the tables that matter here (the write API is not ours to call)."""
    with Session(engine) as session:
        session.execute(update(Term).where(Term.slug == slug).values(summary=summary))
        repository.set_data_version(session, f"edit-{slug}")
        session.commit()


def test_exported_edits_let_a_server_start_on_the_files(
    tmp_path: Path, data_dir: Path, engine: Engine
) -> None:
    loader.load(engine, read_glossary(data_dir))
    edit_over_api(engine, "adamw", "Edited over the API.")
    write_glossary(data_dir, {**TERMS, "momentum": {**TERMS["momentum"], "name": "Momentum!"}})
    with pytest.raises(loader.UnexportedEdits):
        loader.sync(engine, data_dir)
    files.export(engine, data_dir)
    assert not loader.sync(engine, data_dir)  # nothing to load: the files are the database
    assert by_slug(read_glossary(data_dir))["adamw"].summary == "Edited over the API."
    with Session(engine) as session:
        assert repository.loaded_files_version(session) == repository.data_version(session)


def test_an_edit_during_the_export_is_not_counted_as_exported(
    tmp_path: Path, data_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader.load(engine, read_glossary(data_dir))
    with Session(engine) as session:
        loaded = repository.loaded_files_version(session)
    real = files.write_directory

    def write_then_edit(*args: Any) -> files.Written:
        written = real(*args)
        edit_over_api(engine, "adamw", "Edited while exporting.")
        return written

    monkeypatch.setattr(files, "write_directory", write_then_edit)
    files.export(engine, tmp_path / "out")
    with Session(engine) as session:
        assert repository.loaded_files_version(session) == loaded
        assert repository.data_version(session) == "edit-adamw"


# --- kb export ----------------------------------------------------------------------------------


def test_kb_export_files(tmp_path: Path, data_dir: Path, database_url: str) -> None:
    kb("load", str(data_dir), database_url=database_url)
    code, out, _ = kb("export", str(tmp_path / "out"), database_url=database_url)
    assert code == 0
    assert f"exported {len(TERMS)} terms to {tmp_path / 'out'}" in out
    assert same_content(read_glossary(tmp_path / "out"), read_glossary(data_dir))
    code, out, _ = kb("export", str(tmp_path / "out"), database_url=database_url)
    assert "(0 files changed)" in out


def test_kb_export_streams_to_a_file_or_stdout(
    tmp_path: Path, data_dir: Path, database_url: str
) -> None:
    kb("load", str(data_dir), database_url=database_url)
    code, out, _ = kb("export", "-f", "jsonl", "-", database_url=database_url)
    assert code == 0
    assert [line.split('"')[3] for line in out.splitlines()] == sorted(TERMS)
    code, out, _ = kb(
        "export", "--format", "turtle", str(tmp_path / "g.ttl"), database_url=database_url
    )
    assert code == 0 and out.startswith(f"exported turtle to {tmp_path / 'g.ttl'}")
    assert "<http://localhost:8000/api/v1/terms/adamw>" in (tmp_path / "g.ttl").read_text()


def test_kb_export_errors(tmp_path: Path, data_dir: Path, database_url: str) -> None:
    code, _, err = kb("export", str(tmp_path / "out"), database_url=database_url)
    assert code == 1 and "the database holds no glossary" in err
    kb("load", str(data_dir), database_url=database_url)
    code, _, err = kb("export", "-", database_url=database_url)
    assert code == 1 and "--format files writes a directory" in err
    code, _, err = kb(
        "export", "-f", "csv", str(tmp_path / "nowhere" / "g.csv"), database_url=database_url
    )
    assert code == 1 and f"nothing exported: {tmp_path / 'nowhere'}: no such directory" in err
    code, _, err = kb("export", "-f", "xml", str(tmp_path / "g.xml"), database_url=database_url)
    assert code == 2 and "'xml' is not one of" in err
    assert not any(p.name.startswith(("out", "g.", ".")) for p in tmp_path.iterdir())


def test_cli_formats_are_the_api_formats_and_files() -> None:
    assert {f.value for f in ExportFormat} == {"files", *Format}


def test_a_file_export_that_fails_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "glossary.csv"
    target.write_text("the previous export")

    def fail_midway() -> Any:
        yield b"slug,name\n"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        exports.write_file(target, fail_midway())
    assert target.read_text() == "the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["glossary.csv"]
    assert exports.write_file(target, iter([b"a,", b"b\n"])) == 4
    assert target.read_text() == "a,b\n"
