"""The ``kb`` command: serve the API, check and load glossary files, show a term."""

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from kb import loader, repository
from kb.config import Settings
from kb.content import ContentError, Glossary, read_glossary
from kb.db import create_schema, make_engine
from kb.schemas import TermDetail

app = typer.Typer(
    help="ML glossary knowledge base. Settings come from KB_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
)

DataPath = Annotated[
    Path | None,
    typer.Argument(
        help="The data directory (default: KB_DATA_DIR, else ./data).", show_default=False
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"kb: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _data_dir(path: Path | None) -> Path:
    return path or Settings().data_dir or Path("data")


def _validated(root: Path) -> Glossary:
    try:
        return read_glossary(root)
    except ContentError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        count = len(exc.problems)
        raise _fail(
            f"{count} problem{'s' if count != 1 else ''} in {root}; nothing loaded"
        ) from None


@contextmanager
def _database() -> Iterator[Engine]:
    url = Settings().database_url
    try:
        engine = make_engine(url)
        create_schema(engine)
        yield engine
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise _fail(f"database error ({url}): {reason}") from None
    except ValueError as exc:
        raise _fail(str(exc)) from None


@app.command()
def check(path: DataPath = None) -> None:
    """Validate every glossary file and report every problem (exit 1 if there is any)."""
    root = _data_dir(path)
    glossary = _validated(root)
    typer.echo(
        f"{root}: {len(glossary.terms)} terms in {len(glossary.categories)} categories, "
        f"{len(glossary.links)} links: all valid"
    )


@app.command()
def load(path: DataPath = None) -> None:
    """Check the glossary files, then replace the database content with them atomically."""
    root = _data_dir(path)
    glossary = _validated(root)
    with _database() as engine:
        loader.load(engine, glossary)
    typer.echo(
        f"loaded {len(glossary.terms)} terms, {len(glossary.categories)} categories and "
        f"{len(glossary.links)} links from {root} (data version {glossary.version})"
    )


@app.command()
def show(slug: Annotated[str, typer.Argument(help="A slug, name or alias, any case.")]) -> None:
    """Print a term from the local database."""
    with _database() as engine, Session(engine) as session:
        term = repository.find_term(session, slug)
        if term is None:
            close = repository.closest_slugs(session, slug)
            hint = f"; did you mean: {', '.join(close)}?" if close else ""
            raise _fail(f"no term is called {slug!r}{hint}")
        typer.echo(render_term(repository.term_detail(session, term)))


def render_term(term: TermDetail, width: int = 88) -> str:
    """A term as readable terminal text."""
    wrap = textwrap.TextWrapper(width=width)
    lines = [typer.style(term.name, bold=True)]
    if term.aliases:
        lines.append(f"also: {', '.join(term.aliases)}")
    lines += [f"{term.category.name} · {term.kind} · {term.slug}", "", *wrap.wrap(term.summary), ""]
    for paragraph in term.body.split("\n\n"):
        keep = paragraph.startswith(("$$", "#", "-", "|", "```", "    "))
        lines += [paragraph] if keep else wrap.wrap(paragraph)
        lines.append("")
    if term.related:
        lines.append(typer.style("Related", bold=True))
        lines += [f"  {r.relation.value:<15} {r.name} ({r.slug})" for r in term.related]
        lines.append("")
    if term.references:
        lines.append(typer.style("References", bold=True))
        for ref in term.references:
            lines.append(f"  {', '.join(ref.authors)} ({ref.year}). {ref.title}. {ref.venue}.")
            lines.append(f"    {ref.url}")
    return "\n".join(lines).rstrip() + "\n"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the API. Loads KB_DATA_DIR first when the database is empty or out of date."""
    settings = Settings()
    if settings.data_dir is not None:
        _validated(settings.data_dir)
        with _database() as engine:
            if loader.sync(engine, settings.data_dir):
                typer.echo(f"loaded {settings.data_dir} into {settings.database_url}")
    uvicorn.run(
        "kb.app:create_app", factory=True, host=host, port=port, workers=workers, reload=reload
    )
