"""The plain sale body's fast validation agrees with the serializer, and leaves everything else to it; its limits are
the serializer's, and the serializer's the models'."""

import uuid

import pytest
from django.contrib.auth.models import User

from cash.models import Register
from inventory.apis.branch import SaleCreateApi, sale_input_plain
from inventory.models import PaymentMethod, Product
from inventory.serializers import SaleLineInputSerializer

pytestmark = pytest.mark.mode("branch")

# A till's register and payments the serializer refuses (and so the fast path leaves to it).
TILL_BODIES_REFUSED = [
    {"lines": [{"sku": "A", "quantity": "1"}], "register": " T1"},
    {"lines": [{"sku": "A", "quantity": "1"}], "register": "T" * 17},
    {"lines": [{"sku": "A", "quantity": "1"}], "register": 1},
    {"lines": [{"sku": "A", "quantity": "1"}], "payments": []},
    {"lines": [{"sku": "A", "quantity": "1"}], "payments": [{"method": "card", "amount": "0"}]},
    {"lines": [{"sku": "A", "quantity": "1"}], "payments": [{"method": "card", "amount": 1}]},
    {"lines": [{"sku": "A", "quantity": "1"}], "payments": [{"method": "cheque", "amount": "1"}]},
    {"lines": [{"sku": "A", "quantity": "1"}], "payments": [{"method": "card", "amount": "1.001"}]},
    {
        "lines": [{"sku": "A", "quantity": "1"}],
        "payments": [{"method": "card", "amount": "1"}, {"method": "card", "amount": "2"}],
    },
    {
        "lines": [{"sku": "A", "quantity": "1"}],
        "payments": [{"method": "card", "amount": "1"}],
        "payment_method": "card",
    },
]


# Markdowns and a manager's login the serializer refuses (and so the fast path leaves to it).
MARKDOWN_BODIES_REFUSED = [
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"percent": "10", "amount": "1", "reason": "x"}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"percent": "10"}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"reason": "x"}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"percent": "100.01", "reason": "x"}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"percent": "0", "reason": "x"}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"percent": 10, "reason": "x"}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"amount": "0.001", "reason": "x"}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"amount": "1", "reason": ""}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": {"amount": "1", "reason": "x" * 201}}]},
    {"lines": [{"sku": "A", "quantity": "1", "markdown": None}]},
    {"lines": [{"barcode": "2000102012503", "markdown": {"amount": "1", "reason": "x"}}]},
    {"lines": [{"sku": "A", "quantity": "1"}], "markdown": {"amount": "-1", "reason": "x"}},
    {"lines": [{"sku": "A", "quantity": "1"}], "markdown": "10%"},
    {"lines": [{"sku": "A", "quantity": "1"}], "approval": {"username": "mario"}},
    {"lines": [{"sku": "A", "quantity": "1"}], "approval": {"username": "", "password": "x"}},
    {"lines": [{"sku": "A", "quantity": "1"}], "approval": {"username": "mario", "password": ""}},
    {"lines": [{"sku": "A", "quantity": "1"}], "approval": {"username": "m" * 151, "password": "x"}},
    {"lines": [{"sku": "A", "quantity": "1"}], "approval": {"username": "mario", "password": "x" * 129}},
]


def _serializer_data(body: dict) -> dict:
    serializer = SaleCreateApi.SaleCreateInputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    data = dict(serializer.validated_data)
    data["lines"] = [
        dict(line) | ({"markdown": dict(line["markdown"])} if "markdown" in line else {}) for line in data["lines"]
    ]
    for key in ("markdown", "approval"):
        if key in data:
            data[key] = dict(data[key])
    if "payments" in data:
        data["payments"] = [dict(payment) for payment in data["payments"]]
    return data


