"""Every response carries a Content-Security-Policy that allows only this server; the API docs page gets what
Swagger UI needs and no more (its script is a file, not inline)."""

import re

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

POLICY = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"


@pytest.mark.parametrize("path", ["/login/", "/healthz", "/api/v1/sync/status", "/no-such-page/", "/admin/login/"])
def test_every_response_allows_only_this_server(client, path):
    response = client.get(path)

    assert response["Content-Security-Policy"] == POLICY == settings.CONTENT_SECURITY_POLICY


def test_api_docs_page_allows_swagger_ui_styles_and_icons_but_no_inline_script(client):
    response = client.get("/api/docs/")
    html = response.content.decode()

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == f"{POLICY}; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
    assert "script-src" not in response["Content-Security-Policy"]
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    script = re.search(r'<script src="([^"]*\?script=)"', html).group(1)
    assert client.get(script.replace("&amp;", "&")).status_code == 200


def test_pages_carry_no_inline_script(cashier, client):
    """What the policy would block: a page's only inline scripts are JSON data (json_script), never code."""
    client.force_login(cashier)
    page = "/pos/" if settings.IS_BRANCH else "/login/"
    html = client.get(page).content.decode()

    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert all('type="application/json"' in attributes for attributes in inline), inline
