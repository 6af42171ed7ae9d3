"""The stock page shows other stores' figures from the replica, with how long ago they were true, and says
plainly when the replica is too old to be taken as current."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from chain.models import ChainBranchName, ChainLevel, ChainReplicaState

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def replica_holds(*, minutes_ago: float) -> None:
    as_of = timezone.now() - timedelta(minutes=minutes_ago)
    ChainReplicaState.objects.update_or_create(pk=1, defaults={"as_of": as_of, "cursor": 7})
    ChainBranchName.objects.create(code="B902", name="Sucursal Norte")
    ChainLevel.objects.create(branch="B902", sku="LAC-LECHE-1L", on_hand=Decimal("4"), changed_as_of=as_of)


def stock_page(user, search: str) -> str:
    client = Client()
    client.force_login(user)
    answer = client.get("/stock/", {"q": search})
    assert answer.status_code == 200
    return answer.content.decode().replace("\xa0", " ")


def test_a_search_shows_other_stores_with_the_age_of_their_figures(shelf, cashier):
    replica_holds(minutes_ago=12)

    page = stock_page(cashier, "LAC-LECHE-1L")

    assert "Sucursal Norte: 4, hace 12 minutos" in page
    assert 'id="chain-stale"' not in page


def test_a_replica_older_than_the_threshold_is_shown_as_stale(shelf, cashier):
    replica_holds(minutes_ago=60)

    page = stock_page(cashier, "LAC-LECHE-1L")

    assert "Sucursal Norte: 4, hace 1 hora" in page
    assert 'id="chain-stale"' in page
