"""Central only, like reconciliation (the seed's notes give both to head office): hourly roll-ups of central's
ledger that the head office reports read.

A report over a million sale events cannot unpack every event's lines on each request, so
``reports.services.report_rollup_refresh`` folds each branch's events, in seq order and only up to the branch's
high-water mark (every event below it is stored), into rows per (branch, hour), per (branch, day, SKU), per
(branch, hour, SKU) and per (branch, hour, payment method). Days are the chain's (TIME_ZONE) at the time of folding.
The events stay the source of truth: dropping these tables and rolling up again gives the same figures.
"""

from decimal import Decimal

from django.db import models

from inventory.models import MONEY, QUANTITY

ZERO = {"default": Decimal("0")}


class SkuFigures(models.Model):
    """What one branch sold, voided and took back of one SKU, valued at the prices the sales carried."""

    branch = models.CharField(max_length=16)
    sku = models.CharField(max_length=32)
    sold_units = models.DecimalField(**QUANTITY, **ZERO)
    sold_amount = models.DecimalField(**MONEY, **ZERO)
    voided_units = models.DecimalField(**QUANTITY, **ZERO)
    voided_amount = models.DecimalField(**MONEY, **ZERO)
    returned_units = models.DecimalField(**QUANTITY, **ZERO)
    returned_amount = models.DecimalField(**MONEY, **ZERO)

    class Meta:
        abstract = True


class SalesDay(SkuFigures):
    """Per (branch, day in the chain's time zone, SKU): what the product report and the SKU-filtered reports read
    (a month of a chain is about branches x 30 x SKUs rows, however many sales)."""

    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "day", "sku"], name="one_sales_day_per_sku")]
        indexes = [models.Index(fields=["day", "branch"]), models.Index(fields=["sku", "day"])]

    def __str__(self) -> str:
        return f"{self.branch} {self.day} {self.sku}"


class SalesHour(SkuFigures):
    """Per (branch, hour in UTC, SKU): only for sales per hour of chosen products."""

    hour = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "hour", "sku"], name="one_sales_hour_per_sku")]
        indexes = [models.Index(fields=["sku", "hour"])]

    def __str__(self) -> str:
        return f"{self.branch} {self.hour:%Y-%m-%d %H}h {self.sku}"


class BranchHour(models.Model):
    """One branch's figures in one hour (UTC), all products together: tickets, amounts sold, voided and returned,
    and sync health: how many events and how long they took to reach central (received minus occurred). What the
    reports without a product filter read (branches x 24 rows a day)."""

    branch = models.CharField(max_length=16)
    hour = models.DateTimeField()
    sales = models.PositiveIntegerField(default=0)
    sold_units = models.DecimalField(**QUANTITY, **ZERO)
    sold_amount = models.DecimalField(**MONEY, **ZERO)
    voided_amount = models.DecimalField(**MONEY, **ZERO)
    returned_amount = models.DecimalField(**MONEY, **ZERO)
    voids = models.PositiveIntegerField(default=0)
    returns = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    # A row holding a whole day (hours past REPORT_HOURLY_RETENTION_DAYS, folded): the most events of one of its
    # hours; 0 for a row of one hour, whose peak is ``events``.
    peak_events = models.PositiveIntegerField(default=0, db_default=0)
    lag_total_s = models.FloatField(default=0.0)
    lag_max_s = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "hour"], name="one_branch_hour")]
        indexes = [models.Index(fields=["hour", "branch"])]

    def __str__(self) -> str:
        return f"{self.branch} {self.hour:%Y-%m-%d %H}h"


class PaymentsHour(models.Model):
    """One branch's takings by payment method (cash, card, ...) in one hour (UTC): the sales paid with it, what they
    kept by it (the cash net of the change given back) and what voids and returns paid back by it."""

    branch = models.CharField(max_length=16)
    hour = models.DateTimeField()
    method = models.CharField(max_length=16)
    payments = models.PositiveIntegerField(default=0)
    paid_amount = models.DecimalField(**MONEY, **ZERO)
    refunded_amount = models.DecimalField(**MONEY, **ZERO)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "hour", "method"], name="one_payments_hour")]
        indexes = [models.Index(fields=["hour", "branch"], name="payments_hour_branch")]

    def __str__(self) -> str:
        return f"{self.branch} {self.hour:%Y-%m-%d %H}h {self.method}"


class RollupCursor(models.Model):
    """How far each branch's events are rolled up: every event with seq <= ``rolled_seq`` that central had stored by
    its ingest mark ``rolled_mark`` is in the tables above. One stored later below ``rolled_seq`` (rejected, then
    re-sent and accepted once its cause was fixed) has a higher mark, and is folded by the next run."""

    branch = models.CharField(max_length=16, primary_key=True)
    rolled_seq = models.PositiveBigIntegerField(default=0)
    rolled_mark = models.PositiveBigIntegerField(default=0)
    rolled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.branch} rolled up to #{self.rolled_seq}"


class PriceDay(models.Model):
    """Per (branch, day in the chain's time zone, SKU, promotion): what the sales' lines cost before any discount
    (``gross``), what promotions and the till's markdowns took off (``discount``, of it ``markdown_discount``) and
    so what was charged (``gross - discount``, the lines' ``line_total``). ``promotion`` is the promotion's id, or
    "" for lines no promotion discounted. Every sold line is here, so a day's net adds up to its sales."""

    branch = models.CharField(max_length=16)
    day = models.DateField()
    sku = models.CharField(max_length=32)
    promotion = models.CharField(max_length=36, blank=True)
    lines = models.PositiveIntegerField(default=0)
    units = models.DecimalField(**QUANTITY, **ZERO)
    gross = models.DecimalField(**MONEY, **ZERO)
    discount = models.DecimalField(**MONEY, **ZERO)
    markdown_discount = models.DecimalField(**MONEY, **ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["branch", "day", "sku", "promotion"], name="one_price_day_per_promotion")
        ]
        indexes = [models.Index(fields=["day", "branch"], name="price_day_branch")]

    def __str__(self) -> str:
        return f"{self.branch} {self.day} {self.sku} {self.promotion or '-'}"


class MarkdownDay(models.Model):
    """Per (branch, day, cashier, approving manager, reason): the markdowns and price overrides given at the till
    and what they took off. A line's own markdown counts under its reason; a whole sale's under the sale's."""

    branch = models.CharField(max_length=16)
    day = models.DateField()
    cashier = models.CharField(max_length=150)
    approved_by = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=200)
    markdowns = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(**MONEY, **ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["branch", "day", "cashier", "approved_by", "reason"], name="one_markdown_day_per_reason"
            )
        ]
        indexes = [models.Index(fields=["day", "branch"], name="markdown_day_branch")]

    def __str__(self) -> str:
        return f"{self.branch} {self.day} {self.cashier}: {self.reason}"
