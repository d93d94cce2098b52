"""The demos themselves, run in this process: defaults, random valid parameters (hypothesis),
parameters at their bounds, determinism, the budget, and the shape of what they return.

The HTTP side is in test_demos_api.py, the worker processes in test_demos_runner.py.
"""

import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from kb.content import ContentError, read_glossary
from kb.demos import registry
from kb.demos.base import (
    COST_BUDGET,
    SERIES_MAX_POINTS,
    Demo,
    DemoOutput,
    DemoParams,
    budget_errors,
    downsample_indices,
    finish,
)
from kb.demos.query import from_query, to_query
from kb.demos.sources import text_of
from kb.demos.worker import Job, execute
from tests.kb.glossary_factory import TERMS, glossary_with, write_glossary

DEMOS = sorted(registry.DEMOS)
DATA = Path(__file__).resolve().parents[2] / "data"


def _strict_json(value: Any) -> Any:
    """``value`` through JSON that refuses NaN and infinities, as a browser would."""
    return json.loads(json.dumps(value, allow_nan=False))


def check_run(demo: Demo[Any], params: DemoParams) -> dict[str, Any]:
    """Run in this process the way a worker does; check what would be sent."""
    result = execute(Job(run=demo.run, params=params))
    assert result["ok"], result.get("error")
    assert _strict_json(result["metrics"]) == result["metrics"]
    assert _strict_json(result["series"]) == result["series"]
    assert json.loads(result["body"]) == {"metrics": result["metrics"], "series": result["series"]}
    assert result["metrics"]["diverged"] in (0, 1)
    assert all(isinstance(v, int | float) or v is None for v in result["metrics"].values())
    for name, values in result["series"].items():
        assert 0 < len(values) <= SERIES_MAX_POINTS, name
        assert all(v is None or isinstance(v, float) or len(v) == 2 for v in values), name
    known = {source.ref for source in demo.sources}
    assert set(result["references"] or known) <= known
    return result


# --- JSON Schema -> hypothesis strategies ------------------------------------------------------


