# Example Pharma's own release conditions (an example of an organization policy file).
#
# Files in policies/orgs/<slug>.polar are loaded apart from main.polar and are asked two
# questions only: release_blocker(agreement, reason) for the agreements of <slug>'s own
# datasets, and overlap_ceiling(share, level) for its populations. Each blocker they find is
# reported as "<slug>:<reason>" and holds the release back, and each ceiling lowers what a
# population reveals, so an organization can narrow but never lift the platform's rules.

# Datasets labelled pii need two steward approvals...
release_blocker(agreement: Agreement, "pii_needs_two_steward_approvals") if
    "pii" in agreement.dataset.labels and
    agreement.steward_approvals < 2;

# ...and go only to strategic-tier partners.
release_blocker(agreement: Agreement, "pii_only_to_strategic_partners") if
    "pii" in agreement.dataset.labels and
    agreement.beneficiary.tier != "strategic";

# Overlaps: populations of pii-labelled lists show non-strategic partners counts at most.
overlap_ceiling(share: PopulationShare, "counts") if
    "pii" in share.dataset.labels and
    share.partner.tier != "strategic";
