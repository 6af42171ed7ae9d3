"""A branch clock that jumps (a box booting a year ahead, then corrected by NTP) never stops the branch pushing:
a backoff further ahead than any backoff could be is ignored."""

from datetime import timedelta

import pytest
from django.utils import timezone

from branches.models import SyncState
from branches.push import outbox_push
from harness.processes import port_free

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


@pytest.fixture
def unreachable_central(settings):
    """Nothing listens there: a push that is attempted fails at once, one that is not attempted says why."""
    settings.BRANCH_CREDENTIAL = "test-credential"
    settings.CENTRAL_URL = f"http://127.0.0.1:{port_free()}"
    settings.SYNC_BACKOFF_CAP_S = 15.0


def backoff_until(delta: timedelta) -> None:
    SyncState.objects.update_or_create(pk=1, defaults={"next_push_at": timezone.now() + delta, "push_failures": 3})


def test_a_backoff_written_by_a_clock_a_year_ahead_is_ignored(shelf, unreachable_central):
    backoff_until(timedelta(days=365))

    summary = outbox_push()

    assert summary.skipped == ""
    assert summary.error  # it tried
    assert SyncState.objects.get().next_push_at < timezone.now() + timedelta(seconds=15)


def test_a_backoff_within_the_cap_is_honoured(shelf, unreachable_central):
    backoff_until(timedelta(seconds=10))

    summary = outbox_push()

    assert summary.skipped.startswith("backing off until")
