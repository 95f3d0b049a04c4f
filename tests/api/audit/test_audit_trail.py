"""The signed audit trail through HTTP: tree, checkpoints, proofs, scoped reading, export,
offline verification of tampered databases, and concurrent appends over real HTTP.

Trees and proofs are checked with the independent RFC 9162 verifier in tests/unit/audit.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from sqlalchemy import Connection, event, func, select, text

from crypto import Checkpoint, CompactRange, open_note, parse_verifier_key
from escrow.app import create_app
from escrow.audit.log import AuditEntryTooLargeError, AuditRecord, erase_sensitive_values
from escrow.audit.tree import AuditIntegrityError
from escrow.cli.main import audit  # type: ignore[attr-defined]  # the group with its client commands (public-key, export) added
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.context import RequestContext
from storage.models import AuditCheckpoint, AuditEvent, AuditNode, AuditQueueEntry, AuditSecret
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session
from tests.fixtures.ports import free_port
from tests.unit.audit.rfc9162 import consistency_ok, inclusion_ok, leaf, mth


def _entries(components: Components) -> list[bytes]:
    with log_session(components) as session:
        rows = session.scalars(select(AuditEvent.entry).order_by(AuditEvent.seq))
        return [entry.encode() for entry in rows]


def _hashes(items: list[str]) -> list[bytes]:
    return [base64.b64decode(item) for item in items]


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _partners(eco: Ecosystem) -> dict[str, Any]:
    """Two orgs with an auditor, an admin and a member each; returns ids and callers."""
    people: dict[str, Any] = {}
    for slug in ("acme", "globex"):
        people[slug] = eco.org(slug)["id"]
        for role in ("auditor", "admin", "member"):
            people[f"{slug}-{role}"] = eco.principal(slug, role)
    return people


def _verify(bundle: bytes, key: str, tmp_path: Path) -> Any:
    path = tmp_path / "bundle.jsonl"
    path.write_bytes(bundle)
    return CliRunner().invoke(audit, ["verify", str(path), "--public-key", key])


def test_checkpoint_is_a_signed_note_over_the_recomputed_root(
    eco: Ecosystem, operator: Caller, components: Components
) -> None:
    eco.org("acme")
    key = operator.client.get("/v1/audit/public-key")  # public: no token
    note = operator.get("/v1/audit/checkpoint")
    assert key.status_code == note.status_code == 200
    assert note.headers["content-type"].startswith("text/plain")
    verifier = parse_verifier_key(key.text)
    checkpoint = Checkpoint.parse(open_note(note.text, verifier))
    origin, size, root, blank, signature, end = note.text.split("\n")
    assert (origin, int(size), blank, end) == (verifier.name, checkpoint.size, "", "")
    assert origin.startswith("partner-escrow.dev/audit/") and signature.startswith(f"— {origin} ")
    leaves = [leaf(entry) for entry in _entries(components)]
    assert (checkpoint.size, checkpoint.root_hash) == (len(leaves), mth(leaves))
    assert base64.b64decode(root) == mth(leaves)
    assert operator.get("/v1/audit/checkpoint").text == note.text  # no growth, no new note
    eco.org("globex")
    assert Checkpoint.parse(open_note(operator.get("/v1/audit/checkpoint").text, verifier)).size > (
        checkpoint.size
    )
    assert operator.client.get("/v1/audit/checkpoint").status_code == 401


def test_proofs_from_the_api_verify_independently(
    eco: Ecosystem, operator: Caller, components: Components
) -> None:
    _partners(eco)
    leaves = [leaf(entry) for entry in _entries(components)]
    n = len(leaves)
    for size in (1, 2, 7, n):
        for index in range(size):
            body = operator.get(f"/v1/audit/proofs/inclusion?index={index}&size={size}").json()
            assert body["leaf_hash"] == _b64(leaves[index]) and body["checkpoint"] is None
            assert inclusion_ok(
                index, size, leaves[index], _hashes(body["proof"]), mth(leaves[:size])
            )
    current = operator.get("/v1/audit/proofs/inclusion?index=3").json()
    signed = Checkpoint.parse(
        open_note(current["checkpoint"], components.trail.checkpoints.verifier)
    )
    assert current["tree_size"] == signed.size == n
    assert inclusion_ok(3, n, leaves[3], _hashes(current["proof"]), signed.root_hash)
    for first, second in [(1, 2), (3, 7), (4, n), (n - 1, n), (n, n)]:
        body = operator.get(f"/v1/audit/proofs/consistency?from={first}&to={second}").json()
        assert (body["from"], body["to"]) == (first, second)
        if first == second:
            assert body["proof"] == []
            continue
        proof = _hashes(body["proof"])
        assert consistency_ok(first, second, proof, mth(leaves[:first]), mth(leaves[:second]))
    for bad in [
        "inclusion?index=5&size=5",
        f"inclusion?index=0&size={n + 1}",
        "consistency?from=0&to=3",
    ]:
        assert operator.get(f"/v1/audit/proofs/{bad}").status_code == 422


def test_auditors_read_only_their_orgs_events_and_probes_are_audited(
    eco: Ecosystem, operator: Caller, components: Components
) -> None:
    people = _partners(eco)
    acme, globex = people["acme"], people["globex"]
    items = people["acme-auditor"].get("/v1/audit/events?limit=200").json()["items"]
    assert items and all(acme in json.loads(item["entry"])["orgs"] for item in items)
    for item in items:
        assert item["leaf_hash"] == _b64(leaf(item["entry"].encode()))
        assert json.loads(item["entry"])["seq"] == item["index"]
    everything = operator.get("/v1/audit/events?limit=200").json()["items"]
    assert len(everything) == len(_entries(components)) > len(items)
    assert people["acme-admin"].get("/v1/audit/events").status_code == 200

    assert people["acme-auditor"].get("/v1/audit/events?org=globex").status_code == 404
    probe = json.loads(_entries(components)[-2])
    assert (probe["action"], probe["outcome"], probe["resource"], probe["orgs"]) == (
        "read",
        "denied",
        {"type": "audit_log", "id": "globex"},
        [acme],
    )
    # The probe is not put in globex's trail (that would tell acme globex exists); the
    # target is named in an event only operators read.
    seen_by_globex = people["globex-auditor"].get("/v1/audit/events?outcome=denied").json()
    assert probe["seq"] not in [item["index"] for item in seen_by_globex["items"]]
    for_operators = json.loads(_entries(components)[-1])
    assert for_operators["orgs"] == [] and for_operators["details"]["target_orgs"] == [globex]
    assert people["acme-member"].get("/v1/audit/events").status_code == 403
    assert json.loads(_entries(components)[-1])["outcome"] == "denied"
    eco.partnership("acme", "globex")  # partners may see each other's card: 403, not 404
    assert people["acme-auditor"].get("/v1/audit/events?org=globex").status_code == 403
    assert operator.get("/v1/audit/events?org=globex").status_code == 200


def test_event_filters_and_cursor_pagination(
    eco: Ecosystem, operator: Caller, components: Components, clock: FrozenClock
) -> None:
    acme = eco.org("acme")["id"]
    clock.advance(minutes=5)
    middle = clock.now().isoformat().replace("+00:00", "Z")
    member = eco.principal("acme", "member")
    member.post("/v1/orgs", json={"slug": "evil", "name": "Evil", "tier": "core"})

    def indexes(query: str) -> list[int]:
        response = operator.get(f"/v1/audit/events?limit=200&{query}")
        assert response.status_code == 200, response.text
        return [item["index"] for item in response.json()["items"]]

    created = indexes("action=org.create")
    assert (
        len(created) == 1 and indexes(f"resource_type=organization&resource_id={acme}") == created
    )
    denied = indexes("outcome=denied")
    assert denied == [len(_entries(components)) - 1]
    assert indexes(f"actor={member.id}&outcome=denied") == denied
    assert len(indexes(f"actor={member.id}")) == 2  # its token, then the denied attempt
    assert created[0] in indexes(f"until={middle}") and created[0] not in indexes(f"since={middle}")
    walked, cursor = [], ""
    while True:
        page = operator.get(f"/v1/audit/events?limit=2&cursor={cursor}").json()
        walked += [item["index"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert walked == list(range(len(_entries(components))))
    assert operator.get("/v1/audit/events?cursor=bm9wZQ").status_code == 422


def test_sensitive_values_enter_the_log_only_as_keyed_digests(
    eco: Ecosystem, components: Components
) -> None:
    eco.org("acme")
    log = components.audit
    ctx = RequestContext("req-sensitive", client_ip="203.0.113.9")
    record = AuditRecord(
        "agreement.approve",
        "success",
        "agreement",
        "ag-1",
        sensitive={"purpose": "demand planning"},
    )
    with components.db.session() as session:
        seq = log.append_indexed(session, ctx, record)
        session.commit()
    entry = _entries(components)[seq].decode()
    assert "demand planning" not in entry and "203.0.113.9" not in entry
    digests = {"purpose": log.digest("demand planning"), "client_ip": log.digest("203.0.113.9")}
    assert json.loads(entry)["sensitive"] == digests
    assert all(d.startswith("hmac-sha256:") and len(d) == 76 for d in digests.values())
    before = components.trail.issue_checkpoint()
    with log_session(components) as session:
        rows = session.scalars(select(AuditSecret).where(AuditSecret.seq == seq)).all()
        assert {row.name: row.value for row in rows} == {
            "purpose": "demand planning",
            "client_ip": "203.0.113.9",
        }
        assert erase_sensitive_values(session, seqs=[seq]) == 2
        session.commit()
    assert _entries(components)[seq].decode() == entry  # erasure never touches the log
    assert components.trail.issue_checkpoint() == before
    http_event = json.loads(_entries(components)[seq - 1])  # eco.org("acme"), through HTTP
    assert http_event["sensitive"]["client_ip"] == log.digest("testclient")


def test_oversized_or_free_text_events_fail_and_change_nothing(components: Components) -> None:
    ctx = RequestContext("req-big")
    big = AuditRecord("x.y", "success", "thing", details={"blob": "x" * 70_000})
    prose = AuditRecord("x.y", "denied", "thing", reason="because Jane said so")
    for record, error in [(big, AuditEntryTooLargeError), (prose, ValueError)]:
        with components.db.session() as session, pytest.raises(error):
            components.audit.append(session, ctx, record)
    assert _entries(components) == []


def test_exports_verify_offline_for_operators_and_auditors(
    eco: Ecosystem, operator: Caller, components: Components, tmp_path: Path
) -> None:
    people = _partners(eco)
    key = operator.client.get("/v1/audit/public-key").text
    full = operator.get("/v1/audit/export")
    assert full.status_code == 200 and full.headers["content-type"].startswith(
        "application/x-ndjson"
    )
    result = _verify(full.content, key.strip(), tmp_path)
    assert result.exit_code == 0, result.output
    assert f"OK {len(_entries(components))} entries verified (every entry)" in result.output
    scoped = people["acme-auditor"].get("/v1/audit/export")
    lines = [json.loads(line) for line in scoped.content.splitlines()]
    assert lines[0]["scope"] == "org" and lines[0]["org"] == people["acme"]
    assert all(people["acme"] in json.loads(line["entry"])["orgs"] for line in lines[1:-1])
    key_file = tmp_path / "key.txt"
    key_file.write_text(key)
    result = _verify(scoped.content, str(key_file), tmp_path)
    assert result.exit_code == 0 and "entries of org" in result.output, result.output
    assert people["acme-auditor"].get("/v1/audit/export?org=globex").status_code == 404


def test_server_host_export_command_writes_a_verifiable_bundle(
    eco: Ecosystem, components: Components, settings_env: dict[str, str], tmp_path: Path
) -> None:
    people = _partners(eco)
    with components.db.session() as session:  # numbered or still queued: all in the bundle
        recorded = sum(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (AuditEvent, AuditQueueEntry)
        )
    runner = CliRunner()
    key = runner.invoke(audit, ["public-key", "--local"], env=settings_env)
    assert key.output.strip() == components.trail.checkpoints.public_key
    for args in ([], ["--org", "acme"]):
        path = tmp_path / "cli.jsonl"
        written = runner.invoke(
            audit, ["export", "--local", "-o", str(path), *args], env=settings_env
        )
        assert written.exit_code == 0, written.output
        if not args:
            assert len(path.read_bytes().splitlines()) == 1 + recorded + 1  # head, entries, tail
        result = _verify(path.read_bytes(), key.output.strip(), tmp_path)
        assert result.exit_code == 0, result.output
    assert people["acme"] in result.output
    missing = runner.invoke(audit, ["export", "--local", "--org", "nope"], env=settings_env)
    assert missing.exit_code == 1 and "no organization" in missing.output


def _tamper_one_byte(conn: Connection, _size: int) -> int:
    entry = conn.execute(text("SELECT entry FROM audit_events WHERE seq = 3")).scalar_one()
    at = entry.index('"request_id":"') + len('"request_id":"')
    changed = entry[:at] + ("X" if entry[at] != "X" else "Y") + entry[at + 1 :]
    conn.execute(text("UPDATE audit_events SET entry = :e WHERE seq = 3"), {"e": changed})
    return 3


def _delete_event(conn: Connection, _size: int) -> int:
    for table in ("audit_event_orgs", "audit_secrets", "audit_events"):
        conn.execute(text(f"DELETE FROM {table} WHERE seq = 4"))  # noqa: S608 - fixed names
    return 4


def _swap_events(conn: Connection, _size: int) -> int:
    conn.execute(
        text(
            "UPDATE audit_events SET entry = CASE seq WHEN 2 THEN"
            " (SELECT entry FROM audit_events WHERE seq = 5) ELSE"
            " (SELECT entry FROM audit_events WHERE seq = 2) END WHERE seq IN (2, 5)"
        )
    )
    return 2


def _truncate_log(conn: Connection, size: int) -> int:
    for table in ("audit_event_orgs", "audit_secrets", "audit_events"):
        conn.execute(text(f"DELETE FROM {table} WHERE seq >= :n"), {"n": size - 2})  # noqa: S608
    conn.execute(text("DELETE FROM audit_nodes WHERE level = 0 AND idx >= :n"), {"n": size - 2})
    conn.execute(text("UPDATE audit_head SET size = :n"), {"n": size - 2})
    return size - 2


def _forge_signature(conn: Connection, _size: int) -> str:
    note = conn.execute(text("SELECT note FROM audit_checkpoints")).scalar_one()
    body, _, line = note.rstrip("\n").rpartition("\n")
    prefix, _, signature = line.rpartition(" ")
    raw = base64.b64decode(signature)
    forged = base64.b64encode(raw[:4] + bytes(64)).decode()  # our key id, a made-up signature
    conn.execute(
        text("UPDATE audit_checkpoints SET note = :n"), {"n": f"{body}\n{prefix} {forged}\n"}
    )
    return "checkpoint"


@pytest.mark.parametrize(
    "tamper", [_tamper_one_byte, _delete_event, _swap_events, _truncate_log, _forge_signature]
)
def test_database_tampering_is_named_by_the_offline_verifier(
    eco: Ecosystem,
    operator: Caller,
    components: Components,
    tmp_path: Path,
    tamper: Callable[[Connection, int], int | str],
) -> None:
    _partners(eco)
    signed = components.trail.issue_checkpoint()
    with components.db.engine.begin() as conn:
        where = tamper(conn, signed.size)
    bundle = operator.get("/v1/audit/export")
    assert bundle.status_code == 200
    result = _verify(bundle.content, components.trail.checkpoints.public_key, tmp_path)
    assert result.exit_code == 1
    named = f"entry {where}" if isinstance(where, int) else where
    assert result.output.startswith(f"FAILED {named}:"), result.output


def test_checkpoints_form_one_consistent_chain(
    eco: Ecosystem, operator: Caller, components: Components, clock: FrozenClock, tmp_path: Path
) -> None:
    trail = components.trail
    eco.org("acme")
    first = trail.issue_checkpoint()
    eco.org("globex")
    clock.advance(seconds=60)
    racing: list[Any] = []
    threads = [
        threading.Thread(target=lambda: racing.append(trail.issue_checkpoint())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second = racing[0]
    assert second.size > first.size and second.issued_at > first.issued_at
    assert all(result == second for result in racing)  # one checkpoint, whoever won
    with components.db.session() as session:
        chain = session.execute(select(AuditCheckpoint.previous_size, AuditCheckpoint.tree_size))
        assert sorted(chain) == [(-1, first.size), (first.size, second.size)]
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text(first.note)
    new.write_text(second.note)
    proof = tmp_path / "proof.json"
    proof.write_text(
        operator.get(f"/v1/audit/proofs/consistency?from={first.size}&to={second.size}").text
    )
    key = trail.checkpoints.public_key
    runner = CliRunner()
    ok = runner.invoke(
        audit, ["verify-checkpoint", str(old), str(new), "--public-key", key, "--proof", str(proof)]
    )
    assert ok.exit_code == 0 and f"{second.size} extends checkpoint {first.size}" in ok.output
    backwards = runner.invoke(
        audit, ["verify-checkpoint", str(new), str(old), "--public-key", key, "--proof", str(proof)]
    )
    assert backwards.exit_code == 1 and "larger" in backwards.output


def test_an_issuer_that_loses_the_race_serves_the_checkpoint_that_beat_it(
    eco: Ecosystem, components: Components
) -> None:
    """Under load the tree grows between every try, so an issuer insisting on its own
    signature could lose forever; one that covers the tree it was asked for is enough."""
    eco.org("acme")
    issuer = components.trail.checkpoints
    winners: list[Any] = []

    def sign_first_then_grow(_session: Any) -> None:  # each time the loser is about to commit
        with components.db.session() as session:
            winners.append(issuer.issue(session))
        with components.db.session() as session:
            components.audit.append(
                session, RequestContext("grow"), AuditRecord("test.grow", "success", "thing")
            )
            session.commit()

    with components.db.session() as loser:
        event.listen(loser, "before_commit", sign_first_then_grow)
        signed = issuer.issue(loser)
        event.remove(loser, "before_commit", sign_first_then_grow)
    assert len(winners) == 1 and signed == winners[0]
    with components.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


def test_no_checkpoint_is_signed_over_a_tree_that_contradicts_the_last_one(
    eco: Ecosystem, operator: Caller, components: Components
) -> None:
    _partners(eco)
    signed = components.trail.issue_checkpoint()
    with components.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_nodes SET hash = :h WHERE level = 0 AND idx = 1"), {"h": bytes(32)}
        )
    with components.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_nodes WHERE level > 0"))
        conn.execute(
            text("INSERT INTO audit_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
            [{"l": n.level, "i": n.index, "h": h} for n, h in _rebuilt_nodes(components)],
        )
    eco.org("initech")
    with pytest.raises(AuditIntegrityError, match="does not extend"):
        components.trail.issue_checkpoint()
    assert operator.get("/v1/audit/checkpoint").status_code == 500
    with components.db.session() as session:
        assert components.trail.checkpoints.latest(session) == signed


def _rebuilt_nodes(components: Components) -> list[Any]:
    """Interior nodes recomputed over the (tampered) stored leaves, as a careful forger would."""
    with components.db.session() as session:
        leaves = session.scalars(
            select(AuditNode.hash).where(AuditNode.level == 0).order_by(AuditNode.idx)
        )
        tree, nodes = CompactRange(), []
        for digest in leaves:
            nodes += [(n, h) for n, h in tree.append(bytes(digest)) if n.level > 0]
        return nodes


@pytest.fixture
def live_server(components: Components) -> Iterator[str]:
    """The app behind uvicorn on a real socket, for requests that are really concurrent.

    Its own app instance: the test client runs the ``app`` fixture's lifespan already.
    """
    port = free_port()
    config = uvicorn.Config(
        create_app(components), host="127.0.0.1", port=port, log_level="warning", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # polling a thread's start-up, not product time
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_parallel_requests_produce_one_gap_free_order(
    eco: Ecosystem, operator: Caller, components: Components, live_server: str, tmp_path: Path
) -> None:
    eco.org("acme")
    eco.org("globex")
    member = eco.principal("acme", "member")
    before = components.trail.issue_checkpoint()
    statuses: list[int] = []

    def partner_system(worker: int) -> None:
        with httpx.Client(base_url=live_server, timeout=30) as http:
            for i in range(10):
                if i % 2:
                    slug = {"slug": f"org-{worker}-{i}", "name": "N", "tier": "core"}
                    statuses.append(
                        http.post("/v1/orgs", json=slug, headers=operator.headers).status_code
                    )
                else:
                    statuses.append(http.get("/v1/orgs/globex", headers=member.headers).status_code)

    workers = [threading.Thread(target=partner_system, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(set(statuses)) == [201, 404] and len(statuses) == 80
    with components.db.session() as session:  # what was queued behind another integration
        components.trail.catch_up(session)
    entries = _entries(components)
    assert [json.loads(entry)["seq"] for entry in entries] == list(range(len(entries)))
    # 40 creations; 40 concealed reads, each a denial plus the operators' record of its target.
    assert len(entries) == before.size + 40 + 2 * 40
    leaves = [leaf(entry) for entry in entries]
    after = components.trail.issue_checkpoint()
    assert (after.size, after.root_hash) == (len(leaves), mth(leaves))
    tree, expected = CompactRange(), set()
    for digest in leaves:
        expected |= {(n.level, n.index, h) for n, h in tree.append(digest)}
    with components.db.session() as session:
        stored = {(r.level, r.idx, bytes(r.hash)) for r in session.scalars(select(AuditNode))}
    assert stored == expected
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text(before.note)
    new.write_text(after.note)
    args = [
        "verify-checkpoint",
        str(old),
        str(new),
        "--public-key",
        components.trail.checkpoints.public_key,
    ]
    result = CliRunner().invoke(audit, [*args, "--server", live_server, "--token", operator.token])
    assert result.exit_code == 0, result.output
