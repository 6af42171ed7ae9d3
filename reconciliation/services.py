"""Central only: the reconciliation job and what managers do with its findings (DESIGN.md §6).

The job compares, per branch, what central holds with what it should hold, and keeps one open Discrepancy per
(branch, SKU, kind). It is idempotent: a second run over the same data writes nothing (a record changes only
when what was found changes). It is safe against late events: a count is compared only once central holds every
event up to the snapshot (the branch's high-water mark), and what late events explain is auto-resolved.
"""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from branches.feed import change_append, feed_lines_check, resend_request_create
from branches.ingest import accounted_seqs
from branches.models import Branch, BranchEvent, ChangeKind, EventProblem
from inventory.models import MovementKind, StockLevel, StockMovement
from reconciliation.models import (
    OPEN_STATUSES,
    CaseAction,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyStatus,
    OversellCase,
    OversellResolution,
    OversellStatus,
    ReconciliationRun,
    SeqWatch,
    SnapshotCheck,
)

JOB = "reconciliation"
ZERO = Decimal("0")
Q3 = Decimal("0.001")


@dataclass
class Findings:
    opened: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    auto_resolved: Counter = field(default_factory=Counter)
    resend_requests: int = 0
    oversell_cases_opened: int = 0
    oversell_cases_updated: int = 0
    branches_checked: int = 0

    def as_dict(self) -> dict:
        return {
            "opened": dict(self.opened),
            "updated": dict(self.updated),
            "auto_resolved": dict(self.auto_resolved),
            "resend_requests": self.resend_requests,
            "oversell_cases_opened": self.oversell_cases_opened,
            "oversell_cases_updated": self.oversell_cases_updated,
            "branches_checked": self.branches_checked,
        }

    @property
    def changed(self) -> bool:
        return bool(
            self.opened or self.updated or self.auto_resolved or self.resend_requests or self.oversell_cases_opened
        ) or bool(self.oversell_cases_updated)


# ----------------------------------------------------------------------------------------------------------------
# Discrepancy records: one open per (branch, SKU, kind)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class _Pass:
    """What one run reads once up front instead of once per branch and kind."""

    now: datetime
    findings: Findings
    open_records: dict = field(default_factory=dict)  # (branch, kind) -> {sku: Discrepancy}
    watched: set = field(default_factory=set)  # branches with SeqWatch rows
    with_problems: set = field(default_factory=set)  # branches with EventProblem rows

    @classmethod
    def load(cls, *, now: datetime, findings: Findings) -> "_Pass":
        run = cls(now=now, findings=findings)
        for record in Discrepancy.objects.filter(status__in=OPEN_STATUSES):
            run.open_records.setdefault((record.branch_id, record.kind), {})[record.sku] = record
        run.watched = set(SeqWatch.objects.values_list("branch_id", flat=True).distinct())
        run.with_problems = set(EventProblem.objects.values_list("branch_id", flat=True).distinct())
        return run

    def records(self, branch: Branch, kind: str) -> "_Ledger":
        return _Ledger(
            branch=branch,
            kind=kind,
            now=self.now,
            findings=self.findings,
            open_records=self.open_records.setdefault((branch.code, kind), {}),
        )


class _Ledger:
    """The open discrepancies of one kind at one branch (loaded once per pass), flagged and cleared."""

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
            _audit(discrepancy=record, action="detected", actor=JOB, data=detail, at=self.now)
            self.findings.opened[self.kind] += 1
            self.open[sku] = record
            return record
        if (_q(existing.expected), _q(existing.actual), existing.detail) != (_q(expected), _q(actual), detail):
            existing.expected, existing.actual, existing.detail, existing.last_changed_at = (
                expected,
                actual,
                detail,
                self.now,
            )
            existing.save(update_fields=["expected", "actual", "detail", "last_changed_at"])
            _audit(discrepancy=existing, action="updated", actor=JOB, data=detail, at=self.now)
            self.findings.updated[self.kind] += 1
        return existing

    def clear(self, sku: str = "", note: str = "") -> None:
        record = self.open.pop(sku, None)
        if record is None:
            return
        record.status, record.resolved_at, record.resolved_by = DiscrepancyStatus.AUTO_RESOLVED, self.now, JOB
        record.resolution_note = note
        record.last_changed_at = self.now
        record.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note", "last_changed_at"])
        _audit(discrepancy=record, action="auto_resolved", actor=JOB, note=note, at=self.now)
        self.findings.auto_resolved[self.kind] += 1

    def clear_unseen(self, note: str, within: set[str] | None = None) -> None:
        """Auto-resolve what was open but not found this time (limited to ``within`` when the check was partial)."""
        for sku in [sku for sku in self.open if sku not in self.seen and (within is None or sku in within)]:
            self.clear(sku, note)


