"""Branch side: pull head office's change feed (``GET /api/v1/sync/changes``) and apply it page by page; then
report to central the changes that could not apply here (``POST /api/v1/sync/failed-changes``).

Each page is applied in one transaction together with the new cursor (branches/change_apply.py applies each
change). This runs in Celery tasks and ``manage.py sync_now``, never in a request; every HTTP call happens outside
any database transaction.
"""

import logging
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from branches import recovery
from branches.central_client import CentralUnavailable, central_call, central_session, credential_and_lock, sync_lock
from branches.change_apply import change_try
from branches.models import AppliedChange, FailedChange, SyncState
from branches.protocol import change_digest
from branches.sync_status import sync_state
from ecomarket.modes import Mode, only

log = logging.getLogger(__name__)


@dataclass
class PullSummary:
    applied: int = 0
    already_applied: int = 0
    failed: int = 0
    reported: int = 0
    resyncs: int = 0
    kinds: dict = field(default_factory=dict)
    skipped: str = ""
    error: str = ""


@only(Mode.BRANCH)
def changes_pull(*, max_pages: int = 100) -> PullSummary:
    """Apply the change feed from the stored cursor on, then report to central the changes that could not apply.

    Each page is applied in one transaction together with the new cursor, each change on its own savepoint with
    its AppliedChange record: a change that cannot apply is recorded as a FailedChange and skipped, so it never
    blocks the changes after it, and a change pulled again (after a resync) is never applied twice. When central
    says the cursor names no change it holds (it was restored from a backup), the pull starts again from 0.
    Before any of it, the restore check a push makes (:func:`_recovered_for_pull`): a box restored from a backup
    pulls from the backup's cursor, and must first hold the events that say which of those changes it applied."""
    summary = PullSummary()
    with credential_and_lock("pull", summary) as ours:
        if not ours:
            return summary
        session = central_session()
        if not _recovered_for_pull(session, summary):
            return summary
        for _ in range(max_pages):
            cursor = sync_state().pull_cursor
            params = {"since": cursor}
            digest = _cursor_digest(cursor)
            if digest:
                params["digest"] = digest
            try:
                answer = central_call(session, "GET", "/api/v1/sync/changes", params=params)
            except CentralUnavailable as error:
                _pull_failed(error=str(error))
                summary.error = str(error)
                break
            if answer.get("resync"):
                if summary.resyncs:  # once per pull: from cursor 0 there is nothing left to disagree on
                    break
                _pull_resync(from_cursor=cursor, reason=str(answer["resync"]), newest=answer.get("newest_id"))
                summary.resyncs += 1
                continue
            changes = answer.get("changes", [])
            _changes_apply(changes=changes, from_cursor=cursor, next_cursor=int(answer["next_cursor"]), summary=summary)
            if not changes:
                break
        if not summary.error:
            _failed_changes_report(session=session, summary=summary)
    return summary


def _pull_failed(*, error: str) -> None:
    # In a transaction, so the write queues behind the tills' like every other (ecomarket/sqlite).
    with transaction.atomic():
        SyncState.objects.filter(pk=1).update(last_pull_error=error[:1000], last_pull_error_at=timezone.now())


def pull_overdue() -> bool:
    """Whether no pull has run (well or not) for twice SYNC_PULL_INTERVAL_S, or the last one lies in the future
    (the clock moved back). Under a steady stream of sales the push tasks a worker runs can keep beat's pull
    messages queued until they expire; a push task then pulls too (branches/tasks.py), so a busy branch still
    gets its prices, transfers and resend requests."""
    state = sync_state()
    last = max((t for t in (state.last_pull_at, state.last_pull_error_at) if t is not None), default=None)
    if last is None:
        return True
    age = (timezone.now() - last).total_seconds()
    return age < 0 or age > 2 * settings.SYNC_PULL_INTERVAL_S


