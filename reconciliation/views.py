"""Central only: the managers' dashboard (server-rendered, offline-safe)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from branches.apis import (
    QuickKeysInputSerializer,
    TransferCreateInputSerializer,
    quick_keys_set_from,
    transfer_create_from,
)
from branches.models import Branch
from ecomarket.errors import DomainError
from ecomarket.pages import (
    FirstRows,
    first_rows,
    form_decimal,
    form_valid,
    redirect_back,
    refusal_message,
    role_required,
)
from ecomarket.roles import Role
from ecomarket.spreadsheets import csv_download
from inventory.models import Product, QuickKey, Unit
from reconciliation import actions, charts, selectors
from reconciliation.apis import (
    DiscrepancyActInputSerializer,
    DiscrepancyOutputSerializer,
    OversellCaseActInputSerializer,
)
from reconciliation.contacts import oversell_customers
from reconciliation.models import DiscrepancyKind, DiscrepancyStatus, OversellResolution
from reports.selectors import KPI_PRESETS, best_selling_weighed, kpi_tiles

manager_required = role_required(Role.MANAGER)

# What one dashboard load renders at most, so a 500-store chain's page stays quick (docs/scale.md): the
# discrepancies beyond are counted and reached by filter or CSV, the healthy branches beyond by ?health=all.
DISCREPANCY_ROWS = 100
CASE_ROWS = 200
HEALTH_ROWS = 50
# The headline tiles: the days they cover, and each figure's name.
KPI_NAMES = {"today": gettext_lazy("Today"), "yesterday": gettext_lazy("Yesterday"), "week": gettext_lazy("This week")}
KPI_LABELS = {
    "sales": gettext_lazy("Sales"),
    "tickets": gettext_lazy("Tickets"),
    "basket": gettext_lazy("Average basket"),
}
# Cash closes: two weeks of (day, branch, register) rows, the newest first; older ones through the cash-sessions API.
CASH_DAYS = 14
CASH_ROWS = 100
TRANSFER_ROWS = 100
TRANSFER_FORM_ROWS = 6
# The transfers received short or damaged the dashboard lists, newest first.
TRANSFER_DIFFERENCE_ROWS = 20


def _filters(request) -> dict:
    params = request.GET
    return {
        "branch": params.get("branch", ""),
        "kind": params.get("kind", "") if params.get("kind", "") in DiscrepancyKind.values else "",
        "status": params.get("status", "open")
        if params.get("status", "open") in ["open", "", *DiscrepancyStatus.values]
        else "open",
    }


@require_GET
@manager_required
def dashboard(request):
    filters = _filters(request)
    records = first_rows(selectors.discrepancy_list(**filters), DISCREPANCY_ROWS)
    cases = first_rows(selectors.oversell_case_list(branch=filters["branch"], status="unresolved"), CASE_ROWS)
    # Every chain-wide figure below is one query over a small or indexed set (docs/scale-runs.md "The dashboard at 500
    # branches"): the open counts once for the health table and the per-kind table, the branch codes for the filter.
    by_kind = selectors.open_by_kind_and_branch()
    health = selectors.branch_health(branch=filters["branch"], open_by_kind=by_kind)
    # A person reads a product's name; the SKU stays beside it for the search and the spreadsheet.
    names = dict(
        Product.objects.filter(sku__in={row.sku for row in [*records.rows, *cases.rows] if row.sku}).values_list(
            "sku", "name"
        )
    )
    for row in [*records.rows, *cases.rows]:
        row.product_name = names.get(row.sku, "")
    customers = oversell_customers(cases.rows)
    for case in cases.rows:  # shown with its sale, on this managers-only page (never stored back)
        for sale in case.sales:
            sale["customer"] = customers.get(sale.get("sale_id"))
    preset = request.GET.get("period", "today")
    preset = preset if preset in KPI_PRESETS else "today"
    kpi = kpi_tiles(preset=preset, branch=filters["branch"])
    for tile in kpi["tiles"]:
        tile["label"] = KPI_LABELS[tile["name"]]
    others = request.GET.copy()
    others.pop("period", None)
    context = {
        "kpi": kpi,
        "kpi_preset": preset,
        "kpi_presets": [(name, KPI_NAMES[name]) for name in KPI_PRESETS],
        "other_filters": others.urlencode(),
        "filters": filters,
        "branches": Branch.objects.order_by("code").values_list("code", flat=True),
        "kinds": DiscrepancyKind.choices,
        "statuses": [("open", _("open or acknowledged")), *DiscrepancyStatus.choices, ("", _("all"))],
        "health": FirstRows(health if request.GET.get("health") == "all" else health[:HEALTH_ROWS], len(health)),
        "releases": selectors.branch_releases(),
        "cash": selectors.cash_variances(branch=filters["branch"], days=CASH_DAYS, limit=CASH_ROWS),
        "cash_days": CASH_DAYS,
        "short_transfers": selectors.transfer_list(
            branch=filters["branch"], differences=True, limit=TRANSFER_DIFFERENCE_ROWS
        ),
        "by_kind": {DiscrepancyKind(kind).label: row for kind, row in by_kind.items()},
        "discrepancies": records,
        "cases": cases,
        "resolutions": OversellResolution.choices,
        "per_day_chart": mark_safe(
            charts.bar_chart(selectors.discrepancies_per_day(), title=_("Discrepancies found per day"))
        ),
        "lag_chart": mark_safe(
            charts.line_chart(selectors.lag_history(branch=filters["branch"]), title=_("Sync lag (events) per branch"))
        ),
    }
    return render(request, "reconciliation/dashboard.html", context)


# The API's fields, less the nested ones a spreadsheet cannot hold.
CSV_COLUMNS = [name for name in DiscrepancyOutputSerializer.Meta.fields if name not in ("detail", "actions")]


@require_GET
@manager_required
def discrepancies_csv(request):
    """Every discrepancy the filters match, streamed row by row."""
    records = selectors.discrepancy_list(**_filters(request)).iterator(chunk_size=2000)
    return csv_download(
        filename="discrepancies.csv",
        columns=CSV_COLUMNS,
        rows=([getattr(r, "branch_id" if c == "branch" else c) for c in CSV_COLUMNS] for r in records),
    )


@require_POST
@manager_required
def discrepancy_act_page(request, discrepancy_id: int):
    body = {key: request.POST[key] for key in ("action", "note", "sku") if key in request.POST}
    if request.POST.get("delta", "").strip():  # the form sends an empty field for any other action
        body["delta"] = form_decimal(request.POST["delta"])
    data = form_valid(request, DiscrepancyActInputSerializer, body)
    if data is None:
        return redirect_back(request, "dashboard")
    return _acted(
        request,
        lambda: actions.discrepancy_act(discrepancy_id=discrepancy_id, user=request.user, **data),
        done=_("Discrepancy %(id)s updated.") % {"id": discrepancy_id},
    )


@require_POST
@manager_required
def oversell_case_act_page(request, case_id: int):
    body = {key: request.POST[key] for key in ("action", "note", "resolution") if key in request.POST}
    # The dashboard offers one choice, "contact" or "resolve:<resolution>", for the API's action and resolution.
    action, _sep, resolution = body.get("action", "").partition(":")
    if resolution:
        body.update(action=action, resolution=resolution)
    data = form_valid(request, OversellCaseActInputSerializer, body)
    if data is None:
        return redirect_back(request, "dashboard")
    return _acted(
        request,
        lambda: actions.oversell_case_act(case_id=case_id, user=request.user, **data),
        done=_("Oversell case %(id)s updated.") % {"id": case_id},
    )


def _acted(request, act, *, done: str):
    """Take a manager's action and go back to the dashboard: what was done, or why it was refused, in the user's
    language."""
    try:
        act()
    except DomainError as refusal:
        messages.error(request, refusal_message(refusal))
    else:
        messages.success(request, done)
    return redirect_back(request, "dashboard")


@require_http_methods(["GET", "POST"])
@manager_required
def transfers_page(request):
    """Send goods to a branch (from the warehouse, or from another branch) and follow them: on their way, received,
    and what the receiving branch said was short or damaged. The form runs the API's serializer and service."""
    typed = list(zip(request.POST.getlist("sku"), request.POST.getlist("quantity"), strict=False))
    if request.method == "POST":
        body = {
            "to_branch": request.POST.get("to_branch", ""),
            "from_branch": request.POST.get("from_branch", ""),
            "note": request.POST.get("note", ""),
            "lines": [
                {"sku": sku.strip(), "quantity": form_decimal(quantity)}
                for sku, quantity in typed
                if sku.strip() or quantity.strip()
            ],
        }
        data = form_valid(request, TransferCreateInputSerializer, body)
        if data is not None:
            try:
                transfer = transfer_create_from(data, user=request.user)
            except DomainError as refusal:
                messages.error(request, refusal_message(refusal))
            else:
                messages.success(request, _("Transfer sent to %(branch)s.") % {"branch": transfer.to_branch_id})
                return redirect("dashboard-transfers")
    branch = request.GET.get("branch", "")
    rows = typed + [("", "")] * (TRANSFER_FORM_ROWS - len(typed))
    context = {
        "transfers": selectors.transfer_list(branch=branch, limit=TRANSFER_ROWS),
        "branches": Branch.objects.order_by("code").values_list("code", "name"),
        "branch": branch,
        "rows": rows,
        "typed": request.POST if request.method == "POST" else {},
    }
    return render(request, "reconciliation/transfers.html", context)


