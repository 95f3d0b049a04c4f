"""The Delta Sharing protocol over releases: what a recipient may list, query and fetch.

Share = the owner organization's slug; schema ``default``; one table per live released
agreement to the recipient's organization, named after the dataset (a suffix of the
agreement id keeps names unique within a share). Live means released, not expired, the
dataset active, both organizations active, and the platform policy allowing the download
at this instant; anything else is absent from every listing and query at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from crypto import KeyManager
from escrow.datasets.disclosure import view_hash
from escrow.datasets.queries import as_resource
from escrow.errors import BadRequestError, NotFoundError
from escrow.service import Service, ServiceDeps
from escrow.sharing.files import FileStore, view_key
from escrow.sharing.results import SharedTable, Snapshot, snapshot_of
from escrow.sharing.service import Recipient
from escrow.sharing.signed_urls import FileClaims, UrlSigner
from storage.models import Agreement, Dataset, DatasetVersion, Organization

SCHEMA = "default"
MAX_NAME = 255
_FORBIDDEN = re.compile(r"[\x00-\x20/\x7f]")  # protocol "Names": no space, slash, control
_TABLE_FORBIDDEN = re.compile(r"[\x00-\x20/.\x7f]")  # tables and schemas: no period either


def check_name(kind: str, name: str) -> str:
    """Fails closed: names the protocol forbids are a 400, before any lookup."""
    pattern = _FORBIDDEN if kind == "share" else _TABLE_FORBIDDEN
    if not name or len(name) > MAX_NAME or pattern.search(name):
        raise BadRequestError(f"{kind} name {name[:MAX_NAME]!r} is not a valid name", field=kind)
    return name


def table_name(dataset_name: str) -> str:
    return _TABLE_FORBIDDEN.sub("_", dataset_name)[:200] or "table"


class SharingProtocol(Service):
    """Read-only use cases of one recipient; ``deps.ctx.actor`` is its profile's actor."""

    def __init__(self, deps: ServiceDeps, recipient: Recipient, files: FileStore) -> None:
        super().__init__(deps)
        self.recipient = recipient
        self.files = files
        self._tables: list[SharedTable] | None = None  # computed once per request
        # Each table's agreement and dataset, by table id: what a snapshot is taken from.
        self._sources: dict[str, tuple[Agreement, Dataset]] = {}

    # ------------------------------------------------------------------ catalog

    def tables(self) -> list[SharedTable]:
        """Every live table, sorted by share then name (case-insensitively)."""
        if self._tables is None:
            self._tables = self._live_tables()
        return self._tables

    def _live_tables(self) -> list[SharedTable]:
        now = self.deps.clock.now()
        owner = Organization
        rows = self.session.execute(
            select(Agreement, Dataset, owner)
            .join(Dataset, Dataset.id == Agreement.dataset_id)
            .join(owner, owner.id == Agreement.owner_org_id)
            .where(
                Agreement.beneficiary_org_id == self.recipient.org_id,
                Agreement.state == "released",
                or_(Agreement.expires_at.is_(None), Agreement.expires_at > now),
                Dataset.status == "active",
                owner.status == "active",
            )
            .order_by(owner.slug, Agreement.released_at, Agreement.id)
        ).all()
        tables: list[SharedTable] = []
        taken: set[tuple[str, str]] = set()
        for agreement, dataset, org in rows:
            if not self._may_download(dataset, now):
                continue
            name = table_name(dataset.name)
            if (org.slug, name.lower()) in taken:
                name = f"{name}-{agreement.id[-8:]}"
            taken.add((org.slug, name.lower()))
            tables.append(SharedTable(name, org.slug, org.id, agreement.id))
            self._sources[agreement.id] = (agreement, dataset)
        return sorted(tables, key=lambda t: (t.share, t.name.lower()))

    def _may_download(self, dataset: Dataset, now: datetime) -> bool:
        return self.guard.allows(self.ctx, "download", as_resource(self.session, dataset, now))

    def shares(self) -> list[tuple[str, str]]:
        """(name, id) of each owner organization with a live table."""
        return sorted({(t.share, t.share_id) for t in self.tables()})

    def share(self, name: str) -> tuple[str, str]:
        check_name("share", name)
        for share in self.shares():
            if share[0] == name.lower():
                return share
        raise NotFoundError(f"share {name!r} does not exist or is not shared with you")

    def tables_in(self, share: str, schema: str | None) -> list[SharedTable]:
        found = self.share(share)[0]
        if schema is not None:
            self._schema(schema)
        return [t for t in self.tables() if t.share == found]

    def table(self, share: str, schema: str, name: str) -> SharedTable:
        check_name("table", name)
        for table in self.tables_in(share, schema):
            if table.name.lower() == name.lower():
                return table
        raise NotFoundError(
            f"table {share}.{schema}.{name} does not exist or is not shared with you"
        )

    def _schema(self, schema: str) -> None:
        check_name("schema", schema)
        if schema.lower() != SCHEMA:
            raise NotFoundError(f"schema {schema!r} does not exist")

    # ------------------------------------------------------------------ versions and data

    def latest_version(self, table: SharedTable) -> int:
        number = self.session.scalar(
            select(func.max(DatasetVersion.number)).where(
                DatasetVersion.dataset_id == self._source(table)[1].id,
                DatasetVersion.wrapped_dek.is_not(None),
            )
        )
        if number is None:
            raise NotFoundError(f"table {table.share}.{SCHEMA}.{table.name} has no data yet")
        return int(number)

    def snapshot(self, table: SharedTable, version: int | None) -> Snapshot:
        """The table at ``version`` (default: the latest), its view materialized as Parquet.

        Any version the agreement's view can be read from may be asked for, as on ``/v1``.
        """
        agreement, dataset = self._source(table)
        latest = self.latest_version(table)
        number = latest if version is None else version
        if number < 0 or number > latest:
            raise BadRequestError(f"version {number} does not exist (the latest is {latest})")
        row = self.session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == dataset.id, DatasetVersion.number == number
            )
        )
        if row is None or row.wrapped_dek is None:
            raise BadRequestError(f"version {number} does not exist or was shredded")
        view_sha256 = view_key(view_hash(agreement.view))
        file = self.files.ensure(self.session, dataset, row, agreement.view, view_sha256)
        return snapshot_of(table, dataset, row, file)

    def _source(self, table: SharedTable) -> tuple[Agreement, Dataset]:
        """The table's agreement and dataset, as this request's catalog found them live."""
        self.tables()
        source = self._sources.get(table.id)
        if source is None:
            raise NotFoundError(f"table {table.share}.{SCHEMA}.{table.name} is not shared with you")
        return source


