"""Stock and sales reads. Local only: a branch never asks head office to answer a cashier."""

from decimal import Decimal
from types import SimpleNamespace

from django.db.models import DecimalField, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory import sql
from inventory.models import MONEY, Product, QuickKey, ReturnLine, Sale, SaleLine, StockLevel
from pricing.models import ScheduledPrice


def product_stock_list(*, branch: str, search: str = "") -> QuerySet[Product]:
    """Every active product with its on-hand at ``branch`` (0 where the branch never held it) and the price in force
    now (``price_in_force``: the latest scheduled price at or before now, else its own)."""
    on_hand = StockLevel.objects.filter(branch=branch, product=OuterRef("pk")).values("on_hand")[:1]
    scheduled = (
        ScheduledPrice.objects.filter(product=OuterRef("pk"), effective_at__lte=timezone.now())
        .order_by("-effective_at", "-created_at")
        .values("price")[:1]
    )
    products = Product.objects.filter(active=True).annotate(
        on_hand=Coalesce(
            Subquery(on_hand), Value(Decimal("0")), output_field=DecimalField(max_digits=12, decimal_places=3)
        ),
        price_in_force=Coalesce(Subquery(scheduled), F("price"), output_field=DecimalField(**MONEY)),
    )
    if search:
        # A PLU too: the till finds the product of a scale label it read by the label's PLU.
        products = products.filter(
            Q(sku__iexact=search) | Q(barcode=search) | Q(plu=search) | Q(name__icontains=search)
        )
    return products.order_by("sku")


def product_stock_get(*, branch: str, sku: str) -> SimpleNamespace | None:
    """One active product with its on-hand at ``branch``: the attributes ``product_stock_list`` gives each product.
    Plain SQL (inventory/sql.py): a till asks this for every item it scans."""
    row = sql.product_stock_row(branch=branch, sku=sku, now=timezone.now())
    if row is None:
        return None
    sku, name, unit, price, barcode, plu, on_hand, price_in_force = row
    return SimpleNamespace(
        sku=sku,
        name=name,
        unit=unit,
        price=price,
        price_in_force=price_in_force,
        barcode=barcode,
        plu=plu,
        on_hand=on_hand,
    )


def product_find(*, term: str) -> Product | None:
    """The product a cashier means by ``term``: its SKU, its barcode, or its exact name (the seed's ``producto``)."""
    return (
        Product.objects.filter(active=True).filter(Q(sku__iexact=term) | Q(barcode=term) | Q(name__iexact=term)).first()
    )


def product_name(sku: str) -> str:
    """The name a person reads for ``sku`` (the SKU itself if no product has it)."""
    return Product.objects.filter(pk=sku).values_list("name", flat=True).first() or sku


def sale_get(*, branch: str, sale_id) -> Sale | None:
    return Sale.objects.filter(branch=branch, pk=sale_id).prefetch_related("lines").first()


def stock_levels_list(*, branch: str = "", sku: str = "") -> QuerySet[StockLevel]:
    """Central's view of on-hand per (branch, SKU)."""
    levels = StockLevel.objects.all()
    if branch:
        levels = levels.filter(branch=branch)
    if sku:
        levels = levels.filter(product_id=sku)
    return levels.order_by("branch", "product_id")


def stock_totals(*, sku: str = "") -> list[dict]:
    """Chain-wide on-hand per SKU (``{"sku", "on_hand"}`` in SKU order), exact as of this read: central's folded
    totals plus the changes since (inventory/ledger.py), not a sum over every branch's levels."""
    return [{"sku": row_sku, "on_hand": on_hand} for row_sku, on_hand in sql.chain_stock_read(sku=sku)]


def sale_by_number(*, branch: str, number: int) -> Sale | None:
    """The sale with this ticket number (what staff read off a receipt)."""
    lines = SaleLine.objects.select_related("product")
    return (
        Sale.objects.filter(branch=branch, number=number)
        .select_related("cashier")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .first()
    )


def sale_by_provisional_number(*, branch: str, provisional_number: str) -> Sale | None:
    """The sale a till kept while the server was away, by the number on its provisional receipt (any case)."""
    return Sale.objects.filter(branch=branch, provisional_number__iexact=provisional_number).first()


def sale_returned(*, sale: Sale) -> dict[str, Decimal]:
    """How much of each SKU of ``sale`` has come back so far."""
    rows = ReturnLine.objects.filter(ret__sale=sale).values("product_id").annotate(quantity=Sum("quantity"))
    return {row["product_id"]: row["quantity"] for row in rows}


def quick_keys(*, branch: str) -> list[QuickKey]:
    """The till's quick keys at ``branch``: its own layout if head office gave it one, else the chain's; products
    no longer sold left out."""
    keys = QuickKey.objects.filter(product__active=True).select_related("product")
    own = list(keys.filter(branch=branch))
    return own or list(keys.filter(branch=""))
