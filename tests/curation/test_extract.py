import pytest

from curation.extract import RULES, extract_answer

CASES = [
    # (model output, expected answer, expected method)
    ("<answer>42</answer>", "42", "tag"),
    ("First I thought <answer>3</answer>, but no.\n<answer> 5 </answer>", "5", "tag"),
    ("<ANSWER>\nParis\n</ANSWER>", "Paris", "tag"),
    ("The sum is $\\boxed{17}$.", "17", "boxed"),
    ("So \\boxed{\\frac{1}{2}} is it.", "\\frac{1}{2}", "boxed"),
    ("\\boxed{3} then again \\boxed{4}", "4", "boxed"),
    ("The final answer is $\\boxed{-4}$. Answer: 9", "-4", "boxed"),
    ("unbalanced \\boxed{12 and 7", None, "none"),  # no committed answer
    ("4 - 1 = 3, then 3 - 7 = -4.\nAnswer: -4", "-4", "answer_line"),
    ("Answer: 12.", "12", "answer_line"),
    ("**Answer:** 42", "42", "answer_line"),
    ("**Answer**: yes", "yes", "answer_line"),
    ("Answer: **True**", "True", "answer_line"),
    ("Answer: $12$", "12", "answer_line"),
    ("ANSWER: 7", "7", "answer_line"),
    ("2+3 equals 5. So the answer is: 5", "5", "answer_line"),
    ("The answer is 1,250 apples.", "1,250", "answer_line"),  # a unit after the number
    ("Answer: 11. I hope this helps!", "11", "answer_line"),
    ("Answer: 11 (since 7 + 4 = 11)", "11", "answer_line"),
    ("Answer: 4 (or possibly 2)", "4 (or possibly 2)", "answer_line"),  # hedged: kept whole
    ("Answer: 11, 12", "11, 12", "answer_line"),
    ("Answer: 11; 4", "11; 4", "answer_line"),  # composite parts
    ("Answer: Yes, it follows.", "Yes", "answer_line"),
    ("Answer: Yes/No", "Yes/No", "answer_line"),
    ("Answer: 6%", "6%", "answer_line"),
    ("Answer: \u221210", "-10", "answer_line"),  # Unicode minus
    ("Answer: (-10)", "-10", "answer_line"),
    ("Answer: \\$14", "14", "answer_line"),
    ("The answer is: '3.", "3", "answer_line"),
    ("Answer: 5. Final answer: 6", "6", "answer_line"),  # the last marker on a line wins
    ("To find 'Answer: 7', add: 7 + 0 = 7. Therefore, the answer is 7.", "7", "answer_line"),
    ("__Answer__: 11", "11", "answer_line"),
    ("After counting, the final answer is `r`.", "r", "answer_line"),
    ("Let's compute.\nAnswer: 3 + 4 = 7", "7", "answer_line"),
    ("Answer:\n\n   -3\n", "-3", "answer_line"),
    ("Answer: 5\nI hope this helps! The answer is 6", "6", "answer_line"),
    ("Answer: x = y + 1", "x = y + 1", "answer_line"),
    ("15", "15", "last_line"),
    ("Yes.", "Yes", "last_line"),
    ("I think so.\n**No**", "No", "last_line"),
    ("10-5=5", "5", "last_line"),
    ("∴ P → Q", "P → Q", "last_line"),
    ("There are 3 r's in strawberry.", "3", "result_phrase"),
    ("There are 3 r's: at positions 3, 8 and 9.", "3", "result_phrase"),  # a list is not a result
    ("57 + 87 = 144, and 144 + 70 = 214", "214", "last_line"),
    ("We add 7 + 0 = 7 first, then the rest, which is 8.", "8", "result_phrase"),
    ("Therefore, the final answer will be 8.", "8", "result_phrase"),
    ("1. All spiders are bees\n- Yes", "Yes", "last_line"),
    ("0 * -4 ≡ -4 ≡ 0(mod 6)", None, "none"),  # not one value
    ("That is 1,234,567 in total", "1234567", "result_phrase"),
    ("The temperature is -2.5 degrees", "-2.5", "result_phrase"),
    ("The ratio is 3/4", "3/4", "result_phrase"),
    ("So the sum is $\\frac{3}{4}$", "\\frac{3}{4}", "result_phrase"),
    ("The letter r appears three times.", "three", "result_phrase"),
    ("The letter b appears only once in the text.", "once", "result_phrase"),
    ("2 wasps have 12 legs in total. Each has 2 pairs of wings.", "12", "result_phrase"),
    ("No, it does not logically follow.", "No", "leading_yes_no"),
    ("roughly -2.5 degrees", None, "none"),  # a number merely mentioned
    ("I need to find the GCD of 14 and 7.", None, "none"),  # an echo of the question
    ("The problem is 7 - 0.", None, "none"),  # an expression, not a result
    ("I am not sure how to solve this problem.", None, "none"),
    ("", None, "none"),
]


@pytest.mark.parametrize("text,expected,method", CASES)
def test_extract_answer_finds_the_final_answer(text, expected, method):
    assert extract_answer(text) == (expected, method)


def test_answer_line_beats_an_earlier_number_and_tag_beats_everything():
    text = "Step 1: 2 * 3 = 6.\n<answer>6</answer>\nAnswer: 8\n\\boxed{9}"
    assert extract_answer(text) == ("6", "tag")
    assert extract_answer("Step 1: 2 * 3 = 6.\nAnswer: 8 apples") == ("8", "answer_line")


def test_truncated_output_without_a_stated_answer_has_no_answer():
    # the old last-number fallback read "11" here: an unfinished count is not an answer
    text = "To add 4 and 9 we first write 4, then count 9 more: 5, 6, 7, 8, 9, 10, 11"
    assert extract_answer(text) == (None, "none")


def test_every_rule_name_is_declared():
    assert RULES == ("tag", "boxed", "answer_line", "last_line", "result_phrase", "leading_yes_no")
