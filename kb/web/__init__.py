"""The knowledge base as HTML pages for people, next to the JSON API for programs."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response

from kb.api.errors import http_error
from kb.schemas import API_PREFIX
from kb.web import pages

STATIC = Path(__file__).parent / "static"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code != 404 or path == API_PREFIX or path.startswith(f"{API_PREFIX}/"):
        return await http_error(request, exc)
    asked = path.rstrip("/").rsplit("/", 1)[-1][:200]
    detail = f"Nothing is at {path}."
    return await pages.not_found_page(request, [], detail, asked=asked or None)


def install(app: FastAPI) -> None:
    """Serve the pages, their static files, and HTML 404s outside the API."""
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(HTTPException, _http_error)
