"""Root URLs: what both modes serve, then the routes of this server's mode only. The other mode's routes do not
exist here, so they answer 404 (docs/architecture.md)."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from branches import urls as branch_urls
from cash import urls as cash_urls
from chain import urls as chain_urls
from ecomarket import health, metrics, views
from ecomarket.csp import csp_policy
from inventory import urls as inventory_urls
from pricing import urls as pricing_urls

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's script is a file of its own (the split view), so the page needs no inline script; Swagger UI
    # itself writes inline styles and draws its icons from data: URLs.
    path(
        "api/docs/",
        csp_policy("style-src 'self' 'unsafe-inline'; img-src 'self' data:")(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", RedirectView.as_view(url=settings.LOGIN_REDIRECT_URL), name="home"),
]

if settings.IS_CENTRAL:
    from reconciliation import urls as reconciliation_urls
    from reports import urls as reports_urls

if settings.IS_BRANCH:
    urlpatterns += [
        path(
            "api/v1/",
            include(chain_urls.branch_api + inventory_urls.branch_api + branch_urls.branch_api + cash_urls.branch_api),
        ),
        *inventory_urls.branch_seed,
        *inventory_urls.branch_pages,
        *chain_urls.branch_pages,
        *cash_urls.branch_pages,
    ]
else:
    urlpatterns += [
        path(
            "api/v1/",
            include(
                inventory_urls.central_api
                + branch_urls.central_api
                + chain_urls.central_api
                + cash_urls.central_api
                + pricing_urls.central_api
                + reconciliation_urls.api
                + reports_urls.api
            ),
        ),
        *inventory_urls.central_seed,
        *reconciliation_urls.pages,
        *chain_urls.central_pages,
        *reports_urls.pages,
        *pricing_urls.central_pages,
    ]

handler404 = "ecomarket.errors.not_found_view"
handler500 = "ecomarket.errors.server_error_view"

admin.site.site_header = format_lazy("EcoMarket {}", settings.BRANCH_CODE if settings.IS_BRANCH else _("Head office"))
admin.site.site_title = "EcoMarket"
