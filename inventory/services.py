"""Branch mode: the stock writes a branch makes — sales, voids, returns, receipts, counts, the adjustments head
office orders — and the snapshots it reports. Each service is gated to branch mode at call time.

Every stock change goes through :func:`stock_change_record`: one outbox event, and the ledger rows and on-hand
projection (inventory/ledger.py) carrying its seq, in the caller's transaction. The services the staff call (sale,
void, return, receipt, count) each own that transaction (BEGIN IMMEDIATE on SQLite: it holds the write lock from
its first statement, so what it reads stays true until it commits) and are idempotent: on the client-chosen id, or
for a void on the sale. An adjustment runs in the transaction of the pull that brought it.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework import status

from branches import protocol
from branches.models import IncomingTransfer, OutboxEvent, RecoveryState, SyncState
from branches.outbox import outbox_event_append
from branches.protocol import EventType
from cash import services as cash_services
from cash.models import RefundKind
from chain.sale_index import returned_so_far, sale_of_another_store
from ecomarket import metrics
from ecomarket.db import rows_insert
from ecomarket.errors import DomainError
from ecomarket.modes import Mode, only
from ecomarket.quantities import MILLI, money, quantity_text
from inventory import sql
from inventory.ledger import stock_movements_apply
from inventory.models import (
    MovementKind,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    SaleStatus,
    StockDocument,
    StockDocumentKind,
    StockLevel,
    Unit,
)
from pricing.scale import label_read
from pricing.selectors import pricing_in_force, products_by_plu
from pricing.services import Markdown, line_promotion, markdown_needs_manager, markdown_shares


@dataclass(frozen=True)
class Line:
    """A line of a request: a SKU and a quantity (sold, returned, received, counted or, for an adjustment, the
    signed change)."""

    sku: str
    quantity: Decimal
    barcode: str = ""  # a sale line may be a scale label instead (sku and quantity then read from it)
    markdown: Markdown | None = None  # a typed sale line's discount at the till
    unit_price: Decimal | None = None  # the price a till showed for a sale it kept (QueuedSale), else None


@dataclass(frozen=True)
class PricedLine:
    """A sale line priced: the unit price in force, its gross (the label's price where a scale label printed one),
    the promotion's discount, and the labels that named it."""

    sku: str
    quantity: Decimal
    unit_price: Decimal
    gross: Decimal
    discount: Decimal = Decimal("0.00")
    promotion_id: uuid.UUID | None = None
    barcodes: tuple[str, ...] = ()
    markdown: Markdown | None = None
    markdown_discount: Decimal = Decimal("0.00")  # the part of discount the till's markdowns took
    box_unit_price: Decimal | None = None  # a till-priced line: the branch's own price in force at the sale's time

    @property
    def line_total(self) -> Decimal:
        return self.gross - self.discount


NO_TENDER = object()


@dataclass(frozen=True)
class QueuedSale:
    """A sale the till rang up while this server was away, kept in its queue and sent when the server answered
    again: when the till recorded it and the number on the customer's provisional receipt. The API's serializer
    holds ``occurred_at`` to a window around the server's clock (SaleCreateApi)."""

    occurred_at: datetime
    provisional_number: str


@dataclass(frozen=True)
class SaleWithLines:
    """A sale and its lines, what the answer to the till shows. A new sale carries the lines just written, so the
    answer needs no query to read them back."""

    sale: Sale
    lines: list[SaleLine]
    tender: object = NO_TENDER  # cash.SaleTender, None when the sale has none, or not read yet


@dataclass(frozen=True)
class CatalogEntry:
    """What a stock write needs of a product."""

    sku: str
    name: str
    price: Decimal
    sold_by_weight: bool


def _already_recorded(model, *, pk: uuid.UUID, fingerprint: str):
    """The idempotency rule the staff's writes share: the same id with the same body returns what was stored (None
    when nothing is); the same id with another body is refused with 409, never merged."""
    if sql.fingerprint_stored(model, pk=pk) is None:
        return None
    existing = model.objects.get(pk=pk)
    if existing.fingerprint != fingerprint:
        raise DomainError(
            "idempotency_conflict",
            f"{model._meta.verbose_name} {pk} already exists with a different body.",
            status=status.HTTP_409_CONFLICT,
        )
    return existing


def _history_whole() -> None:
    """Refuse (409 ``recovering``) a write that depends on this branch's history while the box is recovering it
    from central (restored from a backup, or rebuilt): a count would set a baseline the replayed events are then
    added on top of, a return or a void would be checked against sales and returns not replayed yet, a receipt
    against transfers not yet received here. Sales depend on nothing replayed (a sale's stock effect is a delta,
    and its number is above the floor the recovery set), so they go on. Read under the caller's write lock: the
    recovery takes the same lock to begin."""
    if SyncState.objects.filter(pk=1).exclude(recovery_state=RecoveryState.IDLE).exists():
        raise DomainError(
            "recovering",
            "This store is recovering its history from head office after a restore; counts, returns, voids and "
            "receipts wait until it is done (a minute or two). Sales go on. Try again shortly.",
            status=status.HTTP_409_CONFLICT,
        )


def _catalog_entries(lines: list[Line], *, active_only: bool = True) -> dict[str, CatalogEntry]:
    """The products the lines name (active ones only, unless ``active_only`` is false: goods sold before a product
    was withdrawn can still come back); an unknown SKU or a fraction of a unit-sold product is refused."""
    products = {
        sku: CatalogEntry(sku=sku, name=name, price=price, sold_by_weight=unit == Unit.KILOGRAM)
        for sku, name, price, unit in sql.products_read(skus=[line.sku for line in lines], active_only=active_only)
    }
    for index, line in enumerate(lines):
        product = products.get(line.sku)
        if product is None:
            raise DomainError(
                "unknown_sku",
                f"Unknown SKU {line.sku!r}.",
                fields={"lines": {str(index): {"sku": ["Unknown SKU."]}}},
                extra={"sku": line.sku},
            )
        if not product.sold_by_weight and line.quantity != line.quantity.to_integral_value():
            raise DomainError(
                "fractional_quantity",
                f"{product.name} is sold by the unit; {line.quantity} is not a whole number.",
                fields={"lines": {str(index): {"quantity": ["Must be a whole number for this product."]}}},
                extra={"sku": line.sku},
            )
    return products


@only(Mode.BRANCH)
def stock_change_record(
    *,
    event_type: str,
    payload: dict,
    kind: str,
    reference: str,
    deltas: dict[str, Decimal],
    occurred_at: datetime,
) -> OutboxEvent:
    """The one way a branch changes stock: one outbox event, then ledger rows and projection carrying its seq, in
    the caller's transaction."""
    event = outbox_event_append(type=event_type, payload=payload, occurred_at=occurred_at)
    stock_movements_apply(
        branch=settings.BRANCH_CODE,
        seq=event.seq,
        kind=kind,
        reference=reference,
        occurred_at=occurred_at,
        deltas=deltas,
    )
    return event


# ----------------------------------------------------------------------------------------------------------------
# Sales
# ----------------------------------------------------------------------------------------------------------------


@only(Mode.BRANCH)
def sale_create(
    *,
    sale_id: uuid.UUID | None,
    lines: list[Line],
    payment_method: str,
    cashier,
    customer: dict | None = None,
    register: str = "",
    payments: list[tuple[str, Decimal]] | None = None,
    markdown: Markdown | None = None,
    approval: dict | None = None,
    queued: QueuedSale | None = None,
    now: datetime | None = None,
) -> tuple[SaleWithLines, bool]:
    """Record a sale and return ``(the sale with its lines, created)``.

    Priced by what is in force at ``now`` (the branch's clock; a test passes it): the latest scheduled price at or
    before it, else the product's price, and the promotion that saves the most (pricing/services.py). A line may
    be a scale label (``Line.barcode``), read here into its product and quantity (:func:`_sale_lines_price`).

    Idempotent on ``sale_id``: a retry after a lost answer gets the stored sale back (created False). Stock is
    checked under the write lock: with the default policy a line above on-hand is refused with 409
    ``insufficient_stock``; with ``BRANCH_ALLOW_NEGATIVE_STOCK`` the sale goes through and is flagged oversold.
    ``customer`` ({name, phone, email}, as the till took it) travels to head office in the sale event only when
    the sale is oversold, so it can reach the customer; for any other sale it is dropped, never stored.

    ``register``: the till it is rung up on; where CASH_SESSIONS_REQUIRED is on, a register without an open cash
    session refuses it (409 ``no_open_session``). ``payments``: (method, amount handed over), covering the total
    (only cash beyond it: the answer's ``change``); then the sale's payment method is that of its largest payment.
    Without them the sale is paid in full by ``payment_method``. How it was paid is kept beside it (cash.SaleTender)
    when it names either.

    Markdowns (:func:`_markdowns_apply`): a typed line's ``Line.markdown`` and the sale's ``markdown`` come off
    after the promotions; one beyond MARKDOWN_APPROVAL_PERCENT needs a manager (the cashier, or ``approval``'s
    login: cash.services.manager_approving), else 409 ``approval_required`` and nothing is written.

    ``queued``: a sale the till kept while this server was away, now arriving. The customer has left with the goods
    and a provisional receipt, so its stock is not refused (a line beyond on-hand flags it oversold, for
    reconciliation); it is dated and priced at ``queued.occurred_at``, and a line whose ``Line.unit_price`` the till
    sent is charged that price by quantity, with the promotions in force then (the till showed the same ones),
    the event carrying the branch's own price where it differs (``box_unit_price``). It keeps the provisional
    receipt's number; a sale the server recorded but whose answer the till lost gets it on the till's retry.
    Neither is part of the fingerprint: the queued retry of a charge is the same request.
    """
    sale_id = sale_id or uuid.uuid4()
    fingerprint = protocol.sale_fingerprint(
        lines=((line.sku, line.quantity) for line in lines if not line.barcode),
        labels=[line.barcode for line in lines if line.barcode],
        payment_method=payment_method,
        register=register,
        tendered=payments,
        markdowns=[(line.sku, line.markdown.payload()) for line in lines if line.markdown and not line.barcode],
        markdown=markdown.payload() if markdown else None,
    )
    branch = settings.BRANCH_CODE
    with transaction.atomic():
        existing = _already_recorded(Sale, pk=sale_id, fingerprint=fingerprint)
        if existing is not None:
            if queued is not None and not existing.provisional_number:
                # Recorded, but its answer never reached the till, which printed a provisional receipt.
                existing.provisional_number = queued.provisional_number
                Sale.objects.filter(pk=existing.pk).update(provisional_number=queued.provisional_number)
            return SaleWithLines(sale=existing, lines=list(existing.lines.all())), False
        till = cash_services.till_resolve(register=register, required=True)
        now = queued.occurred_at if queued is not None else now or timezone.now()
        priced, approver = _markdowns_apply(
            _sale_lines_price(lines, at=now),
            asked={line.sku: line.markdown for line in lines if line.markdown and not line.barcode},
            markdown=markdown,
            cashier=cashier,
            approval=approval,
        )
        on_hand = sql.stock_on_hand(branch=branch, skus=[line.sku for line in priced])
        oversold = False
        for sku, wanted in protocol.lines_sum((line.sku, line.quantity) for line in priced).items():
            available = on_hand.get(sku, Decimal("0"))
            if wanted > available:
                if not settings.BRANCH_ALLOW_NEGATIVE_STOCK and queued is None:
                    raise DomainError(
                        "insufficient_stock",
                        f"Only {quantity_text(available)} of {sku} in stock, {quantity_text(wanted)} asked.",
                        status=status.HTTP_409_CONFLICT,
                        extra={"sku": sku, "available": quantity_text(available)},
                    )
                oversold = True
        number = sql.sale_number_next(branch=branch)
        total = sum((line.line_total for line in priced), Decimal("0.00"))
        kept, change = None, Decimal("0.00")
        if payments is not None:
            kept, change = cash_services.payments_settle(total=total, tendered=payments)
            payment_method = max(kept, key=lambda pair: pair[1])[0] if kept else payment_method
        sale = Sale(
            id=sale_id,
            branch=branch,
            number=number,
            payment_method=payment_method,
            total=total,
            cashier=cashier,
            oversold=oversold,
            fingerprint=fingerprint,
            created_at=now,
            markdown=markdown.payload() if markdown else None,
            markdown_approved_by=approver,
            provisional_number=queued.provisional_number if queued is not None else "",
        )
        sale_lines = [
            SaleLine(
                sale=sale,
                product_id=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.line_total,
                gross=line.gross,
                discount=line.discount,
                promotion_id=line.promotion_id,
                barcodes=list(line.barcodes),
                markdown=line.markdown.payload() if line.markdown else None,
                markdown_discount=line.markdown_discount,
            )
            for line in priced
        ]
        # Plain inserts (ecomarket.db.rows_insert): the ORM's create() and bulk_create() compile a query per call.
        rows_insert(Sale, [sale])
        rows_insert(SaleLine, sale_lines)
        tender = None
        if register or payments is not None:
            tender = cash_services.sale_tender_record(sale=sale, till=till, payments=kept, change=change)
        stock_change_record(
            event_type=EventType.SALE_COMPLETED,
            payload=protocol.sale_completed_payload(
                sale_id=sale.id,
                number=number,
                lines=[
                    (
                        line.sku,
                        line.quantity,
                        line.unit_price,
                        protocol.sale_line_extras(
                            quantity=line.quantity,
                            unit_price=line.unit_price,
                            gross=line.gross,
                            discount=line.discount,
                            promotion_id=line.promotion_id,
                            barcodes=line.barcodes,
                            markdown=line.markdown.payload() if line.markdown else None,
                            markdown_discount=line.markdown_discount,
                            box_unit_price=line.box_unit_price,
                        ),
                    )
                    for line in priced
                ],
                total=sale.total,
                payment_method=payment_method,
                cashier=cashier.get_username() if cashier else "",
                customer=customer if oversold else None,
                register=till.register,
                session_id=till.session.id if till.session else None,
                payments=kept,
                change=change if kept is not None else None,
                markdown=markdown.payload() if markdown else None,
                markdown_approved_by=approver,
                provisional_number=sale.provisional_number,
            ),
            kind=MovementKind.SALE,
            reference=str(sale.id),
            deltas={line.sku: -line.quantity for line in priced},
            occurred_at=now,
        )
    metrics.SALES.inc()
    return SaleWithLines(sale=sale, lines=sale_lines, tender=tender), True


def _markdowns_apply(
    priced: list[PricedLine], *, asked: dict[str, Markdown], markdown: Markdown | None, cashier, approval: dict | None
) -> tuple[list[PricedLine], str]:
    """The lines with the till's markdowns taken off, and who approved them ("" where none needed a manager).
    Each line's own markdown comes off what its promotion left; then the sale's markdown comes off what the lines
    are left to pay, shared out over them (pricing.services.markdown_shares), so every line's ``line_total`` is what
    the customer paid for it and a return pays back that. One that takes more than MARKDOWN_APPROVAL_PERCENT of what
    it applies to needs a manager: the cashier, or the manager whose login came in ``approval``; without one, 409
    ``approval_required``."""
    needs_manager = False
    lines = []
    for line in priced:
        wanted = asked.get(line.sku)
        if wanted is not None:
            taken = wanted.taken_from(line.line_total)
            needs_manager |= markdown_needs_manager(taken=taken, net=line.line_total)
            line = replace(line, discount=line.discount + taken, markdown=wanted, markdown_discount=taken)
        lines.append(line)
    if markdown is not None:
        nets = [line.line_total for line in lines]
        taken = markdown.taken_from(sum(nets, Decimal("0.00")))
        needs_manager |= markdown_needs_manager(taken=taken, net=sum(nets, Decimal("0.00")))
        lines = [
            replace(line, discount=line.discount + share, markdown_discount=line.markdown_discount + share)
            for line, share in zip(lines, markdown_shares(taken=taken, nets=nets), strict=True)
        ]
    if not needs_manager:
        return lines, ""
    approver = cash_services.manager_approving(cashier, approval)
    if approver is None:
        raise DomainError(
            "approval_required",
            "This discount needs a manager's approval: have a manager ring up the sale, or type their login.",
            status=status.HTTP_409_CONFLICT,
            fields={"approval": ["A manager's login is needed for this discount."]},
        )
    return lines, approver.get_username()


def _sale_lines_price(lines: list[Line], *, at: datetime) -> list[PricedLine]:
    """The sale's lines, one per SKU, priced at ``at``. Scale labels are read (pricing/scale.py): the PLU names the
    product; a weight label gives the quantity, a price label keeps its price as the line's gross and gives the
    quantity as price / unit price, rounded half up to the gram (to the unit for goods sold by the unit). Labels
    of one product add up into one line (two bags of apples); a product both typed and scanned is refused, so the
    receipt shows each product once. A line that carries the till's ``unit_price`` (a queued sale) is priced at it,
    with the promotions in force at ``at`` as the till showed them, and keeps the branch's own price beside it.
    Errors: ``invalid_barcode``, ``unknown_plu``,
    ``duplicate_sku``, and those of :func:`_catalog_entries`."""
    labels = {index: label_read(line.barcode, index=index) for index, line in enumerate(lines) if line.barcode}
    # Most sales scan no scale label: no query for them.
    skus_by_plu = products_by_plu(plus=sorted({label.plu for label in labels.values()})) if labels else {}
    for index, label in labels.items():
        if label.plu not in skus_by_plu:
            raise DomainError(
                "unknown_plu",
                f"No product has PLU {label.plu} (label {label.barcode}).",
                fields={"lines": {str(index): {"barcode": [f"Unknown PLU {label.plu}."]}}},
                extra={"plu": label.plu, "barcode": label.barcode},
            )
    typed = {line.sku for line in lines if not line.barcode}
    order: list[str] = []
    till_prices: dict[str, Decimal] = {}
    for index, line in enumerate(lines):
        sku = skus_by_plu[labels[index].plu] if index in labels else line.sku
        if index in labels and sku in typed:
            raise DomainError(
                "duplicate_sku",
                f"{sku} is both typed and scanned; scan its labels or type its quantity, not both.",
                fields={"lines": {str(index): {"barcode": [f"{sku} is also typed in this sale."]}}},
                extra={"sku": sku},
            )
        if sku not in order:
            order.append(sku)
        if line.unit_price is not None:
            till_prices.setdefault(sku, line.unit_price)
    weights = protocol.lines_sum(
        (skus_by_plu[label.plu], label.weight) for label in labels.values() if label.weight is not None
    )
    # Typed lines of one SKU (the API asks for one each; a caller in code may not) add up too.
    plain = protocol.lines_sum((line.sku, line.quantity) for line in lines if not line.barcode)
    # Price labels' quantities depend on the unit price; the catalog check needs a quantity, so they stand at 1.
    products = _catalog_entries(
        [Line(sku=sku, quantity=plain.get(sku, weights.get(sku, Decimal("1")))) for sku in order]
    )
    prices, promotions = pricing_in_force(skus=order, at=at)
    priced = []
    for sku in order:
        product, unit_price = products[sku], prices.get(sku, products[sku].price)
        box_unit_price = None
        if sku in till_prices:
            box_unit_price, unit_price = unit_price, till_prices[sku]
        mine = [label for label in labels.values() if skus_by_plu[label.plu] == sku]
        # The weighed part (or the typed quantity) at the unit price; price labels then add what they print.
        quantity = plain.get(sku, weights.get(sku, Decimal("0")))
        gross = money(quantity * unit_price)
        for label in mine:
            if label.price is None:
                continue
            if unit_price <= 0:
                raise DomainError("no_unit_price", f"{sku} has no price to read label {label.barcode} by.")
            step = MILLI if product.sold_by_weight else Decimal("1")
            quantity += max((label.price / unit_price).quantize(step, ROUND_HALF_UP), step)
            gross += label.price
        saving = line_promotion(
            promotions.get(sku, []),
            quantity=quantity,
            unit_price=unit_price,
            gross=gross,
            sold_by_weight=product.sold_by_weight,
        )
        priced.append(
            PricedLine(
                sku=sku,
                quantity=quantity,
                unit_price=unit_price,
                gross=gross,
                discount=saving.discount,
                promotion_id=saving.promotion_id,
                barcodes=tuple(label.barcode for label in mine),
                box_unit_price=box_unit_price,
            )
        )
    return priced


@only(Mode.BRANCH)
def sale_void(*, sale_id: uuid.UUID, reason: str, user, register: str = "") -> tuple[Sale, bool]:
    """Void a whole sale: its stock goes back on the shelf and its payments are paid back by method, from the
    drawer of ``register``'s open session (cash.services.refund_record). Idempotent: voiding a voided sale changes
    nothing and returns ``(sale, False)``. A sale with returns cannot be voided (the returned goods are already
    back)."""
    with transaction.atomic():
        sale = Sale.objects.filter(pk=sale_id, branch=settings.BRANCH_CODE).first()
        if sale is None:
            raise DomainError("not_found", f"No sale {sale_id} at this branch.", status=status.HTTP_404_NOT_FOUND)
        if sale.status == SaleStatus.VOIDED:
            return sale, False
        _history_whole()
        if sale.returns.exists():
            raise DomainError(
                "sale_has_returns",
                f"Sale {sale.number} has returns; take a return for the rest instead of voiding it.",
                status=status.HTTP_409_CONFLICT,
            )
        now = timezone.now()
        till, refunds = cash_services.refund_record(
            refund_id=sale.id, kind=RefundKind.VOID, sale=sale, amount=sale.total, register=register
        )
        sale.status, sale.voided_at, sale.void_reason = SaleStatus.VOIDED, now, reason
        sale.save(update_fields=["status", "voided_at", "void_reason"])
        stock_change_record(
            event_type=EventType.SALE_VOIDED,
            payload=protocol.sale_voided_payload(
                sale_id=sale.id,
                reason=reason,
                register=till.register,
                session_id=till.session.id if till.session else None,
                refunds=refunds,
            ),
            kind=MovementKind.VOID,
            reference=str(sale.id),
            deltas=protocol.void_deltas((line.product_id, line.quantity) for line in sale.lines.all()),
            occurred_at=now,
        )
    metrics.VOIDS.inc()
    return sale, True


def return_line_refund(*, sold: Decimal, line_total: Decimal, returned_before: Decimal, quantity: Decimal) -> Decimal:
    """What ``quantity`` units of a sale line pay back: the share of what the line cost (``line_total``, after its
    promotion and any discount) that they are of the ``sold`` units, never its gross price. Rounded half up to the
    cent on the running share, not on each part: with ``returned_before`` units already back, this return pays
    round(total x (before + quantity) / sold) - round(total x before / sold), so the parts of a line returned in
    several goes add up to exactly what it cost, and no return pays more than the line has left to pay back."""
    if sold <= 0:
        return Decimal("0.00")
    upto = min(returned_before + quantity, sold)
    return money(line_total * upto / sold) - money(line_total * returned_before / sold)


@only(Mode.BRANCH)
def return_create(
    *, return_id: uuid.UUID | None, sale_id: uuid.UUID, lines: list[Line], reason: str, cashier, register: str = ""
) -> tuple[Return, bool]:
    """Take goods back from a sale, this store's or another's from the chain's index of recent sales (the goods
    come back into this store's stock either way). Each line may return at most what the sale sold less what
    earlier returns took back, here and, as head office last knew, at other stores; a voided sale takes no returns.
    What the customer paid for the goods (:func:`return_line_refund`: the line's net price, promotions and
    discounts taken off) is paid back by method, from the drawer of ``register``'s open session
    (cash.services.refund_record). Idempotent on ``return_id``."""
    return_id = return_id or uuid.uuid4()
    fingerprint = protocol.return_fingerprint(sale_id=sale_id, lines=((line.sku, line.quantity) for line in lines))
    with transaction.atomic():
        existing = _already_recorded(Return, pk=return_id, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        _history_whole()
        sale, voided_elsewhere = Sale.objects.filter(pk=sale_id, branch=settings.BRANCH_CODE).first(), False
        if sale is None:  # another store's sale, from the chain's index
            sale, voided_elsewhere = sale_of_another_store(sale_id=sale_id)
        if sale is None:
            raise DomainError(
                "unknown_sale",
                f"No sale {sale_id} at this branch or in the chain's recent sales.",
                fields={"sale_id": ["Unknown."]},
            )
        if sale.status == SaleStatus.VOIDED or voided_elsewhere:
            raise DomainError("sale_voided", f"Sale {sale.number} was voided.", status=status.HTTP_409_CONFLICT)
        _catalog_entries(lines, active_only=False)  # whole units of unit-sold goods
        sold = {line.product_id: line.quantity for line in sale.lines.all()}
        here: dict[str, Decimal] = {}
        for line in ReturnLine.objects.filter(ret__sale=sale):
            here[line.product_id] = here.get(line.product_id, Decimal("0")) + line.quantity
        returned = returned_so_far(sale_id=sale.id, here=here)  # with other stores', as head office last knew them
        for index, line in enumerate(lines):
            left = sold.get(line.sku, Decimal("0")) - returned.get(line.sku, Decimal("0"))
            if line.quantity > left:
                raise DomainError(
                    "return_exceeds_sale",
                    f"Sale {sale.number} has {quantity_text(left)} of {line.sku} left to return, "
                    f"{quantity_text(line.quantity)} asked.",
                    status=status.HTTP_409_CONFLICT,
                    fields={"lines": {str(index): {"quantity": [f"At most {quantity_text(left)}."]}}},
                    extra={"sku": line.sku, "returnable": quantity_text(left)},
                )
        now = timezone.now()
        paid = {line.product_id: (line.quantity, line.line_total) for line in sale.lines.all()}
        amounts = {
            line.sku: return_line_refund(
                sold=paid[line.sku][0],
                line_total=paid[line.sku][1],
                returned_before=returned.get(line.sku, Decimal("0")),
                quantity=line.quantity,
            )
            for line in lines
        }
        till, refunds = cash_services.refund_record(
            refund_id=return_id,
            kind=RefundKind.RETURN,
            sale=sale,
            amount=sum(amounts.values(), Decimal("0.00")),
            register=register,
        )
        ret = Return.objects.create(
            id=return_id, sale=sale, reason=reason, cashier=cashier, fingerprint=fingerprint, created_at=now
        )
        ReturnLine.objects.bulk_create(
            ReturnLine(ret=ret, product_id=line.sku, quantity=line.quantity) for line in lines
        )
        stock_change_record(
            event_type=EventType.RETURN_COMPLETED,
            payload=protocol.return_completed_payload(
                return_id=ret.id,
                sale_id=sale.id,
                sale_branch=sale.branch if sale.branch != settings.BRANCH_CODE else "",
                lines=[(line.sku, line.quantity, amounts[line.sku]) for line in lines],
                register=till.register,
                session_id=till.session.id if till.session else None,
                refunds=refunds,
            ),
            kind=MovementKind.RETURN,
            reference=str(ret.id),
            deltas={line.sku: line.quantity for line in lines},
            occurred_at=now,
        )
    metrics.RETURNS.inc()
    return ret, True


# ----------------------------------------------------------------------------------------------------------------
# Receipts and counts
# ----------------------------------------------------------------------------------------------------------------


@only(Mode.BRANCH)
def stock_receipt_record(
    *,
    receipt_id: uuid.UUID | None,
    transfer_id: uuid.UUID | None,
    lines: list[Line],
    user,
    differences: list[tuple[str, Decimal, Decimal]] = (),
) -> tuple[StockDocument, bool]:
    """Goods arrived (a supplier delivery, or a transfer head office sent): stock goes up by ``lines``. Idempotent
    on ``receipt_id``. A transfer is received once, with its own lines (409 otherwise), less what ``differences``
    says was short or damaged, (sku, short, damaged), which head office reads from the event: goods that arrived
    before the transfer reached this branch are received against its id, and the transfer then arrives already
    received."""
    receipt_id = receipt_id or uuid.uuid4()
    payload = protocol.stock_received_payload(
        transfer_id=transfer_id,
        lines=[(line.sku, line.quantity) for line in lines],
        receipt_id=receipt_id,
        differences=differences if transfer_id else (),
    )
    stored_lines = payload["lines"]
    fingerprint = protocol.receipt_fingerprint(
        transfer_id=transfer_id, lines=stored_lines, differences=payload.get("differences")
    )
    with transaction.atomic():
        existing = _already_recorded(StockDocument, pk=receipt_id, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        _history_whole()
        _catalog_entries(lines)
        if transfer_id:
            _transfer_receipt_check(transfer_id=transfer_id, lines=lines, differences=differences)
        now = timezone.now()
        document = StockDocument.objects.create(
            id=receipt_id,
            branch=settings.BRANCH_CODE,
            kind=StockDocumentKind.RECEIPT,
            transfer_id=transfer_id,
            lines=stored_lines,
            recorded_by=user,
            fingerprint=fingerprint,
            created_at=now,
        )
        if transfer_id:
            IncomingTransfer.objects.filter(id=transfer_id).update(
                state=IncomingTransfer.State.RECEIVED, received_at=now
            )
        stock_change_record(
            event_type=EventType.STOCK_RECEIVED,
            payload=payload,
            kind=MovementKind.RECEIPT,
            reference=str(document.id),
            deltas={line.sku: line.quantity for line in lines},
            occurred_at=now,
        )
    return document, True


def _transfer_receipt_check(
    *, transfer_id: uuid.UUID, lines: list[Line], differences: list[tuple[str, Decimal, Decimal]] = ()
) -> None:
    """Refuse (409) a receipt of a transfer already received, or whose lines with what was short or damaged are
    not the lines the transfer sent."""
    transfer = IncomingTransfer.objects.filter(id=transfer_id).first()
    received = StockDocument.objects.filter(kind=StockDocumentKind.RECEIPT, transfer_id=transfer_id).exists()
    if received or (transfer is not None and transfer.state == IncomingTransfer.State.RECEIVED):
        raise DomainError(
            "transfer_already_received",
            f"Transfer {transfer_id} was already received here.",
            status=status.HTTP_409_CONFLICT,
            fields={"transfer_id": ["Already received."]},
        )
    if transfer is None:
        return  # not pulled yet: the goods came first; the transfer will arrive already received
    sent = {line["sku"]: Decimal(line["quantity"]) for line in transfer.lines}
    accounted = protocol.lines_sum(
        [(line.sku, line.quantity) for line in lines] + [(sku, short + damaged) for sku, short, damaged in differences]
    )
    if sent != accounted:
        raise DomainError(
            "transfer_lines_mismatch",
            f"Transfer {transfer_id} sent other lines: "
            + ", ".join(f"{sku} x {quantity_text(quantity)}" for sku, quantity in sorted(sent.items()))
            + ". Receive it as sent, or say what was short or damaged.",
            status=status.HTTP_409_CONFLICT,
            fields={"lines": ["Must be the transfer's lines, less what was short or damaged."]},
            extra={"expected": [{"sku": sku, "quantity": quantity_text(q)} for sku, q in sorted(sent.items())]},
        )


@only(Mode.BRANCH)
def stock_count_record(*, count_id: uuid.UUID | None, lines: list[Line], user) -> tuple[StockDocument, bool]:
    """A physical count sets a new baseline: each counted SKU moves by (counted - what the books said), read under
    the write lock so no sale slips in between, and a stock snapshot follows in its own transaction.
    ``Line.quantity`` is the counted quantity. Idempotent on ``count_id``."""
    count_id = count_id or uuid.uuid4()
    counted = {line.sku: line.quantity for line in lines}
    fingerprint = protocol.count_fingerprint(counted=counted.items())
    branch = settings.BRANCH_CODE
    with transaction.atomic():
        existing = _already_recorded(StockDocument, pk=count_id, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        _history_whole()
        _catalog_entries(lines)
        previous = sql.stock_on_hand(branch=branch, skus=list(counted))
        payload = protocol.stock_counted_payload(
            count_id=count_id,
            lines=[(sku, quantity, previous.get(sku, Decimal("0"))) for sku, quantity in counted.items()],
        )
        stored_lines = payload["lines"]
        now = timezone.now()
        document = StockDocument.objects.create(
            id=count_id,
            branch=branch,
            kind=StockDocumentKind.COUNT,
            lines=stored_lines,
            recorded_by=user,
            fingerprint=fingerprint,
            created_at=now,
        )
        stock_change_record(
            event_type=EventType.STOCK_COUNTED,
            payload=payload,
            kind=MovementKind.COUNT,
            reference=str(document.id),
            deltas={sku: quantity - previous.get(sku, Decimal("0")) for sku, quantity in counted.items()},
            occurred_at=now,
        )
    # A count is a fresh baseline: tell head office what the whole branch now believes it holds.
    stock_snapshot_record()
    return document, True


@only(Mode.BRANCH)
def stock_adjustment_record(
    *, reason: str, lines: list[Line], change_id: int | None = None, change_digest: str = ""
) -> OutboxEvent:
    """Apply a stock adjustment head office ordered (``Line.quantity`` is the signed delta), in the caller's
    transaction: the pull applies it together with its feed cursor, so exactly once. It may take stock below zero;
    head office ordered it and reconciliation follows it up.

    ``change_id``/``change_digest`` name the change-feed item it applies; the event carries them (optional fields
    of schema 1), so a branch that replays this event from central after a restore knows that change is applied
    and does not apply it again when it pulls it a second time."""
    _catalog_entries(lines)
    return stock_change_record(
        event_type=EventType.STOCK_ADJUSTED,
        payload=protocol.stock_adjusted_payload(
            reason=reason,
            lines=[(line.sku, line.quantity) for line in lines],
            change_id=change_id,
            change_digest=change_digest,
        ),
        kind=MovementKind.ADJUSTMENT,
        reference=reason[:64],
        deltas={line.sku: line.quantity for line in lines},
        occurred_at=timezone.now(),
    )


@only(Mode.BRANCH)
@transaction.atomic
def stock_snapshot_record() -> list[OutboxEvent]:
    """Record what this branch believes it holds, as of the last event before the snapshot, for central's
    reconciliation: one event, or consecutive parts by SKU range when the levels would not fit in half a push
    request (SYNC_BATCH_MAX_BYTES), so no snapshot is too large to deliver whatever the catalog's size. Read under
    the write lock, so no sale slips between the levels and ``as_of_seq``."""
    as_of = OutboxEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    levels = (
        StockLevel.objects.filter(branch=settings.BRANCH_CODE)
        .order_by("product_id")
        .values_list("product_id", "on_hand")
    )
    now = timezone.now()
    return [
        outbox_event_append(type=EventType.STOCK_SNAPSHOT, payload=payload, occurred_at=now)
        for payload in protocol.stock_snapshot_parts(
            as_of_seq=as_of, levels=levels.iterator(chunk_size=5000), max_bytes=settings.SYNC_BATCH_MAX_BYTES // 2
        )
    ]
