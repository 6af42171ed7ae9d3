"""The branch's replica of the chain's stock and its index of the chain's sales, as /metrics reports them at scrape
time (ecomarket/metrics.py, "What is"). Registered from ``ChainConfig.ready()`` at a branch."""

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from chain.models import ChainSale
from chain.selectors import chain_replica_status
from ecomarket.metrics import state_reader_register


def metrics_register() -> None:
    if settings.IS_BRANCH:
        state_reader_register(chain_replica_state)


def chain_replica_state(now) -> list:
    """The age of the branch's replica of other stores' stock and of its index of the chain's sales."""
    status = chain_replica_status()
    families = [
        GaugeMetricFamily(
            "ecomarket_chain_stock_stale",
            "1 when other stores' figures are older than CHAIN_STOCK_STALE_S (or none came yet): not shown as current",
            int(status["chain_stock_stale"]),
        ),
        GaugeMetricFamily(
            "ecomarket_sale_index_entries", "Sales of the chain in this branch's index", ChainSale.objects.count()
        ),
    ]
    if status["chain_stock_age_s"] is not None:
        families.append(
            GaugeMetricFamily(
                "ecomarket_chain_stock_age_seconds",
                "Seconds since other stores' figures in the replica were true at head office",
                status["chain_stock_age_s"],
            )
        )
    return families
