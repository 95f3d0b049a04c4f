"""Delta Sharing use cases through the service layer: profiles, the recipient's catalog,
snapshots as Parquet and signed file fetches, with no HTTP in between."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

import pyarrow.parquet as pq
import pytest

from escrow.components import Components
from escrow.context import RequestContext
from escrow.errors import AuthenticationError, ForbiddenError, NotFoundError
from escrow.sharing.fetches import FileFetches
from escrow.sharing.protocol import SharingProtocol, link
from escrow.sharing.results import IssuedProfile, Snapshot
from escrow.sharing.service import ProfileService, RecipientAuthenticator
from storage.models import SharingProfile
from tests.api.sharing.conftest import Sharing, sharing
from tests.fixtures.api import Caller
from tests.unit.services.acting import audit_events, authenticated_as

__all__ = ["sharing"]

DAY = 86_400


def issue(components: Components, admin: Caller) -> IssuedProfile:
    with authenticated_as(components, admin) as deps:
        return ProfileService(deps).create(admin.org, "bi", DAY, 365 * DAY)


@contextmanager
def recipient_of(components: Components, token: str) -> Iterator[SharingProtocol]:
    """The protocol's use cases as the profile's read-only member, as its routes build them."""
    with components.shared.unit_of_work(RequestContext("sharing-test")) as deps:
        recipient = RecipientAuthenticator(deps).authenticate(f"Bearer {token}")
        acting = deps.acting(RequestContext("sharing-test", recipient.actor))
        yield SharingProtocol(acting, recipient, components.sharing.files)


def shared_snapshot(
    sharing: Sharing, components: Components
) -> tuple[IssuedProfile, Snapshot, str]:
    """Acme's sales released to Globex, a Globex profile, and the latest snapshot's URL."""
    sharing.release()
    partner = issue(components, sharing.partner_admin)
    with recipient_of(components, partner.bearer_token) as protocol:
        snapshot = protocol.snapshot(protocol.table("acme", "default", "q3-sales"), None)
        url = link(protocol.deps, protocol.recipient, snapshot, components.sharing).url
    return partner, snapshot, url


def fetch(components: Components, url: str) -> bytes:
    """A signed URL's file, fetched as its route does (no bearer token: the URL is one)."""
    parsed = urlparse(url)
    file_id = parsed.path.rsplit("/", 1)[1]
    token = parse_qs(parsed.query)["token"][0]
    with components.shared.unit_of_work(RequestContext("fetch")) as deps:
        fetches = FileFetches(deps, components.sharing.files)
        served = fetches.open(components.sharing.signer(), file_id, token, None, head=False)
        assert served.chunks is not None
        return b"".join(served.chunks)


def test_a_profile_token_is_shown_once_and_only_its_hash_and_no_name_are_kept(
    sharing: Sharing, components: Components
) -> None:
    issued = issue(components, sharing.partner_admin)
    assert issued.bearer_token.split(".")[1] == issued.profile.id
    assert issued.bearer_token not in repr(issued)  # nor logged with the result
    with components.db.session() as session:
        kept = session.get_one(SharingProfile, issued.profile.id)
        assert issued.bearer_token not in kept.secret_hash
    (event,) = audit_events(components, "sharing.profile.create")
    assert "bi" not in event.entry and issued.bearer_token not in event.entry


def test_only_the_orgs_admins_issue_profiles(sharing: Sharing, components: Components) -> None:
    with (
        authenticated_as(components, sharing.partner_member) as deps,
        pytest.raises(ForbiddenError),
    ):
        ProfileService(deps).create("globex", "bi", DAY, 365 * DAY)


def test_a_recipient_sees_the_released_tables_of_its_org_only(
    sharing: Sharing, components: Components
) -> None:
    sharing.release()
    partner = issue(components, sharing.partner_admin)
    with recipient_of(components, partner.bearer_token) as protocol:
        assert [name for name, _ in protocol.shares()] == ["acme"]
        (table,) = protocol.tables_in("acme", "default")
        assert (table.name, table.share) == ("q3-sales", "acme")
    outsider = issue(components, sharing.outsider_admin)
    with recipient_of(components, outsider.bearer_token) as protocol:
        assert protocol.shares() == []
        with pytest.raises(NotFoundError):
            protocol.share("acme")


def test_a_snapshot_is_the_agreements_view_as_parquet_and_its_url_serves_it(
    sharing: Sharing, components: Components
) -> None:
    _, snapshot, url = shared_snapshot(sharing, components)
    parquet = fetch(components, url)
    assert (snapshot.version, snapshot.file.size) == (1, len(parquet))
    table = pq.read_table(io.BytesIO(parquet))
    assert table.column_names == ["region", "amount"]  # the view's fields only
    assert table.to_pydict() == {"region": ["EU", "EU"], "amount": [10, 30]}
    (download,) = audit_events(components, "dataset.download")
    assert '"channel":"delta-sharing"' in download.entry.replace(" ", "")


def test_revoking_a_profile_ends_its_token_and_its_urls_at_once(
    sharing: Sharing, components: Components
) -> None:
    partner, _, url = shared_snapshot(sharing, components)
    with authenticated_as(components, sharing.partner_admin) as deps:
        ProfileService(deps).revoke("globex", partner.profile.id)
    with (
        pytest.raises(AuthenticationError) as refused,
        recipient_of(components, partner.bearer_token),
    ):
        pass
    assert refused.value.extra["reason"] == "revoked_profile"
    with pytest.raises(ForbiddenError):
        fetch(components, url)
    denied = [e.reason for e in audit_events(components, "sharing.file")]
    assert denied == ["profile_ended"]
