"""Pricing's writes and its one rule at the till.

Central mode: :func:`price_schedule` and :func:`promotion_save` record what head office decided and announce it in
the change feed in the same transaction, ahead of its time. Branch mode: :func:`scheduled_price_apply` and
:func:`promotion_apply` keep the branch's copy (the pull applies them, branches/change_apply.py), and
:func:`line_promotion` is how a sale line is discounted, decided by the rows in force at the sale's instant.

Which promotion wins, and how a multi-buy groups units (README "Grocery pricing"): every promotion in force for the
line's SKU is priced on the whole line and the largest saving wins; on a tie, the one that started first, then the
lower id. A multi-buy counts the line's whole units (one line per SKU, so every unit of the SKU in the sale): in
``buy 3 pay 2`` each full group of 3 has 1 unit free; in "every 2nd unit at 50 % off" each full group of 2 has one
unit at that discount; units beyond the last full group pay full price. Multi-buys do not apply to goods sold by
weight. A discount never exceeds the line's gross.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from branches import protocol
from branches.feed_log import change_append
from branches.models import ChangeKind
from ecomarket.errors import DomainError
from ecomarket.modes import Mode, only
from ecomarket.quantities import money
from inventory.models import Product
from pricing.models import Promotion, PromotionKind, ScheduledPrice

HUNDRED = Decimal("100")


# ----------------------------------------------------------------------------------------------------------------
# At the till (branch)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saving:
    discount: Decimal
    promotion_id: uuid.UUID | None = None


NO_SAVING = Saving(discount=Decimal("0.00"))


def promotion_saving(
    promotion: Promotion, *, quantity: Decimal, unit_price: Decimal, gross: Decimal, sold_by_weight: bool
) -> Decimal:
    """What ``promotion`` takes off a line of ``quantity`` at ``unit_price`` costing ``gross``."""
    match promotion.kind:
        case PromotionKind.PERCENT:
            saving = money(gross * promotion.percent / HUNDRED)
        case PromotionKind.PRICE:
            saving = gross - money(quantity * promotion.price)
        case PromotionKind.MULTIBUY if not sold_by_weight:
            saving = money((quantity // promotion.buy) * (promotion.buy - promotion.pay) * unit_price)
        case PromotionKind.NTH_PERCENT if not sold_by_weight:
            saving = money((quantity // promotion.buy) * unit_price * promotion.percent / HUNDRED)
        case _:
            saving = Decimal("0.00")
    return min(max(saving, Decimal("0.00")), gross)


def line_promotion(
    promotions: list[Promotion], *, quantity: Decimal, unit_price: Decimal, gross: Decimal, sold_by_weight: bool
) -> Saving:
    """The promotion that saves the most on this line (ties: earliest start, then lower id), or no saving."""
    best = NO_SAVING
    for promotion in sorted(promotions, key=lambda p: (p.starts_at, str(p.id))):
        saving = promotion_saving(
            promotion, quantity=quantity, unit_price=unit_price, gross=gross, sold_by_weight=sold_by_weight
        )
        if saving > best.discount:
            best = Saving(discount=saving, promotion_id=promotion.id)
    return best


@dataclass(frozen=True)
class Markdown:
    """A discount the till gives a line or the whole sale (a near-expiry markdown, a damaged pack, a price
    override): ``percent`` off or ``amount`` off (one of them), and why. It comes off after the line's promotion,
    and never takes more than is left to pay."""

    reason: str
    percent: Decimal | None = None
    amount: Decimal | None = None

    def taken_from(self, net: Decimal) -> Decimal:
        """What it takes off ``net`` (what is left to pay of the line, or of the sale)."""
        off = money(net * self.percent / HUNDRED) if self.percent is not None else self.amount
        return min(max(off, Decimal("0.00")), net)

    def payload(self) -> dict:
        return protocol.markdown_payload(reason=self.reason, percent=self.percent, amount=self.amount)


def markdown_needs_manager(*, taken: Decimal, net: Decimal) -> bool:
    """A markdown taking more than MARKDOWN_APPROVAL_PERCENT of what it applies to needs a manager's approval
    (the default, 0, makes every markdown need one)."""
    return taken > net * Decimal(str(settings.MARKDOWN_APPROVAL_PERCENT)) / HUNDRED


def markdown_shares(*, taken: Decimal, nets: list[Decimal]) -> list[Decimal]:
    """A sale's markdown shared out over its lines in proportion to what each is left to pay, rounded half up to
    the cent on the running share so the shares add up to exactly ``taken`` (and a return pays back what each
    line cost: inventory.services.return_line_refund)."""
    whole = sum(nets, Decimal("0"))
    if whole <= 0:
        return [Decimal("0.00") for _ in nets]
    shares, before = [], Decimal("0")
    for net in nets:
        shares.append(money(taken * (before + net) / whole) - money(taken * before / whole))
        before += net
    return shares


@only(Mode.BRANCH)
def scheduled_price_apply(payload: dict) -> None:
    """Keep a price head office scheduled, in the pull's transaction. Idempotent on its id (a schedule is never
    changed, so the same id brings the same row)."""
    fields = protocol.price_change_read(payload)
    # Checked now: the foreign key would only fail at commit (SQLite defers it), taking the whole pull page with it.
    if not Product.objects.filter(sku=fields["product_id"]).exists():
        raise protocol.Rejection("unknown_sku", f"{fields['product_id']!r} is not in this branch's catalog yet")
    ScheduledPrice.objects.update_or_create(id=fields.pop("id"), defaults=fields)


@only(Mode.BRANCH)
def promotion_apply(payload: dict) -> None:
    """Keep a promotion as head office last described it, in the pull's transaction. Idempotent on its id."""
    fields = protocol.promotion_change_read(payload)
    Promotion.objects.update_or_create(id=fields.pop("id"), defaults=fields)


