"""Central only: what the reconciliation job finds and what managers do about it (docs/architecture.md)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from branches.models import Branch
from inventory.models import QUANTITY


class DiscrepancyKind(models.TextChoices):
    MISSING_EVENTS = "missing_events", _("missing events")
    COUNT_MISMATCH = "count_mismatch", _("count mismatch")
    OVERSELL = "oversell", _("oversell")
    STALE_BRANCH = "stale_branch", _("stale branch")
    REJECTED_EVENT = "rejected_event", _("event central rejected")
    EVENT_CONFLICT = "event_conflict", _("conflicting event")
    CASH_MISMATCH = "cash_mismatch", _("cash close differs from sales")
    CASH_SESSION_OPEN = "cash_session_open", _("cash session left open")


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", _("open")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    RESOLVED = "resolved", _("resolved")
    AUTO_RESOLVED = "auto_resolved", _("auto-resolved (late events explained it)")


OPEN_STATUSES = [DiscrepancyStatus.OPEN, DiscrepancyStatus.ACKNOWLEDGED]


class Discrepancy(models.Model):
    """A disagreement the job found. At most one open record per (branch, SKU, kind); ``sku`` is empty for what
    concerns a whole branch (missing events, staleness)."""

    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="discrepancies", db_column="branch")
    sku = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=20, choices=DiscrepancyKind.choices)
    status = models.CharField(max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN)
    expected = models.DecimalField(**QUANTITY, null=True, blank=True, help_text=_("what central's ledger says"))
    actual = models.DecimalField(**QUANTITY, null=True, blank=True, help_text=_("what the branch reported"))
    detail = models.JSONField(default=dict, blank=True)
    first_detected_at = models.DateTimeField()
    last_changed_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-first_detected_at", "-id"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "sku", "kind"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="one_open_discrepancy_per_branch_sku_kind",
            )
        ]
        indexes = [
            models.Index(fields=["status", "kind"]),
            models.Index(fields=["first_detected_at"], name="discrepancy_first_detected"),  # found per day
            # The dashboard's first rows, newest first, read off an index instead of sorting every open record.
            models.Index(
                fields=["-first_detected_at", "-id"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="open_discrepancies_newest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.branch_id} {self.sku or '-'} ({self.status})"


class OversellStatus(models.TextChoices):
    OPEN = "open", _("open")
    CUSTOMER_CONTACTED = "customer_contacted", _("customer contacted")
    RESOLVED = "resolved", _("resolved")


class OversellResolution(models.TextChoices):
    REFUNDED = "refunded", _("refunded")
    BACK_ORDERED = "back_ordered", _("back-ordered")
    SUBSTITUTED = "substituted", _("substituted")
    TRANSFERRED = "transferred", _("transferred from another branch")


class OversellCase(models.Model):
    """Goods sold that the branch did not have: the sales (and so the customers) to follow up. Stays open until a
    person resolves it, even when stock later comes back."""

    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="oversell_cases", db_column="branch")
    sku = models.CharField(max_length=32)
    status = models.CharField(max_length=20, choices=OversellStatus.choices, default=OversellStatus.OPEN)
    resolution = models.CharField(max_length=16, choices=OversellResolution.choices, blank=True)
    shortfall = models.DecimalField(**QUANTITY, help_text=_("how far below zero the branch went"))
    sales = models.JSONField(help_text=_("[{sale_id, number, occurred_at, quantity, oversold, cashier}]"))
    source = models.CharField(max_length=40, blank=True, help_text=_("what drove the stock below zero"))
    episode_seq = models.PositiveBigIntegerField(
        null=True, blank=True, help_text=_("the seq that took the stock below zero in the episode this case is about")
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "sku"],
                condition=~Q(status="resolved"),
                name="one_unresolved_oversell_case_per_branch_sku",
            )
        ]

    def __str__(self) -> str:
        return f"oversell {self.branch_id} {self.sku} ({self.status})"


class CaseAction(models.Model):
    """The audit trail: who did what to a discrepancy or an oversell case, and when (the job included)."""

    discrepancy = models.ForeignKey(
        Discrepancy, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    oversell_case = models.ForeignKey(
        OversellCase, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    action = models.CharField(max_length=32)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=150)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(discrepancy__isnull=False) | Q(oversell_case__isnull=False), name="action_has_a_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} at {self.at:%Y-%m-%d %H:%M}"


class SeqWatch(models.Model):
    """A seq central has not received although later ones arrived: first a resend request, then a discrepancy."""

    branch = models.ForeignKey(Branch, on_delete=models.CASCADE, db_column="branch")
    seq = models.PositiveBigIntegerField()
    first_seen_at = models.DateTimeField()
    resend_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "seq"], name="one_watch_per_branch_seq")]

    def __str__(self) -> str:
        return f"{self.branch_id} #{self.seq} missing"


class BranchCheck(models.Model):
    """Where the job stands with one branch: the ingest mark it has looked at (an incremental pass looks at the
    events with a higher mark), the snapshot its counts were last compared with, and the error of its last pass if
    that branch's check failed (shown on the dashboard; the other branches were checked all the same)."""

    branch = models.OneToOneField(Branch, on_delete=models.CASCADE, primary_key=True, db_column="branch")
    ingest_mark = models.PositiveBigIntegerField(null=True, blank=True, help_text=_("empty: never checked"))
    snapshot_seq = models.PositiveBigIntegerField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.branch_id} checked up to mark {self.ingest_mark}"


class ReconciliationRun(models.Model):
    """One pass of the job: what it found and the per-branch lag (where it stands per branch: BranchCheck)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    full = models.BooleanField(default=False)
    summary = models.JSONField(default=dict)
    lag = models.JSONField(default=dict, help_text=_("{branch: {events, seconds_since_seen}} at the end of the run"))

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{'full' if self.full else 'incremental'} run {self.started_at:%Y-%m-%d %H:%M:%S}"


class BranchLag(models.Model):
    """A branch that was behind at the end of a pass (events central has seen numbers for but not all of): what the
    dashboard's lag chart draws, read with one grouped query instead of unpacking every recent pass's lag of the
    whole chain (docs/scale-runs.md "The dashboard at 500 branches"). A branch that was not behind has no row: its lag
    was 0."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="+")
    branch = models.ForeignKey(Branch, on_delete=models.CASCADE, related_name="+", db_column="branch")
    events = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "branch"], name="one_lag_per_run_branch")]

    def __str__(self) -> str:
        return f"{self.branch_id} {self.events} events behind at run {self.run_id}"
