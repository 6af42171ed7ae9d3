"""Content-Security-Policy on every response: a page may load scripts, styles, images and data only from this
server (``settings.CONTENT_SECURITY_POLICY``), so an injected ``<script>`` or a stray third-party URL does nothing.
A view that needs more (the API docs page) sets its own policy with :func:`csp_policy`; the middleware keeps it.

Django 5.2 has no CSP support of its own (6.0 adds it); this is the small part EcoMarket needs.
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault(HEADER, settings.CONTENT_SECURITY_POLICY)
        return response


def csp_policy(extra: str) -> Callable:
    """Decorate a view so its responses carry the project's policy plus ``extra`` directives (later directives of
    the same name are ignored by browsers, so ``extra`` names only directives the base policy leaves out)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response.headers[HEADER] = f"{settings.CONTENT_SECURITY_POLICY}; {extra}"
            return response

        return wrapped

    return decorator
