"""A store receives a transfer short or damaged (the page and the API, the same rule), and the till shows the
quick keys head office laid out, kept from the change feed."""

import uuid
from decimal import Decimal

import pytest

from branches.change_apply import change_apply
from branches.models import IncomingTransfer, OutboxEvent
from inventory.models import QuickKey
from inventory.tests.test_pages import messages_of, page_client
from inventory.tests.test_sales_api import on_hand

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


@pytest.fixture
def transfer(shelf):
    """24 litres of milk and 6 kg of bananas on their way from head office."""
    return IncomingTransfer.objects.create(
        id=uuid.uuid4(),
        lines=[{"sku": "LAC-LECHE-1L", "quantity": "24"}, {"sku": "FRU-BANANA", "quantity": "6"}],
        sent_at="2026-11-28T10:00:00Z",
    )


def test_a_transfer_received_short_and_damaged_stocks_what_arrived_and_tells_head_office(cashier, transfer):
    page = page_client(cashier)
    form = {
        "id": str(uuid.uuid4()),
        "transfer_id": str(transfer.pk),
        "differences": "1",
        "good-LAC-LECHE-1L": "20",
        "damaged-LAC-LECHE-1L": "1",
        "good-FRU-BANANA": "6",
        "damaged-FRU-BANANA": "0",
    }

    page.post("/stock/receive/", form)

    assert on_hand("LAC-LECHE-1L") == Decimal("25") and on_hand("FRU-BANANA") == Decimal("16")
    transfer.refresh_from_db()
    assert transfer.state == IncomingTransfer.State.RECEIVED
    event = OutboxEvent.objects.filter(type="stock.received").latest("seq")
    assert event.payload["lines"] == [
        {"sku": "LAC-LECHE-1L", "quantity": "20.000"},
        {"sku": "FRU-BANANA", "quantity": "6.000"},
    ]
    assert event.payload["differences"] == [{"sku": "LAC-LECHE-1L", "short": "3.000", "damaged": "1.000"}]


def test_more_arrived_than_was_sent_is_refused_naming_the_product(cashier, transfer):
    page = page_client(cashier)
    form = {"id": str(uuid.uuid4()), "transfer_id": str(transfer.pk), "differences": "1", "good-FRU-BANANA": "6,5"}

    response = page.post("/stock/receive/", form)

    assert any("Banana" in message and "6" in message for message in messages_of(response))
    transfer.refresh_from_db()
    assert transfer.state == IncomingTransfer.State.IN_TRANSIT and on_hand("FRU-BANANA") == Decimal("10")


def test_the_api_refuses_differences_that_do_not_account_for_what_was_sent(cashier_client, transfer):
    body = {
        "transfer_id": str(transfer.pk),
        "lines": [{"sku": "LAC-LECHE-1L", "quantity": "20"}, {"sku": "FRU-BANANA", "quantity": "6"}],
        "differences": [{"sku": "LAC-LECHE-1L", "short": "1"}],
    }

    answer = cashier_client.post("/api/v1/stock/receipts", body, format="json")
    body["differences"][0]["short"] = "4"
    accepted = cashier_client.post("/api/v1/stock/receipts", body, format="json")

    assert (answer.status_code, answer.json()["code"]) == (409, "transfer_lines_mismatch")
    assert accepted.status_code == 201, accepted.content
    assert on_hand("LAC-LECHE-1L") == Decimal("25")


def test_the_till_shows_the_quick_keys_of_its_branch_or_else_the_chains(cashier, shelf):
    change_apply({"id": 1, "kind": "quick_keys", "payload": {"branch": "", "skus": ["FRU-BANANA", "LAC-LECHE-1L"]}})
    till = page_client(cashier).get("/pos/").content.decode()
    keys = till[till.index('id="quick-keys"') :]
    assert keys.index('data-sku="FRU-BANANA"') < keys.index('data-sku="LAC-LECHE-1L"')
    assert "Banana" in keys

    change_apply({"id": 2, "kind": "quick_keys", "payload": {"branch": "B001", "skus": ["LAC-LECHE-1L"]}})
    change_apply({"id": 3, "kind": "quick_keys", "payload": {"branch": "B001", "skus": ["LAC-LECHE-1L"]}})  # again
    till = page_client(cashier).get("/pos/").content.decode()
    keys = till[till.index('id="quick-keys"') : till.index("</div>", till.index('id="quick-keys"'))]
    assert 'data-sku="LAC-LECHE-1L"' in keys and "FRU-BANANA" not in keys
    assert QuickKey.objects.filter(branch="B001").count() == 1


def test_quick_keys_naming_a_product_the_store_lacks_fail_and_change_nothing(shelf):
    with pytest.raises(Exception, match="NO-EXISTE"):
        change_apply({"id": 1, "kind": "quick_keys", "payload": {"branch": "", "skus": ["FRU-BANANA", "NO-EXISTE"]}})

    assert not QuickKey.objects.exists()
