"""The managers' dashboard's section of over-return cases (central), as a tag the dashboard includes: the chain
app owns its cases and their page, the dashboard only places them."""

from django import template

from chain.models import OverReturnCase, OverReturnStatus

register = template.Library()

CASE_ROWS = 50


@register.inclusion_tag("chain/over_return_cases.html", takes_context=True)
def over_return_cases(context, branch: str = ""):
    cases = list(OverReturnCase.objects.exclude(status=OverReturnStatus.RESOLVED).order_by("-created_at", "-id"))
    if branch:  # a case concerns the store that sold and every store that took a return (a few open at a time)
        cases = [case for case in cases if branch == case.sale_branch or branch in case.branches]
    return {"cases": cases[:CASE_ROWS], "total": len(cases), "request": context.get("request")}
