from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from ecomarket.errors import json_error


class BodySizeLimitMiddleware:
    """Answer 413 with a JSON error for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, before any view runs.

    DRF reads the request stream directly, which bypasses Django's own size check, so the body is read (and
    bounded) here once; DRF then parses the cached copy.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("POST", "PUT", "PATCH"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            declared = request.META.get("CONTENT_LENGTH") or "0"
            too_big = declared.isdigit() and int(declared) > limit
            if not too_big and not request.content_type.startswith("multipart/"):
                try:
                    request.body  # noqa: B018 - reading enforces the limit for chunked bodies too
                except RequestDataTooBig:
                    too_big = True
            if too_big:
                return json_error("payload_too_large", f"Request body is larger than {limit} bytes.", 413)
        return self.get_response(request)
