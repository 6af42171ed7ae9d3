"""CSV downloads that open cleanly in the chain's spreadsheets: every CSV the servers offer goes through here."""

import csv
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils.translation import get_language

# A number as the API writes it ("-5.000"): a spreadsheet reads it as a number, not a formula.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value, *, decimal_comma: bool) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a note starting with "=", "+", "-", "@", a tab or a
    carriage return gets a leading "'" and stays text); numbers keep their sign, with a decimal comma in Spanish."""
    text = "" if value is None else str(value)
    if _PLAIN_NUMBER.fullmatch(text):
        return text.replace(".", ",") if decimal_comma and isinstance(value, Decimal | float) else text
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Line:
    """csv.writer writes to this and gets the line back, so each row can be streamed as soon as it is made."""

    def write(self, line: str) -> str:
        return line


def csv_download(*, filename: str, columns: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    """``rows`` streamed as a CSV attachment (no size limit, little memory). UTF-8 with a BOM so spreadsheets detect
    the encoding; in Spanish ";" between cells and a decimal comma, as a Spanish-locale spreadsheet expects (its ","
    is the decimal separator)."""
    spanish = (get_language() or "").startswith("es")
    writer = csv.writer(_Line(), delimiter=";" if spanish else ",")

    def lines():
        yield "\ufeff" + writer.writerow(columns)
        for row in rows:
            yield writer.writerow([csv_cell(value, decimal_comma=spanish) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
