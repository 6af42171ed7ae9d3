"""Central only: the customer contact a till took for an oversold sale (optional ``customer`` in the sale event's
payload: ``{name, phone, email}``), so head office can reach the customer.

Privacy: a branch sends a contact only with a sale that went below zero; central keeps it in that event's payload,
shows it only on manager pages and APIs, and erases it CUSTOMER_CONTACT_RETENTION_DAYS after the oversell case
naming the sale is resolved (or after the sale arrived, when no case ever named it), and in any case
CUSTOMER_CONTACT_MAX_DAYS after it arrived, whatever the case's status. The raw body central keeps of an event it
rejected or found in conflict (EventProblem, for diagnosis) loses its contact CUSTOMER_CONTACT_RETENTION_DAYS after
central first saw it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from branches.models import BranchEvent, EventProblem
from branches.protocol import EventType
from ecomarket.modes import Mode, only
from reconciliation.models import CaseAction, OversellCase, OversellStatus

ERASER = "retention"


def _with_contact():
    return BranchEvent.objects.filter(type=EventType.SALE_COMPLETED, payload__has_key="customer")


def oversell_customers(cases) -> dict[str, dict]:
    """The contacts of the sales these cases name, by sale id (only the sales that have one)."""
    wanted: dict[str, set[str]] = {}
    for case in cases:
        for sale in case.sales:
            wanted.setdefault(case.branch_id, set()).add(str(sale.get("sale_id")))
    if not wanted:
        return {}
    where = Q()
    for code, sale_ids in wanted.items():
        where |= Q(branch_id=code, sale_ref__in=sale_ids)
    return {
        str(sale_ref): payload["customer"]
        for sale_ref, payload in _with_contact().filter(where).values_list("sale_ref", "payload")
    }


@only(Mode.CENTRAL)
def customer_contacts_erase(*, now: datetime | None = None) -> int:
    """Erase every contact past its retention; returns how many. Safe to run twice: an erased contact is gone, so
    a second run finds nothing. Each erasure is written on the case's audit trail."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CUSTOMER_CONTACT_RETENTION_DAYS)
    longest = now - timedelta(days=settings.CUSTOMER_CONTACT_MAX_DAYS)
    erased = _problem_bodies_erase(cutoff=cutoff)
    held = list(_with_contact().values_list("id", "branch_id", "sale_ref", "received_at"))
    if not held:
        return erased
    cases_of: dict[tuple[str, str], list[OversellCase]] = {}
    for case in OversellCase.objects.filter(branch_id__in={code for _, code, _, _ in held}).only(
        "branch", "status", "sales", "updated_at"
    ):
        for sale in case.sales:
            cases_of.setdefault((case.branch_id, str(sale.get("sale_id"))), []).append(case)
    expired, audited = [], {}
    for event_id, code, sale_ref, received_at in held:
        cases = cases_of.get((code, str(sale_ref)), [])
        if received_at <= longest:
            due = True
        elif cases:
            due = all(case.status == OversellStatus.RESOLVED and case.updated_at <= cutoff for case in cases)
        else:
            due = received_at <= cutoff
        if due:
            expired.append(event_id)
            audited.update({case.pk: case for case in cases})
    with transaction.atomic():
        events = list(BranchEvent.objects.select_for_update().filter(id__in=expired, payload__has_key="customer"))
        for event in events:
            del event.payload["customer"]
        BranchEvent.objects.bulk_update(events, ["payload"])
        CaseAction.objects.bulk_create(
            [
                CaseAction(
                    oversell_case=case,
                    action="customer_contact_erased",
                    note=(
                        f"kept {settings.CUSTOMER_CONTACT_RETENTION_DAYS} days after resolution"
                        if case.status == OversellStatus.RESOLVED
                        else f"kept the longest allowed, {settings.CUSTOMER_CONTACT_MAX_DAYS} days"
                    ),
                    actor=ERASER,
                    at=now,
                )
                for case in audited.values()
            ]
        )
    return erased + len(events)


def _problem_bodies_erase(*, cutoff: datetime) -> int:
    """The contacts in the raw bodies of rejected or conflicting sale events first seen before ``cutoff``."""
    with transaction.atomic():
        problems = list(
            EventProblem.objects.select_for_update().filter(
                first_seen_at__lte=cutoff, body__type=EventType.SALE_COMPLETED, body__payload__has_key="customer"
            )
        )
        for problem in problems:
            del problem.body["payload"]["customer"]
        EventProblem.objects.bulk_update(problems, ["body"])
    return len(problems)
