"""Hostile input gets a clear 4xx (or is ignored where the RFC says so), never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from escrow.components import Components
from storage.models import DatasetVersion
from tests.fixtures.datasets import Partners, create_dataset, deposit

DATA = b"region,amount\nEU,10\nUS,20\n"
HUGE = "9" * 5000  # int() refuses strings over 4,300 digits


@pytest.fixture
def stored(partners: Partners) -> dict[str, Any]:
    dataset = create_dataset(partners.steward)
    assert deposit(partners.steward, dataset["id"], DATA).status_code == 201
    return dataset


def _content(partners: Partners, dataset: dict[str, Any], range_header: str) -> Any:
    url = f"/v1/datasets/{dataset['id']}/versions/1/content"
    return partners.steward.get(url, headers={"Range": range_header})


def test_a_range_starting_past_any_size_is_416(partners: Partners, stored: dict[str, Any]) -> None:
    response = _content(partners, stored, f"bytes={HUGE}-")
    assert response.status_code == 416, response.text
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.json()["type"].endswith("/range-not-satisfiable")


def test_a_range_ending_past_any_size_reaches_the_end(
    partners: Partners, stored: dict[str, Any]
) -> None:
    response = _content(partners, stored, f"bytes=3-{HUGE}")
    assert response.status_code == 206, response.text
    assert response.content == DATA[3:]
    suffix = _content(partners, stored, f"bytes=-{HUGE}")
    assert suffix.status_code == 206, suffix.text
    assert suffix.content == DATA


def test_a_range_with_huge_zero_padded_numbers_is_read_by_value(
    partners: Partners, stored: dict[str, Any]
) -> None:
    response = _content(partners, stored, f"bytes={'0' * 5000}2-{'0' * 5000}4")
    assert response.status_code == 206, response.text
    assert response.content == DATA[2:5]


def test_a_deposit_content_type_longer_than_255_is_refused_before_the_body(
    partners: Partners, components: Components
) -> None:
    dataset = create_dataset(partners.steward)
    media_type = "text/" + "x" * 251  # 256 characters
    response = deposit(partners.steward, dataset["id"], DATA, **{"Content-Type": media_type})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert problem["field"] == "content-type"
    assert media_type not in response.text
    with components.db.session() as session:
        assert session.scalar(select(func.count()).select_from(DatasetVersion)) == 0
    assert list(components.blobs.iter_keys("datasets/")) == []


def test_a_deposit_content_type_of_255_characters_is_stored(
    partners: Partners, components: Components
) -> None:
    dataset = create_dataset(partners.steward)
    media_type = "text/" + "x" * 250
    response = deposit(partners.steward, dataset["id"], DATA, **{"Content-Type": media_type})
    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == media_type
