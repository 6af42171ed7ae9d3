"""Central only: the reconciliation job and what managers do with its findings (DESIGN.md §6).

The job compares, per branch, what central holds with what it should hold, and keeps one open Discrepancy per
(branch, SKU, kind). It is idempotent: a second run over the same data writes nothing (a record changes only
when what was found changes). It is safe against late events: a count is compared only once central holds every
event up to the snapshot (the branch's high-water mark), a verdict is taken again when an event at or below the
snapshot arrives later, and what late events explain is auto-resolved.

Lock order. Whatever here takes more than one lock takes them in this order, so no two of them can wait on each
other in a cycle (PostgreSQL would abort one of them as a deadlock):

1. the run lock (an advisory lock: one pass at a time; ``reconcile`` only);
2. branch rows, ``Branch`` FOR UPDATE: one at a time for ingestion, each branch's part of a pass and manager
   actions (which lock the branch of their record before the record); a transfer locks its two in code order
   (``branches.feed.branches_lock``), and ``change_append`` locks the branch of its change before 3;
3. the change feed's table lock (``branches.feed.change_append``), and then
4. the branch's reconciliation rows (Discrepancy, OversellCase, SeqWatch, BranchCheck): these are only ever
   written under 2, so their order relative to 3 does not matter.

Since the job reads a branch's open records under 2 and a manager acts under 2 as well, the job never changes a
record a person closed (and its updates also say ``WHERE status is open``, in case anything else writes them).
An incremental pass skips 2 only for a branch whose checks would read and write nothing (``_quiet``).
"""

import copy
import fcntl
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from branches.feed import branches_lock, change_append, feed_lines_check, resend_request_create
from branches.ingest import accounted_seqs
from branches.models import Branch, BranchEvent, ChangeKind, EventProblem
from inventory.models import MovementKind, StockLevel, StockMovement
from reconciliation.models import (
    OPEN_STATUSES,
    BranchCheck,
    CaseAction,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyStatus,
    OversellCase,
    OversellResolution,
    OversellStatus,
    ReconciliationRun,
    SeqWatch,
)

logger = logging.getLogger(__name__)
# pg_advisory_xact_lock's key for "a reconciliation pass is running": b"ECM_RECO" as a bigint.
RUN_LOCK_KEY = 0x45434D5F5245434F
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
    """What one run reads once up front instead of once per branch and kind. Only the job creates records and
    passes run one at a time, so what is read here can only have been closed since (by a person): every write
    below says ``WHERE status is open`` and leaves such a record alone."""

    now: datetime
    findings: Findings
    open_records: dict = field(default_factory=dict)  # (branch, kind) -> {sku: Discrepancy}
    checks: dict = field(default_factory=dict)  # branch -> BranchCheck
    watched: set = field(default_factory=set)  # branches with SeqWatch rows
    with_problems: set = field(default_factory=set)  # branches with EventProblem rows

    @classmethod
    def load(cls, *, now: datetime, findings: Findings) -> "_Pass":
        run = cls(now=now, findings=findings)
        for record in Discrepancy.objects.filter(status__in=OPEN_STATUSES):
            run.open_records.setdefault((record.branch_id, record.kind), {})[record.sku] = record
        run.checks = {check.branch_id: check for check in BranchCheck.objects.all()}
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
    """The open discrepancies of one kind at one branch, flagged and cleared."""

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
            if not Discrepancy.objects.filter(pk=existing.pk, status__in=OPEN_STATUSES).update(
                expected=expected, actual=actual, detail=detail, last_changed_at=self.now
            ):
                del self.open[sku]  # a person closed it meanwhile: theirs stands; the next pass looks again
                return existing
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
        if not Discrepancy.objects.filter(pk=record.pk, status__in=OPEN_STATUSES).update(
            status=record.status,
            resolved_at=self.now,
            resolved_by=JOB,
            resolution_note=note,
            last_changed_at=self.now,
        ):
            return  # a person closed it first: theirs stands
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
) -> ReconciliationRun | None:
    """One pass over every branch. Incremental (the default) compares counts and stock only where events arrived
    since the pass last looked at the branch (its ingest mark); ``full`` re-checks everything. Branch-level checks
    (missing events, rejected and conflicting events, staleness) are cheap and run for every branch either way.

    One pass at a time, whoever starts it (beat, ``manage.py reconcile``, a redelivered task): an incremental pass
    that finds another running returns None at once (the next one looks at what it would have); a full pass waits
    for its turn. A branch whose check fails is recorded as failed (BranchCheck.error, on the dashboard) and
    checked again next time; the other branches are checked all the same."""
    with _run_lock(wait=full) as held:
        if not held:
            logger.info("reconciliation: another pass is running, this incremental pass is skipped")
            return None
        return _reconcile(full=full, now=now or timezone.now(), progress=progress)


