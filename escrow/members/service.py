"""People and machines of an organization: members, service accounts and their API keys."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditRecord
from escrow.auth.secrets import hash_secret, new_key_id, new_secret
from escrow.context import PLATFORM_SLUG
from escrow.errors import ConflictError, InvalidStateError, NotFoundError, ValidationError
from escrow.guard import Target
from escrow.members.duties import operator_details, with_admin_fact
from escrow.members.results import CreatedMember, IssuedKey, Member, key_summary_of, member_of
from escrow.orgs.access import authorized_org
from escrow.orgs.queries import as_resource, find_org_or_none
from escrow.paging import Page, decode_cursor, paginate
from escrow.policy.resources import ORG_ROLES, PLATFORM, PLATFORM_ROLES, MemberResource
from escrow.service import Service
from storage.models import ApiKey, Organization, Principal

KINDS = {"user": "member", "service": "service account"}
MAX_KEYS_PER_PRINCIPAL = 10
MAX_GRACE = timedelta(days=30)


class MemberService(Service):
    """Users (kind "user") and service accounts (kind "service") share one model and rules."""

    def create(
        self, slug: str, kind: str, name: str, roles: list[str], email: str | None = None
    ) -> CreatedMember:
        org, seeding = self._org_for_create(slug, roles)
        if kind == "service" and email is not None:
            raise ValidationError("service accounts have no email", field="email")
        valid = self._valid_roles(org, roles)
        if "operator" in valid:
            self._require_operator_manager(org, None)
        now = self.deps.clock.now()
        principal = Principal(
            id=self.deps.new_id(),
            org_id=org.id,
            kind=kind,
            name=name,
            email=email,
            roles=valid,
            status="active",
            created_at=now,
            updated_at=now,
        )
        self.session.add(principal)
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError(f"a {KINDS[kind]} named {name!r} already exists") from None
        details: dict[str, object] = {"roles": principal.roles}
        issued = None
        if seeding:
            issued = self._new_key(principal)
            details |= {**self._flag(org, "create_first_admin"), "key_id": issued.key_id}
        self.commit_with_event(
            AuditRecord(
                f"{kind}.create",
                "success",
                "principal",
                principal.id,
                org_ids=(org.id,),
                details=details,
            )
        )
        return CreatedMember(member_of(principal, org.slug), issued)

    def list_in_org(self, slug: str, kind: str, cursor: str | None, limit: int) -> Page:
        """A page of ``Member``s of one kind."""
        org = self._org_for(slug, "read_members")
        query = (
            select(Principal)
            .where(Principal.org_id == org.id, Principal.kind == kind)
            .order_by(Principal.id)
            .limit(limit + 1)
        )
        if after := decode_cursor(cursor):
            query = query.where(Principal.id > after)
        page = paginate(list(self.session.scalars(query)), limit)
        return Page([member_of(row, org.slug) for row in page.items], page.next_cursor)

    def get(self, slug: str, kind: str, principal_id: str) -> Member:
        org = self._org_for(slug, "read_members")
        return member_of(self._principal(org, kind, principal_id), org.slug)

    def set_roles(self, slug: str, kind: str, principal_id: str, roles: list[str]) -> Member:
        org = self._org_for(slug, "manage_members")
        principal = self._principal(org, kind, principal_id, active=True)
        self.guard.require(
            self.session,
            self.ctx,
            "change_roles",
            MemberResource(principal.id, as_resource(self.session, org)),
            Target("principal", principal.id, (org.id,)),
        )
        before = principal.roles
        after = self._valid_roles(org, roles)
        if ("operator" in before) != ("operator" in after):
            self._require_operator_manager(org, principal.id)
        principal.roles = after
        principal.updated_at = self.deps.clock.now()
        self.commit_with_event(
            AuditRecord(
                f"{kind}.roles",
                "success",
                "principal",
                principal.id,
                org_ids=(org.id,),
                details={"before": before, "after": principal.roles},
            )
        )
        return member_of(principal, org.slug)

    def remove(self, slug: str, kind: str, principal_id: str) -> None:
        """Removal is immediate: every key is revoked and tokens stop verifying."""
        org = self._org_for(slug, "manage_members")
        principal = self._principal(org, kind, principal_id, active=True)
        now = self.deps.clock.now()
        principal.status = "removed"
        principal.updated_at = now
        self.session.execute(
            update(ApiKey)
            .where(ApiKey.principal_id == principal.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        self.commit_with_event(
            AuditRecord(f"{kind}.remove", "success", "principal", principal.id, org_ids=(org.id,))
        )

    def set_status(self, slug: str, kind: str, principal_id: str, status: str) -> Member:
        """Suspend (its keys and tokens stop working, nothing is revoked) or reactivate."""
        org = self._org_for(slug, "suspend_members")
        principal = self._principal(org, kind, principal_id)
        current = "active" if status == "suspended" else "suspended"
        if principal.status != current:
            raise InvalidStateError(f"{KINDS[kind]} {principal_id!r} is {principal.status}")
        principal.status = status
        principal.updated_at = self.deps.clock.now()
        action = "suspend" if status == "suspended" else "reactivate"
        self.commit_with_event(
            AuditRecord(
                f"{kind}.{action}",
                "success",
                "principal",
                principal.id,
                org_ids=(org.id,),
                details=self._flag(org, action),
            )
        )
        return member_of(principal, org.slug)

    def issue_key(self, slug: str, kind: str, principal_id: str) -> IssuedKey:
        org = self._org_for(slug, "manage_keys")
        principal = self._principal(org, kind, principal_id, active=True)
        issued = self._new_key(principal)
        self.commit_with_event(
            AuditRecord("key.issue", "success", "api_key", issued.key_id, org_ids=(org.id,))
        )
        return issued

    def list_keys(
        self, slug: str, kind: str, principal_id: str, cursor: str | None, limit: int
    ) -> Page:
        """A page of ``KeySummary``s."""
        org = self._org_for(slug, "read_keys")
        principal = self._principal(org, kind, principal_id)
        query = (
            select(ApiKey)
            .where(ApiKey.principal_id == principal.id)
            .order_by(ApiKey.id)
            .limit(limit + 1)
        )
        if after := decode_cursor(cursor):
            query = query.where(ApiKey.id > after)
        page = paginate(list(self.session.scalars(query)), limit)
        return Page([key_summary_of(row) for row in page.items], page.next_cursor)

    def rotate_key(
        self, slug: str, kind: str, principal_id: str, key_id: str, grace_seconds: int
    ) -> IssuedKey:
        """A new key now; the old one keeps working for the grace period, then expires."""
        if not 0 <= grace_seconds <= MAX_GRACE.total_seconds():
            raise ValidationError("grace_seconds must be between 0 and 2592000", field="grace")
        org = self._org_for(slug, "manage_keys")
        principal = self._principal(org, kind, principal_id, active=True)
        old = self._key(principal, key_id)
        now = self.deps.clock.now()
        grace_end = now + timedelta(seconds=grace_seconds)
        old.expires_at = min(old.expires_at or grace_end, grace_end)
        issued = self._new_key(principal)
        self.commit_with_event(
            AuditRecord(
                "key.rotate",
                "success",
                "api_key",
                issued.key_id,
                org_ids=(org.id,),
                details={"replaces": old.id, "old_expires_at": old.expires_at.isoformat()},
            )
        )
        return issued

    def revoke_key(self, slug: str, kind: str, principal_id: str, key_id: str) -> None:
        org = self._org_for(slug, "revoke_keys")
        key = self._key(self._principal(org, kind, principal_id), key_id)
        key.revoked_at = self.deps.clock.now()
        self.commit_with_event(
            AuditRecord(
                "key.revoke",
                "success",
                "api_key",
                key.id,
                org_ids=(org.id,),
                details=self._flag(org, "revoke_key"),
            )
        )

    # ------------------------------------------------------------------ internals

    def _org_for(self, slug: str, action: str) -> Organization:
        return authorized_org(self.deps, slug, action)

    def _org_for_create(self, slug: str, roles: list[str]) -> tuple[Organization, bool]:
        """The organization, and whether this is an operator seeding its first admin."""
        org = find_org_or_none(self.session, slug)
        # A missing organization takes the path of any refusal: the same 404 and audit events.
        if (
            org is not None
            and "admin" in roles
            and not self.guard.allows(self.ctx, "manage_members", as_resource(self.session, org))
        ):
            # Locked so that two operators seeding at once cannot both find no admin.
            self.session.execute(
                select(Organization.id).where(Organization.id == org.id).with_for_update()
            )
            resource = with_admin_fact(self.session, org)
            if self.guard.allows(self.ctx, "create_first_admin", resource):
                return org, True
        return self._org_for(slug, "manage_members"), False

    def _require_operator_manager(self, org: Organization, principal_id: str | None) -> None:
        """Only an operator grants or removes the operator role."""
        self.guard.require(
            self.session,
            self.ctx,
            "manage_operators",
            PLATFORM,
            Target("principal", principal_id, (org.id,)),
        )

    def _flag(self, org: Organization, action: str) -> dict[str, str]:
        return operator_details(self.ctx.principal.org_id, org, action)

    def _principal(
        self, org: Organization, kind: str, principal_id: str, *, active: bool = False
    ) -> Principal:
        principal = self.session.get(Principal, principal_id)
        if principal is None or principal.org_id != org.id or principal.kind != kind:
            raise NotFoundError(f"no {KINDS[kind]} {principal_id!r} in {org.slug!r}")
        if active and principal.status != "active":
            raise InvalidStateError(f"{KINDS[kind]} {principal_id!r} is {principal.status}")
        return principal

    def _key(self, principal: Principal, key_id: str) -> ApiKey:
        key = self.session.get(ApiKey, key_id)
        if key is None or key.principal_id != principal.id:
            raise NotFoundError(f"no API key {key_id!r}")
        if key.revoked_at is not None or _expired(key.expires_at, self.deps.clock.now()):
            raise InvalidStateError(f"API key {key_id!r} is already revoked or expired")
        return key

    def _new_key(self, principal: Principal) -> IssuedKey:
        live = self.session.scalars(
            select(ApiKey.expires_at).where(
                ApiKey.principal_id == principal.id, ApiKey.revoked_at.is_(None)
            )
        ).all()
        now = self.deps.clock.now()
        if sum(1 for expires in live if not _expired(expires, now)) >= MAX_KEYS_PER_PRINCIPAL:
            raise ConflictError(f"at most {MAX_KEYS_PER_PRINCIPAL} live keys per principal")
        secret = new_secret()
        key = ApiKey(
            id=new_key_id(),
            principal_id=principal.id,
            secret_hash=hash_secret(secret),
            created_at=now,
        )
        self.session.add(key)
        self.session.flush()
        return IssuedKey(key.id, secret, key.created_at)

    @staticmethod
    def _valid_roles(org: Organization, roles: list[str]) -> list[str]:
        allowed = PLATFORM_ROLES if org.slug == PLATFORM_SLUG else ORG_ROLES
        unknown = sorted(set(roles) - allowed)
        if not roles or unknown:
            raise ValidationError(
                f"roles must be a non-empty subset of {sorted(allowed)}",
                field="roles",
                unknown=unknown,
            )
        return sorted(set(roles))


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now
