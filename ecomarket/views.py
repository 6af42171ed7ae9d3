from django.conf import settings
from django.db import connection
from django.http import JsonResponse
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
