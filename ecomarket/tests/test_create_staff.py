"""create_staff as the install runs it: the first users of a store and of head office log in with what it printed."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def _create_staff(*args: str) -> str:
    out = StringIO()
    call_command("create_staff", *args, stdout=out)
    return out.getvalue()


def test_a_new_user_without_a_password_gets_one_printed_once_that_logs_in(client):
    first = _create_staff("caja1", "--role", "cashier")
    again = _create_staff("caja1", "--role", "cashier")
    (password,) = re.findall(r"^password: (\S+)$", first, re.MULTILINE)

    assert "password:" not in again  # the second run keeps it, and cannot show it: only a hash is stored
    assert client.login(username="caja1", password=password)
    assert client.get("/pos/").status_code == 200


def test_a_password_given_is_the_one_set_and_never_printed(client):
    output = _create_staff("gerente", "--role", "manager", "--password", "un-gerente-de-prueba")

    assert "password:" not in output
    assert client.login(username="gerente", password="un-gerente-de-prueba")


def test_no_password_makes_a_token_only_user(django_user_model):
    output = _create_staff("lector", "--role", "cashier", "--no-password")

    assert "password:" not in output and re.search(r"^token: \S+$", output, re.MULTILINE)
    assert not django_user_model.objects.get(username="lector").has_usable_password()


def test_password_and_no_password_exclude_each_other(django_user_model):
    with pytest.raises(CommandError):
        _create_staff("lector", "--role", "cashier", "--no-password", "--password", "un-gerente-de-prueba")
    assert not django_user_model.objects.filter(username="lector").exists()
