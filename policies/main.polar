# Partner Escrow platform policy.
#
# Every request is decided here; handlers never check roles themselves.
# A principal belongs to exactly one organization and holds roles in it.
# The platform organization's "operator" role manages the ecosystem (orgs,
# partnerships, policies) but never grants access to escrowed content, nor any way to
# obtain it: an operator seeds an organization's first admin and may suspend principals,
# but never creates principals in, or mints keys for, an organization that has an admin.
# A principal whose organization is suspended can do nothing.

actor Principal {}

allow(actor: Principal, action, resource) if
    actor.org_active and
    has_permission(actor, action, resource);

# ---------------------------------------------------------------- platform

resource Platform {
    permissions = [
        "create_org", "list_all_orgs", "manage_partnerships", "manage_policies", "explain",
        "read_metrics", "manage_operators"
    ];
    roles = ["operator"];

    "create_org" if "operator";
    # The whole ecosystem's activity report (GET /v1/ecosystem/metrics without org).
    "read_metrics" if "operator";
    "list_all_orgs" if "operator";
    "manage_partnerships" if "operator";
    "manage_policies" if "operator";
    "explain" if "operator";
    # Only an operator grants or removes the operator role (a platform admin cannot).
    "manage_operators" if "operator";
}

has_role(actor: Principal, "operator", _platform: Platform) if
    actor.is_operator;

# ---------------------------------------------------------------- organizations

resource Organization {
    permissions = [
        "read", "update", "change_status",
        "read_members", "manage_members", "manage_keys", "create_dataset", "explain",
        "read_webhooks", "manage_webhooks", "read_metrics", "manage_sharing",
        "read_keys", "revoke_keys", "suspend_members", "create_first_admin"
    ];
    roles = ["admin", "steward", "member", "auditor"];
    relations = { platform: Platform };

    "read" if "member";
    "read" if "auditor";
    "member" if "steward";
    "steward" if "admin";
    "create_dataset" if "steward";

    "read_members" if "admin";
    "read_members" if "auditor";
    "manage_members" if "admin";
    "manage_keys" if "admin";
    "read_keys" if "admin";
    "revoke_keys" if "admin";
    "suspend_members" if "admin";
    # Explaining decisions taken for a member (any principal may explain its own).
    "explain" if "admin";
    # Webhook endpoints carry event metadata out of the platform, and their secrets sign it.
    "read_webhooks" if "admin";
    "manage_webhooks" if "admin";
    # Delta Sharing recipient profiles read what was released to the organization: only its
    # own admins issue them (operators do not, or they could read partners' releases).
    "manage_sharing" if "admin";
    # The organization's activity report: what it did with each partner, in aggregate.
    "read_metrics" if "admin";

    "read" if "operator" on "platform";
    "update" if "operator" on "platform";
    "change_status" if "operator" on "platform";
    "read_members" if "operator" on "platform";
    # Operators contain (suspend a principal, revoke a key) but never create or mint: a
    # principal or key they made in an organization would let them read its data.
    "read_keys" if "operator" on "platform";
    "revoke_keys" if "operator" on "platform";
    "suspend_members" if "operator" on "platform";
    "explain" if "operator" on "platform";
    # Operators already read every audit event; they may also stop an abusive endpoint.
    "read_webhooks" if "operator" on "platform";
    "manage_webhooks" if "operator" on "platform";
    "read_metrics" if "operator" on "platform";
}

has_relation(platform: Platform, "platform", _org: Organization) if
    platform = PLATFORM;

# An organization without an admin (new, or whose admins were all removed) gets its first
# one from an operator; from then on only its admins create principals and mint keys.
has_permission(actor: Principal, "create_first_admin", org: Organization) if
    not org.has_admin and
    has_role(actor, "operator", PLATFORM);

has_role(actor: Principal, role: String, org: Organization) if
    actor.org_id = org.id and
    role in actor.roles;

# Partners across an active partnership may see each other's organization card.
has_permission(actor: Principal, "read", org: Organization) if
    org.status = "active" and
    actor.org_id in org.partner_org_ids;

# ---------------------------------------------------------------- members
# A principal as the target of a role change. No principal changes its own roles: an admin
# neither widens nor drops itself (another admin does), and operator needs manage_operators.

resource Member {
    permissions = ["change_roles"];
}

has_permission(actor: Principal, "change_roles", member: Member) if
    actor.id != member.id and
    has_permission(actor, "manage_members", member.org);

# ---------------------------------------------------------------- partnerships

resource Partnership {
    permissions = ["read", "end", "read_overlaps"];
    relations = { platform: Platform };

    "read" if "operator" on "platform";
    "end" if "operator" on "platform";
}

has_relation(platform: Platform, "platform", _partnership: Partnership) if
    platform = PLATFORM;

has_permission(actor: Principal, "read", partnership: Partnership) if
    actor.org_id in partnership.org_ids;

# ---------------------------------------------------------------- datasets
# Escrowed data belongs to its owner organization. Operators and auditors get no content
# access from their roles: releasing data to anyone else is the agreements' business.

resource Dataset {
    permissions = [
        "read", "download", "deposit", "withdraw", "shred", "create_agreement",
        "manage_populations"
    ];
    relations = { owner: Organization };

    "read" if "member" on "owner";
    "download" if "member" on "owner";
    "deposit" if "steward" on "owner";
    "withdraw" if "steward" on "owner";
    "shred" if "admin" on "owner";
    "create_agreement" if "steward" on "owner";
    # Populations (overlaps, DESIGN section 11) segment the owner's own list.
    "manage_populations" if "steward" on "owner";
}

