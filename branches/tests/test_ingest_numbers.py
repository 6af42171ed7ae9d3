"""Central reads a branch's quantities and amounts in the one format every builder of branches/protocol.py writes:
an event with anything else is rejected (the branch parks it) and the events after it are stored."""

import pytest

from branches.models import BranchEvent
from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.tests.factories import product_make
from inventory.tests.number_cases import BAD_QUANTITIES

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

bad = pytest.mark.parametrize("text", BAD_QUANTITIES.values(), ids=BAD_QUANTITIES.keys())


@pytest.fixture
def stream(db):
    product_make(sku="FRU-BANANA", unit=Unit.KILOGRAM)
    return Events("B001")


def _rejected_then_stored(stream: Events, bad_event: dict) -> tuple:
    client, _ = branch_client("B001")
    good = stream.received(FRU_BANANA="1.000")
    answer = push(client, [bad_event, good]).json()
    return [(item["id"], item["code"]) for item in answer["rejected"]], list(BranchEvent.objects.values_list("id"))


@bad
def test_a_quantity_out_of_format_is_rejected(stream, text):
    event = stream.sale(FRU_BANANA=text)

    rejected, stored = _rejected_then_stored(stream, event)

    assert rejected == [(event["id"], "invalid_payload")]
    assert len(stored) == 1


@bad
def test_a_snapshot_level_out_of_format_is_rejected(stream, text):
    event = stream.make("stock.snapshot", {"as_of_seq": 0, "levels": [{"sku": "FRU-BANANA", "on_hand": text}]})

    rejected, _ = _rejected_then_stored(stream, event)

    assert rejected == [(event["id"], "invalid_payload")]


BAD_AMOUNTS = {"exponent": "1E+2", "underscore": "1_0", "blank": " 1.00", "three decimals": "1.001", "JSON number": 1}


@pytest.mark.parametrize("field", ["unit_price", "total"])
@pytest.mark.parametrize("text", BAD_AMOUNTS.values(), ids=BAD_AMOUNTS.keys())
def test_an_amount_out_of_format_is_rejected(stream, field, text):
    event = stream.sale(FRU_BANANA="1.000")
    if field == "total":
        event["payload"]["total"] = text
    else:
        event["payload"]["lines"][0]["unit_price"] = text

    rejected, _ = _rejected_then_stored(stream, event)

    assert rejected == [(event["id"], "invalid_payload")]


def test_a_well_formed_schema_1_sale_is_stored(stream):
    event = stream.sale(FRU_BANANA="1.250")
    event["payload"]["lines"][0]["unit_price"] = "-0.00"  # a price stored before "-0" was read as zero

    rejected, stored = _rejected_then_stored(stream, event)

    assert (rejected, len(stored)) == ([], 2)
