"""Head office cannot put into the change feed a quantity no branch could hold, whichever door asks: the check is
in the services, under the API's and the dashboard's own."""

from decimal import Decimal

import pytest
from django.utils import timezone

from branches.change_feed import transfer_create
from branches.models import Change
from branches.tests.factories import branch_client
from ecomarket.errors import DomainError
from inventory.models import Unit
from inventory.tests.factories import product_make
from reconciliation.actions import discrepancy_act
from reconciliation.models import Discrepancy

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

OUT_OF_RANGE = ["1e13", "-1E+9", "Infinity", "-Infinity", "NaN", "sNaN", "0.0001"]


@pytest.fixture
def branch(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    return branch_client("B001")[1]


@pytest.mark.parametrize("delta", OUT_OF_RANGE)
def test_an_adjustment_out_of_range_is_refused_by_the_service(branch, manager, delta):
    now = timezone.now()
    record = Discrepancy.objects.create(
        branch=branch, sku="FRU-BANANA", kind="count_mismatch", first_detected_at=now, last_changed_at=now
    )

    with pytest.raises(DomainError) as refused:
        discrepancy_act(discrepancy_id=record.pk, action="adjust_stock", user=manager, delta=Decimal(delta))

    assert (refused.value.status, list(refused.value.fields)) == (400, ["delta"])
    assert not Change.objects.exists()


@pytest.mark.parametrize("quantity", OUT_OF_RANGE)
def test_a_transfer_out_of_range_is_refused_by_the_service(branch, quantity):
    with pytest.raises(DomainError) as refused:
        transfer_create(to_branch=branch, lines=[("FRU-BANANA", Decimal(quantity))])

    assert refused.value.status == 400
    assert not Change.objects.exists()
