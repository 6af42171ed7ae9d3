"""Hourly roll-ups past REPORT_HOURLY_RETENTION_DAYS are folded into one row per day of the chain's time zone and
the per-SKU hours go (reports/services.py report_hours_compact): the reports per day read the same figures, per
hour they reach back no further."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone

from ecomarket.housekeeping import housekeeping_run
from reports import selectors
from reports.models import BranchHour, PaymentsHour, RollupCursor, SalesDay, SalesHour
from reports.services import report_hours_compact

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

TODAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 3, 7, 15, tzinfo=UTC)  # 04:15 in Buenos Aires


@pytest.fixture
def chain(settings):
    """Buenos Aires (UTC-3): a day there runs from 03:00 UTC to 03:00 UTC the next day."""
    settings.TIME_ZONE = "America/Argentina/Buenos_Aires"
    timezone.activate(settings.TIME_ZONE)
    RollupCursor.objects.create(branch="B001")
    yield settings.REPORT_HOURLY_RETENTION_DAYS
    timezone.deactivate()


def day_hours(day: date, *hours: int) -> None:
    """B001's rows for ``hours`` (UTC) of ``day``: two sales, a void and 30 s of lag in each."""
    for at in (datetime(day.year, day.month, day.day, h, tzinfo=UTC) for h in hours):
        BranchHour.objects.create(
            branch="B001",
            hour=at,
            sales=2,
            sold_units=Decimal("3"),
            sold_amount=Decimal("10.00"),
            voided_amount=Decimal("1.00"),
            voids=1,
            events=3,
            lag_total_s=30.0,
            lag_max_s=float(at.hour),
        )
        PaymentsHour.objects.create(branch="B001", hour=at, method="cash", payments=2, paid_amount=Decimal("10.00"))
        PaymentsHour.objects.create(branch="B001", hour=at, method="card", payments=1, paid_amount=Decimal("4.00"))
        SalesHour.objects.create(branch="B001", hour=at, sku="LAC-LECHE-1L", sold_units=Decimal("3"))


def per_day(first: date, last: date) -> tuple[list, list, list]:
    filters = selectors.ReportFilters(date_from=first, date_to=last)
    return selectors.sync_health(filters), selectors.payments_by_method(filters), selectors.returns_and_voids(filters)


def test_old_days_fold_into_one_row_each_and_report_the_same(chain):
    old = TODAY - timedelta(days=chain + 2)
    day_hours(old, 12, 15, 20)
    day_hours(old + timedelta(days=1), 1)  # 22:00 of ``old`` in Buenos Aires
    before = per_day(old - timedelta(days=1), old + timedelta(days=2))

    gone = report_hours_compact(now=NOW)

    assert per_day(old - timedelta(days=1), old + timedelta(days=2)) == before
    midnight = timezone.make_aware(datetime.combine(old, datetime.min.time()))
    assert list(BranchHour.objects.values_list("hour", "sales", "lag_max_s")) == [(midnight, 8, 20.0)]
    assert sorted(PaymentsHour.objects.values_list("method", "payments")) == [("card", 4), ("cash", 8)]
    assert not SalesHour.objects.exists()
    assert gone == 3 + 6 + 4  # branch hours, payment hours less what they fold into, per-SKU hours


def test_recent_hours_stay_as_they_are(chain):
    recent = TODAY - timedelta(days=chain - 1)
    day_hours(recent, 12, 15)

    assert report_hours_compact(now=NOW) == 0
    assert BranchHour.objects.count() == SalesHour.objects.count() == 2


def test_a_second_run_folds_nothing_more_and_a_late_hour_joins_its_day(chain):
    old = TODAY - timedelta(days=chain + 2)
    day_hours(old, 12, 15)
    report_hours_compact(now=NOW)
    assert report_hours_compact(now=NOW) == 0

    day_hours(old, 18)  # an event that reached head office late, rolled up into an hour of a folded day
    report_hours_compact(now=NOW)

    assert list(BranchHour.objects.values_list("sales", flat=True)) == [6]


def test_daily_per_sku_rows_stay(chain):
    old = TODAY - timedelta(days=chain + 2)
    day_hours(old, 12)
    SalesDay.objects.create(branch="B001", day=old, sku="LAC-LECHE-1L", sold_units=Decimal("3"))

    report_hours_compact(now=NOW)

    assert SalesDay.objects.count() == 1


def test_reports_per_hour_reach_back_only_as_far_as_the_hours_are_kept(chain):
    old = TODAY - timedelta(days=chain + 1)
    params = QueryDict(f"from={old}&to={old + timedelta(days=2)}&grain=hour")

    with pytest.raises(selectors.FilterError) as refusal:
        selectors.filters_parse(params, today=TODAY)

    assert refusal.value.reason == "hours_folded"


def test_the_nightly_housekeeping_folds_them(chain):
    day_hours(TODAY - timedelta(days=chain + 2), 12, 15)

    assert housekeeping_run(now=NOW).report_hours == 1 + 2 + 2