@dataclass(frozen=True)
class FileLink:
    url: str
    expires_ms: int  # unix milliseconds


@dataclass(frozen=True)
class SharingServer:
    """The protocol's long-lived parts: its files, the key its URL signing key derives from,
    and where recipients reach it."""

    files: FileStore
    keys: KeyManager
    public_url: str
    url_ttl: int  # seconds a signed file URL stays valid
    profile_max_ttl: int  # the longest lifetime a recipient profile may be given

    def signer(self) -> UrlSigner:
        return UrlSigner.derived(self.keys.keyed_digest)


def link(
    deps: ServiceDeps, recipient: Recipient, snapshot: Snapshot, server: SharingServer
) -> FileLink:
    """A fresh signed URL for the snapshot's file; its session makes this query's fetches
    one download event per file."""
    expires = int(deps.clock.now().timestamp()) + server.url_ttl
    token = server.signer().sign(
        FileClaims(
            agreement_id=snapshot.table.id,
            file_id=snapshot.file.id,
            version=snapshot.version,
            view_sha256=snapshot.file.view_sha256,
            profile_id=recipient.profile_id,
            session_id=deps.new_id(),
            expires=expires,
        )
    )
    url = f"{server.public_url}/delta-sharing/files/{snapshot.file.id}?token={token}"
    return FileLink(url, expires * 1000)
