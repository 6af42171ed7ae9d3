from django.core.management.base import BaseCommand

from ecomarket.modes import Mode, only
from reports.services import report_rollup_refresh


class Command(BaseCommand):
    help = "Central: fold the events received since the last pass into the report roll-ups now (safe to run again)."

    @only(Mode.CENTRAL)
    def handle(self, *args, **options):
        self.stdout.write(f"rolled up: {report_rollup_refresh()} events")
