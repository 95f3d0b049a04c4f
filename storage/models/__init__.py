"""SQLAlchemy tables for the metadata, one module per feature; callers import them from here.

Importing the package registers every table on ``Base.metadata``, which the migrations
(``storage/migrations/env.py``) and the tests' fixtures read. The audit table is append-only
with a gap-free sequence (``storage.models.audit``).
"""

from __future__ import annotations

from storage.models.agreements import (
    Agreement,
    AgreementAttestation,
    AgreementDecision,
    AgreementParty,
)
from storage.models.audit import (
    AuditCheckpoint,
    AuditEvent,
    AuditEventOrg,
    AuditHead,
    AuditNode,
    AuditQueueEntry,
    AuditSecret,
)
from storage.models.auth import ApiKey, AuthEpoch, RateBucket, RevokedToken
from storage.models.base import Base
from storage.models.datasets import Dataset, DatasetVersion
from storage.models.jobs import JobTurn
from storage.models.orgs import Organization, Partnership, Principal
from storage.models.overlaps import OverlapNotice, Population, PopulationSharing
from storage.models.policy import PolicyBundleRow
from storage.models.sharing import SharingFetch, SharingFile, SharingProfile
from storage.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookNotice,
    WebhookSecret,
)

__all__ = [
    "Agreement",
    "AgreementAttestation",
    "AgreementDecision",
    "AgreementParty",
    "ApiKey",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditEventOrg",
    "AuditHead",
    "AuditNode",
    "AuditQueueEntry",
    "AuditSecret",
    "AuthEpoch",
    "Base",
    "Dataset",
    "DatasetVersion",
    "JobTurn",
    "Organization",
    "OverlapNotice",
    "Partnership",
    "PolicyBundleRow",
    "Population",
    "PopulationSharing",
    "Principal",
    "RateBucket",
    "RevokedToken",
    "SharingFetch",
    "SharingFile",
    "SharingProfile",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookNotice",
    "WebhookSecret",
]