def _strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.one_of([_strategy(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(
            schema.get("minimum", schema.get("exclusiveMinimum", -1e6)),
            schema.get("maximum", schema.get("exclusiveMaximum", 1e6)),
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
        )
    if kind == "string":
        return st.text(max_size=20)
    if kind == "array":
        return st.lists(
            _strategy(schema.get("items", {"type": "integer"})),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 8), 8),
        )
    raise AssertionError(f"no strategy for {schema}")


def params_data(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of some of the model's parameters with values inside their declared bounds."""
    properties = model.model_json_schema()["properties"]
    return st.fixed_dictionaries(
        {}, optional={name: _strategy(schema) for name, schema in properties.items()}
    )


# --- every demo --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _model_for_demos_that_need_it(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test of one demo that needs the sentence encoder runs it with the real model (the
    suite's default is no model: tests/conftest.py)."""
    callspec = getattr(request.node, "callspec", None)
    slug = callspec.params.get("slug") if callspec is not None else None
    if slug is not None and registry.DEMOS[slug].needs_model:
        monkeypatch.setenv("KB_MODEL_DIR", str(request.getfixturevalue("model_dir")))


@pytest.mark.parametrize("slug", DEMOS)
def test_runs_with_defaults_deterministically(slug: str) -> None:
    demo = registry.DEMOS[slug]
    first = check_run(demo, demo.params())
    again = check_run(demo, demo.params())
    assert (first["metrics"], first["series"]) == (again["metrics"], again["series"])
    assert first["metrics"]["diverged"] == 0
    assert demo.cost(demo.params()) <= COST_BUDGET, "the defaults must be within budget"


@pytest.mark.parametrize("slug", DEMOS)
def test_plots_render_to_svg(slug: str) -> None:
    demo = registry.DEMOS[slug]
    result = execute(Job(run=demo.run, params=demo.params(), plot=demo.plot))
    assert result["ok"], result.get("error")
    assert result["svg"].startswith(b"<?xml") and b"<svg" in result["svg"]


@pytest.mark.parametrize("slug", DEMOS)
def test_random_valid_parameters_run_or_are_refused_by_budget(slug: str) -> None:
    demo = registry.DEMOS[slug]

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(data=params_data(demo.params))
    def check(data: dict[str, Any]) -> None:
        try:
            params = demo.params.model_validate(data)
        except ValidationError:
            return  # a cross-field rule (x_min < x_max, bottleneck <= d_model, ...)
        if budget_errors(demo, params):
            return
        check_run(demo, params)

    check()


def _bounds(demo: Demo[Any]) -> list[tuple[str, Any]]:
    """(name, value) for each numeric parameter at its minimum and its maximum."""
    cases = []
    for name, schema in demo.params.model_json_schema()["properties"].items():
        options = schema.get("anyOf", [schema])
        for option in options:
            if option.get("type") in ("integer", "number"):
                low = option.get("minimum", option.get("exclusiveMinimum"))
                high = option.get("maximum", option.get("exclusiveMaximum"))
                if "exclusiveMinimum" in option:
                    low = math.nextafter(low, math.inf)
                if "exclusiveMaximum" in option:
                    high = math.nextafter(high, -math.inf)
                cases += [(name, low), (name, high)]
    return cases


BOUNDS = [(slug, name, value) for slug in DEMOS for name, value in _bounds(registry.DEMOS[slug])]


@pytest.mark.parametrize(("slug", "name", "value"), BOUNDS)
def test_each_parameter_at_its_bounds(slug: str, name: str, value: Any) -> None:
    demo = registry.DEMOS[slug]
    try:
        params = demo.params.model_validate({name: value})
    except ValidationError as exc:
        # Only a rule across parameters may refuse a bound (e.g. bottleneck > d_model).
        assert all(error["type"] == "value_error" for error in exc.errors()), exc
        return
    errors = budget_errors(demo, params)
    if errors:
        assert errors[0]["loc"][1] in demo.cost_drivers
        return
    check_run(demo, params)


def test_every_demo_is_refusable_by_budget() -> None:
    """Each demo's largest values together are over budget, and the refusal names a
    parameter whose lowering to the given limit brings the cost within budget."""
    for demo in registry.DEMOS.values():
        if demo.slug in ("attention-mechanism", "activation-function", "sentence-embedding"):
            continue  # every run of these is cheap
        data = {name: value for name, value in _bounds(demo)[1::2]}
        params = demo.params.model_construct(**{**demo.params().model_dump(), **data})
        errors = budget_errors(demo, params)
        assert errors, demo.slug
        for error in errors:
            if len(error["loc"]) == 2 and isinstance(error["ctx"]["limit"], int):
                name, limit = error["loc"][1], error["ctx"]["limit"]
                if isinstance(getattr(params, name), list):
                    lowered = params.model_copy(update={name: getattr(params, name)[:limit]})
                else:
                    lowered = params.model_copy(update={name: limit})
                    assert demo.cost(params.model_copy(update={name: limit + 1})) > COST_BUDGET
                assert demo.cost(lowered) <= COST_BUDGET


def test_budget_error_names_the_parameter_to_lower() -> None:
    demo = registry.DEMOS["adam-optimizer"]
    params = demo.params.model_validate({"steps": 10_000, "problem": "sparse-regression"})
    errors = budget_errors(demo, params)
    assert errors[0]["loc"] == ["body", "steps"]
    assert errors[0]["type"] == "over_budget"
    assert "lower steps to at most" in errors[0]["msg"]
    limit = errors[0]["ctx"]["limit"]
    assert demo.cost(params.model_copy(update={"steps": limit})) <= COST_BUDGET
    assert demo.cost(params.model_copy(update={"steps": limit + 1})) > COST_BUDGET


@pytest.mark.parametrize("slug", DEMOS)
def test_unknown_parameters_are_refused(slug: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        registry.DEMOS[slug].params.model_validate({"no_such_parameter": 1})


@pytest.mark.parametrize("slug", DEMOS)
def test_parameters_declare_defaults_and_bounds(slug: str) -> None:
    schema = registry.DEMOS[slug].params.model_json_schema()
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert "default" in prop, name
        assert prop.get("description"), name
        for option in prop.get("anyOf", [prop]):
            if option.get("type") in ("integer", "number"):
                assert {"minimum", "exclusiveMinimum"} & set(option), name
                assert {"maximum", "exclusiveMaximum"} & set(option), name
            if option.get("type") == "array":
                assert "maxItems" in option, name


@pytest.mark.parametrize("slug", DEMOS)
def test_sources_resolve(slug: str) -> None:
    for source in registry.DEMOS[slug].sources:
        text = text_of(source)
        assert f"{source.name.split('.')[-1]}" in text.splitlines()[0]


# --- parameters in the plot URL ----------------------------------------------------------------


@pytest.mark.parametrize("slug", DEMOS)
def test_query_string_round_trip(slug: str) -> None:
    demo = registry.DEMOS[slug]

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=params_data(demo.params))
    def check(data: dict[str, Any]) -> None:
        try:
            params = demo.params.model_validate(data)
        except ValidationError:
            return
        items = [tuple(item.split("=", 1)) for item in to_query(params).split("&") if item]
        decoded = [(unquote_plus(k), unquote_plus(v)) for k, v in items]
        again = demo.params.model_validate(from_query(demo.params, decoded))
        assert again == params

    check()


def test_query_accepts_repeated_and_comma_separated_lists() -> None:
    model = registry.DEMOS["adam-optimizer"].params
    items = [("optimizers", "adam"), ("optimizers", "sgd,rmsprop"), ("steps", "7")]
    params = model.model_validate(from_query(model, items))
    assert params.optimizers == ["adam", "sgd", "rmsprop"]
    assert params.steps == 7
    attention = registry.DEMOS["attention-mechanism"].params
    rows = [("queries", "1,0"), ("queries", "0,1.5"), ("mask", "none")]
    assert attention.model_validate(from_query(attention, rows)).queries == [
        [1.0, 0.0],
        [0.0, 1.5],
    ]


# --- making results safe -----------------------------------------------------------------------


def test_finish_replaces_non_finite_numbers_and_flags_divergence() -> None:
    output = DemoOutput(
        metrics={"a": np.float64("nan"), "b": 2, "c": np.int64(3), "d": True, "e": None},
        series={"s": [1.0, float("inf")], "p": np.array([[0.0, float("nan")]])},
    )
    metrics, series = finish(output)
    assert metrics == {"a": None, "b": 2, "c": 3, "d": 1, "e": None, "diverged": 1}
    assert series == {"s": [1.0, None], "p": [[0.0, None]]}
    assert finish(DemoOutput(metrics={"x.diverged": 1}))[0]["diverged"] == 1
    assert finish(DemoOutput(metrics={"x": 1.0}))[0]["diverged"] == 0


def test_long_series_are_downsampled_keeping_the_ends() -> None:
    values = np.arange(2001.0)
    _, series = finish(DemoOutput(metrics={}, series={"v": values, "p": np.c_[values, values]}))
    assert len(series["v"]) == SERIES_MAX_POINTS and len(series["p"]) == SERIES_MAX_POINTS
    assert series["v"][0] == 0.0 and series["v"][-1] == 2000.0
    assert series["p"][-1] == [2000.0, 2000.0]
    assert list(downsample_indices(3)) == [0, 1, 2]
    with pytest.raises(ValueError, match="must be 1-D or"):
        finish(DemoOutput(metrics={}, series={"bad": np.zeros((2, 3))}))


def test_a_diverging_optimizer_is_reported_not_raised() -> None:
    demo = registry.DEMOS["adam-optimizer"]
    result = check_run(demo, demo.params.model_validate({"optimizers": ["sgd"], "sgd_lr": 10}))
    assert result["metrics"]["sgd.diverged"] == 1 and result["metrics"]["diverged"] == 1


# --- the glossary and the registry agree -------------------------------------------------------


def test_data_terms_name_registered_demos_and_the_registry_lists_them() -> None:
    glossary = read_glossary(DATA)
    declared = {t.slug: t.demo for t in glossary.terms if t.demo is not None}
    listed = {term: demo.slug for demo in registry.DEMOS.values() for term in demo.terms}
    assert declared == listed
    for demo in registry.DEMOS.values():
        for source in demo.sources:
            assert source.term in {t.slug for t in glossary.terms}, source


def test_check_rejects_an_unknown_demo(tmp_path: Path) -> None:
    adamw = {**TERMS["adamw"], "demo": "no-such-demo"}
    root = write_glossary(tmp_path / "data", glossary_with(adamw=adamw))
    with pytest.raises(ContentError) as error:
        read_glossary(root)
    (problem,) = error.value.problems
    assert problem.path.endswith("terms/adamw.md")
    assert problem.field == "demo"
    assert problem.line is not None
    assert "unknown demo 'no-such-demo'" in problem.message
    assert "GET /api/v1/demos" in problem.message
