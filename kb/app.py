"""The application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kb import loader
from kb.api import (
    categories,
    demos,
    errors,
    export,
    graph,
    health,
    search,
    similar,
    terms,
    writes,
)
from kb.api.gate import RequestGate
from kb.auth import FailedKeyLimit
from kb.cache import ResponseCache
from kb.config import MIB, Settings, get_settings
from kb.db import in_memory, make_engine, migrate
from kb.demos.runner import Runner
from kb.schemas import API_PREFIX
from kb.semantic import SemanticIndex
from kb.server import redact_access_log
from kb.watch import watch
from kb.web import install as install_pages

DESCRIPTION = """A machine-learning glossary: structured, linked terms with formulas and
primary references. Look a term up by slug, name or alias (`/api/v1/terms/BN`), walk its typed
links, browse by category, run a term's reference implementation as a demo
(`POST /api/v1/terms/adam-optimizer/demo`). Every GET answers `If-None-Match` with 304."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.database_limits())
        # Without the time limits: a migration or a load may take long, and must not be cut.
        # (An in-memory database is one engine's only: nothing else can hold its lock.)
        setup = engine if in_memory(engine.url) else make_engine(settings.database_url)
        try:
            migrate(setup)
            if settings.data_dir is not None:
                loader.sync(setup, settings.data_dir)
        finally:
            if setup is not engine:
                setup.dispose()
        app.state.engine = engine
        change_watch = watch(engine)
        app.state.cache = ResponseCache(
            engine,
            ttl=settings.cache_ttl,
            max_entries=settings.cache_size,
            max_bytes=int(settings.cache_mb * MIB),
            watch=change_watch,
        )
        app.state.semantic = SemanticIndex(
            engine, settings.model_dir, on_change=app.state.cache.invalidate
        )
        app.state.semantic.start()
        app.state.demo_runner = Runner(
            timeout_s=settings.demo_timeout_s,
            concurrency=settings.demo_concurrency,
            cache_size=settings.demo_cache_size,
            cache_bytes=int(settings.demo_cache_mb * MIB),
            memory_mb=settings.demo_memory_mb,
        )
        await app.state.demo_runner.start()
        try:
            yield
        finally:
            await app.state.demo_runner.stop()
            app.state.semantic.close()
            if change_watch is not None:
                change_watch.close()
            engine.dispose()

    app = FastAPI(
        title="ML glossary knowledge base",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.api_keys = settings.api_keys
    app.state.failed_keys = FailedKeyLimit()
    app.state.public_url = settings.public_url
    app.state.allowed_hosts = frozenset(settings.allowed_hosts)
    errors.install(app)
    writes.install(app)
    for module in (similar, terms, categories, search, graph, demos, health, export):
        app.include_router(module.router, prefix=API_PREFIX, responses=errors.UNAVAILABLE)
    install_pages(app)
    app.add_middleware(RequestGate)
    redact_access_log()
    return app
