"""A staff token is looked up once per process and kept; any change to it, to its user's standing or to their roles,
made by this process or by any other connection to the database, is seen on the very next request
(ecomarket/generations.py)."""

import sqlite3
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecomarket import auth
from ecomarket.auth import staff_token_revoke
from ecomarket.models import StaffToken
from ecomarket.roles import Role, staff_user_create

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db(transaction=True)]

STOCK = "/api/v1/stock/LAC-LECHE-1L"


def _token_reads(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(STOCK).status_code == 200
    return sum("ecomarket_stafftoken" in query["sql"] for query in captured.captured_queries)


def test_a_token_is_read_from_the_database_once_then_kept(shelf, cashier_client):
    assert [_token_reads(cashier_client) for _ in range(3)] == [1, 0, 0]


def test_a_revoked_token_is_refused_on_the_next_request(shelf, cashier, cashier_client):
    assert cashier_client.get(STOCK).status_code == 200

    staff_token_revoke(user=cashier)

    assert cashier_client.get(STOCK).status_code == 401


def test_a_token_deleted_by_another_connection_is_refused_on_the_next_request(shelf, cashier_client):
    assert cashier_client.get(STOCK).status_code == 200
    other = sqlite3.connect(settings.DATABASES["default"]["NAME"])
    try:
        with other:
            other.execute("DELETE FROM ecomarket_stafftoken")
    finally:
        other.close()

    assert cashier_client.get(STOCK).status_code == 401


def test_a_deactivated_user_is_refused_on_the_next_request(shelf, cashier, cashier_client):
    assert cashier_client.get(STOCK).status_code == 200

    cashier.is_active = False
    cashier.save(update_fields=["is_active"])

    assert cashier_client.get(STOCK).status_code == 401


def test_a_role_taken_away_is_refused_on_the_next_request(shelf, cashier, cashier_client):
    assert cashier_client.get(STOCK).status_code == 200

    cashier.groups.clear()

    assert cashier_client.get(STOCK).status_code == 403


def test_a_kept_token_stops_at_its_expiry_by_the_clock(shelf, monkeypatch, client):
    user, token = staff_user_create(username="temporal", role=Role.CASHIER)
    expiry = timezone.now() + timedelta(hours=1)
    StaffToken.objects.filter(user=user).update(expires_at=expiry)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token}"
    assert client.get(STOCK).status_code == 200

    monkeypatch.setattr(auth.timezone, "now", lambda: expiry)

    assert _token_reads_refused(client) == (401, 0)


def _token_reads_refused(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        status = client.get(STOCK).status_code
    return status, sum("ecomarket_stafftoken" in query["sql"] for query in captured.captured_queries)
