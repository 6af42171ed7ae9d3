"""Central mode: head office's page to schedule prices and define promotions (managers, web login). Its forms run
the API's input serializers and call the same services, so a rule is written once and the page cannot skip it."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from ecomarket.errors import DomainError
from ecomarket.pages import first_rows, form_decimal, form_valid, refusal_message, role_required
from ecomarket.roles import Role
from ecomarket.templatetags.shop import money
from inventory.models import Product
from pricing import selectors, services
from pricing.models import PromotionKind
from pricing.serializers import PriceScheduleInputSerializer, PromotionInputSerializer

SHOWN = 100
PROMOTION_FIELDS = ("name", "kind", "starts_at", "ends_at", "percent", "price", "buy", "pay")


def _typed(request, names, decimals=()) -> dict:
    """The form's fields as the API's body: the empty ones left out (optional there), numbers in the API's form."""
    body = {name: request.POST.get(name, "").strip() for name in names}
    return {name: form_decimal(value) if name in decimals else value for name, value in body.items() if value}


def _price_schedule(request) -> bool:
    data = form_valid(
        request, PriceScheduleInputSerializer, _typed(request, ("sku", "price", "effective_at"), ("price",))
    )
    if data is None:
        return False
    scheduled = services.price_schedule(**data, user=request.user)
    at = formats.date_format(timezone.localtime(scheduled.effective_at), "SHORT_DATETIME_FORMAT")
    values = {"sku": scheduled.product_id, "price": money(scheduled.price), "at": at}
    messages.success(request, _("%(sku)s costs %(price)s from %(at)s in every branch.") % values)
    return True


def _promotion_save(request) -> bool:
    body = _typed(request, PROMOTION_FIELDS, ("percent", "price"))
    body["skus"] = [sku.strip() for sku in request.POST.get("skus", "").split(",") if sku.strip()]
    data = form_valid(request, PromotionInputSerializer, body)
    if data is None:
        return False
    data = dict(data)
    services.promotion_save(promotion_id=data.pop("id", None), user=request.user, **data)
    messages.success(request, _("Promotion “%(name)s” saved: every branch applies it in its period.") % data)
    return True


@require_http_methods(["GET", "POST"])
@role_required(Role.MANAGER)
def pricing_page(request):
    if request.method == "POST":
        save = {"price": _price_schedule, "promotion": _promotion_save}.get(request.POST.get("form", ""))
        try:
            if save is not None and save(request):
                return redirect("page-pricing")
        except DomainError as error:
            messages.error(request, refusal_message(error))
    prices = first_rows(selectors.scheduled_price_list().order_by("-created_at"), SHOWN)
    promotions = first_rows(selectors.promotion_list().order_by("-starts_at"), SHOWN)
    skus = {price.product_id for price in prices.rows} | {sku for p in promotions.rows for sku in p.skus}
    names = dict(Product.objects.filter(sku__in=skus).values_list("sku", "name"))
    for price in prices.rows:
        price.name = names.get(price.product_id, "")
    for promotion in promotions.rows:
        promotion.products = [names.get(sku, sku) for sku in promotion.skus]
    context = {
        "prices": prices,
        "promotions": promotions,
        "now": timezone.now(),
        "kinds": PromotionKind.choices,
        "typed": request.POST if request.method == "POST" else {},
    }
    return render(request, "pricing/pricing.html", context)
