from __future__ import annotations

import importlib
import inspect
import pkgutil

import tabular

EXPECTED = {
    # errors
    "BadTableError", "SchemaMismatchError", "TabularError", "ViewError",
    # formats and reading
    "BLOCK_BYTES", "MEDIA_TYPE_OF", "TableFormat", "parquet_batches",
    "read_batches", "table_format",
    # schemas and typed columns
    "FIELD_TYPES", "SchemaInference", "arrow_type_for", "field_type_of", "field_types",
    "schema_of_arrow", "typed_batch", "typed_column", "typed_values",
    # predicates and their reference semantics
    "RowFilter", "coerce", "compile_filter", "matcher", "parse_view", "where_fields",
    "InvalidViewError", "validate_view",
    # views and Parquet output
    "RangeReader", "ViewOutput", "apply_view", "bare_schema", "write_parquet",
}  # fmt: skip


def test_public_surface_is_exactly_all() -> None:
    assert set(tabular.__all__) == EXPECTED
    assert len(tabular.__all__) == len(EXPECTED)


def test_every_public_name_resolves() -> None:
    for name in tabular.__all__:
        assert getattr(tabular, name) is not None, name


def test_errors_share_one_base() -> None:
    errors = [getattr(tabular, name) for name in EXPECTED if name.endswith("Error")]
    assert all(issubclass(error, tabular.TabularError) for error in errors)


def test_tabular_imports_nothing_from_the_service_or_storage() -> None:
    for module_info in pkgutil.iter_modules(tabular.__path__, "tabular."):
        source = inspect.getsource(importlib.import_module(module_info.name))
        for forbidden in ("import escrow", "from escrow", "import storage", "from storage"):
            assert forbidden not in source, (module_info.name, forbidden)
