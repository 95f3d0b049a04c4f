"""The client's own copies of the API's bodies agree with the server that answers them.

The client (``escrow/cli/client/models``) imports nothing of the server, so it repeats the
shapes it speaks; these tests keep the repetition honest. Each client module mirrors a
server one (``models/datasets.py`` and ``escrow/datasets/schemas.py``) and each Struct
keeps its server name, which is also its name in the OpenAPI document.

- Every body: its fields are properties of the documented schema, of a compatible type;
  a field the client requires is one the server always sends (or requires).
- Requests: exactly the documented properties and required set, and the same limits and
  defaults as the server's decoder (so a bad value is refused locally with its message).
- Responses: tolerant (unknown fields ignored), fields in the server's order (``--json``
  prints them as the server sent them).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from litestar import Litestar

from escrow.cli.client import exits
from escrow.cli.client import models as client_models
from escrow.cli.client.models import (
    agreements,
    audit,
    auth,
    datasets,
    members,
    orgs,
    overlaps,
    partnerships,
    policy,
)
from escrow.cli.client.policy import read_bundle
from escrow.errors import PROBLEM_BASE
from escrow.policy.engine import PolicyBundle
from escrow.schemas import PageOut

MODULES = (agreements, audit, auth, datasets, members, orgs, overlaps, partnerships, policy)
# The JSON token body is read by the handler itself and only described in prose there.
UNDOCUMENTED = {"TokenRequest"}
POLICIES = Path(__file__).resolve().parents[3] / "policies"


def _structs(module: ModuleType) -> list[type[msgspec.Struct]]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
    ]


def _server_twin(client: type[msgspec.Struct]) -> type[msgspec.Struct]:
    feature = client.__module__.rsplit(".", 1)[1]
    twin: type[msgspec.Struct] = getattr(
        importlib.import_module(f"escrow.{feature}.schemas"), client.__name__
    )
    return twin


CLIENT = [struct for module in MODULES for struct in _structs(module)]
REQUESTS = [s for s in CLIENT if issubclass(s, client_models.Request)]
RESPONSES = [s for s in CLIENT if not issubclass(s, client_models.Request)]


@pytest.fixture(scope="module")
def documented(shared_app: Litestar) -> dict[str, Any]:
    schemas: dict[str, Any] = shared_app.openapi_schema.to_schema()["components"]["schemas"]
    return schemas


# ------------------------------------------------------------------ OpenAPI shapes

Shape = dict[str, tuple[bool, list[Any]]]  # property -> (required, the kinds of value)


def _kinds(schema: dict[str, Any]) -> list[Any]:
    """A documented property as the kinds of value it allows (null, string, $ref, array...)."""
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return [kind for option in schema[combinator] for kind in _kinds(option)]
    if "$ref" in schema:
        return [("ref", schema["$ref"].rsplit("/", 1)[1])]
    kind = schema.get("type")
    if kind is None and "enum" in schema:
        kind = "string" if all(isinstance(v, str) for v in schema["enum"]) else "enum"
    if kind == "array":
        return [("array", tuple(_kinds(schema.get("items", {}))))]
    if kind == "string":
        return [("string", schema.get("format"))]
    return [kind or "any"]


SIMPLE: dict[type[mi.Type], Any] = {
    mi.NoneType: "null",
    mi.IntType: "integer",
    mi.FloatType: "number",
    mi.BoolType: "boolean",
    mi.DictType: "object",
    mi.AnyType: "any",
    mi.StrType: ("string", None),
    mi.DateTimeType: ("string", "date-time"),
}


def _declared(kind: Any) -> list[Any]:
    """A msgspec field type as the same kinds (msgspec's own schema leaves out formats)."""
    if isinstance(kind, mi.Metadata):
        return _declared(kind.type)
    if isinstance(kind, mi.UnionType):
        return [k for member in kind.types for k in _declared(member)]
    if isinstance(kind, mi.StructType):
        return [("ref", kind.cls.__name__)]
    if isinstance(kind, mi.ListType):
        return [("array", tuple(_declared(kind.item_type)))]
    if isinstance(kind, mi.LiteralType) and all(isinstance(v, str) for v in kind.values):
        return [("string", None)]
    return [SIMPLE[type(kind)]]


def _shape(struct: type[msgspec.Struct]) -> Shape:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    return {f.encode_name: (f.required, _declared(f.type)) for f in info.fields}


def _documented(struct: type[msgspec.Struct], documented: dict[str, Any]) -> Shape:
    if struct.__name__ in UNDOCUMENTED:
        return _shape(_server_twin(struct))
    assert struct.__name__ in documented, f"{struct.__name__} is not in the OpenAPI document"
    schema = documented[struct.__name__]
    required = set(schema.get("required", []))
    return {name: (name in required, _kinds(p)) for name, p in schema["properties"].items()}


def _accepts(reader: Sequence[Any], written: Sequence[Any]) -> bool:
    """Whether every kind of value ``written`` may hold decodes as ``reader``."""
    return "any" in reader or all(_read(reader, kind) for kind in written)


def _read(reader: Sequence[Any], kind: Any) -> bool:
    if kind in reader:
        return True
    arrays = [r[1] for r in reader if isinstance(r, tuple) and r[0] == "array"]
    is_array = isinstance(kind, tuple) and kind[0] == "array"
    return is_array and any(_accepts(items, kind[1]) for items in arrays)


@pytest.mark.parametrize("struct", CLIENT, ids=lambda s: s.__name__)
def test_every_client_field_is_documented_with_a_compatible_type(
    struct: type[msgspec.Struct], documented: dict[str, Any]
) -> None:
    theirs = _documented(struct, documented)
    for name, (required, kinds) in _shape(struct).items():
        where = f"{struct.__name__}.{name}"
        assert name in theirs, f"{where} is not a documented property"
        # A request's value must be one the server takes; a response's, one the client reads.
        if issubclass(struct, client_models.Request):
            assert _accepts(theirs[name][1], kinds), where
        else:
            assert _accepts(kinds, theirs[name][1]), where
        assert theirs[name][0] or not required, f"{where} is required here, optional there"


@pytest.mark.parametrize("struct", REQUESTS, ids=lambda s: s.__name__)
def test_a_request_has_exactly_the_documented_properties_and_required_set(
    struct: type[msgspec.Struct], documented: dict[str, Any]
) -> None:
    ours, theirs = _shape(struct), _documented(struct, documented)
    assert {n: r for n, (r, _) in ours.items()} == {n: r for n, (r, _) in theirs.items()}
    assert struct.__struct_config__.forbid_unknown_fields


@pytest.mark.parametrize("struct", RESPONSES, ids=lambda s: s.__name__)
def test_a_response_ignores_unknown_fields_and_keeps_the_server_order(
    struct: type[msgspec.Struct], documented: dict[str, Any]
) -> None:
    assert not struct.__struct_config__.forbid_unknown_fields
    order = list(_documented(struct, documented))
    ours = list(struct.__struct_encode_fields__)
    assert ours == [name for name in order if name in ours]


def test_every_page_the_client_reads_is_items_and_next_cursor(documented: dict[str, Any]) -> None:
    ours = _shape(client_models.PageOut)
    pages = [schema for name, schema in documented.items() if name.startswith("PageOut_")]
    assert pages
    for page in pages:
        required = set(page["required"])
        for name, (needed, kinds) in ours.items():
            assert _accepts(kinds, _kinds(page["properties"][name]))
            assert name in required or not needed
    assert client_models.PageOut.__struct_fields__ == PageOut.__struct_fields__


# ------------------------------------------------------------ the decoder's limits


def _limits(kind: Any) -> Any:
    """A msgspec type as comparable data: its kind and the limits the decoder enforces."""
    if isinstance(kind, mi.Metadata):  # extra_json_schema documents; the decoder ignores it
        return _limits(kind.type)
    if isinstance(kind, mi.StructType):
        return ("struct", kind.cls.__name__)
    if isinstance(kind, mi.UnionType):
        return ("union", sorted(map(repr, (_limits(t) for t in kind.types))))
    if isinstance(kind, mi.ListType):
        return ("list", _limits(kind.item_type), kind.min_length, kind.max_length)
    if isinstance(kind, mi.DictType):
        return (
            "dict",
            _limits(kind.key_type),
            _limits(kind.value_type),
            kind.min_length,
            kind.max_length,
        )
    if isinstance(kind, mi.LiteralType):
        return ("literal", sorted(map(repr, kind.values)))
    return repr(kind)  # str, int, datetime...: their reprs name every limit


def _default(field: mi.Field) -> Any:
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.to_builtins(field.default_factory())
    return msgspec.to_builtins(field.default) if field.default is not msgspec.NODEFAULT else None


def _decoded_as(struct: type[msgspec.Struct]) -> list[tuple[Any, ...]]:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    return [
        (f.encode_name, f.required, _limits(f.type), _default(f))
        for f in sorted(info.fields, key=lambda f: f.encode_name)
    ]


@pytest.mark.parametrize("struct", REQUESTS, ids=lambda s: s.__name__)
def test_a_request_is_checked_here_with_the_servers_limits_and_defaults(
    struct: type[msgspec.Struct],
) -> None:
    assert _decoded_as(struct) == _decoded_as(_server_twin(struct))


# ----------------------------------------------------------------- other copies


def test_local_problems_use_the_servers_problem_types() -> None:
    assert exits.PROBLEM_BASE == PROBLEM_BASE


def test_policy_push_reads_a_directory_as_the_server_does() -> None:
    bundle = PolicyBundle.from_directory(POLICIES)
    assert read_bundle(POLICIES) == (dict(bundle.files), dict(bundle.tests))
    assert bundle.files and bundle.tests
