"""The index of the chain's recent sales (the last SALE_INDEX_DAYS), so a store takes back another store's sale
without asking head office.

Central side (:func:`chain_sales_book`, run by each publication in its transaction): the sales, voids and returns
the stores delivered since the previous booking are booked into ``ChainSale`` and ``ChainReturn``, every return
against the sale it names whichever store took it; a sale whose returns took back more than it sold (or anything
after it was voided) gets an ``OverReturnCase``. A return of a sale head office does not hold yet waits in
``ChainReturn`` and is judged when the sale arrives. The entries booked or changed go out with the publication.

Branch side: the entries are kept in ``ChainSale`` (:func:`sale_index_write`); a return of another store's sale
(:func:`sale_of_another_store`) is taken against the entry, and what other stores returned of any sale, as head
office last knew it, counts against what is left to return.
"""

import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from branches.models import Branch, BranchEvent
from branches.protocol import EventType
from chain.models import ChainBookState, ChainReturn, ChainSale, OverReturnCase, OverReturnStatus
from ecomarket.errors import DomainError
from ecomarket.modes import Mode, only
from ecomarket.quantities import money, quantity_text
from inventory.models import PaymentMethod, Product, Sale, SaleLine, SaleStatus

_BOOKED_TYPES = [EventType.SALE_COMPLETED, EventType.SALE_VOIDED, EventType.RETURN_COMPLETED]
# Stores whose new events one query reads (an OR of per-store ranges on the (branch, ingest_mark) index).
_STORES_PER_QUERY = 100


def index_window_start(now: datetime) -> datetime:
    return now - timedelta(days=settings.SALE_INDEX_DAYS)


def sale_entry(sale: ChainSale) -> dict:
    """An index entry as the feed carries it."""
    return {
        "branch": sale.branch,
        "number": sale.number,
        "sold_at": sale.sold_at.isoformat(),
        "lines": sale.lines,
        "returned": sale.returned,
        "voided": sale.voided,
    }


def sales_text(sales: list[ChainSale]) -> str:
    if not sales:
        return ""
    return json.dumps({str(sale.id): sale_entry(sale) for sale in sales}, separators=(",", ":"))


def _sum_into(into: dict[str, Decimal], lines: dict[str, str]) -> None:
    for sku, quantity in lines.items():
        into[sku] = into.get(sku, Decimal("0")) + Decimal(quantity)


# Central side
# ----------------------------------------------------------------------------------------------------------------


@only(Mode.CENTRAL)
def chain_sales_book(*, now: datetime) -> list[ChainSale]:
    """Book the sales, voids and returns stored since the previous booking; returns the index entries booked or
    changed; sales older than the window leave the index. Runs in the caller's transaction (a publication's, one
    at a time). Safe to run twice: every row is keyed by its document id, and a sale's returned figures and its
    case are recomputed from the booked returns."""
    state = ChainBookState.objects.get_or_create(pk=1)[0]
    marks = dict(state.marks)
    moved = {
        code: (marks.get(code, 0), mark)
        for code, mark in Branch.objects.values_list("code", "ingest_mark")
        if mark > marks.get(code, 0)
    }
    window = index_window_start(now)
    ChainSale.objects.filter(sold_at__lt=window).delete()  # out of the index at the branches too
    if not moved:
        return []
    new_sales, voided, returns = [], set(), []
    codes = sorted(moved)
    for start in range(0, len(codes), _STORES_PER_QUERY):
        ranges = Q()
        for code in codes[start : start + _STORES_PER_QUERY]:
            ranges |= Q(branch_id=code, ingest_mark__gt=moved[code][0], ingest_mark__lte=moved[code][1])
        events = BranchEvent.objects.filter(ranges, type__in=_BOOKED_TYPES).values_list(
            "branch_id", "type", "occurred_at", "payload"
        )
        for branch, type_, occurred_at, payload in events:
            if type_ == EventType.SALE_COMPLETED and occurred_at >= window:
                new_sales.append(_sale_booked(branch, occurred_at, payload))
            elif type_ == EventType.SALE_VOIDED:
                voided.add(uuid.UUID(payload["sale_id"]))
            elif type_ == EventType.RETURN_COMPLETED:
                returns.append(_return_booked(branch, occurred_at, payload))
    ChainSale.objects.bulk_create(new_sales, ignore_conflicts=True)
    ChainReturn.objects.bulk_create(returns, ignore_conflicts=True)
    # A void stored before its sale was booked (delivered first, or the sale in a later push).
    by_store: dict[str, list[uuid.UUID]] = {}
    for sale in new_sales:
        by_store.setdefault(sale.branch, []).append(sale.id)
    for code, ids in by_store.items():
        voided |= set(
            BranchEvent.objects.filter(branch_id=code, type=EventType.SALE_VOIDED, sale_ref__in=ids).values_list(
                "sale_ref", flat=True
            )
        )
    touched = {sale.id for sale in new_sales} | voided | {ret.sale_id for ret in returns}
    changed = _sales_rejudge(touched, voided=voided, now=now)
    marks.update({code: mark for code, (_, mark) in moved.items()})
    state.marks = marks
    state.save(update_fields=["marks"])
    return changed


