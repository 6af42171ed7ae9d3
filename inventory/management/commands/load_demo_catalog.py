from django.conf import settings
from django.core.management.base import BaseCommand

from inventory.demo import demo_catalog_load, demo_stock_receive


class Command(BaseCommand):
    help = "Load the demo grocery catalog; in branch mode also receive the starting stock once. Safe to run again."

    def handle(self, *args, **options):
        created = demo_catalog_load()
        self.stdout.write(f"catalog: {created} new products")
        if settings.IS_BRANCH:
            received = demo_stock_receive(branch=settings.BRANCH_CODE)
            self.stdout.write(
                f"starting stock at {settings.BRANCH_CODE}: {'received' if received else 'already there'}"
            )
