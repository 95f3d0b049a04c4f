"""The tabular engine on Apache Arrow. Pure: byte streams and Arrow batches in, no escrow.

Entry points (everything public is in ``__all__``):

- Formats: ``table_format(media_type)`` -> ``"csv" | "jsonl" | "parquet" | None``.
- Reading: ``read_batches(chunks, fmt, columns=None)`` turns an iterator of plaintext byte
  chunks (CSV, JSON Lines) into ``pyarrow.RecordBatch``es in bounded memory (CSV columns are
  strings, as written); ``parquet_batches(source, columns=None)`` reads a seekable Parquet
  file row group by row group (``RangeReader`` makes one from a ranged read).
  ``typed_batch(batch, types)`` casts columns to their schema types (a value that does not
  read as its type becomes null); ``arrow_type_for(kind)`` names the Arrow type.
- Schemas: ``FIELD_TYPES``; ``field_types(schema)`` (name -> type);
  ``SchemaInference`` accumulates types from every value (``add_strings`` for CSV columns,
  ``add_values`` for JSON values, ``add_typed`` for Arrow-typed columns), gives ``schema(names)``
  and ``conflicts(expected, names)``; ``infer_schema(chunks, fmt)`` / ``schema_of_arrow``.
- Predicates: ``compile_filter(where, types)`` -> ``RowFilter`` with ``mask(batch)`` (a boolean
  array, never null) and ``apply(batch)``; ``mask_columns`` takes columns by name (Arrow arrays
  or Python lists). Semantics: ``tabular.values`` (``coerce``, ``matcher``), the reference.
  ``parse_view(view)`` and ``where_fields(where)`` check and read a view;
  ``validate_view(view, schema)`` checks one against a schema before it is granted.
- Views: ``apply_view(fmt, view, schema, chunks=... | source=..., output=None|"parquet")`` ->
  ``ViewOutput`` (an iterator of output bytes with ``rows_scanned``/``rows_returned``);
  JSON Lines views are in ``tabular.jsonl_view``.
- Parquet output: ``write_parquet(batches, arrow_schema)`` yields a Parquet file's bytes.
- Content digests (receipts): ``ContentDigest`` / ``digest_for(media_type)``; the format
  is documented in ``tabular.digests``, its CSV and JSON Lines sides are ``csv_digest`` and
  ``jsonl_digest``, their limits and reasons ``digest_rules``.
- Errors: ``TabularError`` > ``BadTableError`` (``reason``), ``SchemaMismatchError``
  (``differences``), ``ViewError``. Messages never carry data.
"""

from __future__ import annotations

from tabular.errors import BadTableError, SchemaMismatchError, TabularError, ViewError
from tabular.formats import MEDIA_TYPE_OF, TableFormat, table_format
from tabular.parquet import RangeReader, bare_schema, write_parquet
from tabular.predicates import RowFilter, compile_filter, parse_view, where_fields
from tabular.reading import parquet_batches, read_batches
from tabular.reading_rules import BLOCK_BYTES
from tabular.schema import (
    FIELD_TYPES,
    SchemaInference,
    arrow_type_for,
    field_type_of,
    field_types,
    schema_of_arrow,
)
from tabular.typed import typed_batch, typed_column, typed_values
from tabular.validation import InvalidViewError, validate_view
from tabular.values import coerce, matcher
from tabular.views import ViewOutput, apply_view

__all__ = [
    "BLOCK_BYTES",
    "FIELD_TYPES",
    "MEDIA_TYPE_OF",
    "BadTableError",
    "InvalidViewError",
    "RangeReader",
    "RowFilter",
    "SchemaInference",
    "SchemaMismatchError",
    "TableFormat",
    "TabularError",
    "ViewError",
    "ViewOutput",
    "apply_view",
    "arrow_type_for",
    "bare_schema",
    "coerce",
    "compile_filter",
    "field_type_of",
    "field_types",
    "matcher",
    "parquet_batches",
    "parse_view",
    "read_batches",
    "schema_of_arrow",
    "table_format",
    "typed_batch",
    "typed_column",
    "typed_values",
    "validate_view",
    "where_fields",
    "write_parquet",
]
