"""``escrow demo``: one escrow from start to finish against a running server.

With an operator profile it creates two partner organizations (fresh slugs, so it runs
again and again on one server), a partnership, a service account with an API key on each
side, a CSV dataset and its deposit, an agreement granting the partner two columns of the
EU rows, both sides' approvals, the release, the partner's download (only what was
granted), and finally exports the audit trail and verifies it offline. Each step is
printed as it happens; ``--json`` prints a summary instead. What it creates stays.
"""

from __future__ import annotations

import csv
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from crypto import CryptoError, load_public_key, parse_verifier_key, verify_document
from escrow.audit.bundle import BundleError, b64, verify_bundle
from escrow.cli.client.api import Client
from escrow.cli.client.audit import fetch_export, fetch_public_key
from escrow.cli.client.demo_overlaps import map_accounts
from escrow.cli.client.deposit import Deposit, deposit_file
from escrow.cli.client.download import Fetch, download
from escrow.cli.client.exits import CliError, ExitCode, integrity_error
from escrow.cli.client.invocation import Invocation, build, client_command
from escrow.cli.client.models.agreements import (
    AgreementCreate,
    AgreementOut,
    DecisionIn,
    PreviewOut,
)
from escrow.cli.client.models.auth import WhoAmIOut
from escrow.cli.client.models.datasets import DatasetCreate, DatasetOut
from escrow.cli.client.models.members import IssuedKeyOut, PrincipalCreate, PrincipalOut
from escrow.cli.client.models.orgs import OrgCreate, OrgOut
from escrow.cli.client.models.partnerships import PartnershipCreate, PartnershipOut
from escrow.cli.client.profiles import Profile
from escrow.cli.client.progress import progress_option, wanted

SALES = [
    ("region", "amount", "customer"),
    ("EU", "1200", "Alba GmbH"),
    ("US", "800", "Bristol Inc"),
    ("EU", "430", "Cortes SL"),
    ("APAC", "950", "Daikin KK"),
    ("EU", "2210", "Eriksen AS"),
    ("US", "310", "Fulton LLC"),
]
SCHEMA = {
    "fields": [
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "customer", "type": "string"},
    ]
}
VIEW = {
    "fields": ["region", "amount"],
    "where": {"all": [{"field": "region", "op": "eq", "value": "EU"}]},
}


class Demo:
    """The scenario's state, and the steps it has printed so far."""

    def __init__(self, inv: Invocation, workdir: Path, show_progress: bool) -> None:
        self.inv = inv
        self.operator = inv.client
        self.workdir = workdir
        self.show_progress = show_progress
        self.suffix = secrets.token_hex(3)
        self.steps: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {"server": self.operator.profile.server}
        self.clients: list[Client] = []

    def step(self, title: str, detail: str) -> None:
        self.steps.append({"step": len(self.steps) + 1, "title": title, "detail": detail})
        if not self.inv.as_json:
            click.echo(f"{len(self.steps):>2}. {title}: {detail}")

    def client_for(self, name: str, issued: IssuedKeyOut) -> Client:
        """A client for a key the demo just issued: in memory only, never saved."""
        client = Client(Profile(name, self.operator.profile.server, issued.key_id, issued.secret))
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the CSV, the download and the audit bundle here [a temporary directory].",
)
@progress_option
@client_command
def demo(inv: Invocation, workdir: Path | None, progress: bool | None) -> None:
    """Run a whole escrow against the server of an operator profile, step by step."""
    with _workdir(workdir) as where:
        scenario = Demo(inv, where, wanted(progress, False, inv.as_json))
        try:
            _run(scenario)
        finally:
            scenario.close()
    inv.out.emit({**scenario.summary, "steps": scenario.steps}, "Demo complete.")


@contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="escrow-demo-") as temporary:
        yield Path(temporary)


def _run(demo: Demo) -> None:
    verifier_key = _connect(demo)
    owner, partner = _partners(demo)
    dataset = _deposit(demo, owner, verifier_key)
    agreement = _propose(demo, owner, partner, dataset)
    _release(demo, owner, partner, agreement, verifier_key)
    _download_view(demo, partner, dataset)
    map_accounts(demo, owner, partner)
    _verify_audit(demo, verifier_key)


def _connect(demo: Demo) -> str:
    me = demo.operator.get("/v1/auth/whoami", WhoAmIOut)
    if "operator" not in me.roles:
        raise CliError.local(
            ExitCode.DENIED,
            "forbidden",
            "Not an operator",
            f"escrow demo creates organizations, so it needs an operator profile; this one is"
            f" {me.kind} {me.id} of {me.org} (roles: {', '.join(me.roles) or 'none'})",
        )
    key = fetch_public_key(demo.operator)
    demo.summary["public_key"] = key
    demo.step("Connected", f"{demo.summary['server']} as operator {me.id}; service key {key}")
    return key