def _q(value):
    return None if value is None else Decimal(value).quantize(Q3)


def _audit(*, at: datetime, actor: str, action: str, discrepancy=None, oversell_case=None, note="", data=None):
    return CaseAction.objects.create(
        discrepancy=discrepancy,
        oversell_case=oversell_case,
        action=action,
        note=note,
        data=data or {},
        actor=actor,
        at=at,
    )


# ----------------------------------------------------------------------------------------------------------------
# The job
# ----------------------------------------------------------------------------------------------------------------


def reconcile(
    *, full: bool = False, now: datetime | None = None, progress: Callable[[str], None] | None = None
) -> ReconciliationRun:
    """One pass over every branch. Incremental (the default) compares counts and stock only where events arrived
    since the last pass; ``full`` re-checks everything. Branch-level checks (missing events, rejected and
    conflicting events, staleness) are cheap and run for every branch either way."""
    now = now or timezone.now()
    previous = ReconciliationRun.objects.filter(finished_at__isnull=False).first()
    since = None if full or previous is None else previous.cursor
    cursor = BranchEvent.objects.aggregate(last=Max("received_at"))["last"]
    run = ReconciliationRun.objects.create(started_at=now, full=full or previous is None, cursor=cursor or since)
    findings = Findings()
    context = _Pass.load(now=now, findings=findings)
    lag = {}
    for branch in Branch.objects.order_by("code"):
        with transaction.atomic():
            branch = Branch.objects.select_for_update().get(pk=branch.pk)
            touched = since is None or BranchEvent.objects.filter(branch=branch, received_at__gt=since).exists()
            _missing_events_check(branch=branch, run=context)
            _problem_events_check(branch=branch, run=context)
            _stale_check(branch=branch, run=context)
            if touched:
                _count_check(branch=branch, run=context, full=since is None)
                _oversell_check(branch=branch, since=since, run=context)
        findings.branches_checked += 1
        lag[branch.code] = {
            "events": branch.lag,
            "seconds_since_seen": round((now - branch.last_seen_at).total_seconds(), 1)
            if branch.last_seen_at
            else None,
        }
        if progress:
            progress(branch.code)
    run.finished_at = timezone.now()
    run.summary = findings.as_dict()
    run.lag = lag
    run.save(update_fields=["finished_at", "summary", "lag"])
    return run


def _missing_events_check(*, branch: Branch, run: _Pass) -> None:
    """A gap older than the grace period gets a resend request; still there a grace period later, a discrepancy."""
    now, findings = run.now, run.findings
    grace = timedelta(seconds=settings.RECONCILE_GAP_GRACE_S)
    records = run.records(branch, DiscrepancyKind.MISSING_EVENTS)
    if branch.max_seq_seen <= branch.high_water_seq and branch.code not in run.watched:
        records.clear(note="the missing events arrived")
        return
    missing: set[int] = set()
    if branch.max_seq_seen > branch.high_water_seq:
        accounted = accounted_seqs(branch, branch.high_water_seq)
        missing = set(range(branch.high_water_seq + 1, branch.max_seq_seen + 1)) - accounted
    SeqWatch.objects.filter(branch=branch).exclude(seq__in=missing).delete()
    known = set(SeqWatch.objects.filter(branch=branch).values_list("seq", flat=True))
    SeqWatch.objects.bulk_create([SeqWatch(branch=branch, seq=seq, first_seen_at=now) for seq in missing - known])
    due = SeqWatch.objects.filter(branch=branch, resend_requested_at__isnull=True, first_seen_at__lte=now - grace)
    due_seqs = sorted(due.values_list("seq", flat=True))
    if due_seqs:
        resend_request_create(branch=branch, seqs=due_seqs)
        due.update(resend_requested_at=now)
        findings.resend_requests += 1
    overdue = sorted(
        SeqWatch.objects.filter(branch=branch, resend_requested_at__lte=now - grace).values_list("seq", flat=True)
    )
    if overdue:
        records.flag(detail={"seqs": overdue[:1000], "count": len(overdue)})
    elif not missing:
        records.clear(note="the missing events arrived")


