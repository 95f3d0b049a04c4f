"""storage.models exposes exactly its __all__: every table, from whichever module holds it."""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import types

import storage.models
from storage.models import Base

EXPECTED = {
    "Base",
    # organizations and authentication
    "Organization", "Partnership", "Principal",
    "ApiKey", "AuthEpoch", "RateBucket", "RevokedToken",
    # datasets, agreements, policy
    "Dataset", "DatasetVersion",
    "Agreement", "AgreementAttestation", "AgreementDecision", "AgreementParty",
    "PolicyBundleRow",
    # the audit log
    "AuditCheckpoint", "AuditEvent", "AuditEventOrg", "AuditHead", "AuditNode",
    "AuditQueueEntry", "AuditSecret",
    # webhooks, overlaps, Delta Sharing, jobs
    "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint", "WebhookNotice", "WebhookSecret",
    "OverlapNotice", "Population", "PopulationSharing",
    "SharingFetch", "SharingFile", "SharingProfile",
    "JobTurn",
}  # fmt: skip


def test_public_names_are_exactly_all() -> None:
    public = {
        name
        for name, value in vars(storage.models).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and value is not __future__.annotations
    }
    assert public == set(storage.models.__all__) == EXPECTED
    assert len(storage.models.__all__) == len(EXPECTED)


def test_every_table_of_every_module_is_exported_and_in_the_metadata() -> None:
    for info in pkgutil.iter_modules(storage.models.__path__, "storage.models."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Base) and value is not Base:
                assert Base.metadata.tables[value.__tablename__] is value.__table__
                assert getattr(storage.models, name, None) is value, (info.name, name)
    exported = {getattr(storage.models, name).__tablename__ for name in EXPECTED - {"Base"}}
    assert exported == set(Base.metadata.tables)
