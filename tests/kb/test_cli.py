"""The kb command: check, load, show and serve, with their messages and exit codes."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kb import cli
from kb.cli import app
from kb.demos.schemas import DemoRun
from kb.schemas import RelatedList, SearchPage, TermDetail
from tests.kb.glossary_factory import TERMS, glossary_with, write_glossary
from tests.kb.live import free_port, serving

runner = CliRunner()


def kb(*args: str, database_url: str | None = None) -> tuple[int, str, str]:
    env = {"KB_DATABASE_URL": database_url} if database_url else {}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_on_valid_data(data_dir: Path) -> None:
    code, out, _ = kb("check", str(data_dir))
    assert code == 0
    assert f"{len(TERMS)} terms in 3 categories, 8 links: all valid" in out


def test_check_lists_every_problem_with_file_line_and_field(tmp_path: Path) -> None:
    terms = glossary_with(
        adamw={**TERMS["adamw"], "category": "astrology"},
        momentum={**TERMS["momentum"], "colour": "blue"},
    )
    root = write_glossary(tmp_path / "data", terms)
    code, _, err = kb("check", str(root))
    assert code == 1
    assert f"{root}/terms/adamw.md:4: category: unknown category 'astrology'" in err
    assert f"{root}/terms/momentum.md:" in err and ": colour: unknown key" in err
    assert "2 problems" in err


def test_check_missing_directory(tmp_path: Path) -> None:
    code, _, err = kb("check", str(tmp_path / "nowhere"))
    assert code == 1
    assert "data directory not found" in err


def test_load_then_show(data_dir: Path, database_url: str) -> None:
    code, out, _ = kb("load", str(data_dir), database_url=database_url)
    assert code == 0
    assert f"loaded {len(TERMS)} terms" in out
    code, out, _ = kb("show", "bn", database_url=database_url)
    assert code == 0
    assert "Batch normalization" in out
    assert kb("show", "Batch_Normalizations", database_url=database_url)[1] == out
    assert "also: BN, batch norm" in out
    assert "contrasts-with" in out and "Gradient descent (gradient-descent)" in out


def test_show_unknown_term_suggests(data_dir: Path, database_url: str) -> None:
    kb("load", str(data_dir), database_url=database_url)
    code, _, err = kb("show", "adma", database_url=database_url)
    assert code == 1
    assert "no term is called 'adma'; did you mean: adam-optimizer" in err


def test_load_refuses_invalid_data_and_writes_nothing(
    tmp_path: Path, data_dir: Path, database_url: str
) -> None:
    kb("load", str(data_dir), database_url=database_url)
    bad = write_glossary(tmp_path / "bad", glossary_with(adamw={**TERMS["adamw"], "kind": "x"}))
    code, _, err = kb("load", str(bad), database_url=database_url)
    assert code == 1
    assert "adamw.md" in err and "kind" in err and "nothing loaded" in err
    assert kb("show", "adamw", database_url=database_url)[0] == 0


def test_unreachable_database_is_a_clear_error(data_dir: Path) -> None:
    code, _, err = kb("load", str(data_dir), database_url="postgresql+psycopg://u@127.0.0.1:1/x")
    assert code == 1
    assert err.startswith("kb: database error (postgresql+psycopg://u@127.0.0.1:1/x)")


def test_unsupported_database_url(data_dir: Path) -> None:
    code, _, err = kb("load", str(data_dir), database_url="mysql://localhost/kb")
    assert code == 1
    assert "unsupported database" in err


@pytest.mark.parametrize("command", [[], ["check"], ["load"], ["show"], ["serve"]])
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_serve_loads_the_data_and_answers(tmp_path: Path, data_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KB_DATA_DIR": str(data_dir)}
    env["KB_DATABASE_URL"] = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "kb", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/terms/BN", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not come up in 30 s"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["slug"] == "batch-normalization"
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- show, search, related and demo: the local database or a server (--url) -------------------


@pytest.fixture
def loaded(data_dir: Path, database_url: str) -> str:
    """The URL of a database holding the small glossary."""
    assert kb("load", str(data_dir), database_url=database_url)[0] == 0
    return database_url


def test_show_prints_the_term_with_its_related_terms(loaded: str) -> None:
    code, out, _ = kb("show", "adam", database_url=loaded)
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == ["Adam optimizer", "also: Adam, Adaptive Moment Estimation",
                         "Optimization · algorithm · adam-optimizer"]  # fmt: skip
    assert "  has-variant     AdamW (adamw)" in lines
    assert "  uses            Momentum (momentum)" in lines
    assert "Demo: kb demo adam-optimizer" in lines


def test_json_prints_the_api_answer(loaded: str) -> None:
    code, out, _ = kb("show", "BN", "--json", database_url=loaded)
    assert code == 0
    term = TermDetail.model_validate_json(out)
    assert (term.slug, [r.slug for r in term.related]) == (
        "batch-normalization", ["backpropagation", "gradient-descent"]
    )  # fmt: skip
    code, out, _ = kb("search", "adma", "--json", database_url=loaded)
    assert SearchPage.model_validate_json(out).did_you_mean == "Adam"
    code, out, _ = kb("related", "adam", "--depth", "2", "--json", database_url=loaded)
    assert RelatedList.model_validate_json(out).depth == 2


def test_search_prints_a_table(loaded: str) -> None:
    code, out, _ = kb("search", "gradients", "--limit", "1", database_url=loaded)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "4 results for 'gradients'"
    assert lines[2].split() == ["#", "term", "slug", "kind", "match"]
    assert lines[3].split()[:5] == ["1", "Gradient", "descent", "gradient-descent", "algorithm"]
    assert "Step against the gradient" in lines[3]  # the snippet, without its <mark> tags
    assert "<mark>" not in out and "\x1b[" not in out  # plain when not a terminal
    assert lines[-1] == "1-1 of 4; --offset 1 shows more"
    code, out, _ = kb("search", "adma", database_url=loaded)
    assert out.splitlines()[0].endswith(" for 'adma' (did you mean 'Adam'?)")


def test_output_fits_the_terminal_width(loaded: str) -> None:
    for args in (["search", "gradient"], ["related", "gd", "--depth", "3"], ["show", "adam"]):
        result = runner.invoke(app, args, env={"KB_DATABASE_URL": loaded, "COLUMNS": "60"})
        assert result.exit_code == 0, result.stderr
        assert max(len(line) for line in result.stdout.splitlines()) <= 60, result.stdout


def test_related_prints_the_neighbourhood(loaded: str) -> None:
    code, out, _ = kb("related", "adam", database_url=loaded)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "3 terms up to 1 link from adam-optimizer"
    assert lines[2].split() == ["relation", "term", "slug"]
    assert lines[3].split() == ["has-variant", "AdamW", "adamw"]
    code, out, _ = kb("related", "adam", "--depth", "2", "--relation", "uses", database_url=loaded)
    assert out.splitlines()[0] == "2 terms up to 2 links from adam-optimizer, following uses"
    code, out, _ = kb("related", "gd", "--depth", "2", database_url=loaded)
    lines = out.splitlines()
    assert lines[2].split() == ["links", "relation", "term", "slug", "via"]
    assert lines[-1].split() == ["2", "used-by", "Adam", "optimizer", "adam-optimizer",
                                 "has-variant", "momentum"]  # fmt: skip


def test_lookup_errors_are_one_line(loaded: str) -> None:
    code, _, err = kb("related", "adam", "--depth", "4", database_url=loaded)
    assert (code, err) == (1, "kb: depth: Input should be less than or equal to 3\n")
    code, _, err = kb("search", "norm", "--category", "astrology", database_url=loaded)
    assert code == 1
    assert err.startswith("kb: no category is called 'astrology' (query parameter 'category')")
    result = runner.invoke(app, ["related", "adam", "--relation", "likes"])
    assert result.exit_code == 2 and "'likes' is not one of" in result.stderr


def test_demo_prints_metrics_and_a_plot(loaded: str) -> None:
    args = ["demo", "adam", "-p", "steps=30", "-p", "optimizers=adam,sgd", "--seed", "4"]
    code, out, err = kb(*args, "--plot", database_url=loaded)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("adam-optimizer demo of adam-optimizer, seed 4 (")
    assert "optimizers=adam,sgd, steps=30" in out
    header = next(line for line in lines if "final_loss" in line).split()
    assert header[:2] == ["final_loss", "best_loss"]
    assert [line.split()[0] for line in lines if line.startswith(("adam ", "sgd "))] == [
        "adam", "sgd"
    ]  # fmt: skip
    assert "* adam  + sgd" in lines
    assert any(line.startswith("loss") for line in lines)
    assert lines[-1].startswith("reference: reference.optim:Adam")

    code, out, _ = kb(*args, database_url=loaded)  # not a terminal: no plot unless asked
    assert code == 0 and "* adam" not in out
    code, out, _ = kb(*args, "--json", database_url=loaded)
    run = DemoRun.model_validate_json(out)
    assert (run.seed, run.params["steps"], run.params["optimizers"]) == (4, 30, ["adam", "sgd"])


def test_demo_errors(loaded: str) -> None:
    code, _, err = kb("demo", "adam", "-p", "steps=0", "-p", "nope=1", database_url=loaded)
    assert code == 1
    assert err.splitlines() == [
        "kb: steps: Input should be greater than or equal to 1",
        "kb: nope: Extra inputs are not permitted",
    ]
    code, _, err = kb("demo", "momentum", database_url=loaded)
    assert (code, err) == (1, "kb: term 'momentum' has no demo; did you mean: adam-optimizer?\n")
    code, _, err = kb("demo", "adam", "-p", "steps", database_url=loaded)
    assert code == 2 and "'steps' is not NAME=VALUE" in err
    code, _, err = kb("demo", "adam", "--plot", "--series", "nope", database_url=loaded)
    assert (code, err) == (1, "kb: no curves called 'nope'; there are: loss\n")


@pytest.mark.parametrize(
    ("text", "schema", "value"),
    [
        ("200", {"type": "integer"}, 200),
        ("1e-3", {"type": "number"}, 0.001),
        ("true", {"type": "boolean"}, True),
        ("quadratic", {"enum": ["quadratic"]}, "quadratic"),
        ("adam,sgd", {"type": "array", "items": {"type": "string"}}, ["adam", "sgd"]),
        ("adam", {"type": "array", "items": {"type": "string"}}, ["adam"]),
        ("4,16", {"type": "array", "items": {"type": "integer"}}, [4, 16]),
        ('["adam"]', {"type": "array"}, ["adam"]),
        (
            "1,0;0,1",
            {"anyOf": [{"type": "array", "items": {"type": "array"}}, {}]},
            [[1, 0], [0, 1]],
        ),
        ("1;2", {"type": "array", "items": {"type": "array"}}, [[1], [2]]),
        ("null", {"anyOf": [{"type": "array", "items": {"type": "array"}}, {}]}, None),
        ("a,b", {}, "a,b"),
    ],
)
def test_demo_parameter_values(text: str, schema: dict[str, object], value: object) -> None:
    assert cli._params([("name", text)], {"properties": {"name": schema}}) == {"name": value}


@pytest.mark.parametrize("command", ["search", "related", "demo"])
def test_help_of_the_lookups(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--url" in result.stdout and "--json" in result.stdout


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("live")
    with serving(write_glossary(root / "data"), f"sqlite:///{root / 'kb.sqlite3'}") as url:
        yield url


def test_url_asks_a_server_and_prints_the_same(live_url: str, loaded: str) -> None:
    for args in (
        ["show", "bn"],
        ["search", "norm"],
        ["related", "gd", "--depth", "2"],
        ["demo", "adam", "-p", "steps=5", "-p", "optimizers=adam", "--json"],
    ):
        local = kb(*args, database_url=loaded)
        remote = runner.invoke(app, [*args, "--url", live_url])
        assert remote.exit_code == 0, remote.stderr
        if args[0] == "demo":  # equal but for the timing and whether it was cached
            fields = {"elapsed_ms", "cached"}
            assert json.loads(remote.stdout).keys() == json.loads(local[1]).keys()
            remote_run = DemoRun.model_validate_json(remote.stdout).model_dump(exclude=fields)
            local_run = DemoRun.model_validate_json(local[1]).model_dump(exclude=fields)
            assert remote_run == local_run
        else:
            assert remote.stdout == local[1]
    result = runner.invoke(app, ["show", "adma"], env={"KB_URL": live_url})
    assert result.exit_code == 1
    assert result.stderr.startswith("kb: no term is called 'adma'; did you mean: adam-optimizer")


def test_url_errors() -> None:
    result = runner.invoke(app, ["show", "adam", "--url", "localhost:8000"])
    assert result.exit_code == 1
    assert result.stderr.startswith("kb: base_url must be an http(s) URL")
    result = runner.invoke(app, ["search", "adam", "--url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "no answer after 3 attempts" in result.stderr


def test_keys_new_prints_a_key_and_the_entry_that_admits_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kb.auth import key_name
    from kb.config import Settings

    monkeypatch.setenv("KB_API_KEYS", json.dumps({"bob": "0" * 64}))
    result = runner.invoke(app, ["keys", "new", "alice"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines())
    key = lines["key:"]
    entry = json.loads(lines["entry:"])
    assert key not in lines["entry:"]
    assert key_name(entry, key) == "alice"
    env_line = next(line for line in result.output.splitlines() if line.startswith("KB_API_KEYS="))
    keys = Settings(api_keys=json.loads(env_line.split("=", 1)[1].strip("'"))).api_keys
    assert set(keys) == {"bob", "alice"}
    assert key_name(keys, key) == "alice"
    assert key_name(keys, key + "x") is None
    again = runner.invoke(app, ["keys", "new", "alice"])
    assert key not in again.output  # a fresh key every time
