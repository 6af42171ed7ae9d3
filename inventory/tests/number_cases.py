"""The one table of number cases every door is tested with (ecomarket/quantities.py is the one format): the API's
serializers, the till's fast path, the staff pages and dashboard forms, the change feed and central's ingest."""

# Each is refused as a quantity wherever a quantity arrives: Python's Decimal() reads most of them, JavaScript and
# PostgreSQL read them otherwise or not at all.
BAD_QUANTITIES = {
    "underscore": "1_0",
    "exponent": "1E+2",
    "lower exponent": "1e3",
    "fullwidth digits": "\uff11\uff10",
    "arabic-indic digits": "\u0661",
    "plus sign": "+1",
    "leading blank": " 1",
    "trailing blank": "1 ",
    "trailing newline": "1\n",
    "bare point": ".5",
    "trailing point": "1.",
    "comma": "1,5",
    "two points": "1.2.3",
    "empty": "",
    "minus alone": "-",
    "infinity": "Infinity",
    "nan": "NaN",
    "signalling nan": "sNaN",
    "overflow": "1e309",
    "too many whole digits": "1234567890",
    "absurd": "10000000000000",
    "exponent the probe sent": "1e13",
    "barcode scanned into the field": "7790742023001",
    "too many decimals": "1.0001",
    "trailing zero beyond places": "1.0000",
    "JSON integer": 1,
    "JSON float": 1.5,
    "JSON true": True,
    "JSON null inside a list": [None],
}

# Read, and what they read as (the ledger's three decimals).
GOOD_QUANTITIES = {
    "1": "1.000",
    "0.5": "0.500",
    "007.50": "7.500",
    "123456789.125": "123456789.125",
    "2.25": "2.250",
}

# What a page forgives before the same check (ecomarket/pages.py form_decimal): blanks around what was typed, and
# the decimal comma of the user's language (Spanish here). Everything else in the table is refused on a page too.
PAGE_FORGIVES = {"comma", "leading blank", "trailing blank", "trailing newline"}
BAD_TYPED = {case: text for case, text in BAD_QUANTITIES.items() if isinstance(text, str) and case not in PAGE_FORGIVES}
