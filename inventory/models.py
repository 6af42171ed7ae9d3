"""The catalog, the stock ledger and the documents that move stock (docs/architecture.md).

The ledger (StockMovement) is the source of truth; StockLevel is a projection written in the same transaction and
rebuilt from the ledger by ``manage.py rebuild_stock_levels``. Both modes hold the same shapes: a branch keeps its
own rows, head office keeps every branch's, and at head office the chain-wide total per SKU as well (ChainStock).
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

QUANTITY = {"max_digits": 12, "decimal_places": 3}
MONEY = {"max_digits": 12, "decimal_places": 2}


class Unit(models.TextChoices):
    KILOGRAM = "kg", _("kilogram")
    UNIT = "unit", _("unit")


class Product(models.Model):
    sku = models.CharField(max_length=32, primary_key=True)
    name = models.CharField(max_length=120)
    unit = models.CharField(max_length=8, choices=Unit.choices)
    price = models.DecimalField(**MONEY)
    barcode = models.CharField(max_length=32, blank=True, db_index=True)
    # The number a scale prints on a weighed good's label (pricing/scale.py): digits only, as many as the chain's
    # label formats give it; blank for goods sold without a scale.
    # Every column added after 0.1.0 has a database default: 0.1.0's code, rolled back onto this schema, inserts rows
    # without it (CHANGELOG, "Rolling back").
    plu = models.CharField(max_length=8, blank=True, db_index=True, db_default="")
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def sold_by_weight(self) -> bool:
        return self.unit == Unit.KILOGRAM


class QuickKey(models.Model):
    """A button on the till for a product a cashier cannot scan (loose fruit and vegetables), in the order head
    office laid them out: for every branch (``branch`` empty) or one branch's own, which replaces the chain's there.
    Written at head office; the change feed carries each layout whole and a branch keeps its copy."""

    branch = models.CharField(max_length=16, blank=True, help_text=_("empty: every branch"))
    position = models.PositiveSmallIntegerField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, db_column="sku", related_name="+")

    class Meta:
        ordering = ["branch", "position"]
        constraints = [models.UniqueConstraint(fields=["branch", "position"], name="one_quick_key_per_place")]

    def __str__(self) -> str:
        return f"{self.branch or '*'} {self.position}: {self.product_id}"


class MovementKind(models.TextChoices):
    SALE = "sale", _("Sale")
    VOID = "void", _("Void")
    RETURN = "return", _("Return")
    RECEIPT = "receipt", _("Receipt")
    COUNT = "count", pgettext_lazy("stock record", "Count")
    ADJUSTMENT = "adjustment", _("Adjustment")
    # A branch's rows past its records' retention, folded into one per SKU (inventory/retention.py); never sent.
    OPENING = "opening", _("Opening balance")


class StockMovement(models.Model):
    """One signed change of one SKU's stock at one branch. Never updated; a branch folds its rows past its
    records' retention into one ``opening`` row per SKU (seq 0), so its on-hand is still the sum of its rows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    branch = models.CharField(max_length=16)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, db_column="sku", related_name="+")
    quantity = models.DecimalField(**QUANTITY)
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    reference = models.CharField(max_length=64, help_text=_("the sale, return, receipt or count that moved the stock"))
    occurred_at = models.DateTimeField()
    # The branch event's seq: the ledger at central and at the branch line up row for row.
    seq = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["branch", "seq"]
        indexes = [
            # Covering (PostgreSQL): reconciliation's sums and running balances per (branch, SKU) read the index
            # alone, in order, instead of one heap page per row of a ledger that interleaves every branch.
            models.Index(fields=["branch", "product", "seq"], include=["quantity"], name="movement_branch_sku_seq"),
            models.Index(fields=["branch", "seq"]),
        ]
        constraints = [models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero")]

    def __str__(self) -> str:
        return f"{self.branch} #{self.seq} {self.product_id} {self.quantity:+}"


class StockLevel(models.Model):
    """On-hand per (branch, SKU): a projection of the ledger, kept in the ledger's transaction."""

    branch = models.CharField(max_length=16)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, db_column="sku", related_name="levels")
    on_hand = models.DecimalField(**QUANTITY, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["branch", "product"]
        constraints = [models.UniqueConstraint(fields=["branch", "product"], name="one_level_per_branch_sku")]

    def __str__(self) -> str:
        return f"{self.branch} {self.product_id}: {self.on_hand}"


class ChainStock(models.Model):
    """Central: the chain's on-hand of one SKU (every branch's level added up) as of the last fold of the changes
    below. The chain total is this plus the SKU's ChainStockChange rows: exact at every instant, and read from
    about a row per SKU instead of one per (branch, SKU) (docs/scale-runs.md "Ledger growth")."""

    sku = models.CharField(max_length=32, primary_key=True)
    on_hand = models.DecimalField(**QUANTITY, default=Decimal("0"))

    def __str__(self) -> str:
        return f"{self.sku}: {self.on_hand} in the chain"


class ChainStockChange(models.Model):
    """Central: how much one SKU's levels moved in one transaction, written in that transaction and folded into
    ChainStock later (``inventory.ledger.chain_stock_fold``). Inserted, never updated: stores pushing at once each
    add rows of their own instead of queueing on a shared per-SKU total."""

    sku = models.CharField(max_length=32)
    delta = models.DecimalField(**QUANTITY)

    def __str__(self) -> str:
        return f"{self.sku} {self.delta:+}"


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    CARD = "card", _("Card")
    TRANSFER = "transfer", _("Transfer")
    VOUCHER = "voucher", _("Voucher")


class SaleStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    VOIDED = "voided", _("Voided")


class Sale(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    branch = models.CharField(max_length=16)
    number = models.PositiveIntegerField(help_text=_("the ticket number printed on the receipt, per branch"))
    status = models.CharField(max_length=12, choices=SaleStatus.choices, default=SaleStatus.COMPLETED)
    payment_method = models.CharField(max_length=12, choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    total = models.DecimalField(**MONEY)
    cashier = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    oversold = models.BooleanField(default=False, help_text=_("sold below zero stock under the branch's policy"))
    # SHA-256 of the normalised request: the same id with a different body is refused, never merged.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)
    # A discount the till gave on the whole sale ({percent or amount, reason}), shared out over its lines'
    # markdown_discount, and the manager who approved the sale's markdowns where they needed one.
    markdown = models.JSONField(null=True, blank=True)
    markdown_approved_by = models.CharField(max_length=150, blank=True, db_default="")
    # A sale the till kept while this server was away: the number on the customer's provisional receipt (staff find
    # the sale by it as well as by ``number``, given when it arrived); blank for a sale the server answered at once.
    provisional_number = models.CharField(
        max_length=32,
        blank=True,
        db_default="",
        db_index=True,
        help_text=_("the provisional receipt's number, for a sale the till kept while the branch server was away"),
    )

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["branch", "number"], name="one_sale_number_per_branch")]

    def __str__(self) -> str:
        return gettext("%(branch)s sale %(number)s") % {"branch": self.branch, "number": self.number}


class SaleLine(models.Model):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, db_column="sku", related_name="+")
    quantity = models.DecimalField(**QUANTITY)
    unit_price = models.DecimalField(**MONEY)
    line_total = models.DecimalField(**MONEY)
    # What the line would cost without a promotion or an approved discount (the label's price, for a scale label
    # that prints one), what came off it, and which promotion took it off; line_total = gross - discount.
    gross = models.DecimalField(**MONEY, null=True, blank=True)
    discount = models.DecimalField(**MONEY, default=Decimal("0"), db_default=Decimal("0"))
    promotion_id = models.UUIDField(null=True, blank=True)
    # The scale labels scanned for this line, in scan order (their PLU named its product).
    barcodes = models.JSONField(default=list, blank=True, db_default=[])
    # The line's own markdown ({percent or amount, reason}) and the part of discount the till's markdowns took
    # (its own and its share of the sale's); the rest of discount is the promotion's.
    markdown = models.JSONField(null=True, blank=True)
    markdown_discount = models.DecimalField(**MONEY, default=Decimal("0"), db_default=Decimal("0"))

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["sale", "product"], name="one_line_per_sku_per_sale"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="sale_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} x {self.quantity}"


class Return(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="returns")
    reason = models.CharField(max_length=200, blank=True)
    cashier = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"return {self.id} of {self.sale}"


class ReturnLine(models.Model):
    ret = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, db_column="sku", related_name="+")
    quantity = models.DecimalField(**QUANTITY)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="return_line_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.product_id} x {self.quantity}"


class StockDocumentKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt")
    COUNT = "count", pgettext_lazy("stock record", "Count")


class StockDocument(models.Model):
    """A goods receipt or a physical count as the staff entered it; the ledger rows it made reference its id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    branch = models.CharField(max_length=16)
    kind = models.CharField(max_length=12, choices=StockDocumentKind.choices)
    transfer_id = models.UUIDField(null=True, blank=True, help_text=_("a receipt of a transfer head office sent"))
    lines = models.JSONField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"