@contextmanager
def _run_lock(*, wait: bool) -> Iterator[bool]:
    """Yields whether this process now holds the reconciliation run lock (lock order: first).

    On PostgreSQL, an advisory lock taken by a transaction on a connection of its own, kept open for the pass:
    it ends with that transaction, or when the process dies, and being transaction-scoped it stays right behind
    PgBouncer in transaction mode (a session-level lock would not). On SQLite (the embedded central, one machine)
    a file lock in DATA_DIR."""
    if connection.vendor == "postgresql":
        holder = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            holder.set_autocommit(False)
            with holder.cursor() as cursor:
                cursor.execute(f"SELECT pg_{'' if wait else 'try_'}advisory_xact_lock(%s)", [RUN_LOCK_KEY])
                held = wait or bool(cursor.fetchone()[0])
            yield held
        finally:
            holder.close()  # ends the transaction, and the lock with it
        return
    with open(settings.DATA_DIR / "reconcile.lock", "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
        else:
            yield True  # closing the file lets go


def _reconcile(*, full: bool, now: datetime, progress: Callable[[str], None] | None) -> ReconciliationRun:
    run = ReconciliationRun.objects.create(started_at=now, full=full)
    findings = Findings()
    context = _Pass.load(now=now, findings=findings)
    lag = {}
    for seen in Branch.objects.order_by("code"):
        code, branch = seen.code, seen
        before = copy.deepcopy(context.findings)
        try:
            # A quiet branch's checks would read nothing and write nothing: no transaction and no row lock for it
            # (at 500 stores those round trips were most of an incremental pass, docs/scale.md "Ledger growth").
            if full or not _quiet(branch=seen, run=context):
                with transaction.atomic():
                    branch = Branch.objects.select_for_update().get(pk=code)
                    _branch_reconcile(branch=branch, run=context, full=full)
            context.findings.branches_checked += 1
        except Exception as error:  # one branch's bad data must not stop the others' checks
            logger.exception("reconciliation: the check of branch %s failed", code)
            context.findings = before  # what the rolled-back check counted did not happen
            context.findings.failed[code] = _branch_error_record(code=code, error=error, now=now)
            branch = Branch.objects.get(pk=code)
        lag[branch.code] = {
            "events": branch.lag,
            "seconds_since_seen": round((now - branch.last_seen_at).total_seconds(), 1)
            if branch.last_seen_at
            else None,
        }
        if progress:
            progress(branch.code)
    run.finished_at = timezone.now()
    run.summary = context.findings.as_dict()
    run.lag = lag
    run.save(update_fields=["finished_at", "summary", "lag"])
    return run


def _quiet(*, branch: Branch, run: _Pass) -> bool:
    """True when ``_branch_reconcile`` would neither read events nor write anything, judged from the branch row read
    without its lock: nothing stored since its checked mark, no gap or watched seq, no problem events, no open
    record of the kinds its every-pass checks clear, and not silent. An ingest racing this read is one the pass
    would have seen only had it come first; the next pass sees it."""
    check = run.checks.get(branch.code)
    if check is None or check.ingest_mark is None or check.ingest_mark != branch.ingest_mark or check.error:
        return False
    if branch.max_seq_seen > branch.high_water_seq or branch.code in run.watched or branch.code in run.with_problems:
        return False
    kinds = (
        DiscrepancyKind.MISSING_EVENTS,
        DiscrepancyKind.REJECTED_EVENT,
        DiscrepancyKind.EVENT_CONFLICT,
        DiscrepancyKind.STALE_BRANCH,
    )
    if any(run.open_records.get((branch.code, kind)) for kind in kinds):
        return False
    threshold = run.now - timedelta(seconds=settings.RECONCILE_STALE_AFTER_S)
    return branch.revoked_at is not None or (branch.last_seen_at is not None and branch.last_seen_at >= threshold)


def _branch_reconcile(*, branch: Branch, run: _Pass, full: bool) -> None:
    """One branch's checks, in the caller's transaction, under the branch's row lock: no ingest of this branch is
    in flight, so every event with a mark up to ``branch.ingest_mark`` is committed and visible."""
    check = run.checks.get(branch.code) or BranchCheck(branch=branch, ingest_mark=None)
    was = (check.ingest_mark, check.snapshot_seq, check.error)
    since = None if full or check.ingest_mark is None else check.ingest_mark
    _missing_events_check(branch=branch, run=run)
    _problem_events_check(branch=branch, run=run)
    _stale_check(branch=branch, run=run)
    if since is None or branch.ingest_mark > since:
        _count_check(branch=branch, run=run, check=check, since=since)
        _oversell_check(branch=branch, run=run, since=since)
    check.ingest_mark, check.error, check.error_at = branch.ingest_mark, "", None
    if (check.ingest_mark, check.snapshot_seq, check.error) != was:  # a pass over nothing new writes nothing
        check.checked_at = run.now
        check.save()


def _branch_error_record(*, code: str, error: Exception, now: datetime) -> str:
    """Keep what went wrong for the dashboard; the branch's mark stays where it was, so it is checked again."""
    message = f"{type(error).__name__}: {error}"[:2000]
    BranchCheck.objects.update_or_create(branch_id=code, defaults={"error": message, "error_at": now})
    return message


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
    """Silence from a branch is news; from a branch whose credential was revoked (closed, replaced) it is not."""
    records = run.records(branch, DiscrepancyKind.STALE_BRANCH)
    if branch.revoked_at is not None:
        records.clear(note="the branch's credential was revoked")
        return
    threshold = run.now - timedelta(seconds=settings.RECONCILE_STALE_AFTER_S)
    if branch.last_seen_at is None or branch.last_seen_at < threshold:
        since = branch.last_seen_at.isoformat() if branch.last_seen_at else None
        records.flag(detail={"last_seen_at": since})
    else:
        records.clear(note="the branch is in contact again")


def _count_check(*, branch: Branch, run: _Pass, check: BranchCheck, since: int | None) -> None:
    """The newest snapshot central can judge (every event up to it stored) against central's ledger up to it.
    An incremental pass skips a snapshot it already judged unless an event at or below its ``as_of_seq`` arrived
    since (a parked event re-sent after its cause was fixed): that one changes the verdict."""
    # The seq and as_of_seq first: the levels (thousands of them) are read only when they are compared.
    newest = (
        BranchEvent.objects.filter(branch=branch, type="stock.snapshot", seq__lte=branch.high_water_seq + 1)
        .order_by("-seq")
        .values_list("id", "seq", "payload__as_of_seq")
        .first()
    )
    if newest is None:
        return
    snapshot_id, snapshot_seq, as_of = newest
    if as_of > branch.high_water_seq:
        return  # watermark: a late event may still explain any difference
    if (
        since is not None
        and check.snapshot_seq == snapshot_seq
        and not BranchEvent.objects.filter(branch=branch, ingest_mark__gt=since, seq__lte=as_of).exists()
    ):
        return
    check.snapshot_seq = snapshot_seq
    levels = BranchEvent.objects.values_list("payload__levels", flat=True).get(pk=snapshot_id)
    branch_levels = {level["sku"]: Decimal(level["on_hand"]) for level in levels}
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
                detail={"snapshot_seq": snapshot_seq, "as_of_seq": as_of, "difference": str(reported - central)},
            )
    records.clear_unseen(note=f"snapshot #{snapshot_seq} agrees with central's ledger")


