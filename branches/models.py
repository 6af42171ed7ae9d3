"""The link between a branch and head office.

Branch side: the outbox, one row per event of docs/protocol.md, written in the same transaction as the change it
describes, with a gapless per-branch ``seq``.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class OutboxState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    PARKED = "parked", _("parked (central rejected it)")


class OutboxEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seq = models.PositiveBigIntegerField(unique=True)
    type = models.CharField(max_length=32)
    occurred_at = models.DateTimeField()
    schema = models.PositiveSmallIntegerField(default=1)
    payload = models.JSONField()
    state = models.CharField(max_length=12, choices=OutboxState.choices, default=OutboxState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["state", "seq"])]
        constraints = [models.CheckConstraint(condition=Q(seq__gte=1), name="outbox_seq_from_one")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type} ({self.state})"


class RecoveryState(models.TextChoices):
    IDLE = "idle", _("Idle")
    CHECK = "check", _("ask central before the next push")
    RECOVERING = "recovering", _("Recovering")


class SyncState(models.Model):
    """Branch side: one row holding the link's state (singleton, pk=1). Backoff lives here, not in the broker, so
    a restart or a flushed broker forgets nothing."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_push_ok_at = models.DateTimeField(null=True, blank=True)
    last_push_error = models.TextField(blank=True)
    last_push_error_at = models.DateTimeField(null=True, blank=True)
    push_failures = models.PositiveIntegerField(default=0, help_text=_("consecutive failed pushes"))
    push_refusals = models.PositiveIntegerField(
        default=0, help_text=_("of those, the latest in a row central answered asking for a wait (429/503 Retry-After)")
    )
    next_push_at = models.DateTimeField(null=True, blank=True, help_text=_("backoff: no push before this time"))
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_pull_error = models.TextField(blank=True)
    last_pull_error_at = models.DateTimeField(null=True, blank=True)
    pull_cursor = models.PositiveBigIntegerField(default=0)
    last_pull_resync_at = models.DateTimeField(
        null=True, blank=True, help_text=_("when central last said the cursor names no change it holds (restored)")
    )
    last_pull_resync_reason = models.CharField(max_length=32, blank=True)
    central_high_water = models.PositiveBigIntegerField(
        default=0,
        help_text=_("the highest high_water_seq central answered: an answer below it means central lost events"),
    )
    # Recovery (branch restored from a backup, or rebuilt from nothing): central holds events of this branch that
    # this database does not. They are fetched back and replayed; new events take seqs and sale numbers above the
    # floors, so nothing central holds is ever numbered again.
    recovery_state = models.CharField(max_length=12, choices=RecoveryState.choices, default=RecoveryState.IDLE)
    recovery_from_seq = models.PositiveBigIntegerField(default=0)
    recovery_done_seq = models.PositiveBigIntegerField(default=0, help_text=_("replayed up to this seq"))
    recovery_target_seq = models.PositiveBigIntegerField(default=0, help_text=_("the highest seq central holds"))
    recovery_replayed = models.PositiveBigIntegerField(default=0)
    recovery_error = models.TextField(blank=True)
    seq_floor = models.PositiveBigIntegerField(default=0, help_text=_("new events take seqs above this"))
    sale_number_floor = models.PositiveIntegerField(default=0, help_text=_("new sales take numbers above this"))

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="one_sync_state")]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class AppliedChange(models.Model):
    """Branch side: a change-feed item applied here, written in the same transaction as its effect. Pulling it
    again (a cursor reset after central was restored, a restored box) finds it here and applies nothing twice.
    ``digest`` tells a change from another one that a restored central later gave the same id."""

    id = models.BigIntegerField(primary_key=True, help_text=_("the change feed id"))
    kind = models.CharField(max_length=16)
    digest = models.CharField(max_length=64)
    applied_at = models.DateTimeField()

    def __str__(self) -> str:
        return gettext("change %(id)s %(kind)s applied") % {"id": self.id, "kind": self.kind}


class FailedChange(models.Model):
    """Branch side: a change-feed item this branch could not apply (an unknown SKU, a fraction of a unit-sold
    product). It is skipped so later changes still apply, kept with its payload, and reported to central."""

    id = models.BigIntegerField(primary_key=True, help_text=_("the change feed id"))
    kind = models.CharField(max_length=16)
    digest = models.CharField(max_length=64)
    payload = models.JSONField()
    code = models.CharField(max_length=40)
    detail = models.TextField()
    failed_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text=_("applied after all (a later retry)"))
    reported_at = models.DateTimeField(null=True, blank=True, help_text=_("when central last heard of its state"))

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        values = {"id": self.id, "kind": self.kind, "code": self.code}
        return gettext("change %(id)s %(kind)s failed: %(code)s") % values


