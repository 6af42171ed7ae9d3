"""Branch side: the state of the link to head office (the SyncState row) and what the POS sync badge,
``GET /api/v1/sync/status`` and ``/readyz`` show of it. Local reads only: it never asks central."""

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from branches.backup import branch_backup_last_at
from branches.models import FailedChange, OutboxEvent, OutboxState, RecoveryState, ReplayFailure, SyncState
from chain.selectors import chain_replica_status
from ecomarket.modes import Mode, only


def sync_state() -> SyncState:
    """The link's one state row, created on first use."""
    return SyncState.objects.get_or_create(pk=1)[0]


@only(Mode.BRANCH)
def sync_status() -> dict:
    """What the POS sync badge and ``GET /api/v1/sync/status`` show. Local reads only."""
    state = sync_state()
    pending = OutboxEvent.objects.filter(state=OutboxState.PENDING)
    oldest = pending.aggregate(oldest=Min("occurred_at"))["oldest"]
    now = timezone.now()
    reachable = state.last_push_ok_at is not None and (
        state.last_push_error_at is None or state.last_push_ok_at >= state.last_push_error_at
    )
    return {
        "branch": settings.BRANCH_CODE,
        "pending_events": pending.count(),
        "parked_events": OutboxEvent.objects.filter(state=OutboxState.PARKED).count(),
        "oldest_pending_age_s": round((now - oldest).total_seconds(), 3) if oldest else 0,
        "last_push_ok_at": state.last_push_ok_at,
        "last_push_error": state.last_push_error,
        "last_pull_at": state.last_pull_at,
        "central_reachable": reachable,
        "next_push_at": state.next_push_at,
        "pull_cursor": state.pull_cursor,
        "failed_changes": FailedChange.objects.filter(resolved_at__isnull=True).count(),
        "last_pull_resync_at": state.last_pull_resync_at,
        **_recovery_status(state),
        **_backup_status(now),
        # The replica of other stores' stock: when its figures were true at head office (chain/selectors.py).
        **chain_replica_status(),
    }


def _recovery_status(state: SyncState) -> dict:
    span = state.recovery_target_seq - state.recovery_from_seq
    done = state.recovery_done_seq - state.recovery_from_seq
    recovering = state.recovery_state == RecoveryState.RECOVERING
    return {
        "recovery_state": state.recovery_state,
        "recovery_progress": {
            "replayed": state.recovery_replayed,
            "done_seq": state.recovery_done_seq,
            "target_seq": state.recovery_target_seq,
            "fraction": round(min(1.0, done / span), 3) if recovering and span > 0 else (0.0 if recovering else 1.0),
        },
        "recovery_error": state.recovery_error,
        # Events central holds that the replay could not apply here (admin: replay failures): the box's figures
        # lack them until a manager acts.
        "replay_failures": ReplayFailure.objects.count(),
    }


def _backup_status(now) -> dict:
    last = branch_backup_last_at()
    return {"last_backup_at": last, "last_backup_age_s": round((now - last).total_seconds(), 1) if last else None}


def outbox_ready() -> dict:
    """/readyz's verdict on the outbox: not ready while its oldest unsent event is older than
    READY_OUTBOX_MAX_AGE_S."""
    age = sync_status()["oldest_pending_age_s"]
    return {
        "ok": age <= settings.READY_OUTBOX_MAX_AGE_S,
        "oldest_pending_age_s": age,
        "threshold_s": settings.READY_OUTBOX_MAX_AGE_S,
    }