# The running balance of each SKU a pass looks at, in seq order: its lowest point from the first seq that arrived
# since the last pass (a late event moves every balance after it), and where it stands now. Plain SQL window
# functions, which PostgreSQL and SQLite both run; on PostgreSQL they read the covering (branch, sku, seq)
# index of the ledger alone, already in order.
_BALANCES_SQL = """
SELECT sku, MIN(balance), SUM(quantity) FROM (
    SELECT sku, quantity, SUM(quantity) OVER (PARTITION BY sku ORDER BY seq ROWS UNBOUNDED PRECEDING) AS balance
    FROM {movements} WHERE branch = %s
) w GROUP BY sku
"""
# An incremental pass reads only the tail of each touched SKU's ledger, from its first new seq on, and walks it
# back from where the balance stands now (the on-hand projection, written in the ledger's transaction and read
# under the same branch lock): the balance after a row is on_hand less what came after it.
_BALANCES_SINCE_SQL = """
WITH touched AS (
    SELECT sku, MIN(seq) AS since_seq FROM {movements}
    WHERE branch = %s AND seq IN (SELECT seq FROM {events} WHERE branch = %s AND ingest_mark > %s) GROUP BY sku
), tail AS (
    SELECT m.sku, m.seq, m.quantity FROM {movements} m JOIN touched t ON t.sku = m.sku
    WHERE m.branch = %s AND m.seq >= t.since_seq
)
SELECT w.sku, MIN(l.on_hand - w.after), l.on_hand
FROM (
    SELECT sku, COALESCE(SUM(quantity) OVER (
        PARTITION BY sku ORDER BY seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ), 0) AS after
    FROM tail
) w JOIN {levels} l ON l.branch = %s AND l.sku = w.sku
GROUP BY w.sku, l.on_hand
"""


