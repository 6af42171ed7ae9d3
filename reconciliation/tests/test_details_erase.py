"""Resolved discrepancies keep their record but lose their detail past DISCREPANCY_DETAIL_RETENTION_DAYS
(reconciliation/findings.py resolved_details_erase), in the nightly housekeeping."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from branches.tests.factories import branch_client
from ecomarket.housekeeping import housekeeping_run
from reconciliation.findings import case_action_create, resolved_details_erase
from reconciliation.models import CaseAction, Discrepancy, DiscrepancyStatus

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

NOW = datetime(2026, 12, 1, 4, 15, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=settings.DISCREPANCY_DETAIL_RETENTION_DAYS + 1)
DETAIL = {"missing_seqs": list(range(1, 200))}


def discrepancy(sku: str, status: str, resolved_at: datetime | None) -> Discrepancy:
    _, branch = branch_client("B001")
    record = Discrepancy.objects.create(
        branch=branch,
        sku=sku,
        kind="missing_events",
        status=status,
        detail=DETAIL,
        first_detected_at=LONG_AGO - timedelta(days=1),
        last_changed_at=LONG_AGO,
        resolved_at=resolved_at,
        resolved_by="mario" if resolved_at else "",
        resolution_note="found the till's backup" if resolved_at else "",
    )
    case_action_create(discrepancy=record, action="detected", actor="reconciliation", data=DETAIL, at=LONG_AGO)
    return record


def test_resolved_long_ago_loses_its_detail_and_keeps_its_record():
    old = discrepancy("A", DiscrepancyStatus.RESOLVED, LONG_AGO)
    auto = discrepancy("B", DiscrepancyStatus.AUTO_RESOLVED, LONG_AGO)

    assert resolved_details_erase(now=NOW) == 2

    for record in (old, auto):
        record.refresh_from_db()
        assert record.detail == {}
        assert (record.status, record.resolved_at) != (DiscrepancyStatus.OPEN, None)
        assert CaseAction.objects.get(discrepancy=record).data == {}
    old.refresh_from_db()
    assert (old.resolved_by, old.resolution_note) == ("mario", "found the till's backup")


def test_open_and_recently_resolved_ones_keep_their_detail():
    open_one = discrepancy("A", DiscrepancyStatus.OPEN, None)
    acknowledged = discrepancy("B", DiscrepancyStatus.ACKNOWLEDGED, None)
    recent = discrepancy("C", DiscrepancyStatus.RESOLVED, NOW - timedelta(days=1))

    assert resolved_details_erase(now=NOW) == 0
    for record in (open_one, acknowledged, recent):
        record.refresh_from_db()
        assert record.detail == DETAIL


def test_a_second_run_erases_nothing_more():
    discrepancy("A", DiscrepancyStatus.RESOLVED, LONG_AGO)
    resolved_details_erase(now=NOW)

    assert resolved_details_erase(now=NOW) == 0


def test_the_nightly_housekeeping_erases_them():
    discrepancy("A", DiscrepancyStatus.RESOLVED, LONG_AGO)

    assert housekeeping_run(now=NOW).discrepancy_details == 1