def _cursor_digest(cursor: int) -> str:
    """The digest of the change the cursor names, as this branch applied (or failed) it; "" if unknown."""
    if not cursor:
        return ""
    for model in (AppliedChange, FailedChange):
        digest = model.objects.filter(id=cursor).values_list("digest", flat=True).first()
        if digest:
            return digest
    return ""


@transaction.atomic
def _pull_resync(*, from_cursor: int, reason: str, newest) -> None:
    state = SyncState.objects.select_for_update().get(pk=1)
    if state.pull_cursor != from_cursor:  # another pull moved it meanwhile
        return
    log.warning(
        "central holds no change %s as this branch knew it (%s; its newest is %s): pulling again from 0",
        from_cursor,
        reason,
        newest,
    )
    state.pull_cursor = 0
    state.last_pull_resync_at = timezone.now()
    state.last_pull_resync_reason = reason[:32]
    state.save()


@transaction.atomic
def _changes_apply(*, changes: list[dict], from_cursor: int, next_cursor: int, summary: PullSummary) -> None:
    state = SyncState.objects.select_for_update().get(pk=1)
    if state.pull_cursor != from_cursor:  # another pull applied this page already
        return
    ids = [change["id"] for change in changes]
    applied = dict(AppliedChange.objects.filter(id__in=ids).values_list("id", "digest"))
    failed = {failure.id: failure for failure in FailedChange.objects.filter(id__in=ids)}
    now = timezone.now()
    for change in changes:
        digest = change_digest(change)
        if applied.get(change["id"]) == digest:
            summary.already_applied += 1
            continue
        if change_try(change=change, digest=digest, failure=failed.get(change["id"]), now=now):
            summary.applied += 1
            summary.kinds[change["kind"]] = summary.kinds.get(change["kind"], 0) + 1
        else:
            summary.failed += 1
    state.pull_cursor = next_cursor
    state.last_pull_at = now
    state.last_pull_error = ""
    state.save()


def _recovered_for_pull(session, summary: "PullSummary") -> bool:
    """The pull's side of :func:`branches.recovery.recovered_before_sync`: the check (and any recovery) runs under
    the push lock, as a push's does; while a push holds it (perhaps recovering), this pull waits for the next one."""
    state = sync_state()
    if not recovery.recovery_due(state):
        return True
    with sync_lock("push") as ours:
        if not ours:
            summary.skipped = "a push is running, which checks for a restore first"
            return False
        return recovery.recovered_before_sync(
            session, state, summary, failed=lambda error, _retry_after: _pull_failed(error=error)
        )


def _failed_changes_report(*, session: requests.Session, summary: PullSummary) -> None:
    """Tell central which changes this branch could not apply (or applied after all), so managers see them.
    Outside any transaction; a report that does not arrive is sent again after the next pull."""
    failures = list(FailedChange.objects.filter(reported_at__isnull=True).order_by("id")[:500])
    if not failures:
        return
    body = {
        "branch": settings.BRANCH_CODE,
        "failures": [
            {
                "change_id": failure.id,
                "kind": failure.kind,
                "code": failure.code,
                "detail": failure.detail,
                "failed_at": failure.failed_at.isoformat(),
                "resolved_at": failure.resolved_at.isoformat() if failure.resolved_at else None,
            }
            for failure in failures
        ],
    }
    try:
        central_call(session, "POST", "/api/v1/sync/failed-changes", json=body)
    except CentralUnavailable as error:
        log.warning("could not report %s failed change(s) to central: %s", len(failures), error)
        summary.error = f"failed changes not reported: {error}"
        return
    now = timezone.now()
    with transaction.atomic():
        for failure in failures:
            # Only if nothing changed since it was read: a newer state is reported next time.
            FailedChange.objects.filter(
                id=failure.id, reported_at__isnull=True, attempts=failure.attempts, code=failure.code
            ).filter(
                Q(resolved_at__isnull=True) if failure.resolved_at is None else Q(resolved_at=failure.resolved_at)
            ).update(reported_at=now)
    summary.reported += len(failures)
