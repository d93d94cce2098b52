"""The whole glossary in one download: SKOS (Turtle, JSON-LD), CSV or JSON Lines."""

import itertools
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from kb import exports
from kb.api.deps import EngineDep
from kb.exports import Format

router = APIRouter(prefix="/export", tags=["export"])

_DESCRIPTIONS = {
    Format.turtle: "SKOS concept scheme in Turtle",
    Format.jsonld: "SKOS concept scheme in JSON-LD",
    Format.csv: "one row per term, with a header row",
    Format.jsonl: "one JSON record per term and line",
}


@router.get(
    "/{format}",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export, as a download: "
            + "; ".join(f"{f.media_type}: {text}" for f, text in _DESCRIPTIONS.items()),
            "content": {
                f.media_type: {"schema": {"type": "object" if f is Format.jsonld else "string"}}
                for f in Format
            },
        }
    },
)
def export(
    request: Request,
    engine: EngineDep,
    format: Annotated[
        Format, Path(description="turtle or jsonld (SKOS), csv, or jsonl (JSON Lines).")
    ],
) -> StreamingResponse:
    """Every term, in slug order. SKOS URIs start with the server's public URL
    (``KB_PUBLIC_URL``), else with the URL this request came to. CSV and JSON Lines are sent
    as they are read, a batch of terms at a time."""
    base_url = request.app.state.public_url or str(request.base_url)
    chunks = exports.stream(engine, format, base_url)
    # The first chunk is made before the answer starts, so that a database that cannot be read
    # gives an error status rather than a cut-off download.
    first = next(chunks, b"")
    return StreamingResponse(
        itertools.chain([first], chunks),
        media_type=format.media_type,
        headers={"Content-Disposition": f'attachment; filename="{format.filename}"'},
    )
