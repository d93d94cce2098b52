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
from kb.cache import ResponseCache
from kb.config import Settings, get_settings
from kb.db import make_engine, migrate
from kb.demos.runner import Runner
from kb.schemas import API_PREFIX
from kb.semantic import SemanticIndex
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
        engine = make_engine(settings.database_url)
        migrate(engine)
        if settings.data_dir is not None:
            loader.sync(engine, settings.data_dir)
        app.state.engine = engine
        change_watch = watch(engine)
        app.state.cache = ResponseCache(
            engine, ttl=settings.cache_ttl, max_entries=settings.cache_size, watch=change_watch
        )
        app.state.semantic = SemanticIndex(
            engine, settings.model_dir, on_change=app.state.cache.invalidate
        )
        app.state.semantic.start()
        app.state.demo_runner = Runner(
            timeout_s=settings.demo_timeout_s,
            concurrency=settings.demo_concurrency,
            cache_size=settings.demo_cache_size,
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
    app.state.public_url = settings.public_url
    errors.install(app)
    writes.install(app)
    for module in (similar, terms, categories, search, graph, demos, health, export):
        app.include_router(module.router, prefix=API_PREFIX)
    install_pages(app)
    return app
