from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand

from cash.models import Register
from cash.services import register_save
from inventory.demo import demo_catalog_load, demo_stock_receive


class Command(BaseCommand):
    help = (
        "Load the demo grocery catalog; in branch mode also receive the starting stock once and make registers T1 "
        "and T2. Safe to run again."
    )

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
            # Two tills, as a store has; a second run leaves them as the manager keeps them.
            for code, name in (("T1", "Caja 1"), ("T2", "Caja 2")):
                if not Register.objects.filter(pk=code).exists():
                    register_save(code=code, name=name)
            self.stdout.write("registers: T1, T2")
