"""The chain's on-hand per (branch, SKU), replicated from head office to every branch.

Central side: what it has published (``ChainStockBatch``, an append-only feed of changed figures, and
``ChainPublishedLevel``, the figures as the feed last gave them). Branch side: the replica
(``ChainLevel``, ``ChainBranchName``) and how far it has read the feed (``ChainReplicaState``).
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
