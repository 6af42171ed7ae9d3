"""The link between a branch and head office.

Branch side: the outbox, one row per event of DESIGN.md §4, written in the same transaction as the change it
describes, with a gapless per-branch ``seq``.
"""

import uuid

from django.db import models
from django.db.models import Q


class OutboxState(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked", "parked (central rejected it)"


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
