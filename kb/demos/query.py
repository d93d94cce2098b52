"""Demo parameters in a query string (the plot URL), and back.

Scalars are ``name=value``; a list is comma-separated (``optimizers=adam,sgd``) or repeated
(``optimizers=adam&optimizers=sgd``); a matrix has one repeated key per row
(``queries=1,0&queries=0,1``). A parameter left out takes its default.
"""

import types
import typing
from typing import Any, Union, get_args, get_origin
from urllib.parse import urlencode

from pydantic import BaseModel


def _depth(annotation: Any) -> int:
    """0 for a scalar, 1 for a list, 2 for a list of lists (through Optional and Annotated)."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _depth(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return max(_depth(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is list:
        return 1 + _depth(get_args(annotation)[0])
    return 0


def schema_depth(schema: dict[str, Any]) -> int:
    """0 for a scalar parameter, 1 for a list, 2 for a matrix (from its JSON Schema)."""
    if "anyOf" in schema:
        return max(schema_depth(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return 1 + schema_depth(schema.get("items", {}))
    return 0


def from_query(model: type[BaseModel], items: list[tuple[str, str]]) -> dict[str, Any]:
    """Query items as data for ``model.model_validate`` (which parses the strings)."""
    grouped: dict[str, list[str]] = {}
    for name, value in items:
        grouped.setdefault(name, []).append(value)
    data: dict[str, Any] = {}
    for name, values in grouped.items():
        field = model.model_fields.get(name)
        depth = 0 if field is None else _depth(field.annotation)
        if depth == 0:
            data[name] = values[0] if len(values) == 1 else values
        elif depth == 1:
            data[name] = [item for value in values for item in value.split(",") if item]
        else:
            data[name] = [[item for item in value.split(",") if item] for value in values]
    return data


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def to_query(params: BaseModel) -> str:
    """The query string of the parameters that differ from their defaults."""
    items: list[tuple[str, str]] = []
    for name, value in params.model_dump(exclude_defaults=True).items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            items += [(name, ",".join(_text(v) for v in row)) for row in value]
        elif isinstance(value, list):
            items.append((name, ",".join(_text(v) for v in value)))
        elif value is not None:
            items.append((name, _text(value)))
    return urlencode(items, safe=",")
