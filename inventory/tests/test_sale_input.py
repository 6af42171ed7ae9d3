"""The plain sale body's fast validation agrees with the serializer, and leaves everything else to it."""

import uuid

import pytest

from inventory.apis.branch import SaleCreateApi, sale_input_plain

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