def _sale_booked(branch: str, occurred_at: datetime, payload: dict) -> ChainSale:
    return ChainSale(
        id=uuid.UUID(payload["sale_id"]),
        branch=branch,
        number=payload["number"],
        sold_at=occurred_at,
        lines=[
            [line["sku"], line["quantity"], line["unit_price"], line.get("line_total") or _line_total(line)]
            for line in payload["lines"]
        ],
    )


def _line_total(line: dict) -> str:
    return str(money(Decimal(line["quantity"]) * Decimal(line["unit_price"])))


def _return_booked(branch: str, occurred_at: datetime, payload: dict) -> ChainReturn:
    lines: dict[str, Decimal] = {}
    _sum_into(lines, {line["sku"]: line["quantity"] for line in payload["lines"]})
    return ChainReturn(
        branch=branch,
        return_id=uuid.UUID(payload["return_id"]),
        sale_id=uuid.UUID(payload["sale_id"]),
        lines={sku: quantity_text(quantity) for sku, quantity in lines.items()},
        occurred_at=occurred_at,
    )


def _sales_rejudge(touched: set[uuid.UUID], *, voided: set[uuid.UUID], now: datetime) -> list[ChainSale]:
    """Recompute what each touched sale has had returned, by store, from its booked returns, and judge it."""
    sales = list(ChainSale.objects.filter(id__in=touched))
    booked: dict[uuid.UUID, list[ChainReturn]] = {}
    for ret in ChainReturn.objects.filter(sale_id__in=[sale.id for sale in sales]).order_by("occurred_at", "id"):
        booked.setdefault(ret.sale_id, []).append(ret)
    for sale in sales:
        returned: dict[str, dict[str, Decimal]] = {}
        for ret in booked.get(sale.id, []):
            _sum_into(returned.setdefault(ret.branch, {}), ret.lines)
        sale.returned = {
            branch: {sku: quantity_text(quantity) for sku, quantity in figures.items()}
            for branch, figures in sorted(returned.items())
        }
        sale.voided = sale.voided or sale.id in voided
        _over_return_judge(sale, booked.get(sale.id, []), now=now)
    ChainSale.objects.bulk_update(sales, ["returned", "voided"])
    return sales


def over_returned(sale: ChainSale) -> dict[str, Decimal]:
    """What the sale's returns, at every store together, took back beyond what it sold (all of it once voided)."""
    sold = {} if sale.voided else {sku: Decimal(quantity) for sku, quantity, *_ in sale.lines}
    back: dict[str, Decimal] = {}
    for figures in sale.returned.values():
        _sum_into(back, figures)
    zero = Decimal("0")
    return {sku: quantity - sold.get(sku, zero) for sku, quantity in back.items() if quantity > sold.get(sku, zero)}


def _over_return_judge(sale: ChainSale, returns: list[ChainReturn], *, now: datetime) -> None:
    excess = over_returned(sale)
    if not excess:
        return
    fields = {
        "sale_branch": sale.branch,
        "sale_number": sale.number,
        "voided": sale.voided,
        "excess": {sku: quantity_text(quantity) for sku, quantity in sorted(excess.items())},
        "returns": [
            {
                "branch": ret.branch,
                "return_id": str(ret.return_id),
                "occurred_at": ret.occurred_at.isoformat(),
                "lines": ret.lines,
            }
            for ret in returns
        ],
        "updated_at": now,
    }
    case = OverReturnCase.objects.exclude(status=OverReturnStatus.RESOLVED).filter(sale_id=sale.id).first()
    if case is None:
        OverReturnCase.objects.create(sale_id=sale.id, created_at=now, **fields)
    elif any(getattr(case, name) != value for name, value in fields.items() if name != "updated_at"):
        OverReturnCase.objects.filter(pk=case.pk).update(**fields)


@only(Mode.CENTRAL)
def sale_index_snapshot(*, branches: list[str], now: datetime) -> dict:
    """The index entries of ``branches``' sales in the window, for a snapshot page."""
    sales = ChainSale.objects.filter(branch__in=branches, sold_at__gte=index_window_start(now))
    return {str(sale.id): sale_entry(sale) for sale in sales}