def _problem_events_check(*, branch: Branch, run: _Pass) -> None:
    """Events central rejected or found in conflict leave a hole a manager must look at, until the event is
    stored after all (e.g. re-sent once the catalog caught up)."""
    problems = (
        list(EventProblem.objects.filter(branch=branch).order_by("seq")) if branch.code in run.with_problems else []
    )
    stored = set(
        BranchEvent.objects.filter(branch=branch, id__in=[p.event_id for p in problems]).values_list("id", flat=True)
    )
    for kind, problem_kind in (
        (DiscrepancyKind.REJECTED_EVENT, EventProblem.Kind.REJECTED),
        (DiscrepancyKind.EVENT_CONFLICT, EventProblem.Kind.CONFLICT),
    ):
        records = run.records(branch, kind)
        open_problems = [
            {"seq": p.seq, "event_id": str(p.event_id), "code": p.code}
            for p in problems
            if p.kind == problem_kind and (kind == DiscrepancyKind.EVENT_CONFLICT or p.event_id not in stored)
        ]
        if open_problems:
            records.flag(detail={"events": open_problems})
        else:
            records.clear(note="the events were stored after all")


def _stale_check(*, branch: Branch, run: _Pass) -> None:
    records = run.records(branch, DiscrepancyKind.STALE_BRANCH)
    threshold = run.now - timedelta(seconds=settings.RECONCILE_STALE_AFTER_S)
    if branch.last_seen_at is None or branch.last_seen_at < threshold:
        since = branch.last_seen_at.isoformat() if branch.last_seen_at else None
        records.flag(detail={"last_seen_at": since})
    else:
        records.clear(note="the branch is in contact again")


def _count_check(*, branch: Branch, run: _Pass, full: bool) -> None:
    """The newest snapshot central can judge (every event up to it stored) against central's ledger up to it.
    An incremental pass skips a snapshot it already judged: nothing arriving later can change that verdict."""
    snapshot = (
        BranchEvent.objects.filter(branch=branch, type="stock.snapshot", seq__lte=branch.high_water_seq + 1)
        .order_by("-seq")
        .first()
    )
    if snapshot is None:
        return
    as_of = snapshot.payload["as_of_seq"]
    if as_of > branch.high_water_seq:
        return  # watermark: a late event may still explain any difference
    checked = SnapshotCheck.objects.filter(branch=branch).values_list("snapshot_seq", flat=True).first()
    if not full and checked == snapshot.seq:
        return
    SnapshotCheck.objects.update_or_create(branch=branch, defaults={"snapshot_seq": snapshot.seq})
    branch_levels = {level["sku"]: Decimal(level["on_hand"]) for level in snapshot.payload["levels"]}
    ledger = dict(
        StockMovement.objects.filter(branch=branch.code, seq__lte=as_of)
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .values_list("product_id", "total")
    )
    records = run.records(branch, DiscrepancyKind.COUNT_MISMATCH)
    for sku in sorted(branch_levels.keys() | ledger.keys()):
        central, reported = _q(ledger.get(sku) or ZERO), _q(branch_levels.get(sku, ZERO))
        if central != reported:
            records.flag(
                sku=sku,
                expected=central,
                actual=reported,
                detail={"snapshot_seq": snapshot.seq, "as_of_seq": as_of, "difference": str(reported - central)},
            )
    records.clear_unseen(note=f"snapshot #{snapshot.seq} agrees with central's ledger")