has_relation(org: Organization, "owner", dataset: Dataset) if
    org = dataset.owner;

# A beneficiary's members read and download a dataset while an agreement for their
# organization is released and unexpired (released_to is computed at the moment of access).
has_permission(actor: Principal, action: String, dataset: Dataset) if
    action in ["read", "download"] and
    dataset.status = "active" and
    actor.org_id in dataset.released_to and
    holds_role(actor, "member");

holds_role(actor: Principal, role: String) if role in actor.roles;
holds_role(actor: Principal, "member") if "steward" in actor.roles;
holds_role(actor: Principal, "member") if "admin" in actor.roles;
holds_role(actor: Principal, "steward") if "admin" in actor.roles;

# ---------------------------------------------------------------- overlaps
# Members of either organization read where their lists meet, while the partnership and
# both organizations are active. What each side reveals is its own populations' sharing
# level, lowered by the overlap_ceiling rules below and in the owner's organization file.

has_permission(actor: Principal, "read_overlaps", partnership: Partnership) if
    partnership.status = "active" and
    actor.org_id in partnership.org_ids and
    not "suspended" in partnership.org_statuses and
    holds_role(actor, "member");

# The most a population reveals to a partner (the least of every ceiling that holds).
overlap_ceiling(share: PopulationShare, "hidden") if
    share.dataset.status != "active";
overlap_ceiling(share: PopulationShare, "hidden") if
    share.partner.status != "active";

# ---------------------------------------------------------------- agreements

resource Agreement {
    permissions = [
        "read", "preview", "release", "revoke", "object", "terminate", "approve", "attest"
    ];
    relations = { owner: Organization, beneficiary: Organization };

    "read" if "member" on "owner";
    "read" if "auditor" on "owner";
    "read" if "member" on "beneficiary";
    "read" if "auditor" on "beneficiary";
    "release" if "steward" on "owner";
    "release" if "admin" on "beneficiary";
    "revoke" if "steward" on "owner";
    "object" if "steward" on "owner";
    "preview" if "steward" on "owner";
    "terminate" if "admin" on "beneficiary";
}

has_relation(org: Organization, "owner", agreement: Agreement) if
    org = agreement.owner;

has_relation(org: Organization, "beneficiary", agreement: Agreement) if
    org = agreement.beneficiary;

# Approvers are named by the agreement ("owner:steward", "beneficiary:admin", "operator",
# "org:<slug>:<role>"); each spec is resolved to an (organization, role) grant.
has_permission(actor: Principal, "approve", agreement: Agreement) if
    grant in agreement.approver_grants and
    actor.org_id = grant.org_id and
    holds_role(actor, grant.role);

has_permission(actor: Principal, "read", agreement: Agreement) if
    grant in agreement.approver_grants and
    actor.org_id = grant.org_id and
    holds_role(actor, grant.role);

has_permission(actor: Principal, action: String, agreement: Agreement) if
    action in ["attest", "read"] and
    actor.org_id = agreement.attestation_org_id and
    holds_role(actor, "steward");

# ---------------------------------------------------------------- the release rule
# An agreement is released when no release_blocker holds. Each blocker names the condition
# it stands for, which is what `POST /v1/authz/explain` and a refused release report.
# Organization files (policies/orgs/<slug>.polar) are loaded into a knowledge base of
# their own and may only add release_blocker rules for that organization's datasets: they
# can narrow release, never widen it, and nothing else they define has any effect.

release_blocker(agreement: Agreement, "not_pending") if
    agreement.state != "pending";
release_blocker(agreement: Agreement, "dataset_not_active") if
    agreement.dataset.status != "active";
release_blocker(agreement: Agreement, "no_active_partnership") if
    not agreement.partnership_active and
    agreement.beneficiary.slug != "platform";
release_blocker(agreement: Agreement, "beneficiary_suspended") if
    agreement.beneficiary.status != "active";
release_blocker(agreement: Agreement, "rejected") if
    agreement.rejected;
release_blocker(agreement: Agreement, "approvals") if
    agreement.approvals < agreement.required_approvals;
release_blocker(agreement: Agreement, "embargo") if
    not agreement.embargo_over;
release_blocker(agreement: Agreement, "expired") if
    agreement.expired;
release_blocker(agreement: Agreement, "attestation") if
    agreement.attestation_required and
    not agreement.attested;

# ---------------------------------------------------------------- access tokens

resource AccessToken {
    permissions = ["revoke"];
    relations = { org: Organization };

    "revoke" if "revoke_keys" on "org";
}

has_relation(org: Organization, "org", token: AccessToken) if
    org = token.org;

# Anyone may revoke a token issued to themselves.
has_permission(actor: Principal, "revoke", token: AccessToken) if
    token.principal_id = actor.id;

# ---------------------------------------------------------------- audit log
# An AuditLog is the whole trail (org = nil) or the events that touch one organization
# (as actor, owner or beneficiary). Operators read all of it; an organization's auditors
# and admins read the events that touch their organization. Checkpoints and proofs are
# hashes only, so any principal (of an active organization) may fetch them.

resource AuditLog {
    permissions = ["read", "read_tree"];
    relations = { platform: Platform, org: Organization };

    "read" if "operator" on "platform";
    "read" if "auditor" on "org";
    "read" if "admin" on "org";
}

has_relation(platform: Platform, "platform", _log: AuditLog) if
    platform = PLATFORM;

has_relation(org: Organization, "org", log: AuditLog) if
    org = log.org;

has_permission(_actor: Principal, "read_tree", _log: AuditLog);
