"""Branch only: the staff pages. The POS page is a script over the POS API; the other pages are plain forms that
validate with the API's own input serializers and call the same services, so a rule holds the same way whether a
till, a script or a person at a page asks."""

import dataclasses
import hashlib
import uuid
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework import serializers

from branches import selectors as branch_selectors
from branches.models import IncomingTransfer
from cash.models import Refund, Register, SaleTender
from chain import selectors as chain_selectors
from chain.models import ChainBranchName
from chain.sale_index import sale_index_find
from ecomarket.errors import DomainError
from ecomarket.pages import REFUSALS, first_rows, form_decimal, form_problems, refusal_message, role_required
from ecomarket.quantities import quantity_text
from ecomarket.roles import Role, user_has_role
from ecomarket.templatetags.shop import quantity as quantity_shown
from inventory import selectors, services
from inventory.models import PaymentMethod, Product, Return, Sale, SaleStatus, Unit
from inventory.serializers import (
    ReturnCreateInputSerializer,
    SaleVoidInputSerializer,
    StockCountInputSerializer,
    StockReceiptInputSerializer,
    receipt_differences,
    service_lines,
)
from pricing.till import till_pricing

FORM_ROWS = 8
# A typed quantity above these is asked about at the till before it is charged: more than any one customer buys at
# once, and what a barcode scanned into the quantity field or a key held down looks like.
CONFIRM_ABOVE = {Unit.UNIT: "99", Unit.KILOGRAM: "20"}
PAYMENT_LABELS = {
    PaymentMethod.CASH: gettext_lazy("Cash"),
    PaymentMethod.CARD: gettext_lazy("Card"),
    PaymentMethod.TRANSFER: gettext_lazy("Bank transfer"),
    PaymentMethod.VOUCHER: gettext_lazy("Voucher"),
}


@require_GET
@role_required(Role.CASHIER)
def pos(request):
    payments = {value: str(label) for value, label in PAYMENT_LABELS.items()}
    no_session = uuid.UUID(int=0)
    config = {
        "refusals": {code: str(message) for code, message in REFUSALS.items()},
        "payments": payments,
        # Selling below zero is allowed here: the till then asks for the customer's contact before charging.
        "allow_negative": settings.BRANCH_ALLOW_NEGATIVE_STOCK,
        "confirm_above": {str(unit): limit for unit, limit in CONFIRM_ABOVE.items()},
        # The till is pinned to one of these (chosen once per device); a store without registers sells as before.
        "registers": [{"code": r.code, "name": r.name} for r in Register.objects.filter(active=True)],
        "sessions_required": settings.CASH_SESSIONS_REQUIRED,
        # Only a manager's X report shows the cash figures: a cashier closes blind.
        "manager": user_has_role(request.user, Role.MANAGER),
        "store": store_header(),
        "urls": {
            "sessions": reverse("cash-session-list"),
            "session": reverse("cash-session-detail", args=[no_session]),
            "z": reverse("page-cash-z", args=[no_session]),
            "login": settings.LOGIN_URL,
        },
        "no_session": str(no_session),
        # The till's queue (tillstore.js) in the cashier's words: the singular and the plural form.
        "queue": {
            "waiting": [
                ngettext("%(count)s sale waiting at this till", "%(count)s sales waiting at this till", n)
                for n in (1, 2)
            ],
            "refused": [
                ngettext(
                    "%(count)s kept sale refused by the branch server: tell a manager",
                    "%(count)s kept sales refused by the branch server: tell a manager",
                    n,
                )
                for n in (1, 2)
            ],
        },
        # Scale label formats and the promotions running or to come (lines and receipts show them).
        **till_pricing(),
    }
    context = {
        "pos_config": config,
        "payment_methods": payments.items(),
        "quick_keys": selectors.quick_keys(branch=settings.BRANCH_CODE),
    }
    return render(request, "inventory/pos.html", context)


# What the till's service worker keeps, so the till opens and sells with the store's box unreachable: the page's own
# scripts and styles (the page itself, in the language it was last opened in, is kept as it is fetched).
TILL_ASSETS = [
    "ecomarket/app.css",
    "ecomarket/shop.js",
    "ecomarket/sync.js",
    "ecomarket/tillstore.js",
    "ecomarket/pos.js",
    "ecomarket/till.js",
    "ecomarket/quickkeys.js",
    "ecomarket/chainstock.js",
    "ecomarket/till.svg",
]