def _balances(*, branch: str, since: int | None) -> dict[str, tuple[Decimal, Decimal]]:
    """{sku: (lowest running balance since the first new seq, balance now)} for the SKUs moved since mark
    ``since`` (every SKU, over its whole ledger, when None)."""
    names = {"movements": _table(StockMovement), "events": _table(BranchEvent), "levels": _table(StockLevel)}
    sql, params = (
        (_BALANCES_SQL, [branch]) if since is None else (_BALANCES_SINCE_SQL, [branch, branch, since] + [branch] * 2)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**names), params)
        return {sku: (_decimal(lowest), _decimal(now)) for sku, lowest, now in cursor.fetchall()}


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _decimal(value) -> Decimal:
    """SQLite answers a sum as a float: back to the ledger's three decimals."""
    return value if isinstance(value, Decimal) else Decimal(str(value)).quantize(Q3)


def _oversell_check(*, branch: Branch, run: _Pass, since: int | None) -> None:
    """A running balance below zero: sales were made from stock the branch did not have. While it is below zero
    now, the (branch, SKU) has an oversell discrepancy (auto-resolved when stock is back); whenever it went below
    zero since the last pass, even if it recovered before this pass or within one batch, an OversellCase names
    the sales of that episode, which only a person closes."""
    records = run.records(branch, DiscrepancyKind.OVERSELL)
    balances = _balances(branch=branch.code, since=since)
    for sku, (lowest, on_hand) in sorted(balances.items()):
        if lowest is None or lowest >= 0:
            continue
        episode = _oversell_episode(branch=branch, sku=sku)
        sales = _episode_sales(episode=episode)
        case = _oversell_case_upsert(
            branch=branch, sku=sku, episode=episode, sales=sales, now=run.now, findings=run.findings
        )
        if on_hand < 0:
            listed = len(case.sales) if case else 0
            records.flag(sku=sku, expected=ZERO, actual=_q(on_hand), detail={"source": episode.source, "sales": listed})
    records.clear_unseen(note="stock is back at or above zero", within=set(balances))


