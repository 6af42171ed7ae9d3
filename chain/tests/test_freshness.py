"""The replica's age is visible where an operator and the till look: /metrics and the branch's sync status; a replica
older than CHAIN_STOCK_STALE_S is called stale, never current."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chain.models import ChainReplicaState
from ecomarket.tests.test_metrics import LOOPBACK, scrape, value

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


def replica_from(*, minutes_ago: float) -> None:
    ChainReplicaState.objects.update_or_create(
        pk=1, defaults={"as_of": timezone.now() - timedelta(minutes=minutes_ago)}
    )


@LOOPBACK
def test_metrics_give_the_replicas_age_and_whether_it_is_stale(settings):
    settings.CHAIN_STOCK_STALE_S = 900
    replica_from(minutes_ago=5)
    samples = scrape(REMOTE_ADDR="127.0.0.1")
    assert 300 <= value(samples, "ecomarket_chain_stock_age_seconds") < 900
    assert value(samples, "ecomarket_chain_stock_stale") == 0

    replica_from(minutes_ago=20)
    samples = scrape(REMOTE_ADDR="127.0.0.1")
    assert value(samples, "ecomarket_chain_stock_age_seconds") >= 1200
    assert value(samples, "ecomarket_chain_stock_stale") == 1


@LOOPBACK
def test_a_replica_that_never_received_anything_is_stale_without_an_age():
    samples = scrape(REMOTE_ADDR="127.0.0.1")
    assert value(samples, "ecomarket_chain_stock_stale") == 1
    assert ("ecomarket_chain_stock_age_seconds", ()) not in samples


def test_the_sync_status_calls_an_old_replica_stale(cashier_client, settings):
    settings.CHAIN_STOCK_STALE_S = 900
    replica_from(minutes_ago=20)

    status = cashier_client.get("/api/v1/sync/status").json()

    assert status["chain_stock_stale"] is True and status["chain_stock_age_s"] >= 1200
