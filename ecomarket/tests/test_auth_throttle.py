"""Throttling never locks out a valid caller: failing API credentials are counted per (client
address behind TRUSTED_PROXY_COUNT proxies, credential), login forms per (username, address) with django-axes, and
web passwords are validated."""

import uuid
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from rest_framework.test import APIClient

from harness.devrun import web_password

BAD_ATTEMPTS = 50
LOAD_BALANCER = "127.0.0.9"  # every request reaches the servers from the balancer's address


def _bad_attempts(path: str, header: str, **extra) -> list[int]:
    client = APIClient(REMOTE_ADDR=LOAD_BALANCER)
    client.credentials(HTTP_AUTHORIZATION=header)
    return [client.get(path, **extra).status_code for _ in range(BAD_ATTEMPTS)]


def _expect_throttled(statuses: list[int]) -> None:
    from django.conf import settings

    limit = settings.AUTH_FAILURE_LIMIT
    assert statuses == [401] * limit + [429] * (BAD_ATTEMPTS - limit)


@pytest.mark.mode("branch")
def test_a_valid_pos_sale_goes_through_after_50_bad_attempts_from_the_same_address(shelf, cashier):
    _expect_throttled(_bad_attempts("/api/v1/stock", "Token not-a-real-token"))
    till = APIClient(REMOTE_ADDR=LOAD_BALANCER)
    till.credentials(HTTP_AUTHORIZATION=f"Token {cashier.token}")

    response = till.post("/api/v1/sales", {"lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}, format="json")

    assert response.status_code == 201


@pytest.mark.mode("central")
def test_a_valid_branch_push_goes_through_after_50_bad_attempts_from_the_same_address(db):
    from branches.credentials import branch_register
    from branches.models import Branch
    from inventory.tests.factories import product_make

    product_make(sku="FRU-BANANA", price="1.80")
    credential = branch_register(code="B001")[1]
    branch_register(code="B002")  # a branch whose stale credential keeps failing behind the same balancer
    _expect_throttled(_bad_attempts("/api/v1/sync/changes", "Branch ecb_rotated-away"))
    branch = APIClient(REMOTE_ADDR=LOAD_BALANCER)
    branch.credentials(HTTP_AUTHORIZATION=f"Branch {credential}")
    event = {
        "id": str(uuid.uuid4()),
        "branch": "B001",
        "seq": 1,
        "type": "stock.received",
        "occurred_at": datetime.now(UTC).isoformat(),
        "schema": 1,
        "payload": {"transfer_id": None, "lines": [{"sku": "FRU-BANANA", "quantity": "1.000"}]},
    }

    response = branch.post("/api/v1/sync/events", {"branch": "B001", "events": [event]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert Branch.objects.get(code="B001").high_water_seq == 1


@override_settings(TRUSTED_PROXY_COUNT=1, AUTH_FAILURE_LIMIT=3)
def test_behind_a_proxy_failures_count_per_forwarded_client_not_per_proxy(db):
    path = "/api/v1/stock" if _is_branch() else "/api/v1/inventory"
    client = APIClient(REMOTE_ADDR=LOAD_BALANCER)
    client.credentials(HTTP_AUTHORIZATION="Token same-wrong-token")

    # What a client writes on the left of X-Forwarded-For is not trusted: these are all 203.0.113.7.
    first = [client.get(path, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7").status_code for n in range(5)]
    other_client = client.get(path, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code

    assert first == [401, 401, 401, 429, 429]
    assert other_client == 401


@override_settings(AUTH_FAILURE_LIMIT=3)
def test_without_trusted_proxies_forwarded_for_is_ignored(db):
    path = "/api/v1/stock" if _is_branch() else "/api/v1/inventory"
    client = APIClient(REMOTE_ADDR="127.0.0.5")
    client.credentials(HTTP_AUTHORIZATION="Token same-wrong-token")

    statuses = [client.get(path, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)]

    assert statuses == [401, 401, 401, 429, 429]


# --------------------------------------------------------------------------------------------------------------
# Login forms (django-axes): per (username, address)
# --------------------------------------------------------------------------------------------------------------

PASSWORD = "una-clave-de-prueba"


@pytest.fixture
def staff_logins(db):
    for name in ("lucia", "pedro"):
        call_command("create_staff", name, "--role", "manager", "--password", PASSWORD, stdout=StringIO())


def _login(path: str, username: str, password: str, address: str = "127.0.0.1"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_a_login_form_locks_one_user_at_one_address_after_repeated_failures(staff_logins, path):
    from django.conf import settings

    failures = [_login(path, "lucia", f"wrong-{n}").status_code for n in range(settings.LOGIN_FAILURE_LIMIT)]
    locked = _login(path, "lucia", PASSWORD)

    assert 429 not in failures[:-1]
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(settings.LOGIN_COOLOFF_S)
    assert "lucia" in locked.content.decode()  # the login form again, saying why
    assert _login(path, "pedro", PASSWORD).status_code == 302  # another user at the same address
    assert _login(path, "lucia", PASSWORD, address="127.0.0.2").status_code == 302  # the same user elsewhere


def test_a_successful_login_clears_earlier_failures(staff_logins):
    from django.conf import settings

    for round_ in range(2):
        for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
            assert _login("/login/", "lucia", f"wrong-{round_}-{n}").status_code == 200
        assert _login("/login/", "lucia", PASSWORD).status_code == 302


# --------------------------------------------------------------------------------------------------------------
# Passwords
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short1", "password123", "12345678901", "ana-maria-1"])
def test_create_staff_refuses_a_weak_password_and_creates_nobody(db, password):
    with pytest.raises(CommandError, match="password refused"):
        call_command("create_staff", "ana-maria", "--role", "cashier", "--password", password, stdout=StringIO())

    assert not get_user_model().objects.filter(username="ana-maria").exists()


@pytest.mark.parametrize("username", ["admin", "gerente", "caja1"])
def test_make_run_passwords_pass_the_validators(db, username):
    user = get_user_model()(username=username)

    for _ in range(20):
        validate_password(web_password(), user)  # raises on a refusal


def _is_branch() -> bool:
    from django.conf import settings

    return settings.IS_BRANCH
