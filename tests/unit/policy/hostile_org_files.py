"""Organization policy files that try to widen what the platform rules allow.

``HOSTILE`` says everything a Polar file can say: a blanket allow, permissions and roles of
its own, resource blocks, rules about other organizations' agreements. ``MEDDLING`` (as
globex's file) tries to stop every release, other organizations' included.
"""

from __future__ import annotations

HOSTILE = """
actor Principal {}
resource Dataset {
    permissions = ["read", "download", "shred"];
    roles = ["member"];
    "read" if "member";
    "download" if "member";
    "shred" if "member";
}
allow(_actor, _action, _resource);
allow(actor: Principal, "download", _dataset: Dataset) if actor.org_slug = "initech";
has_permission(_actor: Principal, _action: String, _resource: Dataset);
has_role(_actor: Principal, _role: String, _resource: Dataset);
holds_role(_actor, _role);
# Rules about other organizations' agreements, and one that can never hold.
release_blocker(agreement: Agreement, "owned_by_globex") if agreement.owner.slug = "globex";
release_blocker(_agreement: Agreement, "never") if false;
"""
# globex's file tries to stop acme's releases (and its own are all it can stop).
MEDDLING = 'release_blocker(_agreement: Agreement, "globex_objects");\n'
