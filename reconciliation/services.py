"""Central only: the reconciliation job (docs/architecture.md). ``reconcile`` runs one pass over every branch: the
checks (reconciliation/checks.py, one a kind of finding) compare what central holds with what it should hold, and the
bookkeeping (reconciliation/findings.py) keeps one open Discrepancy per (branch, SKU, kind). What managers do with the
findings is in reconciliation/actions.py.

The job is idempotent: a second run over the same data writes nothing (a record changes only when what was found
changes). It is safe against late events: a count is compared only once central holds every event up to the
snapshot (the branch's high-water mark), a verdict is taken again when an event at or below the snapshot arrives
later, and what late events explain is auto-resolved.

Lock order. Whatever takes more than one of these locks (the job here, the managers' actions, ingestion, the
change feed) takes them in this order, so no two of them can wait on each other in a cycle (PostgreSQL would abort
one of them as a deadlock):

1. the run lock (an advisory lock: one pass at a time; ``reconcile`` only);
2. branch rows, ``Branch`` FOR UPDATE: one at a time for ingestion, each branch's part of a pass and manager
   actions (which lock the branch of their record before the record); a transfer locks its two in code order
   (``branches.change_feed.branches_lock``), and ``change_append`` locks the branch of its change before 3;
3. the change feed's table lock (``branches.change_feed.change_append``), and then
4. the branch's reconciliation rows (Discrepancy, OversellCase, SeqWatch): these are only ever written under 2,
   so their order relative to 3 does not matter. BranchCheck, where the job stands with each branch, is written
   by passes alone, so under 1.

Since the job reads a branch's open records under 2 and a manager acts under 2 as well, the job never changes a
record a person closed (and its updates also say ``WHERE status is open``, in case anything else writes them).
An incremental pass skips 2 for a branch whose checks would write nothing but its BranchCheck (``_quiet``,
``_screen``).
"""

import copy
import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from branches.models import Branch
from ecomarket.db import rows_update
from ecomarket.modes import Mode, only
from reconciliation import checks
from reconciliation.findings import Findings, PassState
from reconciliation.lag import branch_lags_record
from reconciliation.models import BranchCheck, DiscrepancyKind, ReconciliationRun

logger = logging.getLogger(__name__)
# pg_advisory_xact_lock's key for "a reconciliation pass is running": b"ECM_RECO" as a bigint.
RUN_LOCK_KEY = 0x45434D5F5245434F


@only(Mode.CENTRAL)
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
        return _pass_run(full=full, now=now or timezone.now(), progress=progress)


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


def _pass_run(*, full: bool, now: datetime, progress: Callable[[str], None] | None) -> ReconciliationRun:
    """The pass itself, under the run lock. What it knows up front (the branch rows, the open records, where it
    stands with each branch) it reads in one snapshot of the database, together with the screen of an incremental
    pass (``_screen``); then each branch with something to write, in code order, is checked in a transaction of its
    own under its row lock."""
    run = ReconciliationRun.objects.create(started_at=now, full=full)
    with _snapshot_read():
        state = PassState.load(now=now, findings=Findings())
        state.cash_due = checks.cash_due(now=now)
        seen_rows = list(Branch.objects.order_by("code"))
        settled = {} if full else _screen(branches=seen_rows, state=state)
    with transaction.atomic():  # where the pass now stands with the settled branches
        rows_update(BranchCheck, list(settled.values()), ("ingest_mark", "snapshot_seq", "checked_at"))
    lag = {}
    for seen in seen_rows:
        code, branch = seen.code, seen
        before = copy.deepcopy(state.findings)
        try:
            # A quiet branch's checks would read nothing and write nothing, a settled one's would write nothing but
            # its mark: no transaction and no row lock for either (at 500 stores those round trips were most of an
            # incremental pass, docs/scale-runs.md "Ledger growth" and "Reconciliation while every store sells").
            if full or not (code in settled or _quiet(branch=seen, state=state)):
                with transaction.atomic():
                    branch = Branch.objects.select_for_update().get(pk=code)
                    _branch_reconcile(branch=branch, state=state, full=full)
            state.findings.branches_checked += 1
        except Exception as error:  # one branch's bad data must not stop the others' checks
            logger.exception("reconciliation: the check of branch %s failed", code)
            state.findings = before  # what the rolled-back check counted did not happen
            state.findings.failed[code] = _branch_error_record(code=code, error=error, now=now)
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
    run.summary = state.findings.as_dict()
    run.lag = lag
    run.save(update_fields=["finished_at", "summary", "lag"])
    branch_lags_record(run=run)
    return run


