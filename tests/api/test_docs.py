"""The OpenAPI schema and the docs pages: stable URLs, served without any CDN."""
import re

import pytest

pytestmark = pytest.mark.django_db


def test_schema_is_openapi_3_at_a_stable_url(client):
    response = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/environments/", "/api/v1/runs/{id}/events/", "/api/v1/runs/{id}/events/stream/",
            "/api/v1/templates/{id}/share/", "/api/v1/role-bindings/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    create = schema["paths"]["/api/v1/environments/"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409"} <= set(create)


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_their_assets_locally(client, url):
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn." not in html and "unpkg" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, "the page uses vendored static files"
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        b"".join(response.streaming_content) if response.streaming else response.content