class ReplayFailure(models.Model):
    """Branch side: one of this branch's events, fetched back from central after a restore, that the replay could
    not apply here (it names a SKU the catalog lacks, its payload cannot be read, its seq is held here by another
    delivered event). It is recorded in the outbox as delivered all the same (central holds it), so the replay
    goes on with the rest instead of stopping the branch for good; this row says what is missing from the box's
    figures, for a manager (admin, sync status, /metrics)."""

    event_id = models.UUIDField(primary_key=True)
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32)
    code = models.CharField(max_length=40)
    detail = models.TextField()
    failed_at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        values = {"seq": self.seq, "type": self.type, "code": self.code}
        return gettext("#%(seq)s %(type)s not replayed: %(code)s") % values


class IncomingTransfer(models.Model):
    """Branch side: a transfer head office sent, waiting for the goods to be received here."""

    class State(models.TextChoices):
        IN_TRANSIT = "in_transit", _("In Transit")
        RECEIVED = "received", _("Received")

    id = models.UUIDField(primary_key=True)
    lines = models.JSONField()
    note = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_TRANSIT)
    sent_at = models.DateTimeField()
    received_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return gettext("transfer %(id)s (%(state)s)") % {"id": self.id, "state": self.get_state_display()}


class RecountRequest(models.Model):
    """Branch side: head office asks the store to count these SKUs again."""

    id = models.BigIntegerField(primary_key=True, help_text=_("the change feed id it came with"))
    skus = models.JSONField()
    note = models.TextField(blank=True)
    requested_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return gettext("recount %(skus)s") % {"skus": ", ".join(self.skus)}


# ----------------------------------------------------------------------------------------------------------------
# Central side
# ----------------------------------------------------------------------------------------------------------------


class Branch(models.Model):
    """Central side: a store, its credential (only a hash is kept) and how far its events have arrived."""

    code = models.CharField(max_length=16, primary_key=True)
    name = models.CharField(max_length=120)
    credential_hash = models.CharField(max_length=64, blank=True, db_index=True)
    credential_issued_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The credential a rotation replaced keeps working until then (BRANCH_CREDENTIAL_GRACE_S), so a store can be
    # switched to the new one without its sync stopping. Database defaults: the previous release inserts branches.
    previous_credential_hash = models.CharField(max_length=64, blank=True, default="", db_default="", db_index=True)
    previous_credential_valid_until = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    high_water_seq = models.PositiveBigIntegerField(
        default=0, help_text=_("the largest S such that events 1..S of this branch are all stored")
    )
    max_seq_seen = models.PositiveBigIntegerField(default=0)
    duplicates_absorbed = models.PositiveBigIntegerField(default=0)
    pending_reported = models.PositiveBigIntegerField(
        null=True, blank=True, help_text=_("events waiting in the branch's outbox, as it said on its last push")
    )
    ingest_mark = models.PositiveBigIntegerField(
        default=0, help_text=_("counts the batches that stored new events; taken under this row's lock (ingest.py)")
    )
    feed_applied_cursor = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "the branch applied the change feed up to here (the cursor of its latest pull); null: never pulled"
        ),
    )
    # A default in the database too: the previous release's code, run again on this database (a rollback), inserts
    # branches without naming this column.
    software_version = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_default="",
        help_text=_("the release the branch named on its latest push or pull; empty: it named none (older than 0.2.0)"),
    )
    clock_skew_s = models.FloatField(
        null=True,
        blank=True,
        help_text=_(
            "the branch's clock minus head office's when its latest push arrived (seconds, positive: the branch is "
            "ahead); null: not measured yet"
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "branches"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def silent(self, now) -> bool:
        """Not heard from (never, or for longer than RECONCILE_STALE_AFTER_S) while expected to call: a branch whose
        credential was revoked (closed, replaced) is not. Reconciliation's stale check and the dashboard's health."""
        if self.revoked_at is not None:
            return False
        return self.last_seen_at is None or (now - self.last_seen_at).total_seconds() > settings.RECONCILE_STALE_AFTER_S

    @property
    def lag(self) -> int:
        """Events central has seen numbers for but not all of: a hole or a batch still arriving."""
        return self.max_seq_seen - self.high_water_seq


class BranchEvent(models.Model):
    """Central side: every branch event, stored exactly once (unique per branch by id and by seq)."""

    id = models.UUIDField(primary_key=True)
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="events", db_column="branch")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32)
    occurred_at = models.DateTimeField()
    schema = models.PositiveSmallIntegerField()
    payload = models.JSONField()
    body_hash = models.CharField(max_length=64)
    received_at = models.DateTimeField()
    # The branch's ingest_mark of the batch that stored it: marks of one branch commit in order (they are taken
    # under the branch's row lock), so "mark > m" is exactly what arrived since a pass that saw mark m.
    ingest_mark = models.PositiveBigIntegerField(default=0)
    sale_ref = models.UUIDField(null=True, blank=True, help_text=_("the sale a sale or void event is about"))
    # A void whose sale has not arrived yet waits here; it is applied when the sale arrives (order independence).
    applied = models.BooleanField(default=True)

    class Meta:
        ordering = ["branch", "seq"]
        constraints = [models.UniqueConstraint(fields=["branch", "seq"], name="one_event_per_branch_seq")]
        indexes = [
            models.Index(fields=["branch", "sale_ref"]),
            models.Index(fields=["branch", "type", "seq"]),
            models.Index(fields=["branch", "ingest_mark"]),  # reconciliation: what arrived since the last pass
            # Voids waiting for their sale (branches/ingest.py: _voids_apply): a handful, found without a scan.
            models.Index(fields=["branch"], condition=Q(applied=False), name="branch_event_waiting_void"),
        ]

    def __str__(self) -> str:
        return f"{self.branch_id} #{self.seq} {self.type}"