@contextmanager
def _snapshot_read() -> Iterator[None]:
    """One transaction whose reads all see the same committed state: REPEATABLE READ on PostgreSQL (a plain
    transaction on SQLite already reads one snapshot). Inside a caller's transaction, that one's isolation stands."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _screen(*, branches: list[Branch], state: PassState) -> dict[str, BranchCheck]:
    """The branches that received events since the pass last looked at them but whose checks would write nothing
    except where the pass now stands with them ("settled"), each with its BranchCheck moved there: no gap, problem
    event or open record of theirs that a check could clear, no new snapshot that differs from the ledger or could
    clear an open count record, no balance below zero and no open oversell record among the SKUs moved.

    Found with a handful of set-based queries for every such branch at once, read in the pass's snapshot, instead of a
    transaction, a row lock and about six round trips each, which with every store selling made the pass's time grow
    with the chain (docs/benchmarks.md, "Figures behind choices in the code"). Without the row lock the reads are still
    whole: in one snapshot, the branch row's ingest mark is that of its last committed batch, whose events, ledger rows
    and levels committed with it, so everything up to the mark is there. The mark written is that one: a batch
    committing after the snapshot is looked at by the next pass. Only BranchCheck is written, and only passes write it,
    one at a time, so no lock is needed for that either; a branch with anything else to write goes through the locked
    check. If the screen fails (bad data it could not read), it names no branch: each is checked on its own, and a
    failing one is recorded (and so left out of the screens after, until it passes)."""
    looks = [
        (branch, state.checks[branch.code], state.checks[branch.code].ingest_mark)
        for branch in branches
        if _idle(branch=branch, state=state) and state.checks[branch.code].ingest_mark != branch.ingest_mark
    ]
    try:
        with transaction.atomic():  # a savepoint: a failed read leaves the pass's snapshot usable
            snapshots = checks.snapshots_to_judge(looks)
            differences = checks.ledger_differences(snapshots)
            moved = checks.balances({branch.code: since for branch, _, since in looks})
    except Exception:
        logger.exception("reconciliation: the screen of busy branches failed; each is checked on its own")
        return {}
    settled = {}
    for branch, check, _ in looks:
        code = branch.code
        if code in snapshots and (differences[code] or state.open_records.get((code, DiscrepancyKind.COUNT_MISMATCH))):
            continue
        oversold = state.open_records.get((code, DiscrepancyKind.OVERSELL), {})
        if any(lowest < 0 or sku in oversold for sku, (lowest, _) in moved[code].items()):
            continue
        check.ingest_mark, check.checked_at = branch.ingest_mark, state.now
        if code in snapshots:
            check.snapshot_seq = snapshots[code].seq
        settled[code] = check
    return settled


def _quiet(*, branch: Branch, state: PassState) -> bool:
    """True when ``_branch_reconcile`` would neither read events nor write anything, judged from the branch row read
    without its lock: nothing stored since its checked mark, and nothing for the every-pass checks (``_idle``)."""
    check = state.checks.get(branch.code)
    return _idle(branch=branch, state=state) and check.ingest_mark == branch.ingest_mark


def _idle(*, branch: Branch, state: PassState) -> bool:
    """True when the checks that run for every branch would write nothing for ``branch``, judged from its row: a
    check without error up to some mark, no gap or watched seq, no problem events, no open record of the kinds those
    checks clear, and not silent. An ingest racing this read is one the pass would have seen only had it come
    first; the next pass sees it."""
    check = state.checks.get(branch.code)
    if check is None or check.ingest_mark is None or check.error:
        return False
    if (
        branch.max_seq_seen > branch.high_water_seq
        or branch.code in state.watched
        or branch.code in state.with_problems
        or branch.code in state.cash_due
    ):
        return False
    kinds = (
        DiscrepancyKind.MISSING_EVENTS,
        DiscrepancyKind.REJECTED_EVENT,
        DiscrepancyKind.EVENT_CONFLICT,
        DiscrepancyKind.STALE_BRANCH,
        DiscrepancyKind.CASH_MISMATCH,
        DiscrepancyKind.CASH_SESSION_OPEN,
    )
    if any(state.open_records.get((branch.code, kind)) for kind in kinds):
        return False
    threshold = state.now - timedelta(seconds=settings.RECONCILE_STALE_AFTER_S)
    return branch.revoked_at is not None or (branch.last_seen_at is not None and branch.last_seen_at >= threshold)


def _branch_reconcile(*, branch: Branch, state: PassState, full: bool) -> None:
    """One branch's checks, in the caller's transaction, under the branch's row lock: no ingest of this branch is
    in flight, so every event with a mark up to ``branch.ingest_mark`` is committed and visible."""
    check = state.checks.get(branch.code) or BranchCheck(branch=branch, ingest_mark=None)
    was = (check.ingest_mark, check.snapshot_seq, check.error)
    since = None if full or check.ingest_mark is None else check.ingest_mark
    checks.missing_events_check(branch=branch, state=state)
    checks.rejected_events_check(branch=branch, state=state)
    checks.conflicting_events_check(branch=branch, state=state)
    checks.stale_branch_check(branch=branch, state=state)
    checks.cash_mismatch_check(branch=branch, state=state)
    checks.cash_session_open_check(branch=branch, state=state)
    if since is None or branch.ingest_mark > since:
        checks.count_mismatch_check(branch=branch, state=state, check=check, since=since)
        checks.oversell_check(branch=branch, state=state, since=since)
    check.ingest_mark, check.error, check.error_at = branch.ingest_mark, "", None
    if (check.ingest_mark, check.snapshot_seq, check.error) != was:  # a pass over nothing new writes nothing
        check.checked_at = state.now
        check.save()


def _branch_error_record(*, code: str, error: Exception, now: datetime) -> str:
    """Keep what went wrong for the dashboard; the branch's mark stays where it was, so it is checked again."""
    message = f"{type(error).__name__}: {error}"[:2000]
    BranchCheck.objects.update_or_create(branch_id=code, defaults={"error": message, "error_at": now})
    return message
