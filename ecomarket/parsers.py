"""The API's JSON parser: DRF's, with a bound on how deeply a body may nest."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No request body of the API nests deeper than 6 (a push: body, events, event, payload, lines, line); Python's own
# recursion limit (about 1,000) is what stopped a deeper one, with a RecursionError (500) in the parser or in
# whatever walked the body next.
MAX_DEPTH = 32


class NestedTooDeep(ParseError):
    default_detail = f"The JSON body nests deeper than {MAX_DEPTH} levels."
    default_code = "too_deeply_nested"


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise NestedTooDeep() from None
        if depth_exceeds(data, MAX_DEPTH):
            raise NestedTooDeep()
        return data


def depth_exceeds(data, limit: int) -> bool:
    """Whether ``data`` (parsed JSON) holds containers nested more than ``limit`` deep; without recursion, so the
    check itself cannot run out of stack."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
