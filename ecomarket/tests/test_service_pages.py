"""What both modes serve: health, the OpenAPI schema and its docs, the admin."""

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_healthz_reports_mode_and_database(anonymous_client):
    response = anonymous_client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["mode"] == settings.ECOMARKET_MODE
    assert response.json()["database"] == "ok"


def test_openapi_schema_lists_this_modes_routes(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    if settings.IS_BRANCH:
        assert {"/api/v1/sales", "/api/v1/stock", "/api/v1/stock/{sku}"} <= set(paths)
        assert "/api/v1/inventory" not in paths
    else:
        assert "/api/v1/inventory" in paths
        assert "/api/v1/sales" not in paths


def test_api_docs_page_is_served_without_a_cdn(anonymous_client):
    response = anonymous_client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html


def test_admin_login_page_is_served(anonymous_client):
    assert anonymous_client.get("/admin/login/").status_code == 200


def test_admin_asks_anonymous_users_to_log_in(anonymous_client):
    response = anonymous_client.get("/admin/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