@pytest.mark.parametrize(
    "body",
    [
        {"lines": [{"sku": "BEB-AGUA-2L", "quantity": "1"}]},
        {"lines": [{"sku": "A", "quantity": "0.001"}, {"sku": "B", "quantity": "123456789.125"}]},
        {"lines": [{"sku": "A", "quantity": "007.50"}], "payment_method": "card"},
        {"id": str(uuid.uuid4()), "lines": [{"sku": "A", "quantity": "2"}], "payment_method": "cash"},
        {"id": uuid.uuid4().hex, "lines": [{"sku": "A", "quantity": "2"}]},
        {"lines": [{"sku": "A", "quantity": "2"}], "register": "T1"},
        {
            "lines": [{"sku": "A", "quantity": "2"}],
            "register": "caja_2-B",
            "payments": [{"method": "card", "amount": "1.5"}, {"method": "cash", "amount": "10"}],
        },
        {"lines": [{"sku": "A", "quantity": "2", "markdown": {"percent": "30", "reason": "near expiry"}}]},
        {"lines": [{"sku": "A", "quantity": "2", "markdown": {"percent": "100", "reason": "x"}}]},
        {
            "lines": [
                {"sku": "A", "quantity": "1", "markdown": {"amount": "0.40", "reason": "dented pack"}},
                {"sku": "B", "quantity": "1"},
                {"barcode": "2000102012503"},
            ],
            "markdown": {"amount": "1.5", "reason": "loyal customer"},
            "approval": {"username": "mario", "password": "gerente secreto 1 "},
        },
        {"lines": [{"sku": "A", "quantity": "1"}], "markdown": {"percent": "5.5", "reason": "x" * 200}},
    ],
)
def test_plain_body_validates_as_the_serializer_does(body):
    plain = sale_input_plain(body)

    assert plain == _serializer_data(body)
    assert [str(line.get("quantity")) for line in plain["lines"]] == [
        str(line.get("quantity")) for line in _serializer_data(body)["lines"]
    ]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"lines": []},
        {"lines": [{"sku": "A", "quantity": 1}]},
        {"lines": [{"sku": "A", "quantity": "1.5e3"}]},
        {"lines": [{"sku": "A", "quantity": "0"}]},
        {"lines": [{"sku": "A", "quantity": "-1"}]},
        {"lines": [{"sku": "A", "quantity": "1.0001"}]},
        {"lines": [{"sku": "A", "quantity": "1234567890"}]},
        {"lines": [{"sku": " A", "quantity": "1"}]},
        {"lines": [{"sku": "", "quantity": "1"}]},
        {"lines": [{"sku": "A" * 33, "quantity": "1"}]},
        {"lines": [{"sku": "Ñ", "quantity": "1"}]},
        {"lines": [{"sku": "A\x00", "quantity": "1"}]},
        {"lines": [{"sku": 7, "quantity": "1"}]},
        {"lines": [{"sku": "A", "quantity": "1", "note": "x"}]},
        {"lines": [{"sku": "A", "quantity": "1"}, {"sku": "A", "quantity": "2"}]},
        {"lines": [{"sku": "A", "quantity": "1"}], "payment_method": "cheque"},
        {"lines": [{"sku": "A", "quantity": "1"}], "id": "not-a-uuid"},
        {"lines": [{"sku": "A", "quantity": "1"}], "id": None},
        {"lines": [{"sku": "A", "quantity": "1"}], "extra": True},
        {"lines": [{"sku": f"S{n}", "quantity": "1"} for n in range(201)]},
        *TILL_BODIES_REFUSED,
        *MARKDOWN_BODIES_REFUSED,
        {"lines": [{"sku": "A", "quantity": "1", "markdown": {"amount": "1", "reason": " x"}}]},
        {"lines": [{"sku": "A", "quantity": "1"}], "approval": {"username": " mario", "password": "x"}},
        # The serializer takes these (DRF reads a number as text, and passes over keys it does not know); the fast
        # path leaves them to it all the same.
        {"lines": [{"sku": "A", "quantity": "1", "markdown": {"amount": "1", "reason": 7}}]},
        {"lines": [{"sku": "A", "quantity": "1", "markdown": {"amount": "1", "reason": "x", "note": "y"}}]},
        {"lines": [{"sku": "A", "quantity": "1"}], "approval": {"username": "mario", "password": 1}},
    ],
)
def test_anything_else_is_left_to_the_serializer(body):
    assert sale_input_plain(body) is None


@pytest.mark.parametrize("body", TILL_BODIES_REFUSED + MARKDOWN_BODIES_REFUSED)
def test_a_till_body_the_fast_path_leaves_is_refused_by_the_serializer(body):
    assert not SaleCreateApi.SaleCreateInputSerializer(data=body).is_valid()


# Validators the fast path reads the limits of, or that DRF adds to every CharField (a null or surrogate character).
_READ_LIMITS = {
    "MaxLengthValidator",
    "MinLengthValidator",
    "MaxValueValidator",
    "MinValueValidator",
    "ProhibitNullCharactersValidator",
    "ProhibitSurrogateCharactersValidator",
}


def _rules(serializer, path: str = "") -> dict[str, tuple]:
    """Every field of ``serializer``'s tree with what it checks beyond the limits the fast path reads from it: its
    class, whether it may be left out, be null, be blank, keep blanks, its choices and its other validators; and the
    serializers' own ``validate`` methods."""
    own = sorted(name for name in vars(type(serializer)) if name == "validate" or name.startswith("validate_"))
    found = {f"{path}*": tuple(own)}
    for name, field in serializer.fields.items():
        here = f"{path}{name}"
        found[here] = (
            type(field).__name__,
            field.required,
            field.allow_null,
            getattr(field, "allow_blank", None),
            getattr(field, "trim_whitespace", None),
            tuple(getattr(field, "choices", None) or ()),
            tuple(type(v).__name__ for v in field.validators if type(v).__name__ not in _READ_LIMITS),
        )
        nested = getattr(field, "child", field)
        if hasattr(nested, "fields"):
            found |= _rules(nested, f"{here}.")
    return found


