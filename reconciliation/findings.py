"""Central only: the bookkeeping of what the reconciliation checks find (reconciliation/checks.py).

One open Discrepancy per (branch, SKU, kind): a check flags what it finds (opening the record, or updating it when
what was found changed) and clears what it no longer finds (auto-resolved). One unresolved OversellCase per
(branch, SKU), naming the sales to follow up. Every change is written on the audit trail (CaseAction) with the job
as its actor, and counted in the pass's Findings. A record changes only when what was found changes, so a second
pass over the same data writes nothing.

Only the job creates records, and passes run one at a time (reconciliation/services.py), so a record read at the
start of a pass can only have been closed since, by a person: every write here says ``WHERE status is open`` and
leaves such a record alone.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from branches.models import Branch, BranchEvent, EventProblem
from branches.protocol import EventType
from ecomarket.modes import Mode, only
from ecomarket.quantities import quantity
from inventory.models import MovementKind
from reconciliation.models import (
    OPEN_STATUSES,
    BranchCheck,
    CaseAction,
    Discrepancy,
    DiscrepancyStatus,
    OversellCase,
    OversellStatus,
    SeqWatch,
)

JOB_ACTOR = "reconciliation"  # who the audit trail names for what the job did
ZERO = Decimal("0")


@dataclass
class Findings:
    """What one pass did, counted (ReconciliationRun.summary)."""

    opened: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    auto_resolved: Counter = field(default_factory=Counter)
    resend_requests: int = 0
    oversell_cases_opened: int = 0
    oversell_cases_updated: int = 0
    branches_checked: int = 0
    failed: dict = field(default_factory=dict)  # branch -> the error its check raised

    def as_dict(self) -> dict:
        return {
            "opened": dict(self.opened),
            "updated": dict(self.updated),
            "auto_resolved": dict(self.auto_resolved),
            "resend_requests": self.resend_requests,
            "oversell_cases_opened": self.oversell_cases_opened,
            "oversell_cases_updated": self.oversell_cases_updated,
            "branches_checked": self.branches_checked,
            "failed": dict(self.failed),
        }


@dataclass
class PassState:
    """What one pass reads once up front instead of once per branch and kind, its clock, and what it found."""

    now: datetime
    findings: Findings
    open_records: dict = field(default_factory=dict)  # (branch, kind) -> {sku: Discrepancy}
    checks: dict = field(default_factory=dict)  # branch -> BranchCheck
    watched: set = field(default_factory=set)  # branches with SeqWatch rows
    with_problems: set = field(default_factory=set)  # branches with EventProblem rows
    cash_due: set = field(default_factory=set)  # branches with a Z to judge or a cash session open too long

    @classmethod
    def load(cls, *, now: datetime, findings: Findings) -> "PassState":
        state = cls(now=now, findings=findings)
        for record in Discrepancy.objects.filter(status__in=OPEN_STATUSES):
            state.open_records.setdefault((record.branch_id, record.kind), {})[record.sku] = record
        state.checks = {check.branch_id: check for check in BranchCheck.objects.all()}
        state.watched = set(SeqWatch.objects.values_list("branch_id", flat=True).distinct())
        state.with_problems = set(EventProblem.objects.values_list("branch_id", flat=True).distinct())
        return state

    def discrepancies(self, branch: Branch, kind: str) -> "OpenDiscrepancies":
        return OpenDiscrepancies(
            branch=branch,
            kind=kind,
            now=self.now,
            findings=self.findings,
            open_records=self.open_records.setdefault((branch.code, kind), {}),
        )


class OpenDiscrepancies:
    """The open discrepancies of one kind at one branch, flagged and cleared by one check."""

    def __init__(self, *, branch: Branch, kind: str, now: datetime, findings: Findings, open_records: dict) -> None:
        self.branch, self.kind, self.now, self.findings = branch, kind, now, findings
        self.open = open_records
        self.seen: set[str] = set()

    def flag(self, *, sku: str = "", expected=None, actual=None, detail: dict | None = None) -> Discrepancy:
        self.seen.add(sku)
        detail = detail or {}
        existing = self.open.get(sku)
        if existing is None:
            record = Discrepancy.objects.create(
                branch=self.branch,
                sku=sku,
                kind=self.kind,
                expected=expected,
                actual=actual,
                detail=detail,
                first_detected_at=self.now,
                last_changed_at=self.now,
            )
            case_action_create(discrepancy=record, action="detected", actor=JOB_ACTOR, data=detail, at=self.now)
            self.findings.opened[self.kind] += 1
            self.open[sku] = record
            return record
        was = (_quantity_or_none(existing.expected), _quantity_or_none(existing.actual), existing.detail)
        if was != (_quantity_or_none(expected), _quantity_or_none(actual), detail):
            existing.expected, existing.actual, existing.detail, existing.last_changed_at = (
                expected,
                actual,
                detail,
                self.now,
            )
            if not Discrepancy.objects.filter(pk=existing.pk, status__in=OPEN_STATUSES).update(
                expected=expected, actual=actual, detail=detail, last_changed_at=self.now
            ):
                del self.open[sku]  # a person closed it meanwhile: theirs stands; the next pass looks again
                return existing
            case_action_create(discrepancy=existing, action="updated", actor=JOB_ACTOR, data=detail, at=self.now)
            self.findings.updated[self.kind] += 1
        return existing

    def clear(self, sku: str = "", note: str = "") -> None:
        record = self.open.pop(sku, None)
        if record is None:
            return
        record.status, record.resolved_at, record.resolved_by = DiscrepancyStatus.AUTO_RESOLVED, self.now, JOB_ACTOR
        record.resolution_note = note
        record.last_changed_at = self.now
        if not Discrepancy.objects.filter(pk=record.pk, status__in=OPEN_STATUSES).update(
            status=record.status,
            resolved_at=self.now,
            resolved_by=JOB_ACTOR,
            resolution_note=note,
            last_changed_at=self.now,
        ):
            return  # a person closed it first: theirs stands
        case_action_create(discrepancy=record, action="auto_resolved", actor=JOB_ACTOR, note=note, at=self.now)
        self.findings.auto_resolved[self.kind] += 1

    def clear_unseen(self, note: str, within: set[str] | None = None) -> None:
        """Auto-resolve what was open but not found this time (limited to ``within`` when the check was partial)."""
        for sku in [sku for sku in self.open if sku not in self.seen and (within is None or sku in within)]:
            self.clear(sku, note)


def _quantity_or_none(value) -> Decimal | None:
    """``expected`` and ``actual`` are empty for the kinds that concern a whole branch: empty is not zero."""
    return None if value is None else quantity(value)


def case_action_create(
    *, at: datetime, actor: str, action: str, discrepancy=None, oversell_case=None, note="", data=None
) -> CaseAction:
    """One line of the audit trail of a discrepancy or an oversell case."""
    return CaseAction.objects.create(
        discrepancy=discrepancy,
        oversell_case=oversell_case,
        action=action,
        note=note,
        data=data or {},
        actor=actor,
        at=at,
    )


# What took a (branch, SKU) below zero, by the kind of the ledger row that did (OversellCase.source).
OVERSELL_SOURCES = {
    MovementKind.SALE: "sold_below_zero",
    MovementKind.ADJUSTMENT: "adjustment_or_transfer",
    MovementKind.COUNT: "count_below_sales",
}


@dataclass
class OversellEpisode:
    """A stretch of a (branch, SKU) ledger, in seq order, where the running balance stood below zero."""

    start_seq: int
    source: str
    deepest: Decimal = ZERO
    sales: dict = field(default_factory=dict)  # sale event id -> (seq, quantity, oversold)
    end_seq: int | None = None  # the movement that brought the balance back to zero or above; None: still below


def oversell_case_upsert(
    *, state: PassState, branch: Branch, sku: str, episode: OversellEpisode, sales: list[dict]
) -> OversellCase | None:
    """The unresolved case of a (branch, SKU) lists the current episode's sales, less voided ones (nothing to
    follow up) and those a resolved case already answered; sales it listed before and still unanswered stay on it
    (their customers are still waiting). An episode a resolved case answered and that has no new sale opens no
    new case."""
    now = state.now
    cases = list(OversellCase.objects.filter(branch=branch, sku=sku))
    resolved = [case for case in cases if case.status == OversellStatus.RESOLVED]
    answered = {sale["sale_id"] for case in resolved for sale in case.sales}
    case = next((case for case in cases if case.status != OversellStatus.RESOLVED), None)
    previous = case.sales if case else []
    voided = _voided(branch=branch, sale_ids=[str(uuid.UUID(str(s["sale_id"]))) for s in previous + sales])
    listed = {
        sale["sale_id"]: sale
        for sale in [*previous, *sales]
        if sale["sale_id"] not in answered and str(uuid.UUID(str(sale["sale_id"]))) not in voided
    }
    listed = sorted(listed.values(), key=lambda sale: sale["seq"])
    shortfall = quantity(episode.deepest)
    if case is None:
        if not listed and (
            episode.source == OVERSELL_SOURCES[MovementKind.SALE]
            or episode.start_seq in {c.episode_seq for c in resolved}
        ):
            return None
        case = OversellCase.objects.create(
            branch=branch,
            sku=sku,
            shortfall=shortfall,
            sales=listed,
            source=episode.source,
            episode_seq=episode.start_seq,
            created_at=now,
            updated_at=now,
        )
        case_action_create(oversell_case=case, action="opened", actor=JOB_ACTOR, data={"sales": len(listed)}, at=now)
        state.findings.oversell_cases_opened += 1
    elif (case.sales, quantity(case.shortfall), case.source, case.episode_seq) != (
        listed,
        shortfall,
        episode.source,
        episode.start_seq,
    ):
        case.sales, case.shortfall, case.source, case.episode_seq, case.updated_at = (
            listed,
            shortfall,
            episode.source,
            episode.start_seq,
            now,
        )
        case.save(update_fields=["sales", "shortfall", "source", "episode_seq", "updated_at"])
        case_action_create(oversell_case=case, action="updated", actor=JOB_ACTOR, data={"sales": len(listed)}, at=now)
        state.findings.oversell_cases_updated += 1
    return case


def _voided(*, branch: Branch, sale_ids: list[str]) -> set[str]:
    refs = BranchEvent.objects.filter(branch=branch, type=EventType.SALE_VOIDED, sale_ref__in=sale_ids)
    return {str(ref) for ref in refs.values_list("sale_ref", flat=True)}


# Discrepancies whose detail one transaction erases.
ERASE_CHUNK = 1000


@only(Mode.CENTRAL)
def resolved_details_erase(*, now: datetime) -> int:
    """Empty the detail of discrepancies resolved more than DISCREPANCY_DETAIL_RETENTION_DAYS before ``now``, and
    the copies of it on their audit trail; returns how many. The record, its status, who resolved it and why stay.
    Only resolved ones, which the job never writes again. Safe to run twice: an empty detail is not looked at."""
    cutoff = now - timedelta(days=settings.DISCREPANCY_DETAIL_RETENTION_DAYS)
    resolved = Discrepancy.objects.filter(
        status__in=[DiscrepancyStatus.RESOLVED, DiscrepancyStatus.AUTO_RESOLVED], resolved_at__lt=cutoff
    ).exclude(detail={})
    erased = 0
    while True:
        with transaction.atomic():
            ids = list(resolved.order_by("id").values_list("id", flat=True)[:ERASE_CHUNK])
            if not ids:
                return erased
            erased += Discrepancy.objects.filter(id__in=ids).update(detail={})
            CaseAction.objects.filter(discrepancy_id__in=ids).exclude(data={}).update(data={})


def resolved_details_housekeeping(now: datetime) -> dict[str, int]:
    """The nightly housekeeping's step (registered by reconciliation's AppConfig)."""
    return {"discrepancy_details": resolved_details_erase(now=now)}
