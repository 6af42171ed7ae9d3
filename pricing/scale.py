"""Scale labels: the EAN-13 a scale prints on weighed produce, deli and meat, carrying the product's PLU and its
weight or its price. The chain configures its label formats in ``SCALE_BARCODE_FORMATS``, comma-separated, each
``<first prefix>-<last prefix>:<pattern>`` with the pattern's 13 letters: ``P`` prefix, ``I`` PLU, ``W`` weight in
grams, ``$`` price in cents, ``C`` the EAN-13 check digit (always last). The default, ``20-29:PPIIIIIWWWWWC``, is a
2-digit prefix 20 to 29, a 5-digit PLU and the weight in grams."""

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.conf import settings

from ecomarket.errors import DomainError

DEFAULT_FORMATS = "20-29:PPIIIIIWWWWWC"
_FORMAT = re.compile(r"([0-9]+)-([0-9]+):(P+)(I+)(W+|\$+)C")


@dataclass(frozen=True)
class LabelFormat:
    first: int
    last: int
    prefix_digits: int
    plu_digits: int
    carries: str  # "weight" or "price"
    value_digits: int


@dataclass(frozen=True)
class ScaleLabel:
    """A label read: its PLU (without leading zeros, as a product carries it), and the weight (kilograms, to the
    gram) or the price it carries."""

    barcode: str
    plu: str
    weight: Decimal | None = None
    price: Decimal | None = None


@lru_cache(maxsize=4)
def label_formats(spec: str) -> tuple[LabelFormat, ...]:
    """``SCALE_BARCODE_FORMATS`` read; a malformed one stops the server at its first label, naming it."""
    formats = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        match = _FORMAT.fullmatch(item)
        if match is None or len(item.partition(":")[2]) != 13 or not len(match[1]) == len(match[2]) == len(match[3]):
            raise ValueError(f"SCALE_BARCODE_FORMATS: {item!r} is not <prefix>-<prefix>:<13 letters P I W|$ C>")
        formats.append(
            LabelFormat(
                first=int(match[1]),
                last=int(match[2]),
                prefix_digits=len(match[3]),
                plu_digits=len(match[4]),
                carries="weight" if match[5][0] == "W" else "price",
                value_digits=len(match[5]),
            )
        )
    return tuple(formats)


def ean13_check_digit(first12: str) -> int:
    """The EAN-13 check digit of 12 digits: weights 1 and 3 alternating from the left."""
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(first12))
    return (10 - total % 10) % 10


def label_read(barcode: str, *, index: int = 0) -> ScaleLabel:
    """The scale label ``barcode`` is, or DomainError ``invalid_barcode``: not 13 digits, a prefix no format
    names, or a check digit that does not match (a misread, or a label typed wrong)."""

    def refuse(why: str) -> DomainError:
        return DomainError(
            "invalid_barcode",
            f"{barcode!r} is not a scale label: {why}.",
            fields={"lines": {str(index): {"barcode": [f"Not a scale label: {why}."]}}},
            extra={"barcode": barcode},
        )

    if not (len(barcode) == 13 and barcode.isascii() and barcode.isdigit()):
        raise refuse("a scale label has 13 digits")
    for fmt in label_formats(settings.SCALE_BARCODE_FORMATS):
        if fmt.first <= int(barcode[: fmt.prefix_digits]) <= fmt.last:
            break
    else:
        raise refuse("no label format has its prefix")
    if ean13_check_digit(barcode[:12]) != int(barcode[12]):
        raise refuse("its check digit is wrong")
    plu_end = fmt.prefix_digits + fmt.plu_digits
    value = Decimal(int(barcode[plu_end : plu_end + fmt.value_digits]))
    plu = str(int(barcode[fmt.prefix_digits : plu_end]))  # as products carry it: without leading zeros
    if fmt.carries == "weight":
        return ScaleLabel(barcode=barcode, plu=plu, weight=(value / 1000).quantize(Decimal("0.001")))
    return ScaleLabel(barcode=barcode, plu=plu, price=(value / 100).quantize(Decimal("0.01")))


def label_make(*, plu: str, grams: int | None = None, cents: int | None = None, prefix: str = "20") -> str:
    """A label as a scale of the default kind prints it (the demo, the README, the tests): prefix, 5-digit PLU,
    5-digit weight in grams or price in cents, check digit."""
    first12 = f"{prefix}{int(plu):05d}{(grams if grams is not None else cents):05d}"
    return first12 + str(ean13_check_digit(first12))