SOURCES = {
    MovementKind.SALE: "sold_below_zero",
    MovementKind.ADJUSTMENT: "adjustment_or_transfer",
    MovementKind.COUNT: "count_below_sales",
}


@dataclass
class _Episode:
    """A stretch of a (branch, SKU) ledger, in seq order, where the running balance stood below zero."""

    start_seq: int
    source: str
    deepest: Decimal = ZERO
    sales: dict = field(default_factory=dict)  # sale event id -> (seq, quantity, oversold)


def _oversell_episode(*, branch: Branch, sku: str) -> _Episode:
    """The current episode: the last one, since the balance last stood at or above zero. Every sale in it sold
    goods that were not there (the part of its quantity below zero); its source is what took the balance below."""
    balance, episode = ZERO, None
    rows = StockMovement.objects.filter(branch=branch.code, product_id=sku).order_by("seq")
    for seq, quantity, kind, reference in rows.values_list("seq", "quantity", "kind", "reference"):
        before, balance = balance, balance + quantity
        if balance >= 0:
            continue
        if before >= 0:
            episode = _Episode(start_seq=seq, source=SOURCES.get(kind, kind))
        episode.deepest = max(episode.deepest, -balance)
        if kind == MovementKind.SALE:
            episode.sales[reference] = (seq, -quantity, min(-quantity, -balance) if before >= 0 else -quantity)
    return episode


def _episode_sales(*, episode: _Episode) -> list[dict]:
    events = {str(e.id): e for e in BranchEvent.objects.filter(id__in=list(episode.sales))}
    sales = []
    for reference, (seq, quantity, short) in sorted(episode.sales.items(), key=lambda item: item[1][0]):
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
    return sales


def _voided(*, branch: Branch, sale_ids: list[str]) -> set[str]:
    refs = BranchEvent.objects.filter(branch=branch, type="sale.voided", sale_ref__in=sale_ids)
    return {str(ref) for ref in refs.values_list("sale_ref", flat=True)}


def _oversell_case_upsert(*, branch, sku, episode: _Episode, sales: list[dict], now, findings) -> OversellCase | None:
    """The unresolved case of a (branch, SKU) lists the current episode's sales, less voided ones (nothing to
    follow up) and those a resolved case already answered; sales it listed before and still unanswered stay on it
    (their customers are still waiting). An episode a resolved case answered and that has no new sale opens no
    new case."""
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
    shortfall = _q(episode.deepest)
    if case is None:
        if not listed and (
            episode.source == SOURCES[MovementKind.SALE] or episode.start_seq in {c.episode_seq for c in resolved}
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
        _audit(oversell_case=case, action="opened", actor=JOB, data={"sales": len(listed)}, at=now)
        findings.oversell_cases_opened += 1
    elif (case.sales, _q(case.shortfall), case.source, case.episode_seq) != (
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
        _audit(oversell_case=case, action="updated", actor=JOB, data={"sales": len(listed)}, at=now)
        findings.oversell_cases_updated += 1
    return case


# ----------------------------------------------------------------------------------------------------------------
# What managers do
# ----------------------------------------------------------------------------------------------------------------


class ActionRefused(Exception):
    pass


def _branch_lock(code: str) -> None:
    """Lock order (module docstring): a record's branch before the record, as the job takes them."""
    branches_lock(Branch(code=code))


def _actor(user) -> str:
    return user.get_username() if user else "system"


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
    _branch_lock(OversellCase.objects.values_list("branch_id", flat=True).get(pk=case_id))
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
