"""The dashboard's and reports' SVG charts as a manager reads them."""

import re
from decimal import Decimal

import pytest
from django.utils import translation

from reconciliation import charts

pytestmark = pytest.mark.mode("central")


def test_one_day_of_data_is_drawn_as_labelled_bars_not_a_lone_dot():
    svg = charts.line_chart({"B001": [("2026-11-28", Decimal("13.60"))], "B002": [("2026-11-28", 2)]})

    assert svg.count("<rect") == 2 and "<polyline" not in svg
    assert ">B001</text>" in svg and ">B002</text>" in svg


def test_values_are_written_with_a_decimal_comma_in_spanish():
    with translation.override("es"):
        svg = charts.line_chart({"B001": [("2026-11-27", Decimal("1234.50")), ("2026-11-28", 3)]})

    assert "máx. 1.234,50" in svg
    assert "1234.50" not in svg


def test_the_tallest_bar_leaves_room_for_its_value_above_it():
    svg = charts.bar_chart([("2026-11-28", 7)], height=160)

    [value_y] = re.findall(r'y="([0-9.]+)" class="v">7</text>', svg)
    assert float(value_y) >= 10  # the 10 px label's baseline is inside the picture
