"""Central only: hourly roll-ups of central's ledger that the head office reports read (DESIGN.md §1: central can
implement reconciliation and reports).

A report over a million sale events cannot unpack every event's lines on each request, so
``reports.services.report_rollup_refresh`` folds each branch's events, in seq order and only up to the branch's
high-water mark (every event below it is stored), into one row per (branch, hour, SKU) and one per (branch, hour).
The events stay the source of truth: dropping these tables and rolling up again gives the same figures.
"""

from decimal import Decimal

from django.db import models

from inventory.models import MONEY, QUANTITY

ZERO = {"default": Decimal("0")}


class SalesHour(models.Model):
    """What one branch sold, voided and took back of one SKU in one hour (UTC), valued at the sale's prices."""

    branch = models.CharField(max_length=16)
    hour = models.DateTimeField()
    sku = models.CharField(max_length=32)
    sold_units = models.DecimalField(**QUANTITY, **ZERO)
    sold_amount = models.DecimalField(**MONEY, **ZERO)
    voided_units = models.DecimalField(**QUANTITY, **ZERO)
    voided_amount = models.DecimalField(**MONEY, **ZERO)
    returned_units = models.DecimalField(**QUANTITY, **ZERO)
    returned_amount = models.DecimalField(**MONEY, **ZERO)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "hour", "sku"], name="one_sales_hour_per_sku")]
        # Reports filter on a time range first, then on branches or SKUs.
        indexes = [models.Index(fields=["hour", "branch"]), models.Index(fields=["sku", "hour"])]

    def __str__(self) -> str:
        return f"{self.branch} {self.hour:%Y-%m-%d %H}h {self.sku}"


class BranchHour(models.Model):
    """One branch's tickets and sync health in one hour (UTC): how many sales, voids, returns and events, and how
    long its events took to reach central (received minus occurred)."""

    branch = models.CharField(max_length=16)
    hour = models.DateTimeField()
    sales = models.PositiveIntegerField(default=0)
    sales_amount = models.DecimalField(**MONEY, **ZERO)
    voids = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    lag_total_s = models.FloatField(default=0.0)
    lag_max_s = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "hour"], name="one_branch_hour")]
        indexes = [models.Index(fields=["hour", "branch"])]

    def __str__(self) -> str:
        return f"{self.branch} {self.hour:%Y-%m-%d %H}h"


class RollupCursor(models.Model):
    """How far each branch's events are rolled up: every event with seq <= ``rolled_seq`` is in the tables above."""

    branch = models.CharField(max_length=16, primary_key=True)
    rolled_seq = models.PositiveBigIntegerField(default=0)
    rolled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.branch} rolled up to #{self.rolled_seq}"
