"""Reconciliation's findings as /metrics reports them at scrape time (ecomarket/metrics.py, "What is"): open
discrepancies by kind, open oversell cases, the last pass. Registered from ``ReconciliationConfig.ready()``
(central)."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from ecomarket.metrics import age, state_reader_register
from reconciliation.models import (
    OPEN_STATUSES,
    Discrepancy,
    DiscrepancyKind,
    OversellCase,
    OversellStatus,
    ReconciliationRun,
)


def metrics_register() -> None:
    state_reader_register(findings_state)


def findings_state(now) -> list:
    open_by_kind = dict(
        Discrepancy.objects.filter(status__in=OPEN_STATUSES).values_list("kind").annotate(n=Count("id")).order_by()
    )
    discrepancies = GaugeMetricFamily(
        "ecomarket_discrepancies_open", "Discrepancies open or acknowledged, by kind", labels=["kind"]
    )
    for kind in DiscrepancyKind.values:
        discrepancies.add_metric([kind], open_by_kind.get(kind, 0))
    result = [
        discrepancies,
        GaugeMetricFamily(
            "ecomarket_oversell_cases_open",
            "Oversell cases not resolved yet",
            OversellCase.objects.exclude(status=OversellStatus.RESOLVED).count(),
        ),
    ]
    last = ReconciliationRun.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    if last is not None:
        result += [
            GaugeMetricFamily(
                "ecomarket_reconcile_duration_seconds",
                "How long the last finished reconciliation pass took",
                (last.finished_at - last.started_at).total_seconds(),
            ),
            GaugeMetricFamily(
                "ecomarket_reconcile_last_success_age_seconds",
                "Seconds since a reconciliation pass last finished",
                age(last.finished_at, now),
            ),
        ]
    return result
