"""What is in force at an instant: read at the sale, by the branch's own clock, from the rows the change feed
delivered ahead of time. Local only: a branch never asks head office to price a sale."""

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from inventory.models import Product
from pricing.models import Promotion, ScheduledPrice


def prices_in_force(*, skus: list[str], at: datetime) -> dict[str, Decimal]:
    """The scheduled price of each SKU named that is in force ``at``: the latest ``effective_at`` at or before it,
    the later scheduled of two equal ones. A SKU with none in force is absent (its product's price holds)."""
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
