"""The demo panel's form, generated from the JSON Schema of a demo's parameters.

Each parameter becomes one labelled control whose ``data-kind`` tells ``static/demo.js`` how
to turn it into JSON: a number, a choice, a yes/no, a set of choices, a list of numbers or a
matrix (rows of numbers). The schema is the API's own (``GET /api/v1/terms/{slug}/demo``), so
the form cannot drift from what the API accepts.
"""

from dataclasses import dataclass
from typing import Any, Literal

from kb.demos.query import schema_depth

Kind = Literal["integer", "number", "select", "checkbox", "choices", "list", "matrix"]


@dataclass(frozen=True)
class Control:
    name: str
    label: str
    kind: Kind
    hint: str
    unit: str | None
    value: str
    """The default as the control shows it ("" when the default is unset)."""
    minimum: float | None = None
    maximum: float | None = None
    options: tuple[str, ...] = ()
    chosen: tuple[str, ...] = ()
    """With ``options``: the ones selected by default."""
    optional: bool = False
    """Left empty, the parameter is unset (the demo then picks a value itself)."""

    @property
    def step(self) -> str:
        return "1" if self.kind == "integer" else "any"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        separator = "\n" if value and isinstance(value[0], list) else ", "
        return separator.join(_text(v) for v in value)
    return str(value)


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str) -> float | None:
    # The browser knows only inclusive bounds; the API still refuses an exclusive one (422).
    value: float | None = schema.get(inclusive, schema.get(exclusive))
    return value


def _control(name: str, prop: dict[str, Any]) -> Control:
    options = [option for option in prop.get("anyOf", [prop]) if option.get("type") != "null"]
    shape = {**options[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    default = prop.get("default")
    common: dict[str, Any] = {
        "name": name,
        "label": name.replace("_", " "),
        "hint": prop.get("description", ""),
        "unit": prop.get("unit"),
        "value": _text(default),
        "optional": len(options) < len(prop.get("anyOf", [prop])),
    }
    depth = schema_depth(prop)
    if depth == 2:
        return Control(kind="matrix", **common)
    if depth == 1:
        items = shape.get("items", {})
        if "enum" in items:
            chosen = tuple(str(v) for v in default or ())
            return Control(kind="choices", options=tuple(items["enum"]), chosen=chosen, **common)
        return Control(kind="list", **common)
    if shape.get("type") == "boolean":
        return Control(kind="checkbox", **common)
    if "enum" in shape:
        return Control(
            kind="select", options=tuple(shape["enum"]), chosen=(_text(default),), **common
        )
    return Control(
        kind="integer" if shape.get("type") == "integer" else "number",
        minimum=_bound(shape, "minimum", "exclusiveMinimum"),
        maximum=_bound(shape, "maximum", "exclusiveMaximum"),
        **common,
    )


def controls(schema: dict[str, Any]) -> list[Control]:
    """One control per parameter, in the schema's order (the model's field order)."""
    return [_control(name, prop) for name, prop in schema.get("properties", {}).items()]
