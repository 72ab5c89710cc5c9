from fractions import Fraction

import pytest

from curation.answer_numbers import looks_numeric, parse_number


@pytest.mark.parametrize("text,value", [
    ("7", 7), ("-7", -7), ("\u22127", -7), ("+7", 7), ("- 7", -7), ("minus 7", -7), ("negative 7", -7),
    ("7.0", 7), (".5", Fraction(1, 2)), ("1,250", 1250), ("1,234,567.5", Fraction(2469135, 2)), ("4 750", 4750),
    ("12{,}000", 12000), ("3/4", Fraction(3, 4)), ("\\frac{3}{4}", Fraction(3, 4)), ("\\dfrac34", Fraction(3, 4)),
    ("1 1/2", Fraction(3, 2)), ("three", 3), ("Twelve", 12), ("once", 1), ("twice", 2), ("7.", 7),
])
def test_parse_number_reads_one_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", [
    "47,50", "1,2000", "20,00", "--10", "7 apples", "7 or 8", "1/0", "3 5/4", "none", "", "x", "1.2.3", None,
])
def test_parse_number_refuses_what_is_not_one_number(text):
    assert parse_number(text) is None


def test_looks_numeric_flags_number_like_text():
    assert looks_numeric("20,00") and looks_numeric("1.2.3") and looks_numeric("4 750")
    assert not looks_numeric("7 apples") and not looks_numeric("") and not looks_numeric("-")
