"""Liveness and what is loaded: never cached, so it tells the truth about the database."""

from fastapi import APIRouter, Request, Response

from kb import repository
from kb.api.deps import SessionDep, semantic_of
from kb.api.errors import NOT_MODIFIED, UNAVAILABLE
from kb.api.responses import send
from kb.cache import Rendered
from kb.db import backend_of
from kb.schemas import Health, SemanticStatus

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses=NOT_MODIFIED | UNAVAILABLE)
def health(request: Request, session: SessionDep) -> Response:
    """Whether the service can read its database, which content it holds, and whether search
    by meaning is on (it is off without the model: `kb model fetch`): 503 with ``Retry-After``
    as soon as the database cannot answer (within the database time limits)."""
    terms = repository.count_terms(session)
    version = repository.data_version(session)
    backend = backend_of(session.get_bind().engine)
    index = semantic_of(request)
    index.notice(version)
    state, detail = index.state()
    health = Health(
        status="ok",
        terms=terms,
        database=backend,
        data_version=version,
        semantic_search=SemanticStatus(state=state, detail=detail),
    )
    return send(request, Rendered.of(health))
