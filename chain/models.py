"""The chain's on-hand per (branch, SKU) and its recent sales, replicated from head office to every branch.

Central side: what it has published (``ChainStockBatch``, an append-only feed of changed figures and sales, and
``ChainPublishedLevel``, the figures as the feed last gave them), the returns it booked against the sales they name
(``ChainReturn``) and the sales returned beyond what was sold (``OverReturnCase``). Branch side: the replica
(``ChainLevel``, ``ChainBranchName``) and how far it has read the feed (``ChainReplicaState``). Both sides: the
index of the chain's recent sales (``ChainSale``).
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from inventory.models import QUANTITY

# Central side
# ----------------------------------------------------------------------------------------------------------------


class ChainStockBatch(models.Model):
    """Central: one publication of the figures that changed since the previous one. ``id`` is the branches'
    cursor. ``levels`` is the compact JSON text ``{branch: {sku: on_hand}}`` served as stored (no decode and
    encode per pull); ``names`` is ``{branch: name}`` when a branch was added or renamed since the previous batch."""

    id = models.BigAutoField(primary_key=True)
    as_of = models.DateTimeField(help_text=_("the figures in it were true at head office at this time"))
    levels = models.TextField()
    names = models.TextField(blank=True)
    names_digest = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField(default=0)
    # The index entries of sales booked or changed (a void, a return) since the previous batch, as the compact JSON
    # text ``{sale_id: entry}`` (chain.sale_index.sale_entry); empty when none.
    sales = models.TextField(blank=True, default="", db_default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"chain stock batch {self.id} ({self.rows} figures)"


class ChainPublishedLevel(models.Model):
    """Central: each (branch, SKU) figure as the feed last published it. The next publication sends what differs
    from it, so a figure that changed in a transaction committed late is still sent, and one sent already is not
    sent again; a branch starting from nothing copies this table once."""

    branch = models.CharField(max_length=16)
    sku = models.CharField(max_length=32)
    on_hand = models.DecimalField(**QUANTITY, default=Decimal("0"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "sku"], name="one_published_level")]

    def __str__(self) -> str:
        return f"{self.branch} {self.sku}: {self.on_hand}"


class ChainReturn(models.Model):
    """Central: a return as the returning store's event gave it, booked against the sale it names whichever store
    sold it. One row per (store, return); a return of a sale central does not hold yet waits here for it."""

    branch = models.CharField(max_length=16)
    return_id = models.UUIDField()
    sale_id = models.UUIDField(db_index=True)
    lines = models.JSONField(help_text=_("{sku: quantity taken back}"))
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "return_id"], name="one_chain_return")]

    def __str__(self) -> str:
        return f"{self.branch} return {self.return_id} of sale {self.sale_id}"


class ChainBookState(models.Model):
    """Central: how far the booking of sales and returns has read each store's events (singleton, pk=1):
    ``marks`` is ``{branch: ingest_mark}``. A store's ingest marks commit in increasing order under its row lock, so
    reading the events up to a mark read from the store's row misses none."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    marks = models.JSONField(default=dict)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="one_chain_book_state")]

    def __str__(self) -> str:
        return "chain booking state"


class OverReturnStatus(models.TextChoices):
    OPEN = "open", _("open")
    RESOLVED = "resolved", _("resolved")


class OverReturnCase(models.Model):
    """Central: a sale whose returns, at one store or several, took back more than it sold, or any of it after it
    was voided: the sale and every return of it, for a manager to follow up. Stays open until a person resolves
    it; at most one unresolved case per sale, updated as further returns arrive."""

    sale_id = models.UUIDField()
    sale_branch = models.CharField(max_length=16)
    sale_number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=OverReturnStatus.choices, default=OverReturnStatus.OPEN)
    voided = models.BooleanField(default=False)
    excess = models.JSONField(help_text=_("{sku: quantity returned beyond what was sold}"))
    returns = models.JSONField(help_text=_("[{branch, return_id, occurred_at, lines}]"))
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sale_id"], condition=~Q(status="resolved"), name="one_unresolved_over_return_case_per_sale"
            )
        ]

    def __str__(self) -> str:
        return f"over-return of {self.sale_branch} sale {self.sale_number}"

    @property
    def branches(self) -> list[str]:
        return sorted({entry["branch"] for entry in self.returns})


# Both sides
# ----------------------------------------------------------------------------------------------------------------


class ChainSale(models.Model):
    """A recent sale of the chain (the last SALE_INDEX_DAYS). Central: as head office booked it, with what every
    store has returned of it. Branch: another store's sale as head office last published it, so a return of it is
    taken here without asking head office. ``lines``: ``[[sku, quantity, unit_price, line_total]]`` (decimal
    strings); ``returned``: ``{branch: {sku: quantity}}``."""

    id = models.UUIDField(primary_key=True)
    branch = models.CharField(max_length=16)
    number = models.PositiveIntegerField()
    sold_at = models.DateTimeField(db_index=True)
    lines = models.JSONField()
    returned = models.JSONField(default=dict)
    voided = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["branch", "number"])]

    def __str__(self) -> str:
        return f"{self.branch} sale {self.number}"


# Branch side
# ----------------------------------------------------------------------------------------------------------------


class ChainLevel(models.Model):
    """Branch: another store's on-hand of one SKU, as head office last published it (never this store's own)."""

    branch = models.CharField(max_length=16)
    sku = models.CharField(max_length=32)
    on_hand = models.DecimalField(**QUANTITY, default=Decimal("0"))
    changed_as_of = models.DateTimeField(help_text=_("the publication that last changed this figure"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sku", "branch"], name="one_chain_level")]

    def __str__(self) -> str:
        return f"{self.branch} {self.sku}: {self.on_hand}"


class ChainBranchName(models.Model):
    """Branch: the name head office gives another store ("Sucursal Norte")."""

    code = models.CharField(max_length=16, primary_key=True)
    name = models.CharField(max_length=120)

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ChainReplicaState(models.Model):
    """Branch: how far the replica has read head office's feed (singleton, pk=1). ``as_of``: every figure in
    the replica was true at head office at this time (the newest publication applied)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    cursor = models.PositiveBigIntegerField(default=0)
    as_of = models.DateTimeField(null=True, blank=True)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # A copy of the whole published table under way (a branch starting from nothing, or one whose cursor head
    # office no longer holds): the cursor it will continue from, its time, and the last branch copied.
    snapshot_cursor = models.PositiveBigIntegerField(null=True, blank=True)
    snapshot_as_of = models.DateTimeField(null=True, blank=True)
    snapshot_after = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="one_chain_replica_state")]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