def _partners(demo: Demo) -> tuple[Client, Client]:
    owner, partner = f"acme-{demo.suffix}", f"globex-{demo.suffix}"
    for slug, name, tier in ((owner, "Acme Retail", "strategic"), (partner, "Globex", "core")):
        body = build(OrgCreate, {"slug": slug, "name": f"{name} (demo)", "tier": tier})
        demo.operator.call("POST", "/v1/orgs", OrgOut, body=body)
    demo.summary.update(owner=owner, beneficiary=partner, service_accounts=[])
    demo.step(
        "Organizations", f"{owner} (strategic) owns the data; {partner} (core) is its partner"
    )
    link = build(PartnershipCreate, {"orgs": [owner, partner], "kind": "supplier"})
    partnership = demo.operator.call("POST", "/v1/partnerships", PartnershipOut, body=link)
    demo.summary["partnership_id"] = partnership.id
    demo.step("Partnership", f"{owner} and {partner} are supplier partners ({partnership.id})")
    # An operator seeds each organization's first admin; the admin creates everyone else.
    owner_admin = _service_account(demo, demo.operator, owner, "admin", "admin")
    owner_client = _service_account(demo, owner_admin, owner, "ingest", "steward")
    partner_client = _service_account(demo, demo.operator, partner, "analytics", "admin")
    demo.step(
        "Service accounts",
        f"{owner}/admin (seeded by the operator) adds {owner}/ingest (steward);"
        f" {partner}/analytics (admin); each with its own API key",
    )
    return owner_client, partner_client


def _service_account(demo: Demo, by: Client, org: str, name: str, role: str) -> Client:
    """Created by ``by``: an operator seeding a first admin gets its key in the answer."""
    path = f"/v1/orgs/{org}/service-accounts"
    body = build(PrincipalCreate, {"name": name, "roles": [role]})
    account = by.call("POST", path, PrincipalOut, body=body)
    issued = account.api_key or by.call("POST", f"{path}/{account.id}/keys", IssuedKeyOut)
    client = demo.client_for(f"{org}/{name}", issued)
    client.exchange()  # the new key works before anything depends on it
    demo.summary["service_accounts"].append(
        {"org": org, "name": name, "id": account.id, "roles": [role], "key_id": issued.key_id}
    )
    return client


def _deposit(demo: Demo, owner: Client, key: str) -> DatasetOut:
    document = {
        "name": "q3-sales",
        "media_type": "text/csv",
        "description": "Third-quarter sales by region and customer",
        "labels": ["sales"],
        "schema": SCHEMA,
    }
    dataset = owner.call("POST", "/v1/datasets", DatasetOut, body=build(DatasetCreate, document))
    demo.step(
        "Dataset", f"{dataset.owner} creates q3-sales ({dataset.id}): region, amount, customer"
    )
    path = demo.workdir / f"q3-sales-{demo.suffix}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(SALES)
    deposited = deposit_file(owner, Deposit(dataset.id, path), demo.inv.out, demo.show_progress)
    version = deposited.version
    receipt = _verified(version.receipt, key, "deposit receipt")
    demo.summary.update(
        dataset_id=dataset.id,
        version={"version": version.version, "size": version.size, "sha256": version.sha256},
    )
    demo.step(
        "Deposit",
        f"version {version.version}: {version.size} bytes streamed, encrypted at rest, sha256"
        f" {(version.sha256 or '')[:16]}...; signed receipt verified (audit index"
        f" {receipt.get('audit_index')})",
    )
    return dataset


def _verified(document: dict[str, Any] | None, key: str, what: str) -> dict[str, Any]:
    try:
        return verify_document(document, load_public_key(key))
    except CryptoError as exc:
        raise integrity_error(
            f"the {what} does not verify against the service key: {exc}"
        ) from None


def _propose(demo: Demo, owner: Client, partner: Client, dataset: DatasetOut) -> AgreementOut:
    beneficiary = demo.summary["beneficiary"]
    terms = {
        "beneficiary": beneficiary,
        "purpose": "EU demand planning",
        "approvals": {"required": 2, "from": ["owner:steward", "beneficiary:admin"]},
        "view": VIEW,
    }
    path = f"/v1/datasets/{dataset.id}/agreements"
    agreement = owner.call("POST", path, AgreementOut, body=build(AgreementCreate, terms))
    demo.summary.update(agreement_id=agreement.id, view=VIEW)
    demo.step(
        "Agreement",
        f"{dataset.owner} offers {beneficiary} columns region and amount of the EU rows, once"
        f" both sides approve ({agreement.id}: {agreement.state}, blocked by"
        f" {', '.join(agreement.blockers or [])})",
    )
    _refused_before_release(demo, partner, dataset)
    preview = owner.get(f"/v1/agreements/{agreement.id}/preview", PreviewOut, {"rows": 10})
    shown = "; ".join(",".join(map(str, row)) for row in preview.rows)
    demo.step("Preview", f"{dataset.owner} checks what {beneficiary} would receive: {shown}")
    return agreement