QUICK_KEY_SUGGESTIONS = 12


@require_http_methods(["GET", "POST"])
@manager_required
def quick_keys_page(request):
    """Lay out the tills' quick keys: the chain's, or one branch's own, one SKU a line in button order; a branch's
    best-selling weighed goods (loose fruit and vegetables) offered as a start. Runs the API's serializer and
    service."""
    branch = request.POST.get("branch", request.GET.get("branch", ""))
    typed = request.POST.get("skus", "")
    if request.method == "POST":
        skus = [sku.strip() for sku in typed.replace(",", "\n").splitlines() if sku.strip()]
        data = form_valid(request, QuickKeysInputSerializer, {"branch": branch, "skus": skus})
        if data is not None:
            try:
                quick_keys_set_from(data)
            except DomainError as refusal:
                messages.error(request, refusal_message(refusal))
            else:
                messages.success(request, _("Quick keys sent to the tills."))
                return redirect(f"{request.path}?branch={branch}")
    keys = list(QuickKey.objects.filter(branch=branch).select_related("product"))
    suggested = best_selling_weighed(branch=branch, limit=QUICK_KEY_SUGGESTIONS) if "suggest" in request.GET else []
    if suggested:
        typed = "\n".join(row["sku"] for row in suggested)
    elif request.method == "GET":
        typed = "\n".join(key.product_id for key in keys)
    context = {
        "branch": branch,
        "branches": Branch.objects.order_by("code").values_list("code", "name"),
        "keys": keys,
        "skus": typed,
        "suggested": suggested,
        "weighed": Unit.KILOGRAM,
    }
    return render(request, "reconciliation/quick_keys.html", context)
