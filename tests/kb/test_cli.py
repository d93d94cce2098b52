"""The kb command: check, load, show and serve, with their messages and exit codes."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kb.cli import app
from tests.kb.glossary_factory import TERMS, glossary_with, write_glossary

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