def _refused_before_release(demo: Demo, partner: Client, dataset: DatasetOut) -> None:
    try:
        with partner.streaming("GET", f"/v1/datasets/{dataset.id}/versions/1/content"):
            pass
    except CliError as exc:
        if exc.exit_code != ExitCode.NOT_FOUND:
            raise
        demo.step(
            "Before release",
            f"{demo.summary['beneficiary']} asks for the data and is refused"
            f" ({exc.problem.get('status')}: the dataset does not even appear to exist for it)",
        )
        return
    raise integrity_error("the partner could download the dataset before it was released")


def _release(demo: Demo, owner: Client, partner: Client, agreement: AgreementOut, key: str) -> None:
    url = f"/v1/agreements/{agreement.id}/approvals"
    approve = build(DecisionIn, {"decision": "approve", "reason": "EU planning only"})
    owner.call("POST", url, AgreementOut, body=approve)
    first = owner.get(f"/v1/agreements/{agreement.id}", AgreementOut)  # with its blockers
    demo.step(
        "Approval 1 of 2",
        f"{first.owner}'s steward approves: still {first.state}, blocked by"
        f" {', '.join(first.blockers or [])}",
    )
    second = partner.call("POST", url, AgreementOut, body=approve)
    demo.step("Approval 2 of 2", f"{second.beneficiary}'s admin approves: {second.state}")
    released = owner.call("POST", f"/v1/agreements/{agreement.id}/release", AgreementOut)
    if released.state != "released":
        raise CliError.local(
            ExitCode.CONFLICT,
            "invalid-state",
            "Not released",
            f"the agreement is {released.state}, blocked by {released.blockers}",
        )
    receipt = _verified(released.release_receipt, key, "release receipt")
    demo.summary.update(
        state=released.state,
        released_at=released.released_at,
        policy_version=receipt.get("policy_version"),
        view_sha256=receipt.get("view_sha256"),
    )
    demo.step(
        "Release",
        f"released under policy {str(receipt.get('policy_version'))[:16]}...; signed release"
        f" receipt verified (it names the view: sha256 {str(receipt.get('view_sha256'))[:16]}...)",
    )


def _download_view(demo: Demo, partner: Client, dataset: DatasetOut) -> None:
    target = demo.workdir / f"q3-sales-{demo.suffix}-as-{demo.summary['beneficiary']}.csv"
    received = download(partner, Fetch(dataset.id, 1, target), demo.inv.out, demo.show_progress)
    rows = list(csv.reader(target.read_text(encoding="utf-8").splitlines()))
    granted = [list(row[:2]) for row in SALES if row[0] in ("region", "EU")]
    if rows != granted:
        raise integrity_error("the partner received other rows or columns than granted", rows=rows)
    demo.summary["download"] = {
        "bytes": received.size,
        "sha256": received.sha256,
        "columns": rows[0],
        "rows": len(rows) - 1,
        "content": target.read_text(encoding="utf-8"),
    }
    demo.step(
        "Partner download",
        f"{demo.summary['beneficiary']} receives {len(rows) - 1} of {len(SALES) - 1} rows and"
        f" {len(rows[0])} of {len(SALES[0])} columns ({received.size} bytes); customer names"
        " and the other regions never left the server:",
    )
    if not demo.inv.as_json:
        for row in rows:
            click.echo("      " + ",".join(row))


def _verify_audit(demo: Demo, key: str) -> None:
    path = demo.workdir / f"audit-{demo.suffix}.jsonl"
    with path.open("wb") as sink:
        fetch_export(demo.operator, None, sink)
    try:
        with path.open("rb") as bundle:
            report = verify_bundle(bundle, parse_verifier_key(key))
    except (BundleError, CryptoError) as exc:
        raise integrity_error(f"the audit bundle does not verify: {exc}") from None
    demo.summary["audit"] = {
        "events": report.events,
        "tree_size": report.tree_size,
        "origin": report.origin,
        "root": b64(report.root_hash),
    }
    demo.step(
        "Audit",
        f"exported the trail and verified all {report.events} events offline against the"
        f" signed checkpoint of {report.origin} (size {report.tree_size}, root"
        f" {b64(report.root_hash)})",
    )
