from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from ecomarket import housekeeping
        from reports.services import report_hours_housekeeping

        housekeeping.step_register(report_hours_housekeeping)  # hourly roll-ups past their horizon
