"""What every DRF view shares: the error body in the schema and one way to validate input."""

from django.core.exceptions import FieldDoesNotExist, ValidationError
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from ecomarket.errors import DomainError


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField()


ERRORS = {code: ErrorSerializer for code in (400, 401, 403, 404, 409, 413, 429)}


def whole_number(value: str | None, *, digits: int = 17) -> int | None:
    """A non-negative integer written in ASCII digits, or None. (``str.isdigit`` also accepts "²", which ``int``
    then refuses.)"""
    if value and len(value) <= digits and value.isascii() and value.isdecimal():
        return int(value)
    return None


_BODY = object()


def input_valid(serializer_class, request, *, body=_BODY) -> dict:
    """Validate a JSON object body with ``serializer_class`` (``request.data``, or ``body`` where the view had to
    adjust it first); anything else is a 400 with field errors."""
    body = request.data if body is _BODY else body
    if not isinstance(body, dict):
        raise DomainError("invalid", "The body must be a JSON object.")
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class CursorPage(CursorPagination):
    """A list answers a page at a time: ``{"next", "previous", "results"}``, with ``next`` null on the last page, so
    a client can always tell it has everything (lists used to stop at 500 or 1,000 rows without saying so). A
    cursor, unlike an offset, never repeats or skips a row while new ones arrive. ``?page_size=`` up to 1,000."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's cursor, refused with 400 ``invalid_cursor`` when it was not one of ours: DRF answers 404 for one it
        cannot decode, and takes a position its field cannot hold (``p=abc`` for an id) as far as the database,
        which failed with a 500."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            try:
                self.model._meta.get_field(self.ordering[0].lstrip("-")).clean(cursor.position, None)
            except FieldDoesNotExist:
                pass  # ordered by an annotation: nothing to check it against
            except ValidationError:
                raise _invalid_cursor() from None
        return cursor


def _invalid_cursor() -> DomainError:
    return DomainError("invalid_cursor", "This cursor was not given out by this list: start from its first page.")


def cursor_page(field: str) -> type[CursorPage]:
    """The paginator for a list ordered by ``field``, which must be unique: DRF's cursor remembers a position in
    that field and breaks ties by an offset it caps at 1,000, so a value shared by more rows would lose some."""
    return type("CursorPage", (CursorPage,), {"ordering": (field,)})
