from django.apps import AppConfig


class BranchesConfig(AppConfig):
    name = "branches"
    verbose_name = "Branches and sync"

    def ready(self) -> None:
        from django.conf import settings

        from branches import metrics, sync_status
        from ecomarket import health

        metrics.metrics_register()  # what /metrics reads of this app at scrape time
        if settings.IS_BRANCH:
            health.ready_check_register("outbox", sync_status.outbox_ready)
