from django.apps import AppConfig
from django.conf import settings


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from ecomarket import pages
        from inventory.selectors import product_name

        pages.refusal_value_register("sku", product_name)  # a refusal names the product, not its SKU
        if settings.IS_BRANCH:
            from ecomarket import housekeeping
            from inventory.retention import records_housekeeping

            housekeeping.step_register(records_housekeeping)  # a store's own records past their retention
