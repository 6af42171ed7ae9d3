"""Central keeps the release each branch names on its pushes and pulls, and shows which branches run which one."""

import pytest
from django.test import override_settings

from branches.credentials import branch_version_record
from branches.models import Branch
from branches.tests.factories import Events, branch_client, push
from ecomarket.tests.test_metrics import scrape, value
from ecomarket.version import VERSION_HEADER
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def b001(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    return branch_client("B001")


def test_a_push_records_the_release_the_branch_names(b001):
    client, _ = b001
    body = {"branch": "B001", "events": [Events("B001").received(FRU_BANANA="5")]}

    answer = client.post("/api/v1/sync/events", body, format="json", headers={VERSION_HEADER: "0.2.0"})

    assert answer.status_code == 200

    assert Branch.objects.get(code="B001").software_version == "0.2.0"


def test_a_pull_records_it_too_and_a_branch_that_names_none_is_kept_as_not_reported(b001):
    client, _ = b001
    Branch.objects.filter(code="B001").update(software_version="0.2.0")

    assert client.get("/api/v1/sync/changes", {"since": 0}).status_code == 200  # a release older than the header

    assert Branch.objects.get(code="B001").software_version == ""


def test_recording_the_release_puts_back_none_of_the_bookkeeping_a_push_wrote_meanwhile(b001):
    client, branch = b001  # `branch` was read before the push, as the request's authentication reads it
    stream = Events("B001")
    push(client, [stream.received(FRU_BANANA="5")])

    assert branch_version_record(branch=branch, version="0.2.0")

    stored = Branch.objects.get(code="B001")
    assert (stored.software_version, stored.high_water_seq) == ("0.2.0", 1)
    assert stored.last_seen_at is not None


def test_the_same_release_again_writes_nothing(b001):
    _, branch = b001

    assert branch_version_record(branch=branch, version="0.2.0")
    assert not branch_version_record(branch=branch, version="0.2.0")


def test_central_s_metrics_and_the_dashboard_count_branches_by_release(b001, client, manager):
    branch_client("B002")
    branch_client("B003")
    Branch.objects.filter(code__in=["B001", "B002"]).update(software_version="0.2.0")
    Branch.objects.filter(code="B003").update(software_version="0.10.0")

    with override_settings(METRICS_ALLOW_FROM=["127.0.0.1/32"], METRICS_TOKEN=""):
        samples = scrape()
    client.force_login(manager)
    page = client.get("/dashboard/").content.decode()

    assert value(samples, "ecomarket_branch_version_info", branch="B001", version="0.2.0") == 1
    assert value(samples, "ecomarket_branch_version_info", branch="B003", version="0.10.0") == 1
    from reconciliation.selectors import branch_releases  # central only: not importable in a branch's run

    assert branch_releases() == [("0.10.0", 1), ("0.2.0", 2)]
    assert 'id="releases"' in page and "0.10.0" in page
    assert page.count('<td class="release">0.2.0</td>') == 2
