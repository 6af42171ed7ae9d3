from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self) -> None:
        from reconciliation import metrics

        metrics.metrics_register()  # what /metrics reads of this app at scrape time
