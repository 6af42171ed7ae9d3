from django.apps import AppConfig


class EcomarketConfig(AppConfig):
    name = "ecomarket"
    verbose_name = "EcoMarket"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from ecomarket import db, labels, logs

        db.connect_checks_install()
        labels.labels_install()
        request_finished.connect(logs.context_clear, dispatch_uid="ecomarket.logs.context_clear")
