"""Dataset use cases: create, list, read, versions, withdraw and shred."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditRecord
from escrow.datasets.access import authorized_dataset, authorized_with_owner
from escrow.datasets.disclosure import Grant, grant_for
from escrow.datasets.queries import (
    find_version,
    released_to_org,
)
from escrow.datasets.results import DatasetRecord, Version, dataset_of, version_of
from escrow.errors import ConflictError, InvalidStateError, ValidationError
from escrow.guard import Target
from escrow.orgs.queries import as_resource as org_resource
from escrow.orgs.queries import org_by_id, slugs_of
from escrow.paging import MAX_INTEGER, Page, decode_cursor, decode_number_cursor, paginate
from escrow.policy.resources import DatasetResource, OrgResource
from escrow.service import Service
from storage.blobs import BlobStore, BlobStoreError
from storage.db import Database
from storage.models import Dataset, DatasetVersion

log = logging.getLogger("escrow.datasets")

LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,62}$")
FIELD_TYPES = frozenset({"string", "integer", "number", "boolean", "date", "timestamp"})
MAX_LABELS, MAX_FIELDS = 32, 1024
_NOBODY = OrgResource("-", "-", "active", "core")  # an owner no actor belongs to


def validate_labels(labels: list[str]) -> list[str]:
    bad = [label for label in labels if not LABEL_PATTERN.match(label)]
    if bad or len(labels) > MAX_LABELS:
        raise ValidationError(
            f"at most {MAX_LABELS} labels of 1-63 characters a-z 0-9 _ . : -",
            field="labels",
            invalid=bad,
        )
    return sorted(set(labels))


def validate_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A tabular schema: {"fields": [{"name": str, "type": one of FIELD_TYPES}, ...]}."""
    if schema is None:
        return None
    fields = schema.get("fields")
    if set(schema) != {"fields"} or not isinstance(fields, list) or not fields:
        raise ValidationError('schema must be {"fields": [...]} with at least one field')
    names: list[str] = []
    for field in fields[: MAX_FIELDS + 1]:
        name, kind = (field.get("name"), field.get("type")) if isinstance(field, dict) else (0, 0)
        if not isinstance(name, str) or not 0 < len(name) <= 200 or kind not in FIELD_TYPES:
            raise ValidationError(
                f"each schema field needs a name and a type in {sorted(FIELD_TYPES)}",
                field="schema",
            )
        names.append(name)
    if len(names) > MAX_FIELDS or len(set(names)) != len(names):
        raise ValidationError(f"schema fields must be unique, at most {MAX_FIELDS}", field="schema")
    return {"fields": [{"name": f["name"], "type": f["type"]} for f in fields]}


