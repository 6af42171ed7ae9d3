"""A store's own records stay bounded (inventory/retention.py): sales and ledger rows past
BRANCH_RECORDS_RETENTION_DAYS go once head office holds their events, and on-hand, sale numbers and returns stay
right."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from branches.models import OutboxEvent, OutboxState, SyncState
from cash.models import Register
from cash.services import cash_session_open
from ecomarket.housekeeping import housekeeping_run
from inventory.ledger import stock_levels_rebuild
from inventory.models import MovementKind, Return, Sale, SaleLine, StockLevel, StockMovement
from inventory.retention import branch_records_prune
from inventory.services import Line, return_create, sale_create
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]

NOW = timezone.now()
OLD = NOW - timedelta(days=settings.BRANCH_RECORDS_RETENTION_DAYS + 10)
RECENT = NOW - timedelta(days=settings.BRANCH_RECORDS_RETENTION_DAYS - 10)


@pytest.fixture(autouse=True)
def _goods(settings):
    settings.BRANCH_ALLOW_NEGATIVE_STOCK = True  # sales without receipts: the ledger holds the sales alone
    product_make(sku="FRU-BANANA", price="1.80")
    product_make(sku="LAC-LECHE-1L", unit="unit", price="1.25")


def sell(at, **quantities: str) -> Sale:
    lines = [Line(sku=sku, quantity=Decimal(q)) for sku, q in quantities.items()]
    return sale_create(sale_id=None, lines=lines, payment_method="cash", cashier=None, now=at)[0].sale


def central_holds(up_to: int | None = None) -> None:
    """Head office acknowledged every event up to ``up_to`` (all of them by default)."""
    up_to = up_to or OutboxEvent.objects.aggregate(top=Max("seq"))["top"]
    OutboxEvent.objects.filter(seq__lte=up_to).update(state=OutboxState.DELIVERED, delivered_at=NOW)
    SyncState.objects.update_or_create(pk=1, defaults={"central_high_water": up_to})


def levels() -> dict[str, Decimal]:
    return dict(StockLevel.objects.values_list("product_id", "on_hand"))


def test_sales_and_ledger_rows_past_the_retention_that_central_holds_go():
    old = [sell(OLD, **{"FRU-BANANA": "1.5", "LAC-LECHE-1L": "2"}), sell(OLD, **{"LAC-LECHE-1L": "1"})]
    recent = sell(RECENT, **{"FRU-BANANA": "0.5"})
    central_holds()

    pruned = branch_records_prune(now=NOW)

    assert (pruned.sales, pruned.ledger_rows) == (2, 3)
    assert list(Sale.objects.values_list("id", flat=True)) == [recent.id]
    assert not SaleLine.objects.filter(sale_id__in=[sale.id for sale in old]).exists()
    assert not StockMovement.objects.filter(reference__in=[str(sale.id) for sale in old]).exists()


def test_on_hand_does_not_change_and_is_still_the_sum_of_the_ledger():
    sell(OLD, **{"FRU-BANANA": "1.5", "LAC-LECHE-1L": "2"})
    sell(OLD, **{"LAC-LECHE-1L": "1"})
    sell(RECENT, **{"FRU-BANANA": "0.5"})
    central_holds()
    before = levels()

    branch_records_prune(now=NOW)

    assert levels() == before
    assert stock_levels_rebuild() == []  # the ledger still adds up to every level
    openings = StockMovement.objects.filter(kind=MovementKind.OPENING)
    assert dict(openings.values_list("product_id", "quantity")) == {"FRU-BANANA": Decimal("-1.5"), "LAC-LECHE-1L": -3}
    assert set(openings.values_list("seq", flat=True)) == {0}


def test_nothing_goes_that_central_does_not_hold():
    held = sell(OLD, **{"FRU-BANANA": "1"})
    parked = sell(OLD, **{"FRU-BANANA": "2"})
    above = sell(OLD, **{"FRU-BANANA": "3"})
    central_holds(up_to=2)
    OutboxEvent.objects.filter(seq=2).update(state=OutboxState.PARKED)

    pruned = branch_records_prune(now=NOW)

    assert (pruned.sales, pruned.ledger_rows) == (1, 1)
    assert set(Sale.objects.values_list("id", flat=True)) == {parked.id, above.id}
    assert not Sale.objects.filter(id=held.id).exists()
    assert stock_levels_rebuild() == []


def test_a_branch_that_never_heard_from_central_keeps_everything():
    sell(OLD, **{"FRU-BANANA": "1"})

    assert branch_records_prune(now=NOW).sales == 0
    assert Sale.objects.count() == 1


def one_back(sale):
    """One litre of milk of ``sale`` brought back, now."""
    ret, _ = return_create(
        return_id=None,
        sale_id=sale.id,
        lines=[Line(sku="LAC-LECHE-1L", quantity=Decimal("1"))],
        reason="",
        cashier=None,
    )
    return ret


def test_a_sale_whose_return_is_within_the_retention_stays_with_it():
    sale = sell(OLD, **{"LAC-LECHE-1L": "2"})
    ret = one_back(sale)
    central_holds()

    assert branch_records_prune(now=NOW).sales == 0
    assert Return.objects.filter(id=ret.id, sale=sale).exists()


def test_a_sale_and_its_return_both_past_the_retention_go_together():
    sale = sell(OLD, **{"LAC-LECHE-1L": "2"})
    ret = one_back(sale)
    Return.objects.filter(id=ret.id).update(created_at=OLD)
    StockMovement.objects.filter(reference=str(ret.id)).update(occurred_at=OLD)
    central_holds()

    assert branch_records_prune(now=NOW).sales == 1
    assert not Return.objects.exists()
    assert StockMovement.objects.get().kind == MovementKind.OPENING
    assert StockMovement.objects.get().quantity == Decimal("-1")


def test_a_sale_number_is_never_given_again_after_its_sale_went():
    sell(OLD, **{"FRU-BANANA": "1"})
    last = sell(OLD, **{"FRU-BANANA": "1"})
    central_holds()
    branch_records_prune(now=NOW)
    assert not Sale.objects.exists()

    assert sell(NOW, **{"FRU-BANANA": "1"}).number == last.number + 1


def test_a_return_of_a_sale_that_went_is_refused_as_unknown(cashier_client):
    sale = sell(OLD, **{"LAC-LECHE-1L": "2"})
    central_holds()
    branch_records_prune(now=NOW)

    answer = cashier_client.post(
        "/api/v1/returns", {"sale_id": str(sale.id), "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}]}, format="json"
    )

    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "unknown_sale"


def test_a_second_run_finds_nothing_more_and_keeps_the_openings():
    sell(OLD, **{"FRU-BANANA": "1.5"})
    central_holds()
    branch_records_prune(now=NOW)
    openings = list(StockMovement.objects.filter(kind=MovementKind.OPENING).values_list("id", "quantity"))

    again = branch_records_prune(now=NOW)

    assert (again.sales, again.ledger_rows) == (0, 0)
    assert list(StockMovement.objects.filter(kind=MovementKind.OPENING).values_list("id", "quantity")) == openings


def test_a_later_run_adds_to_the_opening_rows():
    sell(OLD, **{"FRU-BANANA": "1.5"})
    central_holds()
    branch_records_prune(now=NOW)
    sell(NOW, **{"FRU-BANANA": "2"})
    central_holds()

    assert branch_records_prune(now=NOW + timedelta(days=settings.BRANCH_RECORDS_RETENTION_DAYS + 1)).sales == 1
    assert StockMovement.objects.get().quantity == Decimal("-3.5")
    assert stock_levels_rebuild() == []


def test_nothing_goes_with_the_retention_off(settings):
    settings.BRANCH_RECORDS_RETENTION_DAYS = 0
    sell(OLD, **{"FRU-BANANA": "1"})
    central_holds()

    assert branch_records_prune(now=NOW).sales == 0


def test_the_nightly_housekeeping_runs_it():
    sell(OLD, **{"FRU-BANANA": "1"})
    central_holds()

    done = housekeeping_run(now=NOW)

    assert (done.sales, done.ledger_rows) == (1, 1)


def test_a_sale_paid_into_a_session_still_open_stays():
    Register.objects.create(code="T1", name="Caja 1")
    cash_session_open(session_id=None, register="T1", opening_float=Decimal("50.00"), user=None)
    lines = [Line(sku="FRU-BANANA", quantity=Decimal("1"))]
    sale_create(sale_id=None, lines=lines, payment_method="cash", cashier=None, register="T1", now=OLD)
    central_holds()

    assert branch_records_prune(now=NOW).sales == 0
    assert Sale.objects.count() == 1