@require_GET
def pos_service_worker(request):
    """The till's service worker, served from /pos/ so its scope is the till. Not behind the login: it holds only
    the names of public files, and the browser re-fetches it to look for a new version without asking anyone. Its
    version is a digest of the files it keeps, so changing any of them installs a new worker with fresh copies."""
    digest = hashlib.sha256()
    for path in TILL_ASSETS:
        found = finders.find(path)
        digest.update(Path(found).read_bytes() if found else path.encode())
    context = {"version": digest.hexdigest()[:16], "assets": [static(path) for path in TILL_ASSETS]}
    response = render(request, "inventory/pos_sw.js", context, content_type="text/javascript")
    # A stale worker would keep old scripts for as long as the browser's HTTP cache kept it.
    response.headers["Cache-Control"] = "no-cache"
    return response


@require_GET
def pos_manifest(request):
    """The till as an installable app: it opens on /pos/ in a window of its own."""
    manifest = {
        "name": f"EcoMarket · {settings.BRANCH_CODE}",
        "short_name": "EcoMarket",
        "start_url": reverse("page-pos"),
        "scope": reverse("page-pos"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#2e7d32",
        "icons": [{"src": static("ecomarket/till.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    return JsonResponse(manifest, content_type="application/manifest+json")


# The stock page shows other stores' figures beside at most this many products.
CHAIN_STOCK_ROWS = 20


def store_header() -> dict:
    """What a receipt prints at its head (branch settings)."""
    return {
        "name": settings.STORE_NAME,
        "address": settings.STORE_ADDRESS,
        "tax_id": settings.STORE_TAX_ID,
        "branch": settings.BRANCH_CODE,
    }


@require_GET
@role_required(Role.CASHIER)
def stock_list(request):
    search = request.GET.get("q", "").strip()[:64]
    products = first_rows(selectors.product_stock_list(branch=settings.BRANCH_CODE, search=search), 500)
    # Other stores' figures from the replica, for a list short enough to be a search (not the whole catalogue).
    elsewhere = {}
    if len(products.rows) <= CHAIN_STOCK_ROWS:
        elsewhere = chain_selectors.chain_stock_elsewhere(skus=[product.sku for product in products.rows])
    for product in products.rows:
        product.elsewhere = elsewhere.get(product.sku)
    context = {"products": products, "search": search, "chain": chain_selectors.chain_replica_status()}
    return render(request, "inventory/stock_list.html", context)


@require_http_methods(["GET", "POST"])
@role_required(Role.CASHIER)
def stock_receive(request):
    rows = _typed_rows(request, "quantity")
    if request.method == "POST":
        if request.POST.get("transfer_id"):
            transfer = IncomingTransfer.objects.filter(pk=_uuid_or_none(request.POST["transfer_id"])).first()
            if transfer is None:
                raise Http404("no such transfer")
            body = {"id": request.POST.get("id"), "transfer_id": str(transfer.pk), "lines": transfer.lines}
            if request.POST.get("differences"):
                body = _transfer_arrived(request, transfer, body)
        else:
            body = {"id": request.POST.get("id"), "lines": _lines(rows)}
        data = body and _form_valid(request, StockReceiptInputSerializer, body, rows)
        if data and _done(
            request,
            lambda: services.stock_receipt_record(
                receipt_id=data["id"],
                transfer_id=data.get("transfer_id"),
                lines=service_lines(data["lines"]),
                user=request.user,
                differences=receipt_differences(data),
            ),
            rows,
        ):
            messages.success(request, _("Goods received: stock updated."))
            return redirect("page-stock-receive")
    transfers = list(branch_selectors.transfers_in_transit())
    names = _product_names(line["sku"] for transfer in transfers for line in transfer.lines)
    for transfer in transfers:
        transfer.goods = [{**line, "name": names.get(line["sku"], "")} for line in transfer.lines]
    context = {
        "transfers": transfers,
        "document_id": uuid.uuid4(),
        "rows": _padded(rows),
    }
    return render(request, "inventory/stock_receive.html", context)


def _transfer_arrived(request, transfer: IncomingTransfer, body: dict) -> dict | None:
    """A transfer's receipt as its form says the goods arrived: per line, what went on the shelf and what came
    damaged (as typed, in the user's language); the rest of what was sent is short. None, with a message naming the
    product, where those add up to more than was sent or are not numbers."""
    names = _product_names(line["sku"] for line in transfer.lines)
    lines, differences = [], []
    for line in transfer.lines:
        sku, sent = line["sku"], Decimal(line["quantity"])
        good = form_decimal(request.POST.get(f"good-{sku}", "")) or line["quantity"]
        damaged = form_decimal(request.POST.get(f"damaged-{sku}", "")) or "0"
        try:
            short = sent - Decimal(good) - Decimal(damaged)
        except ArithmeticError:
            short = None
        if short is None or short < 0 or Decimal(good) < 0 or Decimal(damaged) < 0:
            values = {"name": names.get(sku, sku), "sent": quantity_shown(sent)}
            messages.error(
                request,
                _("%(name)s: what arrived and what came damaged must add up to at most the %(sent)s sent.") % values,
            )
            return None
        if Decimal(good):
            lines.append({"sku": sku, "quantity": good})
        if short or Decimal(damaged):
            differences.append({"sku": sku, "short": quantity_text(short), "damaged": damaged})
    return {**body, "lines": lines, "differences": differences}


@require_http_methods(["GET", "POST"])
@role_required(Role.CASHIER)
def stock_count(request):
    rows = _typed_rows(request, "counted")
    if request.method == "POST":
        body = {"id": request.POST.get("id"), "lines": _lines(rows, "counted")}
        data = _form_valid(request, StockCountInputSerializer, body, rows)
        if data is not None and _done(
            request,
            lambda: services.stock_count_record(
                count_id=data["id"], lines=service_lines(data["lines"], "counted"), user=request.user
            ),
            rows,
        ):
            messages.success(request, _("Count recorded: stock set to what was counted."))
            return redirect("page-stock-count")
    recounts = branch_selectors.recount_requests_open()
    names = _product_names(sku for recount in recounts for sku in recount.skus)
    for recount in recounts:
        recount.products = [{"sku": sku, "name": names.get(sku, "")} for sku in recount.skus]
    context = {
        "recounts": recounts,
        "document_id": uuid.uuid4(),
        "rows": _padded(rows),
    }
    return render(request, "inventory/stock_count.html", context)


@require_GET
@role_required(Role.CASHIER)
def sale_list(request):
    number = request.GET.get("number", "").strip()
    store = request.GET.get("branch", "").strip()[:16] or settings.BRANCH_CODE
    if number:
        number_ok = number.isascii() and number.isdecimal()
        if store != settings.BRANCH_CODE:  # another store's sale, from the chain's index of recent sales
            if number_ok and sale_index_find(branch=store, number=int(number)):
                return redirect("page-chain-sale", branch=store, number=int(number))
            messages.error(
                request,
                _("No sale number %(number)s of %(branch)s in the chain's recent sales.")
                % {"number": number[:12], "branch": store},
            )
        elif number_ok and selectors.sale_by_number(branch=settings.BRANCH_CODE, number=int(number)):
            return redirect("page-sale-detail", number=int(number))
        else:
            # A provisional receipt's number (a sale the till kept while the server was away) finds the sale too.
            kept = selectors.sale_by_provisional_number(branch=settings.BRANCH_CODE, provisional_number=number[:32])
            if kept is not None:
                return redirect("page-sale-detail", number=kept.number)
            messages.error(request, _("No sale number %(number)s at this branch.") % {"number": number[:12]})
    sales = Sale.objects.filter(branch=settings.BRANCH_CODE).select_related("cashier").order_by("-number")[:50]
    stores = ChainBranchName.objects.exclude(code=settings.BRANCH_CODE).order_by("code")
    return render(request, "inventory/sale_list.html", {"sales": sales, "stores": stores})


@require_GET
@role_required(Role.CASHIER)
def sale_detail(request, number: int):
    sale = _sale(number)
    returned = selectors.sale_returned(sale=sale)
    lines = [{"line": line, "returned": returned.get(line.product_id, Decimal("0"))} for line in sale.lines.all()]
    for row in lines:
        row["returnable"] = row["line"].quantity - row["returned"]
    context = {
        "sale": sale,
        "lines": lines,
        "returns": sale.returns.order_by("created_at"),
        "return_id": uuid.uuid4(),
        # A sale with returns is not voided (the rest comes back as another return): no button that would refuse.
        "can_void": user_has_role(request.user, Role.MANAGER) and not returned,
    }
    return render(request, "inventory/sale_detail.html", context)


@require_POST
@role_required(Role.MANAGER)
def sale_void_page(request, number: int):
    sale = _sale(number)
    data = _form_valid(request, SaleVoidInputSerializer, {"reason": request.POST.get("reason", "")})
    if data is not None and request.POST.get("confirm") != "yes" and sale.status != SaleStatus.VOIDED:
        # A void undoes the whole sale: the manager sees what goes back on the shelf and says so once more.
        return render(request, "inventory/sale_void_confirm.html", {"sale": sale, "reason": data["reason"]})
    if data is not None and _done(
        request, lambda: services.sale_void(sale_id=sale.pk, reason=data["reason"], user=request.user)
    ):
        messages.success(request, _("Sale %(number)s voided: its goods are back in stock.") % {"number": number})
    return redirect("page-sale-detail", number=number)


@require_POST
@role_required(Role.CASHIER)
def sale_return(request, number: int):
    sale = _sale(number)
    lines = [
        {"sku": line.product_id, "quantity": form_decimal(request.POST.get(f"return-{line.product_id}", ""))}
        for line in sale.lines.all()
        if request.POST.get(f"return-{line.product_id}", "").strip() not in ("", "0")
    ]
    if not lines:
        messages.error(request, _("Enter the quantity coming back for at least one line."))
        return redirect("page-sale-detail", number=number)
    body = {
        "id": request.POST.get("id"),
        "sale_id": str(sale.pk),
        "lines": lines,
        "reason": request.POST.get("reason", ""),
    }
    data = _form_valid(request, ReturnCreateInputSerializer, body)
    if data is not None and _done(
        request,
        lambda: services.return_create(
            return_id=data["id"],
            sale_id=data["sale_id"],
            lines=service_lines(data["lines"]),
            reason=data["reason"],
            cashier=request.user,
        ),
    ):
        messages.success(request, _("Return recorded for sale %(number)s: stock updated.") % {"number": number})
        return redirect(f"{reverse('page-sale-detail', args=[number])}#returns")
    return redirect("page-sale-detail", number=number)


@require_GET
@role_required(Role.CASHIER)
def sale_receipt(request, number: int):
    """The customer's receipt again (a reprint), laid out for the 80 mm receipt printer like the till's."""
    sale = _sale(number)
    tender = SaleTender.objects.filter(sale=sale).first()
    kept = tender.payments if tender else [{"method": sale.payment_method, "amount": str(sale.total)}]
    change = tender.change if tender else Decimal("0")
    payments = [
        {
            "label": PAYMENT_LABELS.get(payment["method"], payment["method"]),
            # Cash shows what was handed over: what the sale kept plus the change given back.
            "amount": Decimal(payment["amount"]) + (change if payment["method"] == PaymentMethod.CASH else 0),
            "tendered": payment["method"] == PaymentMethod.CASH and change > 0,
        }
        for payment in kept
    ]
    context = {
        "sale": sale,
        "lines": sale.lines.select_related("product"),
        "register": tender.register if tender else "",
        "payments": payments,
        "change": change,
        "store": store_header(),
    }
    return render(request, "inventory/sale_receipt.html", context)


@require_GET
@role_required(Role.CASHIER)
def return_slip(request, return_id: uuid.UUID):
    """The slip a customer takes for a return: what came back and the refund by method."""
    # Every return in this store's database was taken here, of its own sale or another store's.
    ret = Return.objects.filter(pk=return_id).select_related("sale", "cashier").first()
    if ret is None:
        raise Http404("no such return")
    refund = Refund.objects.filter(pk=ret.pk).first()
    refunds = [
        {"label": PAYMENT_LABELS.get(item["method"], item["method"]), "amount": Decimal(item["amount"])}
        for item in (refund.payments if refund else [])
    ]
    context = {
        "ret": ret,
        "lines": ret.lines.select_related("product"),
        "refunds": refunds,
        "refund_total": sum((item["amount"] for item in refunds), Decimal("0")),
        "register": refund.register if refund else "",
        "store": store_header(),
    }
    return render(request, "inventory/return_slip.html", context)


# --------------------------------------------------------------------------------------------------------------


def _sale(number: int) -> Sale:
    sale = selectors.sale_by_number(branch=settings.BRANCH_CODE, number=number)
    if sale is None:
        raise Http404("no such sale")
    return sale


def _product_names(skus) -> dict[str, str]:
    """Names to show beside SKUs on a page: a person reads the name, a scanner the SKU."""
    return dict(Product.objects.filter(sku__in=set(skus)).values_list("sku", "name"))


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclasses.dataclass
class FormRow:
    """One filled row of a receipt or count form: what was typed, the SKU it names, and what is wrong with it."""

    code: str
    value: str
    sku: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)


def _typed_rows(request, field: str) -> list[FormRow]:
    """The rows typed in a receipt or count form, empty ones left out; the form shows them again in this order after
    a refusal, so "row 2" in a message is the second row on the page. A GET may name SKUs to count (a recount)."""
    if request.method == "POST":
        typed = zip(request.POST.getlist("sku"), request.POST.getlist(field), strict=False)
    else:
        typed = [(sku, "") for sku in request.GET.get("skus", "").split(",") if sku][:FORM_ROWS]
    return [FormRow(code=code.strip(), value=value.strip()) for code, value in typed if code.strip() or value.strip()]


def _lines(rows: list[FormRow], field: str = "quantity") -> list[dict]:
    """The rows as the API's lines. The form asks for a SKU or a barcode: a code that names a product (its SKU in any
    case, its barcode) is sent as that product's SKU; any other code is sent as typed, for the service to refuse."""
    for row in rows:
        product = selectors.product_find(term=row.code) if row.code else None
        row.sku = product.sku if product else row.code
    return [{"sku": row.sku, field: form_decimal(row.value)} for row in rows]


def _padded(rows: list[FormRow]) -> list[FormRow]:
    """What the form shows: the rows typed (so nothing typed is lost after a refusal), then empty ones."""
    return rows + [FormRow(code="", value="") for _ in range(max(FORM_ROWS - len(rows), 2))]


def _row_problems(request, rows: list[FormRow], errors) -> bool:
    """Problems with the form's lines (``{"lines": {index: ...}}`` from the serializer or a refusal) as messages
    naming the row and what was typed in it, each row marked; False when the errors name no line."""
    lines = errors.get("lines") if isinstance(errors, dict) else None
    if (
        not isinstance(lines, dict | list)
        or not rows
        or (isinstance(lines, list) and any(isinstance(item, str) for item in lines))
    ):
        return False  # about the lines as a whole (a SKU twice), not one of them
    per_line = lines.items() if isinstance(lines, dict) else enumerate(lines)
    found = False
    for index, problem in per_line:
        if not str(index).isdigit() or int(index) >= len(rows) or not problem:
            continue
        row = rows[int(index)]
        for text in form_problems(problem):
            row.problems.append(text)
            messages.error(
                request,
                _("Row %(row)s (%(code)s): %(problem)s")
                % {"row": int(index) + 1, "code": row.code or "–", "problem": text},
            )
            found = True
    return found


def _form_valid(request, serializer_class, body: dict, rows: list[FormRow] = ()) -> dict | None:
    """The API's validation on a form's values; on failure, a message per field (per row of the form's lines) and
    None."""
    serializer = serializer_class(data=body)
    if serializer.is_valid():
        return serializer.validated_data
    if not _row_problems(request, rows, serializer.errors):
        for problem in form_problems(serializer.errors):
            messages.error(request, problem)
    return None


def _done(request, write, rows: list[FormRow] = ()) -> bool:
    """Run the service; a refusal becomes a message in the user's language, naming the form's row it is about."""
    try:
        write()
    except DomainError as error:
        if not _row_problems(
            request, rows, {"lines": {key: [refusal_message(error)] for key in error.fields.get("lines", {})}}
        ):
            messages.error(request, refusal_message(error))
        return False
    except serializers.ValidationError as error:
        if not _row_problems(request, rows, error.detail):
            for problem in form_problems(error.detail):
                messages.error(request, problem)
        return False
    return True
