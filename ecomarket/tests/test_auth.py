import re
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def test_no_token_is_401_with_a_json_error(anonymous_client, shelf):
    response = anonymous_client.post(
        "/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "1"}]}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Token")


def test_wrong_token_is_401(shelf):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/v1/stock")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_user_without_a_role_is_403(shelf, django_user_model):
    user = django_user_model.objects.create(username="visitor")
    client = APIClient()
    client.force_authenticate(user)

    assert client.get("/api/v1/stock").status_code == 403


def test_create_staff_prints_a_working_token_once_and_is_safe_to_rerun(shelf):
    out = StringIO()
    call_command("create_staff", "lucia", "--role", "manager", stdout=out)
    call_command("create_staff", "lucia", "--role", "manager", stdout=out)
    tokens = re.findall(r"token: ([0-9a-f]{40})", out.getvalue())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[0]}")

    assert len(tokens) == 1  # the second run keeps the token and cannot show it: only its hash is stored
    assert "token: unchanged" in out.getvalue()
    assert client.get("/api/v1/stock").status_code == 200
    sale = client.post("/api/v1/sales", {"lines": [{"sku": "FRU-BANANA", "quantity": "1"}]}, format="json").json()
    assert client.post(f"/api/v1/sales/{sale['id']}/void", {}, format="json").status_code == 200


def test_manager_can_log_into_branch_admin_and_see_sales_read_only(shelf, client):
    call_command("create_staff", "gerente", "--role", "manager", "--password", "s3cret-pass", stdout=StringIO())

    assert client.login(username="gerente", password="s3cret-pass")
    assert client.get("/admin/inventory/sale/").status_code == 200
    assert client.get("/admin/inventory/sale/add/").status_code == 403
    assert client.get("/admin/branches/outboxevent/").status_code == 200


def test_cashier_cannot_use_admin(shelf, client):
    call_command("create_staff", "caja", "--role", "cashier", "--password", "s3cret-pass", stdout=StringIO())

    client.login(username="caja", password="s3cret-pass")

    assert client.get("/admin/inventory/sale/").status_code == 302


def test_rotating_a_token_retires_the_old_one(shelf):
    out = StringIO()
    call_command("create_staff", "rosa", "--role", "cashier", stdout=out)
    call_command("create_staff", "rosa", "--role", "cashier", "--rotate-token", stdout=out)
    old, new = re.findall(r"token: ([0-9a-f]{40})", out.getvalue())
    clients = {}
    for name, token in (("old", old), ("new", new)):
        clients[name] = APIClient()
        clients[name].credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert clients["old"].get("/api/v1/stock").status_code == 401
    assert clients["new"].get("/api/v1/stock").status_code == 200


def test_staff_tokens_are_stored_only_as_hashes(cashier):
    from ecomarket.models import StaffToken

    stored = StaffToken.objects.get(user=cashier)

    assert stored.key_hash != cashier.token and len(stored.key_hash) == 64
