"""The API's documentation pages work without internet: every asset comes from the server.

Issue 19: Swagger UI at /schema/swagger was a blank page offline (its assets came from a
CDN), and README called ``GET /schema`` the OpenAPI document while it answered HTML.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.fixtures.live import LiveServer

_REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_EXTERNAL = re.compile(r"(?i)(?:https?:)?//")


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
def test_swagger_ui_names_no_other_host_and_its_assets_are_served(
    live_server: LiveServer, path: str
) -> None:
    page = httpx.get(live_server.url + path, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    references = _REFERENCES.findall(page.text)
    assert len(references) >= 4  # the icon, the stylesheet and two scripts
    assert not [ref for ref in references if _EXTERNAL.match(ref)]
    head = page.text.split("<body", 1)[0]
    assert not _EXTERNAL.search(head.replace("http-equiv", "")), head
    for reference in references:
        asset = httpx.get(live_server.url + reference, timeout=10)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 0


def test_the_openapi_document_is_json_at_openapi_json(live_server: LiveServer) -> None:
    document = httpx.get(f"{live_server.url}/schema/openapi.json", timeout=10)
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.1")
    yaml = httpx.get(f"{live_server.url}/schema/openapi.yaml", timeout=10)
    assert yaml.status_code == 200 and "\nopenapi: 3.1" in yaml.text


@pytest.mark.parametrize("path", ["/schema/redoc", "/schema/elements", "/schema/rapidoc"])
def test_renderers_that_load_from_a_cdn_are_not_offered(live_server: LiveServer, path: str) -> None:
    assert httpx.get(live_server.url + path, timeout=10).status_code == 404
