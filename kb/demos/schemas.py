"""Response models of the demo endpoints."""

from typing import Any

from pydantic import BaseModel, Field

from kb.demos.base import JsonSeries, MetricValue


class DemoLinks(BaseModel):
    self: str = Field(description="GET: this description; POST: run the demo.")
    plot: str = Field(description="An SVG plot of a run with the default parameters.")
    term: str = Field(description="The term the demo belongs to.")


class DemoSummary(BaseModel):
    slug: str
    title: str
    term: str = Field(description="The term it belongs to (its slug).")
    terms: list[str] = Field(description="Every term that links to this demo.")
    description: str
    parameters: dict[str, Any] = Field(
        description="JSON Schema of the parameters: types, defaults, bounds and units "
        "(`unit`). All are optional; `seed` is common to every demo."
    )
    links: DemoLinks


class DemoCatalogue(BaseModel):
    items: list[DemoSummary]


class SourceCode(BaseModel):
    module: str
    function: str = Field(description="The function, class or method (Class.method).")
    reference: str = Field(description="module:function, as in a run's `reference` list.")
    term: str = Field(description="The term whose equations this code implements.")
    equations: str = Field(description="Link to that term, whose body states the equations.")
    source: str = Field(description="The source code, exactly as it runs.")


class DemoDetail(DemoSummary):
    sources: list[SourceCode]


class DemoRunHead(BaseModel):
    """A run's response without its metrics and series, which the worker encodes itself."""

    demo: str
    term: str
    params: dict[str, Any] = Field(description="The parameters used, defaults filled in.")
    seed: int
    elapsed_ms: float = Field(description="Compute time of the run in its worker process.")
    reference: list[str] = Field(description="The reference code run, as module:function.")
    plot: str = Field(description="URL of the SVG plot of this very run.")
    cached: bool = Field(description="Served from the cache of recent runs.")


class DemoRun(DemoRunHead):
    metrics: dict[str, MetricValue] = Field(
        description="Named numbers. `diverged` is 1 if any number was NaN or infinite (those "
        "are null) or a part of the run diverged, else 0."
    )
    series: dict[str, JsonSeries] = Field(
        description="Named lists of at most 500 numbers or [x, y] pairs, downsampled evenly "
        "(ends kept) when longer; non-finite values are null."
    )


class DemoTarget(BaseModel):
    """Which demo a term name leads to (cached per name)."""

    term: str
    demo: str
