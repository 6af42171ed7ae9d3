from django.apps import AppConfig


class ChainConfig(AppConfig):
    name = "chain"
    verbose_name = "The chain's stock at each branch"

    def ready(self) -> None:
        from chain import metrics

        metrics.metrics_register()  # what /metrics reads of this app at scrape time
