from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand

from inventory.demo import demo_catalog_load, demo_stock_receive


class Command(BaseCommand):
    help = "Load the demo grocery catalog; in branch mode also receive the starting stock once. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stock-share", type=Decimal, default=Decimal("1"), help="branch: scale the starting stock (0.5: half)"
        )

    def handle(self, *args, **options):
        created = demo_catalog_load()
        self.stdout.write(f"catalog: {created} new products")
        if settings.IS_BRANCH:
            received = demo_stock_receive(branch=settings.BRANCH_CODE, share=options["stock_share"])
            self.stdout.write(
                f"starting stock at {settings.BRANCH_CODE}: {'received' if received else 'already there'}"
            )
