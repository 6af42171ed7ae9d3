"""The cash drawer: registers (tills), their cash sessions from opening float to Z report, cash put in or taken out,
how each sale was paid and how each return or void was paid back (branch mode); and, at head office, each
branch's sessions as their events told them (central mode).

Inventory's Sale stays as it was: how a sale was paid and on which till lives here, beside it, so a sale rung up
without a register (an API client, the seed prototype's route) writes nothing more than before.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from inventory.models import MONEY, Sale

REGISTER_CODE = r"^[A-Za-z0-9_-]{1,16}$"


# ----------------------------------------------------------------------------------------------------------------
# Branch mode
# ----------------------------------------------------------------------------------------------------------------


class Register(models.Model):
    """A till. ``last_z_number`` is the number of its last Z report: the next close takes the one after it, in the
    close's transaction, so Z numbers are gapless per register."""

    code = models.CharField(max_length=16, primary_key=True)
    name = models.CharField(max_length=60)
    active = models.BooleanField(default=True)
    last_z_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class SessionStatus(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class CashSession(models.Model):
    """One register's drawer from its opening float to its blind close (the Z report, kept as closed)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    register = models.ForeignKey(Register, on_delete=models.PROTECT, related_name="sessions", db_column="register")
    status = models.CharField(max_length=8, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    opening_float = models.DecimalField(**MONEY)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField()
    open_seq = models.PositiveBigIntegerField(help_text="the seq of the event that opened it")
    fingerprint = models.CharField(max_length=64)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    z_number = models.PositiveIntegerField(null=True, blank=True)
    counted_cash = models.DecimalField(**MONEY, null=True, blank=True)
    close_fingerprint = models.CharField(max_length=64, blank=True)
    z_report = models.JSONField(null=True, blank=True, help_text="the Z report as it was closed")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["register"], condition=Q(status="open"), name="one_open_session_per_register"
            ),
            models.UniqueConstraint(fields=["register", "z_number"], name="one_z_number_per_register"),
            models.CheckConstraint(condition=Q(opening_float__gte=0), name="opening_float_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.register_id} session of {self.opened_at:%Y-%m-%d %H:%M} ({self.status})"


class MovementKind(models.TextChoices):
    IN = "in", _("cash in")
    OUT = "out", _("cash out")


class CashMovement(models.Model):
    """Cash put in a drawer or taken out of it (a pickup to the safe) during a session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(CashSession, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=4, choices=MovementKind.choices)
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    fingerprint = models.CharField(max_length=64)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="cash_movement_amount_positive")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


class SaleTender(models.Model):
    """How a sale was paid and on which till: written with the sale when it named a register or payments.
    ``payments``: [{method, amount}] as kept (adding up to the total; the cash one net of ``change``)."""

    sale = models.OneToOneField(Sale, on_delete=models.CASCADE, primary_key=True, related_name="tender")
    register = models.CharField(max_length=16, blank=True)
    session = models.ForeignKey(CashSession, null=True, on_delete=models.PROTECT, related_name="tenders")
    payments = models.JSONField()
    change = models.DecimalField(**MONEY, default=0)

    def __str__(self) -> str:
        return f"payment of {self.sale}"


class RefundKind(models.TextChoices):
    RETURN = "return", _("return")
    VOID = "void", _("void")


class Refund(models.Model):
    """Money paid back for a return (its id is the return's) or a void (the sale's id), by method, from the drawer
    of the session open on its register, if any."""

    id = models.UUIDField(primary_key=True)
    kind = models.CharField(max_length=8, choices=RefundKind.choices)
    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="refunds")
    register = models.CharField(max_length=16, blank=True)
    session = models.ForeignKey(CashSession, null=True, on_delete=models.PROTECT, related_name="refunds")
    payments = models.JSONField(help_text="[{method, amount}] paid back")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} refund of {self.sale}"


class DayClose(models.Model):
    """A store's business day, closed once every register's session is closed, with the day's totals."""

    day = models.DateField(primary_key=True)
    closed_at = models.DateTimeField()
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    totals = models.JSONField()

    def __str__(self) -> str:
        return f"day close {self.day}"


# ----------------------------------------------------------------------------------------------------------------
# Central mode
# ----------------------------------------------------------------------------------------------------------------


class Verdict(models.TextChoices):
    PENDING = "pending", _("waiting for its events")
    AGREES = "agrees", _("agrees")
    MISMATCH = "mismatch", _("differs from the sales received")


class SessionRecord(models.Model):
    """Central: a branch's cash session as its events told it, whichever arrived first (the opening, the Z). The
    reconciliation pass sets the ``verdict`` on its Z once every event up to the Z's ``last_seq`` is held."""

    branch = models.ForeignKey("branches.Branch", on_delete=models.PROTECT, db_column="branch", related_name="+")
    session_id = models.UUIDField()
    register = models.CharField(max_length=16)
    opened_at = models.DateTimeField(null=True, blank=True)
    opened_by = models.CharField(max_length=150, blank=True)
    opening_float = models.DecimalField(**MONEY, null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    z_number = models.PositiveIntegerField(null=True, blank=True)
    first_seq = models.PositiveBigIntegerField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(null=True, blank=True)
    z_report = models.JSONField(null=True, blank=True, help_text="the cash.session_closed payload")
    expected_cash = models.DecimalField(**MONEY, null=True, blank=True)
    counted_cash = models.DecimalField(**MONEY, null=True, blank=True)
    variance = models.DecimalField(**MONEY, null=True, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, default=Verdict.PENDING)
    judged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["branch", "session_id"], name="one_record_per_cash_session")]
        indexes = [models.Index(fields=["branch", "verdict"])]

    def __str__(self) -> str:
        return f"{self.branch_id} {self.register} Z{self.z_number or '-'}"
