"""The one place that calls Oso: loads the Polar bundle and answers allow/deny."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from oso import Oso

from escrow.policy.resources import (
    PLATFORM,
    AccessTokenResource,
    Actor,
    OrgResource,
    PartnershipResource,
    Platform,
)

_CLASSES: dict[str, type] = {
    "Principal": Actor,
    "Platform": Platform,
    "Organization": OrgResource,
    "Partnership": PartnershipResource,
    "AccessToken": AccessTokenResource,
}


@dataclass(frozen=True)
class PolicyBundle:
    """Polar sources by relative path, identified by the SHA-256 of their contents."""

    files: dict[str, str]

    @classmethod
    def from_directory(cls, root: Path) -> PolicyBundle:
        files = {
            path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*.polar"))
        }
        return cls(files)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return digest.hexdigest()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy_version: str


class PolicyEngine:
    """Thread-safe authorization decisions over one loaded bundle."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self.bundle = bundle
        self.version = bundle.sha256
        self._oso = _load(bundle)
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, root: Path) -> PolicyEngine:
        return cls(PolicyBundle.from_directory(root))

    def decide(self, actor: Actor, action: str, resource: object) -> Decision:
        """Fails closed: anything the policy does not explicitly allow is denied."""
        with self._lock:
            allowed = bool(self._oso.is_allowed(actor, action, resource))
        return Decision(allowed=allowed, policy_version=self.version)


def _load(bundle: PolicyBundle) -> Oso:
    oso = Oso()
    for name, cls in _CLASSES.items():
        oso.register_class(cls, name=name)  # type: ignore[no-untyped-call]
    oso.register_constant(PLATFORM, "PLATFORM")  # type: ignore[no-untyped-call]
    # main.polar first so that resource blocks exist before org files refer to them.
    ordered = sorted(bundle.files, key=lambda name: (name != "main.polar", name))
    oso.load_str("\n".join(bundle.files[name] for name in ordered))
    return oso
