import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from ecomarket.modes import Mode, only
from ecomarket.schedule import database_entries


class Command(BaseCommand):
    help = (
        "Central: write the periodic tasks into django-celery-beat's tables, as ecomarket/schedule.py lists them (run "
        "on every deploy; safe to run again): reconciliation incremental every RECONCILE_INTERVAL_S seconds and in "
        "full every night; the report roll-ups every REPORTS_ROLLUP_INTERVAL_S seconds; the chain's stock totals "
        "folded every CHAIN_STOCK_FOLD_INTERVAL_S seconds; expired customer contacts erased nightly, then expired "
        "sessions and old login records (housekeeping)."
    )

    @only(Mode.CENTRAL)
    @transaction.atomic
    def handle(self, *args, **options):
        for entry in database_entries(settings):
            if entry.every is not None:
                interval, _ = IntervalSchedule.objects.get_or_create(every=entry.every, period=IntervalSchedule.SECONDS)
                schedule = {"interval": interval, "crontab": None}
            else:
                hour, minute = entry.at
                crontab, _ = CrontabSchedule.objects.get_or_create(
                    minute=str(minute),
                    hour=str(hour),
                    day_of_week="*",
                    day_of_month="*",
                    month_of_year="*",
                    timezone=settings.TIME_ZONE,
                )
                schedule = {"interval": None, "crontab": crontab}
            task, created = PeriodicTask.objects.update_or_create(
                name=entry.name,
                defaults={"task": entry.task, "kwargs": json.dumps(entry.kwargs), "enabled": True, **schedule},
            )
            self.stdout.write(f"{'installed' if created else 'updated'}: {task.name}")
