from django.apps import AppConfig
from django.conf import settings


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        if settings.IS_BRANCH:
            from ecomarket import housekeeping
            from inventory.retention import records_housekeeping

            housekeeping.step_register(records_housekeeping)  # a store's own records past their retention
