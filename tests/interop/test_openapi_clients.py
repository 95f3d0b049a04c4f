"""The served OpenAPI document, as validators and client generators read it (issue 19).

openapi-python-client generates a client from ``/schema/openapi.json``; the test imports it
and uses it as an integrator would: a token, a dataset, a deposit and a (ranged) download.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.fixtures.live import LiveServer
from tests.interop.conftest import Partner

PACKAGE = "escrow_generated_client"
CSV = b"region,n\nEU,1\nUS,2\n"


@pytest.fixture(scope="module")
def served_document(live_server: LiveServer) -> dict[str, Any]:
    response = httpx.get(f"{live_server.url}/schema/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    return dict(response.json())


@pytest.fixture(scope="module")
def generated(
    served_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The generated package, imported; its modules are dropped from sys.modules after."""
    root = tmp_path_factory.mktemp("generated")
    (root / "openapi.json").write_bytes(httpx.Response(200, json=served_document).content)
    (root / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    generator = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run(  # noqa: S603 - a fixed argv of a dev tool installed beside us
        [
            str(generator),
            "generate",
            "--path",
            str(root / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(root / PACKAGE),
            "--config",
            str(root / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_served_document_is_valid_openapi(served_document: dict[str, Any]) -> None:
    validate(served_document)
    assert served_document["openapi"].startswith("3.1")


def test_deposits_and_downloads_are_described_as_bytes(served_document: dict[str, Any]) -> None:
    """Issue 19: the deposit body was */* (skipped by generators), downloads had no 200/206."""
    binary = {"type": "string", "format": "binary"}
    path = served_document["paths"]["/v1/datasets/{dataset_id}/versions"]["post"]
    body = path["requestBody"]["content"]
    for media_type in (
        "application/octet-stream",
        "text/csv",
        "application/x-ndjson",
        "application/vnd.apache.parquet",
    ):
        assert body[media_type]["schema"] == binary
    content = "/v1/datasets/{dataset_id}/versions/{number}/content"
    responses = served_document["paths"][content]["get"]["responses"]
    for status in ("200", "206"):
        assert responses[status]["content"]["application/octet-stream"]["schema"] == binary


def test_every_generated_module_imports(generated: ModuleType) -> None:
    """Issue 19: the token module raised NameError (Unset) on import."""
    root = Path(generated.__file__ or "").parent
    modules = sorted(
        ".".join(path.relative_to(root).with_suffix("").parts)
        for path in (root / "api").rglob("*.py")
        if path.name != "__init__.py"
    )
    assert "api.authentication.v1_auth_token_token" in modules
    for name in modules:
        _module(name)


def test_a_generated_client_gets_a_token_creates_deposits_and_downloads(
    generated: ModuleType, live_server: LiveServer, partner: Partner
) -> None:
    form = _module("models.v1_auth_token_token_client_credentials_form")
    grant = _module("models.v1_auth_token_token_client_credentials_form_grant_type")
    with generated.Client(base_url=live_server.url) as client:
        token = _module("api.authentication.v1_auth_token_token").sync(
            client=client,
            body=form.V1AuthTokenTokenClientCredentialsForm(
                grant_type=grant.V1AuthTokenTokenClientCredentialsFormGrantType.CLIENT_CREDENTIALS,
                client_id=partner.credential.key_id,
                client_secret=partner.credential.secret,
            ),
        )
    assert token.token_type == "Bearer", token
    download = _module("api.datasets.v1_datasets_dataset_id_versions_number_content_content")
    with generated.AuthenticatedClient(
        base_url=live_server.url, token=token.access_token
    ) as authed:
        create = _module("models.dataset_create").DatasetCreate(
            name="q3-sales", media_type="text/csv"
        )
        dataset = _module("api.datasets.v1_datasets_create").sync(client=authed, body=create)
        assert dataset.owner == partner.org, dataset
        upload = _module("types").File(payload=BytesIO(CSV), mime_type="text/csv")
        version = _module("api.datasets.v1_datasets_dataset_id_versions_deposit").sync(
            dataset.id, client=authed, body=upload
        )
        assert version.size == len(CSV) and version.version == 1, version
        assert version.media_type == "text/csv"  # octet-stream on the wire: the dataset's type
        assert download.sync(dataset.id, 1, client=authed).payload.read() == CSV
    with generated.AuthenticatedClient(
        base_url=live_server.url, token=token.access_token, headers={"Range": "bytes=0-5"}
    ) as ranged_client:
        ranged = download.sync_detailed(dataset.id, 1, client=ranged_client)
    assert ranged.status_code == 206 and ranged.parsed.payload.read() == CSV[:6]