# Branch side
# ----------------------------------------------------------------------------------------------------------------


@only(Mode.BRANCH)
def sale_index_write(sales: dict) -> int:
    """Upsert the entries ``{sale_id: entry}`` (this store's own sales too: what other stores returned of them)."""
    rows = [
        ChainSale(
            id=uuid.UUID(sale_id),
            branch=entry["branch"],
            number=entry["number"],
            sold_at=parse_datetime(entry["sold_at"]),
            lines=entry["lines"],
            returned=entry["returned"],
            voided=entry["voided"],
        )
        for sale_id, entry in sales.items()
    ]
    ChainSale.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["branch", "number", "sold_at", "lines", "returned", "voided"],
    )
    return len(rows)


@only(Mode.BRANCH)
def sale_index_prune(*, now: datetime) -> int:
    return ChainSale.objects.filter(sold_at__lt=index_window_start(now)).delete()[0]


@only(Mode.BRANCH)
def returned_so_far(*, sale_id: uuid.UUID, here: dict[str, Decimal]) -> dict[str, Decimal]:
    """What has come back of the sale at every store: other stores' returns as head office last knew them, and this
    store's own, ``here`` (its own records) or what head office booked of them if more (records a restore from
    head office could not rebuild: a return of another store's sale whose entry it did not hold yet)."""
    entry = ChainSale.objects.filter(pk=sale_id).only("returned").first()
    known = entry.returned if entry else {}
    back: dict[str, Decimal] = {}
    for branch, figures in known.items():
        if branch != settings.BRANCH_CODE:
            _sum_into(back, figures)
    own = {sku: Decimal(quantity) for sku, quantity in known.get(settings.BRANCH_CODE, {}).items()}
    for sku in here.keys() | own.keys():
        back[sku] = back.get(sku, Decimal("0")) + max(here.get(sku, Decimal("0")), own.get(sku, Decimal("0")))
    return back


@only(Mode.BRANCH)
def sale_of_another_store(*, sale_id: uuid.UUID) -> tuple[Sale | None, bool]:
    """Another store's sale as this store holds it to take a return of it: a copy of the index entry as a ``Sale``
    with the other store's code and number, made at its first return here (it never makes an event: the sale is
    the other store's), so returns and refunds hang on it like on a sale of this store. Returns (the copy or None
    when the index does not hold the sale, whether head office knows it was voided). In the caller's transaction."""
    entry = ChainSale.objects.filter(pk=sale_id).exclude(branch=settings.BRANCH_CODE).first()
    copy = Sale.objects.filter(pk=sale_id).exclude(branch=settings.BRANCH_CODE).first()
    if entry is None:
        return copy, False
    if copy is None:
        known = set(Product.objects.filter(sku__in=[line[0] for line in entry.lines]).values_list("sku", flat=True))
        copy = Sale.objects.create(
            id=entry.id,
            branch=entry.branch,
            number=entry.number,
            status=SaleStatus.COMPLETED,
            payment_method=PaymentMethod.CASH,
            total=sum((Decimal(line[3]) for line in entry.lines), Decimal("0.00")),
            fingerprint="",
            created_at=entry.sold_at,
        )
        SaleLine.objects.bulk_create(
            SaleLine(
                sale=copy,
                product_id=sku,
                quantity=Decimal(quantity),
                unit_price=Decimal(unit_price),
                line_total=Decimal(line_total),
            )
            for sku, quantity, unit_price, line_total in entry.lines
            if sku in known  # a product this store's catalog lacks cannot come back here
        )
    return copy, entry.voided


@only(Mode.BRANCH)
def sale_index_find(*, branch: str, number: int) -> ChainSale | None:
    """Another store's sale by its printed number, from the index (the newest, should a number repeat)."""
    return ChainSale.objects.filter(branch=branch, number=number).order_by("-sold_at").first()


@only(Mode.BRANCH)
def sale_id_by_number(*, branch: str, number: int) -> uuid.UUID:
    """The id of the sale a receipt prints as ``number`` at ``branch``: this store's own, or another's from the
    index. Raises ``unknown_sale`` when neither holds it."""
    if branch == settings.BRANCH_CODE:
        found = Sale.objects.filter(branch=branch, number=number).values_list("id", flat=True).first()
    else:
        entry = sale_index_find(branch=branch, number=number)
        found = entry.id if entry else None
    if found is None:
        raise DomainError(
            "unknown_sale",
            f"No sale {number} of {branch} here or in the chain's recent sales.",
            fields={"sale_number": ["Unknown."]},
        )
    return found
