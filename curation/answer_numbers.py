"""Read a number the way a person would from a short answer: "−10", "+5", "4,750", "1 1/2", "three", "once".

Used by answer extraction (curation/extract.py) and by the verifiers that compare numbers
(curation/verifiers.py), so both agree on what counts as the same number. Thousands separators
must group by three ("47,50" is not 4750), and number words are limited to the few a small
model writes for counts and small results.
"""

import re
from fractions import Fraction

# one number as written in text: thousands groups by "," (or a space), decimals, a/b fractions
NUMBER = r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\w/]|\.\d)"
_GROUPED = re.compile(r"\d{1,3}(?:([, ])\d{3})+")
_PLAIN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)")
_MIXED = re.compile(r"(\d+) (\d+)/(\d+)")
_FRACTION = re.compile(r"(\d+)/(\d+)|\\[dt]?frac\{(\d+)\}\{(\d+)\}|\\[dt]?frac(\d)(\d)")
_SIGN = re.compile(r"^(?:[-+\u2212]|minus\b|negative\b|plus\b)\s*", re.IGNORECASE)
NUMBER_WORDS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                     "ninety": 90, "hundred": 100, "once": 1, "twice": 2, "thrice": 3})
COUNT_WORD = r"\b(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b"


def parse_number(text: str | None) -> Fraction | None:
    """The exact value of a short answer that is one number, else None (never guesses).

    >>> parse_number("−1,250"), parse_number("1 1/2"), parse_number("three"), parse_number("47,50")
    (Fraction(-1250, 1), Fraction(3, 2), Fraction(3, 1), None)
    """
    if text is None:
        return None
    body = text.replace("{,}", ",").strip().rstrip(".").strip()  # "12{,}000": LaTeX's thousands comma
    sign = _SIGN.match(body)
    negative = bool(sign) and sign.group(0).strip()[:1] in "-\u2212mMnN"
    body = body[sign.end():] if sign else body
    if sign and _SIGN.match(body):  # "--10": a double sign is not a way to write a number
        return None
    value = _unsigned(body)
    return None if value is None else (-value if negative else value)


def _unsigned(body: str) -> Fraction | None:
    if _PLAIN.fullmatch(body):
        return Fraction(body)
    grouped = _GROUPED.fullmatch(body.split(".")[0]) if body.count(".") <= 1 else None
    if grouped and (body.count(".") == 0 or _PLAIN.fullmatch(body.split(".")[1])):
        return Fraction(body.replace(grouped.group(1), ""))
    if mixed := _MIXED.fullmatch(body):
        whole, num, den = map(int, mixed.groups())
        return whole + Fraction(num, den) if den and num < den else None
    if fraction := _FRACTION.fullmatch(body):
        num, den = (int(g) for g in fraction.groups() if g is not None)
        return Fraction(num, den) if den else None
    word = NUMBER_WORDS.get(body.casefold())
    return None if word is None else Fraction(word)


def looks_numeric(text: str) -> bool:
    """Digits with only separators and signs around them ("20,00", "1.2.3"): a number-like answer."""
    return bool(re.fullmatch(r"[-+\u2212]?[\d.,\s]*\d[\d.,\s]*", text.strip()))
