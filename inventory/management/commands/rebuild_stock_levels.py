from django.core.management.base import BaseCommand

from inventory.ledger import stock_levels_rebuild


class Command(BaseCommand):
    help = (
        "Recompute on-hand levels from the stock ledger and report every difference it fixed (at central, then the "
        "chain's per-SKU totals from the levels)."
    )

    def handle(self, *args, **options):
        fixes = stock_levels_rebuild()
        for fix in fixes:
            was = "missing" if fix.was is None else fix.was
            self.stdout.write(f"fixed {fix.branch} {fix.sku}: {was} -> {fix.now}")
        self.stdout.write(f"{len(fixes)} level(s) fixed")
