"""Recipient profiles: issue (shown once), list, revoke; and authenticating their tokens.

Profiles are managed by the organization's admins (``manage_sharing``; operators are not
given it, so that nobody outside the organization can mint a credential reading what was
released to it). A profile's token reads only the Delta Sharing endpoints, and only the
live releases to its organization; it is not an access token of ``/v1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import select

from escrow.audit.log import AuditRecord
from escrow.context import Actor
from escrow.errors import AuthenticationError, NotFoundError, ValidationError
from escrow.orgs.access import authorized_org
from escrow.paging import Page, decode_cursor, paginate
from escrow.service import Service
from escrow.settings import PROFILE_TTL_FLOOR
from escrow.sharing import credentials
from escrow.sharing.results import IssuedProfile, Profile, profile_of
from storage.models import Organization, SharingProfile

MAX_PROFILES_PER_ORG = 100
PROFILE_ACTOR_PREFIX = "sharing-profile:"


@dataclass(frozen=True)
class Recipient:
    """The caller of a protocol endpoint: a live profile of an active organization."""

    profile_id: str
    org_id: str
    org_slug: str

    @property
    def actor(self) -> Actor:
        """How the policy and the audit log see a profile: a read-only member of its org."""
        return Actor(
            id=PROFILE_ACTOR_PREFIX + self.profile_id,
            org_id=self.org_id,
            org_slug=self.org_slug,
            roles=("member",),
            kind="sharing_profile",
        )


class ProfileService(Service):
    def create(self, slug: str, name: str, expires_in: int, max_ttl: int) -> IssuedProfile:
        org = authorized_org(self.deps, slug, "manage_sharing")
        if not 0 < len(name) <= 100:  # the schema's bounds, for callers other than HTTP
            raise ValidationError("name must be 1-100 characters", field="name")
        if not PROFILE_TTL_FLOOR <= expires_in <= max_ttl:
            raise ValidationError(
                f"expires_in must be between {PROFILE_TTL_FLOOR} and {max_ttl} seconds",
                field="expires_in",
            )
        # The org row serializes creations, so concurrent ones cannot pass the cap together.
        self.session.execute(
            select(Organization.id).where(Organization.id == org.id).with_for_update()
        )
        live = self.session.scalars(
            select(SharingProfile.id).where(
                SharingProfile.org_id == org.id, SharingProfile.revoked_at.is_(None)
            )
        ).all()
        if len(live) >= MAX_PROFILES_PER_ORG:
            raise ValidationError(
                f"an organization has at most {MAX_PROFILES_PER_ORG} live sharing profiles",
                field="name",
            )
        now = self.deps.clock.now()
        profile_id = self.deps.new_id()
        issued = credentials.issue(profile_id)
        profile = SharingProfile(
            id=profile_id,
            org_id=org.id,
            name=name,
            secret_hash=issued.secret_hash,
            created_by=self.ctx.principal.id,
            created_at=now,
            expires_at=now + timedelta(seconds=expires_in),
        )
        self.session.add(profile)
        self.commit_with_event(
            AuditRecord(
                "sharing.profile.create",
                "success",
                "sharing_profile",
                profile.id,
                org_ids=(org.id,),
                details={"expires_at": profile.expires_at.isoformat()},
                sensitive={"name": name},
            )
        )
        return IssuedProfile(profile_of(profile), issued.token)

    def list_in_org(self, slug: str, cursor: str | None, limit: int) -> Page:
        """A page of ``Profile``s."""
        org = authorized_org(self.deps, slug, "manage_sharing")
        query = (
            select(SharingProfile)
            .where(SharingProfile.org_id == org.id)
            .order_by(SharingProfile.id)
            .limit(limit + 1)
        )
        if after := decode_cursor(cursor):
            query = query.where(SharingProfile.id > after)
        page = paginate(list(self.session.scalars(query)), limit)
        return Page([profile_of(row) for row in page.items], page.next_cursor)

    def revoke(self, slug: str, profile_id: str) -> Profile:
        """Effective at once: every protocol call and file URL reads the row."""
        org = authorized_org(self.deps, slug, "manage_sharing")
        profile = self.session.get(SharingProfile, profile_id, with_for_update=True)
        if profile is None or profile.org_id != org.id:
            raise NotFoundError(f"no sharing profile {profile_id!r} in {org.slug!r}")
        if profile.revoked_at is None:
            profile.revoked_at = self.deps.clock.now()
            self.commit_with_event(
                AuditRecord(
                    "sharing.profile.revoke",
                    "success",
                    "sharing_profile",
                    profile.id,
                    org_ids=(org.id,),
                )
            )
        return profile_of(profile)


class RecipientAuthenticator(Service):
    """Checks a bearer token against its profile row; every refusal is audited."""

    def authenticate(self, authorization: str) -> Recipient:
        """Fails closed: malformed, unknown, wrong, revoked, expired or suspended all 401."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            self._deny(None, "missing_token", ())
        profile_id = credentials.profile_id_of(token)
        session = self.session
        row = None
        if profile_id is not None:
            row = session.execute(
                select(SharingProfile, Organization)
                .join(Organization, Organization.id == SharingProfile.org_id)
                .where(SharingProfile.id == profile_id)
            ).first()
        profile, org = (row[0], row[1]) if row is not None else (None, None)
        verified = credentials.VERIFIED.verify(token, profile.secret_hash if profile else None)
        if not verified or profile is None or org is None:
            self._deny(profile_id if profile else None, "invalid", (org.id,) if org else ())
        now = self.deps.clock.now()
        if reason := _inactive(profile, org, now):
            self._deny(profile.id, reason, (org.id,))
        if profile.last_used_at is None or now - profile.last_used_at > timedelta(minutes=1):
            profile.last_used_at = now  # at most one write a minute per profile
            self.session.commit()
        return Recipient(profile.id, org.id, org.slug)

    def _deny(self, profile_id: str | None, reason: str, org_ids: tuple[str, ...]) -> NoReturn:
        session = self.session
        session.rollback()
        self.deps.audit.append(
            session,
            self.ctx,
            AuditRecord(
                "sharing.authenticate", "denied", "sharing_profile", profile_id, reason, org_ids
            ),
        )
        session.commit()
        raise AuthenticationError(f"bearer token rejected: {reason}", reason=reason)


def _inactive(profile: SharingProfile, org: Organization, now: datetime) -> str | None:
    if profile.revoked_at is not None:
        return "revoked_profile"
    if profile.expires_at <= now:
        return "expired_profile"
    if org.status != "active":
        return "suspended_org"
    return None
