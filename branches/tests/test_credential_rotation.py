"""A branch credential rotated at head office (the CLI or the branch's admin page) keeps the one it replaced working
for BRANCH_CREDENTIAL_GRACE_S, so a store is switched to the new one without its sync stopping; a revoke stops
both at once."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from branches.credentials import branch_credential_revoke, branch_register
from branches.models import Branch
from branches.tests.factories import Events, push
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def stream(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    return Events("B001")


def with_credential(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Branch {credential}")
    return client


def pushed(credential: str, stream: Events) -> int:
    return push(with_credential(credential), [stream.received(FRU_BANANA="1")]).status_code


def grace_ends(code: str = "B001") -> None:
    """The grace period is over: the time it ends is moved into the past, as the clock would."""
    Branch.objects.filter(code=code).update(previous_credential_valid_until=timezone.now() - timedelta(seconds=1))


def test_after_a_rotation_both_credentials_push_until_the_grace_period_ends(stream):
    _, old = branch_register(code="B001")
    _, new = branch_register(code="B001")

    assert (pushed(old, stream), pushed(new, stream)) == (200, 200)
    grace_ends()
    assert (pushed(old, stream), pushed(new, stream)) == (401, 200)


def test_the_grace_period_is_the_setting(stream, settings):
    settings.BRANCH_CREDENTIAL_GRACE_S = 3600
    _, old = branch_register(code="B001")
    before = timezone.now()

    branch, _ = branch_register(code="B001")

    assert before + timedelta(seconds=3600) <= branch.previous_credential_valid_until
    assert branch.previous_credential_valid_until <= timezone.now() + timedelta(seconds=3600)


def test_a_rotation_with_no_grace_stops_the_old_credential_at_once(stream):
    _, old = branch_register(code="B001")
    _, new = branch_register(code="B001", grace_s=0)

    assert (pushed(old, stream), pushed(new, stream)) == (401, 200)


def test_revoking_stops_the_current_and_the_replaced_credential_at_once(stream):
    _, old = branch_register(code="B001")
    _, new = branch_register(code="B001")

    branch_credential_revoke(code="B001")

    assert (pushed(old, stream), pushed(new, stream)) == (401, 401)


def test_a_second_rotation_ends_the_first_ones_grace(stream):
    _, first = branch_register(code="B001")
    _, second = branch_register(code="B001")
    _, third = branch_register(code="B001")

    assert [pushed(credential, stream) for credential in (first, second, third)] == [401, 200, 200]


def test_a_revoked_credential_does_not_come_back_in_grace_when_the_branch_is_registered_again(stream):
    _, old = branch_register(code="B001")
    branch_credential_revoke(code="B001")

    _, new = branch_register(code="B001")

    assert (pushed(old, stream), pushed(new, stream)) == (401, 200)


def test_the_old_credential_speaks_only_for_its_own_branch(stream):
    _, old = branch_register(code="B001")
    branch_register(code="B001")
    branch_register(code="B002")

    answer = push(with_credential(old), [Events("B002").received(FRU_BANANA="1")], branch="B002")

    assert answer.status_code == 403


def test_the_command_rotates_with_the_grace_period_and_says_until_when(stream):
    _, old = branch_register(code="B001")
    out = io.StringIO()

    call_command("register_branch", "B001", stdout=out)

    new = re.search(r"credential: (\S+)", out.getvalue()).group(1)
    assert "the previous credential works until" in out.getvalue()
    assert (pushed(old, stream), pushed(new, stream)) == (200, 200)


def test_the_command_with_no_grace_and_the_revoke_stop_at_once(stream):
    _, old = branch_register(code="B001")
    out = io.StringIO()

    call_command("register_branch", "B001", "--grace-s", "0", stdout=out)
    new = re.search(r"credential: (\S+)", out.getvalue()).group(1)
    assert pushed(old, stream) == 401
    call_command("register_branch", "B001", "--revoke", stdout=out)
    assert pushed(new, stream) == 401


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "secret-pass-1"))
    return client


def test_the_admin_rotates_shows_the_new_credential_once_and_the_old_one_keeps_working(stream, admin_client):
    _, old = branch_register(code="B001")

    page = admin_client.post(
        "/admin/branches/branch/", {"action": "credential_rotate", "_selected_action": ["B001"]}
    ).content.decode()

    new = re.search(r"<code>(ecb_[^<]+)</code>", page).group(1)
    assert (pushed(old, stream), pushed(new, stream)) == (200, 200)
    assert new not in admin_client.get("/admin/branches/branch/B001/change/").content.decode()
    grace_ends()
    assert pushed(old, stream) == 401


def test_the_admin_revokes_at_once(stream, admin_client):
    _, old = branch_register(code="B001")
    _, new = branch_register(code="B001")

    answer = admin_client.post("/admin/branches/branch/", {"action": "credential_revoke", "_selected_action": ["B001"]})

    assert answer.status_code == 302
    assert (pushed(old, stream), pushed(new, stream)) == (401, 401)
