"""Datasets and deposits made through the services, as the dataset routes make them."""

from __future__ import annotations

from collections.abc import Iterable

from escrow.components import Components
from escrow.datasets.deposit import Depositor
from escrow.datasets.results import Deposited
from escrow.datasets.service import DatasetService
from escrow.datasets.upload import DepositRequest, Upload
from tests.fixtures.api import Caller
from tests.unit.services.acting import authenticated_as, context_of

CSV = b"region,amount\nEU,10\nUS,20\n"


def create(components: Components, caller: Caller, name: str = "q3-sales") -> str:
    with authenticated_as(components, caller) as deps:
        dataset = DatasetService(deps).create(name, "", "text/csv", ["pii"], None)
        return dataset.id


def deposit(
    components: Components,
    caller: Caller,
    dataset_id: str,
    chunks: Iterable[bytes],
    expected_sha256: str | None = None,
) -> Deposited:
    """What the deposit route does with a streamed body: begin, absorb each chunk, finish."""
    depositor = Depositor(
        context_of(components, caller),
        components.shared,
        components.keyring,
        components.blobs,
        components.settings.max_deposit_bytes,
    )
    request = DepositRequest(dataset_id, "text/csv", None, expected_sha256, None)
    started = depositor.begin(request)
    assert isinstance(started, Upload)
    for chunk in chunks:
        started.absorb(chunk)
    return depositor.finish(started)
