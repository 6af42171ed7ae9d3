"""A branch takes back another store's sale from its index of the chain's recent sales, never asking head office:
by the sale's id or by its printed number and store, through the API and the staff's sales pages. The goods come
back into this store's stock; the return event names the sale's store."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from branches.models import OutboxEvent
from branches.protocol import EventType
from chain.models import ChainBranchName, ChainSale
from chain.sale_index import sale_index_prune
from inventory.models import StockLevel

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]

NORTE = "B902"


def indexed(*, returned=None, voided=False, days_ago=3) -> ChainSale:
    """A sale of Sucursal Norte as a pull leaves it in the index: 4 milk at 1.25, 1.5 kg bananas."""
    ChainBranchName.objects.get_or_create(code=NORTE, defaults={"name": "Sucursal Norte"})
    return ChainSale.objects.create(
        id=uuid.uuid4(),
        branch=NORTE,
        number=41,
        sold_at=timezone.now() - timedelta(days=days_ago),
        lines=[["LAC-LECHE-1L", "4.000", "1.25", "5.00"], ["FRU-BANANA", "1.500", "1.80", "2.70"]],
        returned=returned or {},
        voided=voided,
    )


def take_back(client, body: dict):
    return client.post("/api/v1/returns", body, format="json")


def on_hand(sku: str) -> Decimal:
    return StockLevel.objects.get(product_id=sku).on_hand


def test_another_stores_sale_comes_back_by_number_into_this_stores_stock(shelf, cashier_client, settings):
    settings.CENTRAL_URL = "http://127.0.0.1:9"  # nothing listens: head office is never asked
    sale = indexed()
    before = on_hand("LAC-LECHE-1L")

    answer = take_back(
        cashier_client, {"sale_number": 41, "sale_branch": NORTE, "lines": [{"sku": "LAC-LECHE-1L", "quantity": "3"}]}
    )

    assert answer.status_code == 201, answer.content
    assert answer.json()["sale_id"] == str(sale.id) and answer.json()["sale_branch"] == NORTE
    assert on_hand("LAC-LECHE-1L") == before + 3
    event = OutboxEvent.objects.filter(type=EventType.RETURN_COMPLETED).get()
    assert event.payload["sale_id"] == str(sale.id) and event.payload["sale_branch"] == NORTE
    assert event.payload["lines"] == [{"sku": "LAC-LECHE-1L", "quantity": "3.000", "line_total": "3.75"}]


def test_what_this_and_other_stores_took_back_counts_against_the_sale(shelf, cashier_client):
    sale = indexed(returned={"B903": {"LAC-LECHE-1L": "1.000"}})
    first = take_back(cashier_client, {"sale_id": str(sale.id), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}]})
    assert first.status_code == 201

    again = take_back(cashier_client, {"sale_id": str(sale.id), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}]})

    assert again.status_code == 409 and again.json()["code"] == "return_exceeds_sale"
    assert again.json()["returnable"] == "1.000"


def test_a_sale_head_office_says_was_voided_takes_no_return(shelf, cashier_client):
    sale = indexed(voided=True)

    answer = take_back(cashier_client, {"sale_id": str(sale.id), "lines": [{"sku": "FRU-BANANA", "quantity": "1"}]})

    assert answer.status_code == 409 and answer.json()["code"] == "sale_voided"


def test_a_sale_neither_here_nor_in_the_index_is_unknown(shelf, cashier_client):
    answer = take_back(
        cashier_client, {"sale_number": 99, "sale_branch": NORTE, "lines": [{"sku": "FRU-BANANA", "quantity": "1"}]}
    )

    assert answer.status_code == 400 and answer.json()["code"] == "unknown_sale"


def test_sales_older_than_the_window_leave_the_index(shelf, settings):
    settings.SALE_INDEX_DAYS = 2
    indexed(days_ago=3)

    assert sale_index_prune(now=timezone.now()) == 1
    assert not ChainSale.objects.exists()


def test_the_sales_page_finds_another_stores_sale_by_number_and_takes_it_back(shelf, cashier):
    sale = indexed()
    client = Client()
    client.force_login(cashier)

    found = client.get("/sales/", {"number": "41", "branch": NORTE})
    assert found.status_code == 302 and found["Location"] == f"/sales/{NORTE}/41/"
    page = client.get(found["Location"]).content.decode()
    assert "Sucursal Norte" in page and 'name="return-FRU-BANANA"' in page

    taken = client.post(found["Location"], {"id": str(uuid.uuid4()), "return-FRU-BANANA": "0,5"})

    assert taken.status_code == 302 and "/slip/" in taken["Location"]
    assert client.get(taken["Location"]).status_code == 200
    page = client.get(found["Location"]).content.decode()
    assert 'data-sku="FRU-BANANA"' in page and "0,5" in page.split('data-sku="FRU-BANANA"')[1].split("</tr>")[0]
    assert str(sale.id) == str(OutboxEvent.objects.get(type=EventType.RETURN_COMPLETED).payload["sale_id"])


def test_the_sales_page_says_when_another_stores_number_is_not_in_the_index(shelf, cashier):
    indexed()
    client = Client()
    client.force_login(cashier)

    answer = client.get("/sales/", {"number": "7", "branch": NORTE}, follow=True)

    assert "7" in answer.content.decode() and answer.redirect_chain == []
    assert 'id="sale-branch"' in answer.content.decode()


def test_this_stores_own_returns_head_office_booked_count_even_without_a_record_here(shelf, cashier_client, settings):
    """A box restored from head office replays a return of another store's sale without its record here."""
    sale = indexed(returned={settings.BRANCH_CODE: {"LAC-LECHE-1L": "3.000"}})

    answer = take_back(cashier_client, {"sale_id": str(sale.id), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "2"}]})

    assert answer.status_code == 409 and answer.json()["returnable"] == "1.000"
