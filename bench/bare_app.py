"""The peer of bench_api.py: a bare FastAPI route returning the same record as a plain dict."""

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

PAYLOAD: dict[str, Any] = json.loads(Path(os.environ["BENCH_PAYLOAD"]).read_text())

app = FastAPI()


@app.get("/api/v1/terms/adam-optimizer")
async def term() -> dict[str, Any]:
    return PAYLOAD