class DatasetService(Service):
    def create(
        self,
        name: str,
        description: str,
        media_type: str,
        labels: list[str],
        schema: dict[str, Any] | None,
    ) -> DatasetRecord:
        actor = self.ctx.principal
        org = org_by_id(self.session, actor.org_id)
        self.guard.require(
            self.session,
            self.ctx,
            "create_dataset",
            org_resource(self.session, org),
            Target("dataset", None, (org.id,)),
        )
        now = self.deps.clock.now()
        dataset = Dataset(
            id=self.deps.new_id(),
            owner_org_id=org.id,
            name=name,
            description=description,
            labels=validate_labels(labels),
            media_type=media_type,
            schema=validate_schema(schema),
            status="active",
            version_count=0,
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(dataset)
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError(f"your organization already has a dataset named {name!r}") from None
        self.commit_with_event(
            AuditRecord(
                "dataset.create",
                "success",
                "dataset",
                dataset.id,
                org_ids=(org.id,),
                details={"labels": dataset.labels, "media_type": media_type},
            )
        )
        return dataset_of(dataset, org.slug, dataset.schema)

    def list_visible(self, cursor: str | None, limit: int) -> Page:
        """A page of ``DatasetRecord``s: the datasets the policy lets the caller read,
        filtered in SQL, each schema as the caller may see it.

        No agreement is evaluated here: the sweeper and the access path bring agreements up
        to date, and a release that has expired is left out by its time alone.
        """
        actor = self.ctx.principal
        query = select(Dataset).order_by(Dataset.id).limit(limit + 1)
        if after := decode_cursor(cursor):
            query = query.where(Dataset.id > after)
        own = org_by_id(self.session, actor.org_id)
        # Probes stand for "a dataset my org owns" and "a dataset released to my org".
        own_probe = DatasetResource("*", org_resource(self.session, own), (), "active")
        released_probe = DatasetResource("*", _NOBODY, (), "active", (actor.org_id,))
        visible = []
        if self.guard.allows(self.ctx, "read", own_probe):
            visible.append(Dataset.owner_org_id == actor.org_id)
        if self.guard.allows(self.ctx, "read", released_probe):
            released = released_to_org(actor.org_id, self.deps.clock.now())
            visible.append(released.exists() & (Dataset.status == "active"))
        if not visible:
            return Page([], None)
        query = query.where(or_(*visible))
        page = paginate(list(self.session.scalars(query)), limit)
        return Page(self._records(page.items, disclosed=True), page.next_cursor)

    def get(self, dataset_id: str) -> DatasetRecord:
        """The dataset, its schema as the caller may see it."""
        dataset, owner, grant = authorized_with_owner(self.deps, dataset_id, "read")
        return dataset_of(dataset, owner.slug, _disclosed(dataset.schema, grant))

    def load(self, dataset_id: str, action: str) -> Dataset:
        """Returns the row, not a ``DatasetRecord``: deposits and downloads authorize through
        it and go on working with the row (escrow.datasets.access: other features' way in)."""
        return authorized_dataset(self.deps, dataset_id, action)

    def versions(self, dataset_id: str, cursor: str | None, limit: int) -> Page:
        """A page of the dataset's ``Version``s, whole if the caller sees the original (the
        owner, or a grant of all of it) rather than a view."""
        dataset = self.load(dataset_id, "read")
        query = (
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset.id)
            .order_by(DatasetVersion.number)
            .limit(limit + 1)
        )
        if (after := decode_number_cursor(cursor, MAX_INTEGER)) is not None:
            query = query.where(DatasetVersion.number > after)
        page = paginate(list(self.session.scalars(query)), limit, key="number")
        whole = self._sees_whole(dataset)
        return Page([version_of(v, whole=whole) for v in page.items], page.next_cursor)

    def version(self, dataset_id: str, number: int) -> Version:
        """The version, whole or not as in ``versions``."""
        dataset = self.load(dataset_id, "read")
        row = find_version(self.session, dataset, number)
        return version_of(row, whole=self._sees_whole(dataset))

    def _sees_whole(self, dataset: Dataset) -> bool:
        org_id = self.deps.ctx.principal.org_id
        return grant_for(self.session, dataset, org_id, self.deps.clock.now()).view is None

    def _disclosed_schema(self, dataset: Dataset) -> dict[str, Any] | None:
        """The schema as the caller may see it (``_disclosed``)."""
        if dataset.schema is None:
            return None
        org_id = self.deps.ctx.principal.org_id
        return _disclosed(
            dataset.schema, grant_for(self.session, dataset, org_id, self.deps.clock.now())
        )

    def withdraw(self, dataset_id: str) -> DatasetRecord:
        """No new deposits, agreements or partner access; the owner keeps its own copy."""
        dataset = self.load(dataset_id, "withdraw")
        if dataset.status != "active":
            raise InvalidStateError(f"dataset is {dataset.status}, not active")
        dataset.status = "withdrawn"
        dataset.updated_at = self.deps.clock.now()
        self.commit_with_event(
            AuditRecord(
                "dataset.withdraw",
                "success",
                "dataset",
                dataset.id,
                org_ids=(dataset.owner_org_id,),
            )
        )
        (record,) = self._records([dataset], disclosed=False)
        return record

    def shred(self, dataset_id: str, blobs: BlobStore, database: Database) -> DatasetRecord:
        """Destroys every wrapped DEK in one transaction, then deletes the blobs.

        Once the transaction commits the data is unrecoverable, whatever happens to the
        blobs; blobs that could not be deleted now are reclaimed by `escrow storage gc`.
        """
        dataset = self.load(dataset_id, "shred")
        if dataset.status == "shredded":
            raise InvalidStateError("dataset is already shredded")
        now = self.deps.clock.now()
        blob_keys = list(
            self.session.scalars(
                select(DatasetVersion.blob_key).where(DatasetVersion.dataset_id == dataset.id)
            )
        )
        self.session.execute(
            update(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset.id)
            .values(wrapped_dek=None, kek_id=None, shredded_at=now)
        )
        dataset.status = "shredded"
        dataset.updated_at = now
        self.commit_with_event(
            AuditRecord(
                "dataset.shred",
                "success",
                "dataset",
                dataset.id,
                org_ids=(dataset.owner_org_id,),
                details={"versions": len(blob_keys)},
            )
        )
        if not database.purge_write_ahead_log():
            log.warning("shredded dataset %s: the SQLite WAL could not be emptied yet", dataset.id)
        for key in blob_keys:
            try:
                blobs.delete(key)
            except BlobStoreError:
                log.warning("shredded dataset %s: blob %s left for gc", dataset.id, key)
        (record,) = self._records([dataset], disclosed=False)
        return record

    def _records(self, datasets: list[Dataset], *, disclosed: bool) -> list[DatasetRecord]:
        """Their results, owners named by slug (read together, in one query at most).

        ``disclosed``: each schema as the caller may see it; otherwise whole, for the answers
        to withdrawing and shredding, which only the owner's members may do.
        """
        slugs = slugs_of(self.session, {d.owner_org_id for d in datasets})
        return [
            dataset_of(
                d, slugs[d.owner_org_id], self._disclosed_schema(d) if disclosed else d.schema
            )
            for d in datasets
        ]


def _disclosed(schema: dict[str, Any] | None, grant: Grant) -> dict[str, Any] | None:
    """``schema`` as a caller granted ``grant`` may see it: a partner granted a view sees only
    the fields the view grants, never the names of the others."""
    view = grant.view
    if schema is None or view is None or view.get("fields") is None:
        return schema
    granted = set(view["fields"])
    return {**schema, "fields": [f for f in schema["fields"] if f["name"] in granted]}
