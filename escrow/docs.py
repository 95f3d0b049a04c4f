"""The API's own documentation pages, served from assets installed with the service.

Swagger UI comes from the ``swagger-ui-bundle-v2`` wheel (Apache-2.0, its LICENSE in the
wheel), served under ``/schema/swagger/assets``, so the pages work on a network without
internet: no page names another host. ``GET /schema`` is Swagger UI; the document itself is
``/schema/openapi.json`` (and ``.yaml``). litestar's other renderers load from a CDN, so
they are not offered.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/swagger/assets"
# Shipped by the wheel, read from disk: the served pages depend on nothing else.
ASSET_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
)


def render_plugins() -> Sequence[OpenAPIRenderPlugin]:
    """Swagger UI at ``/schema`` and ``/schema/swagger``; the document as JSON and YAML."""
    swagger = SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    return [swagger, JsonRenderPlugin(), YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"])]


def swagger_assets() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[str(swagger_ui_path)],
        include_in_schema=False,
        name="swagger-assets",
    )
