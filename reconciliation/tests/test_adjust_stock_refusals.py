"""Head office cannot order a stock adjustment that no branch could apply: it is refused at the source (400)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from branches.models import Change
from branches.tests.factories import branch_client
from branches.tests.test_feed_source import OUT_OF_RANGE
from ecomarket.errors import DomainError
from inventory.models import Unit
from inventory.tests.factories import product_make
from reconciliation.actions import discrepancy_act
from reconciliation.models import Discrepancy

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def milk_mismatch(db):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="OLD-SODA", unit=Unit.UNIT, active=False)
    _, branch = branch_client("B001")
    now = timezone.now()
    return Discrepancy.objects.create(
        branch=branch, sku="LAC-LECHE-1L", kind="count_mismatch", first_detected_at=now, last_changed_at=now
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"delta": "-0.5"}, "fractional_quantity", "delta"),
        ({"sku": "NO-SUCH-SKU", "delta": "-1"}, "unknown_sku", "sku"),
        ({"sku": "OLD-SODA", "delta": "2"}, "unknown_sku", "sku"),
    ],
    ids=["fraction-of-a-unit", "unknown", "inactive"],
)
def test_an_adjustment_no_branch_could_apply_is_refused(milk_mismatch, manager_client, body, code, field):
    response = manager_client.patch(
        f"/api/v1/discrepancies/{milk_mismatch.pk}", {"action": "adjust_stock", **body}, format="json"
    )

    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["fields"])) == (code, [field])
    assert not Change.objects.filter(kind="adjustment").exists()
    milk_mismatch.refresh_from_db()
    assert milk_mismatch.status == "open"


def test_whole_units_and_weights_are_accepted(milk_mismatch, manager_client):
    url = f"/api/v1/discrepancies/{milk_mismatch.pk}"

    whole = manager_client.patch(url, {"action": "adjust_stock", "delta": "-2"}, format="json")

    assert whole.status_code == 200
    assert Change.objects.get(kind="adjustment").payload["lines"] == [{"sku": "LAC-LECHE-1L", "delta": "-2.000"}]


@pytest.mark.parametrize("delta", OUT_OF_RANGE)
def test_a_delta_out_of_the_ledgers_range_is_refused_by_the_service_itself(milk_mismatch, manager, delta):
    with pytest.raises(DomainError) as refused:
        discrepancy_act(discrepancy_id=milk_mismatch.pk, action="adjust_stock", user=manager, delta=Decimal(delta))

    assert (refused.value.status, list(refused.value.fields)) == (400, ["delta"])
    assert not Change.objects.exists()
