"""The knowledge base as HTML pages for people, next to the JSON API for programs."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from kb.api.errors import database_error, http_error
from kb.schemas import API_PREFIX
from kb.web import pages

STATIC = Path(__file__).parent / "static"


def _in_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(f"{API_PREFIX}/")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code != 404 or _in_api(path):
        return await http_error(request, exc)
    asked = path.rstrip("/").rsplit("/", 1)[-1][:200]
    detail = f"Nothing is at {path}."
    return await pages.not_found_page(request, [], detail, asked=asked or None)


async def _database_error(request: Request, exc: Exception) -> Response:
    """The API's answer to a database error, as an HTML page outside the API."""
    response = await database_error(request, exc)
    if response.status_code != 503 or _in_api(request.url.path):
        return response
    return pages.unavailable_page(request, response.headers["retry-after"])


def install(app: FastAPI) -> None:
    """Serve the pages, their static files, and HTML 404s outside the API."""
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
