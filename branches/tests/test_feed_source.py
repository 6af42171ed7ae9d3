"""Head office cannot put into the change feed a quantity no branch could hold, whichever door asks: the check is
in the service, under the API's own (an adjustment's: reconciliation/tests/test_adjust_stock_refusals.py)."""

from decimal import Decimal

import pytest

from branches.change_feed import transfer_create
from branches.models import Change
from branches.tests.factories import branch_client
from ecomarket.errors import DomainError
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

# Decimals a caller in code may pass: no door's format lets them through, and the service refuses them too.
OUT_OF_RANGE = ["1e13", "-1E+9", "Infinity", "-Infinity", "NaN", "sNaN", "0.0001"]


@pytest.fixture
def branch(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    return branch_client("B001")[1]


@pytest.mark.parametrize("quantity", OUT_OF_RANGE)
def test_a_transfer_out_of_range_is_refused_by_the_service(branch, quantity):
    with pytest.raises(DomainError) as refused:
        transfer_create(to_branch=branch, lines=[("FRU-BANANA", Decimal(quantity))])

    assert refused.value.status == 400
    assert not Change.objects.exists()
