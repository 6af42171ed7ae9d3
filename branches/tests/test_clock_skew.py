"""Central measures each branch's clock against its own at every push (the branch names its clock in a header),
keeps the difference per branch and exports it; NTP keeps it near zero (docs/operations.md, "Clocks")."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from branches.models import Branch
from branches.protocol import CLOCK_HEADER, clock_header_value, clock_skew
from branches.tests.factories import Events, branch_client
from ecomarket.tests.test_metrics import scrape, value
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def b001(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    client, _ = branch_client("B001")
    return client, Events("B001")


def push_with_clock(b001, clock: str | None):
    client, stream = b001
    headers = {CLOCK_HEADER: clock} if clock is not None else {}
    body = {"branch": "B001", "events": [stream.received(FRU_BANANA="1")]}
    answer = client.post("/api/v1/sync/events", body, format="json", headers=headers)
    assert answer.status_code == 200, answer.content
    return Branch.objects.get(code="B001").clock_skew_s


def test_a_branch_two_minutes_ahead_is_measured_two_minutes_ahead(b001):
    skew = push_with_clock(b001, clock_header_value(timezone.now() + timedelta(minutes=2)))

    assert 119.0 <= skew <= 120.0  # less at most the time the request took to arrive


def test_a_branch_behind_is_negative_and_a_corrected_clock_is_measured_again(b001):
    assert push_with_clock(b001, clock_header_value(timezone.now() - timedelta(minutes=5))) <= -300.0

    assert abs(push_with_clock(b001, clock_header_value(timezone.now()))) < 1.0


def test_a_push_without_a_clock_or_with_no_time_keeps_what_was_measured(b001):
    push_with_clock(b001, clock_header_value(timezone.now() + timedelta(minutes=2)))

    assert push_with_clock(b001, None) >= 119.0
    assert push_with_clock(b001, "yesterday") >= 119.0
    assert push_with_clock(b001, "2026-12-07T10:00:00") >= 119.0  # no offset: not a moment


def test_a_change_under_a_second_is_not_written_again(b001):
    first = push_with_clock(b001, clock_header_value(timezone.now() + timedelta(seconds=30)))

    assert push_with_clock(b001, clock_header_value(timezone.now() + timedelta(seconds=30.4))) == first


@override_settings(METRICS_ALLOW_FROM=["127.0.0.1/32"], METRICS_TOKEN="")
def test_the_skew_is_exported_per_branch(b001):
    push_with_clock(b001, clock_header_value(timezone.now() - timedelta(seconds=90)))

    assert value(scrape(), "ecomarket_branch_clock_skew_seconds", branch="B001") <= -90.0


def test_the_header_is_read_as_a_moment_with_its_offset():
    arrived = timezone.now()

    assert clock_skew(clock_header_value(arrived + timedelta(seconds=3.14)), arrived=arrived) == 3.1
    assert clock_skew((arrived + timedelta(hours=1)).astimezone().isoformat(), arrived=arrived) == 3600.0
    assert clock_skew("x" * 100, arrived=arrived) is None
