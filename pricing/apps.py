from django.apps import AppConfig


class PricingConfig(AppConfig):
    name = "pricing"
    verbose_name = "Pricing and promotions"

    def ready(self) -> None:
        from ecomarket import generations

        # What is in force, kept per process (pricing/selectors.py): a price or a promotion written, however.
        generations.watch("pricing", {"pricing_scheduledprice": None, "pricing_promotion": None})
