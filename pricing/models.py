"""Prices with an effective time and promotions (docs/architecture.md: a capability with models and rules of its own).

Head office writes them and announces each one in the change feed ahead of time; every branch keeps the same rows,
as the feed delivered them, and reads them by its own clock at the sale (pricing/selectors.py). Nothing here waits
on a timer: what is in force is what the rows say at the instant of the sale, so a store cut off from head office
switches on time all the same.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inventory.models import MONEY, Product


class ScheduledPrice(models.Model):
    """A product's price from ``effective_at`` on, until a later one takes over. Never changed: a correction is a
    new schedule. Among those in force, the latest ``effective_at`` wins, then the latest scheduled."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, db_column="sku", related_name="+")
    price = models.DecimalField(**MONEY)
    effective_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    # Head office's time of scheduling, the same at every branch: it breaks a tie between two equal effective_at.
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["product", "-effective_at", "-created_at"]
        indexes = [models.Index(fields=["product", "effective_at"], name="scheduled_price_sku_time")]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="scheduled_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.price} from {self.effective_at:%Y-%m-%d %H:%M}"


class PromotionKind(models.TextChoices):
    PERCENT = "percent", _("Percent off")
    PRICE = "price", _("Promotional price")
    MULTIBUY = "multibuy", _("Buy N, pay M")
    NTH_PERCENT = "nth_percent", _("Nth unit at a percent off")


class Promotion(models.Model):
    """A promotion on a set of SKUs from ``starts_at`` (included) to ``ends_at`` (excluded). ``percent`` for
    ``percent`` and ``nth_percent``; ``price`` for ``price``; ``buy``/``pay`` for ``multibuy`` (buy 3, pay 2);
    ``buy`` for ``nth_percent`` (every ``buy``-th unit at ``percent`` off)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=PromotionKind.choices)
    skus = models.JSONField(help_text=_("the SKUs it applies to"))
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    price = models.DecimalField(**MONEY, null=True, blank=True)
    buy = models.PositiveSmallIntegerField(null=True, blank=True)
    pay = models.PositiveSmallIntegerField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="promotion_period")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="promotion_ends_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"
