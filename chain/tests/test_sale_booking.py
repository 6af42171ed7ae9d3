"""Head office books the stores' sales, voids and returns into the index of the chain's recent sales, every return
against the sale it names whichever store took it, and raises an over-return case when a sale's returns at all
stores together exceed what it sold or follow its void. Events arrive through the sync API, as a push leaves them."""

import json
import uuid

import pytest
from django.test import Client

from branches.protocol import EventType
from branches.tests.factories import Events, branch_client, push
from chain.models import ChainReturn, ChainSale, ChainStockBatch, OverReturnCase
from chain.services import chain_stock_publish
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def stores(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    return {code: (branch_client(code)[0], Events(code)) for code in ("B001", "B002")}


def returned(stream: Events, sale: dict, *, sale_branch: str = "", **quantities) -> dict:
    payload = {
        "return_id": str(uuid.uuid4()),
        "sale_id": sale["payload"]["sale_id"],
        "lines": [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in quantities.items()],
        **({"sale_branch": sale_branch} if sale_branch else {}),
    }
    return stream.make(EventType.RETURN_COMPLETED, payload)


def deliver(stores: dict, code: str, *events: dict) -> None:
    client, _ = stores[code]
    answer = push(client, list(events), branch=code)
    assert answer.status_code == 200 and answer.json()["accepted"] == len(events), answer.content


def test_returns_at_two_stores_within_the_sale_are_booked_by_store_and_published(stores):
    b001, b002 = stores["B001"][1], stores["B002"][1]
    sale = b001.sale(LAC_LECHE_1L="5")
    deliver(stores, "B001", sale, returned(b001, sale, LAC_LECHE_1L="3"))
    deliver(stores, "B002", returned(b002, sale, sale_branch="B001", LAC_LECHE_1L="2"))

    chain_stock_publish()

    entry = ChainSale.objects.get(pk=sale["payload"]["sale_id"])
    assert entry.returned == {"B001": {"LAC-LECHE-1L": "3.000"}, "B002": {"LAC-LECHE-1L": "2.000"}}
    assert not OverReturnCase.objects.exists()
    published = json.loads(ChainStockBatch.objects.order_by("-id").first().sales)
    assert published[sale["payload"]["sale_id"]]["returned"] == entry.returned


def test_returns_at_two_stores_beyond_the_sale_raise_one_case_naming_both(stores):
    b001, b002 = stores["B001"][1], stores["B002"][1]
    sale = b001.sale(LAC_LECHE_1L="5")
    deliver(stores, "B001", sale, returned(b001, sale, LAC_LECHE_1L="4"))
    deliver(stores, "B002", returned(b002, sale, sale_branch="B001", LAC_LECHE_1L="2"))

    chain_stock_publish()
    chain_stock_publish()  # running again changes nothing

    case = OverReturnCase.objects.get()
    assert (case.sale_branch, case.sale_number, case.status, case.voided) == (
        "B001",
        sale["payload"]["number"],
        "open",
        False,
    )
    assert case.excess == {"LAC-LECHE-1L": "1.000"}
    assert case.branches == ["B001", "B002"]


def test_a_return_of_a_sale_head_office_does_not_hold_yet_waits_for_it(stores):
    b001, b002 = stores["B001"][1], stores["B002"][1]
    sale = b001.sale(LAC_LECHE_1L="1")
    deliver(stores, "B002", returned(b002, sale, sale_branch="B001", LAC_LECHE_1L="2"))

    chain_stock_publish()

    assert ChainReturn.objects.filter(sale_id=sale["payload"]["sale_id"]).count() == 1
    assert not OverReturnCase.objects.exists()  # nothing to judge it against yet

    deliver(stores, "B001", sale)
    chain_stock_publish()

    assert OverReturnCase.objects.get().excess == {"LAC-LECHE-1L": "1.000"}


def test_a_return_at_another_store_after_a_void_raises_a_case(stores):
    b001, b002 = stores["B001"][1], stores["B002"][1]
    sale = b001.sale(FRU_BANANA="1.5")
    deliver(stores, "B001", sale, b001.void(sale["payload"]["sale_id"]))
    deliver(stores, "B002", returned(b002, sale, sale_branch="B001", FRU_BANANA="0.5"))

    chain_stock_publish()

    case = OverReturnCase.objects.get()
    assert case.voided and case.excess == {"FRU-BANANA": "0.500"} and case.branches == ["B002"]
    assert ChainSale.objects.get(pk=sale["payload"]["sale_id"]).voided


def test_a_sale_older_than_the_index_window_is_not_indexed(stores, settings):
    settings.SALE_INDEX_DAYS = 1  # the stream's sales are dated 2026-11-28
    b001 = stores["B001"][1]
    deliver(stores, "B001", b001.sale(LAC_LECHE_1L="1"))

    chain_stock_publish()

    assert not ChainSale.objects.exists()


def test_the_dashboard_shows_an_open_over_return_case_and_a_manager_resolves_it(stores, manager):
    b001, b002 = stores["B001"][1], stores["B002"][1]
    sale = b001.sale(LAC_LECHE_1L="1")
    deliver(stores, "B001", sale, returned(b001, sale, LAC_LECHE_1L="1"))
    deliver(stores, "B002", returned(b002, sale, sale_branch="B001", LAC_LECHE_1L="1"))
    chain_stock_publish()
    case = OverReturnCase.objects.get()
    client = Client()
    client.force_login(manager)

    page = client.get("/dashboard/", {"branch": "B002"}).content.decode()
    assert f'id="over-return-{case.pk}"' in page and 'data-branches="B001 B002"' in page

    client.post(f"/dashboard/over-returns/{case.pk}/resolve", {"note": "refund taken back from the customer"})

    case.refresh_from_db()
    assert case.status == "resolved" and case.note.endswith("refund taken back from the customer")
    assert f'id="over-return-{case.pk}"' not in client.get("/dashboard/").content.decode()
