"""Central only: what managers do with the job's findings (docs/architecture.md, "Reconciliation"), from the API, the
dashboard and admin.

Each action locks the branch of its record before the record, as the job takes them (the lock order at the top of
reconciliation/services.py), so the job never changes a record a person closed and a person never acts on a record
the job is changing. A refused action raises ``DomainError("action_refused")``, answered 409.
"""

import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from rest_framework import status

from branches.change_feed import branches_lock, change_append, feed_lines_check
from branches.models import Branch, ChangeKind
from ecomarket.errors import DomainError
from ecomarket.modes import Mode, only
from ecomarket.quantities import quantity, quantity_text
from reconciliation.findings import case_action_create
from reconciliation.models import (
    OPEN_STATUSES,
    Discrepancy,
    DiscrepancyStatus,
    OversellCase,
    OversellResolution,
    OversellStatus,
)


def _refused(detail: str) -> DomainError:
    """The action cannot be taken on the record as it stands (closed, or the request lacks what it needs)."""
    return DomainError("action_refused", detail, status=status.HTTP_409_CONFLICT)


def _branch_lock(code: str) -> None:
    """Lock order (reconciliation/services.py): a record's branch before the record, as the job takes them."""
    branches_lock(Branch(code=code))


def _actor(user) -> str:
    return user.get_username() if user else "system"


@only(Mode.CENTRAL)
@transaction.atomic
def discrepancy_act(
    *, discrepancy_id: int, action: str, user, note: str = "", delta: Decimal | None = None, sku: str = ""
) -> Discrepancy:
    """Acknowledge, resolve, adjust stock (sent to the branch through the change feed; it comes back as the
    branch's ``stock.adjusted`` event) or request a recount (also through the feed). Every action is audited."""
    _branch_lock(Discrepancy.objects.values_list("branch_id", flat=True).get(pk=discrepancy_id))
    record = Discrepancy.objects.select_for_update().get(pk=discrepancy_id)
    now = timezone.now()
    closed = record.status not in OPEN_STATUSES
    if closed and action != "comment":
        raise _refused(f"discrepancy {record.pk} is already {record.status}")
    data: dict = {}
    if action == "acknowledge":
        record.status = DiscrepancyStatus.ACKNOWLEDGED
    elif action == "resolve":
        if not note:
            raise _refused("resolving needs a note saying what was done")
        record.status, record.resolved_at, record.resolved_by, record.resolution_note = (
            DiscrepancyStatus.RESOLVED,
            now,
            _actor(user),
            note,
        )
    elif action == "adjust_stock":
        sku = sku or record.sku
        if not sku or delta is None:
            raise _refused("a stock adjustment needs a SKU and a non-zero delta")
        # What the branch could never apply (an unknown SKU, a delta out of the ledger's range, "sNaN"): 400 here.
        feed_lines_check(lines=[(sku, delta)], single=True)
        if delta == 0:
            raise _refused("a stock adjustment needs a SKU and a non-zero delta")
        adjustment_id = str(uuid.uuid4())
        change_append(
            kind=ChangeKind.ADJUSTMENT,
            branch=record.branch,
            payload={
                "adjustment_id": adjustment_id,
                "reason": f"head office adjustment for discrepancy {record.pk}: {note}".strip(": "),
                "lines": [{"sku": sku, "delta": quantity_text(delta)}],
            },
        )
        data = {"adjustment_id": adjustment_id, "sku": sku, "delta": quantity_text(delta)}
        record.status, record.resolved_at, record.resolved_by, record.resolution_note = (
            DiscrepancyStatus.RESOLVED,
            now,
            _actor(user),
            note or f"stock adjusted by {quantity(delta)}",
        )
    elif action == "request_recount":
        skus = [sku or record.sku] if (sku or record.sku) else []
        change_append(kind=ChangeKind.RECOUNT, branch=record.branch, payload={"skus": skus, "note": note})
        data = {"skus": skus}
        record.status = DiscrepancyStatus.ACKNOWLEDGED
    elif action == "comment":
        if not note:
            raise _refused("a comment needs a note")
    else:
        raise _refused(f"unknown action {action!r}")
    record.last_changed_at = now
    record.save()
    case_action_create(discrepancy=record, action=action, actor=_actor(user), note=note, data=data, at=now)
    return record


@only(Mode.CENTRAL)
@transaction.atomic
def oversell_case_act(*, case_id: int, action: str, user, note: str = "", resolution: str = "") -> OversellCase:
    """Follow an oversold customer up: ``contact`` (customer contacted) then ``resolve`` with how."""
    _branch_lock(OversellCase.objects.values_list("branch_id", flat=True).get(pk=case_id))
    case = OversellCase.objects.select_for_update().get(pk=case_id)
    if case.status == OversellStatus.RESOLVED:
        raise _refused(f"oversell case {case.pk} is already resolved")
    if action == "contact":
        case.status = OversellStatus.CUSTOMER_CONTACTED
    elif action == "resolve":
        if resolution not in OversellResolution.values:
            raise _refused(f"resolution must be one of {', '.join(OversellResolution.values)}")
        case.status, case.resolution = OversellStatus.RESOLVED, resolution
    else:
        raise _refused(f"unknown action {action!r}")
    now = timezone.now()
    case.note = "\n".join(filter(None, [case.note, note]))
    case.updated_at = now
    case.save()
    case_action_create(
        oversell_case=case, action=action, actor=_actor(user), note=note, data={"resolution": resolution}, at=now
    )
    return case