def _oversell_check(*, branch: Branch, since: datetime | None, run: _Pass) -> None:
    """Central on-hand below zero: sales were made from stock the branch did not have. Each such (branch, SKU)
    gets an oversell discrepancy (auto-resolved when stock is back) and an OversellCase naming the sales, which
    only a person closes."""
    levels = StockLevel.objects.filter(branch=branch.code)
    if since is not None:
        levels = levels.filter(updated_at__gt=since)
    checked = dict(levels.values_list("product_id", "on_hand"))
    records = run.records(branch, DiscrepancyKind.OVERSELL)
    for sku, on_hand in sorted(checked.items()):
        if on_hand >= 0:
            continue
        sales, source = _oversold_sales(branch=branch, sku=sku)
        records.flag(sku=sku, expected=ZERO, actual=_q(on_hand), detail={"source": source, "sales": len(sales)})
        _oversell_case_upsert(
            branch=branch,
            sku=sku,
            shortfall=_q(-on_hand),
            sales=sales,
            source=source,
            now=run.now,
            findings=run.findings,
        )
    records.clear_unseen(note="stock is back at or above zero", within=set(checked))


def _oversold_sales(*, branch: Branch, sku: str) -> tuple[list[dict], str]:
    """Walk the (branch, SKU) ledger in seq order; every sale that left the running balance below zero sold goods
    that were not there. Also names what first took the balance below zero."""
    balance, oversold, source = ZERO, {}, ""
    rows = StockMovement.objects.filter(branch=branch.code, product_id=sku).order_by("seq")
    for seq, quantity, kind, reference in rows.values_list("seq", "quantity", "kind", "reference"):
        before, balance = balance, balance + quantity
        if balance < 0 and quantity < 0:
            source = source or {
                MovementKind.SALE: "sold_below_zero",
                MovementKind.ADJUSTMENT: "adjustment_or_transfer",
                MovementKind.COUNT: "count_below_sales",
            }.get(kind, kind)
            if kind == MovementKind.SALE:
                oversold[reference] = (seq, -quantity, min(-quantity, -balance if before >= 0 else -quantity))
    events = {str(e.id): e for e in BranchEvent.objects.filter(id__in=list(oversold))}
    sales = []
    for reference, (seq, quantity, short) in sorted(oversold.items(), key=lambda item: item[1][0]):
        event = events.get(reference)
        payload = event.payload if event else {}
        sales.append(
            {
                "sale_id": payload.get("sale_id", reference),
                "number": payload.get("number"),
                "seq": seq,
                "occurred_at": event.occurred_at.isoformat() if event else None,
                "quantity": str(_q(quantity)),
                "oversold": str(_q(short)),
                "cashier": payload.get("cashier", ""),
            }
        )
    return sales, source or "unknown"


def _oversell_case_upsert(*, branch, sku, shortfall, sales, source, now, findings) -> OversellCase:
    case = OversellCase.objects.filter(branch=branch, sku=sku).exclude(status=OversellStatus.RESOLVED).first()
    if case is None:
        case = OversellCase.objects.create(
            branch=branch, sku=sku, shortfall=shortfall, sales=sales, source=source, created_at=now, updated_at=now
        )
        _audit(oversell_case=case, action="opened", actor=JOB, data={"sales": len(sales)}, at=now)
        findings.oversell_cases_opened += 1
    elif case.sales != sales or _q(case.shortfall) != shortfall:
        case.sales, case.shortfall, case.updated_at = sales, shortfall, now
        case.save(update_fields=["sales", "shortfall", "updated_at"])
        _audit(oversell_case=case, action="updated", actor=JOB, data={"sales": len(sales)}, at=now)
        findings.oversell_cases_updated += 1
    return case


