"""The long-lived collaborators of a running service, made once per process in app.py.

Only the composition (app.py, wiring.py, the middleware, the CLI's server commands) reads
this record: each service, job and route is handed the collaborators it names.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from crypto import KeyManager
from escrow.agreements.lifecycle import Lifecycle
from escrow.audit.log import AuditLog
from escrow.audit.trail import AuditTrail
from escrow.auth.authentication import Authentication
from escrow.clock import Clock
from escrow.datasets.download import ContentReader
from escrow.ids import IdFactory
from escrow.overlaps.compute import OverlapComputer
from escrow.policy.facts import PolicyFacts
from escrow.policy.store import PolicyStore
from escrow.service import Collaborators
from escrow.settings import Settings
from escrow.sharing.protocol import SharingServer
from storage.blobs import BlobStore
from storage.db import Database


@dataclass
class Components:
    settings: Settings
    db: Database
    clock: Clock
    new_id: IdFactory
    audit: AuditLog
    policy: PolicyStore  # the active bundle's engine, reloaded when another is activated
    keyring: KeyManager  # the keyring file or a PKCS#11 token (escrow.keys.configured)
    blobs: BlobStore
    trail: AuditTrail
    # What every use case shares (escrow.service).
    shared: Collaborators
    authentication: Authentication
    # Time and the release rule applied to agreements (escrow.agreements.lifecycle).
    lifecycle: Lifecycle
    contents: ContentReader  # versions' plaintext: downloads, views, previews
    # The features' rows as policy resources, for explain and impact (escrow.policy.facts).
    policy_facts: PolicyFacts
    # Overlap keys and records, kept in this process's memory only (escrow.overlaps.compute).
    overlaps: OverlapComputer
    sharing: SharingServer  # the Delta Sharing protocol's files and signed URLs
    # Uniform draws in [0, 1) for jitter (webhook backoff); tests inject a fixed source.
    random: Callable[[], float] = field(default=secrets.SystemRandom().random)
