from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self) -> None:
        from ecomarket import housekeeping
        from reconciliation import metrics
        from reconciliation.findings import resolved_details_housekeeping

        metrics.metrics_register()  # what /metrics reads of this app at scrape time
        housekeeping.step_register(resolved_details_housekeeping)  # resolved discrepancies' detail past retention
