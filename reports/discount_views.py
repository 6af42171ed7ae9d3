"""Central only: the page of what promotions and the till's markdowns took off, and its CSVs (managers, web login).
Its own module beside reports/views.py: the same filters (and what the page says about them), its own figures."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from branches.models import Branch
from ecomarket.spreadsheets import csv_download
from reports import discounts, selectors
from reports.views import PAGE_ROWS, _filters, manager_required


@require_GET
@manager_required
def discounts_page(request):
    filters, problems = _filters(request.GET)
    report = {name: build(filters) for name, build in discounts.REPORTS.items()}
    rows = report["discounts"]
    return render(
        request,
        "reports/discounts.html",
        {
            "filters": filters,
            "problems": problems,
            "query": "&".join(f"{key}={value}" for key, value in filters.query().items()),
            "branches": Branch.objects.order_by("code").values_list("code", flat=True),
            "discounts": rows[:PAGE_ROWS],
            "markdowns": report["markdowns"][:PAGE_ROWS],
            "more": {name: len(found) - PAGE_ROWS for name, found in report.items() if len(found) > PAGE_ROWS},
            "page_rows": PAGE_ROWS,
            # The period's figures together: gross less discount is net, as each row's.
            "total": {name: sum((row[name] for row in rows), 0) for name in ("gross", "discount", "net")},
            "state": selectors.rollup_state(),
        },
    )


@require_GET
@manager_required
def discounts_csv(request, report: str):
    build = discounts.REPORTS.get(report)
    if build is None:
        raise Http404(report)
    try:
        filters = selectors.filters_parse(request.GET)
    except selectors.FilterError as refusal:
        return HttpResponse(str(refusal), status=400, content_type="text/plain; charset=utf-8")
    columns = discounts.COLUMNS[report]
    return csv_download(
        filename=f"{report}-{filters.date_from}-{filters.date_to}.csv",
        columns=columns,
        rows=([row[column] for column in columns] for row in build(filters)),
    )
