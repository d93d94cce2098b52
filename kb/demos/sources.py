"""The source code a demo runs, as shown to callers, and a fingerprint of all of it."""

import hashlib
import importlib
import inspect
from functools import cache
from pathlib import Path

from kb.demos.base import Source

_PACKAGES = ("kb.demos", "reference")


@cache
def source_text(module: str, name: str) -> str:
    """The source of ``module.name``; ``name`` may be dotted (``Class.method``)."""
    target: object = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return inspect.getsource(target)  # type: ignore[arg-type]


def text_of(source: Source) -> str:
    return source_text(source.module, source.name)


@cache
def fingerprint() -> str:
    """A hash of every demo and reference module and the demos' data (the shipped glossary text):
    equal fingerprints, equal results for equal parameters (the plots' entity tags are derived
    from it)."""
    digest = hashlib.blake2b(digest_size=8)
    for package in _PACKAGES:
        spec = importlib.import_module(package).__file__
        assert spec is not None
        folder = Path(spec).parent
        for path in sorted([*folder.glob("*.py"), *folder.glob("*.json")]):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
