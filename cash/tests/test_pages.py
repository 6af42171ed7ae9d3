"""The cash drawer's staff pages: open a session, move cash, close blind, read the Z laid out for an 80 mm printer."""

import pytest
from django.test import Client

from cash.models import CashSession, Register

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def _page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_cashier_opens_moves_and_closes_blind_and_gets_the_z(shelf, cashier, manager):
    Register.objects.create(code="T1", name="Caja 1")
    page = _page_client(cashier)

    home = page.get("/cash/")
    assert home.status_code == 200 and b"T1" in home.content
    opened = page.post("/cash/", {"id": "", "register": "T1", "opening_float": "100,00"})
    session = CashSession.objects.get()
    assert opened.status_code == 302 and opened["Location"] == f"/cash/sessions/{session.id}/"
    page.post(
        f"/cash/sessions/{session.id}/", {"action": "move", "kind": "out", "amount": "30", "reason": "caja fuerte"}
    )

    form = page.get(f"/cash/sessions/{session.id}/")
    assert b"close-form" in form.content
    assert b"x-report" not in form.content and b"70.00" not in form.content  # blind: nothing says what to expect
    assert b"x-report" in _page_client(manager).get(f"/cash/sessions/{session.id}/").content

    closed = page.post(f"/cash/sessions/{session.id}/", {"action": "close", "counted": "69"})
    assert closed["Location"] == f"/cash/sessions/{session.id}/z/"
    z = page.get(closed["Location"])
    assert b"z-report" in z.content and b'id="z-variance">$ -1,00<' in z.content
