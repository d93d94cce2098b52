"""JSON responses with entity tags, and the conditional GET that they allow."""

from fastapi import Request, Response

from kb.cache import Rendered

# Clients may keep a copy but must revalidate it (cheaply, with If-None-Match) before use.
_CACHE_CONTROL = "no-cache"


def client_has(request: Request, etag: str) -> bool:
    """Whether the request's If-None-Match names ``etag`` (weak or strong) or is ``*``."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def send(request: Request, rendered: Rendered, media_type: str = "application/json") -> Response:
    """The response for ``rendered``: 304 if the client already holds this version. A copy
    served while the database is unreachable says how old it is (``Age``)."""
    headers = {"ETag": rendered.etag, "Cache-Control": _CACHE_CONTROL}
    if rendered.age is not None:
        headers["Age"] = str(rendered.age)
    if client_has(request, rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=media_type, headers=headers)