# ----------------------------------------------------------------------------------------------------------------
# At head office (central)
# ----------------------------------------------------------------------------------------------------------------


def _product_active(sku: str) -> Product:
    product = Product.objects.filter(sku=sku, active=True).first()
    if product is None:
        raise DomainError("unknown_sku", f"Unknown or inactive SKU {sku!r}.", fields={"sku": ["Unknown SKU."]})
    return product


@only(Mode.CENTRAL)
@transaction.atomic
def price_schedule(
    *, sku: str, price: Decimal, effective_at: datetime, user=None, now: datetime | None = None
) -> ScheduledPrice:
    """Schedule ``sku``'s price from ``effective_at`` (a time already past means now) and announce it to every
    branch in the change feed now, so each switches by its own clock even if it cannot reach head office then.
    The id is made here, where the decision is taken; every branch keeps it."""

    now = now or timezone.now()
    product = _product_active(sku)
    scheduled = ScheduledPrice.objects.create(
        product=product,
        price=price,
        effective_at=max(effective_at, now),
        created_by=user.get_username() if user else "",
        created_at=now,
    )
    change_append(
        kind=ChangeKind.PRICE,
        payload=protocol.price_change_payload(
            price_id=scheduled.id,
            sku=sku,
            price=price,
            effective_at=scheduled.effective_at,
            created_at=scheduled.created_at,
        ),
    )
    return scheduled


@only(Mode.CENTRAL)
@transaction.atomic
def promotion_save(
    *,
    promotion_id: uuid.UUID | None = None,
    name: str,
    kind: str,
    skus: list[str],
    starts_at: datetime,
    ends_at: datetime,
    percent: Decimal | None = None,
    price: Decimal | None = None,
    buy: int | None = None,
    pay: int | None = None,
    user=None,
) -> Promotion:
    """Create a promotion (or, with ``promotion_id``, replace one: ended early, SKUs changed) and announce it to
    every branch in the change feed, ahead of ``starts_at``. The payload is checked as a branch will read it, so
    nothing reaches the feed that a branch could not apply."""

    for sku in skus:
        _product_active(sku)
    promotion_id = promotion_id or uuid.uuid4()
    payload = protocol.promotion_change_payload(
        promotion_id=promotion_id,
        name=name,
        kind=kind,
        skus=skus,
        starts_at=starts_at,
        ends_at=ends_at,
        percent=percent,
        price=price,
        buy=buy,
        pay=pay,
    )
    try:
        fields = protocol.promotion_change_read(payload)
    except protocol.Rejection as error:
        raise DomainError("invalid", error.detail) from None
    fields.pop("id")
    promotion, _ = Promotion.objects.update_or_create(
        id=promotion_id,
        defaults={**fields, "created_by": user.get_username() if user else "", "created_at": timezone.now()},
    )
    change_append(kind=ChangeKind.PROMOTION, payload=payload)
    return promotion
