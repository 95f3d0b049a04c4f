"""What a partner receives: the whole dataset, or the view its released agreement grants.

The view is applied on the server while decrypting, segment by segment (``tabular.apply_view``),
so the bytes a beneficiary receives never contain a field or row outside its grant.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from crypto import canonical_json
from escrow.datasets.queries import Grants, unexpired_release
from escrow.errors import InvalidStateError
from storage.models import Agreement, Dataset, DatasetVersion
from tabular import RangeReader, TableFormat, apply_view, table_format
from tabular import TabularError as ViewError

RowCounter = Callable[[int, int, int], None]  # rows scanned, returned, malformed


def view_hash(view: dict[str, Any] | None) -> str | None:
    """SHA-256 of the view's canonical JSON (floats written as strings keep it canonical)."""
    if view is None:
        return None
    return hashlib.sha256(canonical_json(_floats_as_strings(view))).hexdigest()


def _floats_as_strings(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _floats_as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats_as_strings(v) for v in value]
    return value


@dataclass(frozen=True)
class Grant:
    """The disclosure a caller is entitled to: everything (view None) or one view."""

    agreement_id: str | None
    view: dict[str, Any] | None

    @property
    def view_sha256(self) -> str | None:
        return view_hash(self.view)


WHOLE = Grant(None, None)


# The grants (id, view) of an organization's unexpired released agreements for a dataset,
# latest release first; built once (a statement built per call costs more CPU than
# PostgreSQL spends on it), and two columns, not the agreements (loading one costs more).
_RELEASED_TO_ORG = (
    select(Agreement.id, Agreement.view)
    .where(
        *unexpired_release(bindparam("dataset_id"), bindparam("now")),
        Agreement.beneficiary_org_id == bindparam("org_id"),
    )
    .order_by(Agreement.released_at.desc(), Agreement.id.desc())
)


def grant_for(session: Session, dataset: Dataset, org_id: str, now: datetime) -> Grant:
    """The owner gets everything; a beneficiary gets its released agreement's view
    (``chosen_grant``)."""
    if org_id == dataset.owner_org_id:
        return WHOLE
    params = {"dataset_id": dataset.id, "org_id": org_id, "now": now}
    return chosen_grant(dataset, org_id, list(session.execute(_RELEASED_TO_ORG, params).tuples()))


def chosen_grant(dataset: Dataset, org_id: str | None, grants: Grants) -> Grant:
    """What ``org_id`` receives of the dataset, given its grants (latest release first).

    The owner gets everything. With several released agreements, one that grants the
    dataset whole wins; otherwise the most recently released view applies (views are never
    merged). None (no organization) or no grant: ``WHOLE``, as before; access is the
    policy's to refuse, not the disclosure's.
    """
    if org_id == dataset.owner_org_id:
        return WHOLE
    whole = next((Grant(id_, None) for id_, view in grants if view is None), None)
    return whole or (Grant(*grants[0]) if grants else WHOLE)


def require_viewable(media_type: str) -> None:
    if table_format(media_type) is None:
        raise InvalidStateError(
            "this version is not tabular, so the view granted to you cannot be applied"
        )


def require_readable_table(version: DatasetVersion) -> None:
    """Fails closed before any byte: a version whose deposit scan found it no well-formed
    table (versions deposited before deposits were checked) would cut a view midway."""
    digest = version.attestation
    if isinstance(digest, dict) and (digest.get("error") or digest.get("malformed_rows")):
        raise InvalidStateError(
            "this version is not a well-formed table, so no view of it can be served"
        )


def viewed(
    media_type: str,
    view: dict[str, Any],
    schema: dict[str, Any] | None,
    plaintext: Iterator[bytes],
    read_range: Callable[[int, int], bytes],
    size: int,
    counted: RowCounter,
    output: TableFormat | None = None,
) -> Iterator[bytes]:
    """The view applied to a version's plaintext; reports the row counts when done."""
    fmt = table_format(media_type)
    if fmt is None:
        raise ViewError("only tabular versions take a view")
    if fmt == "parquet":
        source = io.BufferedReader(RangeReader(size, read_range), buffer_size=1 << 20)
        result = apply_view(fmt, view, schema, source=source, output=output)
    else:
        result = apply_view(fmt, view, schema, chunks=plaintext, output=output)
    try:
        yield from result
    finally:
        result.close()
    counted(result.rows_scanned, result.rows_returned, result.malformed_rows)


def preview_rows(media_type: str, output: Iterator[bytes], limit: int) -> list[Any]:
    """The first ``limit`` rows of a view's CSV (header first) or JSON Lines output, parsed.

    Reads only as far as it needs: a row counts once the row after it has begun.
    """
    kind = table_format(media_type)
    if kind == "parquet":
        raise InvalidStateError("previews cover CSV and JSON Lines; download Parquet views")
    wanted = limit + 1 if kind == "csv" else limit
    decoder, text, rows = codecs.getincrementaldecoder("utf-8")(), "", []
    for chunk in output:
        text += decoder.decode(chunk)
        rows = _parse(kind, text)
        if len(rows) > wanted:
            return rows[:wanted]
    return _parse(kind, text + decoder.decode(b"", final=True), final=True)[:wanted]


def _parse(kind: str | None, text: str, *, final: bool = False) -> list[Any]:
    if kind == "csv":
        return list(csv.reader(io.StringIO(text)))
    lines = text.split("\n")
    complete = lines if final else lines[:-1]  # the last line may still be arriving
    return [json.loads(line) for line in complete if line.strip()]


__all__ = [
    "WHOLE",
    "Grant",
    "ViewError",
    "chosen_grant",
    "grant_for",
    "preview_rows",
    "require_readable_table",
    "require_viewable",
    "viewed",
]
