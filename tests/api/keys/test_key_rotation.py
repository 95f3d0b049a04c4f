"""KEK rotation, retirement and blob garbage collection from the server-side CLI."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from crypto import Keyring
from escrow.cli.main import cli
from escrow.components import Components
from storage.blobs import BlobStore
from storage.models import DatasetVersion
from tests.fixtures.datasets import Partners, create_dataset, deposit

CSV = b"region,amount\nEU,10\n"


def _env(settings_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**settings_env, "ESCROW_BLOB_URL": f"file://{tmp_path / 'blobs'}"}


def _kek_ids(components: Components) -> set[str]:
    with components.db.session() as session:
        return {k for k in session.scalars(select(DatasetVersion.kek_id)) if k is not None}


def test_rotation_rewraps_every_key_and_the_old_kek_can_then_be_retired(
    partners: Partners, components: Components, settings_env: dict[str, str], tmp_path: Path
) -> None:
    dataset = create_dataset(partners.steward)
    for i in range(3):
        deposit(partners.steward, dataset["id"], CSV + f"US,{i}\n".encode())
    [old_kek] = _kek_ids(components)
    env = _env(settings_env, tmp_path)
    runner = CliRunner()
    refused = runner.invoke(cli, ["keys", "retire", old_kek], env=env)
    assert refused.exit_code == 1 and "rotate first" in refused.output
    rotated = runner.invoke(cli, ["keys", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 3 data keys" in rotated.output
    [new_kek] = _kek_ids(components)
    assert new_kek != old_kek
    listed = json.loads(runner.invoke(cli, ["keys", "list", "--json"], env=env).output)
    # The keyring is the session's: other tests' KEKs may be listed too, wrapping nothing.
    usage = {row["kek_id"]: row["versions"] for row in listed}
    assert (usage[old_kek], usage[new_kek]) == (0, 3) and sum(usage.values()) == 3
    assert runner.invoke(cli, ["keys", "retire", old_kek], env=env).exit_code == 0
    # The running server reads every version under the new KEK; no data was re-encrypted.
    for number in (1, 2, 3):
        content = partners.member.get(f"/v1/datasets/{dataset['id']}/versions/{number}/content")
        assert content.status_code == 200 and content.content == CSV + f"US,{number - 1}\n".encode()
    assert runner.invoke(cli, ["keys", "retire", new_kek], env=env).exit_code == 1


def test_staged_rotation_promotes_the_staged_kek_and_rewraps_under_it(
    partners: Partners, components: Components, settings_env: dict[str, str], tmp_path: Path
) -> None:
    dataset = create_dataset(partners.steward)
    deposit(partners.steward, dataset["id"], CSV)
    [old_kek] = _kek_ids(components)
    env = _env(settings_env, tmp_path)
    runner = CliRunner()
    staged = runner.invoke(cli, ["keys", "stage"], env=env)
    assert staged.exit_code == 0, staged.output
    staged_kek = staged.output.split()[2].rstrip(";")
    listed = json.loads(runner.invoke(cli, ["keys", "list", "--json"], env=env).output)
    states = {row["kek_id"]: row["state"] for row in listed}
    assert (states[old_kek], states[staged_kek]) == ("active", "staged")
    assert _kek_ids(components) == {old_kek}  # staging changes no data key
    unknown = runner.invoke(cli, ["keys", "rotate", "--to", "kek-00000000"], env=env)
    assert unknown.exit_code == 1 and "no KEK" in unknown.output
    rotated = runner.invoke(cli, ["keys", "rotate", "--to", staged_kek], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert f"active KEK {staged_kek}; re-wrapped 1 data keys" in rotated.output
    assert _kek_ids(components) == {staged_kek}
    content = partners.member.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert content.status_code == 200 and content.content == CSV


def test_keys_init_creates_an_owner_only_keyring_once(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "init", str(path)])
    assert created.exit_code == 0, created.output
    assert path.stat().st_mode & 0o777 == 0o600
    assert Keyring.load(path).active_kek_id in created.output
    again = runner.invoke(cli, ["keys", "init", str(path)])
    assert again.exit_code == 1 and "cannot create" in again.output


def test_gc_deletes_old_orphan_blobs_and_spares_live_and_young_ones(
    partners: Partners,
    components: Components,
    settings_env: dict[str, str],
    tmp_path: Path,
    blobs: BlobStore,
) -> None:
    dataset = create_dataset(partners.steward)
    deposit(partners.steward, dataset["id"], CSV)
    [live] = list(blobs.iter_keys())
    young = f"datasets/{dataset['id']}/{components.new_id()}.bin"
    old_time = int((components.clock.now() - timedelta(hours=2)).timestamp() * 1000)
    old = f"datasets/{dataset['id']}/{uuid.UUID(int=(old_time << 80) | (7 << 76))}.bin"
    for key in (young, old):
        with blobs.open_writer(key) as writer:
            writer.write(b"orphan")
            writer.commit()
    env = _env(settings_env, tmp_path)
    dry = CliRunner().invoke(cli, ["storage", "gc", "--dry-run"], env=env)
    assert dry.exit_code == 0 and f"would delete {old}" in dry.output
    assert set(blobs.iter_keys()) == {live, young, old}
    result = CliRunner().invoke(cli, ["storage", "gc"], env=env)
    assert result.exit_code == 0, result.output
    assert set(blobs.iter_keys()) == {live, young}
