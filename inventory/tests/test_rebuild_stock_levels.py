from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from inventory.models import ChainStock, ChainStockChange, StockLevel

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def test_rebuild_fixes_a_drifted_level_and_reports_it(shelf):
    StockLevel.objects.filter(product_id="FRU-BANANA").update(on_hand=Decimal("3"))
    StockLevel.objects.filter(product_id="LAC-LECHE-1L").delete()
    out = StringIO()

    call_command("rebuild_stock_levels", stdout=out)

    assert "fixed B001 FRU-BANANA: 3.000 -> 10.000" in out.getvalue()
    assert "fixed B001 LAC-LECHE-1L: missing -> 5.000" in out.getvalue()
    assert "2 level(s) fixed" in out.getvalue()
    assert dict(StockLevel.objects.values_list("product_id", "on_hand")) == {
        "FRU-BANANA": Decimal("10"),
        "LAC-LECHE-1L": Decimal("5"),
    }


def test_a_branch_keeps_no_chain_totals(shelf):
    assert StockLevel.objects.exists()
    assert not ChainStockChange.objects.exists()
    assert not ChainStock.objects.exists()


def test_rebuild_of_a_true_projection_changes_nothing(shelf):
    out = StringIO()

    call_command("rebuild_stock_levels", stdout=out)

    assert out.getvalue().strip() == "0 level(s) fixed"
