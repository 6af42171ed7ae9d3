from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from ecomarket.modes import Mode, only


class Command(BaseCommand):
    help = (
        "Central: write the reconciliation schedule into django-celery-beat's tables (run on every deploy; safe "
        "to run again). Incremental every RECONCILE_INTERVAL_S seconds, a full pass every night at 03:30; the "
        "report roll-ups every REPORTS_ROLLUP_INTERVAL_S seconds; the chain's stock totals folded every "
        "CHAIN_STOCK_FOLD_INTERVAL_S seconds; expired customer contacts erased nightly, then expired sessions and old "
        "login records (housekeeping)."
    )

    @only(Mode.CENTRAL)
    @transaction.atomic
    def handle(self, *args, **options):
        every, _ = IntervalSchedule.objects.get_or_create(
            every=settings.RECONCILE_INTERVAL_S, period=IntervalSchedule.SECONDS
        )
        nightly, _ = CrontabSchedule.objects.get_or_create(
            minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
        )
        rollup, _ = IntervalSchedule.objects.get_or_create(
            every=settings.REPORTS_ROLLUP_INTERVAL_S, period=IntervalSchedule.SECONDS
        )
        fold, _ = IntervalSchedule.objects.get_or_create(
            every=settings.CHAIN_STOCK_FOLD_INTERVAL_S, period=IntervalSchedule.SECONDS
        )
        erase, _ = CrontabSchedule.objects.get_or_create(
            minute="45", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
        )
        housekeeping, _ = CrontabSchedule.objects.get_or_create(
            minute="15", hour="4", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
        )
        reconcile = "reconciliation.tasks.reconcile_task"
        for name, task_name, schedule, kwargs in (
            ("reconcile (incremental)", reconcile, {"interval": every, "crontab": None}, "{}"),
            ("reconcile (full, nightly)", reconcile, {"interval": None, "crontab": nightly}, '{"full": true}'),
            ("report roll-ups", "reports.tasks.report_rollup_task", {"interval": rollup, "crontab": None}, "{}"),
            ("chain stock totals", "inventory.tasks.chain_stock_fold_task", {"interval": fold, "crontab": None}, "{}"),
            (
                "customer contacts past retention",
                "reconciliation.tasks.customer_contacts_erase_task",
                {"interval": None, "crontab": erase},
                "{}",
            ),
            ("housekeeping", "ecomarket.tasks.housekeeping_task", {"interval": None, "crontab": housekeeping}, "{}"),
        ):
            task, created = PeriodicTask.objects.update_or_create(
                name=name, defaults={"task": task_name, "kwargs": kwargs, "enabled": True, **schedule}
            )
            self.stdout.write(f"{'installed' if created else 'updated'}: {task.name}")
