"""Visitor file numbers: check-in day + serial (REQUIREMENTS §4), parsed back strictly."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.domain.visitors import VisitorNumberError, format_visitor_no, parse_visitor_no


def test_numbers_carry_the_check_in_day_and_a_four_digit_serial() -> None:
    assert format_visitor_no(date(2026, 12, 31), 1) == "20261231-0001"
    assert format_visitor_no(date(2026, 1, 5), 12345) == "20260105-12345"
    assert parse_visitor_no(" 20261231-0001 ") == (date(2026, 12, 31), 1)


@pytest.mark.parametrize(
    "text", ["202612-0001", "20261331-0001", "20260230-0001", "2026123-0001", "20261231-01",
             "20261231-0001x", "x" * 300, "２０２６１２３１-0001"],
)  # fmt: skip
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(VisitorNumberError):
        parse_visitor_no(text)


def test_a_serial_below_one_is_refused() -> None:
    with pytest.raises(VisitorNumberError):
        format_visitor_no(date(2026, 1, 1), 0)
