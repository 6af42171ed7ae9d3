"""Head office's transfers page (send, follow, what came short or damaged, also on the dashboard), the tills'
quick keys laid out at head office and announced in the change feed, and the oversell action as one choice."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from branches.change_feed import transfer_create
from branches.models import Change, ChangeKind, Transfer
from branches.tests.factories import branch_client
from inventory.models import QuickKey, Unit
from inventory.tests.factories import product_make
from reconciliation.models import OversellCase

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def shop(db, manager, client):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT, name="Leche entera 1 L")
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM, name="Banana")
    product_make(sku="VER-TOMATE", unit=Unit.KILOGRAM, name="Tomate redondo")
    branch_client("B001")
    branch_client("B002")
    client.force_login(manager)
    return client


def test_a_manager_sends_a_transfer_from_the_page_and_finds_it_on_its_way(shop):
    answer = shop.post(
        "/transfers/",
        {
            "to_branch": "B002",
            "from_branch": "B001",
            "note": "para el fin de semana",
            "sku": ["FRU-BANANA", "LAC-LECHE-1L", ""],
            "quantity": ["12,5", "6", ""],
        },
        follow=True,
    )

    [transfer] = Transfer.objects.all()
    assert (transfer.to_branch_id, transfer.from_branch_id, transfer.created_by) == ("B002", "B001", "mario")
    assert transfer.lines == [{"sku": "FRU-BANANA", "quantity": "12.500"}, {"sku": "LAC-LECHE-1L", "quantity": "6.000"}]
    assert Change.objects.filter(kind=ChangeKind.TRANSFER, branch="B002").count() == 1
    page = answer.content.decode()
    assert "Transferencia enviada a B002" in page
    assert f'id="transfer-{transfer.pk}"' in page and "Banana" in page and "en camino" in page


def test_a_refused_transfer_says_why_and_sends_nothing(shop):
    answer = shop.post("/transfers/", {"to_branch": "B001", "sku": ["NO-EXISTE"], "quantity": ["1"]}, follow=True)

    assert Transfer.objects.count() == 0
    assert "NO-EXISTE" in answer.content.decode()


def test_what_a_branch_received_short_or_damaged_shows_on_the_transfers_page_and_the_dashboard(shop):
    _, branch = branch_client("B001")
    with transaction.atomic():
        transfer = transfer_create(to_branch=branch, lines=[("LAC-LECHE-1L", Decimal("6"))])
    Transfer.objects.filter(pk=transfer.pk).update(
        state="received",
        received_at=timezone.now(),
        differences=[{"sku": "LAC-LECHE-1L", "short": "1.000", "damaged": "2.000"}],
    )

    for path in ("/transfers/", "/dashboard/"):
        page = shop.get(path).content.decode()
        row = page[page.index(f'id="transfer-{transfer.pk}"') :]
        row = row[: row.index("</tr>")]
        assert "Leche entera 1 L" in row and "faltan 1" in row and "dañado 2" in row, path


def test_quick_keys_set_on_the_page_are_announced_to_the_tills(shop):
    answer = shop.post("/quick-keys/", {"branch": "B001", "skus": "VER-TOMATE\nFRU-BANANA\n"}, follow=True)

    assert [(k.branch, k.position, k.product_id) for k in QuickKey.objects.all()] == [
        ("B001", 1, "VER-TOMATE"),
        ("B001", 2, "FRU-BANANA"),
    ]
    [change] = Change.objects.filter(kind=ChangeKind.QUICK_KEYS)
    assert (change.branch_id, change.payload) == ("B001", {"branch": "B001", "skus": ["VER-TOMATE", "FRU-BANANA"]})
    assert "Tomate redondo" in answer.content.decode()


def test_quick_keys_naming_an_unknown_product_are_refused_and_nothing_is_announced(shop, manager_client):
    answer = shop.post("/quick-keys/", {"branch": "", "skus": "FRU-BANANA\nNO-EXISTE"}, follow=True)
    api = manager_client.put("/api/v1/quick-keys", {"skus": ["FRU-BANANA", "FRU-BANANA"]}, format="json")

    assert "NO-EXISTE" in answer.content.decode()
    assert api.status_code == 400
    assert not QuickKey.objects.exists() and not Change.objects.filter(kind=ChangeKind.QUICK_KEYS).exists()


def test_the_oversell_action_is_one_choice_that_resolves_with_its_resolution(shop):
    _, branch = branch_client("B001")
    now = timezone.now()
    case = OversellCase.objects.create(
        branch=branch, sku="LAC-LECHE-1L", shortfall="2", sales=[], created_at=now, updated_at=now
    )
    page = shop.get("/dashboard/").content.decode()
    form = page[page.index(f'id="oversell-{case.pk}"') :]
    assert 'name="resolution"' not in form[: form.index("</form>")]

    shop.post(f"/dashboard/oversell/{case.pk}/act", {"action": "resolve:refunded", "note": "devuelto"})

    case.refresh_from_db()
    assert (case.status, case.resolution) == ("resolved", "refunded")


def test_the_chain_s_quick_keys_set_through_the_api_reach_every_branch(shop, manager_client):
    answer = manager_client.put("/api/v1/quick-keys", {"skus": ["FRU-BANANA", "VER-TOMATE"]}, format="json")

    assert answer.status_code == 200, answer.content
    assert answer.json() == {"branch": "", "skus": ["FRU-BANANA", "VER-TOMATE"]}
    [change] = Change.objects.filter(kind=ChangeKind.QUICK_KEYS)
    assert change.branch_id is None  # every branch reads it
    assert list(QuickKey.objects.values_list("branch", "product_id")) == [("", "FRU-BANANA"), ("", "VER-TOMATE")]
