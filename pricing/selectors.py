"""What is in force at an instant: read at the sale, by the branch's own clock, from the rows the change feed
delivered ahead of time. Local only: a branch never asks head office to price a sale.

Every sale asks, and the rows change rarely, so a process keeps what is in force (:class:`InForce`) from an instant
up to the next time anything scheduled starts or ends, and reads only the ``pricing`` generation per sale
(ecomarket/generations.py): a price or a promotion written by the pull, the admin or anything else changes it in
the same transaction, and the process reads the rows again. So a change applies from the next sale, and a
scheduled price switches at its time by the clock, with head office reachable or not.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Min, QuerySet, Window
from django.db.models.functions import RowNumber

from ecomarket import generations
from inventory.models import Product
from pricing.models import Promotion, ScheduledPrice


@dataclass(frozen=True)
class InForce:
    """The scheduled prices (by SKU) and the running promotions (by SKU) from ``since`` until ``until`` (None: no
    change is scheduled), as of ``generation``."""

    generation: object
    since: datetime
    until: datetime | None
    prices: dict[str, Decimal]
    promotions: dict[str, list[Promotion]]

    def holds(self, *, at: datetime, generation) -> bool:
        return (
            generation is not generations.UNTRACKED
            and generation == self.generation
            and self.since <= at
            and (self.until is None or at < self.until)
        )


_kept: InForce | None = None


def _in_force_read(*, at: datetime, generation) -> InForce:
    """Every SKU's scheduled price and every promotion in force ``at``, and when that next changes. The latest
    schedule per SKU is picked by the database (a window over the SKU's schedules): a branch keeps every price it
    was ever sent."""
    latest = Window(
        RowNumber(), partition_by=F("product_id"), order_by=[F("effective_at").desc(), F("created_at").desc()]
    )
    prices = dict(
        ScheduledPrice.objects.filter(effective_at__lte=at)
        .annotate(latest=latest)
        .filter(latest=1)
        .values_list("product_id", "price")
    )
    changes = [ScheduledPrice.objects.filter(effective_at__gt=at).aggregate(next=Min("effective_at"))["next"]]
    promotions: dict[str, list[Promotion]] = {}
    for promotion in Promotion.objects.filter(ends_at__gt=at).order_by("starts_at", "id"):
        if promotion.starts_at > at:
            changes.append(promotion.starts_at)
            continue
        changes.append(promotion.ends_at)
        for sku in set(promotion.skus):
            promotions.setdefault(sku, []).append(promotion)
    until = min((change for change in changes if change is not None), default=None)
    return InForce(generation=generation, since=at, until=until, prices=prices, promotions=promotions)


def _in_force_kept(*, at: datetime, generation) -> InForce:
    """What is in force ``at``: kept by this process while ``generation`` stays and ``at`` is within the instants
    it holds for, else read again (and kept, unless ``at`` is before what is kept with the same generation: a sale
    priced at an earlier instant, a test's, does not replace the present)."""
    global _kept
    kept = _kept
    if kept is not None and kept.holds(at=at, generation=generation):
        return kept
    fresh = _in_force_read(at=at, generation=generation)
    if generation is not generations.UNTRACKED and (kept is None or kept.generation != generation or at >= kept.since):
        _kept = fresh
    return fresh


def pricing_in_force(*, skus: list[str], at: datetime) -> tuple[dict[str, Decimal], dict[str, list[Promotion]]]:
    """The scheduled prices and the promotions in force ``at`` for the SKUs named, as :func:`prices_in_force` and
    :func:`promotions_in_force` answer them. One statement (the ``pricing`` generation) while what this process
    keeps holds. Call it inside the sale's transaction, so what it reads is what the sale commits against."""
    generation = generations.generation("pricing")
    if generation is generations.UNTRACKED:  # nothing to keep them by: read what the sale needs
        return _prices_read(skus=skus, at=at), _promotions_read(skus=skus, at=at)
    now = _in_force_kept(at=at, generation=generation)
    return (
        {sku: now.prices[sku] for sku in skus if sku in now.prices},
        {sku: list(now.promotions[sku]) for sku in skus if sku in now.promotions},
    )


def prices_in_force(*, skus: list[str], at: datetime) -> dict[str, Decimal]:
    """The scheduled price of each SKU named that is in force ``at``: the latest ``effective_at`` at or before it,
    the later scheduled of two equal ones. A SKU with none in force is absent (its product's price holds)."""
    return pricing_in_force(skus=skus, at=at)[0]


def _prices_read(*, skus: list[str], at: datetime) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    rows = (
        ScheduledPrice.objects.filter(product_id__in=skus, effective_at__lte=at)
        .order_by("product_id", "-effective_at", "-created_at")
        .values_list("product_id", "price")
    )
    for sku, price in rows:
        prices.setdefault(sku, price)
    return prices


def price_in_force(*, product: Product, at: datetime) -> Decimal:
    return prices_in_force(skus=[product.sku], at=at).get(product.sku, product.price)


def promotions_in_force(*, skus: list[str], at: datetime) -> dict[str, list[Promotion]]:
    """The promotions running ``at`` (``starts_at`` <= at < ``ends_at``) for each SKU named. Few run at once, so
    their SKU lists are matched here rather than by a JSON lookup SQLite lacks."""
    return pricing_in_force(skus=skus, at=at)[1]


def _promotions_read(*, skus: list[str], at: datetime) -> dict[str, list[Promotion]]:
    wanted = set(skus)
    found: dict[str, list[Promotion]] = {}
    for promotion in Promotion.objects.filter(starts_at__lte=at, ends_at__gt=at).order_by("starts_at", "id"):
        for sku in wanted.intersection(promotion.skus):
            found.setdefault(sku, []).append(promotion)
    return found


def products_by_plu(*, plus: list[str]) -> dict[str, str]:
    """PLU -> SKU of the active products that carry the PLUs named."""
    return dict(Product.objects.filter(active=True, plu__in=plus).values_list("plu", "sku"))


def scheduled_price_list() -> QuerySet[ScheduledPrice]:
    return ScheduledPrice.objects.all()


def promotion_list() -> QuerySet[Promotion]:
    return Promotion.objects.all()
