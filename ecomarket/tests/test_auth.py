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


def _token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_an_expired_token_is_refused(cashier, shelf):
    from datetime import timedelta

    from django.utils import timezone

    from ecomarket.models import StaffToken

    client = _token_client(cashier.token)
    assert client.get("/api/v1/stock").status_code == 200
    StaffToken.objects.filter(user=cashier).update(expires_at=timezone.now() - timedelta(seconds=1))

    refused = client.get("/api/v1/stock")

    assert (refused.status_code, refused.json()["code"]) == (401, "authentication_failed")


def test_a_token_issued_with_a_maximum_age_works_until_then(settings, shelf):
    from datetime import timedelta

    from django.utils import timezone

    from ecomarket.models import StaffToken
    from ecomarket.roles import Role, staff_user_create

    settings.STAFF_TOKEN_MAX_AGE_DAYS = 90
    user, token = staff_user_create(username="temporal", role=Role.CASHIER)

    expires_at = StaffToken.objects.get(user=user).expires_at
    assert timedelta(days=89) < expires_at - timezone.now() <= timedelta(days=90)
    assert _token_client(token).get("/api/v1/stock").status_code == 200


def test_tokens_last_until_rotated_unless_a_maximum_age_is_set(cashier):
    from ecomarket.models import StaffToken

    assert StaffToken.objects.get(user=cashier).expires_at is None


@pytest.fixture
def superuser_client(db, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "a-long-pass-1"))
    return client


def test_admin_issues_a_new_token_shown_once_and_the_old_one_stops_working(superuser_client, cashier, shelf):
    answered = superuser_client.post(
        "/admin/auth/user/", {"action": "api_token_rotate", "_selected_action": [cashier.pk]}
    )

    page = answered.content.decode()
    new = re.search(r"<code>([0-9a-f]{40})</code>", page).group(1)
    assert new != cashier.token
    assert _token_client(cashier.token).get("/api/v1/stock").status_code == 401
    assert _token_client(new).get("/api/v1/stock").status_code == 200
    assert "no-store" in answered["Cache-Control"]


def test_admin_revokes_a_token(superuser_client, cashier, shelf):
    superuser_client.post("/admin/auth/user/", {"action": "api_token_revoke", "_selected_action": [cashier.pk]})

    assert _token_client(cashier.token).get("/api/v1/stock").status_code == 401


def test_the_user_admin_shows_when_a_token_was_issued_never_its_hash(superuser_client, cashier):
    from ecomarket.models import StaffToken

    stored = StaffToken.objects.get(user=cashier).key_hash

    pages = [
        superuser_client.get("/admin/auth/user/").content.decode(),
        superuser_client.get(f"/admin/auth/user/{cashier.pk}/change/").content.decode(),
    ]

    assert all(stored not in page and cashier.token not in page for page in pages)
    assert "valid until rotated or revoked" in pages[1]
