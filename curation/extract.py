"""Find the final answer in a model's response: tags, then \\boxed{}, then "Answer: X", then the last number.

Small models rarely follow one format, so extraction falls back step by step and says which
rule fired (kept in verdicts.detail, so format compliance can be counted per task).
"""

import re

_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# "Answer: X", "**Answer:** X", "Final answer is X", "the answer is: X" (case-insensitive)
_ANSWER_LINE = re.compile(r"\banswer\b(?:\*\*|__)?\s*(?::|\bis\b\s*:?)[ \t]*(.*)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?")
_WRAPPERS = ("**", "__", "`", "$", "*", "\\(", "\\)", "\\[", "\\]")


def extract_answer(text: str) -> tuple[str | None, str]:
    """The final answer and the rule that found it: "tag", "boxed", "answer_line",
    "last_number", or (None, "none").

    >>> extract_answer("3 + 4 = 7. So the answer is **7**.")
    ('7', 'answer_line')
    """
    if not text:
        return None, "none"
    for method, finder in (("tag", _last_tag), ("boxed", _last_boxed),
                           ("answer_line", _last_answer_line), ("last_number", _last_number)):
        found = finder(text)
        if found:
            return found, method
    return None, "none"


def _last_tag(text: str) -> str | None:
    tags = _TAG.findall(text)
    return _clean(tags[-1]) if tags else None


def _last_boxed(text: str) -> str | None:
    starts = [match.end() for match in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for pos in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            if depth == 0:
                return _clean(text[start:pos]) or None
    return None


def _last_answer_line(text: str) -> str | None:
    lines = text.splitlines()
    for line_no in range(len(lines) - 1, -1, -1):
        matches = list(_ANSWER_LINE.finditer(lines[line_no]))
        if not matches:
            continue
        value = _clean(matches[-1].group(1))
        if not value:  # "Answer:" alone on its line: the value is on the next non-empty line
            following = [line for line in lines[line_no + 1:] if _clean(line)]
            value = _clean(following[0]) if following else ""
        if value:
            return _after_equals(value)
    return None


def _last_number(text: str) -> str | None:
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def _after_equals(value: str) -> str:
    """'3 + 4 = 7' -> '7': keep the right-hand side when it is a plain number."""
    if "=" in value:
        right = _clean(value.rsplit("=", 1)[1])
        if _NUMBER.fullmatch(right):
            return right.replace(",", "")
    return value


def _clean(value: str) -> str:
    """Strip whitespace, markdown/LaTeX wrappers and a trailing period."""
    value = value.strip()
    changed = True
    while changed and value:
        before = value
        value = value.strip().rstrip(".").strip()
        for wrapper in _WRAPPERS:
            if value.startswith(wrapper):
                value = value[len(wrapper):]
            if value.endswith(wrapper):
                value = value[:-len(wrapper)]
        changed = value != before
    return value.strip()
