"""Dataset metadata and who may do what with it."""

from __future__ import annotations

import base64

import pytest

from tests.fixtures.datasets import Partners, create_dataset, deposit

CSV = b"region,amount\nEU,10\n"


def test_steward_creates_and_members_read_metadata(partners: Partners) -> None:
    dataset = create_dataset(
        partners.steward,
        description="quarterly",
        labels=["pii", "finance"],
        schema={
            "fields": [{"name": "region", "type": "string"}, {"name": "amount", "type": "number"}]
        },
    )
    assert dataset["owner"] == "acme" and dataset["labels"] == ["finance", "pii"]
    assert dataset["status"] == "active" and dataset["versions"] == 0
    assert dataset["schema"]["fields"][1] == {"name": "amount", "type": "number"}
    assert partners.member.get(f"/v1/datasets/{dataset['id']}").json()["name"] == "q3-sales"
    assert [d["id"] for d in partners.member.get("/v1/datasets").json()["items"]] == [dataset["id"]]


def test_duplicate_names_conflict_and_bad_metadata_is_rejected(partners: Partners) -> None:
    create_dataset(partners.steward)
    assert partners.steward.post("/v1/datasets", json={"name": "q3-sales"}).status_code == 409
    bad_label = partners.steward.post("/v1/datasets", json={"name": "x", "labels": ["Bad Label"]})
    assert bad_label.status_code == 422
    bad_type = partners.steward.post(
        "/v1/datasets", json={"name": "y", "schema": {"fields": [{"name": "a", "type": "blob"}]}}
    )
    assert bad_type.status_code == 422
    dup_field = partners.steward.post(
        "/v1/datasets",
        json={
            "name": "z",
            "schema": {
                "fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "string"}]
            },
        },
    )
    assert dup_field.status_code == 422
    bad_media_type = partners.steward.post(
        "/v1/datasets", json={"name": "w", "media_type": "not a type"}
    )
    assert bad_media_type.status_code == 422  # a well-formed string outside the pattern
    assert partners.steward.post("/v1/datasets", json={"name": 7}).status_code == 400


@pytest.mark.parametrize("who", ["member", "auditor"])
def test_only_stewards_and_admins_create_datasets(partners: Partners, who: str) -> None:
    caller = getattr(partners, who)
    assert caller.post("/v1/datasets", json={"name": "nope"}).status_code == 403


def test_other_tenants_and_operators_cannot_see_or_touch_a_dataset(partners: Partners) -> None:
    dataset = create_dataset(partners.steward)
    deposit(partners.steward, dataset["id"], CSV)
    base = f"/v1/datasets/{dataset['id']}"
    for caller in (partners.outsider, partners.operator):
        assert caller.get(base).status_code == 404
        assert caller.get(f"{base}/versions").status_code == 404
        assert caller.get(f"{base}/versions/1/content").status_code == 404
        assert caller.post(f"{base}/versions", content=b"x").status_code == 404
        assert caller.post(f"{base}/withdraw").status_code == 404
        assert caller.delete(base).status_code == 404
        assert caller.get("/v1/datasets").json()["items"] == []


def test_auditors_read_nothing_of_the_content(partners: Partners) -> None:
    dataset = create_dataset(partners.steward)
    deposit(partners.steward, dataset["id"], CSV)
    assert (
        partners.auditor.get(f"/v1/datasets/{dataset['id']}/versions/1/content").status_code == 404
    )


def test_members_cannot_deposit(partners: Partners) -> None:
    dataset = create_dataset(partners.steward)
    assert deposit(partners.member, dataset["id"], CSV).status_code == 403


def test_unknown_dataset_and_version(partners: Partners) -> None:
    dataset = create_dataset(partners.steward)
    assert partners.member.get("/v1/datasets/nope").status_code == 404
    assert partners.member.get(f"/v1/datasets/{dataset['id']}/versions/9").status_code == 404
    assert (
        partners.member.get(f"/v1/datasets/{dataset['id']}/versions/9/content").status_code == 404
    )
    assert partners.member.get(f"/v1/datasets/{dataset['id']}/versions/x").status_code == 404


def test_signing_key_is_public(partners: Partners) -> None:
    key = partners.member.client.get("/v1/keys/signing").json()
    assert key["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in key["public_key_pem"]


@pytest.mark.parametrize("number", [2**31, 2**40, 10**20])
def test_version_numbers_beyond_the_column_are_404_not_500(partners: Partners, number: int) -> None:
    """Found by the fuzzer: a number PostgreSQL INTEGER cannot hold failed the query (500)."""
    dataset = create_dataset(partners.steward)
    assert deposit(partners.steward, dataset["id"], CSV).status_code == 201
    base = f"/v1/datasets/{dataset['id']}/versions/{number}"
    assert partners.member.get(base).status_code == 404
    assert partners.member.get(base + "/content").status_code == 404


def test_version_cursors_beyond_the_column_are_422(partners: Partners) -> None:
    """Found by the fuzzer: a cursor decoding to a huge or non-ASCII number was a 500."""
    dataset = create_dataset(partners.steward)
    url = f"/v1/datasets/{dataset['id']}/versions"
    for raw in (b"99999999999", "²".encode()):
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        response = partners.member.get(url, params={"cursor": cursor})
        assert response.status_code == 422 and response.json()["field"] == "cursor"
