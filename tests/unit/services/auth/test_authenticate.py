"""Bearer authentication through the service layer: liveness in one query, failing closed."""

from __future__ import annotations

import pytest

from escrow.components import Components
from escrow.context import RequestContext
from escrow.errors import AuthenticationError
from tests.fixtures.api import Ecosystem
from tests.fixtures.database import statements


def test_a_live_token_is_checked_in_one_query(eco: Ecosystem, components: Components) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    with components.db.session() as session, statements(components) as sent:
        actor = components.authentication.service(session, RequestContext("r")).authenticate(
            caller.token
        )
    assert (actor.id, actor.org_slug, actor.roles) == (caller.id, "acme", ("steward",))
    assert len(sent) == 1, sent


@pytest.mark.parametrize("how", ["revoke the token", "revoke the key", "suspend the org"])
def test_each_liveness_fact_still_refuses(eco: Ecosystem, components: Components, how: str) -> None:
    eco.org("acme")
    admin = eco.admin_of("acme")
    caller = eco.principal("acme", "steward")
    if how == "revoke the token":
        answer = caller.post("/v1/auth/revoke", json={"token": caller.token})
    elif how == "revoke the key":
        answer = admin.delete(f"/v1/orgs/acme/service-accounts/{caller.id}/keys/{caller.key_id}")
    else:
        answer = eco.operator.post("/v1/orgs/acme/suspend")
    assert answer.status_code < 300, answer.text
    reason = {
        "revoke the token": "revoked_token",
        "revoke the key": "revoked_key",
        "suspend the org": "suspended_org",
    }[how]
    with components.db.session() as session:
        service = components.authentication.service(
            session, RequestContext("r", client_ip="192.0.2.7")
        )
        with pytest.raises(AuthenticationError) as refused:
            service.authenticate(caller.token)
    assert refused.value.extra["reason"] == reason
