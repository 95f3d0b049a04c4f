"""The OpenAPI description says what the API really does, errors and hand-read bodies included.

litestar documents a handler's success response and a 400 of its own shape; ours are RFC
9457 problem+json (escrow/problems.py) on every error. ``ProblemResponses`` documents them on
every operation, and marks the operations the authentication middleware lets through as
public, from the same path list, so the schema cannot drift from the middleware; it also
describes parameters as they travel. ``ClosedStructSchema`` makes request bodies as strict
in the schema as in the decoder and the services. ``documented_body`` describes bodies that
handlers read themselves (token exchange, streamed deposits), which litestar cannot see.
Checked by tests/fuzz/test_openapi_fuzz.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import msgspec

# litestar's own Struct schema plugin, extended below (litestar is pinned below 3).
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, Schema
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from escrow.input_limits import MAX_PATH_SEGMENT

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

PROBLEM_MEDIA_TYPE = "application/problem+json"
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CONSTRAINTS = {
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "enum": "enum",
}


class ProblemOut(msgspec.Struct):
    """RFC 9457 problem details; members beyond these name the fields or limits involved."""

    type: str  # a stable URI per kind of problem, under https://partner-escrow.dev/problems/
    title: str
    status: int
    detail: str
    request_id: str


def problem_spec(description: str) -> ResponseSpec:
    """A problem+json response, for handlers that document a status of their own."""
    return ResponseSpec(
        data_container=ProblemOut,
        media_type=PROBLEM_MEDIA_TYPE,
        description=description,
        generate_examples=False,
    )


class ProblemResponses(ReceiveRoutePlugin):
    """Documents each operation's error responses and whether it needs a bearer token."""

    def __init__(self, public_paths: Sequence[str]) -> None:
        self._public = [re.compile(pattern) for pattern in public_paths]

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            handler.operation_class = _described_parameters(handler.operation_class)
            public = self._is_public(route.path, handler)
            if public:
                handler.security = [{}]  # OpenAPI for "no authentication"
            # "default" documents every other status as a problem; litestar's ResponseSpec
            # mapping is typed by int but renders keys with str(), which keeps "default".
            problems = cast("dict[int, ResponseSpec]", _problems_of(route, handler, public))
            handler.responses = {**problems, **(handler.responses or {})}

    def _is_public(self, path: str, handler: HTTPRouteHandler) -> bool:
        if handler.opt.get("exclude_from_auth"):
            return True
        return any(pattern.search(path) for pattern in self._public)


def _problems_of(route: HTTPRoute, handler: HTTPRouteHandler, public: bool) -> dict[Any, Any]:
    problems: dict[Any, ResponseSpec] = {
        400: problem_spec("Malformed request: a parameter or the body does not fit the schema"),
    }
    if not public:
        problems[401] = problem_spec("No valid bearer token")
        problems[403] = problem_spec("Not allowed by policy (the denial is audited)")
    if "{" in route.path:
        problems[404] = problem_spec("No such resource, or one the caller may not see")
    if handler.http_methods & _BODY_METHODS:
        problems[413] = problem_spec("The body is larger than its limit (see Input limits)")
        problems[422] = problem_spec("The request is well formed but not acceptable")
    problems[431] = problem_spec("Too many header fields, or too many bytes of them")
    problems[503] = problem_spec("A dependency (database, blob store, key) is unavailable")
    problems["default"] = problem_spec("Any other error, as problem details")
    return problems


class ClosedStructSchema(StructSchemaPlugin):
    """Request bodies (escrow.schemas.Input) as strict as their decoder.

    They refuse unknown fields, and keep every constraint msgspec's own JSON Schema of the
    Struct has: litestar drops the constraints of list items and ``extra_json_schema`` (which
    escrow uses to document rules its services check themselves).
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        (_,), components = msgspec.json.schema_components([field_definition.type_])
        declared = components[field_definition.type_.__name__].get("properties", {})
        for name, prop in (schema.properties or {}).items():
            if isinstance(prop, Schema) and name in declared:
                _add_constraints(prop, declared[name])
                if isinstance(prop.items, Schema) and "items" in declared[name]:
                    _add_constraints(prop.items, declared[name]["items"])
        return schema


def _add_constraints(target: Schema, declared: dict[str, Any]) -> None:
    for key, attribute in _CONSTRAINTS.items():
        if key in declared and getattr(target, attribute) is None:
            setattr(target, attribute, declared[key])


def _described_parameters(base: type[Operation]) -> type[Operation]:
    """Parameters as they travel: optional text in the query is absent, never null, and
    path identifiers are at most MAX_PATH_SEGMENT characters (input_limits answers 404).

    litestar describes ``str | None = None`` as ``oneOf: [string, null]``, but ``?q=null``
    is the text "null" for such a parameter; only other types read the text as null.
    """

    class DescribedParameters(base):  # type: ignore[valid-type,misc]
        def to_schema(self) -> dict[str, Any]:
            schema: dict[str, Any] = super().to_schema()
            for parameter in schema.get("parameters", []):
                if parameter.get("in") == "query":
                    parameter["schema"] = _without_null(parameter.get("schema", {}))
                elif parameter.get("in") == "path" and parameter["schema"].get("type") == "string":
                    parameter["schema"].setdefault("maxLength", MAX_PATH_SEGMENT)
            return schema

    return DescribedParameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in schema.get("oneOf", []) if b.get("type") != "null"]
    if len(branches) != 1 or len(branches) == len(schema.get("oneOf", [])):
        return schema
    if branches[0].get("type") != "string":
        return schema
    rest = {key: value for key, value in schema.items() if key != "oneOf"}
    return {**branches[0], **rest}


def documented_body(
    content: Mapping[str, type[msgspec.Struct] | dict[str, Any]], *, required: bool = True
) -> type[Operation]:
    """An Operation class that documents a body the handler reads itself.

    ``content`` maps media types to a msgspec Struct (inlined as its JSON Schema) or to a
    JSON Schema dict.
    """
    body = {
        "required": required,
        "content": {media: {"schema": inline_schema(shape)} for media, shape in content.items()},
    }

    class DocumentedBody(Operation):
        def to_schema(self) -> dict[str, Any]:
            schema = super().to_schema()
            schema["requestBody"] = body
            return schema

    return DocumentedBody


def inline_schema(shape: type[msgspec.Struct] | dict[str, Any]) -> dict[str, Any]:
    """A flat Struct as its JSON Schema (a dict passes unchanged), for hand-written docs."""
    if isinstance(shape, dict):
        return shape
    (_,), components = msgspec.json.schema_components([shape])
    if len(components) != 1:  # nested Structs would leave dangling "$ref"s
        raise TypeError(f"{shape.__name__}: only flat Structs can be inlined")
    return dict(components[shape.__name__])


def binary_responses(
    statuses: Mapping[int, str], media_types: Sequence[str], base: type[Operation] = Operation
) -> type[Operation]:
    """An Operation class whose responses in ``statuses`` are raw bytes in ``media_types``.

    litestar's ResponseSpec holds one media type and no binary format; generators need
    ``format: binary`` to hand the caller a file rather than parse the bytes.
    """
    content = {media: {"schema": BINARY} for media in media_types}

    class BinaryResponses(base):  # type: ignore[valid-type,misc]
        def to_schema(self) -> dict[str, Any]:
            schema: dict[str, Any] = super().to_schema()
            responses = schema.setdefault("responses", {})
            for status, description in statuses.items():
                responses[str(status)] = {
                    **responses.get(str(status), {}),
                    "description": description,
                    "content": content,
                }
            return schema

    return BinaryResponses
