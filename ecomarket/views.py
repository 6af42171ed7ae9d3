from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    """Liveness and database reachability, for load balancers and the test harness. No authentication."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as error:
        database = f"error: {error.__class__.__name__}"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "mode": settings.ECOMARKET_MODE.value,
        "database": database,
    }
    if settings.IS_BRANCH:
        body["branch"] = settings.BRANCH_CODE
    return JsonResponse(body, status=200 if database == "ok" else 503)


def login_locked_out(request, original_response=None, credentials=None):
    """What django-axes answers a login form once a (username, address) failed ``LOGIN_FAILURE_LIMIT`` times: the
    pages' login form (for admin's too), saying so, with 429 and ``Retry-After``. The lockout lasts
    ``LOGIN_COOLOFF_S``; other users at the same address keep logging in. The form is left unbound: validating it
    again would be one more attempt."""
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    response = render(request, "registration/login.html", {"form": form, "locked_out": True}, status=429)
    response["Retry-After"] = str(settings.LOGIN_COOLOFF_S)
    return response
