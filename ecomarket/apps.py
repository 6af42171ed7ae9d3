from django.apps import AppConfig


class EcomarketConfig(AppConfig):
    name = "ecomarket"
    verbose_name = "EcoMarket"

    def ready(self) -> None:
        from ecomarket import db

        db.connect_checks_install()
