"""The glossary written back as a data directory that ``kb load`` reads to the same state.

The layout is ``kb.content``'s: ``categories.yaml`` and ``terms/<slug>.md`` (YAML front matter,
then the Markdown body). The text is canonical, so exporting freshly loaded files gives them
back byte for byte and an export after edits over the API differs from the committed files
only where the content does: keys in a fixed order, flow lists for aliases and authors, one
flow mapping per link, folded summaries and descriptions wrapped at 100 columns, reference
titles and identifiers always quoted, every list present (``[]`` when empty, a slot to fill in)
and a missing demo left out.
"""

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb import repository
from kb.content import CATEGORIES_FILE, TERMS_DIR, data_version
from kb.db import WRITE_LOCK
from kb.exports import records
from kb.exports.yaml_text import flow_list, folded, quoted, scalar
from kb.schemas import CategoryIn, TermIn

CATEGORIES_HEADER = "# Categories of the glossary. Each term's `category` names one of these slugs."


class ExportError(Exception):
    """The export cannot be written where it was asked to go; nothing was changed there."""


def render_categories(categories: Iterable[CategoryIn]) -> str:
    lines = [CATEGORIES_HEADER]
    for category in categories:
        lines += [
            f"- slug: {scalar(category.slug)}",
            f"  name: {scalar(category.name)}",
            *folded("  description", category.description, indent=4),
        ]
    return "\n".join(lines) + "\n"


def render_term(term: TermIn) -> str:
    lines = [
        "---",
        f"slug: {scalar(term.slug)}",
        f"name: {scalar(term.name)}",
        f"aliases: {flow_list(term.aliases)}",
        f"category: {scalar(term.category)}",
        f"kind: {scalar(term.kind)}",
        *folded("summary", term.summary, indent=2),
        "related:" if term.related else "related: []",
    ]
    lines += [
        f"  - {{term: {scalar(link.term, flow=True)}, relation: {link.relation.value}}}"
        for link in term.related
    ]
    lines.append("references:" if term.references else "references: []")
    for reference in term.references:
        lines += [
            f"  - title: {quoted(reference.title)}",
            f"    authors: {flow_list(reference.authors)}",
            f"    year: {reference.year}",
            f"    venue: {scalar(reference.venue)}",
            f"    url: {scalar(reference.url)}",
        ]
        if reference.arxiv is not None:
            lines.append(f"    arxiv: {quoted(reference.arxiv)}")
        if reference.doi is not None:
            lines.append(f"    doi: {quoted(reference.doi)}")
    if term.demo is not None:
        lines.append(f"demo: {scalar(term.demo)}")
    lines.append("---")
    return "\n".join(lines) + "\n" + term.body + "\n"


def _check_target(root: Path) -> None:
    """Refuse to write into a file, or into a directory that holds something other than a
    glossary: stale term files there are deleted, which must never hit someone's own files."""
    if root.exists() and not root.is_dir():
        raise ExportError(f"{root} is a file; give a directory for the data files")
    if root.is_dir() and any(root.iterdir()) and not (root / CATEGORIES_FILE).is_file():
        raise ExportError(
            f"{root} is not empty and holds no {CATEGORIES_FILE}, so it is not a glossary"
            " directory; give a glossary directory (e.g. data) or a new or empty one"
        )


def _replace_if_changed(new: Path, old: Path) -> bool:
    if old.is_file() and old.read_bytes() == new.read_bytes():
        return False
    os.replace(new, old)
    return True


@dataclass(frozen=True)
class Written:
    terms: int
    changed: int
    """Files written or removed; files whose content was already right are left alone."""


def write_directory(
    root: Path, categories: Iterable[CategoryIn], terms: Iterable[TermIn]
) -> Written:
    """Write the glossary under ``root``.

    Everything is first written to a temporary directory beside ``root``; only then are the
    files moved into place, each with one atomic rename, and the term files of terms that no
    longer exist removed. A failure while writing leaves ``root`` as it was; an interruption
    while moving leaves every file either old or new, never cut short. Unchanged files are
    left alone, so their modification times say what the export changed.
    """
    _check_target(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.export-", dir=root.parent))
    try:
        (staging / TERMS_DIR).mkdir()
        (staging / CATEGORIES_FILE).write_bytes(render_categories(categories).encode())
        names = set()
        for term in terms:
            name = f"{term.slug}.md"
            names.add(name)
            (staging / TERMS_DIR / name).write_bytes(render_term(term).encode())
        (root / TERMS_DIR).mkdir(parents=True, exist_ok=True)
        changed = 0
        for name in sorted(names):
            changed += _replace_if_changed(staging / TERMS_DIR / name, root / TERMS_DIR / name)
        for stale in sorted((root / TERMS_DIR).glob("*.md")):
            if stale.name not in names:
                stale.unlink()
                changed += 1
        # Last, so that a directory with categories.yaml has its term files too.
        changed += _replace_if_changed(staging / CATEGORIES_FILE, root / CATEGORIES_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Written(len(names), changed)


def export(engine: Engine, root: Path) -> Written:
    """Write the database's glossary under ``root`` (``write_directory``).

    The database then counts the written files as the ones it was loaded from, as after
    ``kb load``: the edits made over the API since the last load are in them now, so a server
    started on them (``KB_DATA_DIR``) serves the database as it is rather than refusing
    (``kb.loader.UnexportedEdits``). Not so if an edit came in while the files were written.
    """
    with records.snapshot(engine) as session:
        version = repository.data_version(session)
        categories = records.categories(session)
        if not categories:
            raise ExportError(
                "the database holds no glossary; load one with `kb load`, or set"
                " KB_DATABASE_URL to the database to export"
            )
        written = write_directory(
            root, categories, (record.term for record in records.terms(session))
        )
    files_version = data_version(root)
    with Session(engine) as session:
        session.connection(execution_options=WRITE_LOCK)
        repository.lock_for_write(session)
        if repository.data_version(session) == version:
            repository.set_data_version(session, files_version, loaded=True)
            session.commit()
    return written
