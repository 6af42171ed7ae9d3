"""Central only: what promotions and the till's markdowns took off, from the roll-ups (reports/models.py PriceDay,
MarkdownDay), with the same filters as the other reports, so the page and the CSV show the same figures."""

from django.db.models import Sum

from ecomarket.quantities import money, quantity
from inventory.models import Product
from pricing.models import Promotion
from reports.models import MarkdownDay, PriceDay
from reports.selectors import ReportFilters


def _days(model, filters: ReportFilters):
    rows = model.objects.filter(day__gte=filters.date_from, day__lte=filters.date_to)
    return rows.filter(branch__in=filters.branches) if filters.branches else rows


def discounts_by_promotion(filters: ReportFilters) -> list[dict]:
    """Per day, branch, SKU and promotion (none: ""): lines, units, gross, discount (of it the till's markdowns)
    and net; every sold line is counted, so a day's net is its sales."""
    rows = _days(PriceDay, filters)
    if filters.skus:
        rows = rows.filter(sku__in=filters.skus)
    rows = list(
        rows.values("day", "branch", "sku", "promotion")
        .annotate(
            lines_sold=Sum("lines"),
            units_sold=Sum("units"),
            gross_sum=Sum("gross"),
            discount_sum=Sum("discount"),
            markdown_sum=Sum("markdown_discount"),
        )
        .order_by("day", "branch", "sku", "promotion")
    )
    products = dict(Product.objects.filter(sku__in={row["sku"] for row in rows}).values_list("sku", "name"))
    ids = {row["promotion"] for row in rows if row["promotion"]}
    promotions = {str(pk): name for pk, name in Promotion.objects.filter(id__in=ids).values_list("id", "name")}
    return [
        {
            "day": row["day"].isoformat(),
            "branch": row["branch"],
            "sku": row["sku"],
            "name": products.get(row["sku"], ""),
            "promotion_id": row["promotion"],
            "promotion": promotions.get(row["promotion"], row["promotion"]),
            "lines": row["lines_sold"],
            "units": quantity(row["units_sold"]),
            "gross": money(row["gross_sum"]),
            "discount": money(row["discount_sum"]),
            "markdown_discount": money(row["markdown_sum"]),
            "net": money(row["gross_sum"] - row["discount_sum"]),
        }
        for row in rows
    ]


def markdowns_by_cashier(filters: ReportFilters) -> list[dict]:
    """Per branch, cashier, approving manager and reason over the period: the markdowns and price overrides given
    at the till and what they took off; the most taken first. Whole sales: the product filter does not apply."""
    rows = (
        _days(MarkdownDay, filters)
        .values("branch", "cashier", "approved_by", "reason")
        .annotate(count=Sum("markdowns"), taken=Sum("amount"))
        .order_by("branch", "cashier", "-taken", "reason")
    )
    return [
        {
            "branch": row["branch"],
            "cashier": row["cashier"],
            "approved_by": row["approved_by"],
            "reason": row["reason"],
            "markdowns": row["count"],
            "amount": money(row["taken"]),
        }
        for row in rows
    ]


COLUMNS = {
    "discounts": [
        "day",
        "branch",
        "sku",
        "name",
        "promotion_id",
        "promotion",
        "lines",
        "units",
        "gross",
        "discount",
        "markdown_discount",
        "net",
    ],
    "markdowns": ["branch", "cashier", "approved_by", "reason", "markdowns", "amount"],
}

REPORTS = {"discounts": discounts_by_promotion, "markdowns": markdowns_by_cashier}
