"""The one place that calls Oso: loads a Polar bundle; answers allow/deny, release, explain."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from oso import Oso
from polar import Variable
from polar.exceptions import OsoError
from polar.ffi import PolarSource

from escrow.context import Actor
from escrow.guard import Decision
from escrow.policy.explain import Explanation, SourceRules, explain_decision
from escrow.policy.resources import (
    PLATFORM,
    AccessTokenResource,
    AgreementResource,
    ApproverGrant,
    AuditLogResource,
    DatasetResource,
    MemberResource,
    OrgResource,
    PartnershipResource,
    Platform,
    PopulationShare,
)

_CLASSES: dict[str, type] = {
    "Principal": Actor,
    "Platform": Platform,
    "Organization": OrgResource,
    "Partnership": PartnershipResource,
    "AccessToken": AccessTokenResource,
    "AuditLog": AuditLogResource,
    "Dataset": DatasetResource,
    "Agreement": AgreementResource,
    "ApproverGrant": ApproverGrant,
    "Member": MemberResource,
    "PopulationShare": PopulationShare,
}
# Overlap sharing levels from least to most revealing (DESIGN section 11).
LEVELS = ("hidden", "counts", "overlaps", "all")
DECISIONS_REMEMBERED = 1 << 12  # per engine (one per bundle); least recently used go first


log = logging.getLogger("escrow.policy")
_NAMES = {cls: name for name, cls in _CLASSES.items()}
# Organization knowledge bases answer release_blocker only; this rule, which never holds,
# keeps Oso from printing its "no allow rule" warning for each of them.
# overlap_ceiling is declared the same way, so that a file without one is asked nothing.
_ORG_PRELUDE = "(org-prelude)"
_NEVER = "allow_request(_, _) if false;\noverlap_ceiling(_, _) if false;"


@dataclass(frozen=True)
class PolicyBundle:
    """Polar sources by relative path plus YAML policy tests by name, identified by the
    SHA-256 of both (a bundle without tests hashes its Polar files only)."""

    files: Mapping[str, str]
    tests: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_directory(cls, root: Path) -> PolicyBundle:
        """``**/*.polar`` under ``root`` and the policy tests in ``root/tests/*.yaml``."""
        files = {
            path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(root.rglob("*.polar"))
        }
        tests = {
            path.name: path.read_text(encoding="utf-8")
            for path in sorted((root / "tests").glob("*.yaml"))
        }
        return cls(files, tests)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        for name in sorted(self.tests):
            digest.update(b"tests/" + name.encode() + b"\0" + self.tests[name].encode() + b"\0")
        return digest.hexdigest()


ORG_FILE = re.compile(r"^orgs/([a-z][a-z0-9-]{1,61}[a-z0-9])\.polar$")


@dataclass(frozen=True)
class ReleaseDecision:
    """Release holds when nothing blocks it; ``blockers`` name every unmet condition."""

    blockers: tuple[str, ...]
    policy_version: str

    @property
    def allowed(self) -> bool:
        return not self.blockers


class Policy(Protocol):
    """What callers decide with: a loaded PolicyEngine or the PolicyStore serving one."""

    @property
    def version(self) -> str: ...

    def decide(self, actor: Actor, action: str, resource: object) -> Decision: ...

    def release(self, agreement: AgreementResource) -> ReleaseDecision: ...

    def overlap_ceiling(self, share: PopulationShare) -> str: ...


class PolicyEngine:
    """Thread-safe authorization and release decisions over one loaded bundle.

    ``main.polar`` (and any other file outside ``orgs/``) forms the platform knowledge base.
    Each ``orgs/<slug>.polar`` is loaded into a knowledge base of its own that is asked two
    questions only, ``release_blocker`` for that organization's agreements and
    ``overlap_ceiling`` for its populations, so an org file can add release conditions and
    lower sharing levels but can neither widen anything nor touch any other decision.
    """

    def __init__(self, bundle: PolicyBundle) -> None:
        self.bundle = bundle
        self.version = bundle.sha256
        platform_files = {n: t for n, t in bundle.files.items() if not n.startswith("orgs/")}
        self._oso = _load(platform_files)
        self._sources = SourceRules(platform_files)
        self._org_oso: dict[str, Oso] = {}
        for name, text in bundle.files.items():
            if not name.startswith("orgs/"):
                continue
            match = ORG_FILE.match(name)
            if match is None:
                raise PolicyLoadError(f"{name}: organization files are orgs/<slug>.polar")
            self._org_oso[match.group(1)] = _load({name: text, _ORG_PRELUDE: _NEVER})
        self._lock = threading.Lock()
        self._decisions = functools.lru_cache(maxsize=DECISIONS_REMEMBERED)(self._decide)

    @classmethod
    def from_directory(cls, root: Path) -> PolicyEngine:
        return cls(PolicyBundle.from_directory(root))

    def decide(self, actor: Actor, action: str, resource: object) -> Decision:
        """Fails closed: anything the policy does not explicitly allow is denied.

        Decisions are remembered by their exact inputs: actors and resources are frozen
        values holding every fact the rules read (states, roles, times already judged
        against the clock), and an engine serves one bundle, so an equal question always
        has the same answer. A hit costs a hash lookup instead of a Polar query (~0.7 ms)
        and takes no lock."""
        try:
            hash((actor, action, resource))
        except TypeError:  # not a frozen value: asked afresh every time
            return self._decide(actor, action, resource)
        return self._decisions(actor, action, resource)

    def _decide(self, actor: Actor, action: str, resource: object) -> Decision:
        with self._lock:
            allowed = bool(self._oso.is_allowed(actor, action, resource))
        return Decision(allowed=allowed, policy_version=self.version)

    def release(self, agreement: AgreementResource) -> ReleaseDecision:
        """Fails closed: the platform's blockers plus the owner organization's own."""
        with self._lock:
            blockers = set(_blockers(self._oso, agreement))
            org_kb = self._org_oso.get(agreement.owner.slug)
            if org_kb is not None:
                blockers |= {
                    f"{agreement.owner.slug}:{b}" for b in _org_blockers(org_kb, agreement)
                }
        return ReleaseDecision(tuple(sorted(blockers)), self.version)

    def explain(self, actor: Actor, action: str, resource: object) -> Explanation:
        """The decision with the chain of rules that proved it (or why nothing did)."""
        with self._lock:
            name = _NAMES.get(type(resource), type(resource).__name__)
            return explain_decision(
                self._oso, self.version, actor, action, resource, name, self._sources
            )

    def overlap_ceiling(self, share: PopulationShare) -> str:
        """The most a population may reveal to a partner: the least of every overlap_ceiling
        the platform rules and the owner organization's own rules give (none: ``all``).

        Fails closed: an organization's rule that errors caps its populations at ``hidden``.
        """
        owner = share.dataset.owner.slug
        with self._lock:
            levels = _ceilings(self._oso, share)
            org_kb = self._org_oso.get(owner)
            if org_kb is not None:
                try:
                    levels += _ceilings(org_kb, share)
                except OsoError as exc:
                    log.warning("overlap rules of %s failed: %s", owner, type(exc).__name__)
                    levels.append("hidden")
        known = [LEVELS.index(level) for level in levels if level in LEVELS]
        if len(known) != len(levels):  # a rule naming no level: fail closed
            return "hidden"
        return LEVELS[min(known, default=len(LEVELS) - 1)]

    @property
    def org_slugs(self) -> tuple[str, ...]:
        """The organizations with release rules of their own in this bundle."""
        return tuple(sorted(self._org_oso))


class PolicyLoadError(ValueError):
    """A bundle that does not load: a Polar syntax error, an unknown class, a bad file name."""


def _blockers(oso: Oso, agreement: AgreementResource) -> list[str]:
    results = oso.query_rule("release_blocker", agreement, Variable("reason"))  # type: ignore[no-untyped-call]
    return [str(result["bindings"]["reason"]) for result in results]


def _ceilings(oso: Oso, share: PopulationShare) -> list[str]:
    results = oso.query_rule("overlap_ceiling", share, Variable("level"))  # type: ignore[no-untyped-call]
    return [str(result["bindings"]["level"]) for result in results]


def _org_blockers(oso: Oso, agreement: AgreementResource) -> list[str]:
    """Fails closed: an organization's rule that errors blocks that organization's release."""
    try:
        return _blockers(oso, agreement)
    except OsoError as exc:  # the message would quote the agreement: log only the kind
        log.warning("release rules of %s failed: %s", agreement.owner.slug, type(exc).__name__)
        return ["policy_error"]


def _load(files: Mapping[str, str]) -> Oso:
    oso = Oso()
    for name, cls in _CLASSES.items():
        oso.register_class(cls, name=name)  # type: ignore[no-untyped-call]
    oso.register_constant(PLATFORM, "PLATFORM")  # type: ignore[no-untyped-call]
    # main.polar first so that resource blocks exist before other files refer to them.
    ordered = sorted(files, key=lambda name: (name != "main.polar", name))
    try:  # as load_files does, but from memory: Polar's errors then name the file and line
        oso._load_sources([PolarSource(files[name], name) for name in ordered])
    except OsoError as exc:
        raise PolicyLoadError(_first_paragraph(str(exc))) from None
    return oso


def _first_paragraph(message: str) -> str:
    """Polar's message without the trailing link to Oso's help desk."""
    return message.split("\n\n\tGet help with Oso", 1)[0].strip()
