# Partner Escrow platform policy.
#
# Every request is decided here; handlers never check roles themselves.
# A principal belongs to exactly one organization and holds roles in it.
# The platform organization's "operator" role manages the ecosystem (orgs,
# partnerships, policies) but never grants access to escrowed content.
# A principal whose organization is suspended can do nothing.

actor Principal {}

allow(actor: Principal, action, resource) if
    actor.org_active and
    has_permission(actor, action, resource);

# ---------------------------------------------------------------- platform

resource Platform {
    permissions = ["create_org", "list_all_orgs", "manage_partnerships"];
    roles = ["operator"];

    "create_org" if "operator";
    "list_all_orgs" if "operator";
    "manage_partnerships" if "operator";
}

has_role(actor: Principal, "operator", _platform: Platform) if
    actor.is_operator;

# ---------------------------------------------------------------- organizations

resource Organization {
    permissions = [
        "read", "update", "change_status",
        "read_members", "manage_members", "manage_keys"
    ];
    roles = ["admin", "steward", "member", "auditor"];
    relations = { platform: Platform };

    "read" if "member";
    "member" if "steward";
    "member" if "auditor";
    "steward" if "admin";

    "read_members" if "admin";
    "read_members" if "auditor";
    "manage_members" if "admin";
    "manage_keys" if "admin";

    "read" if "operator" on "platform";
    "update" if "operator" on "platform";
    "change_status" if "operator" on "platform";
    "read_members" if "operator" on "platform";
    "manage_members" if "operator" on "platform";
    "manage_keys" if "operator" on "platform";
}

has_relation(platform: Platform, "platform", _org: Organization) if
    platform = PLATFORM;

has_role(actor: Principal, role: String, org: Organization) if
    actor.org_id = org.id and
    role in actor.roles;

# Partners across an active partnership may see each other's organization card.
has_permission(actor: Principal, "read", org: Organization) if
    org.status = "active" and
    actor.org_id in org.partner_org_ids;

# ---------------------------------------------------------------- partnerships

resource Partnership {
    permissions = ["read", "end"];
    relations = { platform: Platform };

    "read" if "operator" on "platform";
    "end" if "operator" on "platform";
}

has_relation(platform: Platform, "platform", _partnership: Partnership) if
    platform = PLATFORM;

has_permission(actor: Principal, "read", partnership: Partnership) if
    actor.org_id in partnership.org_ids;

# ---------------------------------------------------------------- access tokens

resource AccessToken {
    permissions = ["revoke"];
    relations = { org: Organization };

    "revoke" if "manage_keys" on "org";
}

has_relation(org: Organization, "org", token: AccessToken) if
    org = token.org;

# Anyone may revoke a token issued to themselves.
has_permission(actor: Principal, "revoke", token: AccessToken) if
    token.principal_id = actor.id;
