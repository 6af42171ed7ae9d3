from django.core.management.base import BaseCommand

from ecomarket import modes
from reports.services import report_rollup_refresh


class Command(BaseCommand):
    help = "Central: fold the events received since the last pass into the report roll-ups now (safe to run again)."

    def handle(self, *args, **options):
        modes.require(modes.Mode.CENTRAL)
        self.stdout.write(f"rolled up: {report_rollup_refresh()} events")
