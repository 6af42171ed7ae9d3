"""The dashboard's headline tiles: sales, tickets and average basket over whole days of the chain's time zone,
each against the same days a week before."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from reports.models import BranchHour
from reports.selectors import kpi_tiles

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

TODAY = date(2026, 12, 3)  # a Thursday


def hour(branch: str, at: datetime, sales: int, sold: str, voided: str = "0", returned: str = "0") -> None:
    BranchHour.objects.create(
        branch=branch,
        hour=at,
        sales=sales,
        sold_amount=Decimal(sold),
        voided_amount=Decimal(voided),
        returned_amount=Decimal(returned),
    )


@pytest.fixture
def hours(settings):
    """Buenos Aires (UTC-3): 02:00 UTC on the 4th is 23:00 on the 3rd there."""
    settings.TIME_ZONE = "America/Argentina/Buenos_Aires"
    timezone.activate(settings.TIME_ZONE)
    hour("B001", datetime(2026, 12, 3, 13, tzinfo=UTC), 4, "40.00", voided="5.00")
    hour("B001", datetime(2026, 12, 4, 2, tzinfo=UTC), 1, "20.00")  # still the 3rd in the chain's time
    hour("B002", datetime(2026, 12, 3, 14, tzinfo=UTC), 5, "15.00", returned="3.00")
    hour("B001", datetime(2026, 12, 3, 2, tzinfo=UTC), 2, "8.00")  # the 2nd in the chain's time
    hour("B001", datetime(2026, 11, 26, 13, tzinfo=UTC), 8, "50.00")  # a week before the 3rd
    hour("B001", datetime(2026, 11, 30, 13, tzinfo=UTC), 3, "9.00")  # Monday
    yield
    timezone.deactivate()


def figures(kpi: dict) -> dict:
    return {tile["name"]: (tile["value"], tile["before"], tile["change"]) for tile in kpi["tiles"]}


def test_today_counts_whole_days_of_the_chain_s_time_zone_against_a_week_before(hours):
    kpi = kpi_tiles(preset="today", today=TODAY)

    assert (kpi["first"], kpi["last"]) == (TODAY, TODAY)
    assert figures(kpi) == {
        "sales": (Decimal("67.00"), Decimal("50.00"), Decimal("34.0")),  # 75 sold less 5 voided, 3 returned
        "tickets": (10, 8, Decimal("25.0")),
        "basket": (Decimal("7.50"), Decimal("6.25"), Decimal("20.0")),
    }


def test_one_branch_s_tiles(hours):
    assert figures(kpi_tiles(preset="today", branch="B002", today=TODAY))["tickets"] == (5, 0, None)


def test_yesterday_and_this_week_so_far(hours):
    yesterday = kpi_tiles(preset="yesterday", today=TODAY)
    week = kpi_tiles(preset="week", today=TODAY)

    assert figures(yesterday)["tickets"] == (2, 0, None)  # nothing the week before to compare with
    assert (week["first"], week["last"]) == (date(2026, 11, 30), TODAY)
    assert figures(week)["tickets"] == (15, 8, Decimal("87.5"))  # Monday to Thursday, against 23-26 November
