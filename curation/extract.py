"""Find the final answer in a model's response: tags, \\boxed{}, "Answer: X", a bare last line, then
a number stated as a result ("... is 7", "= 7", "3 times"), then a leading "Yes,"/"No,".

Small models rarely follow one format, so extraction falls back step by step and says which
rule fired (kept in verdicts.detail, so format compliance can be counted per task). There is no
"last number anywhere" fallback: on the hand-labelled audit set (docs/verifier_audit.md) it
accepted echoes of the question ("the GCD of 14 and 7") and unfinished counts as answers.
"""

import re

from curation.answer_numbers import COUNT_WORD, NUMBER

RULES = ("tag", "boxed", "answer_line", "last_line", "result_phrase", "leading_yes_no")
_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# "Answer: X", "**Answer:** X", "Final answer is X", "the answer is: X" (case-insensitive); the
# greedy prefix makes the LAST marker on a line win ("Answer: 5. Final answer: 6" -> 6)
_ANSWER_LINE = re.compile(r".*(?<![a-z])answer(?![a-z])(?:\*\*|__)?\s*(?::|\bis\b\s*:?)[ \t]*(.*)", re.IGNORECASE)
_NUMBER = re.compile(NUMBER)
_NUMBER_TOKEN = NUMBER + r"|\\[dt]?frac\{\d+\}\{\d+\}"
# a number in the position of a result: after "=", "is", "equals"..., or a count "N times" / "once"
_RESULT = re.compile(
    r"(?:=|\b(?:is|are|was|were|be|equals|equal to|equates to)\b)\s*(?:\*\*|[\"'`$(])*\s*"
    rf"(?P<value>{_NUMBER_TOKEN})(?!\s*(?:[-+*/×÷^]\s*[\d(]|,\s*-?\d))"
    rf"|(?P<count>{NUMBER}|{COUNT_WORD})(?=\s+times?\b|(?:\s+[a-z']+)?\s+(?:in total|altogether)\b)"
    r"|\b(?:appears?|occurs?|present|found|seen)\b(?:\s+\w+)??\s+(?P<adverb>once|twice|thrice)\b",
    re.IGNORECASE)
_NUMBER_VALUE = re.compile(_NUMBER_TOKEN)
_BULLET = re.compile(r"^[-•]\s+(?=\D)")  # "- Yes" (not "- 10", a negative number)
_LEADING_YES_NO = re.compile(r"^\W*(yes|no)\b\s*[,.!:;\n]", re.IGNORECASE)
_YES_NO_VALUE = re.compile(r"(yes|no|true|false)\b[\s,.;:!]*(.*)", re.IGNORECASE | re.DOTALL)
_ALTERNATIVE_NEXT = re.compile(r"\s*(?:(?:or|and|to)\b|[/;±]|,\s*-?\d)", re.IGNORECASE)  # "4 or 2", "11, 12"
_HEDGE = re.compile(r"\b(?:or|either|maybe|possibly)\b", re.IGNORECASE)  # "4 (or possibly 2)"
_EXPLANATION = re.compile(r"\s*(?:[.,:!]\s|[.!]$|\(|\b(?:because|since|as|is|which)\b)", re.IGNORECASE)
_WRAPPERS = ("**", "__", "`", "\\$", "$", "*", "\\(", "\\)", "\\[", "\\]", "'", '"', "∴")
_TEXT_COMMAND = re.compile(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}")


def extract_answer(text: str) -> tuple[str | None, str]:
    """The final answer and the rule that found it (one of RULES), or (None, "none").

    >>> extract_answer("3 + 4 = 7. So the answer is **7**.")
    ('7', 'answer_line')
    """
    if not text:
        return None, "none"
    text = text.replace("\u2212", "-")  # Unicode minus
    for method, finder in zip(RULES, (_last_tag, _last_boxed, _last_answer_line, _bare_last_line,
                                      _last_result_phrase, _leading_yes_no)):
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
        match = _ANSWER_LINE.match(lines[line_no])
        if not match:
            continue
        value = _clean(match.group(1))
        if not value:  # "Answer:" alone on its line: the value is on the next non-empty line
            following = [line for line in lines[line_no + 1:] if _clean(line)]
            value = _clean(following[0]) if following else ""
        if value:
            return _leading_value(_after_equals(value))
    return None


def _bare_last_line(text: str) -> str | None:
    """The last non-empty line when it is just one value: a number ("15", "7 + 4 = 11" -> "11"),
    one word ("Yes.", "**No**", "- Yes") or a formula without digits ("P ∧ Q")."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    value = _after_equals(_clean(_BULLET.sub("", lines[-1].strip())))
    if _NUMBER_VALUE.fullmatch(value) or re.fullmatch(r"[A-Za-z]+", value):
        return value
    return value if value and len(value) <= 24 and not re.search(r"\d|[A-Za-z]{2,}", value) else None


def _last_result_phrase(text: str) -> str | None:
    """The last number stated as a result; a number merely mentioned (an echo of the question,
    a list, an unfinished count) is not an answer."""
    found = None
    for match in _RESULT.finditer(text):
        found = match.group("value") or match.group("count") or match.group("adverb")
    return found.replace(",", "") if found and _NUMBER.fullmatch(found) else found


def _leading_yes_no(text: str) -> str | None:
    match = _LEADING_YES_NO.match(text)
    return match.group(1).capitalize() if match else None


def _after_equals(value: str) -> str:
    """'3 + 4 = 7' -> '7': keep the right-hand side when it is a plain number."""
    if "=" in value:
        right = _clean(value.rsplit("=", 1)[1])
        if _NUMBER.fullmatch(right):
            return right.replace(",", "")
    return value


def _leading_value(value: str) -> str:
    """'12 legs' -> '12', 'Yes, it follows.' -> 'Yes', '11 (since 7 + 4 = 11)' -> '11'; kept whole
    when the rest offers another answer ('4 or 2', '11, 12', 'Yes/No') or parts ('11; 4')."""
    if ";" in value:
        return value
    number = re.match(rf"({_NUMBER_TOKEN})(?!\s*%)(.*)", value, re.DOTALL)
    yes_no = None if number else _YES_NO_VALUE.fullmatch(value)
    if not (number or yes_no):
        return value
    head, rest = number.groups() if number else yes_no.groups()
    if not rest.strip():
        return head
    if _ALTERNATIVE_NEXT.match(rest) or _HEDGE.search(rest):
        return value
    if not re.search(r"\d", re.sub(r"\^\d|[²³]", "", rest)) or (number and _EXPLANATION.match(rest)):
        return head
    return value


def _clean(value: str) -> str:
    """Strip whitespace, markdown/LaTeX wrappers, quotes and a trailing period."""
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
        if text_command := _TEXT_COMMAND.fullmatch(value):
            value = text_command.group(1)
        if re.fullmatch(r"\(\s*-?[\d.,]+\s*\)", value):  # "(-10)"
            value = value[1:-1]
        value = re.sub(r"^-\s+(?=\d)", "-", value)  # "- 10"
        changed = value != before
    return value.strip()