# ----------------------------------------------------------------------------------------------------------------
# What managers do
# ----------------------------------------------------------------------------------------------------------------


class ActionRefused(Exception):
    pass


def _actor(user) -> str:
    return user.get_username() if user else "system"


@transaction.atomic
def discrepancy_act(
    *, discrepancy_id: int, action: str, user, note: str = "", delta: Decimal | None = None, sku: str = ""
) -> Discrepancy:
    """Acknowledge, resolve, adjust stock (sent to the branch through the change feed; it comes back as the
    branch's ``stock.adjusted`` event) or request a recount (also through the feed). Every action is audited."""
    record = Discrepancy.objects.select_for_update().get(pk=discrepancy_id)
    now = timezone.now()
    closed = record.status not in OPEN_STATUSES
    if closed and action != "comment":
        raise ActionRefused(f"discrepancy {record.pk} is already {record.status}")
    data: dict = {}
    if action == "acknowledge":
        record.status = DiscrepancyStatus.ACKNOWLEDGED
    elif action == "resolve":
        if not note:
            raise ActionRefused("resolving needs a note saying what was done")
        record.status, record.resolved_at, record.resolved_by, record.resolution_note = (
            DiscrepancyStatus.RESOLVED,
            now,
            _actor(user),
            note,
        )
    elif action == "adjust_stock":
        sku = sku or record.sku
        if not sku or delta is None or delta == 0:
            raise ActionRefused("a stock adjustment needs a SKU and a non-zero delta")
        feed_lines_check(lines=[(sku, delta)], single=True)  # what the branch could never apply: 400 here
        adjustment_id = str(uuid.uuid4())
        change_append(
            kind=ChangeKind.ADJUSTMENT,
            branch=record.branch,
            payload={
                "adjustment_id": adjustment_id,
                "reason": f"head office adjustment for discrepancy {record.pk}: {note}".strip(": "),
                "lines": [{"sku": sku, "delta": str(_q(delta))}],
            },
        )
        data = {"adjustment_id": adjustment_id, "sku": sku, "delta": str(_q(delta))}
        record.status, record.resolved_at, record.resolved_by, record.resolution_note = (
            DiscrepancyStatus.RESOLVED,
            now,
            _actor(user),
            note or f"stock adjusted by {_q(delta)}",
        )
    elif action == "request_recount":
        skus = [sku or record.sku] if (sku or record.sku) else []
        change_append(kind=ChangeKind.RECOUNT, branch=record.branch, payload={"skus": skus, "note": note})
        data = {"skus": skus}
        record.status = DiscrepancyStatus.ACKNOWLEDGED
    elif action == "comment":
        if not note:
            raise ActionRefused("a comment needs a note")
    else:
        raise ActionRefused(f"unknown action {action!r}")
    record.last_changed_at = now
    record.save()
    _audit(discrepancy=record, action=action, actor=_actor(user), note=note, data=data, at=now)
    return record


@transaction.atomic
def oversell_case_act(*, case_id: int, action: str, user, note: str = "", resolution: str = "") -> OversellCase:
    """Follow an oversold customer up: ``contact`` (customer contacted) then ``resolve`` with how."""
    case = OversellCase.objects.select_for_update().get(pk=case_id)
    if case.status == OversellStatus.RESOLVED:
        raise ActionRefused(f"oversell case {case.pk} is already resolved")
    if action == "contact":
        case.status = OversellStatus.CUSTOMER_CONTACTED
    elif action == "resolve":
        if resolution not in OversellResolution.values:
            raise ActionRefused(f"resolution must be one of {', '.join(OversellResolution.values)}")
        case.status, case.resolution = OversellStatus.RESOLVED, resolution
    else:
        raise ActionRefused(f"unknown action {action!r}")
    now = timezone.now()
    case.note = "\n".join(filter(None, [case.note, note]))
    case.updated_at = now
    case.save()
    _audit(oversell_case=case, action=action, actor=_actor(user), note=note, data={"resolution": resolution}, at=now)
    return case
