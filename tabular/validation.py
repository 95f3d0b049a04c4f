"""Checking a view against a dataset's schema before an agreement grants it.

``validate_view(view, schema)`` returns the view normalised to ``{"fields", "where"}`` or
raises ``InvalidViewError`` whose ``field`` names the part at fault (``view``,
``view.fields``, ``view.where``) and ``extra`` carries details (``unknown`` field names).
A view names fields of the schema (distinct, at least one) and a where tree of at most
``MAX_PREDICATES`` leaves nested at most ``MAX_DEPTH`` deep, each leaf naming a field of the
schema, an op of ``OPS`` and a JSON scalar value (a non-empty list for ``in``; a number for
an order comparison on a numeric field).
"""

from __future__ import annotations

from typing import Any, Final

from tabular.errors import ViewError

__all__ = ["MAX_DEPTH", "MAX_PREDICATES", "OPS", "InvalidViewError", "validate_view"]

OPS: Final = ("eq", "ne", "in", "lt", "le", "gt", "ge")
MAX_PREDICATES: Final = 64
MAX_DEPTH: Final = 8


class InvalidViewError(ViewError):
    """A view an agreement cannot grant; ``field`` and ``extra`` say where and what."""

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.field = field
        self.extra = extra


def validate_view(view: dict[str, Any] | None, schema: dict[str, Any] | None) -> Any:
    """The view normalised, or None (granted whole); see the module docstring."""
    if view is None:
        return None
    if schema is None:
        raise InvalidViewError(
            "this dataset has no tabular schema yet: grant it whole, or deposit a CSV with a "
            "header, JSON Lines or Parquet version first (its schema is inferred)",
            field="view",
        )
    known = {field["name"]: field["type"] for field in schema["fields"]}
    fields = view.get("fields")
    if fields is not None:
        unknown = sorted(set(fields) - set(known))
        if unknown or not fields or len(set(fields)) != len(fields):
            raise InvalidViewError(
                "view.fields must be distinct fields of the dataset's schema",
                field="view.fields",
                unknown=unknown,
            )
    if view.get("where") is not None:
        count = _check_predicate(view["where"], known, depth=0)
        if count > MAX_PREDICATES:
            raise InvalidViewError(f"a view has at most {MAX_PREDICATES} predicates")
    return {"fields": fields, "where": view.get("where")}


def _check_predicate(node: Any, known: dict[str, str], depth: int) -> int:
    if (
        depth > MAX_DEPTH
        or not isinstance(node, dict)
        or len(node) != (1 if _combinator(node) else 3)
    ):
        raise InvalidViewError(
            'view.where is {"all"|"any": [...]} or {"field", "op", "value"}, '
            f"nested at most {MAX_DEPTH} deep",
            field="view.where",
        )
    if (combinator := _combinator(node)) is not None:
        children = node[combinator]
        if not isinstance(children, list) or not children:
            raise InvalidViewError(f"view.where.{combinator} needs a non-empty list")
        return sum(_check_predicate(child, known, depth + 1) for child in children)
    name, op, value = node.get("field"), node.get("op"), node.get("value")
    if name not in known:
        raise InvalidViewError(
            f"view.where names unknown field {name!r}", field="view.where", unknown=[name]
        )
    if op not in OPS:
        raise InvalidViewError(f"view.where op must be one of {', '.join(OPS)}")
    if op == "in" and (not isinstance(value, list) or not value):
        raise InvalidViewError("the 'in' op takes a non-empty list of values")
    values = value if isinstance(value, list) and op == "in" else [value]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if op in ("lt", "le", "gt", "ge") and known[name] in ("integer", "number") and not numeric:
        raise InvalidViewError(f"{op} on numeric field {name!r} needs a number")
    if not all(isinstance(v, str | int | float | bool) or v is None for v in values):
        raise InvalidViewError("predicate values are strings, numbers, booleans or null")
    return 1


def _combinator(node: dict[str, Any]) -> str | None:
    keys = set(node)
    if keys == {"all"}:
        return "all"
    if keys == {"any"}:
        return "any"
    return None