# What the sale's serializer checks, as sale_input_plain was written to check it (the lengths and bounds it reads from
# the serializer). A field or a rule added to the serializer changes this: teach the fast path first, then this.
# ``customer`` and ``queued`` it leaves to the serializer, whatever they hold.
FAST_PATH_KNOWS = {
    "*": ("validate", "validate_lines", "validate_payments"),
    "id": ("UUIDField", False, False, None, None, (), ()),
    "lines": ("ListSerializer", True, False, None, None, (), ()),
    "lines.*": ("validate",),
    "lines.sku": ("CharField", False, False, False, False, (), ()),
    "lines.quantity": ("QuantityField", False, False, None, None, (), ()),
    "lines.barcode": ("LabelField", False, False, False, False, (), ()),
    "lines.markdown": ("MarkdownInputSerializer", False, False, None, None, (), ()),
    "lines.markdown.*": ("validate",),
    "lines.markdown.percent": ("MoneyField", False, False, None, None, (), ()),
    "lines.markdown.amount": ("MoneyField", False, False, None, None, (), ()),
    "lines.markdown.reason": ("CharField", True, False, False, True, (), ()),
    "lines.unit_price": ("MoneyField", False, False, None, None, (), ()),
    "payment_method": ("ChoiceField", False, False, False, None, tuple(PaymentMethod.values), ()),
    "payments": ("ListSerializer", False, False, None, None, (), ()),
    "payments.*": (),
    "payments.method": ("ChoiceField", True, False, False, None, tuple(PaymentMethod.values), ()),
    "payments.amount": ("MoneyField", True, False, None, None, (), ()),
    "register": ("RegisterCodeField", False, False, False, False, (), ("RegexValidator",)),
    "customer": ("CustomerInputSerializer", False, True, None, None, (), ()),
    "markdown": ("MarkdownInputSerializer", False, False, None, None, (), ()),
    "markdown.*": ("validate",),
    "markdown.percent": ("MoneyField", False, False, None, None, (), ()),
    "markdown.amount": ("MoneyField", False, False, None, None, (), ()),
    "markdown.reason": ("CharField", True, False, False, True, (), ()),
    "approval": ("ManagerApprovalSerializer", False, False, None, None, (), ()),
    "approval.*": (),
    "approval.username": ("CharField", True, False, False, True, (), ()),
    "approval.password": ("CharField", True, False, False, False, (), ()),
    "queued": ("QueuedSaleInputSerializer", False, False, None, None, (), ()),
}


def test_the_fast_path_knows_every_rule_of_the_sale_serializer():
    rules = _rules(SaleCreateApi.SaleCreateInputSerializer())

    assert {path: rule for path, rule in rules.items() if not path.startswith(("customer.", "queued."))} == (
        FAST_PATH_KNOWS
    )


@pytest.mark.parametrize(
    ("line", "longest"),
    [
        (lambda text: {"sku": text, "quantity": "1"}, Product._meta.get_field("sku").max_length),
        (lambda text: {"barcode": text}, SaleLineInputSerializer().fields["barcode"].max_length),
    ],
    ids=["sku", "barcode"],
)
def test_the_fast_path_and_the_serializer_take_the_longest_the_model_holds_and_no_longer(line, longest):
    serializer = SaleCreateApi.SaleCreateInputSerializer
    longest_body, longer_body = {"lines": [line("7" * longest)]}, {"lines": [line("7" * (longest + 1))]}

    assert sale_input_plain(longest_body) == _serializer_data(longest_body)
    assert sale_input_plain(longer_body) is None
    assert not serializer(data=longer_body).is_valid()


def test_the_register_and_the_approval_are_held_to_the_models_lengths():
    code, username = Register._meta.get_field("code").max_length, User._meta.get_field("username").max_length
    fits = {"lines": [{"sku": "A", "quantity": "1"}], "register": "R" * code}
    fits["approval"] = {"username": "m" * username, "password": "x"}
    too_long = {**fits, "register": "R" * (code + 1)}

    assert sale_input_plain(fits) == _serializer_data(fits)
    assert sale_input_plain(too_long) is None
    assert not SaleCreateApi.SaleCreateInputSerializer(data=too_long).is_valid()
