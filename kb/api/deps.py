"""Dependencies shared by the routers, declared once."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kb.cache import ResponseCache
from kb.semantic import SemanticIndex


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def cache_of(request: Request) -> ResponseCache:
    """The app's response cache.

    Read routes call this directly rather than declaring a dependency: on a cache hit, the
    dependency machinery would cost more than everything else the request does.
    """
    cache: ResponseCache = request.app.state.cache
    return cache


def semantic_of(request: Request) -> SemanticIndex:
    """The app's search by meaning (``enabled`` is False without a model)."""
    index: SemanticIndex = request.app.state.semantic
    return index


EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
