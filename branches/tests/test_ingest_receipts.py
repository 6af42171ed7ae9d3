"""Central counts a transfer's receipt once, with the transfer's own lines: a second receipt of it, or one with
other lines, is rejected (the branch parks it and a manager sees it), never added to the ledger again."""

from decimal import Decimal

import pytest
from django.db import transaction

from branches.change_feed import transfer_create
from branches.models import Transfer
from branches.tests.factories import Events, branch_client, on_hand, push
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]


@pytest.fixture
def sent(db):
    """Six litres of milk sent to B001."""
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    client, branch = branch_client("B001")
    with transaction.atomic():
        transfer = transfer_create(to_branch=branch, lines=[("LAC-LECHE-1L", Decimal("6"))])
    return client, transfer


def receipt(stream: Events, transfer: Transfer, **quantities: str) -> dict:
    lines = [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in quantities.items()]
    return stream.make("stock.received", {"transfer_id": str(transfer.id), "lines": lines})


def test_a_second_receipt_of_a_transfer_is_rejected_and_counted_once(sent):
    client, transfer = sent
    stream = Events("B001")
    first, second, third = (receipt(stream, transfer, LAC_LECHE_1L="6.000") for _ in range(3))

    earlier = push(client, [first]).json()
    later = push(client, [second, third]).json()

    assert earlier["accepted"] == 1
    assert [(r["id"], r["code"]) for r in later["rejected"]] == [
        (second["id"], "transfer_already_received"),
        (third["id"], "transfer_already_received"),
    ]
    assert str(on_hand()["LAC-LECHE-1L"]) == "6.000"
    transfer.refresh_from_db()
    assert transfer.state == "received"


def test_two_receipts_of_a_transfer_in_one_batch_count_once(sent):
    client, transfer = sent
    stream = Events("B001")
    events = [receipt(stream, transfer, LAC_LECHE_1L="6"), receipt(stream, transfer, LAC_LECHE_1L="6")]

    answer = push(client, events).json()

    assert (answer["accepted"], [r["code"] for r in answer["rejected"]]) == (1, ["transfer_already_received"])
    assert str(on_hand()["LAC-LECHE-1L"]) == "6.000"


@pytest.mark.parametrize(
    "quantities",
    [{"LAC_LECHE_1L": "5"}, {"LAC_LECHE_1L": "6", "FRU_BANANA": "1"}],
    ids=["fewer", "more"],
)
def test_a_receipt_with_other_lines_than_its_transfer_is_rejected(sent, quantities):
    client, transfer = sent
    stream = Events("B001")

    answer = push(client, [receipt(stream, transfer, **quantities)]).json()

    assert [r["code"] for r in answer["rejected"]] == ["transfer_lines_mismatch"]
    assert on_hand() == {}
    transfer.refresh_from_db()
    assert transfer.state == "sent"


def test_a_receipt_of_another_branchs_transfer_is_rejected(sent):
    _, transfer = sent
    other, _ = branch_client("B002")
    stream = Events("B002")

    answer = push(other, [receipt(stream, transfer, LAC_LECHE_1L="6")], branch="B002").json()

    assert [r["code"] for r in answer["rejected"]] == ["wrong_transfer"]


def short_receipt(stream: Events, transfer: Transfer, differences: list[dict], **quantities: str) -> dict:
    event = receipt(stream, transfer, **quantities)
    event["payload"]["differences"] = differences
    return event


def test_a_transfer_received_short_and_damaged_stocks_what_arrived_and_keeps_the_difference(sent):
    client, transfer = sent
    stream = Events("B001")
    event = short_receipt(
        stream, transfer, [{"sku": "LAC-LECHE-1L", "short": "1.000", "damaged": "2.000"}], LAC_LECHE_1L="3.000"
    )

    assert push(client, [event]).json()["accepted"] == 1

    assert str(on_hand()["LAC-LECHE-1L"]) == "3.000"  # the damaged litres never reached the shelf
    transfer.refresh_from_db()
    assert transfer.state == "received"
    assert transfer.differences == [{"sku": "LAC-LECHE-1L", "short": "1.000", "damaged": "2.000"}]


def test_a_receipt_whose_lines_and_differences_do_not_add_up_to_the_transfer_is_rejected(sent):
    client, transfer = sent
    stream = Events("B001")
    wrong = short_receipt(
        stream, transfer, [{"sku": "LAC-LECHE-1L", "short": "1.000", "damaged": "0"}], LAC_LECHE_1L="3.000"
    )
    whole_line_short = short_receipt(
        stream, transfer, [{"sku": "FRU-BANANA", "short": "1.000", "damaged": "0"}], LAC_LECHE_1L="6.000"
    )

    answer = push(client, [wrong, whole_line_short]).json()

    assert [r["code"] for r in answer["rejected"]] == ["transfer_lines_mismatch", "transfer_lines_mismatch"]
    transfer.refresh_from_db()
    assert (transfer.state, transfer.differences) == ("sent", None)


def test_differences_on_a_supplier_delivery_are_refused(sent):
    client, _ = sent
    stream = Events("B001")
    event = stream.make(
        "stock.received",
        {
            "transfer_id": None,
            "lines": [{"sku": "LAC-LECHE-1L", "quantity": "1"}],
            "differences": [{"sku": "LAC-LECHE-1L", "short": "1.000", "damaged": "0.000"}],
        },
    )

    assert [r["code"] for r in push(client, [event]).json()["rejected"]] == ["invalid_payload"]
