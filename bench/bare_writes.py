"""The peer of bench_writes.py: the least a versioned write can do, on the same database.

One route that updates a term's summary with the same conditional UPDATE that makes kb's
writes safe (``WHERE version = :expected``), and returns the row: no key check, no rules, no
links, no search index, no history, no cache.
"""

import os
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel
from sqlalchemy import text

from kb.db import make_engine

engine = make_engine(os.environ["KB_DATABASE_URL"])
app = FastAPI()


class Patch(BaseModel):
    summary: str


@app.get("/terms/{slug}")
def get(slug: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT slug, version, summary FROM term WHERE slug = :slug"), {"slug": slug}
        ).one()
    return dict(row._mapping)


@app.patch("/terms/{slug}")
def patch(slug: str, body: Patch, if_match: str = Header()) -> dict[str, Any]:
    with engine.begin() as connection:
        row = connection.execute(
            text(
                "UPDATE term SET summary = :summary, version = version + 1"
                " WHERE slug = :slug AND version = :version RETURNING slug, version, summary"
            ),
            {"summary": body.summary, "slug": slug, "version": int(if_match.strip('"'))},
        ).one_or_none()
    if row is None:
        raise HTTPException(412, "stale")
    return dict(row._mapping)
