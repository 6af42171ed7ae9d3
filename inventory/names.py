"""What a SKU and a product name may hold: they are printed on labels, exported to spreadsheets and shown on every
branch's pages, so a character a person cannot see or that changes what they read is refused where they are typed.
Rows stored before these rules keep working (a SKU is a primary key and is never renamed); only new input is held
to them."""

import unicodedata

from django.utils.translation import gettext as _

# Characters that reorder the text around them (Unicode's bidirectional embeddings, overrides and isolates, and
# the invisible marks that steer them): "A\u202eB" displays as another string than the one stored.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def sku_problem(sku: str) -> str:
    """Why ``sku`` cannot name a product ("" if it can): printable characters, no blank or control character. A
    SKU is typed, scanned and matched exactly: a tab, a carriage return or a trailing space makes one that looks
    like another."""
    if not sku:
        return _("A SKU cannot be empty.")
    if not sku.isprintable() or any(char.isspace() for char in sku):
        return _("A SKU is printable characters without spaces, tabs, line breaks or control characters.")
    return ""


def name_problem(name: str) -> str:
    """Why ``name`` cannot be a product's name ("" if it can): no control, line-break or direction-changing
    character; spaces and any script's letters are fine."""
    for char in name:
        if char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return _("A product name cannot hold the control character U+%(code)04X.") % {"code": ord(char)}
    return ""