class EventProblem(models.Model):
    """Central side: an event central could not store as sent. A conflict (its id or seq is already stored with
    another body) or a rejection (it failed validation); either way it is recorded, never silently dropped."""

    class Kind(models.TextChoices):
        CONFLICT = "conflict", _("Conflict")
        REJECTED = "rejected", _("Rejected")

    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="problems", db_column="branch")
    event_id = models.UUIDField()
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    code = models.CharField(max_length=40)
    detail = models.TextField()
    body = models.JSONField()
    body_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [models.UniqueConstraint(fields=["branch", "event_id", "body_hash"], name="one_problem_per_body")]

    def __str__(self) -> str:
        return f"{self.kind} {self.branch_id} #{self.seq}"


class ChangeKind(models.TextChoices):
    PRODUCT = "product", _("catalog or price change")
    TRANSFER = "transfer", _("transfer sent to the branch")
    RESEND = "resend", _("resend request")
    ADJUSTMENT = "adjustment", _("stock adjustment ordered by head office")
    RECOUNT = "recount", _("recount request")
    PRICE = "price", _("scheduled price")
    PROMOTION = "promotion", _("promotion")
    QUICK_KEYS = "quick_keys", _("the till's quick keys")


class Change(models.Model):
    """Central side: the change feed. ``id`` is the cursor; appends are serialised so ids commit in order and a
    branch reading ``id > cursor`` never skips one."""

    id = models.BigAutoField(primary_key=True)
    branch = models.ForeignKey(
        Branch, null=True, blank=True, on_delete=models.PROTECT, db_column="branch", help_text=_("empty: every branch")
    )
    kind = models.CharField(max_length=16, choices=ChangeKind.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        values = {"id": self.id, "kind": self.kind, "branch": self.branch_id or gettext("all")}
        return gettext("change %(id)s %(kind)s -> %(branch)s") % values


class BranchChangeFailure(models.Model):
    """Central side: a change-feed item a branch reported it could not apply, for a manager to act on (the
    branch skipped it and kept applying the rest)."""

    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="change_failures", db_column="branch")
    change_id = models.BigIntegerField()
    kind = models.CharField(max_length=16)
    code = models.CharField(max_length=40)
    detail = models.TextField()
    failed_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True, help_text=_("the branch applied it after all"))
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["-failed_at"]
        constraints = [models.UniqueConstraint(fields=["branch", "change_id"], name="one_failure_per_branch_change")]

    def __str__(self) -> str:
        values = {"branch": self.branch_id, "id": self.change_id, "code": self.code}
        return gettext("%(branch)s change %(id)s failed: %(code)s") % values


class Transfer(models.Model):
    """Central side: goods head office sends to a branch. The branch confirms arrival with ``stock.received``."""

    class State(models.TextChoices):
        SENT = "sent", _("Sent")
        RECEIVED = "received", _("Received")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    to_branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="transfers_in")
    from_branch = models.ForeignKey(
        Branch, null=True, blank=True, on_delete=models.PROTECT, related_name="transfers_out"
    )
    lines = models.JSONField()
    note = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.SENT)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    received_at = models.DateTimeField(null=True, blank=True)
    # What the branch's receipt said did not reach its shelf: [{sku, short, damaged}] (the stock.received event's
    # differences); null when it arrived as sent. Nullable so the previous release can still insert transfers.
    differences = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return gettext("transfer %(id)s -> %(branch)s") % {"id": self.id, "branch": self.to_branch_id}
