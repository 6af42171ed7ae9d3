"""Managers see, per branch, the change-feed items the branch reported it could not apply."""

import pytest
from django.utils import timezone

from branches.models import BranchChangeFailure
from branches.tests.factories import branch_client

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


def test_the_dashboard_counts_each_branchs_unresolved_failed_changes(client, manager):
    _, branch = branch_client("B001")
    branch_client("B002")
    now = timezone.now()
    for change_id, resolved_at in ((11, None), (12, None), (13, now)):
        BranchChangeFailure.objects.create(
            branch=branch,
            change_id=change_id,
            kind="adjustment",
            code="unknown_sku",
            detail="Unknown SKU 'X'.",
            failed_at=now,
            resolved_at=resolved_at,
            reported_at=now,
        )
    manager.set_password("pw-manager-1")
    manager.save()
    client.login(username=manager.username, password="pw-manager-1")

    page = client.get("/dashboard/")

    health = {row["branch"].code: row["failed_changes"] for row in page.context["health"].rows}
    assert health == {"B001": 2, "B002": 0}
    assert "Cambios que la sucursal no pudo aplicar" in page.content.decode()
