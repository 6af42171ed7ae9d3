"""What every DRF view shares: the error body in the schema and one way to validate input."""

from rest_framework import serializers

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


def input_valid(serializer_class, request) -> dict:
    """Validate a JSON object body with ``serializer_class``; anything else is a 400 with field errors."""
    if not isinstance(request.data, dict):
        raise DomainError("invalid", "The body must be a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
