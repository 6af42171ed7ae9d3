"""Central's view of the chain's stock, on PostgreSQL."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from inventory.ledger import stock_movements_apply
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def chain(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    moments = datetime(2026, 11, 28, 12, tzinfo=UTC)
    for branch, seq, deltas in [
        ("B001", 1, {"FRU-BANANA": Decimal("10"), "LAC-LECHE-1L": Decimal("6")}),
        ("B001", 2, {"FRU-BANANA": Decimal("-1.25")}),
        ("B002", 1, {"FRU-BANANA": Decimal("4")}),
    ]:
        stock_movements_apply(
            branch=branch, seq=seq, kind="receipt", reference=f"{branch}-{seq}", occurred_at=moments, deltas=deltas
        )


def test_central_runs_on_postgresql():
    assert connection.vendor == "postgresql"


def test_inventory_lists_on_hand_per_branch_and_sku(chain, manager_client):
    rows = manager_client.get("/api/v1/inventory").json()["results"]
    filtered = manager_client.get("/api/v1/inventory", {"branch": "B001", "sku": "FRU-BANANA"}).json()["results"]

    assert sorted(rows, key=lambda row: (row["branch"], row["sku"])) == [
        {"branch": "B001", "sku": "FRU-BANANA", "on_hand": "8.750"},
        {"branch": "B001", "sku": "LAC-LECHE-1L", "on_hand": "6.000"},
        {"branch": "B002", "sku": "FRU-BANANA", "on_hand": "4.000"},
    ]
    assert filtered == [{"branch": "B001", "sku": "FRU-BANANA", "on_hand": "8.750"}]


def test_inventory_totals_sum_the_chain(chain, manager_client):
    totals = manager_client.get("/api/v1/inventory/totals").json()

    assert totals == [{"sku": "FRU-BANANA", "on_hand": "12.750"}, {"sku": "LAC-LECHE-1L", "on_hand": "6.000"}]


def test_seed_inventario_global_answers_like_the_prototype(chain, manager_client):
    assert manager_client.get("/inventario-global").json() == {"FRU-BANANA": 12.75, "LAC-LECHE-1L": 6}


def test_cashier_cannot_read_chain_inventory(chain, cashier_client, anonymous_client):
    assert cashier_client.get("/api/v1/inventory").status_code == 403
    assert anonymous_client.get("/api/v1/inventory").status_code == 401
