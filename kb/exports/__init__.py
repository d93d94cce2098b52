"""Exports of the whole glossary: SKOS (Turtle, JSON-LD), CSV, JSON Lines, and data files.

``stream`` produces the bytes of one format, for the API and ``kb export``; the data files are
``kb.exports.files``. Everything is read in one snapshot of the database (``records``), in
slug order; CSV and JSON Lines go out a batch of terms at a time, while SKOS needs the whole
graph before rdflib can write it.
"""

import errno
import os
import secrets
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import Engine

from kb.exports import records, skos, tabular


class Format(StrEnum):
    turtle = "turtle"
    jsonld = "jsonld"
    csv = "csv"
    jsonl = "jsonl"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def filename(self) -> str:
        return f"glossary.{_EXTENSIONS[self]}"


_MEDIA_TYPES = {
    Format.turtle: "text/turtle",
    Format.jsonld: "application/ld+json",
    Format.csv: "text/csv",
    Format.jsonl: "application/x-ndjson",
}
_EXTENSIONS = {
    Format.turtle: "ttl",
    Format.jsonld: "jsonld",
    Format.csv: "csv",
    Format.jsonl: "jsonl",
}

DEFAULT_BASE_URL = "http://localhost:8000"
"""The root URL in SKOS URIs when neither ``KB_PUBLIC_URL`` nor a request gives one."""


def stream(
    engine: Engine,
    format: Format,
    base_url: str = DEFAULT_BASE_URL,
    batch_size: int = records.BATCH_SIZE,
) -> Iterator[bytes]:
    """The export in ``format`` as UTF-8 chunks: one per batch of terms for CSV and JSON
    Lines, one in all for SKOS. Nothing is read before the first chunk is asked for."""
    with records.snapshot(engine) as session:
        categories = records.categories(session)
        batches = records.term_batches(session, batch_size)
        if format in (Format.turtle, Format.jsonld):
            every = (record for batch in batches for record in batch)
            graph = skos.build_graph(categories, every, base_url)
            yield skos.serialize(graph, "turtle" if format is Format.turtle else "json-ld")
            return
        if format is Format.csv:
            yield tabular.csv_header().encode()
        for batch in batches:
            if format is Format.csv:
                lines = tabular.csv_rows(batch)
            else:
                lines = tabular.jsonl_lines(batch, categories)
            yield "".join(lines).encode()


def write_file(path: Path, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``path`` through a temporary file beside it, renamed into place at
    the end: an export that fails or is interrupted leaves no file cut short. Returns the size."""
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such directory", str(path.parent))
    # Not tempfile.mkstemp: its files are private (0600), and this one keeps the mode it gets.
    staging = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with staging.open("xb") as out:
            for chunk in chunks:
                out.write(chunk)
            size = out.tell()
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return size
